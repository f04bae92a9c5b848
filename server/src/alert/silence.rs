//! Silences: label matchers with a time window. A silenced alert is still evaluated and
//! listed, but no receiver hears about it (resolved included, as in Alertmanager).

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Why a silence was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SilenceError {
    /// A field is missing or has a bad value.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, e.g. `matchers[0].value`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// No silence has this id.
    #[error("no silence with id '{0}'")]
    NotFound(String),
    /// The silence could not be stored where every node of the cluster sees it.
    #[error("cannot store the silence in the cluster: {0}")]
    Unavailable(String),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> SilenceError {
    SilenceError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// One matcher, as in Alertmanager's API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Value or regular expression (anchored at both ends).
    pub value: String,
    /// `value` is a regular expression.
    #[serde(rename = "isRegex", default)]
    pub is_regex: bool,
    /// Match when equal (true) or when different (false).
    #[serde(rename = "isEqual", default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

/// A request to create a silence (times are RFC 3339).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// All must match for the silence to apply.
    pub matchers: Vec<Matcher>,
    /// Start, RFC 3339; defaults to now.
    #[serde(rename = "startsAt")]
    pub starts_at: Option<String>,
    /// End, RFC 3339.
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// Who.
    #[serde(rename = "createdBy", default)]
    pub created_by: String,
}

/// A stored silence (times in epoch ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Random id.
    pub id: String,
    /// All must match.
    pub matchers: Vec<Matcher>,
    /// Start, epoch ms.
    pub starts_at: i64,
    /// End, epoch ms.
    pub ends_at: i64,
    /// Why.
    pub comment: String,
    /// Who.
    pub created_by: String,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

/// `pending`, `active` or `expired` at `now`.
pub fn silence_state(s: &Silence, now: i64) -> &'static str {
    if now >= s.ends_at {
        "expired"
    } else if now < s.starts_at {
        "pending"
    } else {
        "active"
    }
}

/// A silence with its matchers compiled.
#[derive(Debug, Clone)]
struct Compiled {
    silence: Silence,
    regexes: Vec<Option<Regex>>,
}

impl Compiled {
    fn new(silence: Silence) -> Result<Compiled, SilenceError> {
        let regexes = silence
            .matchers
            .iter()
            .enumerate()
            .map(|(i, m)| {
                m.is_regex
                    .then(|| {
                        Regex::new(&format!("^(?:{})$", m.value))
                            .map_err(|e| invalid(format!("matchers[{i}].value"), e.to_string()))
                    })
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        Ok(Compiled { silence, regexes })
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.silence
            .matchers
            .iter()
            .zip(&self.regexes)
            .all(|(m, re)| {
                // A missing label matches as the empty string, as in Alertmanager.
                let v = labels.get(&m.name).map(String::as_str).unwrap_or("");
                let equal = match re {
                    Some(re) => re.is_match(v),
                    None => v == m.value,
                };
                equal == m.is_equal
            })
    }
}

/// Bounds on the silences one server keeps (`--max-silences`, `--max-silence-matchers`,
/// `--max-silence-bytes`), so a client cannot grow the state without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SilenceLimits {
    /// Most silences kept, expired ones included until they are forgotten.
    pub max_silences: usize,
    /// Most matchers in one silence.
    pub max_matchers: usize,
    /// Most bytes of one silence's text: matcher names and values, comment, author.
    pub max_bytes: usize,
}

impl Default for SilenceLimits {
    fn default() -> Self {
        SilenceLimits {
            max_silences: 10_000,
            max_matchers: 100,
            max_bytes: 64 << 10,
        }
    }
}

impl SilenceLimits {
    /// Refuses `req` when it is over a limit, naming the limit and its flag.
    fn check(&self, req: &SilenceRequest, held: usize) -> Result<(), SilenceError> {
        if held >= self.max_silences {
            return Err(invalid(
                "silences",
                format!(
                    "the server holds {held} silences, the limit (--max-silences) is {}; expire \
                     some, expired ones are forgotten a day after they end",
                    self.max_silences
                ),
            ));
        }
        if req.matchers.len() > self.max_matchers {
            return Err(invalid(
                "matchers",
                format!(
                    "{} matchers, over the limit (--max-silence-matchers) of {}",
                    req.matchers.len(),
                    self.max_matchers
                ),
            ));
        }
        let bytes = req.comment.len()
            + req.created_by.len()
            + req
                .matchers
                .iter()
                .map(|m| m.name.len() + m.value.len())
                .sum::<usize>();
        if bytes > self.max_bytes {
            return Err(invalid(
                "silence",
                format!(
                    "{bytes} bytes of matchers, comment and author, over the limit \
                     (--max-silence-bytes) of {}",
                    self.max_bytes
                ),
            ));
        }
        Ok(())
    }
}

/// The set of silences. Guarded by the caller's lock.
#[derive(Debug, Default)]
pub struct Silences {
    all: Vec<Compiled>,
    limits: SilenceLimits,
}

/// How long an expired silence stays listed.
const EXPIRED_RETENTION_MS: i64 = 24 * 3600 * 1000;

impl Silences {
    /// Restores persisted silences, dropping any that no longer compile.
    pub fn restore(saved: Vec<Silence>) -> Silences {
        Silences {
            all: saved
                .into_iter()
                .filter_map(|s| Compiled::new(s).ok())
                .collect(),
            limits: SilenceLimits::default(),
        }
    }

    /// The same silences under other limits (those restored are kept even if over them).
    pub fn with_limits(mut self, limits: SilenceLimits) -> Silences {
        self.limits = limits;
        self
    }

    /// Number of silences kept, expired ones included.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Every silence, for persistence and listing.
    pub fn list(&self) -> Vec<Silence> {
        self.all.iter().map(|c| c.silence.clone()).collect()
    }

    /// Validates a new silence against the fields and the limits, without adding it: the
    /// caller stores it first (a log, or the cluster's bucket), then [`Silences::upsert`]s.
    pub fn prepare(
        &self,
        req: SilenceRequest,
        id: String,
        now: i64,
    ) -> Result<Silence, SilenceError> {
        if req.matchers.is_empty() {
            return Err(invalid("matchers", "at least one matcher is needed"));
        }
        self.limits.check(&req, self.all.len())?;
        for (i, m) in req.matchers.iter().enumerate() {
            if m.name.trim().is_empty() {
                return Err(invalid(format!("matchers[{i}].name"), "must not be empty"));
            }
        }
        let starts_at = match &req.starts_at {
            Some(t) => parse_time("startsAt", t)?,
            None => now,
        };
        let ends_at = parse_time("endsAt", &req.ends_at)?;
        if ends_at <= starts_at {
            return Err(invalid("endsAt", "must be after startsAt"));
        }
        if ends_at <= now {
            return Err(invalid("endsAt", "must be in the future"));
        }
        let silence = Silence {
            id,
            matchers: req.matchers,
            starts_at,
            ends_at,
            comment: req.comment,
            created_by: req.created_by,
            updated_at: now,
        };
        // Compiled once here so a bad regex is refused before anything is stored.
        Compiled::new(silence.clone())?;
        Ok(silence)
    }

    /// Adds `silence`, or replaces the one with its id. One whose matchers do not compile
    /// (only possible for one stored by another version) is left out.
    pub fn upsert(&mut self, silence: Silence) {
        let Ok(compiled) = Compiled::new(silence) else {
            return;
        };
        match self
            .all
            .iter_mut()
            .find(|c| c.silence.id == compiled.silence.id)
        {
            Some(c) => *c = compiled,
            None => self.all.push(compiled),
        }
    }

    /// The silence `id` as it is once expired at `now`, without changing it (see
    /// [`Silences::prepare`]).
    pub fn expired(&self, id: &str, now: i64) -> Result<Silence, SilenceError> {
        let mut s = self
            .all
            .iter()
            .find(|c| c.silence.id == id)
            .map(|c| c.silence.clone())
            .ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
        if s.ends_at > now {
            s.ends_at = now;
            s.starts_at = s.starts_at.min(now);
            s.updated_at = now;
        }
        Ok(s)
    }

    /// Ids of the active silences that match `labels`.
    pub fn silencing(&self, labels: &BTreeMap<String, String>, now: i64) -> Vec<String> {
        self.all
            .iter()
            .filter(|c| silence_state(&c.silence, now) == "active" && c.matches(labels))
            .map(|c| c.silence.id.clone())
            .collect()
    }

    /// Ids of the silences expired for longer than a day, which [`Silences::gc`] forgets.
    pub fn forgettable(&self, now: i64) -> Vec<String> {
        self.all
            .iter()
            .filter(|c| now - c.silence.ends_at >= EXPIRED_RETENTION_MS)
            .map(|c| c.silence.id.clone())
            .collect()
    }

    /// Forgets silences expired for longer than a day.
    pub fn gc(&mut self, now: i64) -> bool {
        let before = self.all.len();
        self.all
            .retain(|c| now - c.silence.ends_at < EXPIRED_RETENTION_MS);
        before != self.all.len()
    }
}

/// Parses an RFC 3339 time into epoch ms.
pub fn parse_time(field: &str, s: &str) -> Result<i64, SilenceError> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            let s = sextant_query::shown(s);
            invalid(field, format!("'{s}' is not an RFC 3339 time: {e}"))
        })
}

/// Formats epoch ms as RFC 3339 UTC with millisecond precision.
pub fn format_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    /// What a node does: prepare, then (once stored) upsert.
    impl Silences {
        fn create(
            &mut self,
            req: SilenceRequest,
            id: String,
            now: i64,
        ) -> Result<Silence, SilenceError> {
            let silence = self.prepare(req, id, now)?;
            self.upsert(silence.clone());
            Ok(silence)
        }

        fn expire(&mut self, id: &str, now: i64) -> Result<Silence, SilenceError> {
            let s = self.expired(id, now)?;
            self.upsert(s.clone());
            Ok(s)
        }
    }

    fn req(matchers: serde_json::Value, ends: &str) -> SilenceRequest {
        serde_json::from_value(serde_json::json!({
            "matchers": matchers, "endsAt": ends, "comment": "deploy", "createdBy": "me"
        }))
        .unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn later(ms: i64) -> String {
        format_time(NOW + ms)
    }

    #[test]
    fn all_matchers_must_match() {
        let mut s = Silences::default();
        let m = serde_json::json!([
            {"name": "alertname", "value": "HighCpu"},
            {"name": "nf.app", "value": "ww.*", "isRegex": true},
            {"name": "env", "value": "test", "isEqual": false}
        ]);
        let silence = s.create(req(m, &later(60_000)), "s1".into(), NOW).unwrap();
        assert_eq!(silence.starts_at, NOW);
        let hit = labels(&[("alertname", "HighCpu"), ("nf.app", "www"), ("env", "prod")]);
        assert_eq!(s.silencing(&hit, NOW), ["s1"]);
        let other_app = labels(&[("alertname", "HighCpu"), ("nf.app", "api")]);
        assert!(s.silencing(&other_app, NOW).is_empty());
        let test_env = labels(&[("alertname", "HighCpu"), ("nf.app", "www"), ("env", "test")]);
        assert!(s.silencing(&test_env, NOW).is_empty());
        // Anchored: "ww.*" does not match "xwww".
        let unanchored = labels(&[("alertname", "HighCpu"), ("nf.app", "xwww")]);
        assert!(s.silencing(&unanchored, NOW).is_empty());
    }

    #[test]
    fn silences_have_a_window_and_can_be_expired() {
        let mut s = Silences::default();
        let m = serde_json::json!([{"name": "alertname", "value": "A"}]);
        s.create(req(m, &later(60_000)), "s1".into(), NOW).unwrap();
        let a = labels(&[("alertname", "A")]);
        assert_eq!(s.silencing(&a, NOW + 59_999).len(), 1);
        assert!(s.silencing(&a, NOW + 60_000).is_empty());
        let expired = s.expire("s1", NOW + 10).unwrap();
        assert_eq!(silence_state(&expired, NOW + 10), "expired");
        assert!(s.silencing(&a, NOW + 20).is_empty());
        assert_eq!(
            s.expire("nope", NOW),
            Err(SilenceError::NotFound("nope".into()))
        );
        assert!(!s.gc(NOW + 20));
        assert!(s.gc(NOW + EXPIRED_RETENTION_MS + 10));
        assert!(s.list().is_empty());
    }

    #[test]
    fn limits_on_count_matchers_and_size_name_their_flags() {
        let limits = SilenceLimits {
            max_silences: 2,
            max_matchers: 3,
            max_bytes: 100,
        };
        let mut s = Silences::default().with_limits(limits);
        let one = serde_json::json!([{"name": "a", "value": "b"}]);
        let err = |s: &mut Silences, r: SilenceRequest| {
            s.create(r, "x".into(), NOW).unwrap_err().to_string()
        };
        let four = serde_json::json!([
            {"name": "a", "value": "b"}, {"name": "c", "value": "d"},
            {"name": "e", "value": "f"}, {"name": "g", "value": "h"}
        ]);
        assert_eq!(
            err(&mut s, req(four, &later(1000))),
            "matchers: 4 matchers, over the limit (--max-silence-matchers) of 3"
        );
        let mut big = req(one.clone(), &later(1000));
        big.comment = "c".repeat(200);
        assert!(err(&mut s, big).contains("over the limit (--max-silence-bytes) of 100"));
        s.create(req(one.clone(), &later(1000)), "s1".into(), NOW)
            .unwrap();
        s.create(req(one.clone(), &later(1000)), "s2".into(), NOW)
            .unwrap();
        assert!(err(&mut s, req(one, &later(1000)))
            .starts_with("silences: the server holds 2 silences, the limit (--max-silences) is 2"));
    }

    #[test]
    fn bad_requests_name_the_field() {
        let mut s = Silences::default();
        let err = |s: &mut Silences, m, ends: &str| {
            s.create(req(m, ends), "x".into(), NOW)
                .unwrap_err()
                .to_string()
        };
        let m = serde_json::json!([{"name": "a", "value": "("  , "isRegex": true}]);
        assert!(err(&mut s, m, &later(1000)).starts_with("matchers[0].value:"));
        assert!(err(&mut s, serde_json::json!([]), &later(1000)).starts_with("matchers:"));
        let m = serde_json::json!([{"name": " ", "value": "x"}]);
        assert!(err(&mut s, m, &later(1000)).starts_with("matchers[0].name:"));
        let m = serde_json::json!([{"name": "a", "value": "x"}]);
        assert!(err(&mut s, m.clone(), "tomorrow").starts_with("endsAt:"));
        assert!(err(&mut s, m, &later(-1000)).starts_with("endsAt:"));
    }
}

//! The rules file: a TOML model of receivers and alert rules, and its validation.
//!
//! A file is accepted or rejected as a whole: every error names the line it comes from, so
//! a reload with a typo keeps the old rules running and tells the operator where to look.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::template::Template;

/// Why a rules file was refused. The message leads with the line so editors can jump to it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RulesError {
    /// The file cannot be read.
    #[error("cannot read rules file {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        reason: String,
    },
    /// The file is not valid TOML or a field has the wrong type or an invalid value.
    #[error("line {line}: {reason}")]
    Invalid {
        /// 1-based line of the offending item.
        line: usize,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// Reload was asked for but the server was started without `--rules`.
    #[error("no rules file configured: start the server with --rules FILE")]
    NoFile,
    /// The rules were read but could not be handed to the rest of the cluster (NATS is
    /// unreachable); this node runs them, the others keep theirs.
    #[error("cannot share the rules with the cluster: {0}")]
    Shared(String),
}

/// What a rule does when its expression returns no line, or a line whose last value is NaN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoDataPolicy {
    /// No data means the condition is false: firing alerts resolve.
    #[default]
    Ok,
    /// No data is itself an alert (one instance without tags fires).
    Alerting,
    /// Keep every instance as it was until data comes back.
    KeepLast,
}

/// What a rule does when its evaluation fails (budget exceeded, a bad join).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorPolicy {
    /// Keep every instance as it was; the rule shows the error state.
    #[default]
    KeepLast,
    /// The failure is itself an alert (one instance without tags fires).
    Alerting,
    /// A failure means the condition is false: firing alerts resolve.
    Ok,
}

/// Where notifications go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReceiverKind {
    /// POST an Alertmanager-webhook-v4 JSON document to `url`.
    Webhook,
    /// POST the alert list to an Alertmanager at `url` (`/api/v2/alerts` is appended).
    Alertmanager,
}

/// A validated receiver.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Receiver {
    /// Unique name, used by rules.
    pub name: String,
    /// Webhook or Alertmanager.
    pub kind: ReceiverKind,
    /// Target URL.
    pub url: String,
    /// Budget of one HTTP attempt.
    #[serde(with = "ms")]
    pub timeout: Duration,
    /// Send notifications when a group's alerts resolve.
    pub send_resolved: bool,
    /// Labels that split alerts into notification groups; `["..."]` means every label.
    pub group_by: Vec<String>,
    /// Wait before the first notification of a new group, so alerts arriving together
    /// are sent together.
    #[serde(with = "ms")]
    pub group_wait: Duration,
    /// Least time between two notifications of one group about changes.
    #[serde(with = "ms")]
    pub group_interval: Duration,
    /// Least time before an unchanged firing group is notified again.
    #[serde(with = "ms")]
    pub repeat_interval: Duration,
    /// Most attempts of one notification (retries on 5xx and connection errors).
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt up to [`MAX_BACKOFF`].
    #[serde(with = "ms")]
    pub backoff: Duration,
}

/// Longest wait between two delivery attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Receiver {
    /// True when `group_by` is `["..."]`: every alert is its own group.
    pub fn groups_by_all(&self) -> bool {
        self.group_by.iter().any(|l| l == "...")
    }
}

/// A validated rule.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rule {
    /// Unique name; becomes the `alertname` label.
    pub name: String,
    /// The stack-language expression; each output line is one alert instance.
    pub expr: String,
    /// How long the condition must hold before pending turns to firing.
    #[serde(rename = "for", with = "ms")]
    pub for_: Duration,
    /// How long a firing alert keeps firing after the condition was last true.
    #[serde(with = "ms")]
    pub keep_firing_for: Duration,
    /// How much history the expression sees (stateful functions such as `:des` need it).
    #[serde(with = "ms")]
    pub lookback: Duration,
    /// Wall-clock budget of one evaluation.
    #[serde(with = "ms")]
    pub budget: Duration,
    /// The `severity` label.
    pub severity: String,
    /// Receiver names.
    pub receivers: Vec<String>,
    /// What no data means.
    pub no_data: NoDataPolicy,
    /// What an evaluation failure means.
    pub on_error: ErrorPolicy,
    /// Extra labels (templates); part of the alert's identity in notifications.
    pub labels: BTreeMap<String, Template>,
    /// Annotations (templates): summary, description, runbook links.
    pub annotations: BTreeMap<String, Template>,
}

/// A whole validated rules file.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Base of the links in notifications; `None` uses the server's own address.
    pub external_url: Option<String>,
    /// Receivers by name, in file order.
    pub receivers: Vec<Receiver>,
    /// Rules in file order.
    pub rules: Vec<Rule>,
    /// The text they were parsed from, which a cluster node hands to the others.
    pub source: String,
}

impl RuleSet {
    /// The receiver called `name`.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// Parses and validates a rules file.
    pub fn parse(src: &str) -> Result<RuleSet, RulesError> {
        RuleSet::parse_within(src, None)
    }

    /// [`RuleSet::parse`], refusing a rule whose `lookback` is longer than `retention`
    /// (the store holds nothing older, so every evaluation would fail or see nothing).
    pub fn parse_within(src: &str, retention: Option<Duration>) -> Result<RuleSet, RulesError> {
        let raw: RawFile = toml::from_str(src).map_err(|e| RulesError::Invalid {
            line: line_of(src, e.span().unwrap_or(0..0)),
            reason: e.message().trim().to_string(),
        })?;
        let mut set = RuleSet {
            external_url: raw
                .external_url
                .map(|u| u.trim_end_matches('/').to_string()),
            source: src.to_string(),
            ..RuleSet::default()
        };
        for r in raw.receivers {
            let span = r.span();
            let err = |reason: String| RulesError::Invalid {
                line: line_of(src, span.clone()),
                reason: format!("receiver '{}': {reason}", r.get_ref().name),
            };
            let receiver = r.get_ref().validate().map_err(err)?;
            if set.receiver(&receiver.name).is_some() {
                return Err(RulesError::Invalid {
                    line: line_of(src, span),
                    reason: format!("receiver '{}': name: defined twice", receiver.name),
                });
            }
            set.receivers.push(receiver);
        }
        let mut names = HashSet::new();
        for r in raw.rules {
            let span = r.span();
            let raw_rule = r.into_inner();
            let name = raw_rule.name.clone();
            let rule =
                raw_rule
                    .validate(&set, retention)
                    .map_err(|reason| RulesError::Invalid {
                        line: line_of(src, span.clone()),
                        reason: format!("rule '{name}': {reason}"),
                    })?;
            if !names.insert(rule.name.clone()) {
                return Err(RulesError::Invalid {
                    line: line_of(src, span),
                    reason: format!("rule '{name}': name: defined twice"),
                });
            }
            set.rules.push(rule);
        }
        Ok(set)
    }

    /// Reads and validates the file at `path`; lookbacks must fit in `retention`.
    pub fn load(
        path: &std::path::Path,
        retention: Option<Duration>,
    ) -> Result<RuleSet, RulesError> {
        let src = std::fs::read_to_string(path).map_err(|e| RulesError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        RuleSet::parse_within(&src, retention)
    }
}

/// 1-based line of the start of `span` in `src`.
/// Label names as notifiers accept them and Atlas tag keys are written (`nf.app`).
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 256
}

fn line_of(src: &str, span: Range<usize>) -> usize {
    let end = span.start.min(src.len());
    src.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn duration(field: &str, value: &Option<String>, default: Duration) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(v) => humantime::parse_duration(v.trim())
            .map_err(|e| format!("{field}: invalid duration '{v}': {e}")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    external_url: Option<String>,
    #[serde(default, rename = "receivers")]
    receivers: Vec<Spanned<RawReceiver>>,
    #[serde(default, rename = "rules")]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    name: String,
    kind: ReceiverKind,
    url: String,
    timeout: Option<String>,
    send_resolved: Option<bool>,
    group_by: Option<Vec<String>>,
    group_wait: Option<String>,
    group_interval: Option<String>,
    repeat_interval: Option<String>,
    max_attempts: Option<u32>,
    backoff: Option<String>,
}

impl RawReceiver {
    fn validate(&self) -> Result<Receiver, String> {
        if self.name.trim().is_empty() {
            return Err("name: must not be empty".into());
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(format!(
                "url: '{}' must start with http:// or https://",
                self.url
            ));
        }
        // Alertmanager groups by itself: hand it every change promptly, and re-send firing
        // alerts often so its resolve timeout never ends them while they still fire.
        let (group_by, wait, interval, repeat) = match self.kind {
            ReceiverKind::Webhook => (
                vec!["alertname".to_string()],
                Duration::from_secs(30),
                Duration::from_secs(300),
                Duration::from_secs(4 * 3600),
            ),
            ReceiverKind::Alertmanager => (
                Vec::new(),
                Duration::ZERO,
                Duration::from_secs(10),
                Duration::from_secs(60),
            ),
        };
        let max_attempts = self.max_attempts.unwrap_or(5);
        if max_attempts == 0 {
            return Err("max_attempts: must be at least 1".into());
        }
        let timeout = duration("timeout", &self.timeout, Duration::from_secs(10))?;
        if timeout.is_zero() {
            return Err("timeout: must be positive".into());
        }
        let group_interval = duration("group_interval", &self.group_interval, interval)?;
        if group_interval.is_zero() {
            return Err("group_interval: must be positive".into());
        }
        Ok(Receiver {
            name: self.name.trim().to_string(),
            kind: self.kind,
            url: self.url.trim_end_matches('/').to_string(),
            timeout,
            send_resolved: self.send_resolved.unwrap_or(true),
            group_by: self.group_by.clone().unwrap_or(group_by),
            group_wait: duration("group_wait", &self.group_wait, wait)?,
            group_interval,
            repeat_interval: duration("repeat_interval", &self.repeat_interval, repeat)?,
            max_attempts,
            backoff: duration("backoff", &self.backoff, Duration::from_millis(500))?,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    expr: String,
    #[serde(rename = "for")]
    for_: Option<String>,
    keep_firing_for: Option<String>,
    lookback: Option<String>,
    budget: Option<String>,
    severity: Option<String>,
    #[serde(default)]
    receivers: Vec<String>,
    #[serde(default)]
    no_data: NoDataPolicy,
    #[serde(default)]
    on_error: ErrorPolicy,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl RawRule {
    fn validate(self, set: &RuleSet, retention: Option<Duration>) -> Result<Rule, String> {
        if self.name.trim().is_empty() {
            return Err("name: must not be empty".into());
        }
        let exprs = sextant_query::parse(&self.expr).map_err(|e| format!("expr: {e}"))?;
        if exprs.is_empty() {
            return Err("expr: must leave at least one expression on the stack".into());
        }
        for r in &self.receivers {
            if set.receiver(r).is_none() {
                return Err(format!("receivers: no receiver named '{r}'"));
            }
        }
        let templates = |what: &str, map: BTreeMap<String, String>| {
            map.into_iter()
                .map(|(k, v)| {
                    if k.is_empty() {
                        return Err(format!("{what}: a name must not be empty"));
                    }
                    Template::parse(&v)
                        .map(|t| (k.clone(), t))
                        .map_err(|e| format!("{what}.{k}: {e}"))
                })
                .collect::<Result<BTreeMap<_, _>, String>>()
        };
        for key in self.labels.keys() {
            if !valid_label_name(key) {
                return Err(format!(
                    "labels.{}: a label name is letters, digits, '_', '.' or '-', not \
                     starting with a digit",
                    sextant_query::shown(key)
                ));
            }
        }
        // The default (10 min) shrinks to a shorter retention; only a lookback written in
        // the file can be refused for it.
        let default_lookback = retention.map_or(Duration::from_secs(600), |r| {
            r.min(Duration::from_secs(600))
        });
        let lookback = duration("lookback", &self.lookback, default_lookback)?;
        if let Some(retention) = retention.filter(|r| lookback > *r) {
            return Err(format!(
                "lookback: {} is longer than the retention (--retention) of {}; the store \
                 holds nothing that old",
                humantime::format_duration(lookback),
                humantime::format_duration(retention)
            ));
        }
        let budget = duration("budget", &self.budget, Duration::from_secs(10))?;
        if budget.is_zero() {
            return Err("budget: must be positive".into());
        }
        Ok(Rule {
            name: self.name.trim().to_string(),
            for_: duration("for", &self.for_, Duration::ZERO)?,
            keep_firing_for: duration("keep_firing_for", &self.keep_firing_for, Duration::ZERO)?,
            lookback,
            budget,
            severity: self.severity.unwrap_or_else(|| "warning".into()),
            receivers: self.receivers,
            no_data: self.no_data,
            on_error: self.on_error,
            labels: templates("labels", self.labels)?,
            annotations: templates("annotations", self.annotations)?,
            expr: self.expr,
        })
    }
}

/// Serialises durations as milliseconds in the API.
mod ms {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
external_url = "http://sextant.example/"

[[receivers]]
name = "ops"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
group_wait = "1s"

[[rules]]
name = "HighCpu"
expr = "name,ssCpuUser,:eq,(,nf.app,),:by,80,:gt"
for = "2m"
receivers = ["ops"]
labels = { team = "{{ tags.nf.app }}" }
annotations = { summary = "cpu {{ value }}" }
"#;

    #[test]
    fn parses_a_good_file_with_defaults() {
        let set = RuleSet::parse(GOOD).unwrap();
        assert_eq!(set.external_url.as_deref(), Some("http://sextant.example"));
        let r = &set.rules[0];
        assert_eq!(r.for_, Duration::from_secs(120));
        assert_eq!(r.keep_firing_for, Duration::ZERO);
        assert_eq!(r.severity, "warning");
        assert_eq!(r.no_data, NoDataPolicy::Ok);
        let ops = set.receiver("ops").unwrap();
        assert_eq!(ops.group_wait, Duration::from_secs(1));
        assert_eq!(ops.group_by, ["alertname"]);
        assert!(ops.send_resolved);
    }

    fn invalid(src: &str) -> (usize, String) {
        match RuleSet::parse(src) {
            Err(RulesError::Invalid { line, reason }) => (line, reason),
            other => panic!("expected an invalid file, got {other:?}"),
        }
    }

    #[test]
    fn toml_syntax_errors_name_the_line() {
        let (line, reason) = invalid("[[rules]]\nname = \"a\"\nexpr = \n");
        assert_eq!(line, 3, "{reason}");
    }

    #[test]
    fn semantic_errors_name_the_rule_line_and_field() {
        let src = GOOD.replace("for = \"2m\"", "for = \"soon\"");
        let (line, reason) = invalid(&src);
        assert_eq!(line, 10);
        assert!(
            reason.contains("rule 'HighCpu': for: invalid duration"),
            "{reason}"
        );

        let src = GOOD.replace("80,:gt", "80,:bogus");
        let (_, reason) = invalid(&src);
        assert!(reason.contains("expr:"), "{reason}");

        let src = GOOD.replace("receivers = [\"ops\"]", "receivers = [\"pager\"]");
        let (_, reason) = invalid(&src);
        assert!(
            reason.contains("receivers: no receiver named 'pager'"),
            "{reason}"
        );

        let src = GOOD.replace("{{ value }}", "{{ valu }}");
        let (_, reason) = invalid(&src);
        assert!(reason.contains("annotations.summary"), "{reason}");
    }

    #[test]
    fn unknown_fields_and_bad_policies_are_refused() {
        let (_, reason) = invalid(&GOOD.replace("for = ", "fro = "));
        assert!(reason.contains("fro"), "{reason}");
        let (_, reason) = invalid(&format!("{GOOD}no_data = \"maybe\"\n"));
        assert!(reason.contains("maybe"), "{reason}");
    }

    #[test]
    fn lookback_past_retention_and_bad_label_names_are_refused_at_load() {
        let rule = |extra: &str| {
            format!("[[rules]]\nname = \"r\"\nexpr = \"name,cpu,:eq,:sum\"\n{extra}\n")
        };
        let six_hours = Some(Duration::from_secs(6 * 3600));
        let err = RuleSet::parse_within(&rule("lookback = \"10000y\""), six_hours)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("lookback: 10000years is longer than the retention (--retention) of 6h"),
            "{err}"
        );
        assert!(RuleSet::parse_within(&rule("lookback = \"1h\""), six_hours).is_ok());
        // The default lookback shrinks to a shorter retention instead.
        let five_minutes = Some(Duration::from_secs(300));
        let set = RuleSet::parse_within(&rule(""), five_minutes);
        assert_eq!(
            set.ok().map(|s| s.rules[0].lookback),
            Some(Duration::from_secs(300))
        );
        let (_, reason) = invalid(&rule("labels = { \"bad key\" = \"x\" }"));
        assert!(
            reason.starts_with("rule 'r': labels.bad key: a label name is"),
            "{reason}"
        );
        let (_, reason) = invalid(&rule("labels = { \"1x\" = \"x\" }"));
        assert!(reason.contains("labels.1x"), "{reason}");
        assert!(RuleSet::parse(&rule("labels = { \"nf.app\" = \"x\", team_1 = \"y\" }")).is_ok());
    }

    #[test]
    fn duplicate_names_are_refused() {
        let src = format!("{GOOD}\n[[rules]]\nname = \"HighCpu\"\nexpr = \"1\"\n");
        let (line, reason) = invalid(&src);
        assert_eq!(line, 18);
        assert!(reason.contains("defined twice"), "{reason}");
    }
}

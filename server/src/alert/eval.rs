//! The alert state machine: one rule's evaluation result turned into instance states.
//!
//! Pure functions of (state, outcome, rule, now): no clock, no I/O, so every transition
//! is unit-tested with plain numbers. Each output line of the expression is one instance,
//! identified by the line's tags; a non-zero, non-NaN last value means "condition true",
//! as in Atlas.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sextant_query::TagMap;

use super::rules::{ErrorPolicy, NoDataPolicy, Rule};
use super::template::TemplateContext;

/// How long a resolved instance is kept (and offered to receivers as resolved) before it
/// is forgotten; long enough to outlast a receiver's group interval.
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);

/// Where an instance is in its life. Inactive instances are not kept at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds, but not yet for the rule's `for`.
    Pending,
    /// The condition held for `for` (or still within `keep_firing_for`).
    Firing,
    /// It fired and then stopped; kept for [`RESOLVED_RETENTION`].
    Resolved,
}

/// How the last evaluation of a rule went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not evaluated yet.
    #[default]
    Unknown,
    /// Evaluated and returned data.
    Ok,
    /// Evaluated and returned no line (or only NaN values).
    Nodata,
    /// The evaluation failed.
    Error,
}

/// One alert instance: a series of the rule's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// The series tags: the instance's identity within the rule.
    pub tags: TagMap,
    /// Pending, firing or resolved.
    pub state: AlertState,
    /// The last value seen (None when it was NaN or the series vanished).
    pub value: Option<f64>,
    /// When the condition became true (epoch ms); `for` counts from here.
    pub active_at: i64,
    /// When it started firing (epoch ms): the notification's `startsAt`.
    pub fired_at: Option<i64>,
    /// The last evaluation at which the condition was true.
    pub last_active_at: i64,
    /// When it resolved: the notification's `endsAt`.
    pub resolved_at: Option<i64>,
    /// Rendered labels: tags, `alertname`, `severity` and the rule's labels.
    pub labels: BTreeMap<String, String>,
    /// Rendered annotations.
    pub annotations: BTreeMap<String, String>,
    /// 16 hex digits of the labels' hash, as Alertmanager's fingerprint.
    pub fingerprint: String,
}

/// Everything the API shows about one rule besides its definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// How the last evaluation went.
    pub health: Health,
    /// When it was last evaluated (the step boundary evaluated, epoch ms).
    pub last_eval_ms: Option<i64>,
    /// How long the last evaluation took.
    pub last_duration_ms: Option<u64>,
    /// The last evaluation's error, if it failed.
    pub last_error: Option<String>,
    /// Instances by the hash of their tags.
    pub instances: BTreeMap<String, Instance>,
}

impl RuleState {
    /// The rule's overall state: firing if any instance fires, then pending, then the
    /// health when that is not ok, else inactive.
    pub fn state(&self) -> &'static str {
        let has = |s| self.instances.values().any(|i| i.state == s);
        if has(AlertState::Firing) {
            "firing"
        } else if has(AlertState::Pending) {
            "pending"
        } else {
            match self.health {
                Health::Error => "error",
                Health::Nodata => "nodata",
                Health::Ok | Health::Unknown => "inactive",
            }
        }
    }
}

/// The result of evaluating a rule's expression once.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The last value of each output line.
    Lines(Vec<(TagMap, f64)>),
    /// The evaluation failed with this message.
    Failed(String),
}

/// What one evaluation says about one instance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// The condition is true, with this value.
    Active(f64),
    /// The condition is false (with the value when there is one).
    Inactive(Option<f64>),
    /// Nothing is known: leave the instance as it is.
    Keep,
}

/// Moves one instance by one signal. `None` in or out means "inactive, not kept".
pub fn transition(
    current: Option<Instance>,
    signal: Signal,
    rule: &Rule,
    tags: &TagMap,
    now: i64,
) -> Option<Instance> {
    let for_ms = millis(rule.for_);
    let keep_ms = millis(rule.keep_firing_for);
    match (current, signal) {
        (current, Signal::Keep) => current,
        (Some(mut i), Signal::Active(v)) if i.state != AlertState::Resolved => {
            i.value = finite(v);
            i.last_active_at = now;
            if i.state == AlertState::Pending && now - i.active_at >= for_ms {
                i.state = AlertState::Firing;
                i.fired_at = Some(now);
            }
            Some(i)
        }
        // New, or a resolved one coming back: a new episode, `for` starts over.
        (_, Signal::Active(v)) => {
            let firing = for_ms == 0;
            Some(Instance {
                tags: tags.clone(),
                state: if firing {
                    AlertState::Firing
                } else {
                    AlertState::Pending
                },
                value: finite(v),
                active_at: now,
                fired_at: firing.then_some(now),
                last_active_at: now,
                resolved_at: None,
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
                fingerprint: String::new(),
            })
        }
        (None, Signal::Inactive(_)) => None,
        (Some(i), Signal::Inactive(v)) => match i.state {
            // Pending alerts that stop are dropped without a word, as in Prometheus.
            AlertState::Pending => None,
            AlertState::Firing if now - i.last_active_at < keep_ms => Some(i),
            AlertState::Firing => Some(Instance {
                state: AlertState::Resolved,
                resolved_at: Some(now),
                // The recovery value, when known, tells more than the last firing one.
                value: v.or(i.value),
                ..i
            }),
            AlertState::Resolved => {
                let expired = i
                    .resolved_at
                    .is_none_or(|at| now - at >= millis(RESOLVED_RETENTION));
                (!expired).then_some(i)
            }
        },
    }
}

fn finite(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

/// Milliseconds of `d`, saturating.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// 16 hex digits identifying a label set (or a tag set).
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update(&[0xff]);
        h.update(v.as_bytes());
        h.update(&[0xfe]);
    }
    format!("{:016x}", h.digest())
}

/// The signal of one output line's last value.
fn line_signal(value: f64, policy: NoDataPolicy) -> Signal {
    if value.is_nan() {
        match policy {
            NoDataPolicy::Ok => Signal::Inactive(None),
            NoDataPolicy::Alerting => Signal::Active(f64::NAN),
            NoDataPolicy::KeepLast => Signal::Keep,
        }
    } else if value != 0.0 {
        Signal::Active(value)
    } else {
        Signal::Inactive(Some(value))
    }
}

/// Applies one evaluation to a rule's state. `graph_url` is the chart link templates and
/// notifications carry.
pub fn apply(state: &mut RuleState, rule: &Rule, outcome: Outcome, now: i64, graph_url: &str) {
    state.last_eval_ms = Some(now);
    let mut signals: BTreeMap<String, (TagMap, Signal)> = BTreeMap::new();
    // What instances absent from this evaluation's output get.
    let mut absent = Signal::Inactive(None);
    // The one instance "no data" and "error" alerts use: no tags at all.
    let synthetic = |signals: &mut BTreeMap<String, (TagMap, Signal)>| {
        let tags = TagMap::new();
        signals.insert(fingerprint(&tags), (tags, Signal::Active(f64::NAN)));
    };
    match outcome {
        Outcome::Failed(message) => {
            state.health = Health::Error;
            state.last_error = Some(message);
            match rule.on_error {
                ErrorPolicy::KeepLast => absent = Signal::Keep,
                ErrorPolicy::Ok => {}
                ErrorPolicy::Alerting => {
                    absent = Signal::Keep;
                    synthetic(&mut signals);
                }
            }
        }
        Outcome::Lines(lines) => {
            state.last_error = None;
            let all_nan = lines.iter().all(|(_, v)| v.is_nan());
            state.health = if all_nan { Health::Nodata } else { Health::Ok };
            if lines.is_empty() {
                match rule.no_data {
                    NoDataPolicy::Ok => {}
                    NoDataPolicy::KeepLast => absent = Signal::Keep,
                    NoDataPolicy::Alerting => synthetic(&mut signals),
                }
            }
            for (tags, value) in lines {
                let signal = line_signal(value, rule.no_data);
                let key = fingerprint(&tags);
                // Two lines with the same tags: the active one wins, so nothing is hidden.
                match signals.get(&key) {
                    Some((_, Signal::Active(_))) => {}
                    _ => {
                        signals.insert(key, (tags, signal));
                    }
                }
            }
        }
    }
    let mut next = BTreeMap::new();
    let previous = std::mem::take(&mut state.instances);
    let mut keys: Vec<&String> = previous.keys().chain(signals.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let current = previous.get(key).cloned();
        let (tags, signal) = match signals.get(key) {
            Some((tags, s)) => (tags.clone(), *s),
            None => match &current {
                Some(i) => (i.tags.clone(), absent),
                None => continue,
            },
        };
        // A resolved instance ages out even while nothing is known about it.
        let signal = match (&current, signal) {
            (Some(i), Signal::Keep) if i.state == AlertState::Resolved => Signal::Inactive(None),
            (_, s) => s,
        };
        if let Some(mut instance) = transition(current, signal, rule, &tags, now) {
            render(&mut instance, rule, graph_url);
            next.insert(key.clone(), instance);
        }
    }
    state.instances = next;
}

/// Renders an instance's labels and annotations from its tags and value.
pub fn render(instance: &mut Instance, rule: &Rule, graph_url: &str) {
    let ctx = TemplateContext {
        rule: &rule.name,
        severity: &rule.severity,
        expr: &rule.expr,
        graph_url,
        value: instance.value,
        tags: &instance.tags,
    };
    let mut labels: BTreeMap<String, String> = instance.tags.clone();
    labels.insert("severity".into(), rule.severity.clone());
    for (k, t) in &rule.labels {
        labels.insert(k.clone(), t.render(&ctx));
    }
    // The rule name always wins: receivers route on it.
    labels.insert("alertname".into(), rule.name.clone());
    instance.annotations = rule
        .annotations
        .iter()
        .map(|(k, t)| (k.clone(), t.render(&ctx)))
        .collect();
    instance.fingerprint = fingerprint(&labels);
    instance.labels = labels;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::rules::RuleSet;

    fn rule(extra: &str) -> Rule {
        let src = format!(
            "[[rules]]\nname = \"HighCpu\"\nexpr = \"name,cpu,:eq,(,node,),:by,80,:gt\"\n\
             annotations = {{ summary = \"{{{{ tags.node }}}} at {{{{ value }}}}\" }}\n{extra}"
        );
        RuleSet::parse(&src).unwrap().rules.remove(0)
    }

    fn tags(node: &str) -> TagMap {
        TagMap::from([("node".to_string(), node.to_string())])
    }

    fn eval(state: &mut RuleState, rule: &Rule, lines: &[(&str, f64)], now: i64) {
        let lines = lines.iter().map(|(n, v)| (tags(n), *v)).collect();
        apply(state, rule, Outcome::Lines(lines), now, "http://g");
    }

    fn only(state: &RuleState) -> &Instance {
        assert_eq!(state.instances.len(), 1, "{:?}", state.instances);
        state.instances.values().next().unwrap()
    }

    #[test]
    fn pending_turns_firing_after_for() {
        let r = rule("for = \"2m\"");
        let mut s = RuleState::default();
        eval(&mut s, &r, &[("a", 1.0)], 0);
        assert_eq!(only(&s).state, AlertState::Pending);
        assert_eq!(s.state(), "pending");
        eval(&mut s, &r, &[("a", 1.0)], 60_000);
        assert_eq!(only(&s).state, AlertState::Pending);
        eval(&mut s, &r, &[("a", 1.0)], 120_000);
        let i = only(&s);
        assert_eq!(i.state, AlertState::Firing);
        assert_eq!(i.fired_at, Some(120_000));
        assert_eq!(i.active_at, 0);
        assert_eq!(i.labels["alertname"], "HighCpu");
        assert_eq!(i.labels["node"], "a");
        assert_eq!(i.annotations["summary"], "a at 1");
    }

    #[test]
    fn zero_for_fires_at_once_and_pending_drops_silently() {
        let r = rule("");
        let mut s = RuleState::default();
        eval(&mut s, &r, &[("a", 2.0)], 0);
        assert_eq!(only(&s).state, AlertState::Firing);

        let r = rule("for = \"5m\"");
        let mut s = RuleState::default();
        eval(&mut s, &r, &[("a", 2.0)], 0);
        eval(&mut s, &r, &[("a", 0.0)], 60_000);
        assert!(
            s.instances.is_empty(),
            "a pending alert that stops is dropped"
        );
        assert_eq!(s.state(), "inactive");
    }

    #[test]
    fn firing_resolves_with_the_recovery_value_and_ages_out() {
        let r = rule("");
        let mut s = RuleState::default();
        eval(&mut s, &r, &[("a", 95.0)], 0);
        eval(&mut s, &r, &[("a", 0.0)], 60_000);
        let i = only(&s);
        assert_eq!(i.state, AlertState::Resolved);
        assert_eq!(i.resolved_at, Some(60_000));
        assert_eq!(i.value, Some(0.0));
        let kept = 60_000 + millis(RESOLVED_RETENTION) - 1;
        eval(&mut s, &r, &[("a", 0.0)], kept);
        assert_eq!(only(&s).state, AlertState::Resolved);
        eval(&mut s, &r, &[("a", 0.0)], kept + 1);
        assert!(s.instances.is_empty());
    }

    #[test]
    fn a_resolved_alert_that_comes_back_starts_a_new_episode() {
        let r = rule("for = \"1m\"");
        let mut s = RuleState::default();
        eval(&mut s, &r, &[("a", 1.0)], 0);
        eval(&mut s, &r, &[("a", 1.0)], 60_000);
        eval(&mut s, &r, &[("a", 0.0)], 120_000);
        eval(&mut s, &r, &[("a", 1.0)], 180_000);
        let i = only(&s);
        assert_eq!(i.state, AlertState::Pending);
        assert_eq!(i.active_at, 180_000);
        assert_eq!(i.resolved_at, None);
    }

    #[test]
    fn keep_firing_for_holds_through_a_gap() {
        let r = rule("keep_firing_for = \"2m\"");
        let mut s = RuleState::default();
        eval(&mut s, &r, &[("a", 1.0)], 0);
        eval(&mut s, &r, &[("a", 0.0)], 60_000);
        assert_eq!(only(&s).state, AlertState::Firing);
        eval(&mut s, &r, &[], 119_999);
        assert_eq!(only(&s).state, AlertState::Firing);
        eval(&mut s, &r, &[("a", 0.0)], 120_000);
        assert_eq!(only(&s).state, AlertState::Resolved);
    }

    #[test]
    fn each_series_is_its_own_instance() {
        let r = rule("");
        let mut s = RuleState::default();
        eval(&mut s, &r, &[("a", 1.0), ("b", 0.0), ("c", 3.0)], 0);
        let mut firing: Vec<_> = s
            .instances
            .values()
            .map(|i| i.tags["node"].clone())
            .collect();
        firing.sort();
        assert_eq!(firing, ["a", "c"]);
        assert_eq!(s.instances.len(), 2);
        let fps: std::collections::HashSet<_> = s
            .instances
            .values()
            .map(|i| i.fingerprint.clone())
            .collect();
        assert_eq!(
            fps.len(),
            2,
            "distinct label sets have distinct fingerprints"
        );
    }

    #[test]
    fn no_data_policies() {
        // ok: no data resolves.
        let r = rule("no_data = \"ok\"");
        let mut s = RuleState::default();
        eval(&mut s, &r, &[("a", 1.0)], 0);
        eval(&mut s, &r, &[], 60_000);
        assert_eq!(only(&s).state, AlertState::Resolved);
        assert_eq!(s.health, Health::Nodata);

        // keep-last: nothing changes while there is no data, NaN included.
        let r = rule("no_data = \"keep-last\"");
        let mut s = RuleState::default();
        eval(&mut s, &r, &[("a", 1.0)], 0);
        eval(&mut s, &r, &[], 60_000);
        assert_eq!(only(&s).state, AlertState::Firing);
        eval(&mut s, &r, &[("a", f64::NAN)], 120_000);
        assert_eq!(only(&s).state, AlertState::Firing);
        assert_eq!(s.state(), "firing");

        // alerting: an instance without tags fires; it resolves when data returns.
        let r = rule("no_data = \"alerting\"");
        let mut s = RuleState::default();
        eval(&mut s, &r, &[], 0);
        let i = only(&s);
        assert_eq!(i.state, AlertState::Firing);
        assert!(i.tags.is_empty());
        assert_eq!(i.annotations["summary"], " at NaN");
        eval(&mut s, &r, &[("a", 0.0)], 60_000);
        assert_eq!(only(&s).state, AlertState::Resolved);
    }

    #[test]
    fn error_policies() {
        let failed = |s: &mut RuleState, r: &Rule, now| {
            apply(s, r, Outcome::Failed("boom".into()), now, "http://g")
        };
        let r = rule("");
        let mut s = RuleState::default();
        eval(&mut s, &r, &[("a", 1.0)], 0);
        failed(&mut s, &r, 60_000);
        assert_eq!(s.health, Health::Error);
        assert_eq!(s.last_error.as_deref(), Some("boom"));
        assert_eq!(
            only(&s).state,
            AlertState::Firing,
            "keep-last is the default"
        );
        eval(&mut s, &r, &[("a", 1.0)], 120_000);
        assert_eq!(s.health, Health::Ok);
        assert_eq!(s.last_error, None);

        let r = rule("on_error = \"ok\"");
        let mut s = RuleState::default();
        eval(&mut s, &r, &[("a", 1.0)], 0);
        failed(&mut s, &r, 60_000);
        assert_eq!(only(&s).state, AlertState::Resolved);

        let r = rule("on_error = \"alerting\"");
        let mut s = RuleState::default();
        failed(&mut s, &r, 0);
        assert!(only(&s).tags.is_empty());
        assert_eq!(s.state(), "firing");

        let mut s = RuleState::default();
        failed(&mut s, &rule(""), 0);
        assert_eq!(s.state(), "error");
    }

    #[test]
    fn labels_are_rendered_and_alertname_cannot_be_overridden() {
        let r = rule(
            "severity = \"page\"\nlabels = { alertname = \"x\", team = \"t-{{ tags.node }}\" }",
        );
        let mut s = RuleState::default();
        eval(&mut s, &r, &[("a", 1.0)], 0);
        let l = &only(&s).labels;
        assert_eq!(l["alertname"], "HighCpu");
        assert_eq!(l["team"], "t-a");
        assert_eq!(l["severity"], "page");
    }
}

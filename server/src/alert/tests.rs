//! The alerting subsystem over a real store, driven by a [`ManualClock`]: no sleeps.

use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::clock::ManualClock;
use sextant_store::StoreConfig;

const STEP: i64 = 1000;
const T0: i64 = 1_700_000_000_000;

struct Fixture {
    store: Arc<Store>,
    clock: Arc<ManualClock>,
    dir: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("sextant-alert-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Arc::new(Store::new(StoreConfig {
            step_ms: STEP,
            max_age_ms: 3_600_000,
            ..StoreConfig::default()
        }));
        Fixture {
            store,
            clock: Arc::new(ManualClock::new(T0)),
            dir,
        }
    }

    fn rules(&self, src: &str) -> PathBuf {
        let p = self.dir.join("rules.toml");
        std::fs::write(&p, src).unwrap();
        p
    }

    fn alerting(&self, src: &str) -> Alerting {
        let config = AlertingConfig {
            rules_file: Some(self.rules(src)),
            data_dir: Some(self.dir.join("data")),
            external_url: "http://sextant.test".into(),
            ..AlertingConfig::default()
        };
        let database = self.store.clone();
        Alerting::new(
            self.store.clone(),
            database,
            self.clock.clone(),
            config,
            None,
        )
        .unwrap()
    }

    /// Publishes `value` for `node` at the clock's time.
    fn publish(&self, node: &str, value: f64) {
        let now = self.clock.now_ms();
        let tags = [("atlas.dstype", "gauge"), ("name", "cpu"), ("node", node)];
        self.store.ingest(&tags, now, value, now).unwrap();
    }

    /// Moves to the next step boundary, publishing first, and evaluates there.
    fn step(&self, a: &Alerting, values: &[(&str, f64)]) -> i64 {
        self.clock.advance(STEP);
        for (n, v) in values {
            self.publish(n, *v);
        }
        let at = self.clock.now_ms();
        a.evaluate(at);
        at
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const RULES: &str = r#"
[[receivers]]
name = "ops"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
group_wait = "0s"
group_interval = "2s"

[[rules]]
name = "HighCpu"
expr = "name,cpu,:eq,(,node,),:by,80,:gt"
for = "2s"
receivers = ["ops"]
annotations = { summary = "{{ tags.node }} at {{ value }}" }
"#;

fn state_of(a: &Alerting) -> &'static str {
    a.states()
        .get("HighCpu")
        .map(|s| s.state())
        .unwrap_or("none")
}

#[test]
fn pending_then_firing_then_resolved_over_real_data() {
    let f = Fixture::new("flow");
    let a = f.alerting(RULES);
    f.step(&a, &[("a", 90.0)]);
    assert_eq!(state_of(&a), "pending");
    f.step(&a, &[("a", 91.0)]);
    assert_eq!(state_of(&a), "pending");
    assert!(
        a.plan(f.clock.now_ms()).is_empty(),
        "pending alerts are never sent"
    );
    f.step(&a, &[("a", 92.0)]);
    assert_eq!(state_of(&a), "firing");
    let flushes = a.plan(f.clock.now_ms());
    assert_eq!(flushes.len(), 1);
    let body = notify::webhook_body(&flushes[0], &a.external_url());
    assert_eq!(body["alerts"][0]["labels"]["node"], "a");
    assert_eq!(body["alerts"][0]["annotations"]["summary"], "a at 1");
    assert!(body["alerts"][0]["generatorURL"]
        .as_str()
        .unwrap()
        .starts_with("http://sextant.test/api/v1/graph?q=name%2Ccpu"));
    a.finish(&flushes[0], true);

    f.step(&a, &[("a", 10.0)]);
    f.step(&a, &[("a", 10.0)]);
    let st = a.states();
    let i = st["HighCpu"].instances.values().next().unwrap();
    assert_eq!(i.state, eval::AlertState::Resolved);
    let flushes = a.plan(f.clock.now_ms());
    assert_eq!(flushes.len(), 1);
    assert_eq!(flushes[0].reason, "all alerts resolved");
}

#[tokio::test]
async fn silences_suppress_notifications_but_not_evaluation() {
    let f = Fixture::new("silence");
    let a = f.alerting(&RULES.replace("for = \"2s\"", ""));
    let req: SilenceRequest = serde_json::from_value(serde_json::json!({
        "matchers": [{"name": "node", "value": "a"}],
        "endsAt": silence::format_time(T0 + 60_000),
    }))
    .unwrap();
    let s = a.silence_create(req).await.unwrap();
    f.step(&a, &[("a", 90.0), ("b", 95.0)]);
    assert_eq!(state_of(&a), "firing");
    let flushes = a.plan(f.clock.now_ms());
    assert_eq!(flushes.len(), 1);
    let nodes: Vec<_> = flushes[0]
        .alerts
        .iter()
        .map(|n| n.labels["node"].clone())
        .collect();
    assert_eq!(nodes, ["b"], "the silenced instance is left out");
    a.finish(&flushes[0], true);
    a.silence_expire(&s.id).await.unwrap();
    f.clock.advance(2 * STEP);
    let flushes = a.plan(f.clock.now_ms());
    assert_eq!(flushes.len(), 1);
    assert_eq!(flushes[0].reason, "new alerts added");
}

#[tokio::test]
async fn state_survives_a_restart_without_refiring() {
    let f = Fixture::new("restart");
    let rules = RULES.replace("for = \"2s\"", "for = \"3s\"");
    {
        let a = f.alerting(&rules);
        f.step(&a, &[("a", 90.0), ("b", 90.0)]);
        f.step(&a, &[("a", 90.0), ("b", 90.0)]);
        f.step(&a, &[("a", 90.0), ("b", 90.0)]);
        f.step(&a, &[("a", 90.0), ("b", 90.0)]);
        assert_eq!(state_of(&a), "firing");
        let flushes = a.plan(f.clock.now_ms());
        a.finish(&flushes[0], true);
        let req: SilenceRequest = serde_json::from_value(serde_json::json!({
            "matchers": [{"name": "node", "value": "zzz"}],
            "endsAt": silence::format_time(T0 + 600_000),
        }))
        .unwrap();
        a.silence_create(req).await.unwrap();
        // One line appended to the silence log; the state file does not repeat it.
        let data = f.dir.join("data");
        let log = std::fs::read_to_string(state::silences_path(&data)).unwrap();
        assert_eq!(log.lines().count(), 1);
        let state_file = std::fs::read_to_string(state::path(&data)).unwrap_or_default();
        assert!(!state_file.contains("zzz"), "{state_file}");
    }
    let a = f.alerting(&rules);
    assert_eq!(state_of(&a), "firing", "restored before any evaluation");
    assert_eq!(a.silences().len(), 1, "silences persist");
    f.step(&a, &[("a", 90.0), ("b", 90.0)]);
    f.clock.advance(10 * STEP);
    assert!(
        a.plan(f.clock.now_ms()).is_empty(),
        "the receiver already heard it"
    );
}

#[test]
fn a_pending_alert_keeps_counting_for_across_a_restart() {
    let f = Fixture::new("pending-restart");
    let rules = RULES.replace("for = \"2s\"", "for = \"3s\"");
    {
        let a = f.alerting(&rules);
        f.step(&a, &[("a", 90.0)]);
        f.step(&a, &[("a", 90.0)]);
    }
    let a = f.alerting(&rules);
    assert_eq!(state_of(&a), "pending");
    f.step(&a, &[("a", 90.0)]);
    f.step(&a, &[("a", 90.0)]);
    assert_eq!(
        state_of(&a),
        "firing",
        "active_at was kept: 3s after the first step"
    );
}

#[test]
fn evaluation_errors_set_the_error_state() {
    let f = Fixture::new("error");
    // An ungrouped multi-line operand cannot join a grouped one.
    let rules = RULES.replace(
        "name,cpu,:eq,(,node,),:by,80,:gt",
        "name,cpu,:eq,(,node,),:by,name,cpu,:eq,:all,:sub",
    );
    let a = f.alerting(&rules);
    f.step(&a, &[("a", 90.0), ("b", 90.0)]);
    let st = &a.states()["HighCpu"];
    assert_eq!(st.state(), "error");
    assert!(
        st.last_error.as_deref().unwrap().contains("ungrouped"),
        "{st:?}"
    );
    assert_eq!(a.stats().2, 1);
}

#[test]
fn no_data_is_reported() {
    let f = Fixture::new("nodata");
    let a = f.alerting(RULES);
    f.step(&a, &[]);
    assert_eq!(state_of(&a), "nodata");
}

#[test]
fn a_bad_reload_keeps_the_old_rules() {
    let f = Fixture::new("reload");
    let a = f.alerting(RULES);
    f.rules(&format!(
        "{RULES}\n[[rules]]\nname = \"B\"\nexpr = \"1\"\nfor = \"x\"\n"
    ));
    match a.reload() {
        Err(RulesError::Invalid { line, reason }) => {
            assert_eq!(line, 16);
            assert!(reason.contains("for: invalid duration"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(a.rules().rules.len(), 1);
    f.rules(&format!("{RULES}\n[[rules]]\nname = \"B\"\nexpr = \"1\"\n"));
    assert_eq!(a.reload(), Ok(2));
    f.step(&a, &[]);
    assert_eq!(
        a.states()["B"].state(),
        "firing",
        "a constant 1 fires at once"
    );
}

#[test]
fn rules_are_evaluated_concurrently_and_all_get_a_state() {
    let f = Fixture::new("many");
    let mut src = RULES.to_string();
    for i in 0..10 {
        src.push_str(&format!(
            "\n[[rules]]\nname = \"R{i}\"\nexpr = \"name,cpu,:eq,:max,{i},:gt\"\n"
        ));
    }
    let a = f.alerting(&src);
    f.step(&a, &[("a", 5.0)]);
    let states = a.states();
    assert_eq!(states.len(), 11);
    assert_eq!(states["R4"].state(), "firing");
    assert_eq!(states["R5"].state(), "inactive");
}

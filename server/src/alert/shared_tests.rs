//! Alerting on cluster nodes over an in-memory [`SharedAlerts`] with the KV bucket's
//! semantics (revisions, compare-and-set): a rule moving between two nodes keeps its
//! state and is not notified again, notifications wait for the saved state, a
//! conflicting write is taken over, silences and rules reach every node.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::*;
use crate::alert::eval::AlertState;
use crate::alert::notify::Status;
use crate::alert::silence::{Silence, SilenceRequest};
use crate::alert::{Alerting, AlertingConfig};
use crate::clock::{Clock, ManualClock};
use sextant_store::{Store, StoreConfig};

const STEP: i64 = 1000;
const T0: i64 = 1_700_000_000_000;

const RULES: &str = r#"
[[receivers]]
name = "ops"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
group_wait = "0s"
group_interval = "1s"

[[rules]]
name = "HighCpu"
expr = "name,cpu,:eq,(,node,),:by,80,:gt"
for = "2s"
receivers = ["ops"]
"#;

/// The bucket every fake node shares.
#[derive(Default)]
struct Kv {
    revision: u64,
    states: BTreeMap<String, (u64, Option<SharedRule>)>,
    silences: BTreeMap<String, Silence>,
    silences_version: u64,
    rules: Option<(u64, SharedRules)>,
}

/// One node's view of the shared bucket.
struct Memory {
    node: String,
    kv: Arc<Mutex<Kv>>,
    /// The nodes that believe they hold every rule.
    holders: Arc<Mutex<BTreeSet<String>>>,
    /// Writes fail, as with NATS out of reach.
    down: AtomicBool,
}

impl Memory {
    fn check(&self) -> Result<(), String> {
        match self.down.load(Ordering::Relaxed) {
            true => Err("NATS is out of reach".into()),
            false => Ok(()),
        }
    }
}

impl SharedAlerts for Memory {
    fn node_id(&self) -> &str {
        &self.node
    }

    fn owned(&self, rules: &[String]) -> BTreeSet<String> {
        match self.holders.lock().contains(&self.node) {
            true => rules.iter().cloned().collect(),
            false => BTreeSet::new(),
        }
    }

    fn owner(&self, _rule: &str) -> Option<String> {
        self.holders.lock().iter().next().cloned()
    }

    fn ready(&self) -> bool {
        true
    }

    fn load(&self, rule: String) -> SharedFuture<'_, Stored> {
        Box::pin(async move {
            self.check()?;
            let kv = self.kv.lock();
            Ok(match kv.states.get(&rule) {
                Some((revision, rule)) => Stored {
                    rule: rule.clone(),
                    revision: *revision,
                },
                None => Stored::default(),
            })
        })
    }

    fn save(&self, rule: String, value: Vec<u8>, revision: u64) -> SharedFuture<'_, Saved> {
        Box::pin(async move {
            self.check()?;
            let mut kv = self.kv.lock();
            let current = kv.states.get(&rule).map_or(0, |(r, _)| *r);
            if current != revision {
                return Ok(Saved::Conflict);
            }
            kv.revision += 1;
            let r = kv.revision;
            let doc = serde_json::from_slice(&value).map_err(|e| e.to_string())?;
            kv.states.insert(rule, (r, Some(doc)));
            Ok(Saved::Revision(r))
        })
    }

    fn forget(&self, rule: String) -> SharedFuture<'_, ()> {
        Box::pin(async move {
            self.check()?;
            let mut kv = self.kv.lock();
            kv.revision += 1;
            let r = kv.revision;
            kv.states.insert(rule, (r, None));
            Ok(())
        })
    }

    fn others(&self) -> BTreeMap<String, SharedRule> {
        let kv = self.kv.lock();
        kv.states
            .iter()
            .filter_map(|(name, (_, r))| Some((name.clone(), r.clone()?)))
            .collect()
    }

    fn put_silence(&self, silence: Silence) -> SharedFuture<'_, ()> {
        Box::pin(async move {
            self.check()?;
            let mut kv = self.kv.lock();
            kv.silences.insert(silence.id.clone(), silence);
            kv.silences_version += 1;
            Ok(())
        })
    }

    fn remove_silence(&self, id: String) -> SharedFuture<'_, ()> {
        Box::pin(async move {
            self.check()?;
            let mut kv = self.kv.lock();
            kv.silences.remove(&id);
            kv.silences_version += 1;
            Ok(())
        })
    }

    fn silences_version(&self) -> u64 {
        self.kv.lock().silences_version
    }

    fn silences(&self) -> Vec<Silence> {
        self.kv.lock().silences.values().cloned().collect()
    }

    fn publish_rules(&self, text: String) -> SharedFuture<'_, ()> {
        Box::pin(async move {
            self.check()?;
            let mut kv = self.kv.lock();
            kv.revision += 1;
            let r = kv.revision;
            let node = self.node.clone();
            kv.rules = Some((r, SharedRules { node, text }));
            Ok(())
        })
    }

    fn rules_revision(&self) -> u64 {
        self.kv.lock().rules.as_ref().map_or(0, |(r, _)| *r)
    }

    fn rules(&self) -> Option<SharedRules> {
        self.kv.lock().rules.as_ref().map(|(_, r)| r.clone())
    }

    fn spawn(&self) -> Vec<tokio::task::JoinHandle<()>> {
        Vec::new()
    }
}

/// Two nodes over one store (as with every partition owned everywhere) and one bucket.
struct Cluster {
    store: Arc<Store>,
    clock: Arc<ManualClock>,
    kv: Arc<Mutex<Kv>>,
    holders: Arc<Mutex<BTreeSet<String>>>,
    dir: PathBuf,
}

impl Cluster {
    fn new(name: &str) -> Cluster {
        let dir =
            std::env::temp_dir().join(format!("sextant-shared-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("rules.toml"), RULES).unwrap();
        Cluster {
            store: Arc::new(Store::new(StoreConfig {
                step_ms: STEP,
                max_age_ms: 3_600_000,
                ..StoreConfig::default()
            })),
            clock: Arc::new(ManualClock::new(T0)),
            kv: Arc::default(),
            holders: Arc::default(),
            dir,
        }
    }

    /// Node `id`, with the rules file or (`with_file` false) without, taking the
    /// cluster's.
    fn node(&self, id: &str, with_file: bool) -> (Arc<Alerting>, Arc<Memory>) {
        let memory = Arc::new(Memory {
            node: id.to_string(),
            kv: self.kv.clone(),
            holders: self.holders.clone(),
            down: AtomicBool::new(false),
        });
        let config = AlertingConfig {
            rules_file: with_file.then(|| self.dir.join("rules.toml")),
            // Ignored by a cluster node: its state is the cluster's.
            data_dir: Some(self.dir.join(id)),
            external_url: format!("http://{id}.test"),
            ..AlertingConfig::default()
        };
        let shared: Arc<dyn SharedAlerts> = memory.clone();
        let a = Alerting::new(
            self.store.clone(),
            self.store.clone(),
            self.clock.clone(),
            config,
            Some(shared),
        )
        .unwrap();
        (Arc::new(a), memory)
    }

    fn hold(&self, ids: &[&str]) {
        *self.holders.lock() = ids.iter().map(|s| s.to_string()).collect();
    }

    /// The next step boundary, with `value` published for node `x` just before it.
    fn next(&self, value: f64) -> i64 {
        self.clock.advance(STEP);
        let now = self.clock.now_ms();
        let tags = [("atlas.dstype", "gauge"), ("name", "cpu"), ("node", "x")];
        self.store.ingest(&tags, now, value, now).unwrap();
        now
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn instance(a: &Alerting) -> Option<crate::alert::eval::Instance> {
    a.states()
        .get("HighCpu")?
        .instances
        .values()
        .next()
        .cloned()
}

/// Plans, and reports every flush delivered (without HTTP), saving what was sent.
async fn notify(a: &Alerting) -> Vec<(&'static str, Vec<Status>)> {
    let flushes = a.plan(a.now_ms());
    let out = flushes
        .iter()
        .map(|f| (f.reason, f.alerts.iter().map(|n| n.status).collect()))
        .collect();
    for f in &flushes {
        a.finish(f, true);
    }
    a.share().await;
    out
}

#[tokio::test]
async fn a_moved_rule_keeps_its_state_and_is_not_notified_again() {
    let c = Cluster::new("move");
    let (a, _) = c.node("a", true);
    let (b, _) = c.node("b", true);
    c.hold(&["a"]);
    for _ in 0..3 {
        let at = c.next(90.0);
        a.evaluate_round(at).await;
        b.evaluate_round(at).await;
    }
    let fired = instance(&a).unwrap();
    assert_eq!(fired.state, AlertState::Firing);
    assert_eq!(
        notify(&a).await,
        [("first notification", vec![Status::Firing])]
    );
    assert!(notify(&b).await.is_empty(), "only the holder notifies");
    // b shows a's state, evaluated by a, with what the receiver heard.
    let view = b.cluster_view().unwrap();
    assert_eq!(view["HighCpu"].node, "a");
    let sent: Vec<_> = view["HighCpu"]
        .groups
        .values()
        .flat_map(|g| g.sent.values().copied())
        .collect();
    assert_eq!(sent, [Status::Firing]);

    // a dies: b takes the rule with its state.
    c.hold(&["b"]);
    let at = c.next(90.0);
    b.evaluate_round(at).await;
    let moved = instance(&b).unwrap();
    assert_eq!(moved.state, AlertState::Firing);
    assert_eq!(moved.active_at, fired.active_at);
    assert_eq!(moved.fired_at, fired.fired_at);
    assert_eq!(b.cluster_view().unwrap()["HighCpu"].node, "b");
    c.clock.advance(10 * STEP);
    assert!(notify(&b).await.is_empty(), "already notified by a");

    // The condition clears: b sends the resolution, once.
    for _ in 0..2 {
        let at = c.next(10.0);
        b.evaluate_round(at).await;
    }
    assert_eq!(instance(&b).unwrap().state, AlertState::Resolved);
    assert_eq!(
        notify(&b).await,
        [("all alerts resolved", vec![Status::Resolved])]
    );
    c.clock.advance(10 * STEP);
    assert!(notify(&b).await.is_empty());
    // a, back, shows b's state without holding the rule.
    a.evaluate_round(c.next(10.0)).await;
    assert!(a.held.lock().is_empty());
    assert_eq!(a.cluster_view().unwrap()["HighCpu"].node, "b");
}

#[tokio::test]
async fn nothing_is_sent_before_the_state_is_saved() {
    let c = Cluster::new("unsaved");
    let (a, memory) = c.node("a", true);
    c.hold(&["a"]);
    a.evaluate_round(c.next(90.0)).await;
    memory.down.store(true, Ordering::Relaxed);
    for _ in 0..3 {
        a.evaluate_round(c.next(90.0)).await;
    }
    assert_eq!(a.states.lock()["HighCpu"].state(), "firing");
    assert!(
        notify(&a).await.is_empty(),
        "firing in memory, not in the cluster: not sent"
    );
    memory.down.store(false, Ordering::Relaxed);
    a.evaluate_round(c.next(90.0)).await;
    assert_eq!(
        notify(&a).await,
        [("first notification", vec![Status::Firing])]
    );
}

#[tokio::test]
async fn a_conflicting_write_is_taken_over() {
    let c = Cluster::new("conflict");
    let (a, _) = c.node("a", true);
    let (b, _) = c.node("b", true);
    // Both believe they hold the rule (their member lists differ for a heartbeat).
    c.hold(&["a", "b"]);
    let at = c.next(90.0);
    assert!(a.claim().await.is_some());
    assert!(b.claim().await.is_some());
    a.evaluate_only(at, None);
    b.evaluate_only(at, None);
    a.share().await;
    b.share().await;
    let revision = c.kv.lock().states["HighCpu"].0;
    assert_eq!(c.kv.lock().states["HighCpu"].1.as_ref().unwrap().node, "a");
    assert_eq!(b.held.lock()["HighCpu"].revision, revision);
    assert_eq!(b.cluster_view().unwrap()["HighCpu"].node, "a");
    // b's next write names the revision it took over, and goes through.
    c.hold(&["b"]);
    b.evaluate_round(c.next(90.0)).await;
    assert_eq!(c.kv.lock().states["HighCpu"].1.as_ref().unwrap().node, "b");
}

#[tokio::test]
async fn silences_and_rules_reach_every_node() {
    let c = Cluster::new("silences");
    let (a, _) = c.node("a", true);
    let (b, memory_b) = c.node("b", false);
    assert!(b.rules().rules.is_empty());
    a.publish_rules().await.unwrap();
    b.refresh();
    assert_eq!(b.rules().rules[0].name, "HighCpu");

    let req: SilenceRequest = serde_json::from_value(serde_json::json!({
        "matchers": [{"name": "node", "value": "x"}],
        "endsAt": crate::alert::silence::format_time(T0 + 600_000),
    }))
    .unwrap();
    let s = a.silence_create(req).await.unwrap();
    let labels = BTreeMap::from([("node".to_string(), "x".to_string())]);
    assert_eq!(b.silences().len(), 1);
    assert_eq!(b.silenced_by(&labels), vec![s.id.clone()]);
    b.silence_expire(&s.id).await.unwrap();
    a.refresh();
    assert!(a.silenced_by(&labels).is_empty());
    // A cluster that cannot store a silence refuses it.
    memory_b.down.store(true, Ordering::Relaxed);
    let req: SilenceRequest = serde_json::from_value(serde_json::json!({
        "matchers": [{"name": "node", "value": "y"}],
        "endsAt": crate::alert::silence::format_time(T0 + 600_000),
    }))
    .unwrap();
    assert!(matches!(
        b.silence_create(req).await,
        Err(crate::alert::silence::SilenceError::Unavailable(_))
    ));
    assert_eq!(b.silences().len(), 1);
    // Forgotten from the cluster a day after they ended.
    a.forget_silences(T0 + 2 * 24 * 3600 * 1000).await;
    b.refresh();
    assert!(b.silences().is_empty());
    // No state file is written by a cluster node.
    assert!(!c.dir.join("a").exists());
}

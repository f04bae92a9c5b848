//! Alerting across the cluster (docs/cluster.md, "Alerting in a cluster"): which live
//! member evaluates each rule (rendezvous hashing of the rule's name, as partitions are
//! placed), and the KV buckets holding each rule's state, the rules and the silences,
//! with local copies kept current by watching the buckets.
//!
//! - `sextant-alerts`: key `rules` (the rules file a node published, with its name) and
//!   `state.<hex of the rule name>` (a [`SharedRule`], written by the rule's holder with
//!   compare-and-set on its revision).
//! - `sextant-silences`: one key per silence id.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;
use parking_lot::{Mutex, RwLock};
use tokio::sync::OnceCell;
use tokio::time::{timeout, Instant};

use super::{kv_bucket, rendezvous, ClusterStatus};
use crate::alert::shared::{Saved, SharedAlerts, SharedFuture, SharedRule, SharedRules, Stored};
use crate::alert::silence::Silence;

/// KV bucket of the rules and every rule's state.
pub const ALERTS_BUCKET: &str = "sextant-alerts";
/// KV bucket of the silences, one key per silence id.
pub const SILENCES_BUCKET: &str = "sextant-silences";
/// Key of the published rules in [`ALERTS_BUCKET`].
const RULES_KEY: &str = "rules";
/// Prefix of a rule's state key in [`ALERTS_BUCKET`]; the hex of its name follows (rule
/// names may hold characters a key may not).
const STATE_PREFIX: &str = "state.";
/// Longest wait for one KV operation.
const KV_TIMEOUT: Duration = Duration::from_secs(5);
/// A watch quiet this long is checked against its bucket's newest revision: a watch whose
/// consumer died with its nats-server is made again.
const IDLE: Duration = Duration::from_secs(10);

/// The key of `rule`'s state.
fn key_of(rule: &str) -> String {
    let mut key = String::with_capacity(STATE_PREFIX.len() + 2 * rule.len());
    key.push_str(STATE_PREFIX);
    for b in rule.bytes() {
        let _ = write!(key, "{b:02x}");
    }
    key
}

/// The rule whose state key is `key`.
fn rule_of(key: &str) -> Option<String> {
    let hex = key.strip_prefix(STATE_PREFIX)?;
    if !hex.is_ascii() || hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// The member evaluating `rule` among `members`.
fn owner_in(members: &[String], rule: &str) -> Option<String> {
    rendezvous(members, rule.as_bytes(), 1).into_iter().next()
}

/// What the node knows of the buckets; shared with the watch tasks.
struct Inner {
    js: jetstream::Context,
    replicas: usize,
    alerts: OnceCell<kv::Store>,
    silences: OnceCell<kv::Store>,
    /// Every rule's state as last written, by rule name.
    states: RwLock<BTreeMap<String, SharedRule>>,
    /// Every silence, by id.
    silence_list: RwLock<BTreeMap<String, Silence>>,
    /// Bumped on every change of `silence_list`.
    silences_version: AtomicU64,
    /// The published rules and their revision.
    rules: RwLock<Option<(u64, SharedRules)>>,
    /// The silences were read once.
    ready: AtomicBool,
}

impl Inner {
    /// Opens (creating when missing) bucket `name`.
    async fn bucket(&self, name: &str) -> Result<kv::Store, String> {
        let cell = if name == SILENCES_BUCKET {
            &self.silences
        } else {
            &self.alerts
        };
        cell.get_or_try_init(|| async {
            timeout(
                KV_TIMEOUT,
                kv_bucket(&self.js, name, Duration::ZERO, self.replicas),
            )
            .await
            .unwrap_or_else(|_| Err(format!("opening the KV bucket {name} timed out")))
        })
        .await
        .cloned()
    }

    /// Takes `rules` as the shared rules unless a newer revision is already known.
    fn set_rules(&self, revision: u64, rules: SharedRules) {
        let mut current = self.rules.write();
        if current.as_ref().is_none_or(|(r, _)| *r < revision) {
            *current = Some((revision, rules));
        }
    }

    fn set_silence(&self, id: &str, silence: Option<Silence>) {
        let mut all = self.silence_list.write();
        match silence {
            Some(s) => all.insert(id.to_string(), s),
            None => all.remove(id),
        };
        self.silences_version.fetch_add(1, Ordering::Relaxed);
    }

    /// Applies one change seen in bucket `name`.
    fn apply(&self, name: &str, entry: &kv::Entry) {
        let put = entry.operation == kv::Operation::Put;
        if name == SILENCES_BUCKET {
            let silence = put
                .then(|| serde_json::from_slice::<Silence>(&entry.value).ok())
                .flatten();
            if put && silence.is_none() {
                tracing::warn!(key = %entry.key, "an unreadable silence in the cluster is ignored");
            }
            self.set_silence(&entry.key, silence);
        } else if entry.key == RULES_KEY {
            match serde_json::from_slice::<SharedRules>(&entry.value) {
                Ok(rules) if put => self.set_rules(entry.revision, rules),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "unreadable rules in the cluster are ignored"),
            }
        } else if let Some(rule) = rule_of(&entry.key) {
            let state = put
                .then(|| serde_json::from_slice::<SharedRule>(&entry.value).ok())
                .flatten();
            let mut states = self.states.write();
            match state {
                Some(s) => states.insert(rule, s),
                None => states.remove(&rule),
            };
        }
    }
}

/// The cluster's implementation of [`SharedAlerts`].
pub struct ClusterAlerts {
    status: Arc<ClusterStatus>,
    /// How long a rule gained from a member that is still live waits before it is
    /// evaluated: that member evaluates it until its next heartbeat shows it the change.
    handover: Duration,
    ownership: Mutex<Ownership>,
    inner: Arc<Inner>,
}

/// Which rules this node evaluates, as of the last look at the members.
#[derive(Default)]
struct Ownership {
    /// The members then.
    members: Vec<String>,
    /// Rules won, with when they may be evaluated.
    ready_at: HashMap<String, Instant>,
}

impl Ownership {
    /// The rules of `rules` node `me` evaluates at `now` among `members`: those it wins,
    /// once their handover is over.
    fn owned(
        &mut self,
        members: Vec<String>,
        me: &str,
        rules: &[String],
        now: Instant,
        handover: Duration,
    ) -> BTreeSet<String> {
        let before = std::mem::replace(&mut self.members, members);
        let members = &self.members;
        let mut ready_at = HashMap::new();
        let mut owned = BTreeSet::new();
        for rule in rules {
            if owner_in(members, rule).as_deref() != Some(me) {
                continue;
            }
            let at = self.ready_at.get(rule).copied().unwrap_or_else(|| {
                // Won from a member that left: at once. Won because this node (re)joined,
                // or from a member still live: that member evaluates it until its next
                // heartbeat shows it the change, so wait for that.
                let previous = owner_in(&before, rule);
                let live_holder = previous.is_some_and(|p| p != me && members.contains(&p));
                if before.is_empty() || live_holder {
                    now + handover
                } else {
                    now
                }
            });
            ready_at.insert(rule.clone(), at);
            if now >= at {
                owned.insert(rule.clone());
            }
        }
        self.ready_at = ready_at;
        owned
    }
}

impl ClusterAlerts {
    /// Alerting state over `js`, with ownership over the members `status` lists.
    pub fn new(js: jetstream::Context, status: Arc<ClusterStatus>, ttl: Duration) -> Self {
        let replicas = status.settings.replicas;
        ClusterAlerts {
            status,
            // Two heartbeats: every node refreshes its member list once per TTL/4.
            handover: ttl / 2,
            ownership: Mutex::default(),
            inner: Arc::new(Inner {
                js,
                replicas,
                alerts: OnceCell::new(),
                silences: OnceCell::new(),
                states: RwLock::default(),
                silence_list: RwLock::default(),
                silences_version: AtomicU64::new(0),
                rules: RwLock::default(),
                ready: AtomicBool::new(false),
            }),
        }
    }
}

/// Runs `work` within [`KV_TIMEOUT`], naming `what` in errors.
async fn bounded<T, E: std::fmt::Display>(
    what: &str,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match timeout(KV_TIMEOUT, work).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: timed out")),
    }
}

impl SharedAlerts for ClusterAlerts {
    fn node_id(&self) -> &str {
        &self.status.node_id
    }

    fn owned(&self, rules: &[String]) -> BTreeSet<String> {
        let members = self.status.members.lock().clone();
        self.ownership.lock().owned(
            members,
            &self.status.node_id,
            rules,
            Instant::now(),
            self.handover,
        )
    }

    fn owner(&self, rule: &str) -> Option<String> {
        owner_in(&self.status.members.lock(), rule)
    }

    fn ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed)
    }

    fn load(&self, rule: String) -> SharedFuture<'_, Stored> {
        Box::pin(async move {
            let kv = self.inner.bucket(ALERTS_BUCKET).await?;
            let entry = bounded("reading a rule's state", kv.entry(key_of(&rule))).await?;
            Ok(match entry {
                None => Stored::default(),
                Some(e) => {
                    let rule_state = (e.operation == kv::Operation::Put)
                        .then(|| serde_json::from_slice::<SharedRule>(&e.value))
                        .transpose()
                        .unwrap_or_else(|err| {
                            // Written by another version: evaluated afresh, overwritten.
                            tracing::warn!(rule = %rule, error = %err, "an unreadable rule state in the cluster is replaced");
                            None
                        });
                    Stored {
                        rule: rule_state,
                        revision: e.revision,
                    }
                }
            })
        })
    }

    fn save(&self, rule: String, value: Vec<u8>, revision: u64) -> SharedFuture<'_, Saved> {
        Box::pin(async move {
            let kv = self.inner.bucket(ALERTS_BUCKET).await?;
            let write = kv.update(key_of(&rule), value.into(), revision);
            match timeout(KV_TIMEOUT, write).await {
                Ok(Ok(r)) => Ok(Saved::Revision(r)),
                Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    Ok(Saved::Conflict)
                }
                Ok(Err(e)) => Err(format!("saving a rule's state: {e}")),
                Err(_) => Err("saving a rule's state: timed out".to_string()),
            }
        })
    }

    fn forget(&self, rule: String) -> SharedFuture<'_, ()> {
        Box::pin(async move {
            let kv = self.inner.bucket(ALERTS_BUCKET).await?;
            bounded("deleting a rule's state", kv.delete(key_of(&rule))).await
        })
    }

    fn others(&self) -> BTreeMap<String, SharedRule> {
        self.inner.states.read().clone()
    }

    fn put_silence(&self, silence: Silence) -> SharedFuture<'_, ()> {
        Box::pin(async move {
            let kv = self.inner.bucket(SILENCES_BUCKET).await?;
            let value = serde_json::to_vec(&silence).map_err(|e| e.to_string())?;
            bounded("storing a silence", kv.put(&silence.id, value.into())).await?;
            // Here at once, before the watch brings it back.
            self.inner.set_silence(&silence.id.clone(), Some(silence));
            Ok(())
        })
    }

    fn remove_silence(&self, id: String) -> SharedFuture<'_, ()> {
        Box::pin(async move {
            let kv = self.inner.bucket(SILENCES_BUCKET).await?;
            bounded("deleting a silence", kv.delete(&id)).await?;
            self.inner.set_silence(&id, None);
            Ok(())
        })
    }

    fn silences_version(&self) -> u64 {
        self.inner.silences_version.load(Ordering::Relaxed)
    }

    fn silences(&self) -> Vec<Silence> {
        self.inner.silence_list.read().values().cloned().collect()
    }

    fn publish_rules(&self, text: String) -> SharedFuture<'_, ()> {
        Box::pin(async move {
            if self
                .inner
                .rules
                .read()
                .as_ref()
                .is_some_and(|(_, r)| r.text == text)
            {
                return Ok(());
            }
            let kv = self.inner.bucket(ALERTS_BUCKET).await?;
            let rules = SharedRules {
                node: self.status.node_id.clone(),
                text,
            };
            let value = serde_json::to_vec(&rules).map_err(|e| e.to_string())?;
            let revision = bounded("publishing the rules", kv.put(RULES_KEY, value.into())).await?;
            tracing::info!(revision, "alert rules published to the cluster");
            self.inner.set_rules(revision, rules);
            Ok(())
        })
    }

    fn rules_revision(&self) -> u64 {
        self.inner.rules.read().as_ref().map_or(0, |(r, _)| *r)
    }

    fn rules(&self) -> Option<SharedRules> {
        self.inner.rules.read().as_ref().map(|(_, r)| r.clone())
    }

    fn spawn(&self) -> Vec<tokio::task::JoinHandle<()>> {
        [ALERTS_BUCKET, SILENCES_BUCKET]
            .into_iter()
            .map(|name| tokio::spawn(watch(self.inner.clone(), name)))
            .collect()
    }
}

/// Keeps the local copy of bucket `name` current; made again after any error.
async fn watch(inner: Arc<Inner>, name: &'static str) {
    loop {
        if let Err(e) = watch_once(&inner, name).await {
            tracing::debug!(bucket = name, error = %e, "alert bucket watch stopped; restarting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The newest revision in bucket `name` and whether it holds nothing.
async fn head(inner: &Inner, name: &str) -> Result<(u64, bool), String> {
    let stream = bounded(
        "reading a bucket's head",
        inner.js.get_stream(format!("KV_{name}")),
    )
    .await?;
    let state = &stream.cached_info().state;
    Ok((state.last_sequence, state.messages == 0))
}

/// Watches bucket `name` from each key's latest value on; an error when the watch must be
/// made again.
async fn watch_once(inner: &Inner, name: &str) -> Result<(), String> {
    let kv = inner.bucket(name).await?;
    let (newest, empty) = head(inner, name).await?;
    // Each key's latest value first (delete markers included), then every change.
    let mut changes = bounded("watching a bucket", kv.watch_with_history(">")).await?;
    let synced = |inner: &Inner| {
        if name == SILENCES_BUCKET {
            inner.ready.store(true, Ordering::Relaxed);
        }
    };
    if empty {
        synced(inner);
    }
    let mut seen = 0;
    loop {
        let entry = match timeout(IDLE, changes.next()).await {
            Ok(Some(entry)) => entry.map_err(|e| e.to_string())?,
            Ok(None) => return Err("the watch ended".to_string()),
            Err(_) => {
                let (newest, _) = head(inner, name).await?;
                if newest > seen {
                    return Err(format!("stalled at revision {seen} below {newest}"));
                }
                continue;
            }
        };
        seen = seen.max(entry.revision);
        inner.apply(name, &entry);
        if entry.seen_current || entry.delta == 0 || entry.revision >= newest {
            synced(inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_round_trip_through_keys() {
        for name in ["HighCpu", "disk full: /var", "ünïcode", "a.b>c*"] {
            let key = key_of(name);
            assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'));
            assert_eq!(rule_of(&key).as_deref(), Some(name));
        }
        assert_eq!(rule_of("rules"), None);
        assert_eq!(rule_of("state.4"), None);
        assert_eq!(rule_of("state.zz"), None);
    }

    #[test]
    fn one_member_evaluates_each_rule_and_a_leave_moves_only_its_rules() {
        let three: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let two: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let rules: Vec<String> = (0..64).map(|i| format!("rule-{i}")).collect();
        let mut moved = 0;
        for r in &rules {
            let before = owner_in(&three, r).unwrap();
            let after = owner_in(&two, r).unwrap();
            if before != "c" {
                assert_eq!(before, after, "{r} moved without cause");
            } else {
                moved += 1;
            }
        }
        assert!(moved > 0 && moved < 64, "c held {moved} of 64");
        assert_eq!(owner_in(&[], "x"), None);
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// A rule whose holder left is taken at once; one won by joining (or from a member
    /// still live) only after the handover, so two nodes never both evaluate it.
    #[test]
    fn gains_wait_for_a_live_holder_but_not_for_a_dead_one() {
        let rules: Vec<String> = (0..32).map(|i| format!("rule-{i}")).collect();
        let handover = Duration::from_secs(2);
        let t0 = Instant::now();
        let abc = names(&["a", "b", "c"]);
        let ab = names(&["a", "b"]);
        let of = |members: &[String], who: &str| -> BTreeSet<String> {
            rules
                .iter()
                .filter(|r| owner_in(members, r).as_deref() == Some(who))
                .cloned()
                .collect()
        };
        // b joins: nothing evaluated until the handover is over.
        let mut b = Ownership::default();
        assert!(b.owned(abc.clone(), "b", &rules, t0, handover).is_empty());
        assert!(b
            .owned(
                abc.clone(),
                "b",
                &rules,
                t0 + Duration::from_secs(1),
                handover
            )
            .is_empty());
        let t1 = t0 + handover;
        assert_eq!(
            b.owned(abc.clone(), "b", &rules, t1, handover),
            of(&abc, "b")
        );
        // c dies: its rules won by b are evaluated at once.
        let from_c: BTreeSet<String> = of(&abc, "c").intersection(&of(&ab, "b")).cloned().collect();
        assert!(!from_c.is_empty());
        assert_eq!(b.owned(ab.clone(), "b", &rules, t1, handover), of(&ab, "b"));
        // c comes back: b lets its rules go at once.
        assert_eq!(
            b.owned(abc.clone(), "b", &rules, t1, handover),
            of(&abc, "b")
        );
        // a sees c join: it gives c's rules up at once (c waits the handover first).
        let mut a = Ownership::default();
        a.owned(ab.clone(), "a", &rules, t0, handover);
        let won = a.owned(ab.clone(), "a", &rules, t1, handover);
        assert_eq!(won, of(&ab, "a"));
        let kept = a.owned(abc.clone(), "a", &rules, t1, handover);
        assert_eq!(kept, of(&abc, "a"));
    }
}

//! What alerting shares with other nodes, behind [`SharedAlerts`]: a single node shares
//! nothing (`None`, its state lives in the data directory), a cluster node keeps every
//! rule's state, the rules and the silences in JetStream KV
//! (`crate::cluster::ClusterAlerts`; docs/cluster.md, "Alerting in a cluster").
//!
//! Each rule is evaluated by one node, its *holder*. The holder:
//! - loads the rule's [`SharedRule`] when it gains the rule, before evaluating it, so a
//!   firing alert keeps its `activeAt` and what receivers were told;
//! - saves it (compare-and-set on the revision it last read or wrote) after each
//!   evaluation that changed it, and after each delivery;
//! - plans notifications only from the state as last *saved*: save, then send. A crash
//!   between the two sends again from the next holder (at least once), never loses one.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::eval::{millis, RuleState};
use super::notify::{GroupState, Groups};
use super::rules::{RuleSet, RulesError};
use super::silence::{Silence, Silences};
use super::{retention, Alerting};

/// The future of a call to the shared store; errors are messages for the log.
pub type SharedFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// One rule's state as the cluster keeps it (one KV value per rule).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SharedRule {
    /// The node whose evaluation this is.
    pub node: String,
    /// Instances, health, last evaluation.
    pub state: RuleState,
    /// What receivers were told about this rule's instances: the notification groups
    /// holding them, by group id, each `sent` narrowed to this rule's fingerprints.
    pub groups: BTreeMap<String, GroupState>,
}

/// The rules every node runs: the text of a node's `--rules` file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SharedRules {
    /// The node that published them.
    pub node: String,
    /// The rules file's text.
    pub text: String,
}

/// A value read from the shared store with its revision (0: never written), the
/// revision the next compare-and-set names.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The value; `None` when there is none (or it was deleted).
    pub rule: Option<SharedRule>,
    /// Its revision.
    pub revision: u64,
}

/// The outcome of a compare-and-set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Written; the new revision.
    Revision(u64),
    /// Someone else wrote the rule since our revision: nothing was written.
    Conflict,
}

/// Alert state shared between the nodes of a cluster.
///
/// Reads of what other nodes wrote (`others`, `silences`, `rules`) come from a local copy
/// the implementation keeps current; writes and the load of a gained rule go to the
/// shared store itself.
pub trait SharedAlerts: Send + Sync {
    /// This node's id.
    fn node_id(&self) -> &str;
    /// The rules of `rules` this node evaluates now (one live member each).
    fn owned(&self, rules: &[String]) -> BTreeSet<String>;
    /// The node evaluating `rule` as this node sees the members, if any.
    fn owner(&self, rule: &str) -> Option<String>;
    /// True once the silences were read: nothing is notified before.
    fn ready(&self) -> bool;
    /// The saved state of `rule`, read from the store (not the local copy).
    fn load(&self, rule: String) -> SharedFuture<'_, Stored>;
    /// Writes `rule`'s state (`SharedRule` as JSON) if its revision is still `revision`.
    fn save(&self, rule: String, value: Vec<u8>, revision: u64) -> SharedFuture<'_, Saved>;
    /// Deletes the state of a rule that no longer exists.
    fn forget(&self, rule: String) -> SharedFuture<'_, ()>;
    /// The latest state of every rule, as written by whoever evaluates it.
    fn others(&self) -> BTreeMap<String, SharedRule>;
    /// Stores a new or changed silence.
    fn put_silence(&self, silence: Silence) -> SharedFuture<'_, ()>;
    /// Deletes a silence (forgotten a day after it ended).
    fn remove_silence(&self, id: String) -> SharedFuture<'_, ()>;
    /// Changes whenever the silences do.
    fn silences_version(&self) -> u64;
    /// Every silence.
    fn silences(&self) -> Vec<Silence>;
    /// Publishes this node's rules to every node.
    fn publish_rules(&self, text: String) -> SharedFuture<'_, ()>;
    /// Changes whenever the shared rules do (0: none yet).
    fn rules_revision(&self) -> u64;
    /// The shared rules.
    fn rules(&self) -> Option<SharedRules>;
    /// Starts the tasks keeping the local copies current.
    fn spawn(&self) -> Vec<tokio::task::JoinHandle<()>>;
}

/// A rule this node holds (evaluates), and how it stands with the shared store.
#[derive(Debug, Clone, Default)]
pub(super) struct Held {
    /// The revision of the rule's value we last read or wrote.
    revision: u64,
    /// What we last saved or loaded, without the evaluation's timing (see [`normalised`]).
    saved: Option<Vec<u8>>,
    /// The last evaluation in what we saved.
    saved_eval_ms: Option<i64>,
    /// The state as last saved or loaded: notifications are planned from it, so nothing
    /// is sent that the next holder would not know of.
    pub(super) saved_state: Option<RuleState>,
    /// The node of the state now in memory.
    pub(super) evaluated_by: Option<String>,
}

/// A state unchanged but for its timing is saved again only this often, so other nodes'
/// `lastEvaluation` of a quiet rule is at most this old.
const REFRESH: Duration = Duration::from_secs(30);

/// `rule` as JSON without the timing of its evaluation, to tell a change of substance.
fn normalised(rule: &SharedRule) -> Vec<u8> {
    let mut state = rule.state.clone();
    state.last_eval_ms = None;
    state.last_duration_ms = None;
    serde_json::to_vec(&(&rule.node, &state, &rule.groups)).unwrap_or_default()
}

/// The groups of `groups` that hold instances of `state`, each narrowed to them.
fn groups_of(state: &RuleState, groups: &Groups) -> BTreeMap<String, GroupState> {
    let fps: BTreeSet<&str> = state
        .instances
        .values()
        .map(|i| i.fingerprint.as_str())
        .collect();
    groups
        .groups
        .iter()
        .filter_map(|(id, g)| {
            let sent: BTreeMap<_, _> = g
                .sent
                .iter()
                .filter(|(fp, _)| fps.contains(fp.as_str()))
                .map(|(fp, s)| (fp.clone(), *s))
                .collect();
            (!sent.is_empty()).then(|| {
                (
                    id.clone(),
                    GroupState {
                        receiver: g.receiver.clone(),
                        group_key: g.group_key.clone(),
                        created_at: g.created_at,
                        last_flush_at: g.last_flush_at,
                        sent,
                        in_flight: false,
                    },
                )
            })
        })
        .collect()
}

impl Alerting {
    /// Takes what other nodes changed: the silences, and the rules when another node
    /// published new ones. Cheap when nothing changed.
    pub fn refresh(&self) {
        let Some(shared) = &self.shared else { return };
        let version = shared.silences_version();
        if self.seen_silences.swap(version, Ordering::Relaxed) != version {
            let all = Silences::restore(shared.silences()).with_limits(self.config.silence_limits);
            *self.silences.lock() = all;
        }
        // A node with its own file runs it until it has published it: the cluster's may be
        // an older version, from before this start.
        if self.config.rules_file.is_some() && !self.rules_published.load(Ordering::Relaxed) {
            return;
        }
        let revision = shared.rules_revision();
        if self.seen_rules.swap(revision, Ordering::Relaxed) == revision {
            return;
        }
        let Some(published) = shared.rules() else {
            return;
        };
        if published.text == self.rules.read().source {
            return;
        }
        match RuleSet::parse_within(&published.text, Some(retention(&self.store))) {
            Ok(set) => {
                if self.config.rules_file.is_some() {
                    tracing::warn!(from = %published.node, "the cluster's rules differ from this node's --rules file; running the cluster's");
                }
                tracing::info!(rules = set.rules.len(), from = %published.node, "alert rules taken from the cluster");
                self.swap_rules(set);
            }
            Err(e) => {
                tracing::error!(from = %published.node, error = %e, "the cluster's alert rules do not load here; the old rules keep running");
            }
        }
    }

    /// Hands this node's rules to the other nodes (a cluster node started with `--rules`).
    pub async fn publish_rules(&self) -> Result<(), RulesError> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        if self.config.rules_file.is_none() {
            return Ok(());
        }
        let text = self.rules.read().source.clone();
        shared
            .publish_rules(text)
            .await
            .map_err(RulesError::Shared)?;
        self.rules_published.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Settles which rules this node holds: releases those another node evaluates now,
    /// loads the state of those gained. `None` on a single node (it holds every rule).
    pub(super) async fn claim(&self) -> Option<BTreeSet<String>> {
        let shared = self.shared.as_ref()?;
        let _one = self.sharing.lock().await;
        let set = self.rules();
        let names: Vec<String> = set.rules.iter().map(|r| r.name.clone()).collect();
        let owned = shared.owned(&names);
        let released: Vec<String> = self
            .held
            .lock()
            .keys()
            .filter(|n| !owned.contains(*n))
            .cloned()
            .collect();
        for name in released {
            self.held.lock().remove(&name);
            self.states.lock().remove(&name);
            if names.contains(&name) {
                tracing::info!(rule = %name, "alert rule released to another node");
            } else if let Err(e) = shared.forget(name.clone()).await {
                tracing::warn!(rule = %name, error = %e, "the state of a removed rule stays in the cluster");
            }
        }
        let gained: Vec<String> = {
            let held = self.held.lock();
            owned
                .iter()
                .filter(|n| !held.contains_key(*n))
                .cloned()
                .collect()
        };
        for name in gained {
            match shared.load(name.clone()).await {
                Ok(stored) => {
                    tracing::info!(rule = %name, from = ?stored.rule.as_ref().map(|r| &r.node), "alert rule gained");
                    self.install(&name, stored);
                }
                // Not held this round: evaluating without the saved state could notify
                // again what was notified.
                Err(e) => {
                    tracing::warn!(rule = %name, error = %e, "cannot load the state of a gained rule; retrying at the next step")
                }
            }
        }
        Some(self.held.lock().keys().cloned().collect())
    }

    /// Makes `stored` the state of `name`: its instances, and what its receivers were told
    /// merged into this node's groups.
    fn install(&self, name: &str, stored: Stored) {
        let rule = stored.rule.unwrap_or_default();
        let exists = !rule.node.is_empty();
        let held = Held {
            revision: stored.revision,
            saved: exists.then(|| normalised(&rule)),
            saved_eval_ms: rule.state.last_eval_ms,
            saved_state: exists.then(|| rule.state.clone()),
            evaluated_by: exists.then(|| rule.node.clone()),
        };
        {
            let mut states = self.states.lock();
            if exists {
                states.insert(name.to_string(), rule.state);
            } else {
                states.remove(name);
            }
        }
        self.held.lock().insert(name.to_string(), held);
        let mut groups = self.groups.lock();
        for (id, g) in rule.groups {
            match groups.groups.get_mut(&id) {
                Some(mine) => {
                    mine.sent.extend(g.sent);
                    mine.last_flush_at = mine.last_flush_at.max(g.last_flush_at);
                    mine.created_at = mine.created_at.min(g.created_at);
                }
                None => {
                    groups.groups.insert(id, g);
                }
            }
        }
    }

    /// Marks the rules just evaluated as this node's, not yet saved.
    pub(super) fn evaluated_here(&self, names: &[&str]) {
        let Some(shared) = &self.shared else { return };
        let mut held = self.held.lock();
        for name in names {
            if let Some(h) = held.get_mut(*name) {
                h.evaluated_by = Some(shared.node_id().to_string());
            }
        }
    }

    /// Saves every held rule whose state changed since it was last saved (or whose saved
    /// evaluation is older than [`REFRESH`]). A conflict means another node wrote the rule
    /// meanwhile (both believed they held it): its state is taken over.
    pub(super) async fn share(&self) {
        let Some(shared) = &self.shared else { return };
        let _one = self.sharing.lock().await;
        let writes: Vec<(String, SharedRule, Vec<u8>, u64)> = {
            let states = self.states.lock();
            let held = self.held.lock();
            let groups = self.groups.lock();
            held.iter()
                .filter_map(|(name, h)| {
                    let state = states.get(name)?;
                    let rule = SharedRule {
                        node: h.evaluated_by.clone()?,
                        state: state.clone(),
                        groups: groups_of(state, &groups),
                    };
                    let norm = normalised(&rule);
                    let stale = match (rule.state.last_eval_ms, h.saved_eval_ms) {
                        (Some(now), Some(then)) => now - then >= millis(REFRESH),
                        (now, then) => now != then,
                    };
                    (h.saved.as_ref() != Some(&norm) || stale)
                        .then(|| (name.clone(), rule, norm, h.revision))
                })
                .collect()
        };
        for (name, rule, norm, revision) in writes {
            let value = serde_json::to_vec(&rule).unwrap_or_default();
            match shared.save(name.clone(), value, revision).await {
                Ok(Saved::Revision(r)) => {
                    if let Some(h) = self.held.lock().get_mut(&name) {
                        h.revision = r;
                        h.saved = Some(norm);
                        h.saved_eval_ms = rule.state.last_eval_ms;
                        h.saved_state = Some(rule.state);
                    }
                }
                Ok(Saved::Conflict) => match shared.load(name.clone()).await {
                    Ok(stored) => {
                        tracing::warn!(rule = %name, by = ?stored.rule.as_ref().map(|r| &r.node), "another node wrote this alert rule's state; taking it over");
                        self.install(&name, stored);
                    }
                    Err(e) => {
                        tracing::warn!(rule = %name, error = %e, "cannot read an alert rule's state after a conflict");
                    }
                },
                Err(e) => {
                    tracing::warn!(rule = %name, error = %e, "cannot save an alert rule's state; its notifications wait");
                }
            }
        }
    }

    /// Deletes from the cluster the silences expired for more than a day.
    pub(super) async fn forget_silences(&self, now: i64) {
        let Some(shared) = &self.shared else { return };
        let ids = self.silences.lock().forgettable(now);
        for id in ids {
            if let Err(e) = shared.remove_silence(id.clone()).await {
                tracing::warn!(silence = %id, error = %e, "cannot forget an expired silence");
            }
        }
    }

    /// Every rule's state with the node that evaluated it: those held here from memory,
    /// the others as their holders last saved them. `None` on a single node.
    pub fn cluster_view(&self) -> Option<BTreeMap<String, SharedRule>> {
        let shared = self.shared.as_ref()?;
        let set = self.rules();
        let mut all = shared.others();
        let states = self.states.lock();
        let held = self.held.lock();
        let groups = self.groups.lock();
        for (name, h) in held.iter() {
            if let (Some(state), Some(node)) = (states.get(name), &h.evaluated_by) {
                let rule = SharedRule {
                    node: node.clone(),
                    state: state.clone(),
                    groups: groups_of(state, &groups),
                };
                all.insert(name.clone(), rule);
            }
        }
        all.retain(|name, _| set.rules.iter().any(|r| &r.name == name));
        Some(all)
    }
}

#[cfg(test)]
#[path = "shared_tests.rs"]
mod tests;

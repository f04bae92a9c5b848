//! Alerting: rules over stack-language expressions, evaluated at every step boundary,
//! notifying webhooks and Alertmanager, with silences and state that survives restarts.
//!
//! - [`rules`]: the TOML rules file and its validation.
//! - [`eval`]: the per-instance state machine (pure).
//! - [`notify`]: grouping, payloads and delivery with retries.
//! - [`silence`]: matchers and time windows.
//! - [`state`]: the JSON snapshot under the data directory.
//! - [`shared`]: what a cluster node shares with the others (rule states, rules,
//!   silences), behind the [`SharedAlerts`] trait; a single node shares nothing.
//!
//! [`Alerting`] ties them together: it owns the rules and every piece of mutable state,
//! each behind its own lock, and is driven by a [`Clock`] so tests can step it by hand.
//! Rules are evaluated through a [`Database`]: the local store on a single node, and on a
//! cluster node whatever answers across partitions.

pub mod eval;
pub mod notify;
pub mod rules;
pub mod shared;
pub mod silence;
pub mod state;
pub mod template;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use sextant_query::{Database, EvalContext, Limits as EvalLimits};

use crate::clock::Clock;
use crate::grapher::{Budgeted, QueryLimits};
use eval::{millis, Outcome, RuleState};
use notify::{Flush, Groups, Notice, ReceiverStats, Status};
use rules::{Rule, RuleSet, RulesError};
use sextant_store::Store;
use shared::Held;
pub use shared::SharedAlerts;
pub use silence::SilenceLimits;
use silence::{Silence, SilenceError, SilenceRequest, Silences};

/// The silences to start with: the log's, or those of a state file written before the log
/// existed (moved into a new log at once, since the state file no longer keeps them).
fn restore_silences(data_dir: Option<&Path>, from_state: Vec<Silence>) -> (Vec<Silence>, usize) {
    let Some(dir) = data_dir else {
        return (from_state, 0);
    };
    let path = state::silences_path(dir);
    match state::load_silences(&path) {
        Ok((logged, lines)) if lines > 0 || from_state.is_empty() => (logged, lines),
        Ok(_) => {
            if let Err(e) = state::rewrite_silences(&path, &from_state) {
                tracing::error!(error = %e, "cannot move silences into their log");
            }
            let n = from_state.len();
            (from_state, n)
        }
        Err(e) => {
            tracing::warn!(error = %e, "silences not restored; starting without");
            (from_state, 0)
        }
    }
}

/// How far back the store holds data: no rule may look further.
fn retention(store: &Store) -> Duration {
    Duration::from_millis(u64::try_from(store.config().retention_ms).unwrap_or(0))
}

/// Most rules evaluated at the same time; the machine also serves queries and ingest.
const PARALLEL_RULES: usize = 4;

/// How the alerting subsystem is set up.
#[derive(Debug, Clone, Default)]
pub struct AlertingConfig {
    /// The rules file (`--rules`); none means no rules until one is configured.
    pub rules_file: Option<PathBuf>,
    /// Where state is saved (`--data-dir`); none keeps it in memory only.
    pub data_dir: Option<PathBuf>,
    /// Base of links when the rules file sets no `external_url`.
    pub external_url: String,
    /// Bounds on the silences kept.
    pub silence_limits: SilenceLimits,
}

/// The alerting subsystem.
///
/// Locks, each guarding one thing and never held across I/O: `rules` (the current rule
/// set, swapped whole on reload), `states` (rule states), `held` (a cluster node's
/// rules and their saved revisions), `silences`, `groups` (what receivers heard),
/// `stats` (delivery counters), `save` (serialises writes of the state file). When two
/// are needed they are taken in that order. `sharing` (async) serialises a cluster node's
/// loads and saves, so each names the revision the previous one left.
pub struct Alerting {
    /// The store's settings (step, retention) and, on a single node, its state files.
    store: Arc<Store>,
    /// What rules are evaluated over.
    database: Arc<dyn Database + Send + Sync>,
    clock: Arc<dyn Clock>,
    /// The cluster's shared state; `None` on a single node.
    shared: Option<Arc<dyn SharedAlerts>>,
    /// The rules this node evaluates (cluster only; a single node evaluates all).
    held: Mutex<BTreeMap<String, Held>>,
    sharing: tokio::sync::Mutex<()>,
    /// The versions of the shared silences and rules last taken.
    seen_silences: AtomicU64,
    seen_rules: AtomicU64,
    /// This node's `--rules` reached the cluster.
    rules_published: AtomicBool,
    config: AlertingConfig,
    rules: RwLock<Arc<RuleSet>>,
    states: Mutex<BTreeMap<String, RuleState>>,
    silences: Mutex<Silences>,
    groups: Mutex<Groups>,
    stats: Mutex<BTreeMap<String, ReceiverStats>>,
    /// The bytes last written, so an unchanged state is not rewritten (and a server
    /// without rules never writes at all). Guarded by `save`.
    save: Mutex<Option<Vec<u8>>>,
    /// Lines in the silence log; past twice the silences kept, it is rewritten.
    silence_log_lines: AtomicUsize,
    evaluations: AtomicU64,
    failures: AtomicU64,
}

impl Alerting {
    /// Loads the rules file (if any) and, on a single node, the saved state (if any). An
    /// invalid rules file is an error: the server should not start with rules it cannot
    /// read. Rules are evaluated over `database`; `store` gives the step and retention.
    /// With `shared` (a cluster node) the state lives there, not in the data directory.
    pub fn new(
        store: Arc<Store>,
        database: Arc<dyn Database + Send + Sync>,
        clock: Arc<dyn Clock>,
        config: AlertingConfig,
        shared: Option<Arc<dyn SharedAlerts>>,
    ) -> Result<Alerting, RulesError> {
        let rules = match &config.rules_file {
            Some(path) => RuleSet::load(path, Some(retention(&store)))?,
            None => RuleSet::default(),
        };
        Ok(Alerting::with_rules(
            store, database, clock, config, rules, shared,
        ))
    }

    /// No rules, no saved state: what a server without `--rules` starts with.
    pub fn disabled(store: Arc<Store>, clock: Arc<dyn Clock>) -> Alerting {
        Alerting::with_rules(
            store.clone(),
            store,
            clock,
            AlertingConfig::default(),
            RuleSet::default(),
            None,
        )
    }

    fn with_rules(
        store: Arc<Store>,
        database: Arc<dyn Database + Send + Sync>,
        clock: Arc<dyn Clock>,
        config: AlertingConfig,
        rules: RuleSet,
        shared: Option<Arc<dyn SharedAlerts>>,
    ) -> Alerting {
        // A cluster node's state is the cluster's: files under its data directory would
        // be another, older truth.
        let data_dir = config.data_dir.as_deref().filter(|_| shared.is_none());
        let snapshot = match data_dir {
            Some(dir) => state::load(&state::path(dir)).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "alert state not restored; starting empty");
                None
            }),
            None => None,
        }
        .unwrap_or_default();
        let silence_limits = config.silence_limits;
        let (silences, log_lines) = restore_silences(data_dir, snapshot.silences);
        let mut states = snapshot.rules;
        states.retain(|name, _| rules.rules.iter().any(|r| &r.name == name));
        Alerting {
            store,
            database,
            clock,
            shared,
            held: Mutex::default(),
            sharing: tokio::sync::Mutex::new(()),
            seen_silences: AtomicU64::new(u64::MAX),
            seen_rules: AtomicU64::new(0),
            rules_published: AtomicBool::new(false),
            config,
            rules: RwLock::new(Arc::new(rules)),
            states: Mutex::new(states),
            silences: Mutex::new(Silences::restore(silences).with_limits(silence_limits)),
            silence_log_lines: AtomicUsize::new(log_lines),
            groups: Mutex::new(snapshot.groups),
            stats: Mutex::default(),
            save: Mutex::new(None),
            evaluations: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// The current rule set.
    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules.read().clone()
    }

    /// Re-reads the rules file. On error the old rules keep running.
    pub fn reload(&self) -> Result<usize, RulesError> {
        let path = self.config.rules_file.as_ref().ok_or(RulesError::NoFile)?;
        let set = RuleSet::load(path, Some(retention(&self.store)))?;
        let n = set.rules.len();
        self.swap_rules(set);
        tracing::info!(rules = n, "alert rules reloaded");
        Ok(n)
    }

    /// Runs `set` from now on; states of rules it no longer has are dropped.
    fn swap_rules(&self, set: RuleSet) {
        let mut rules = self.rules.write();
        let mut states = self.states.lock();
        states.retain(|name, _| set.rules.iter().any(|r| &r.name == name));
        *rules = Arc::new(set);
    }

    /// Base of links in notifications.
    pub fn external_url(&self) -> String {
        self.rules()
            .external_url
            .clone()
            .unwrap_or_else(|| self.config.external_url.trim_end_matches('/').to_string())
    }

    /// Link to the chart of a rule's expression.
    pub fn graph_url(&self, rule: &Rule) -> String {
        let q = serde_urlencoded::to_string([
            ("q", rule.expr.as_str()),
            ("s", &format!("e-{}s", rule.lookback.as_secs().max(1))),
        ])
        .unwrap_or_default();
        format!("{}/api/v1/graph?{q}", self.external_url())
    }

    fn step_ms(&self) -> i64 {
        self.store.config().step_ms.max(1)
    }

    /// Evaluates one rule at the step boundary `at` on the last complete interval.
    pub fn evaluate_rule(&self, rule: &Rule, at: i64) -> Outcome {
        let step = self.step_ms();
        let exprs = match sextant_query::parse(&rule.expr) {
            Ok(e) => e,
            Err(e) => return Outcome::Failed(format!("expr: {e}")),
        };
        let limits = QueryLimits::default();
        let start = at - millis(rule.lookback).max(step);
        let ctx = EvalContext::new(start, at + step, step).with_limits(EvalLimits {
            max_lines: limits.max_lines,
            max_datapoints: limits.max_datapoints,
        });
        let db = Budgeted::new(self.database.as_ref(), rule.budget);
        match sextant_query::evaluate(&exprs, &ctx, &db) {
            Ok(lines) => Outcome::Lines(
                lines
                    .into_iter()
                    .map(|l| {
                        let last = l.series.values.last().copied().unwrap_or(f64::NAN);
                        let mut tags = l.series.tags;
                        // The evaluator marks unshifted lines "0w": noise in an alert.
                        if tags.get("atlas.offset").is_some_and(|o| o == "0w") {
                            tags.remove("atlas.offset");
                        }
                        (tags, last)
                    })
                    .collect(),
            ),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// Evaluates every rule at the step boundary `at`, concurrently, and updates the
    /// instances. CPU-bound and blocking: call it off the async workers.
    pub fn evaluate(&self, at: i64) {
        self.evaluate_only(at, None);
    }

    /// [`Alerting::evaluate`] of the rules named in `only` (all when `None`).
    fn evaluate_only(&self, at: i64, only: Option<&BTreeSet<String>>) {
        let set = self.rules();
        let wanted = |r: &Rule| only.is_none_or(|o| o.contains(&r.name));
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<(usize, Outcome, u64)>> = Mutex::default();
        let workers = PARALLEL_RULES.min(set.rules.iter().filter(|r| wanted(r)).count());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(rule) = set.rules.get(i) else { break };
                    if !wanted(rule) {
                        continue;
                    }
                    let started = Instant::now();
                    let outcome = self.evaluate_rule(rule, at);
                    let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    results.lock().push((i, outcome, took));
                });
            }
        });
        let results = results.into_inner();
        let names: Vec<&str> = results
            .iter()
            .map(|(i, _, _)| set.rules[*i].name.as_str())
            .collect();
        self.evaluated_here(&names);
        let urls: Vec<String> = set.rules.iter().map(|r| self.graph_url(r)).collect();
        {
            let mut states = self.states.lock();
            for (i, outcome, took) in results {
                let rule = &set.rules[i];
                self.evaluations.fetch_add(1, Ordering::Relaxed);
                if let Outcome::Failed(e) = &outcome {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(rule = %rule.name, error = %e, "alert rule evaluation failed");
                }
                let state = states.entry(rule.name.clone()).or_default();
                eval::apply(state, rule, outcome, at, &urls[i]);
                state.last_duration_ms = Some(took);
            }
        }
        // A cluster node forgets silences by deleting them from the cluster
        // (`forget_silences`); dropping them here alone would not last.
        if self.shared.is_none() {
            let forgot = self.silences.lock().gc(at);
            let lines = self.silence_log_lines.load(Ordering::Relaxed);
            if forgot || lines > 2 * self.silences.lock().len() + 64 {
                self.compact_silences();
            }
        }
        self.persist();
    }

    /// The alerts each receiver should know about at `now`: firing and resolved
    /// instances of the rules naming it, minus silenced ones. A cluster node takes them
    /// from the states it saved, so it never sends what the next holder would not know.
    fn notices(&self, now: i64) -> BTreeMap<String, Vec<Notice>> {
        let set = self.rules();
        let states = self.states.lock();
        let held = self.held.lock();
        let states: BTreeMap<&String, &eval::RuleState> = match &self.shared {
            None => states.iter().collect(),
            Some(_) => held
                .iter()
                .filter_map(|(name, h)| Some((name, h.saved_state.as_ref()?)))
                .collect(),
        };
        let silences = self.silences.lock();
        let mut out: BTreeMap<String, Vec<Notice>> = BTreeMap::new();
        for rule in &set.rules {
            let Some(state) = states.get(&rule.name) else {
                continue;
            };
            let url = self.graph_url(rule);
            for i in state.instances.values() {
                let status = match i.state {
                    eval::AlertState::Firing => Status::Firing,
                    eval::AlertState::Resolved => Status::Resolved,
                    eval::AlertState::Pending => continue,
                };
                if !silences.silencing(&i.labels, now).is_empty() {
                    continue;
                }
                let notice = Notice {
                    status,
                    labels: i.labels.clone(),
                    annotations: i.annotations.clone(),
                    starts_at: i.fired_at.unwrap_or(i.active_at),
                    ends_at: i.resolved_at,
                    generator_url: url.clone(),
                    fingerprint: i.fingerprint.clone(),
                    value: i.value,
                };
                for r in &rule.receivers {
                    out.entry(r.clone()).or_default().push(notice.clone());
                }
            }
        }
        out
    }

    /// The notifications due at `now`. Each must be finished with [`Alerting::finish`].
    pub fn plan(&self, now: i64) -> Vec<Flush> {
        self.refresh();
        // Until a cluster node has read the silences it cannot tell what they mute.
        if self.shared.as_ref().is_some_and(|s| !s.ready()) {
            return Vec::new();
        }
        let set = self.rules();
        let notices = self.notices(now);
        let mut groups = self.groups.lock();
        let mut out = Vec::new();
        for receiver in &set.receivers {
            let alerts = notices
                .get(&receiver.name)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            out.extend(groups.plan(receiver, alerts, now));
        }
        out
    }

    /// Records the end of a delivery.
    pub fn finish(&self, flush: &Flush, ok: bool) {
        self.groups.lock().finish(flush, ok);
        self.persist();
    }

    fn record(&self, receiver: &str, result: Result<(), &notify::AttemptError>, retry: bool) {
        let mut stats = self.stats.lock();
        let s = stats.entry(receiver.to_string()).or_default();
        s.attempts += 1;
        if retry {
            s.retries += 1;
        }
        match result {
            Ok(()) => {
                s.delivered += 1;
                s.last_success_ms = Some(self.clock.now_ms());
            }
            Err(e) => s.last_error = Some(e.to_string()),
        }
    }

    /// Delivers one notification (with retries) and records the outcome.
    pub async fn deliver(self: &Arc<Self>, flush: Flush) {
        let name = flush.receiver.name.clone();
        let url = self.external_url();
        let result = notify::deliver(&flush, &url, |r, retry| self.record(&name, r, retry)).await;
        if let Err(e) = &result {
            tracing::warn!(receiver = %name, error = %e, "notification failed");
            self.stats.lock().entry(name).or_default().failed += 1;
        }
        self.finish(&flush, result.is_ok());
        // What the receiver was told, for the next holder of the rule. Sent, then saved: a
        // crash in between sends it again (at least once).
        self.share().await;
    }

    /// Where a single node keeps its alert state; a cluster node keeps none of its own.
    fn state_dir(&self) -> Option<&Path> {
        self.config
            .data_dir
            .as_deref()
            .filter(|_| self.shared.is_none())
    }

    /// Saves the state file, if there is a data directory. Failures are logged: alerting
    /// goes on in memory.
    pub fn persist(&self) {
        let Some(dir) = self.state_dir() else {
            return;
        };
        let mut saved = self.save.lock();
        let mut snapshot = state::Snapshot {
            rules: self.states.lock().clone(),
            // Kept in their own log (`state::silences_path`), written per change.
            silences: Vec::new(),
            groups: Groups {
                groups: self.groups.lock().groups.clone(),
            },
            ..state::Snapshot::default()
        };
        let bytes = serde_json::to_vec(&snapshot).unwrap_or_default();
        let empty = snapshot.rules.is_empty()
            && snapshot.silences.is_empty()
            && snapshot.groups.groups.is_empty();
        let unchanged = match saved.as_ref() {
            Some(prev) => prev == &bytes,
            None => empty && !state::path(dir).exists(),
        };
        if unchanged {
            return;
        }
        match state::save(&state::path(dir), &mut snapshot) {
            Ok(()) => *saved = Some(bytes),
            Err(e) => tracing::error!(error = %e, "cannot save alert state"),
        }
    }

    /// Rule states by name; on a cluster node every rule's, wherever it is evaluated.
    pub fn states(&self) -> BTreeMap<String, RuleState> {
        match self.cluster_view() {
            Some(all) => all.into_iter().map(|(name, r)| (name, r.state)).collect(),
            None => self.states.lock().clone(),
        }
    }

    /// Ids of the silences muting `labels` now.
    pub fn silenced_by(&self, labels: &BTreeMap<String, String>) -> Vec<String> {
        self.silences.lock().silencing(labels, self.clock.now_ms())
    }

    /// Every silence.
    pub fn silences(&self) -> Vec<Silence> {
        self.refresh();
        self.silences.lock().list()
    }

    /// Creates a silence.
    pub async fn silence_create(&self, req: SilenceRequest) -> Result<Silence, SilenceError> {
        let id = format!("{:032x}", rand::random::<u128>());
        let s = self.silences.lock().prepare(req, id, self.clock.now_ms())?;
        self.keep_silence(s).await
    }

    /// Expires a silence now.
    pub async fn silence_expire(&self, id: &str) -> Result<Silence, SilenceError> {
        self.refresh();
        let s = self.silences.lock().expired(id, self.clock.now_ms())?;
        self.keep_silence(s).await
    }

    /// Stores a new or changed silence (the cluster's bucket, else the silence log), then
    /// applies it here. Only a cluster that cannot store it refuses it: every node must
    /// see the same silences.
    async fn keep_silence(&self, silence: Silence) -> Result<Silence, SilenceError> {
        match &self.shared {
            Some(shared) => shared
                .put_silence(silence.clone())
                .await
                .map_err(SilenceError::Unavailable)?,
            None => self.log_silence(&silence),
        }
        self.silences.lock().upsert(silence.clone());
        Ok(silence)
    }

    /// Appends a new or changed silence to the silence log. Failures are logged: the
    /// silence holds in memory.
    fn log_silence(&self, silence: &Silence) {
        let Some(dir) = self.state_dir() else {
            return;
        };
        let _saving = self.save.lock();
        match state::append_silence(&state::silences_path(dir), silence) {
            Ok(()) => {
                self.silence_log_lines.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(error = %e, "cannot save silence"),
        }
    }

    /// Rewrites the silence log with one line per silence kept (forgotten ones dropped).
    fn compact_silences(&self) {
        let Some(dir) = self.state_dir() else {
            return;
        };
        let _saving = self.save.lock();
        let all = self.silences.lock().list();
        match state::rewrite_silences(&state::silences_path(dir), &all) {
            Ok(()) => self.silence_log_lines.store(all.len(), Ordering::Relaxed),
            Err(e) => tracing::error!(error = %e, "cannot rewrite the silence log"),
        }
    }

    /// Delivery counters by receiver, and evaluation counters.
    pub fn stats(&self) -> (BTreeMap<String, ReceiverStats>, u64, u64) {
        (
            self.stats.lock().clone(),
            self.evaluations.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
        )
    }

    /// Now, by the subsystem's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Starts the background tasks: evaluation at each step boundary, the notification
    /// ticker, and (on Unix) reload on SIGHUP. The caller aborts them on shutdown.
    pub fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![
            tokio::spawn(self.clone().evaluation_loop()),
            tokio::spawn(self.clone().notification_loop()),
        ];
        #[cfg(unix)]
        tasks.push(tokio::spawn(self.clone().sighup_loop()));
        if let Some(shared) = &self.shared {
            tasks.extend(shared.spawn());
            if self.config.rules_file.is_some() {
                tasks.push(tokio::spawn(self.clone().publish_loop()));
            }
        }
        tasks
    }

    /// Publishes this node's `--rules` to the cluster, retrying until NATS takes them.
    async fn publish_loop(self: Arc<Self>) {
        loop {
            match self.publish_rules().await {
                Ok(()) => return,
                Err(e) => tracing::warn!(error = %e, "alert rules not shared yet; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// One evaluation at the step boundary `at`: on a cluster node, settle which rules
    /// it holds first and save what changed after.
    async fn evaluate_round(self: &Arc<Self>, at: i64) {
        self.refresh();
        let only = self.claim().await;
        let me = self.clone();
        if tokio::task::spawn_blocking(move || me.evaluate_only(at, only.as_ref()))
            .await
            .is_err()
        {
            tracing::error!("alert evaluation panicked");
        }
        self.share().await;
        self.forget_silences(at).await;
    }

    /// A little past each step boundary, so samples stamped just before it have arrived.
    fn lag_ms(&self) -> i64 {
        (self.step_ms() / 4).clamp(100, 10_000)
    }

    async fn evaluation_loop(self: Arc<Self>) {
        let step = self.step_ms();
        let lag = self.lag_ms();
        // The store is in memory: right after a start the interval just ended holds no
        // data, and evaluating it would resolve every restored alert. Start with the
        // first boundary after the start instead.
        let mut last = (self.clock.now_ms() - lag).div_euclid(step) * step;
        loop {
            let now = self.clock.now_ms();
            let boundary = (now - lag).div_euclid(step) * step;
            if boundary > last {
                last = boundary;
                self.evaluate_round(boundary).await;
                continue;
            }
            let wait = (boundary + step + lag - now).clamp(1, step + lag);
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }

    async fn notification_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            for flush in self.plan(self.clock.now_ms()) {
                let me = self.clone();
                tokio::spawn(async move { me.deliver(flush).await });
            }
        }
    }

    #[cfg(unix)]
    async fn sighup_loop(self: Arc<Self>) {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload with POST /api/v1/rules/reload");
            return;
        };
        while hup.recv().await.is_some() {
            let me = self.clone();
            let reloaded = match tokio::task::spawn_blocking(move || me.reload()).await {
                Ok(Ok(_)) => self.publish_rules().await,
                Ok(Err(e)) => Err(e),
                Err(_) => continue,
            };
            if let Err(e) = reloaded {
                tracing::error!(error = %e, "alert rules not reloaded; the old rules keep running");
            }
        }
    }
}

#[cfg(test)]
mod tests;

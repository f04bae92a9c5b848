//! The registry: meters keyed by [`Id`] in a sharded map, and the handle services hold. It
//! has no publisher: an exporter (`sextant-client`'s HTTP publisher, or the server writing
//! its own meters into its store) reads it through [`Registry::advance`] and
//! [`Registry::measure`], as metrics-rs keeps `metrics-util`'s registry apart from its
//! exporters.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::clock::Clock;
use crate::config::RegistryConfig;
use crate::id::{Id, IdBuildHasher};
use crate::meter::{
    BucketCounters, Counter, CounterCore, DistributionSummary, Gauge, GaugeCore, LongTaskCore,
    LongTaskTimer, MaxGauge, MaxGaugeCore, Measurement, MeterCore, MonotonicCore, MonotonicCounter,
    PercentileBase, PercentileCore, PercentileDistributionSummary, PercentileTimer, PolledCore,
    StatsCore, Timer,
};
use crate::step::Ticker;

// A power of two well above the core count: lookups take a shard's read lock, creations its
// write lock, and 32 keeps two writers on different ids from meeting most of the time.
const SHARDS: usize = 32;
// Recent error messages kept for `Registry::recent_errors`.
const ERROR_LOG_LEN: usize = 16;

type MeterMap = HashMap<Id, MeterCore, IdBuildHasher>;

/// State shared by the registry's clones and the percentile meters.
///
/// Locks: each shard's `RwLock` guards its map only; `patterns` guards the percentile map;
/// `errors` the error log. None of them is held while another is taken or while meters are
/// polled; an exporter may hold its own lock around a whole collection, so shard locks nest
/// inside it (never the reverse). `config`, `ticker` and `weak` are immutable after
/// construction.
struct Shared {
    config: RegistryConfig,
    ticker: Arc<Ticker>,
    shards: Box<[RwLock<MeterMap>]>,
    patterns: RwLock<HashMap<Id, Arc<PercentileCore>, IdBuildHasher>>,
    errors: Mutex<VecDeque<String>>,
    // Meters in all shards, kept apart so the limit check needs no lock on other shards.
    meter_count: AtomicUsize,
    weak: Weak<Shared>,
}

/// The `downcast` argument of `Shared::handle` for handles over `MeterCore::$variant`.
macro_rules! downcast {
    ($variant:ident => $handle:ident) => {
        |m| match m {
            MeterCore::$variant(c) => Ok($handle::from_core(c)),
            other => Err(other),
        }
    };
}

impl Shared {
    fn shard(&self, id: &Id) -> &RwLock<MeterMap> {
        // The low bits pick the hash table bucket inside the shard; use high bits here.
        &self.shards[(id.cached_hash() >> 59) as usize % SHARDS]
    }

    /// The meter for `id`, created by `make` if absent; `None` when the registry is full.
    fn get_or_create(&self, id: Id, make: impl FnOnce(&Id) -> MeterCore) -> Option<MeterCore> {
        let shard = self.shard(&id);
        if let Some(m) = shard.read().get(&id) {
            return Some(m.clone());
        }
        let mut map = shard.write();
        if let Some(m) = map.get(&id) {
            return Some(m.clone());
        }
        if !self.reserve_slot() {
            drop(map);
            self.note_error(format!(
                "registry holds max_meters={} meters; returning a no-op meter for {id}",
                self.config.max_meters()
            ));
            return None;
        }
        let m = make(&id);
        map.insert(id, m.clone());
        Some(m)
    }

    /// Counts a new meter against `max_meters`, Spectator's cardinality guard.
    fn reserve_slot(&self) -> bool {
        let max = self.config.max_meters();
        self.meter_count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    fn conflict(&self, id: &Id, found: &MeterCore, wanted: &str) {
        self.note_error(format!(
            "id {id} is already a {}; returning a no-op {wanted}",
            found.kind()
        ));
    }

    /// The meter for `id` as handle type `H`: the registered one, else the one `make` creates.
    /// `downcast` gives back a meter of another kind, which yields a no-op handle (`Default`)
    /// and a noted conflict; a full registry yields a no-op handle too.
    fn handle<H: Default>(
        &self,
        id: Id,
        wanted: &str,
        make: impl FnOnce(&Id, Arc<Ticker>) -> MeterCore,
        downcast: impl FnOnce(MeterCore) -> std::result::Result<H, MeterCore>,
    ) -> H {
        let t = self.ticker.clone();
        match self.get_or_create(id.clone(), |id| make(id, t)) {
            Some(m) => downcast(m).unwrap_or_else(|other| {
                self.conflict(&id, &other, wanted);
                H::default()
            }),
            None => H::default(),
        }
    }

    fn counter(&self, id: Id) -> Counter {
        self.handle(
            id,
            "counter",
            |id, t| MeterCore::Counter(Arc::new(CounterCore::new(id, t))),
            downcast!(Counter => Counter),
        )
    }

    fn timer(&self, id: Id) -> Timer {
        self.handle(
            id,
            "timer",
            |id, t| MeterCore::Timer(Arc::new(StatsCore::new_timer(id, t))),
            downcast!(Timer => Timer),
        )
    }

    fn summary(&self, id: Id) -> DistributionSummary {
        self.handle(
            id,
            "distribution summary",
            |id, t| MeterCore::Summary(Arc::new(StatsCore::new_summary(id, t))),
            downcast!(Summary => DistributionSummary),
        )
    }

    fn percentile(&self, id: Id, timer: bool, min: i64, max: i64) -> Arc<PercentileCore> {
        if let Some(p) = self.patterns.read().get(&id) {
            return p.clone();
        }
        // Create the base meter before taking the pattern lock: never two locks at once.
        let base = if timer {
            PercentileBase::Timer(self.timer(id.clone()))
        } else {
            PercentileBase::Summary(self.summary(id.clone()))
        };
        let mut map = self.patterns.write();
        map.entry(id.clone())
            .or_insert_with(|| {
                let registry: Weak<dyn BucketCounters> = self.weak.clone();
                Arc::new(PercentileCore::new(&id, base, min, max, registry))
            })
            .clone()
    }

    fn note_error(&self, msg: String) {
        let mut log = self.errors.lock();
        if log.len() == ERROR_LOG_LEN {
            log.pop_front();
        }
        log.push_back(msg);
    }

    fn is_expired(&self, touched: i64, now: i64) -> bool {
        let ttl_ms = i64::try_from(self.config.meter_ttl().as_millis()).unwrap_or(i64::MAX);
        (now - touched).saturating_mul(self.ticker.step_ms()) > ttl_ms
    }

    /// Polls every live meter for the interval ended by step `now`.
    fn measure_all(&self, now: i64) -> Vec<Measurement> {
        let mut out = Vec::new();
        let mut meters = Vec::new();
        for shard in self.shards.iter() {
            // Snapshot under the read lock, poll outside it: creations wait for a copy of
            // Arcs, not for every meter's poll.
            meters.clear();
            meters.extend(shard.read().values().cloned());
            for m in &meters {
                let (touched, pinned) = m.touched();
                // A polled gauge refreshes its own timestamp when polled, so always poll it.
                let polled = matches!(m, MeterCore::Polled(_));
                if !polled && !pinned && self.is_expired(touched, now) {
                    continue;
                }
                if let Some(e) = m.measure(now, &mut out) {
                    self.note_error(e);
                }
            }
        }
        out
    }

    /// Drops meters idle for longer than the TTL that no handle refers to. A meter a handle
    /// still refers to stays, unreported, until it is used again or the handle is dropped:
    /// removing it would silently lose what the handle records afterwards.
    fn remove_expired(&self, now: i64) {
        self.patterns
            .write()
            .retain(|_, p| !(Arc::strong_count(p) == 1 && self.is_expired(p.touched(), now)));
        for shard in self.shards.iter() {
            let mut map = shard.write();
            let before = map.len();
            map.retain(|_, m| {
                let (touched, pinned) = m.touched();
                pinned || !m.unreferenced() || !self.is_expired(touched, now)
            });
            self.meter_count
                .fetch_sub(before - map.len(), Ordering::AcqRel);
        }
    }

    fn len(&self) -> usize {
        self.meter_count.load(Ordering::Acquire)
    }
}

impl BucketCounters for Shared {
    fn counter(&self, id: Id) -> Counter {
        Shared::counter(self, id)
    }
}

/// Creates meters by [`Id`] and reports their measurements per step. It publishes nothing:
/// an exporter reads it (see the module documentation).
///
/// Cheap to clone; clones share meters.
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

impl Registry {
    /// Creates an empty registry.
    #[must_use]
    pub fn new(config: RegistryConfig) -> Self {
        let clock = config.clock().clone();
        // Without a step thread nothing advances the step index at boundaries, so records
        // must read the clock themselves.
        let exact = clock.cheap_to_read() || !config.step_thread();
        let ticker = Arc::new(Ticker::new(clock, config.step_ms(), exact));
        let shared = Arc::new_cyclic(|weak| Shared {
            config,
            ticker,
            shards: (0..SHARDS)
                .map(|_| RwLock::new(MeterMap::default()))
                .collect(),
            patterns: RwLock::new(HashMap::default()),
            errors: Mutex::new(VecDeque::new()),
            meter_count: AtomicUsize::new(0),
            weak: weak.clone(),
        });
        Self { shared }
    }

    fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &RegistryConfig {
        &self.shared().config
    }

    /// The clock meters and steps use.
    #[must_use]
    pub fn clock(&self) -> &dyn Clock {
        self.shared().ticker.clock()
    }

    /// The counter for `id`, created on first use.
    pub fn counter(&self, id: impl Into<Id>) -> Counter {
        self.shared().counter(id.into())
    }

    /// The timer for `id`, created on first use.
    pub fn timer(&self, id: impl Into<Id>) -> Timer {
        self.shared().timer(id.into())
    }

    /// The distribution summary for `id`, created on first use.
    pub fn distribution_summary(&self, id: impl Into<Id>) -> DistributionSummary {
        self.shared().summary(id.into())
    }

    /// The gauge for `id`, created on first use.
    pub fn gauge(&self, id: impl Into<Id>) -> Gauge {
        self.shared().handle(
            id.into(),
            "gauge",
            |id, t| MeterCore::Gauge(Arc::new(GaugeCore::new(id, t))),
            downcast!(Gauge => Gauge),
        )
    }

    /// The max gauge for `id`, created on first use.
    pub fn max_gauge(&self, id: impl Into<Id>) -> MaxGauge {
        self.shared().handle(
            id.into(),
            "max gauge",
            |id, t| MeterCore::MaxGauge(Arc::new(MaxGaugeCore::new(id, t))),
            downcast!(MaxGauge => MaxGauge),
        )
    }

    /// The monotonic counter for `id`, created on first use.
    pub fn monotonic_counter(&self, id: impl Into<Id>) -> MonotonicCounter {
        self.shared().handle(
            id.into(),
            "monotonic counter",
            |id, t| MeterCore::Monotonic(Arc::new(MonotonicCore::new(id, t))),
            downcast!(Monotonic => MonotonicCounter),
        )
    }

    /// The long task timer for `id`, created on first use.
    pub fn long_task_timer(&self, id: impl Into<Id>) -> LongTaskTimer {
        self.shared().handle(
            id.into(),
            "long task timer",
            |id, t| MeterCore::LongTask(Arc::new(LongTaskCore::new(id, t))),
            downcast!(LongTask => LongTaskTimer),
        )
    }

    /// Registers a gauge whose value `f` returns, called once per step when measuring.
    /// Registering the same id again replaces the function. The gauge expires once `f` has
    /// returned only non-finite values (e.g. NaN for an object that is gone) for the TTL.
    pub fn polled_gauge<F>(&self, id: impl Into<Id>, f: F)
    where
        F: Fn() -> f64 + Send + Sync + 'static,
    {
        let id = id.into();
        let core = MeterCore::Polled(Arc::new(PolledCore::new(
            &id,
            self.shared().ticker.clone(),
            Box::new(f),
        )));
        let mut map = self.shared().shard(&id).write();
        match map.get(&id) {
            Some(MeterCore::Polled(_)) => {
                map.insert(id, core);
            }
            None => {
                if self.shared().reserve_slot() {
                    map.insert(id, core);
                } else {
                    drop(map);
                    self.shared().note_error(format!(
                        "registry holds max_meters={} meters; polled gauge {id} not registered",
                        self.config().max_meters()
                    ));
                }
            }
            Some(other) => {
                let other = other.clone();
                drop(map);
                self.shared().conflict(&id, &other, "polled gauge");
            }
        }
    }

    /// The percentile timer for `id` over the full range (0 to `i64::MAX` ns).
    pub fn percentile_timer(&self, id: impl Into<Id>) -> PercentileTimer {
        self.percentile_timer_with_range(id, Duration::ZERO, Duration::from_nanos(i64::MAX as u64))
    }

    /// The percentile timer for `id`, clamping amounts to `[min, max]` so at most the
    /// buckets in that range are used (10 ms..60 s: 58 buckets). The range of the first call
    /// for an id wins.
    pub fn percentile_timer_with_range(
        &self,
        id: impl Into<Id>,
        min: Duration,
        max: Duration,
    ) -> PercentileTimer {
        let ns = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        let id = id.into();
        let core = self.shared().percentile(id.clone(), true, ns(min), ns(max));
        if core.is_timer() {
            return PercentileTimer::from_core(core);
        }
        self.shared().note_error(format!(
            "id {id} is already a percentile distribution summary; returning a no-op percentile timer"
        ));
        PercentileTimer::noop()
    }

    /// The percentile distribution summary for `id` over the full range.
    pub fn percentile_distribution_summary(
        &self,
        id: impl Into<Id>,
    ) -> PercentileDistributionSummary {
        self.percentile_distribution_summary_with_range(id, 0, i64::MAX)
    }

    /// The percentile distribution summary for `id`, clamping amounts to `[min, max]`.
    pub fn percentile_distribution_summary_with_range(
        &self,
        id: impl Into<Id>,
        min: i64,
        max: i64,
    ) -> PercentileDistributionSummary {
        let id = id.into();
        let core = self.shared().percentile(id.clone(), false, min, max);
        if !core.is_timer() {
            return PercentileDistributionSummary::from_core(core);
        }
        self.shared().note_error(format!(
            "id {id} is already a percentile timer; returning a no-op percentile distribution summary"
        ));
        PercentileDistributionSummary::noop()
    }

    /// Polls every meter for the last completed step, as a publish would: [`Registry::advance`]
    /// then [`Registry::measure`]. Polling does not consume anything: within a step every poll
    /// returns the same values.
    #[must_use]
    pub fn measurements(&self) -> Vec<Measurement> {
        let now = self.advance();
        self.measure(now)
    }

    /// Moves the registry to the step the clock is in and returns its index: measuring at it
    /// reports the step before, the last completed one. An exporter's step thread calls it at
    /// every boundary (see [`RegistryConfig::with_step_thread`]). Never moves backwards.
    pub fn advance(&self) -> i64 {
        self.shared().ticker.advance()
    }

    /// Moves the registry to at least step `index` and returns the index it is at. An exporter
    /// shutting down calls it with the current index plus one, to pretend the current step
    /// has ended and report it too.
    pub fn advance_to(&self, index: i64) -> i64 {
        self.shared().ticker.advance_to(index)
    }

    /// The measurements of every live meter for the interval ended by step `index` (an index
    /// from [`Registry::advance`]), stamped with the boundary that ended it, `index * step`. A meter
    /// idle for longer than the TTL is not reported.
    #[must_use]
    pub fn measure(&self, index: i64) -> Vec<Measurement> {
        self.shared().measure_all(index)
    }

    /// Drops meters idle at step `index` for longer than the TTL that no handle refers to.
    /// An exporter calls it after each collection.
    pub fn remove_expired(&self, index: i64) {
        self.shared().remove_expired(index);
    }

    /// Number of registered meters (percentile buckets count individually).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared().len()
    }

    /// Whether no meter is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `msg` to the registry's error log; an exporter reports its failures here, next
    /// to the registry's own (meter type conflicts, a full registry, a panicking polled
    /// gauge).
    pub fn note_error(&self, msg: impl Into<String>) {
        self.shared().note_error(msg.into());
    }

    /// The most recent error in the log.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.shared().errors.lock().back().cloned()
    }

    /// Up to the 16 most recent errors, oldest first.
    #[must_use]
    pub fn recent_errors(&self) -> Vec<String> {
        self.shared().errors.lock().iter().cloned().collect()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("step", &self.config().step())
            .field("meters", &self.len())
            .finish()
    }
}

//! Timers and distribution summaries: count, total, total of squares and max per step.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::measurement::{stat_id, DsType, Measurement};
use crate::id::Id;
use crate::step::{max_u64, AtomicF64, StepPos, Ticker, Touched};

/// Shared state of a timer (amounts in nanoseconds) or a distribution summary (raw units).
pub(crate) struct StatsCore {
    pub(crate) ticker: Arc<Ticker>,
    pos: StepPos,
    pub(crate) touched: Touched,
    count: AtomicU64,
    total: AtomicU64,
    // Squares overflow 64 bits after a few seconds squared in ns; Spectator moved to doubles
    // for the same reason (PR #547).
    sumsq: AtomicF64,
    max: AtomicU64,
    prev_count: AtomicU64,
    prev_total: AtomicU64,
    prev_sumsq: AtomicF64,
    prev_max: AtomicU64,
    // Multiplier to the reported unit: 1e-9 for timers (ns → s), 1 for summaries.
    scale: f64,
    ids: [Id; 4],
}

impl StatsCore {
    pub(crate) fn new_timer(id: &Id, ticker: Arc<Ticker>) -> Self {
        Self::new(id, ticker, 1e-9, "totalTime")
    }

    pub(crate) fn new_summary(id: &Id, ticker: Arc<Ticker>) -> Self {
        Self::new(id, ticker, 1.0, "totalAmount")
    }

    fn new(id: &Id, ticker: Arc<Ticker>, scale: f64, total_stat: &str) -> Self {
        let now = ticker.index();
        Self {
            pos: StepPos::new(now),
            touched: Touched::new(now),
            count: AtomicU64::new(0),
            total: AtomicU64::new(0),
            sumsq: AtomicF64::new(0.0),
            max: AtomicU64::new(0),
            prev_count: AtomicU64::new(0),
            prev_total: AtomicU64::new(0),
            prev_sumsq: AtomicF64::new(0.0),
            prev_max: AtomicU64::new(0),
            scale,
            ids: [
                stat_id(id, "count", DsType::Rate),
                stat_id(id, total_stat, DsType::Rate),
                stat_id(id, "totalOfSquares", DsType::Rate),
                stat_id(id, "max", DsType::Gauge),
            ],
            ticker,
        }
    }

    #[inline]
    fn roll(&self, now: i64) {
        self.pos.roll(&self.ticker, now, |adjacent| {
            let c = self.count.swap(0, Ordering::AcqRel);
            let t = self.total.swap(0, Ordering::AcqRel);
            let s = self.sumsq.swap(0.0);
            let m = self.max.swap(0, Ordering::AcqRel);
            let (c, t, s, m) = if adjacent {
                (c, t, s, m)
            } else {
                (0, 0, 0.0, 0)
            };
            self.prev_count.store(c, Ordering::Release);
            self.prev_total.store(t, Ordering::Release);
            self.prev_sumsq.store(s);
            self.prev_max.store(m, Ordering::Release);
        });
    }

    /// Records one event. As in Spectator, every call counts, but only positive amounts
    /// contribute to total, total of squares and max.
    #[inline]
    pub(crate) fn record(&self, amount: i64) {
        let now = self.ticker.index();
        self.roll(now);
        self.count.fetch_add(1, Ordering::Relaxed);
        if amount > 0 {
            let a = amount as u64;
            self.total.fetch_add(a, Ordering::Relaxed);
            let f = amount as f64;
            self.sumsq.add(f * f);
            max_u64(&self.max, a);
        }
        self.touched.touch(now);
    }

    pub(crate) fn measure(&self, now: i64, out: &mut Vec<Measurement>) {
        self.roll(now);
        self.pos.wait_rolled(now);
        let ts = self.ticker.timestamp(now);
        let step = self.ticker.step_secs();
        let values = [
            self.prev_count.load(Ordering::Acquire) as f64 / step,
            self.prev_total.load(Ordering::Acquire) as f64 * self.scale / step,
            self.prev_sumsq.load() * self.scale * self.scale / step,
            self.prev_max.load(Ordering::Acquire) as f64 * self.scale,
        ];
        out.extend(
            self.ids
                .iter()
                .zip(values)
                .map(|(id, value)| Measurement::new(id, ts, value)),
        );
    }

    fn base_id(&self) -> &Id {
        &self.ids[0]
    }
}

fn duration_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Times events. Reports, per step, `count` (events/s), `totalTime` (seconds/s),
/// `totalOfSquares` (s²/s), all `atlas.dstype=rate`, and `max` (seconds, `gauge`).
#[derive(Clone, Default)]
#[must_use = "a meter handle records nothing unless used (`let _ =` to only register the meter)"]
pub struct Timer {
    core: Option<Arc<StatsCore>>,
}

impl Timer {
    /// Records one event that took `d`.
    #[inline]
    pub fn record(&self, d: Duration) {
        if let Some(c) = &self.core {
            c.record(duration_nanos(d));
        }
    }

    /// Records one event of `nanos`; zero or negative amounts only count.
    #[inline]
    pub fn record_nanos(&self, nanos: i64) {
        if let Some(c) = &self.core {
            c.record(nanos);
        }
    }

    pub(crate) fn now(&self) -> i64 {
        self.core
            .as_ref()
            .map_or(0, |c| c.ticker.clock().monotonic_time())
    }

    /// Whether this handle discards everything.
    #[must_use]
    pub fn is_noop(&self) -> bool {
        self.core.is_none()
    }

    pub(crate) fn touched(&self) -> i64 {
        self.core.as_ref().map_or(i64::MIN, |c| c.touched.get())
    }
}

handle_basics!(Timer, StatsCore, "A timer that records nothing.", |c| c
    .base_id());

/// Records amounts (bytes, items). Reports, per step, `count` and `totalAmount` and
/// `totalOfSquares` (per second, `rate`) and `max` (raw units, `gauge`).
#[derive(Clone, Default)]
#[must_use = "a meter handle records nothing unless used (`let _ =` to only register the meter)"]
pub struct DistributionSummary {
    core: Option<Arc<StatsCore>>,
}

impl DistributionSummary {
    /// Records one amount; zero or negative amounts only count.
    #[inline]
    pub fn record(&self, amount: i64) {
        if let Some(c) = &self.core {
            c.record(amount);
        }
    }

    /// Whether this handle discards everything.
    #[must_use]
    pub fn is_noop(&self) -> bool {
        self.core.is_none()
    }

    pub(crate) fn touched(&self) -> i64 {
        self.core.as_ref().map_or(i64::MIN, |c| c.touched.get())
    }
}

handle_basics!(
    DistributionSummary,
    StatsCore,
    "A summary that records nothing.",
    |c| c.base_id()
);

//! Counters: rates per second over the completed step.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::measurement::{stat_id, DsType, Measurement};
use crate::id::Id;
use crate::step::{AtomicF64, StepPos, Ticker, Touched};

pub(crate) struct CounterCore {
    ticker: Arc<Ticker>,
    pos: StepPos,
    pub(crate) touched: Touched,
    // Whole increments take a single `fetch_add`; fractional ones need a CAS loop, so they
    // accumulate apart and are summed when the step rolls.
    cur_int: AtomicU64,
    cur_frac: AtomicF64,
    prev: AtomicF64,
    stat_id: Id,
}

impl CounterCore {
    pub(crate) fn new(id: &Id, ticker: Arc<Ticker>) -> Self {
        let now = ticker.index();
        Self {
            pos: StepPos::new(now),
            touched: Touched::new(now),
            cur_int: AtomicU64::new(0),
            cur_frac: AtomicF64::new(0.0),
            prev: AtomicF64::new(0.0),
            stat_id: stat_id(id, "count", DsType::Rate),
            ticker,
        }
    }

    #[inline]
    fn roll(&self, now: i64) {
        self.pos.roll(&self.ticker, now, |adjacent| {
            let v = self.cur_int.swap(0, Ordering::AcqRel) as f64 + self.cur_frac.swap(0.0);
            self.prev.store(if adjacent { v } else { 0.0 });
        });
    }

    #[inline]
    pub(crate) fn add_int(&self, n: u64) {
        let now = self.ticker.index();
        self.roll(now);
        self.cur_int.fetch_add(n, Ordering::Relaxed);
        self.touched.touch(now);
    }

    #[inline]
    pub(crate) fn add_f64(&self, v: f64) {
        // Spectator ignores deltas that are not positive and finite.
        if !(v > 0.0 && v.is_finite()) {
            return;
        }
        let now = self.ticker.index();
        self.roll(now);
        self.cur_frac.add(v);
        self.touched.touch(now);
    }

    /// Total recorded in the interval ended by step `now`.
    pub(crate) fn poll(&self, now: i64) -> f64 {
        self.roll(now);
        self.pos.wait_rolled(now);
        self.prev.load()
    }

    pub(crate) fn measure(&self, now: i64, out: &mut Vec<Measurement>) {
        let value = self.poll(now) / self.ticker.step_secs();
        out.push(Measurement::new(
            &self.stat_id,
            self.ticker.timestamp(now),
            value,
        ));
    }
}

/// Counts events; reports `statistic=count`, `atlas.dstype=rate` as events per second over
/// the last completed step. Cheap to clone and share across threads.
#[derive(Clone, Default)]
#[must_use = "a meter handle records nothing unless used (`let _ =` to only register the meter)"]
pub struct Counter {
    core: Option<Arc<CounterCore>>,
}

impl Counter {
    /// Adds one.
    #[inline]
    pub fn increment(&self) {
        if let Some(c) = &self.core {
            c.add_int(1);
        }
    }

    /// Adds `n`.
    #[inline]
    pub fn increment_by(&self, n: u64) {
        if n > 0 {
            if let Some(c) = &self.core {
                c.add_int(n);
            }
        }
    }

    /// Adds a fractional amount; values that are not positive and finite are ignored.
    #[inline]
    pub fn add(&self, amount: f64) {
        if let Some(c) = &self.core {
            c.add_f64(amount);
        }
    }

    /// Total added during the last completed step (not a rate); 0 for a no-op counter.
    #[must_use]
    pub fn last_step_total(&self) -> f64 {
        self.core
            .as_ref()
            .map_or(0.0, |c| c.poll(c.ticker.advance()))
    }

    /// Whether this handle discards everything.
    #[must_use]
    pub fn is_noop(&self) -> bool {
        self.core.is_none()
    }
}

handle_basics!(
    Counter,
    CounterCore,
    "A counter that records nothing (returned when an id is already used by another type).",
    |c| c.stat_id
);

struct MonoState {
    index: i64,
    baseline: Option<u64>,
    rate: f64,
}

pub(crate) struct MonotonicCore {
    ticker: Arc<Ticker>,
    pub(crate) touched: Touched,
    latest: AtomicU64,
    has_value: std::sync::atomic::AtomicBool,
    state: Mutex<MonoState>,
    stat_id: Id,
}

impl MonotonicCore {
    pub(crate) fn new(id: &Id, ticker: Arc<Ticker>) -> Self {
        let now = ticker.index();
        Self {
            touched: Touched::new(now),
            latest: AtomicU64::new(0),
            has_value: std::sync::atomic::AtomicBool::new(false),
            state: Mutex::new(MonoState {
                index: now,
                baseline: None,
                rate: 0.0,
            }),
            stat_id: stat_id(id, "count", DsType::Rate),
            ticker,
        }
    }

    fn set(&self, v: u64) {
        self.latest.store(v, Ordering::Release);
        self.has_value.store(true, Ordering::Release);
        self.touched.touch(self.ticker.index());
    }

    fn poll(&self, now: i64) -> f64 {
        let mut st = self.state.lock();
        if now > st.index {
            let elapsed = (now - st.index) as f64 * self.ticker.step_secs();
            st.rate = 0.0;
            if self.has_value.load(Ordering::Acquire) {
                let v = self.latest.load(Ordering::Acquire);
                // A decrease means the source restarted: re-baseline without reporting.
                if let Some(b) = st.baseline {
                    if v > b {
                        st.rate = (v - b) as f64 / elapsed;
                    }
                }
                st.baseline = Some(v);
            }
            st.index = now;
        }
        st.rate
    }

    pub(crate) fn measure(&self, now: i64, out: &mut Vec<Measurement>) {
        let value = self.poll(now);
        out.push(Measurement::new(
            &self.stat_id,
            self.ticker.timestamp(now),
            value,
        ));
    }
}

/// A counter fed with the running total kept by something else (bytes read since boot, a
/// kernel counter): each step reports the increase since the previous step as a rate per
/// second, with `statistic=count`. A decrease is treated as a restart and reports nothing.
#[derive(Clone, Default)]
#[must_use = "a meter handle records nothing unless used (`let _ =` to only register the meter)"]
pub struct MonotonicCounter {
    core: Option<Arc<MonotonicCore>>,
}

impl MonotonicCounter {
    /// Sets the current running total.
    #[inline]
    pub fn set(&self, total: u64) {
        if let Some(c) = &self.core {
            c.set(total);
        }
    }
}

handle_basics!(
    MonotonicCounter,
    MonotonicCore,
    "A monotonic counter that records nothing.",
    |c| c.stat_id
);

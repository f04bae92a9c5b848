//! Gauges: a value set by the service, the maximum within a step, or a polled function.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::measurement::{stat_id, DsType, Measurement};
use crate::id::Id;
use crate::step::{AtomicF64, StepPos, Ticker, Touched};

pub(crate) struct GaugeCore {
    ticker: Arc<Ticker>,
    pub(crate) touched: Touched,
    value: AtomicF64,
    stat_id: Id,
}

impl GaugeCore {
    pub(crate) fn new(id: &Id, ticker: Arc<Ticker>) -> Self {
        Self {
            touched: Touched::new(ticker.index()),
            value: AtomicF64::new(f64::NAN),
            stat_id: stat_id(id, "gauge", DsType::Gauge),
            ticker,
        }
    }

    pub(crate) fn measure(&self, now: i64, out: &mut Vec<Measurement>) {
        let v = self.value.load();
        Measurement::push_finite(out, &self.stat_id, self.ticker.timestamp(now), v);
    }
}

/// The last value set (`statistic=gauge`, `atlas.dstype=gauge`), reported every step until the
/// meter expires. Non-finite values are not reported.
#[derive(Clone, Default)]
#[must_use = "a meter handle records nothing unless used (`let _ =` to only register the meter)"]
pub struct Gauge {
    core: Option<Arc<GaugeCore>>,
}

impl Gauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        if let Some(c) = &self.core {
            c.value.store(v);
            c.touched.touch(c.ticker.index());
        }
    }

    /// The last value set; NaN if none (or for a no-op gauge).
    #[must_use]
    pub fn value(&self) -> f64 {
        self.core.as_ref().map_or(f64::NAN, |c| c.value.load())
    }
}

handle_basics!(Gauge, GaugeCore, "A gauge that records nothing.", |c| c
    .stat_id);

pub(crate) struct MaxGaugeCore {
    ticker: Arc<Ticker>,
    pos: StepPos,
    pub(crate) touched: Touched,
    // NaN means "nothing set this step", so negative values work.
    cur: AtomicF64,
    prev: AtomicF64,
    stat_id: Id,
}

impl MaxGaugeCore {
    pub(crate) fn new(id: &Id, ticker: Arc<Ticker>) -> Self {
        let now = ticker.index();
        Self {
            pos: StepPos::new(now),
            touched: Touched::new(now),
            cur: AtomicF64::new(f64::NAN),
            prev: AtomicF64::new(f64::NAN),
            stat_id: stat_id(id, "max", DsType::Gauge),
            ticker,
        }
    }

    #[inline]
    fn roll(&self, now: i64) {
        self.pos.roll(&self.ticker, now, |adjacent| {
            let v = self.cur.swap(f64::NAN);
            self.prev.store(if adjacent { v } else { f64::NAN });
        });
    }

    fn set(&self, v: f64) {
        let now = self.ticker.index();
        self.roll(now);
        self.cur.max(v);
        self.touched.touch(now);
    }

    pub(crate) fn measure(&self, now: i64, out: &mut Vec<Measurement>) {
        self.roll(now);
        self.pos.wait_rolled(now);
        let v = self.prev.load();
        Measurement::push_finite(out, &self.stat_id, self.ticker.timestamp(now), v);
    }
}

/// The maximum of the values set during the step (`statistic=max`, `atlas.dstype=gauge`).
/// A step with no values reports nothing; non-finite values are ignored.
#[derive(Clone, Default)]
#[must_use = "a meter handle records nothing unless used (`let _ =` to only register the meter)"]
pub struct MaxGauge {
    core: Option<Arc<MaxGaugeCore>>,
}

impl MaxGauge {
    /// Offers a value; the step reports the largest.
    #[inline]
    pub fn set(&self, v: f64) {
        if let Some(c) = &self.core {
            c.set(v);
        }
    }
}

handle_basics!(
    MaxGauge,
    MaxGaugeCore,
    "A max gauge that records nothing.",
    |c| c.stat_id
);

/// A function polled once per step (PolledMeter in Spectator). It counts as updated whenever
/// it returns a finite value, so a function over a dropped object (returning NaN) expires.
pub(crate) struct PolledCore {
    ticker: Arc<Ticker>,
    pub(crate) touched: Touched,
    f: Box<dyn Fn() -> f64 + Send + Sync>,
    stat_id: Id,
}

impl PolledCore {
    pub(crate) fn new(id: &Id, ticker: Arc<Ticker>, f: Box<dyn Fn() -> f64 + Send + Sync>) -> Self {
        Self {
            touched: Touched::new(ticker.index()),
            f,
            stat_id: stat_id(id, "gauge", DsType::Gauge),
            ticker,
        }
    }

    pub(crate) fn measure(&self, now: i64, out: &mut Vec<Measurement>) -> Option<String> {
        // A panicking user function must not take the publisher down with it; Spectator
        // users asked for such failures to be visible rather than silent (spectator#658).
        match catch_unwind(AssertUnwindSafe(|| (self.f)())) {
            Ok(v) if v.is_finite() => {
                self.touched.touch(now);
                out.push(Measurement::new(
                    &self.stat_id,
                    self.ticker.timestamp(now),
                    v,
                ));
                None
            }
            Ok(_) => None,
            Err(_) => Some(format!("polled gauge {} panicked", self.stat_id)),
        }
    }
}

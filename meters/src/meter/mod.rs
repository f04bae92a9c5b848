//! Meters: the per-meter state behind each handle, and what each reports when polled.

/// What every meter handle has alike: `from_core`, the public `const fn noop` and a `Debug`
/// naming the meter (`Counter(name=...)`, `Counter(noop)`). A macro because the handles are
/// distinct public types over different cores and their API must not change. `|c| id` says
/// how to reach the id to print from the core.
macro_rules! handle_basics {
    ($handle:ident, $core:ty, $noop_doc:literal, |$c:ident| $id:expr) => {
        impl $handle {
            pub(crate) fn from_core(core: Arc<$core>) -> Self {
                Self { core: Some(core) }
            }

            #[doc = $noop_doc]
            pub const fn noop() -> Self {
                Self { core: None }
            }
        }

        impl std::fmt::Debug for $handle {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match &self.core {
                    Some($c) => write!(f, concat!(stringify!($handle), "({})"), $id),
                    None => f.write_str(concat!(stringify!($handle), "(noop)")),
                }
            }
        }
    };
}

mod counter;
mod gauge;
mod guard;
mod long_task;
mod measurement;
mod percentile;
mod timer;

use std::sync::Arc;

pub use counter::{Counter, MonotonicCounter};
pub use gauge::{Gauge, MaxGauge};
pub use guard::TimerGuard;
pub use long_task::{LongTask, LongTaskTimer};
pub use measurement::Measurement;
pub use percentile::{PercentileDistributionSummary, PercentileTimer};
pub use timer::{DistributionSummary, Timer};

pub(crate) use counter::{CounterCore, MonotonicCore};
pub(crate) use gauge::{GaugeCore, MaxGaugeCore, PolledCore};
pub(crate) use long_task::LongTaskCore;
pub(crate) use percentile::{Base as PercentileBase, BucketCounters, PercentileCore};
pub(crate) use timer::StatsCore;

/// A registered meter, as stored in the registry map.
#[derive(Clone)]
pub(crate) enum MeterCore {
    Counter(Arc<CounterCore>),
    Timer(Arc<StatsCore>),
    Summary(Arc<StatsCore>),
    Gauge(Arc<GaugeCore>),
    MaxGauge(Arc<MaxGaugeCore>),
    Polled(Arc<PolledCore>),
    Monotonic(Arc<MonotonicCore>),
    LongTask(Arc<LongTaskCore>),
}

impl MeterCore {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            MeterCore::Counter(_) => "counter",
            MeterCore::Timer(_) => "timer",
            MeterCore::Summary(_) => "distribution summary",
            MeterCore::Gauge(_) => "gauge",
            MeterCore::MaxGauge(_) => "max gauge",
            MeterCore::Polled(_) => "polled gauge",
            MeterCore::Monotonic(_) => "monotonic counter",
            MeterCore::LongTask(_) => "long task timer",
        }
    }

    /// Appends this meter's measurements for the interval ended by step `now`. Returns an
    /// error message when a polled function panicked.
    pub(crate) fn measure(&self, now: i64, out: &mut Vec<Measurement>) -> Option<String> {
        match self {
            MeterCore::Counter(c) => c.measure(now, out),
            MeterCore::Timer(c) | MeterCore::Summary(c) => c.measure(now, out),
            MeterCore::Gauge(c) => c.measure(now, out),
            MeterCore::MaxGauge(c) => c.measure(now, out),
            MeterCore::Polled(c) => return c.measure(now, out),
            MeterCore::Monotonic(c) => c.measure(now, out),
            MeterCore::LongTask(c) => c.measure(now, out),
        }
        None
    }

    /// Step index of the latest update, and whether the meter must stay regardless (a long
    /// task timer with running tasks).
    pub(crate) fn touched(&self) -> (i64, bool) {
        match self {
            MeterCore::Counter(c) => (c.touched.get(), false),
            MeterCore::Timer(c) | MeterCore::Summary(c) => (c.touched.get(), false),
            MeterCore::Gauge(c) => (c.touched.get(), false),
            MeterCore::MaxGauge(c) => (c.touched.get(), false),
            MeterCore::Polled(c) => (c.touched.get(), false),
            MeterCore::Monotonic(c) => (c.touched.get(), false),
            MeterCore::LongTask(c) => (c.touched.get(), c.active() > 0),
        }
    }

    /// Whether only the registry refers to this meter, so removing it loses no handle's data.
    pub(crate) fn unreferenced(&self) -> bool {
        match self {
            MeterCore::Counter(c) => Arc::strong_count(c) == 1,
            MeterCore::Timer(c) | MeterCore::Summary(c) => Arc::strong_count(c) == 1,
            MeterCore::Gauge(c) => Arc::strong_count(c) == 1,
            MeterCore::MaxGauge(c) => Arc::strong_count(c) == 1,
            MeterCore::Polled(c) => Arc::strong_count(c) == 1,
            MeterCore::Monotonic(c) => Arc::strong_count(c) == 1,
            MeterCore::LongTask(c) => Arc::strong_count(c) == 1,
        }
    }
}

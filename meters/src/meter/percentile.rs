//! Percentile timers and summaries: a plain timer or summary plus one counter per bucket used.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use super::counter::Counter;
use super::timer::{DistributionSummary, Timer};
use crate::id::Id;
use crate::percentile::{bucket_index, estimate_percentile, summary_tag, timer_tag, BUCKET_COUNT};

/// Where a percentile meter gets its bucket counters: the registry that owns it, so each
/// bucket is an ordinary counter there (reported, limited and expired like any other).
/// A trait so this file need not import the registry, which imports the meters.
pub(crate) trait BucketCounters: Send + Sync {
    /// The counter for `id`, created on first use.
    fn counter(&self, id: Id) -> Counter;
}

pub(crate) enum Base {
    Timer(Timer),
    Summary(DistributionSummary),
}

pub(crate) struct PercentileCore {
    id: Id,
    pub(crate) base: Base,
    min: i64,
    max: i64,
    // Created on first use, as in Spectator, so an id costs only the buckets it hits. Cached
    // here so a record is one atomic load away from its counter, not a registry lookup.
    counters: Box<[OnceLock<Counter>]>,
    // Weak: the registry's pattern map owns this core, so a strong pointer back would leak.
    registry: Weak<dyn BucketCounters>,
}

impl PercentileCore {
    pub(crate) fn new(
        id: &Id,
        base: Base,
        min: i64,
        max: i64,
        registry: Weak<dyn BucketCounters>,
    ) -> Self {
        Self {
            id: id.clone(),
            base,
            min,
            max: max.max(min),
            counters: (0..BUCKET_COUNT).map(|_| OnceLock::new()).collect(),
            registry,
        }
    }

    pub(crate) fn is_timer(&self) -> bool {
        matches!(self.base, Base::Timer(_))
    }

    #[inline]
    fn bucket(&self, amount: i64) -> &Counter {
        let i = bucket_index(amount.clamp(self.min, self.max));
        self.counters[i].get_or_init(|| self.make_counter(i))
    }

    #[cold]
    fn make_counter(&self, i: usize) -> Counter {
        let tag = match self.base {
            Base::Timer(_) => timer_tag(i),
            Base::Summary(_) => summary_tag(i),
        };
        let id = self
            .id
            .with_tags([("statistic", "percentile"), ("percentile", tag.as_str())]);
        match self.registry.upgrade() {
            Some(s) => s.counter(id),
            None => Counter::noop(),
        }
    }

    fn percentile(&self, pct: f64) -> f64 {
        let counts: Vec<f64> = self
            .counters
            .iter()
            .map(|c| c.get().map_or(0.0, Counter::last_step_total))
            .collect();
        estimate_percentile(&counts, pct)
    }

    /// Whether the base meter was updated at or after step `index`.
    pub(crate) fn touched(&self) -> i64 {
        match &self.base {
            Base::Timer(t) => t.touched(),
            Base::Summary(s) => s.touched(),
        }
    }
}

/// A [`Timer`] that also counts events per percentile bucket, so the server can estimate
/// percentiles across any grouping (`:percentiles`). The bucket counters are tagged
/// `statistic=percentile,percentile=T0000`…`T0113` and report rates like any counter.
#[derive(Clone, Default)]
#[must_use = "a meter handle records nothing unless used (`let _ =` to only register the meter)"]
pub struct PercentileTimer {
    core: Option<Arc<PercentileCore>>,
}

impl PercentileTimer {
    /// Records one event that took `d`.
    #[inline]
    pub fn record(&self, d: Duration) {
        self.record_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    }

    /// Records one event of `nanos`.
    #[inline]
    pub fn record_nanos(&self, nanos: i64) {
        if let Some(c) = &self.core {
            if let Base::Timer(t) = &c.base {
                t.record_nanos(nanos);
            }
            c.bucket(nanos).increment();
        }
    }

    pub(crate) fn now(&self) -> i64 {
        match self.core.as_deref() {
            Some(PercentileCore {
                base: Base::Timer(t),
                ..
            }) => t.now(),
            _ => 0,
        }
    }

    /// Local estimate of percentile `pct` (0..=100) in seconds, from the bucket counts of the
    /// last completed step; NaN when that step had no events.
    #[must_use]
    pub fn percentile(&self, pct: f64) -> f64 {
        self.core
            .as_ref()
            .map_or(f64::NAN, |c| c.percentile(pct) * 1e-9)
    }
}

handle_basics!(
    PercentileTimer,
    PercentileCore,
    "A percentile timer that records nothing.",
    |c| c.id
);

/// A [`DistributionSummary`] that also counts amounts per percentile bucket, tagged
/// `statistic=percentile,percentile=D0000`…`D0113`. Negative amounts are not recorded.
#[derive(Clone, Default)]
#[must_use = "a meter handle records nothing unless used (`let _ =` to only register the meter)"]
pub struct PercentileDistributionSummary {
    core: Option<Arc<PercentileCore>>,
}

impl PercentileDistributionSummary {
    /// Records one amount.
    #[inline]
    pub fn record(&self, amount: i64) {
        if amount < 0 {
            return;
        }
        if let Some(c) = &self.core {
            if let Base::Summary(s) = &c.base {
                s.record(amount);
            }
            c.bucket(amount).increment();
        }
    }

    /// Local estimate of percentile `pct` (0..=100) in raw units, from the last completed
    /// step; NaN when that step had no events.
    #[must_use]
    pub fn percentile(&self, pct: f64) -> f64 {
        self.core.as_ref().map_or(f64::NAN, |c| c.percentile(pct))
    }
}

handle_basics!(
    PercentileDistributionSummary,
    PercentileCore,
    "A summary that records nothing.",
    |c| c.id
);

//! The registry services hold: a [`sextant_meters::Registry`] and, when publishing is
//! enabled, the HTTP publisher that exports it.

use std::sync::Arc;
use std::time::Duration;

use sextant_meters::{
    Clock, Counter, DistributionSummary, Gauge, Id, LongTaskTimer, MaxGauge, Measurement,
    MonotonicCounter, PercentileDistributionSummary, PercentileTimer, Timer,
};

use crate::config::Config;
use crate::error::Result;
use crate::publish::{PublishStats, Publisher};

/// Creates meters, reports their measurements and publishes them in the background.
///
/// Cheap to clone; clones share meters and the publisher. Publishing stops, after a final
/// flush, when [`Registry::shutdown`] is called or the last clone is dropped.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

struct RegistryInner {
    meters: sextant_meters::Registry,
    config: Config,
    publisher: Option<Publisher>,
}

impl Drop for RegistryInner {
    fn drop(&mut self) {
        if let Some(p) = &self.publisher {
            p.shutdown();
        }
    }
}

impl Registry {
    /// Creates a registry; if the config is enabled, starts the background publisher.
    pub fn new(config: Config) -> Result<Self> {
        let meters = sextant_meters::Registry::new(config.meters());
        let publisher = if config.enabled() {
            Some(Publisher::start(meters.clone(), config.clone())?)
        } else {
            None
        };
        Ok(Self {
            inner: Arc::new(RegistryInner {
                meters,
                config,
                publisher,
            }),
        })
    }

    fn meters(&self) -> &sextant_meters::Registry {
        &self.inner.meters
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The clock meters and steps use.
    #[must_use]
    pub fn clock(&self) -> &dyn Clock {
        self.meters().clock()
    }

    /// The counter for `id`, created on first use.
    pub fn counter(&self, id: impl Into<Id>) -> Counter {
        self.meters().counter(id)
    }

    /// The timer for `id`, created on first use.
    pub fn timer(&self, id: impl Into<Id>) -> Timer {
        self.meters().timer(id)
    }

    /// The distribution summary for `id`, created on first use.
    pub fn distribution_summary(&self, id: impl Into<Id>) -> DistributionSummary {
        self.meters().distribution_summary(id)
    }

    /// The gauge for `id`, created on first use.
    pub fn gauge(&self, id: impl Into<Id>) -> Gauge {
        self.meters().gauge(id)
    }

    /// The max gauge for `id`, created on first use.
    pub fn max_gauge(&self, id: impl Into<Id>) -> MaxGauge {
        self.meters().max_gauge(id)
    }

    /// The monotonic counter for `id`, created on first use.
    pub fn monotonic_counter(&self, id: impl Into<Id>) -> MonotonicCounter {
        self.meters().monotonic_counter(id)
    }

    /// The long task timer for `id`, created on first use.
    pub fn long_task_timer(&self, id: impl Into<Id>) -> LongTaskTimer {
        self.meters().long_task_timer(id)
    }

    /// Registers a gauge whose value `f` returns, called once per step when measuring.
    /// Registering the same id again replaces the function. The gauge expires once `f` has
    /// returned only non-finite values (e.g. NaN for an object that is gone) for the TTL.
    pub fn polled_gauge<F>(&self, id: impl Into<Id>, f: F)
    where
        F: Fn() -> f64 + Send + Sync + 'static,
    {
        self.meters().polled_gauge(id, f);
    }

    /// The percentile timer for `id` over the full range (0 to `i64::MAX` ns).
    pub fn percentile_timer(&self, id: impl Into<Id>) -> PercentileTimer {
        self.meters().percentile_timer(id)
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
        self.meters().percentile_timer_with_range(id, min, max)
    }

    /// The percentile distribution summary for `id` over the full range.
    pub fn percentile_distribution_summary(
        &self,
        id: impl Into<Id>,
    ) -> PercentileDistributionSummary {
        self.meters().percentile_distribution_summary(id)
    }

    /// The percentile distribution summary for `id`, clamping amounts to `[min, max]`.
    pub fn percentile_distribution_summary_with_range(
        &self,
        id: impl Into<Id>,
        min: i64,
        max: i64,
    ) -> PercentileDistributionSummary {
        self.meters()
            .percentile_distribution_summary_with_range(id, min, max)
    }

    /// Polls every meter for the last completed step, as a publish would. Polling does not
    /// consume anything: within a step every poll returns the same values.
    #[must_use]
    pub fn measurements(&self) -> Vec<Measurement> {
        self.meters().measurements()
    }

    /// Number of registered meters (percentile buckets count individually).
    #[must_use]
    pub fn len(&self) -> usize {
        self.meters().len()
    }

    /// Whether no meter is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.meters().is_empty()
    }

    /// Publishes the last completed step now if it has not been published, and waits until
    /// everything queued has been sent (or dropped after its retries). Does nothing when
    /// publishing is disabled or shut down.
    pub fn flush(&self) {
        if let Some(p) = &self.inner.publisher {
            p.flush();
        }
    }

    /// Stops background publishing after a final publish of the last completed step and of
    /// the current partial one (each batch tried once, so shutdown stays bounded when the
    /// server is down). Meters keep working locally. Idempotent.
    pub fn shutdown(&self) {
        if let Some(p) = &self.inner.publisher {
            p.shutdown();
        }
    }

    /// Cumulative publishing counts since the registry started.
    #[must_use]
    pub fn publish_stats(&self) -> PublishStats {
        self.inner
            .publisher
            .as_ref()
            .map_or_else(PublishStats::default, Publisher::stats)
    }

    /// The most recent error: a failed or partially rejected publish (with the server's
    /// messages), a meter type conflict, or a panicking polled gauge.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.meters().last_error()
    }

    /// Up to the 16 most recent errors, oldest first.
    #[must_use]
    pub fn recent_errors(&self) -> Vec<String> {
        self.meters().recent_errors()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("uri", &self.config().uri())
            .field("step", &self.config().step())
            .field("meters", &self.len())
            .finish()
    }
}

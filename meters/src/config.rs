//! How a registry keeps its meters: step, expiry, cardinality limit and clock.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};

/// Settings of a [`Registry`](crate::Registry). Publishing settings belong to an exporter
/// (`sextant-client`'s `Config`), not here.
///
/// ```
/// use std::time::Duration;
/// use sextant_meters::{ManualClock, RegistryConfig};
/// let config = RegistryConfig::new(Duration::from_secs(10))?
///     .with_meter_ttl(Duration::from_secs(300))
///     .with_clock(ManualClock::new(0));
/// assert_eq!(config.step_ms(), 10_000);
/// # Ok::<(), sextant_meters::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    step: Duration,
    meter_ttl: Duration,
    max_meters: usize,
    clock: Arc<dyn Clock>,
    stepped: bool,
}

impl RegistryConfig {
    /// A configuration with step `step` and Spectator's defaults otherwise: meter TTL
    /// 15 min, no meter limit, the system clock, no step thread. Fails unless the step is a
    /// whole number of milliseconds, at least 1 ms.
    pub fn new(step: Duration) -> Result<Self> {
        if step < Duration::from_millis(1) || step.subsec_nanos() % 1_000_000 != 0 {
            return Err(Error::InvalidStep(step));
        }
        Ok(Self {
            step,
            meter_ttl: Duration::from_secs(15 * 60),
            max_meters: usize::MAX,
            clock: Arc::new(SystemClock),
            stepped: false,
        })
    }

    /// Sets how long an idle meter lives.
    #[must_use]
    pub fn with_meter_ttl(mut self, d: Duration) -> Self {
        self.meter_ttl = d;
        self
    }

    /// Sets the most meters the registry holds (percentile buckets count individually).
    #[must_use]
    pub fn with_max_meters(mut self, n: usize) -> Self {
        self.max_meters = n;
        self
    }

    /// Sets the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sets the clock from a shared one.
    #[must_use]
    pub fn with_shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Declares that a thread (an exporter's) calls [`Registry::advance`] at every step
    /// boundary. Records then attribute themselves to the step index it keeps instead of
    /// reading a clock that is not [cheap to read](Clock::cheap_to_read). Without such a
    /// thread (the default) a record reads the clock, since nothing else would move it to
    /// the next step.
    ///
    /// [`Registry::advance`]: crate::Registry::advance
    #[must_use]
    pub fn with_step_thread(mut self, on: bool) -> Self {
        self.stepped = on;
        self
    }

    /// Step: the interval meters accumulate over.
    #[must_use]
    pub fn step(&self) -> Duration {
        self.step
    }

    /// The step in milliseconds.
    #[must_use]
    pub fn step_ms(&self) -> i64 {
        i64::try_from(self.step.as_millis()).unwrap_or(i64::MAX)
    }

    /// A meter not updated for this long stops being reported and is removed.
    #[must_use]
    pub fn meter_ttl(&self) -> Duration {
        self.meter_ttl
    }

    /// Most meters the registry holds; beyond it new ids get no-op meters (Spectator's
    /// `maxNumberOfMeters`, a guard against runaway tag cardinality).
    #[must_use]
    pub fn max_meters(&self) -> usize {
        self.max_meters
    }

    /// The clock used for steps, timers and expiry.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Whether a step thread advances the registry, see [`RegistryConfig::with_step_thread`].
    #[must_use]
    pub fn step_thread(&self) -> bool {
        self.stepped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_spectator() {
        let c = RegistryConfig::new(Duration::from_secs(60)).unwrap();
        assert_eq!(c.step_ms(), 60_000);
        assert_eq!(c.meter_ttl(), Duration::from_secs(900));
        assert_eq!(c.max_meters(), usize::MAX);
        assert!(!c.step_thread());
    }

    #[test]
    fn steps_that_are_not_whole_milliseconds_are_rejected() {
        for bad in [
            Duration::ZERO,
            Duration::from_micros(500),
            Duration::from_micros(1500),
        ] {
            assert!(matches!(
                RegistryConfig::new(bad),
                Err(Error::InvalidStep(d)) if d == bad
            ));
        }
    }
}

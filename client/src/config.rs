//! Registry configuration and its builder: the meters' settings (a
//! [`RegistryConfig`](sextant_meters::RegistryConfig)) plus where and how to publish.

use std::sync::Arc;
use std::time::Duration;

use sextant_meters::{sanitize, Clock, RegistryConfig, SystemClock};

use crate::error::{Error, Result};

/// Where and how a registry publishes. Build with [`ConfigBuilder`].
#[derive(Debug, Clone)]
pub struct Config {
    uri: String,
    meters: RegistryConfig,
    common_tags: Vec<(String, String)>,
    batch_size: usize,
    publish_timeout: Duration,
    connect_timeout: Duration,
    enabled: bool,
    retry_backoff: Duration,
    max_attempts: u32,
}

impl Config {
    /// Publish endpoint, e.g. `http://127.0.0.1:7101/api/v1/publish`.
    #[must_use]
    pub fn uri(&self) -> &str {
        &self.uri
    }
    /// Step: the interval meters accumulate over and publishing happens at.
    #[must_use]
    pub fn step(&self) -> Duration {
        self.meters.step()
    }
    /// Tags sent once per payload; the server adds them to every datapoint.
    #[must_use]
    pub fn common_tags(&self) -> &[(String, String)] {
        &self.common_tags
    }
    /// Datapoints per HTTP request.
    #[must_use]
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
    /// Time limit for one HTTP request, connect to last byte of the answer.
    #[must_use]
    pub fn publish_timeout(&self) -> Duration {
        self.publish_timeout
    }
    /// Time limit for establishing a connection.
    #[must_use]
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
    /// A meter not updated for this long stops being reported and is removed.
    #[must_use]
    pub fn meter_ttl(&self) -> Duration {
        self.meters.meter_ttl()
    }
    /// Whether a background thread publishes.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.enabled
    }
    /// Wait before the first retry; it doubles for each further attempt.
    #[must_use]
    pub fn retry_backoff(&self) -> Duration {
        self.retry_backoff
    }
    /// Attempts per batch, the first included.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
    /// Most meters the registry holds; beyond it new ids get no-op meters (Spectator's
    /// `maxNumberOfMeters`, a guard against runaway tag cardinality).
    #[must_use]
    pub fn max_meters(&self) -> usize {
        self.meters.max_meters()
    }
    /// The clock used for steps, timers and expiry.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.meters.clock()
    }
    /// The settings of the registry that holds the meters: when publishing is enabled, the
    /// publisher's step thread advances it.
    pub(crate) fn meters(&self) -> RegistryConfig {
        self.meters.clone().with_step_thread(self.enabled)
    }
}

/// Builds a [`Config`]; defaults follow Spectator's `AtlasConfig`.
///
/// ```
/// use std::time::Duration;
/// use sextant_client::ConfigBuilder;
/// let config = ConfigBuilder::new()
///     .uri("http://127.0.0.1:7101/api/v1/publish")
///     .step(Duration::from_secs(10))
///     .common_tag("nf.app", "checkout")
///     .build()?;
/// assert_eq!(config.batch_size(), 10_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    uri: String,
    step: Duration,
    common_tags: Vec<(String, String)>,
    batch_size: usize,
    publish_timeout: Duration,
    connect_timeout: Duration,
    meter_ttl: Duration,
    enabled: bool,
    retry_backoff: Duration,
    max_attempts: u32,
    max_meters: usize,
    clock: Arc<dyn Clock>,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigBuilder {
    /// Defaults: uri `http://localhost:7101/api/v1/publish`, step 60 s, batch size 10 000,
    /// publish timeout 10 s, connect timeout 1 s, meter TTL 15 min, enabled, 3 attempts with
    /// 1 s backoff, no meter limit, system clock, no common tags.
    #[must_use]
    pub fn new() -> Self {
        Self {
            uri: "http://localhost:7101/api/v1/publish".to_string(),
            step: Duration::from_secs(60),
            common_tags: Vec::new(),
            batch_size: 10_000,
            publish_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(1),
            meter_ttl: Duration::from_secs(15 * 60),
            enabled: true,
            retry_backoff: Duration::from_secs(1),
            max_attempts: 3,
            max_meters: usize::MAX,
            clock: Arc::new(SystemClock),
        }
    }

    /// Sets the publish endpoint.
    pub fn uri(&mut self, uri: impl Into<String>) -> &mut Self {
        self.uri = uri.into();
        self
    }
    /// Sets the step.
    pub fn step(&mut self, step: Duration) -> &mut Self {
        self.step = step;
        self
    }
    /// Adds a common tag (sanitised like any tag); the last value for a key wins.
    pub fn common_tag(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> &mut Self {
        let k = sanitize(key.as_ref()).into_owned();
        let v = sanitize(value.as_ref()).into_owned();
        self.common_tags.retain(|(ek, _)| *ek != k);
        self.common_tags.push((k, v));
        self.common_tags.sort();
        self
    }
    /// Sets the datapoints per request.
    pub fn batch_size(&mut self, n: usize) -> &mut Self {
        self.batch_size = n;
        self
    }
    /// Sets the per-request time limit.
    pub fn publish_timeout(&mut self, d: Duration) -> &mut Self {
        self.publish_timeout = d;
        self
    }
    /// Sets the connect time limit.
    pub fn connect_timeout(&mut self, d: Duration) -> &mut Self {
        self.connect_timeout = d;
        self
    }
    /// Sets how long an idle meter lives.
    pub fn meter_ttl(&mut self, d: Duration) -> &mut Self {
        self.meter_ttl = d;
        self
    }
    /// Turns background publishing on or off.
    pub fn enabled(&mut self, on: bool) -> &mut Self {
        self.enabled = on;
        self
    }
    /// Sets the first retry wait.
    pub fn retry_backoff(&mut self, d: Duration) -> &mut Self {
        self.retry_backoff = d;
        self
    }
    /// Sets the attempts per batch.
    pub fn max_attempts(&mut self, n: u32) -> &mut Self {
        self.max_attempts = n;
        self
    }
    /// Sets the most meters the registry holds (percentile buckets count individually).
    pub fn max_meters(&mut self, n: usize) -> &mut Self {
        self.max_meters = n;
        self
    }
    /// Sets the clock.
    pub fn clock(&mut self, clock: impl Clock) -> &mut Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the settings and returns the configuration.
    pub fn build(&self) -> Result<Config> {
        let meters = match RegistryConfig::new(self.step) {
            Ok(m) => m
                .with_meter_ttl(self.meter_ttl)
                .with_max_meters(self.max_meters)
                .with_shared_clock(self.clock.clone()),
            Err(sextant_meters::Error::InvalidStep(d)) => return Err(Error::InvalidStep(d)),
        };
        if self.batch_size == 0 {
            return Err(Error::ZeroBatchSize);
        }
        if self.max_attempts == 0 {
            return Err(Error::ZeroAttempts);
        }
        if !(self.uri.starts_with("http://") || self.uri.starts_with("https://")) {
            return Err(Error::InvalidUri(self.uri.clone()));
        }
        Ok(Config {
            uri: self.uri.clone(),
            meters,
            common_tags: self.common_tags.clone(),
            batch_size: self.batch_size,
            publish_timeout: self.publish_timeout,
            connect_timeout: self.connect_timeout,
            enabled: self.enabled,
            retry_backoff: self.retry_backoff,
            max_attempts: self.max_attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_spectator() {
        let c = ConfigBuilder::new().build().unwrap();
        assert_eq!(c.step(), Duration::from_secs(60));
        assert_eq!(c.batch_size(), 10_000);
        assert_eq!(c.meter_ttl(), Duration::from_secs(900));
        assert!(c.enabled());
    }

    #[test]
    fn bad_settings_are_rejected() {
        assert!(matches!(
            ConfigBuilder::new()
                .step(Duration::from_micros(500))
                .build(),
            Err(Error::InvalidStep(_))
        ));
        assert!(matches!(
            ConfigBuilder::new().batch_size(0).build(),
            Err(Error::ZeroBatchSize)
        ));
        assert!(matches!(
            ConfigBuilder::new().uri("localhost:7101").build(),
            Err(Error::InvalidUri(_))
        ));
    }

    #[test]
    fn common_tags_are_sanitised_and_deduplicated() {
        let c = ConfigBuilder::new()
            .common_tag("nf.app", "a b")
            .common_tag("nf.app", "c")
            .common_tag("env", "x")
            .build()
            .unwrap();
        assert_eq!(
            c.common_tags(),
            [
                ("env".to_string(), "x".to_string()),
                ("nf.app".to_string(), "c".to_string())
            ]
        );
    }
}

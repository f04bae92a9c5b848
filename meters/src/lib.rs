//! Spectator-style meters without a publisher: ids, meters, the step logic that turns
//! records into per-step values, a [`Registry`] that holds meters and reports their
//! measurements, and Spectator's percentile bucket table.
//!
//! Exporters build on it: `sextant-client` publishes a registry's measurements over HTTP,
//! the server writes its own into its store, and the query crate reads the bucket table to
//! estimate percentiles. Nothing here does I/O or starts a thread.
//!
//! * [`Registry`] creates meters by [`Id`] (a name plus sorted tags), configured by a
//!   [`RegistryConfig`].
//! * Meter handles — [`Counter`], [`Timer`], [`DistributionSummary`], [`Gauge`],
//!   [`MaxGauge`], [`MonotonicCounter`], [`LongTaskTimer`], [`PercentileTimer`],
//!   [`PercentileDistributionSummary`] — are cheap to clone and share across threads;
//!   recording is a few atomic operations.
//! * Values follow Spectator's step semantics: what is reported during step N is what was
//!   recorded during step N-1, counters as rates per second. A [`Clock`] ([`SystemClock`],
//!   or [`ManualClock`] in tests) drives all of it.
//!
//! ```
//! use std::time::Duration;
//! use sextant_meters::{Id, ManualClock, Registry, RegistryConfig};
//!
//! let clock = ManualClock::new(0);
//! let registry = Registry::new(
//!     RegistryConfig::new(Duration::from_secs(60))?.with_clock(clock.clone()),
//! );
//! let requests = registry.counter(Id::new("server.requests").with_tag("status", "200"));
//! for _ in 0..120 {
//!     requests.increment();
//! }
//! clock.set_wall_time(60_000); // the step ends
//! // What an exporter does once per step: advance, then measure the step just ended.
//! let index = registry.advance();
//! let rate = registry
//!     .measure(index)
//!     .into_iter()
//!     .find(|m| m.id.name() == "server.requests")
//!     .map(|m| (m.timestamp, m.value));
//! assert_eq!(rate, Some((60_000, 2.0))); // 120 requests in 60 s
//! registry.remove_expired(index);
//! # Ok::<(), sextant_meters::Error>(())
//! ```
#![deny(missing_docs)]

mod clock;
mod config;
mod error;
mod id;
mod meter;
mod percentile;
mod registry;
mod step;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::RegistryConfig;
pub use error::{Error, Result};
pub use id::{is_valid_tag_char, sanitize, Id};
pub use meter::{
    Counter, DistributionSummary, Gauge, LongTask, LongTaskTimer, MaxGauge, Measurement,
    MonotonicCounter, PercentileDistributionSummary, PercentileTimer, Timer, TimerGuard,
};
pub use percentile::{
    bucket_index, bucket_value, estimate_percentile, summary_tag, timer_tag, BUCKET_COUNT,
    BUCKET_VALUES,
};
pub use registry::Registry;

//! Instruments a service with Spectator-style meters and publishes their per-step values to
//! a Sextant (Atlas-compatible) server in the background. The meters themselves and the
//! registry that holds them come from `sextant-meters`; this crate adds the HTTP publisher
//! that exports that registry.
//!
//! # Overview
//!
//! * [`Registry`] creates meters by [`Id`] (a name plus sorted tags) and publishes them once
//!   per step from its own threads, configured by a [`Config`] built with [`ConfigBuilder`].
//! * Meter handles — [`Counter`], [`Timer`], [`DistributionSummary`], [`Gauge`],
//!   [`MaxGauge`], [`MonotonicCounter`], [`LongTaskTimer`], [`PercentileTimer`],
//!   [`PercentileDistributionSummary`] — are cheap to clone and share across threads;
//!   recording is a few atomic operations and never waits for the network.
//! * Values follow Spectator's step semantics: what is reported during step N is what was
//!   recorded during step N-1, counters as rates per second. A [`Clock`] ([`SystemClock`],
//!   or [`ManualClock`] in tests) drives all of it.
//!
//! ```
//! use std::time::Duration;
//! use sextant_client::{ConfigBuilder, Id, ManualClock, Registry};
//!
//! let clock = ManualClock::new(0);
//! let registry = Registry::new(
//!     ConfigBuilder::new()
//!         .uri("http://127.0.0.1:7101/api/v1/publish")
//!         .step(Duration::from_secs(60))
//!         .enabled(false) // this example only inspects values locally
//!         .clock(clock.clone())
//!         .build()?,
//! )?;
//! let requests = registry.counter(Id::new("server.requests").with_tag("status", "200"));
//! let latency = registry.timer("server.latency");
//! for _ in 0..120 {
//!     requests.increment();
//!     latency.record(Duration::from_millis(5));
//! }
//! clock.set_wall_time(60_000); // the step ends
//! let rate = registry
//!     .measurements()
//!     .into_iter()
//!     .find(|m| m.id.name() == "server.requests")
//!     .map(|m| m.value);
//! assert_eq!(rate, Some(2.0)); // 120 requests in 60 s
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod config;
mod error;
mod publish;
mod registry;

pub use config::{Config, ConfigBuilder};
pub use error::{Error, Result};
pub use publish::PublishStats;
pub use registry::Registry;
// Ids, meters, clocks and the percentile table live in `sextant-meters` (the registry without
// a publisher); re-exported under the names this crate has always had.
pub use sextant_meters::{
    bucket_index, estimate_percentile, is_valid_tag_char, sanitize, summary_tag, timer_tag, Clock,
    Counter, DistributionSummary, Gauge, Id, LongTask, LongTaskTimer, ManualClock, MaxGauge,
    Measurement, MonotonicCounter, PercentileDistributionSummary, PercentileTimer, SystemClock,
    Timer, TimerGuard, BUCKET_COUNT, BUCKET_VALUES,
};

// Runs the Rust blocks of the user guide as doctests so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../docs/client.md")]
struct ClientGuide;

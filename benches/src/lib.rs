//! Shared data generators for Sextant's benchmarks and load generator: seeded value
//! families (float walks, 2-decimal gauges, counter rates, sparse errors, constants) and
//! percentile timers.
#![deny(missing_docs)]
pub mod dataset;
pub mod families;
pub mod peers;
pub mod timers;

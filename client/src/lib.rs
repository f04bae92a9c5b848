//! A Spectator-like instrumentation library: services record counters, timers and gauges
//! in a registry, which publishes them to a Sextant server once per step.
#![deny(missing_docs)]

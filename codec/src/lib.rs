//! Compression of sealed blocks of time-series values for Sextant.
//!
//! A sealed block holds the values of one series over a fixed run of steps; timestamps are
//! implicit (the block knows its start and step), so only values are encoded.
#![deny(missing_docs)]

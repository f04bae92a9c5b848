//! The Atlas Stack Language (ASL) for Sextant: the tag query model, the time series
//! types, and the interface a storage engine implements so expressions can run on it.
//!
//! # Overview
//! - [`Query`]: a tag query (`:eq`, `:re`, `:and`, ...) that selects series by their tags.
//! - [`TimeSeries`]: one evaluated line: tags, a label and values on a fixed step.
//! - [`Database`]: what a store implements so the evaluator can stream matched series.
//!
//! This crate is pure: no I/O and no server types.
//!
//! ```
//! use sextant_query::Query;
//! let q = Query::eq("name", "cpu").and(Query::has("nf.app"));
//! let tags = [("name", "cpu"), ("nf.app", "www")];
//! assert!(q.matches(&tags));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod database;
mod graph;
mod query;
mod series;
mod time;

pub use database::{Database, DatabaseError, ScanRequest};
pub use graph::{
    render_data, round_to_step_boundary, AxisParams, Features, GraphData, GraphParams,
    GraphSettings, HeatmapParams, Layout, OutputFormat, ParamError, PlotBound, Scale, SortBy,
    SortOrder, StepSizes, SummaryStats, Theme, TickLabelMode, TimeWindow, VisionType, MAX_Y_AXES,
};
pub use query::{Pattern, PatternError, Query};
pub use series::{TagMap, TimeSeries};
pub use time::{
    format_duration, parse_duration, parse_time, parse_time_zone, time_range, TimeError, TimeRefs,
};

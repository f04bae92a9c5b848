//! The Atlas Stack Language (ASL) for Sextant: the tag query model, the time series
//! types, and the interface a storage engine implements so expressions can run on it.
//!
//! # Overview
//! - [`Query`]: a tag query (`:eq`, `:re`, `:and`, ...) that selects series by their tags.
//! - [`TimeSeries`]: one evaluated line: tags, a label and values on a fixed step.
//! - [`Database`]: what a store implements so the evaluator can stream matched series.
//! - [`parse`] turns an expression into [`StyleExpr`]s (an [`Expr`] plus presentation
//!   settings); [`evaluate`] runs them over an [`EvalContext`] against a [`Database`] and
//!   returns [`GraphLine`]s; [`normalize`] gives the canonical form. Every error is an
//!   [`Error`]; parse errors carry the byte offset of the offending token.
//!
//! This crate is pure: no I/O and no server types. [`testing::StaticDatabase`] is an
//! in-memory store for tests and examples.
//!
//! ```
//! use sextant_query::Query;
//! let q = Query::eq("name", "cpu").and(Query::has("nf.app"));
//! let tags = [("name", "cpu"), ("nf.app", "www")];
//! assert!(q.matches(&tags));
//!
//! use sextant_query::{evaluate, parse, testing::StaticDatabase, EvalContext};
//! let mut db = StaticDatabase::new(60_000);
//! db.push([("name", "cpu"), ("nf.node", "a")], 0, vec![1.0, 2.0, 3.0]);
//! db.push([("name", "cpu"), ("nf.node", "b")], 0, vec![4.0, f64::NAN, 6.0]);
//! let exprs = parse("name,cpu,:eq,:sum,2,:mul,total,:legend")?;
//! let lines = evaluate(&exprs, &EvalContext::new(0, 180_000, 60_000), &db)?;
//! assert_eq!(lines[0].series.values, vec![10.0, 4.0, 18.0]);
//! assert_eq!(lines[0].series.label, "total");
//! assert_eq!(exprs[0].to_string(), "name,cpu,:eq,:sum,2.0,:const,:mul,total,:legend");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod database;
mod error;
mod eval;
mod graph;
mod lexer;
mod model;
mod query;
mod series;
pub mod testing;
mod time;
mod vocab;

pub use database::{
    Coverage, Database, DatabaseError, FoldRequest, Folded, Partial, ScanRequest, SeriesVisitor,
};
pub use error::{shown, Error, Result};
pub use eval::{
    bucket_index, bucket_value, eval_expr, evaluate, fold_scan, merge_folded, EvalContext,
    GraphLine, Limits, BUCKET_COUNT,
};
pub use graph::{
    round_to_step_boundary, AxisParams, ErrorView, Features, GraphParams, GraphSettings,
    HeatmapParams, Layout, OutputFormat, ParamError, PlotBound, Scale, SortBy, SortOrder,
    StepSizes, Theme, TickLabelMode, TimeWindow, VisionType, MAX_Y_AXES,
};
pub use model::{
    fmt_duration, fmt_num, normalize_query, query_label, tags_label, AggrFn, Aggregate, BinaryOp,
    Cf, DataExpr, Expr, LineStyle, OthersFn, Palette, RewriteKind, SedOp, SortMode, StatKind,
    StatefulOp, Style, StyleExpr, UnaryOp,
};
pub use query::{Pattern, PatternError, Query};
pub use series::{TagMap, TimeSeries};
pub use time::{
    format_duration, parse_duration, parse_time, parse_time_zone, time_range, TimeError, TimeRefs,
};
pub use vocab::{
    and_common_query, interpret, normalize, parse, parse_query, StackItem, MAX_CALL_DEPTH,
    MAX_STACK_SIZE,
};

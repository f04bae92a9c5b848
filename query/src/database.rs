//! The contract between the evaluator and a store.
//!
//! The evaluator never asks a store for "all the data": it asks it to stream each series
//! matching a [`Query`] through a visitor, one at a time, so an aggregate such as `:sum`
//! over a million series holds one output line in memory, not a million inputs.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::{DataExpr, Query};

/// What to scan: the series matching `query`, with values on the store's primary step.
#[derive(Debug, Clone, Copy)]
pub struct ScanRequest<'a> {
    /// The tag query that selects series.
    pub query: &'a Query,
    /// Timestamp of the first value wanted, epoch ms, a multiple of [`Database::step`].
    pub start: i64,
    /// Timestamp one step past the last value wanted, epoch ms, a multiple of the step.
    pub end: i64,
}

impl ScanRequest<'_> {
    /// Number of values each visited series carries: `(end - start) / step`.
    pub fn len(&self, step: i64) -> usize {
        if step <= 0 || self.end <= self.start {
            0
        } else {
            ((self.end - self.start) / step) as usize
        }
    }
}

/// Why a scan stopped early.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum DatabaseError {
    /// The query selects more series than the store allows in one query.
    #[error("query matched {matched} series, over the limit of {limit}; restrict the query with more tag clauses")]
    TooManySeries {
        /// The configured limit.
        limit: usize,
        /// How many series the query matched.
        matched: usize,
    },
    /// A limit of the evaluator, reported by the visitor (e.g. too many output lines).
    #[error("{0}")]
    Limit(String),
    /// The store failed for a reason of its own.
    #[error("storage error: {0}")]
    Storage(String),
}

/// What a scan calls for each matching series: its tags sorted by key, and its values.
pub type SeriesVisitor<'a> = dyn FnMut(&[(&str, &str)], &[f64]) -> Result<(), DatabaseError> + 'a;

/// A store the evaluator can run expressions on.
///
/// Implementations stream every series matching the request to `visit` with its tags
/// (sorted by key) and exactly `request.len(self.step())` values, where `values[i]` belongs
/// to the interval ending at `request.start + i * step`; missing data is NaN. An error
/// returned by `visit` stops the scan and is returned unchanged.
pub trait Database: Send + Sync {
    /// The primary step of the stored data, in milliseconds.
    fn step(&self) -> i64;

    /// Streams every series matching `request.query` to `visit`.
    // The visitor's type is spelled out so implementors can copy the signature verbatim.
    #[allow(clippy::type_complexity)]
    fn scan(
        &self,
        request: &ScanRequest<'_>,
        visit: &mut SeriesVisitor<'_>,
    ) -> Result<(), DatabaseError>;

    /// The span `[from, to)` of timestamps this store may hold data for, or `None` when it
    /// cannot say. The evaluator clips every scan to it before allocating anything, so a
    /// window of ten thousand years costs what the store actually holds.
    fn extent(&self) -> Option<(i64, i64)> {
        None
    }

    /// Fails once the query's budget (time, say) is spent; the evaluator calls it between
    /// expressions so the work stops within one expression's worth of the budget.
    fn check_budget(&self) -> Result<(), DatabaseError> {
        Ok(())
    }

    /// Scans and folds the series of one data expression in a place of the database's
    /// choosing, or `None` to let the evaluator scan and fold through [`Database::scan`]
    /// (see [`crate::fold_scan`]). A cluster answers here: each partition's owner folds
    /// its series, and the partial results are merged with [`crate::merge_folded`].
    fn fold(&self, request: &FoldRequest<'_>) -> Option<Result<Folded, DatabaseError>> {
        let _ = request;
        None
    }
}

/// The data part of one data expression: which series, which primary points, how they
/// consolidate and combine. Everything above the data expression runs on the merged lines.
#[derive(Debug, Clone)]
pub struct FoldRequest<'a> {
    /// The data expression (its query, aggregate, group keys and consolidation).
    pub expr: &'a DataExpr,
    /// First primary timestamp scanned, epoch ms, a multiple of [`Database::step`].
    pub start: i64,
    /// One primary step past the last timestamp scanned.
    pub end: i64,
    /// Primary points per consolidated point.
    pub multiple: usize,
    /// Consolidated points per line.
    pub points: usize,
    /// The consolidated points that can hold data, each `multiple` primary points from
    /// `start`; the others stay NaN.
    pub held: Range<usize>,
    /// Most lines (`:all`) or groups (`:by`) kept; past it they are only counted.
    pub max_lines: usize,
    /// When the query's time budget runs out, and how long it was.
    pub deadline: Option<(Instant, Duration)>,
    /// Where a database that folds in parts records the parts it could not reach.
    pub coverage: Option<&'a Coverage>,
}

/// How much of the data an answer lacks: partitions of a cluster that no live owner
/// answered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Partial {
    /// Partitions missing from the answer.
    pub missing_partitions: usize,
    /// Partitions in all.
    pub partitions: u32,
}

impl std::fmt::Display for Partial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Partial answer: {} of {} partitions had no live owner",
            self.missing_partitions, self.partitions
        )
    }
}

/// The parts of a partitioned database one query could not reach (a cluster's partitions
/// with no live owner), so the answer can say it is partial instead of being silently
/// short.
#[derive(Debug, Default)]
pub struct Coverage {
    /// Partitions missing from at least one data expression, and the partition count.
    state: std::sync::Mutex<(std::collections::BTreeSet<u32>, u32)>,
}

impl Coverage {
    /// Records that of `parts` parts, `missing` were not reached.
    pub fn record(&self, parts: u32, missing: impl IntoIterator<Item = u32>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.1 = state.1.max(parts);
        state.0.extend(missing);
    }

    /// How many parts were missing from the answer, and of how many; `None` when every
    /// part answered (or the database is not partitioned).
    pub fn partial(&self) -> Option<Partial> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (!state.0.is_empty()).then(|| Partial {
            missing_partitions: state.0.len(),
            partitions: state.1,
        })
    }
}

/// A series' tags as owned pairs, sorted by key.
pub type TagPairs = Vec<(String, String)>;

/// What folding a data expression gives: whole lines, one aggregate or one aggregate per
/// group, each of [`FoldRequest::points`] consolidated values. Partial results of disjoint
/// sets of series merge into the result of their union ([`crate::merge_folded`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Folded {
    /// `:all`: each series' tags (sorted by key) and consolidated values.
    Lines {
        /// The lines kept.
        lines: Vec<(TagPairs, Vec<f64>)>,
        /// Series matched past [`FoldRequest::max_lines`].
        over: usize,
    },
    /// `:sum`, `:count`, `:min`, `:max`: the values, `None` when no series matched.
    Aggregate(Option<Vec<f64>>),
    /// `:by`: the aggregate per tuple of group-key values.
    Groups {
        /// The groups kept.
        groups: HashMap<Vec<String>, Vec<f64>>,
        /// Hashes of the group keys seen past [`FoldRequest::max_lines`].
        overflow: HashSet<u64>,
    },
}

//! Evaluated time series: the unit the evaluator produces and the output formats print.

use std::collections::BTreeMap;

/// Tags of a series or of an aggregate result, sorted by key.
pub type TagMap = BTreeMap<String, String>;

/// One evaluated line: values on a fixed step starting at `start`.
///
/// `values[i]` is the value of the interval that *ends* at `start + i * step` (Atlas's
/// end-of-interval convention). Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    /// Tags that describe the line (exact-match keys and group-by keys for aggregates).
    pub tags: TagMap,
    /// Legend label.
    pub label: String,
    /// Timestamp of the first value, epoch milliseconds.
    pub start: i64,
    /// Step between values, milliseconds.
    pub step: i64,
    /// The values; NaN means no data.
    pub values: Vec<f64>,
}

impl TimeSeries {
    /// Timestamp (epoch ms) of the value at `index`.
    pub fn time_at(&self, index: usize) -> i64 {
        self.start + self.step * index as i64
    }

    /// Timestamp one step past the last value.
    pub fn end(&self) -> i64 {
        self.time_at(self.values.len())
    }
}

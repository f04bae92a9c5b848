//! Data expressions: the leaves of every expression, the only part that reads the store.
//!
//! Atlas reference: `DataExpr.scala` and `DataVocabulary.scala` (see docs/asl.md).

use crate::Query;

/// How values of one series combine across series (`:sum`, `:count`, `:min`, `:max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggrFn {
    /// NaN-skipping sum.
    Sum,
    /// Number of series with a value; NaN when none.
    Count,
    /// NaN-skipping minimum.
    Min,
    /// NaN-skipping maximum.
    Max,
}

impl AggrFn {
    /// The word without the colon.
    pub fn name(self) -> &'static str {
        match self {
            AggrFn::Sum => "sum",
            AggrFn::Count => "count",
            AggrFn::Min => "min",
            AggrFn::Max => "max",
        }
    }

    /// The consolidation function Atlas uses when none is set.
    pub fn default_cf(self) -> Cf {
        match self {
            AggrFn::Sum | AggrFn::Count => Cf::Avg,
            AggrFn::Min => Cf::Min,
            AggrFn::Max => Cf::Max,
        }
    }
}

/// Consolidation function: how primary-step points combine into one point of a larger step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cf {
    /// Average; gauges divide by the points with a value, rates by the step multiple.
    Avg,
    /// NaN-skipping sum.
    Sum,
    /// NaN-skipping minimum.
    Min,
    /// NaN-skipping maximum.
    Max,
}

impl Cf {
    /// `avg`, `sum`, `min` or `max`.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Avg => "avg",
            Cf::Sum => "sum",
            Cf::Min => "min",
            Cf::Max => "max",
        }
    }

    /// Parses `avg`, `sum`, `min` or `max`.
    pub fn from_name(s: &str) -> Option<Cf> {
        Some(match s {
            "avg" => Cf::Avg,
            "sum" => Cf::Sum,
            "min" => Cf::Min,
            "max" => Cf::Max,
            _ => return None,
        })
    }
}

/// An aggregate of all series matching a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// How series combine.
    pub func: AggrFn,
    /// Which series.
    pub query: Query,
    /// Consolidation when the query step is larger than the primary step.
    pub cf: Cf,
    /// Fetch window shift back in time, milliseconds (0 = none).
    pub offset: i64,
}

impl Aggregate {
    /// An aggregate with the default consolidation and no offset.
    pub fn new(func: AggrFn, query: Query) -> Aggregate {
        Aggregate {
            func,
            cf: func.default_cf(),
            query,
            offset: 0,
        }
    }
}

/// A data expression.
#[derive(Debug, Clone, PartialEq)]
pub enum DataExpr {
    /// `q,:all`: every matching series, unaggregated.
    All {
        /// Which series.
        query: Query,
        /// Fetch window shift, ms.
        offset: i64,
    },
    /// `q,:sum` and friends.
    Aggregate(Aggregate),
    /// `af,(,k,),:by`: one aggregate per distinct value tuple of `keys`.
    GroupBy {
        /// The aggregate computed per group.
        aggr: Aggregate,
        /// Group keys, in the order written.
        keys: Vec<String>,
    },
}

impl DataExpr {
    /// The implicit aggregate: `q` alone means `q,:sum`.
    pub fn sum(query: Query) -> DataExpr {
        DataExpr::Aggregate(Aggregate::new(AggrFn::Sum, query))
    }

    /// The query selecting the input series.
    pub fn query(&self) -> &Query {
        match self {
            DataExpr::All { query, .. } => query,
            DataExpr::Aggregate(a) | DataExpr::GroupBy { aggr: a, .. } => &a.query,
        }
    }

    /// Mutable access to the query (for `:cq`).
    pub fn query_mut(&mut self) -> &mut Query {
        match self {
            DataExpr::All { query, .. } => query,
            DataExpr::Aggregate(a) | DataExpr::GroupBy { aggr: a, .. } => &mut a.query,
        }
    }

    /// The offset in ms.
    pub fn offset(&self) -> i64 {
        match self {
            DataExpr::All { offset, .. } => *offset,
            DataExpr::Aggregate(a) | DataExpr::GroupBy { aggr: a, .. } => a.offset,
        }
    }

    /// Replaces the offset (Atlas replaces, it does not add).
    pub fn set_offset(&mut self, ms: i64) {
        match self {
            DataExpr::All { offset, .. } => *offset = ms,
            DataExpr::Aggregate(a) | DataExpr::GroupBy { aggr: a, .. } => a.offset = ms,
        }
    }

    /// Sets the consolidation function; `:all` always consolidates with sum.
    pub fn set_cf(&mut self, cf: Cf) {
        if let DataExpr::Aggregate(a) | DataExpr::GroupBy { aggr: a, .. } = self {
            a.cf = cf;
        }
    }

    /// Group keys, if this is a group by.
    pub fn keys(&self) -> Option<&[String]> {
        match self {
            DataExpr::GroupBy { keys, .. } => Some(keys),
            _ => None,
        }
    }
}

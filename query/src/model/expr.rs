//! Time series expressions: math, stateful and filter operators over data expressions.
//!
//! Atlas reference: `MathExpr.scala`, `StatefulExpr.scala`, `FilterExpr.scala`.

use super::data::{AggrFn, Cf, DataExpr};

/// Pointwise unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `:abs`
    Abs,
    /// `:neg`
    Neg,
    /// `:sqrt`
    Sqrt,
    /// `:sin`
    Sin,
    /// `:per-step`: multiply by step in seconds; never folded.
    PerStep,
}

impl UnaryOp {
    /// The word without the colon.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Abs => "abs",
            UnaryOp::Neg => "neg",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Sin => "sin",
            UnaryOp::PerStep => "per-step",
        }
    }

    /// Applies the operator; `step_ms` only matters for `:per-step`.
    pub fn apply(self, v: f64, step_ms: i64) -> f64 {
        match self {
            UnaryOp::Abs => v.abs(),
            UnaryOp::Neg => -v,
            UnaryOp::Sqrt => v.sqrt(),
            UnaryOp::Sin => v.sin(),
            UnaryOp::PerStep => v * (step_ms as f64 / 1000.0),
        }
    }
}

/// Pointwise binary operators with Atlas's NaN rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `:add`, NaN-skipping.
    Add,
    /// `:sub`, NaN-skipping.
    Sub,
    /// `:mul`
    Mul,
    /// `:div`: x/0 is NaN, 0/0 is 0.
    Div,
    /// `:pow`
    Pow,
    /// `:gt`
    Gt,
    /// `:ge`
    Ge,
    /// `:lt`
    Lt,
    /// `:le`
    Le,
    /// `:and` on truthiness.
    And,
    /// `:or` on truthiness.
    Or,
    /// `:fadd`, strict IEEE.
    FAdd,
    /// `:fsub`, strict IEEE.
    FSub,
    /// `:fmul`, strict IEEE.
    FMul,
    /// `:fdiv`, strict IEEE.
    FDiv,
}

/// Atlas's `isNearlyZero`: NaN and tiny values are false.
pub(crate) fn truthy(v: f64) -> bool {
    !(v.is_nan() || v.abs() < 1e-12)
}

/// NaN when both are NaN, else the sum of the values present.
pub(crate) fn add_nan(a: f64, b: f64) -> f64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => f64::NAN,
        (true, false) => b,
        (false, true) => a,
        (false, false) => a + b,
    }
}

impl BinaryOp {
    /// The word without the colon.
    pub fn name(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            Pow => "pow",
            Gt => "gt",
            Ge => "ge",
            Lt => "lt",
            Le => "le",
            And => "and",
            Or => "or",
            FAdd => "fadd",
            FSub => "fsub",
            FMul => "fmul",
            FDiv => "fdiv",
        }
    }

    /// The infix symbol used in labels, e.g. `(a + b)`.
    pub fn symbol(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add | FAdd => "+",
            Sub | FSub => "-",
            Mul | FMul => "*",
            Div | FDiv => "/",
            Pow => "^",
            Gt => ">",
            Ge => ">=",
            Lt => "<",
            Le => "<=",
            And => "AND",
            Or => "OR",
        }
    }

    /// Applies the operator to two values.
    pub fn apply(self, a: f64, b: f64) -> f64 {
        use BinaryOp::*;
        let flag = |c: bool| if c { 1.0 } else { 0.0 };
        match self {
            Add => add_nan(a, b),
            Sub => add_nan(a, -b),
            Mul | FMul => a * b,
            Div => {
                if b == 0.0 {
                    if a == 0.0 {
                        0.0
                    } else {
                        f64::NAN
                    }
                } else {
                    a / b
                }
            }
            Pow => a.powf(b),
            // Comparisons with NaN are false, so NaN inputs give 0.
            Gt => flag(a > b),
            Ge => flag(a >= b),
            Lt => flag(a < b),
            Le => flag(a <= b),
            And => flag(truthy(a) && truthy(b)),
            Or => flag(truthy(a) || truthy(b)),
            FAdd => a + b,
            FSub => a - b,
            FDiv => a / b,
        }
    }
}

/// Summary statistic over a line's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatKind {
    /// Mean of the values present.
    Avg,
    /// Largest value.
    Max,
    /// Smallest value.
    Min,
    /// Last value present.
    Last,
    /// Sum of the values present.
    Total,
    /// Number of values present.
    Count,
}

impl StatKind {
    /// The stat name as written in `:stat`.
    pub fn name(self) -> &'static str {
        match self {
            StatKind::Avg => "avg",
            StatKind::Max => "max",
            StatKind::Min => "min",
            StatKind::Last => "last",
            StatKind::Total => "total",
            StatKind::Count => "count",
        }
    }

    /// Parses a stat name.
    pub fn from_name(s: &str) -> Option<StatKind> {
        Some(match s {
            "avg" => StatKind::Avg,
            "max" => StatKind::Max,
            "min" => StatKind::Min,
            "last" => StatKind::Last,
            "total" => StatKind::Total,
            "count" => StatKind::Count,
            _ => return None,
        })
    }
}

/// Operators that compute each point from the points before it.
#[derive(Debug, Clone, PartialEq)]
pub enum StatefulOp {
    /// `n,:delay`
    Delay(usize),
    /// `n,:rolling-count`
    RollingCount(usize),
    /// `n,:rolling-min`
    RollingMin(usize),
    /// `n,:rolling-max`
    RollingMax(usize),
    /// `n,min,:rolling-mean`
    RollingMean {
        /// Window in datapoints.
        window: usize,
        /// Fewest values needed for an output.
        min: usize,
    },
    /// `n,:rolling-sum`
    RollingSum(usize),
    /// `training,alpha,beta,:des`
    Des {
        /// Samples before output starts.
        training: usize,
        /// Data smoothing factor.
        alpha: f64,
        /// Trend smoothing factor.
        beta: f64,
    },
    /// `training,alpha,beta,:sdes`
    Sdes {
        /// Samples per training period.
        training: usize,
        /// Data smoothing factor.
        alpha: f64,
        /// Trend smoothing factor.
        beta: f64,
    },
    /// `window,:trend` (window in ms).
    Trend(i64),
    /// `:integral`
    Integral,
    /// `:cumulative-max`
    CumulativeMax,
    /// `:derivative`
    Derivative,
}

impl StatefulOp {
    /// The word without the colon.
    pub fn name(&self) -> &'static str {
        match self {
            StatefulOp::Delay(_) => "delay",
            StatefulOp::RollingCount(_) => "rolling-count",
            StatefulOp::RollingMin(_) => "rolling-min",
            StatefulOp::RollingMax(_) => "rolling-max",
            StatefulOp::RollingMean { .. } => "rolling-mean",
            StatefulOp::RollingSum(_) => "rolling-sum",
            StatefulOp::Des { .. } => "des",
            StatefulOp::Sdes { .. } => "sdes",
            StatefulOp::Trend(_) => "trend",
            StatefulOp::Integral => "integral",
            StatefulOp::CumulativeMax => "cumulative-max",
            StatefulOp::Derivative => "derivative",
        }
    }
}

/// How the "others" line of `:topk-others-*` aggregates the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OthersFn {
    /// `-min`
    Min,
    /// `-max`
    Max,
    /// `-sum`
    Sum,
    /// `-avg`
    Avg,
}

impl OthersFn {
    /// Suffix of the word.
    pub fn name(self) -> &'static str {
        match self {
            OthersFn::Min => "min",
            OthersFn::Max => "max",
            OthersFn::Sum => "sum",
            OthersFn::Avg => "avg",
        }
    }
}

/// Operators that Atlas rewrites into other expressions but prints under their own name.
/// Only `PartialEq`: `:sample-count` carries its numeric bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RewriteKind {
    /// `:avg`: sum / count.
    Avg,
    /// `:stddev`: population standard deviation across lines.
    Stddev,
    /// `:pct`: each line as a percentage of the sum of lines.
    Pct,
    /// `:dist-avg`: total time or amount over count.
    DistAvg,
    /// `:dist-max`: max of the `statistic=max` series.
    DistMax,
    /// `:dist-stddev`: standard deviation from count, totals and squares.
    DistStddev,
    /// `:node-avg`: sum over the `poller.asg.instance` count in the same scope.
    NodeAvg,
    /// `:eureka-avg`: sum over the number of instances UP in discovery in the same scope.
    EurekaAvg,
    /// `min,max,:sample-count`: sum of the percentile bucket counters overlapping
    /// `[min, max]` (seconds for timers, raw amounts for distribution summaries).
    SampleCount {
        /// Lower bound, not NaN, at most `max`.
        min: f64,
        /// Upper bound, not NaN.
        max: f64,
    },
}

impl RewriteKind {
    /// The word without the colon.
    pub fn name(self) -> &'static str {
        match self {
            RewriteKind::Avg => "avg",
            RewriteKind::Stddev => "stddev",
            RewriteKind::Pct => "pct",
            RewriteKind::DistAvg => "dist-avg",
            RewriteKind::DistMax => "dist-max",
            RewriteKind::DistStddev => "dist-stddev",
            RewriteKind::NodeAvg => "node-avg",
            RewriteKind::EurekaAvg => "eureka-avg",
            RewriteKind::SampleCount { .. } => "sample-count",
        }
    }
}

/// A time series expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Reads the store.
    Data(DataExpr),
    /// `v,:const` (also `:pi`).
    Const(f64),
    /// `:random`
    Random,
    /// `seed,:srandom`
    SeededRandom(i64),
    /// `mode,:time`
    Time(String),
    /// `s,e,:time-span`
    TimeSpan(String, String),
    /// Pointwise unary operator.
    Unary(UnaryOp, Box<Expr>),
    /// `v,:clamp-min` (`max == false`) or `v,:clamp-max`.
    Clamp {
        /// True for `:clamp-max`.
        max: bool,
        /// The bound.
        bound: f64,
        /// Input.
        expr: Box<Expr>,
    },
    /// Pointwise binary operator with Atlas's join rules.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `:sum`/`:count`/`:min`/`:max` across the lines of the input.
    Aggregate(AggrFn, Box<Expr>),
    /// `TS,:aggr,(,k,),:by`: aggregate the input's lines per group.
    GroupBy(AggrFn, Box<Expr>, Vec<String>),
    /// `orig,repl,:as`: rename a tag key.
    As(Box<Expr>, String, String),
    /// `(,p,...,),:percentiles` over percentile bucket series.
    Percentiles {
        /// A `:sum` or a `:sum` group by (keys other than `percentile`).
        data: DataExpr,
        /// Requested percentiles, sorted and de-duplicated.
        pcts: Vec<f64>,
    },
    /// A named rewrite (`:avg`, `:stddev`, ...): prints as written, evaluates as rewritten.
    /// The keys are set by a later `:by`, which regroups the rewrite's own aggregates.
    Rewrite(RewriteKind, Box<Expr>, Vec<String>),
    /// A stateful operator.
    Stateful(StatefulOp, Box<Expr>),
    /// `:approx-distinct` (or `:approx-distinct-cumulative` when `cumulative`): HyperLogLog
    /// estimate from `statistic=distinct` register series tagged `distinct=R<hex index>`.
    ApproxDistinct {
        /// Input; its data expressions are read as the max of each register.
        expr: Box<Expr>,
        /// Take the running max of each register first.
        cumulative: bool,
    },
    /// `name,:stat`: each line replaced by a constant line of its statistic.
    Stat(Box<Expr>, StatKind),
    /// `:stat-avg` etc.: inside a `:filter` condition, the statistic of the filtered lines.
    StatPlaceholder(StatKind),
    /// `TS1,TS2,:filter`: keep TS1 lines whose TS2 line is ever truthy.
    Filter(Box<Expr>, Box<Expr>),
    /// `stat,k,:topk` and friends.
    TopK {
        /// Input.
        expr: Box<Expr>,
        /// Ranking statistic.
        stat: StatKind,
        /// How many lines to keep.
        k: usize,
        /// True for `:bottomk*`.
        bottom: bool,
        /// Aggregate the rest into one "others" line.
        others: Option<OthersFn>,
    },
    /// `cf,step,:consolidate`: show the line consolidated to a larger step.
    Consolidate {
        /// Input.
        expr: Box<Expr>,
        /// How points combine.
        cf: Cf,
        /// The larger step, ms.
        step: i64,
    },
}

/// The one match over `Expr`'s shape shared by [`Expr::visit_data`], [`Expr::visit_data_mut`]
/// and [`Expr::children_mut`], so a new variant is sorted into data, leaf, one child or two
/// children in one place. A macro rather than a function returning the children because the
/// shared and `mut` walks need the same arms with different borrows, and returning a `Vec`
/// would allocate on every node of every walk.
macro_rules! match_shape {
    ($expr:expr,
     data($d:ident) => $data:expr,
     leaf => $leaf:expr,
     one($e:ident) => $one:expr,
     two($a:ident, $b:ident) => $two:expr $(,)?) => {
        match $expr {
            Expr::Data($d) | Expr::Percentiles { data: $d, .. } => $data,
            Expr::Const(_)
            | Expr::Random
            | Expr::SeededRandom(_)
            | Expr::Time(_)
            | Expr::TimeSpan(..)
            | Expr::StatPlaceholder(_) => $leaf,
            Expr::Unary(_, $e)
            | Expr::Clamp { expr: $e, .. }
            | Expr::Aggregate(_, $e)
            | Expr::GroupBy(_, $e, _)
            | Expr::As($e, ..)
            | Expr::Rewrite(_, $e, _)
            | Expr::Stateful(_, $e)
            | Expr::ApproxDistinct { expr: $e, .. }
            | Expr::Stat($e, _)
            | Expr::TopK { expr: $e, .. }
            | Expr::Consolidate { expr: $e, .. } => $one,
            Expr::Binary(_, $a, $b) | Expr::Filter($a, $b) => $two,
        }
    };
}

impl Expr {
    /// Calls `f` on every data expression inside, depth first.
    pub fn visit_data(&self, f: &mut dyn FnMut(&DataExpr)) {
        match_shape!(self,
            data(d) => f(d),
            leaf => {},
            one(e) => e.visit_data(f),
            two(a, b) => {
                a.visit_data(f);
                b.visit_data(f);
            },
        )
    }

    /// Calls `f` on every data expression inside, allowing changes.
    pub fn visit_data_mut(&mut self, f: &mut dyn FnMut(&mut DataExpr)) {
        match_shape!(self,
            data(d) => f(d),
            leaf => {},
            one(e) => e.visit_data_mut(f),
            two(a, b) => {
                a.visit_data_mut(f);
                b.visit_data_mut(f);
            },
        )
    }

    /// Direct sub-expressions, for rewrites that must see named rewrites as well as data.
    pub(crate) fn children_mut(&mut self) -> Vec<&mut Expr> {
        match_shape!(self,
            data(_d) => Vec::new(),
            leaf => Vec::new(),
            one(e) => vec![e.as_mut()],
            two(a, b) => vec![a.as_mut(), b.as_mut()],
        )
    }

    /// True when the expression reads the store.
    pub fn has_data(&self) -> bool {
        let mut any = false;
        self.visit_data(&mut |_| any = true);
        any
    }

    /// The smallest offset of the data expressions inside, ms; 0 without any (Atlas's
    /// `StyleExpr.offset`, which names the line's `atlas.offset` and its default legend).
    pub fn offset(&self) -> i64 {
        let mut min: Option<i64> = None;
        self.visit_data(&mut |d| min = Some(min.map_or(d.offset(), |m| m.min(d.offset()))));
        min.unwrap_or(0)
    }

    /// Replaces the offset of every data expression (`:offset`).
    pub fn set_offset(&mut self, ms: i64) {
        self.visit_data_mut(&mut |d| d.set_offset(ms));
    }
}

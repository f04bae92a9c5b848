//! Evaluation of expressions against a [`Database`] over a time window.
//!
//! Data expressions stream the store's series through collectors one at a time (a `:sum`
//! over a million series holds one line); everything above them works on whole lines.

mod data;
mod distinct;
mod filter;
mod fold;
mod math;
mod percentiles;
mod present;
mod stateful;
mod synthetic;

use std::cell::Cell;

pub(crate) use synthetic::{check_time_span, time_value};

use crate::error::{Error, Result};
use crate::model::{Expr, Style, StyleExpr};
use crate::{Database, TimeSeries};

pub use fold::{fold_scan, merge_folded};
pub use percentiles::{bucket_index, bucket_value, BUCKET_COUNT};

/// Bounds on one evaluation, so a broad query fails early with a clear message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most lines any data expression or the final output may produce.
    pub max_lines: usize,
    /// Most datapoints held at once across the lines produced by data expressions, and in
    /// the output (lines × points per line).
    pub max_datapoints: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_lines: 1024,
            max_datapoints: 500_000,
        }
    }
}

/// The window and step to evaluate over. Values are at `start + i * step` for
/// `i in 0..(end - start) / step`; each covers the interval ending at its timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalContext {
    /// First timestamp, epoch ms, a multiple of `step`.
    pub start: i64,
    /// One step past the last timestamp, epoch ms, a multiple of `step`.
    pub end: i64,
    /// Step in ms: the store's primary step or a multiple of it.
    pub step: i64,
    /// Limits on the result.
    pub limits: Limits,
}

impl EvalContext {
    /// A context with default limits; `start` is rounded down and `end` up to the step.
    pub fn new(start: i64, end: i64, step: i64) -> EvalContext {
        let step = step.max(1);
        let start = start.div_euclid(step) * step;
        let end = end.max(start);
        let end = end.div_euclid(step) * step + if end.rem_euclid(step) == 0 { 0 } else { step };
        EvalContext {
            start,
            end,
            step,
            limits: Limits::default(),
        }
    }

    /// The same context with other limits.
    pub fn with_limits(mut self, limits: Limits) -> EvalContext {
        self.limits = limits;
        self
    }

    /// Number of values per line.
    pub fn len(&self) -> usize {
        if self.step <= 0 || self.end <= self.start {
            0
        } else {
            ((self.end - self.start) / self.step) as usize
        }
    }

    /// True when the window holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One line of the result: the series, the presentation settings of the expression it
/// came from, and that expression's index in the evaluated slice.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphLine {
    /// Tags, legend (in `label`) and values. Tags include `atlas.offset`.
    pub series: TimeSeries,
    /// Settings of the expression (color choice is left to the renderer).
    pub style: Style,
    /// Index of the expression in the slice passed to [`evaluate`].
    pub expr_index: usize,
}

/// State shared by one evaluation.
pub(crate) struct Env<'a> {
    pub db: &'a dyn Database,
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub n: usize,
    /// Steps evaluated before the first returned value (0 or 1), see [`env`].
    pub lead: usize,
    pub limits: Limits,
    /// Datapoints held by lines that data expressions produced so far.
    pub datapoints: Cell<usize>,
}

impl Env<'_> {
    /// A line of this context's shape.
    pub fn line(&self, tags: crate::TagMap, label: String, values: Vec<f64>) -> TimeSeries {
        TimeSeries {
            tags,
            label,
            start: self.start,
            step: self.step,
            values,
        }
    }

    /// Timestamp of value `i`.
    pub fn time(&self, i: usize) -> i64 {
        self.start + self.step * i as i64
    }

    /// Accounts for `lines` more lines of this context's length; fails past the limit.
    pub fn charge(&self, lines: usize) -> Result<()> {
        let total = self
            .datapoints
            .get()
            .saturating_add(lines.saturating_mul(self.n));
        self.datapoints.set(total);
        if total > self.limits.max_datapoints {
            return Err(Error::Limit {
                what: "datapoints",
                limit: self.limits.max_datapoints,
                actual: total,
            });
        }
        Ok(())
    }
}

/// The evaluation state for `ctx`. With `lead`, like Atlas's graph
/// (`GraphConfig.evalContext`), it starts one step before the first returned value: stateful
/// words, `:stat` and constants see that step, and [`trim_lead`] drops it from every
/// returned line.
fn env<'a>(ctx: &EvalContext, db: &'a dyn Database, lead: bool) -> Result<Env<'a>> {
    if ctx.step <= 0 {
        return Err(Error::Eval(format!(
            "step must be positive, found {}",
            ctx.step
        )));
    }
    let n = ctx.len();
    if n > ctx.limits.max_datapoints {
        return Err(Error::Limit {
            what: "datapoints per line",
            limit: ctx.limits.max_datapoints,
            actual: n,
        });
    }
    let lead = usize::from(lead);
    let start = ctx
        .start
        .checked_sub(ctx.step * lead as i64)
        .ok_or_else(|| Error::Eval(format!("start {} is out of range", ctx.start)))?;
    Ok(Env {
        db,
        start,
        end: ctx.end,
        step: ctx.step,
        n: n + lead,
        lead,
        limits: ctx.limits,
        datapoints: Cell::new(0),
    })
}

/// Drops the lead steps that [`env`] adds, so the line starts at the context's start.
pub(crate) fn trim_lead(env: &Env<'_>, t: &mut TimeSeries) {
    let lead = env.lead.min(t.values.len());
    t.values.drain(..lead);
    t.start = t.start.saturating_add(t.step.saturating_mul(lead as i64));
}

/// Evaluates one expression to its lines, unsorted and without presentation, over exactly
/// the context's window (Atlas's `TimeSeriesExpr.eval(context, ...)`).
pub fn eval_expr(expr: &Expr, ctx: &EvalContext, db: &dyn Database) -> Result<Vec<TimeSeries>> {
    let env = env(ctx, db, false)?;
    eval(expr, &env)
}

/// Evaluates presentation expressions to graph lines: per expression, lines sorted by
/// label, then by the expression's `:sort`/`:order`, then cut to its `:limit`; legends
/// applied. Expressions keep their order.
///
/// As Atlas's graph API does, evaluation starts one step before `ctx.start` so stateful
/// words, `:stat` and constants see that step (`1,:integral` starts at 2); the returned
/// lines and their legend statistics cover `ctx` only.
pub fn evaluate(
    exprs: &[StyleExpr],
    ctx: &EvalContext,
    db: &dyn Database,
) -> Result<Vec<GraphLine>> {
    let env = env(ctx, db, true)?;
    let mut out = Vec::new();
    for (index, se) in exprs.iter().enumerate() {
        present::expression_lines(se, index, &env, &mut out)?;
        if out.len() > ctx.limits.max_lines {
            return Err(Error::Limit {
                what: "output lines",
                limit: ctx.limits.max_lines,
                actual: out.len(),
            });
        }
    }
    let points = out.len().saturating_mul(ctx.len());
    if points > ctx.limits.max_datapoints {
        return Err(Error::Limit {
            what: "output datapoints",
            limit: ctx.limits.max_datapoints,
            actual: points,
        });
    }
    Ok(out)
}

/// Evaluates any expression node, then checks the budgets: the node's lines must fit in
/// `max_datapoints` (words such as `:by`, `:offset` or math over many lines multiply the
/// work) and the database's own budget (time) must not be spent.
pub(crate) fn eval(expr: &Expr, env: &Env<'_>) -> Result<Vec<TimeSeries>> {
    env.db.check_budget().map_err(Error::Database)?;
    let lines = eval_node(expr, env)?;
    let points = lines.len().saturating_mul(env.n);
    if points > env.limits.max_datapoints {
        return Err(Error::Limit {
            what: "datapoints of one expression",
            limit: env.limits.max_datapoints,
            actual: points,
        });
    }
    env.db.check_budget().map_err(Error::Database)?;
    Ok(lines)
}

fn eval_node(expr: &Expr, env: &Env<'_>) -> Result<Vec<TimeSeries>> {
    match expr {
        Expr::Data(d) => data::eval_data(d, env),
        Expr::Const(_)
        | Expr::Random
        | Expr::SeededRandom(_)
        | Expr::Time(_)
        | Expr::TimeSpan(..) => synthetic::eval_synthetic(expr, env),
        Expr::Unary(..)
        | Expr::Clamp { .. }
        | Expr::Binary(..)
        | Expr::Aggregate(..)
        | Expr::GroupBy(..)
        | Expr::As(..)
        | Expr::Rewrite(..) => math::eval_math(expr, env),
        Expr::Percentiles { data, pcts } => percentiles::eval_percentiles(data, pcts, env),
        Expr::Stateful(op, e) => stateful::eval_stateful(op, e, env),
        Expr::ApproxDistinct { expr, cumulative } => {
            distinct::eval_approx_distinct(expr, *cumulative, env)
        }
        Expr::Stat(..)
        | Expr::StatPlaceholder(_)
        | Expr::Filter(..)
        | Expr::TopK { .. }
        | Expr::Consolidate { .. } => filter::eval_filter(expr, env),
    }
}

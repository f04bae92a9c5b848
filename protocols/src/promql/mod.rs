//! PromQL for Sextant: queries are parsed with `promql-parser`, translated onto
//! `sextant_query`'s expressions (see [`translate`]) and evaluated by the Atlas evaluator
//! on any [`Database`]; the answers have the Prometheus HTTP API's JSON shapes
//! ([`response`]). docs/promql.md lists what is supported and where Sextant differs.
//!
//! Evaluation runs on the store's step: an output time `T` reads the value of the step
//! interval that ends at or before `T` (`floor(T / step) * step`), which holds the samples
//! of `(T' - step, T']`, the way Prometheus reads the latest sample before `T`.

mod binary;
mod buckets;
pub mod node;
pub mod relabel;
pub mod response;
pub mod sets;
pub mod translate;

use std::collections::BTreeMap;

use sextant_query::{eval_expr, Database, EvalContext, Query, ScanRequest, TimeSeries};

use crate::labels::{key_from_atlas, value_from_atlas};
use node::{prom_labels, Ctx};
pub use response::{PromError, QueryData, Sample, SeriesResult};
use translate::Plan;

/// Prometheus's limit on points per series in one range query.
pub const MAX_POINTS: i64 = 11_000;

/// Bounds on one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Evaluator limits (lines and datapoints held).
    pub eval: sextant_query::Limits,
    /// Most series the metadata endpoints (series, labels, values) return.
    pub max_series: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            eval: sextant_query::Limits::default(),
            max_series: 10_000,
        }
    }
}

/// The grid of one query: the evaluation step and how output times map onto it.
#[derive(Debug, Clone, Copy)]
struct Grid {
    step: i64,
}

impl Grid {
    /// The grid for output times `span` ms apart at most, `step` ms apart (0 for an
    /// instant query).
    fn new(db_step: i64, span: i64, step: i64) -> Grid {
        let p = db_step.max(1);
        let points = span / p + 1;
        // Up to Prometheus's point limit, evaluate on the store's step and sample it, as
        // Prometheus samples its data. Longer ranges are evaluated on the largest multiple
        // of the store's step within the requested one (consolidated, as Atlas draws
        // long ranges), and never on more than four times the point limit.
        let m = if points <= MAX_POINTS {
            1
        } else {
            (step / p).max((points + MAX_POINTS * 4 - 1) / (MAX_POINTS * 4))
        };
        Grid { step: p * m.max(1) }
    }

    fn floor(&self, t: i64) -> i64 {
        t.div_euclid(self.step) * self.step
    }
}

/// Evaluates `text` at each of `times` (epoch ms, ascending).
fn run(
    db: &dyn Database,
    text: &str,
    times: &[i64],
    limits: Limits,
) -> Result<(Vec<SeriesResult>, bool), PromError> {
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return Ok((Vec::new(), false));
    };
    let step = times.get(1).map_or(0, |t| t - first);
    let grid = Grid::new(db.step(), last - first, step);
    let (g0, g1) = (grid.floor(first), grid.floor(last));
    let mut ctx = Ctx {
        db,
        text,
        step: grid.step,
        start: g0,
        end: g1 + grid.step,
        lookback: 0,
    };
    let plan = translate::translate(&mut ctx)?;
    let back = (ctx.lookback + grid.step - 1) / grid.step * grid.step;
    let eval = EvalContext {
        start: g0 - back,
        end: g1 + grid.step,
        step: grid.step,
        limits: limits.eval,
    };
    let (mut out, scalar) = answer(db, &plan, &eval, grid, times)?;
    out.retain(|s| !s.values.is_empty());
    out.sort_by(|a, b| a.metric.cmp(&b.metric));
    Ok((out, scalar))
}

/// The sampled answer of a plan: its series, and whether it is a scalar.
fn answer(
    db: &dyn Database,
    plan: &Plan,
    eval: &EvalContext,
    grid: Grid,
    times: &[i64],
) -> Result<(Vec<SeriesResult>, bool), PromError> {
    let (node, post) = match plan {
        Plan::Eval(n) => (n, None),
        Plan::BucketQuantile { phi, input } => (input, Some(Post::Buckets(*phi))),
        Plan::SeriesQuantile { phi, input, keys } => {
            (input, Some(Post::Series(*phi, keys.clone())))
        }
        Plan::Set {
            op,
            lhs,
            rhs,
            matching,
        } => {
            let (a, _) = answer(db, lhs, eval, grid, times)?;
            let (b, _) = answer(db, rhs, eval, grid, times)?;
            return Ok((sets::combine(*op, a, b, matching), false));
        }
        Plan::LabelReplace { input, args } => {
            let (mut a, scalar) = answer(db, input, eval, grid, times)?;
            args.apply(&mut a);
            return Ok((a, scalar));
        }
    };
    let lines = eval_expr(&node.expr, eval, db).map_err(|e| PromError::execution(e.to_string()))?;
    let sample = |line: &TimeSeries| -> Vec<(i64, f64)> {
        times
            .iter()
            .filter_map(|&t| {
                let i = (grid.floor(t) - eval.start) / grid.step;
                let v = usize::try_from(i)
                    .ok()
                    .and_then(|i| line.values.get(i))
                    .copied()
                    .unwrap_or(f64::NAN);
                (!v.is_nan()).then_some((t, v))
            })
            .collect()
    };
    let out: Vec<SeriesResult> = match &post {
        None => lines
            .iter()
            .map(|l| SeriesResult {
                metric: prom_labels(&l.tags, &node.labels),
                values: sample(l),
            })
            .collect(),
        Some(post) => {
            let grouped = match post {
                Post::Buckets(phi) => buckets::quantiles(*phi, &lines, node),
                Post::Series(phi, keys) => buckets::series_quantiles(*phi, &lines, keys.as_deref()),
            };
            grouped
                .iter()
                .map(|(metric, l)| SeriesResult {
                    metric: metric.clone(),
                    values: sample(l),
                })
                .collect()
        }
    };
    let out = out.into_iter().filter(|s| !s.values.is_empty()).collect();
    Ok((out, post.is_none() && node.scalar))
}

/// A step computed on the evaluator's output lines, for what the Atlas model has no
/// operator for.
enum Post {
    /// `histogram_quantile` over `le` buckets.
    Buckets(f64),
    /// `quantile` across lines, per group of these keys.
    Series(f64, Option<Vec<String>>),
}

/// `GET/POST /api/v1/query_range`: `start`, `end`, `step` in ms.
pub fn query_range(
    db: &dyn Database,
    text: &str,
    start: i64,
    end: i64,
    step: i64,
    limits: Limits,
) -> Result<QueryData, PromError> {
    if step <= 0 {
        return Err(PromError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if end < start {
        return Err(PromError::bad_data(
            "end timestamp must not be before start time".into(),
        ));
    }
    if (end - start) / step > MAX_POINTS {
        return Err(PromError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        ));
    }
    let times: Vec<i64> = (0..=(end - start) / step)
        .map(|k| start + k * step)
        .collect();
    let (series, _) = run(db, text, &times, limits)?;
    Ok(QueryData::Matrix(series))
}

/// `GET/POST /api/v1/query` at `time` (ms).
pub fn query_instant(
    db: &dyn Database,
    text: &str,
    time: i64,
    limits: Limits,
) -> Result<QueryData, PromError> {
    let (series, scalar) = run(db, text, &[time], limits)?;
    if scalar {
        let v = series
            .first()
            .and_then(|s| s.values.first())
            .map(|p| p.1)
            .unwrap_or(f64::NAN);
        return Ok(QueryData::Scalar(time, v));
    }
    Ok(QueryData::Vector(
        series
            .into_iter()
            .filter_map(|s| {
                s.values.first().map(|&(t, v)| Sample {
                    metric: s.metric,
                    time: t,
                    value: v,
                })
            })
            .collect(),
    ))
}

/// The tag query of one `match[]` selector (a series selector such as `up{job="x"}`).
pub fn match_query(selector: &str) -> Result<Query, PromError> {
    let ast = promql_parser::parser::parse(selector)
        .map_err(|e| PromError::bad_data(format!("invalid match[] selector {selector:?}: {e}")))?;
    match ast {
        promql_parser::parser::Expr::VectorSelector(vs) => translate::selector_query(&vs),
        _ => Err(PromError::bad_data(format!(
            "match[] must be a series selector: {selector:?}"
        ))),
    }
}

/// Calls `visit` with the Prometheus labels of every series matching any of `matchers`
/// (every series when empty) with a value in `[start, end]` (ms).
fn visit_series(
    db: &dyn Database,
    matchers: &[String],
    start: i64,
    end: i64,
    limits: Limits,
    visit: &mut dyn FnMut(BTreeMap<String, String>),
) -> Result<(), PromError> {
    let queries: Vec<Query> = if matchers.is_empty() {
        vec![Query::has("name")]
    } else {
        matchers
            .iter()
            .map(|m| match_query(m))
            .collect::<Result<_, _>>()?
    };
    let step = db.step().max(1);
    let s = start.div_euclid(step) * step;
    let e = end.div_euclid(step) * step + step;
    let mut seen = 0usize;
    for q in &queries {
        let req = ScanRequest {
            query: q,
            start: s,
            end: e,
        };
        db.scan(&req, &mut |tags, values| {
            if values.iter().any(|v| !v.is_nan()) {
                seen += 1;
                if seen > limits.max_series {
                    return Err(sextant_query::DatabaseError::Limit(format!(
                        "more than {} series match; narrow the match[] selectors or the time range",
                        limits.max_series
                    )));
                }
                visit(
                    tags.iter()
                        .filter(|(k, _)| !k.starts_with("atlas."))
                        .map(|(k, v)| {
                            (
                                key_from_atlas(k).into_owned(),
                                value_from_atlas(v).into_owned(),
                            )
                        })
                        .collect(),
                );
            }
            Ok(())
        })
        .map_err(|e| PromError::execution(e.to_string()))?;
    }
    Ok(())
}

/// `/api/v1/series`: the distinct label sets.
pub fn series(
    db: &dyn Database,
    matchers: &[String],
    start: i64,
    end: i64,
    limits: Limits,
) -> Result<Vec<BTreeMap<String, String>>, PromError> {
    if matchers.is_empty() {
        return Err(PromError::bad_data("no match[] parameter provided".into()));
    }
    let mut out = std::collections::BTreeSet::new();
    visit_series(db, matchers, start, end, limits, &mut |l| {
        out.insert(l);
    })?;
    Ok(out.into_iter().collect())
}

/// `/api/v1/labels`: the label names, sorted.
pub fn label_names(
    db: &dyn Database,
    matchers: &[String],
    start: i64,
    end: i64,
    limits: Limits,
) -> Result<Vec<String>, PromError> {
    let mut out = std::collections::BTreeSet::new();
    visit_series(db, matchers, start, end, limits, &mut |l| {
        out.extend(l.into_keys());
    })?;
    Ok(out.into_iter().collect())
}

/// `/api/v1/label/<name>/values`: the values of one label, sorted.
pub fn label_values(
    db: &dyn Database,
    name: &str,
    matchers: &[String],
    start: i64,
    end: i64,
    limits: Limits,
) -> Result<Vec<String>, PromError> {
    let mut out = std::collections::BTreeSet::new();
    visit_series(db, matchers, start, end, limits, &mut |mut l| {
        if let Some(v) = l.remove(name) {
            out.insert(v);
        }
    })?;
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests;

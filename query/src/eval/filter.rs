//! Filters over whole lines: summary statistics, `:filter`, top/bottom k, `:consolidate`.
//!
//! Atlas reference: `FilterExpr.scala`, `SummaryStats.scala`, `BoundedPriorityBuffer.scala`.

use std::cmp::Ordering;

use super::fold::{consolidate_chunk, fold};
use super::{eval, Env};
use crate::error::{Error, Result};
use crate::model::{truthy, AggrFn, Expr, OthersFn, StatKind};
use crate::{TagMap, TimeSeries};

/// Summary statistics over a line, ignoring NaN. With no values, count is 0 and the rest NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryStats {
    /// Number of values present.
    pub count: usize,
    /// Sum of the values present.
    pub total: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Last value present.
    pub last: f64,
}

impl SummaryStats {
    /// Statistics of `values`.
    pub fn of(values: &[f64]) -> SummaryStats {
        let mut s = SummaryStats {
            count: 0,
            total: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
            last: f64::NAN,
        };
        for &v in values.iter().filter(|v| !v.is_nan()) {
            s.count += 1;
            s.total = if s.count == 1 { v } else { s.total + v };
            s.min = fold(AggrFn::Min, s.min, v);
            s.max = fold(AggrFn::Max, s.max, v);
            s.last = v;
        }
        s
    }

    /// One statistic by kind.
    pub fn get(&self, kind: StatKind) -> f64 {
        match kind {
            StatKind::Avg => {
                if self.count == 0 {
                    f64::NAN
                } else {
                    self.total / self.count as f64
                }
            }
            StatKind::Max => self.max,
            StatKind::Min => self.min,
            StatKind::Last => self.last,
            StatKind::Total => self.total,
            StatKind::Count => self.count as f64,
        }
    }
}

/// Java's `Double.compare`: NaN is greater than everything, including +Inf.
pub(crate) fn java_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Replaces `:stat-*` placeholders in a filter condition by the statistic of `input`.
fn substitute(cond: &Expr, input: &Expr) -> Expr {
    match cond {
        Expr::StatPlaceholder(kind) => Expr::Stat(Box::new(input.clone()), *kind),
        // A nested filter keeps its own placeholders.
        Expr::Filter(..) => cond.clone(),
        other => {
            let mut e = other.clone();
            for c in e.children_mut() {
                *c = substitute(c, input);
            }
            e
        }
    }
}

fn filter(input: &Expr, cond: &Expr, env: &Env<'_>) -> Result<Vec<TimeSeries>> {
    let lines = eval(input, env)?;
    let cond = substitute(cond, input);
    let checks = eval(&cond, env)?;
    let keep = |t: &TimeSeries| t.values.iter().any(|v| truthy(*v));
    match (input.group_keys(), cond.group_keys()) {
        (_, None) if checks.len() <= 1 => {
            let all = checks.first().is_some_and(keep);
            Ok(if all { lines } else { Vec::new() })
        }
        (keys, ckeys) => {
            // Match lines by the condition's group keys, or by all tags when ungrouped.
            let key_of = |tags: &TagMap| -> Option<Vec<(String, String)>> {
                match &ckeys {
                    Some(ks) => ks
                        .iter()
                        .map(|k| tags.get(k).map(|v| (k.clone(), v.clone())))
                        .collect(),
                    None => Some(tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                }
            };
            let _ = keys;
            let passing: Vec<Vec<(String, String)>> = checks
                .iter()
                .filter(|t| keep(t))
                .filter_map(|t| key_of(&t.tags))
                .collect();
            Ok(lines
                .into_iter()
                .filter(|t| key_of(&t.tags).is_some_and(|k| passing.contains(&k)))
                .collect())
        }
    }
}

fn top_k(
    e: &Expr,
    stat: StatKind,
    k: usize,
    bottom: bool,
    others: Option<OthersFn>,
    env: &Env<'_>,
) -> Result<Vec<TimeSeries>> {
    let lines = eval(e, env)?;
    let mut ranked: Vec<(f64, TimeSeries)> = lines
        .into_iter()
        .map(|t| (SummaryStats::of(&t.values).get(stat), t))
        .collect();
    // Stable sort keeps the earlier line on ties.
    if bottom {
        ranked.sort_by(|a, b| java_cmp(a.0, b.0));
    } else {
        ranked.sort_by(|a, b| java_cmp(b.0, a.0));
    }
    let rest = if ranked.len() > k {
        ranked.split_off(k)
    } else {
        Vec::new()
    };
    let mut out: Vec<TimeSeries> = ranked.into_iter().map(|(_, t)| t).collect();
    if let (Some(f), Some((_, first))) = (others, rest.first()) {
        let mut tags = first.tags.clone();
        for key in e.group_keys().unwrap_or_default() {
            tags.insert(key, "--others--".into());
        }
        let mut sum = vec![f64::NAN; env.n];
        let mut acc = vec![f64::NAN; env.n];
        let mut count = vec![f64::NAN; env.n];
        for (_, t) in &rest {
            for i in 0..env.n {
                let v = t.values.get(i).copied().unwrap_or(f64::NAN);
                if let (Some(s), Some(a), Some(c)) =
                    (sum.get_mut(i), acc.get_mut(i), count.get_mut(i))
                {
                    *s = fold(AggrFn::Sum, *s, v);
                    *c = fold(AggrFn::Count, *c, v);
                    *a = match f {
                        OthersFn::Min => fold(AggrFn::Min, *a, v),
                        OthersFn::Max => fold(AggrFn::Max, *a, v),
                        _ => *a,
                    };
                }
            }
        }
        let values = match f {
            OthersFn::Sum => sum,
            OthersFn::Avg => sum.iter().zip(&count).map(|(s, c)| s / c).collect(),
            OthersFn::Min | OthersFn::Max => acc,
        };
        let label = format!("others-{}", f.name());
        out.push(env.line(tags, label, values));
    }
    Ok(out)
}

pub(crate) fn eval_filter(expr: &Expr, env: &Env<'_>) -> Result<Vec<TimeSeries>> {
    match expr {
        Expr::Stat(e, kind) => {
            let mut lines = eval(e, env)?;
            for t in &mut lines {
                let v = SummaryStats::of(&t.values).get(*kind);
                t.values.iter_mut().for_each(|x| *x = v);
                t.label = format!("stat-{}({})", kind.name(), t.label);
            }
            Ok(lines)
        }
        Expr::StatPlaceholder(kind) => Err(Error::Eval(format!(
            ":stat-{} can only be used inside the condition of :filter",
            kind.name()
        ))),
        Expr::Filter(input, cond) => filter(input, cond, env),
        Expr::TopK {
            expr,
            stat,
            k,
            bottom,
            others,
        } => top_k(expr, *stat, *k, *bottom, *others, env),
        Expr::Consolidate { expr, cf, step } => {
            let mut lines = eval(expr, env)?;
            // The new step is rounded up to a multiple of the graph step.
            let m = ((*step + env.step - 1) / env.step).max(1) as usize;
            let big = m as i64 * env.step;
            for t in &mut lines {
                let old = std::mem::take(&mut t.values);
                t.values = (0..old.len())
                    .map(|i| {
                        // The block of the larger step that ends at or after this point.
                        let time = t.start + i as i64 * t.step;
                        let block_end = time.div_euclid(big) * big
                            + if time.rem_euclid(big) == 0 { 0 } else { big };
                        let step = t.step.max(1);
                        let last =
                            ((block_end - t.start) / step).clamp(0, old.len() as i64 - 1) as usize;
                        let first = ((block_end - big - t.start) / step + 1).max(0) as usize;
                        let chunk = old.get(first..=last).unwrap_or(&[]);
                        consolidate_chunk(chunk, chunk.len().max(1), *cf, true)
                    })
                    .collect();
            }
            Ok(lines)
        }
        _ => Ok(Vec::new()),
    }
}

//! Math over lines: pointwise operators, joins of two operands, aggregates and group by
//! across lines, `:as`, named rewrites.
//!
//! Atlas reference: `MathExpr.scala` (`BinaryMathExpr`, `AggrMathExpr`, `GroupBy`).

use std::collections::{BTreeMap, HashMap};

use super::data::no_data;
use super::fold::fold;
use super::{eval, Env};
use crate::error::{Error, Result};
use crate::model::rewrite::rewrite;
use crate::model::{tags_label, AggrFn, BinaryOp, Expr};
use crate::{TagMap, TimeSeries};

/// Atlas's `AggrMathExpr.filterKeys`: the tags of `head` whose keys `:eq` fixes in the
/// first data expression; all of them when there is no data expression (constants).
fn first_exact(e: &Expr, head: &TagMap) -> TagMap {
    let mut keys: Option<Vec<String>> = None;
    e.visit_data(&mut |d| {
        if keys.is_none() {
            keys = Some(
                d.query()
                    .exact_keys()
                    .into_iter()
                    .map(|(k, _)| k.to_string())
                    .collect(),
            );
        }
    });
    match keys {
        Some(keys) => head
            .iter()
            .filter(|(k, _)| keys.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        None => head.clone(),
    }
}

/// Atlas's `GroupBy.queryKeys`: keys that `:eq` fixes in every data expression.
fn common_exact_keys(e: &Expr) -> Vec<String> {
    let mut common: Option<Vec<String>> = None;
    e.visit_data(&mut |d| {
        let keys: Vec<String> = d
            .query()
            .exact_keys()
            .into_iter()
            .map(|(k, _)| k.to_string())
            .collect();
        common = Some(match common.take() {
            None => keys,
            Some(c) => c.into_iter().filter(|k| keys.contains(k)).collect(),
        });
    });
    common.unwrap_or_default()
}

fn project(tags: &TagMap, keys: &[String]) -> Option<Vec<String>> {
    keys.iter().map(|k| tags.get(k).cloned()).collect()
}

fn combine(
    op: BinaryOp,
    a: &TimeSeries,
    b: &TimeSeries,
    tags: TagMap,
    env: &Env<'_>,
) -> TimeSeries {
    // Math keeps its input's tags, and the label is derived from them
    // (`TimeSeries.binaryOp` in Atlas).
    let label = tags_label(&tags);
    let values = (0..env.n)
        .map(|i| {
            let x = a.values.get(i).copied().unwrap_or(f64::NAN);
            let y = b.values.get(i).copied().unwrap_or(f64::NAN);
            op.apply(x, y)
        })
        .collect();
    env.line(tags, label, values)
}

fn binary(op: BinaryOp, a: &Expr, b: &Expr, env: &Env<'_>) -> Result<Vec<TimeSeries>> {
    let (la, lb) = (eval(a, env)?, eval(b, env)?);
    let mut out = Vec::new();
    match (a.group_keys(), b.group_keys()) {
        (Some(ka), Some(kb)) => {
            // The side with the superset keys drives; lines join on the subset keys.
            let left_drives = kb.iter().all(|k| ka.contains(k));
            let (driver, other, keys) = if left_drives {
                (&la, &lb, kb)
            } else {
                (&lb, &la, ka)
            };
            let mut index: HashMap<Vec<String>, &TimeSeries> = HashMap::new();
            for t in other {
                if let Some(k) = project(&t.tags, &keys) {
                    if index.insert(k.clone(), t).is_some() {
                        return Err(Error::Eval(format!(
                            "too many values for key {k:?} in binary operation"
                        )));
                    }
                }
            }
            for t in driver {
                let Some(o) = project(&t.tags, &keys).and_then(|k| index.get(&k).copied()) else {
                    continue; // inner join: unmatched lines are dropped
                };
                let line = if left_drives {
                    combine(op, t, o, t.tags.clone(), env)
                } else {
                    combine(op, o, t, t.tags.clone(), env)
                };
                out.push(line);
            }
        }
        (ka, kb) => {
            // An ungrouped operand joins its single line with every line of the other.
            let single = |lines: &Vec<TimeSeries>, grouped_other: bool| -> Result<()> {
                if lines.len() > 1 && grouped_other {
                    return Err(Error::Eval(format!(
                        "ungrouped operand of a binary operation has {} lines, expected 1",
                        lines.len()
                    )));
                }
                Ok(())
            };
            single(&la, kb.is_some())?;
            single(&lb, ka.is_some())?;
            let left_multi = ka.is_some() || (kb.is_none() && lb.len() == 1);
            if la.is_empty() || lb.is_empty() {
                // an empty ungrouped side (e.g. a :filter that kept nothing) empties the result
            } else if left_multi && lb.len() == 1 {
                for t in &la {
                    out.push(combine(op, t, &lb[0], t.tags.clone(), env));
                }
            } else if la.len() == 1 {
                for t in &lb {
                    out.push(combine(op, &la[0], t, t.tags.clone(), env));
                }
            } else {
                return Err(Error::Eval(format!(
                    "both operands of a binary operation have several lines ({} and {}) \
                     but no grouping to join them",
                    la.len(),
                    lb.len()
                )));
            }
        }
    }
    env.charge(out.len())?;
    Ok(out)
}

fn aggregate(f: AggrFn, e: &Expr, env: &Env<'_>) -> Result<Vec<TimeSeries>> {
    let lines = eval(e, env)?;
    if lines.is_empty() {
        return Ok(vec![no_data(env, TagMap::new())]);
    }
    let tags = first_exact(e, &lines[0].tags);
    let label = format!("{}({})", f.name(), tags_label(&tags));
    let mut acc = vec![f64::NAN; env.n];
    for t in &lines {
        for (x, &v) in acc.iter_mut().zip(&t.values) {
            *x = fold(f, *x, v);
        }
    }
    Ok(vec![env.line(tags, label, acc)])
}

fn group_by(f: AggrFn, e: &Expr, keys: &[String], env: &Env<'_>) -> Result<Vec<TimeSeries>> {
    let lines = eval(e, env)?;
    // Kept tags: the keys every data expression fixes, plus the group keys, taken from the
    // first line of each group (Atlas's `MathExpr.GroupBy`).
    let mut kept = common_exact_keys(e);
    kept.extend(keys.iter().cloned());
    let mut groups: BTreeMap<Vec<String>, (TagMap, Vec<f64>)> = BTreeMap::new();
    for t in &lines {
        let Some(k) = project(&t.tags, keys) else {
            continue;
        };
        let (_, acc) = groups.entry(k).or_insert_with(|| {
            let tags = t
                .tags
                .iter()
                .filter(|(k, _)| kept.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (tags, vec![f64::NAN; env.n])
        });
        for (x, &v) in acc.iter_mut().zip(&t.values) {
            *x = fold(f, *x, v);
        }
    }
    let mut out: Vec<TimeSeries> = groups
        .into_iter()
        .map(|(k, (tags, values))| {
            let parts: Vec<String> = keys
                .iter()
                .zip(&k)
                .map(|(key, v)| format!("{key}={v}"))
                .collect();
            env.line(tags, format!("({})", parts.join(" ")), values)
        })
        .collect();
    out.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(out)
}

pub(crate) fn eval_math(expr: &Expr, env: &Env<'_>) -> Result<Vec<TimeSeries>> {
    match expr {
        Expr::Unary(op, e) => {
            let mut lines = eval(e, env)?;
            for t in &mut lines {
                for v in &mut t.values {
                    *v = op.apply(*v, env.step);
                }
                // The label is derived from the kept tags (`TimeSeries.unaryOp` in Atlas).
                t.label = tags_label(&t.tags);
            }
            Ok(lines)
        }
        Expr::Clamp { max, bound, expr } => {
            let mut lines = eval(expr, env)?;
            for t in &mut lines {
                for v in &mut t.values {
                    // NaN passes through: the comparison is false.
                    if (*max && *v > *bound) || (!*max && *v < *bound) {
                        *v = *bound;
                    }
                }
                t.label = tags_label(&t.tags);
            }
            Ok(lines)
        }
        Expr::Binary(op, a, b) => binary(*op, a, b, env),
        Expr::Aggregate(f, e) => {
            // On a plain aggregate, :sum/:min/:max are no-ops (Atlas returns the input).
            if matches!(**e, Expr::Data(crate::DataExpr::Aggregate(_))) && *f != AggrFn::Count {
                return eval(e, env);
            }
            aggregate(*f, e, env)
        }
        Expr::GroupBy(f, e, keys) => group_by(*f, e, keys, env),
        Expr::As(e, from, to) => {
            let mut lines = eval(e, env)?;
            for t in &mut lines {
                // A label derived from the tags follows them (Atlas's lazy label); an
                // explicit one stays.
                let derived = t.label == tags_label(&t.tags);
                if let Some(v) = t.tags.remove(from) {
                    t.tags.insert(to.clone(), v);
                }
                if derived {
                    t.label = tags_label(&t.tags);
                }
            }
            Ok(lines)
        }
        Expr::Rewrite(kind, input, keys) => eval(&rewrite(*kind, input, keys), env),
        _ => Ok(Vec::new()),
    }
}

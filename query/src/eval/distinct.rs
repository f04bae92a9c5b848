//! `:approx-distinct`: HyperLogLog estimates from the register series of Spectator's
//! `DistinctCountSketch` (`statistic=distinct`, one series per register tagged
//! `distinct=R<hex index>`, value = the register, i.e. the largest rank seen).
//!
//! The estimate is the classic HyperLogLog one (Flajolet et al. 2007) with the small-range
//! (linear counting) correction; atlas.md does not describe Atlas's estimator further.

use std::collections::BTreeMap;

use super::{eval, stateful, Env};
use crate::error::{Error, Result};
use crate::model::{tags_label, AggrFn, DataExpr, Expr, StatefulOp};
use crate::{Query, TagMap, TimeSeries};

/// Largest register count accepted. A sketch this large already needs 65,536 lines, far past
/// the default line limit, so anything bigger is a tagging mistake rather than a sketch.
const MAX_REGISTERS: usize = 1 << 16;

/// Reads each data expression as the max of every register: the union of sketches from
/// several instances is the register-wise max, and `distinct` becomes a group key.
fn registers(d: &mut DataExpr) {
    let distinct = Query::eq("statistic", "distinct");
    match d {
        DataExpr::All { query, .. } => *query = query.clone().and(distinct),
        DataExpr::Aggregate(a) => {
            let mut aggr = a.clone();
            aggr.func = AggrFn::Max;
            aggr.query = aggr.query.and(distinct);
            *d = DataExpr::GroupBy {
                aggr,
                keys: vec!["distinct".into()],
            };
        }
        DataExpr::GroupBy { aggr, keys } => {
            aggr.func = AggrFn::Max;
            aggr.query = aggr.query.clone().and(distinct);
            if !keys.iter().any(|k| k == "distinct") {
                keys.push("distinct".into());
            }
        }
    }
}

/// `R1F` → 31.
fn register_index(tag: &str) -> Option<usize> {
    let idx = usize::from_str_radix(tag.strip_prefix('R')?, 16).ok()?;
    (idx < MAX_REGISTERS).then_some(idx)
}

/// HyperLogLog's bias constant for `m` registers.
fn alpha(m: usize) -> f64 {
    match m {
        16 => 0.673,
        32 => 0.697,
        64 => 0.709,
        _ => 0.7213 / (1.0 + 1.079 / m as f64),
    }
}

/// The estimate from `m` registers given the non-zero ones; NaN when no register has a value
/// at this step (no data, rather than zero distinct values).
pub(crate) fn estimate(m: usize, present: &[f64]) -> f64 {
    if present.is_empty() {
        return f64::NAN;
    }
    let m_f = m as f64;
    let zeros = m.saturating_sub(present.iter().filter(|r| **r > 0.0).count());
    let set = present.iter().filter(|r| **r > 0.0);
    let sum: f64 = set.map(|r| (-r).exp2()).sum::<f64>() + zeros as f64;
    let raw = alpha(m) * m_f * m_f / sum;
    if raw <= 2.5 * m_f && zeros > 0 {
        m_f * (m_f / zeros as f64).ln()
    } else {
        raw
    }
}

/// One line per group of registers (the lines' tags without `distinct`).
pub(crate) fn eval_approx_distinct(
    expr: &Expr,
    cumulative: bool,
    env: &Env<'_>,
) -> Result<Vec<TimeSeries>> {
    let mut input = expr.clone();
    input.visit_data_mut(&mut registers);
    let mut lines = eval(&input, env)?;
    if cumulative {
        for l in &mut lines {
            l.values = stateful::apply(&StatefulOp::CumulativeMax, &l.values, env.start, env.step);
        }
    }
    // group tags -> register index -> line indexes (several when `:all` keeps instances)
    let mut groups: BTreeMap<TagMap, BTreeMap<usize, Vec<usize>>> = BTreeMap::new();
    for (li, l) in lines.iter().enumerate() {
        let Some(tag) = l.tags.get("distinct") else {
            return Err(Error::Eval(format!(
                ":approx-distinct needs register lines tagged distinct=R<hex>, found {}",
                l.label
            )));
        };
        let Some(idx) = register_index(tag) else {
            return Err(Error::Eval(format!("invalid distinct register: {tag}")));
        };
        let mut tags = l.tags.clone();
        tags.remove("distinct");
        groups
            .entry(tags)
            .or_default()
            .entry(idx)
            .or_default()
            .push(li);
    }
    env.charge(groups.len())?;
    let mut out = Vec::with_capacity(groups.len());
    let mut present = Vec::new();
    for (tags, regs) in groups {
        // Sketches use a power-of-two register count, at least 16.
        let top = regs.keys().next_back().copied().unwrap_or(0);
        let m = (top + 1).next_power_of_two().max(16);
        let values: Vec<f64> = (0..env.n)
            .map(|i| {
                present.clear();
                for members in regs.values() {
                    let v = members
                        .iter()
                        .filter_map(|li| lines.get(*li).and_then(|l| l.values.get(i)))
                        .copied()
                        .filter(|v| !v.is_nan())
                        .fold(f64::NAN, f64::max);
                    if !v.is_nan() {
                        present.push(v);
                    }
                }
                estimate(m, &present)
            })
            .collect();
        let label = format!("approx-distinct({})", tags_label(&tags));
        out.push(env.line(tags, label, values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_follow_the_hyperloglog_formula() {
        // Linear counting: 16 registers, 2 set → 16 ln(16/14).
        let e = estimate(16, &[1.0, 2.0]);
        assert!((e - 16.0 * (16.0f64 / 14.0).ln()).abs() < 1e-12, "{e}");
        // All 16 registers at rank 5: raw = 0.673 * 256 / (16 / 32) = 344.576 > 2.5 m.
        let e = estimate(16, &[5.0; 16]);
        assert!((e - 0.673 * 256.0 * 2.0).abs() < 1e-9, "{e}");
        assert!(estimate(16, &[]).is_nan());
        assert_eq!(register_index("R1F"), Some(31));
        assert_eq!(register_index("x"), None);
    }
}

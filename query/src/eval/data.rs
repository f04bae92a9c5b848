//! Data expressions: scan the store once and fold each series into a collector.
//!
//! Atlas reference: `DataExpr.scala`, `AggregateCollector.scala`, `TimeSeriesBuffer.scala`,
//! `MapStepTimeSeq.scala` (consolidation: gauges average over the points present, rates
//! over the whole step multiple).

use std::collections::BTreeMap;

use super::fold::fold_scan;
use super::Env;
use crate::error::{Error, Result};
use crate::model::{fmt_duration, tags_label, DataExpr};
use crate::{DatabaseError, FoldRequest, Folded, Query, TagMap, TimeSeries};

/// The tags `:eq` clauses fix, which aggregated output keeps.
fn exact_tags(q: &Query) -> TagMap {
    q.exact_keys()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The all-NaN line of an aggregate with no input.
pub(crate) fn no_data(env: &Env<'_>, tags: TagMap) -> TimeSeries {
    let tags = if tags.is_empty() {
        TagMap::from([("name".to_string(), "NO_DATA".to_string())])
    } else {
        tags
    };
    env.line(tags, "NO DATA".into(), vec![f64::NAN; env.n])
}

pub(crate) fn eval_data(d: &DataExpr, env: &Env<'_>) -> Result<Vec<TimeSeries>> {
    let primary = env.db.step();
    if primary <= 0 || env.step % primary != 0 {
        return Err(Error::Eval(format!(
            "step {}ms is not a multiple of the primary step {primary}ms",
            env.step
        )));
    }
    let m = (env.step / primary) as usize;
    let offset = d.offset();
    let shift = offset.div_euclid(env.step) * env.step;
    let query = d.query();
    let mut out: Vec<TimeSeries> = Vec::new();
    if env.n == 0 {
        return Ok(out);
    }
    // The consolidated point at T combines primary points T-(m-1)p ..= T.
    let lead = (m as i64 - 1) * primary;
    let n = env.n;
    let scan_start = env
        .start
        .checked_sub(shift)
        .and_then(|s| s.checked_sub(lead))
        .ok_or_else(|| Error::Eval(format!("offset {} is out of range", fmt_duration(offset))))?;
    // Only the consolidated points `first..last` can hold data: the rest of the window is
    // outside what the store holds, and is neither scanned nor allocated.
    let (first, last) = held_points(scan_start, env.step, n, env.db.extent());
    // Decided before the store allocates its buffer for one series' primary points.
    let scan_points = (last - first).saturating_mul(m);
    if scan_points > env.limits.max_datapoints {
        return Err(Error::Limit {
            what: "primary datapoints scanned per series",
            limit: env.limits.max_datapoints,
            actual: scan_points,
        });
    }
    let max_lines = env.limits.max_lines;
    let request = FoldRequest {
        expr: d,
        start: scan_start + first as i64 * env.step,
        end: scan_start + last as i64 * env.step,
        multiple: m,
        points: n,
        held: first..last,
        // Groups stop at what the datapoint budget can hold, lines at that or the line
        // limit: past it they are only counted, so a broad query fails without holding
        // everything it matched.
        max_lines: max_lines.min(env.limits.max_datapoints / n.max(1)),
        deadline: None,
        coverage: None,
    };
    let folded = match env.db.fold(&request) {
        Some(folded) => folded,
        None => fold_scan(env.db, &request),
    }
    .map_err(db_error)?;
    match (d, folded) {
        (DataExpr::All { .. }, Folded::Lines { lines, over }) => {
            env.charge(lines.len().min(max_lines))?;
            check_lines(lines.len() + over, max_lines)?;
            for (tags, values) in lines {
                let tags: TagMap = tags.into_iter().collect();
                let label = tags_label(&tags);
                out.push(env.line(tags, label, values));
            }
        }
        (DataExpr::Aggregate(a), Folded::Aggregate(acc)) => {
            env.charge(1)?;
            let exact = exact_tags(&a.query);
            match acc {
                None => out.push(no_data(env, exact)),
                Some(acc) => {
                    let tags = if exact.is_empty() {
                        TagMap::from([("name".to_string(), "unknown".to_string())])
                    } else {
                        exact
                    };
                    let label = tags_label(&tags);
                    out.push(env.line(tags, label, acc));
                }
            }
        }
        (DataExpr::GroupBy { aggr, keys }, Folded::Groups { groups, overflow }) => {
            let total = groups.len() + overflow.len();
            check_lines(total, max_lines)?;
            env.charge(total)?;
            let exact = exact_tags(&aggr.query);
            let mut sorted: BTreeMap<String, TimeSeries> = BTreeMap::new();
            for (key, values) in groups {
                let mut tags = exact.clone();
                let mut label = String::from("(");
                for (i, (k, v)) in keys.iter().zip(&key).enumerate() {
                    if i > 0 {
                        label.push(' ');
                    }
                    label.push_str(&format!("{k}={v}"));
                    tags.insert(k.clone(), v.clone());
                }
                label.push(')');
                sorted.insert(label.clone(), env.line(tags, label, values));
            }
            out.extend(sorted.into_values());
        }
        (_, folded) => {
            return Err(Error::Database(DatabaseError::Storage(format!(
                "the database answered {d} with a result of another kind: {:?}",
                std::mem::discriminant(&folded)
            ))))
        }
    }
    // A regular expression that gave up on a value stopped matching: the lines would be
    // incomplete, so the request fails instead.
    query
        .check_patterns()
        .map_err(|e| Error::Eval(e.to_string()))?;
    Ok(out)
}

/// The consolidated points `first..last` of `n` (each `step` wide, the first starting at
/// `scan_start`) that overlap `extent`; all of them when the store cannot say.
fn held_points(scan_start: i64, step: i64, n: usize, extent: Option<(i64, i64)>) -> (usize, usize) {
    let Some((from, to)) = extent else {
        return (0, n);
    };
    if to <= from || step <= 0 {
        return (0, 0);
    }
    // Point j reads primary points in [scan_start + j*step, scan_start + (j+1)*step).
    let index = |t: i64| -> usize {
        let j = (i128::from(t) - i128::from(scan_start)).div_euclid(i128::from(step));
        j.clamp(0, n as i128) as usize
    };
    let first = index(from);
    // One past the point holding the last timestamp before `to`.
    let last = index(to - 1)
        .saturating_add(usize::from(to > scan_start))
        .min(n);
    if first >= last {
        (0, 0)
    } else {
        (first, last)
    }
}

fn check_lines(actual: usize, limit: usize) -> Result<()> {
    if actual > limit {
        return Err(Error::Limit {
            what: "lines",
            limit,
            actual,
        });
    }
    Ok(())
}

fn db_error(e: DatabaseError) -> Error {
    Error::Database(e)
}

#[cfg(test)]
mod extent_tests {
    use super::held_points;

    /// Points are 10 wide from 0: point j reads [10j, 10j + 10).
    #[test]
    fn only_points_overlapping_the_extent_are_held() {
        assert_eq!(held_points(0, 10, 5, None), (0, 5));
        assert_eq!(held_points(0, 10, 5, Some((20, 30))), (2, 3));
        assert_eq!(held_points(0, 10, 5, Some((15, 31))), (1, 4));
        assert_eq!(held_points(0, 10, 5, Some((-1_000, 1_000_000))), (0, 5));
        assert_eq!(held_points(0, 10, 5, Some((100, 200))), (0, 0));
        assert_eq!(held_points(0, 10, 5, Some((-100, -1))), (0, 0));
        assert_eq!(held_points(0, 10, 5, Some((7, 7))), (0, 0));
        // Ten thousand years of one-minute points: only the recent end is held.
        let year = 365 * 86_400_000i64;
        let n = (10_000 * year / 60_000) as usize;
        let now = 1_700_000_000_000;
        let (first, last) =
            held_points(now - 10_000 * year, 60_000, n, Some((now - 3_600_000, now)));
        assert_eq!(last - first, 60);
    }
}

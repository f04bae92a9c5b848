//! Data expressions: scan the store once and fold each series into a collector.
//!
//! Atlas reference: `DataExpr.scala`, `AggregateCollector.scala`, `TimeSeriesBuffer.scala`,
//! `MapStepTimeSeq.scala` (consolidation: gauges average over the points present, rates
//! over the whole step multiple).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use super::Env;
use crate::error::{Error, Result};
use crate::model::{add_nan, fmt_duration, tags_label, AggrFn, Cf, DataExpr};
use crate::{DatabaseError, Query, ScanRequest, TagMap, TimeSeries};

/// Folds `v` into `acc` with the NaN rules of an aggregate.
pub(crate) fn fold(func: AggrFn, acc: f64, v: f64) -> f64 {
    match func {
        AggrFn::Sum => add_nan(acc, v),
        AggrFn::Count => {
            if v.is_nan() {
                acc
            } else if acc.is_nan() {
                1.0
            } else {
                acc + 1.0
            }
        }
        AggrFn::Min => {
            if acc.is_nan() || v < acc {
                v
            } else {
                acc
            }
        }
        AggrFn::Max => {
            if acc.is_nan() || v > acc {
                v
            } else {
                acc
            }
        }
    }
}

/// Consolidates `m` primary points per output point into `out`.
pub(crate) fn consolidate(values: &[f64], m: usize, cf: Cf, gauge: bool, out: &mut [f64]) {
    if m <= 1 {
        for (i, o) in out.iter_mut().enumerate() {
            *o = values.get(i).copied().unwrap_or(f64::NAN);
        }
        return;
    }
    for (j, o) in out.iter_mut().enumerate() {
        let chunk = values.get(j * m..(j + 1) * m).unwrap_or(&[]);
        *o = consolidate_chunk(chunk, m, cf, gauge);
    }
}

/// One consolidated point; `m` is the step multiple (the rate average divides by it).
pub(crate) fn consolidate_chunk(chunk: &[f64], m: usize, cf: Cf, gauge: bool) -> f64 {
    let mut acc = f64::NAN;
    let mut count = 0usize;
    for &v in chunk {
        if v.is_nan() {
            continue;
        }
        count += 1;
        acc = match cf {
            Cf::Sum | Cf::Avg => add_nan(acc, v),
            Cf::Min => fold(AggrFn::Min, acc, v),
            Cf::Max => fold(AggrFn::Max, acc, v),
        };
    }
    match cf {
        Cf::Avg if count == 0 => f64::NAN,
        Cf::Avg if gauge => acc / count as f64,
        Cf::Avg => acc / m as f64,
        _ => acc,
    }
}

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

struct Group {
    values: Vec<f64>,
}

fn key_hash(key: &[&str]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
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
    let request = ScanRequest {
        query,
        start: scan_start + first as i64 * env.step,
        end: scan_start + last as i64 * env.step,
    };
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
    let mut buf = vec![f64::NAN; n];
    // Points outside `first..last` stay NaN in every line.
    let held = first..last;
    match d {
        DataExpr::All { .. } => {
            let mut over = 0usize;
            env.db
                .scan(&request, &mut |tags, values| {
                    if out.len() + over >= max_lines {
                        over += 1;
                        return Ok(());
                    }
                    let gauge = is_gauge(tags);
                    consolidate(values, m, Cf::Sum, gauge, &mut buf[held.clone()]);
                    let tags: TagMap = tags
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    let label = tags_label(&tags);
                    env.charge(1).map_err(limit_to_db)?;
                    out.push(env.line(tags, label, buf.clone()));
                    Ok(())
                })
                .map_err(db_error)?;
            check_lines(out.len() + over, max_lines)?;
        }
        DataExpr::Aggregate(a) => {
            let mut acc = vec![f64::NAN; n];
            let mut seen = false;
            env.db
                .scan(&request, &mut |tags, values| {
                    seen = true;
                    consolidate(values, m, a.cf, is_gauge(tags), &mut buf[held.clone()]);
                    for (x, &v) in acc.iter_mut().zip(&buf) {
                        *x = fold(a.func, *x, v);
                    }
                    Ok(())
                })
                .map_err(db_error)?;
            env.charge(1)?;
            let exact = exact_tags(&a.query);
            if !seen {
                out.push(no_data(env, exact));
            } else {
                let tags = if exact.is_empty() {
                    TagMap::from([("name".to_string(), "unknown".to_string())])
                } else {
                    exact
                };
                let label = tags_label(&tags);
                out.push(env.line(tags, label, acc));
            }
        }
        DataExpr::GroupBy { aggr, keys } => {
            let mut groups: HashMap<Vec<String>, Group> = HashMap::new();
            // Past the limit we keep counting distinct keys (by hash) to say how far over.
            let mut overflow: HashSet<u64> = HashSet::new();
            let max_groups = max_lines.min(env.limits.max_datapoints / n.max(1));
            env.db
                .scan(&request, &mut |tags, values| {
                    let mut key: Vec<&str> = Vec::with_capacity(keys.len());
                    for k in keys {
                        match tags.iter().find(|(tk, _)| tk == k) {
                            Some((_, v)) => key.push(v),
                            // Atlas drops series that lack a group key.
                            None => return Ok(()),
                        }
                    }
                    let owned: Vec<String> = key.iter().map(|s| s.to_string()).collect();
                    if !groups.contains_key(&owned) {
                        if groups.len() >= max_groups {
                            overflow.insert(key_hash(&key));
                            return Ok(());
                        }
                        groups.insert(
                            owned.clone(),
                            Group {
                                values: vec![f64::NAN; n],
                            },
                        );
                    }
                    consolidate(values, m, aggr.cf, is_gauge(tags), &mut buf[held.clone()]);
                    if let Some(g) = groups.get_mut(&owned) {
                        for (x, &v) in g.values.iter_mut().zip(&buf) {
                            *x = fold(aggr.func, *x, v);
                        }
                    }
                    Ok(())
                })
                .map_err(db_error)?;
            let total = groups.len() + overflow.len();
            check_lines(total, max_lines)?;
            env.charge(total)?;
            let exact = exact_tags(&aggr.query);
            let mut sorted: BTreeMap<String, TimeSeries> = BTreeMap::new();
            for (key, g) in groups {
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
                sorted.insert(label.clone(), env.line(tags, label, g.values));
            }
            out.extend(sorted.into_values());
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

fn is_gauge(tags: &[(&str, &str)]) -> bool {
    tags.iter()
        .any(|(k, v)| *k == "atlas.dstype" && *v == "gauge")
}

/// A limit hit inside a scan travels through the store as a `DatabaseError::Limit`.
fn limit_to_db(e: Error) -> DatabaseError {
    DatabaseError::Limit(e.to_string())
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

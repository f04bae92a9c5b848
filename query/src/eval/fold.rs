//! The data half of a data expression: scan the matching series once, consolidate each to
//! the query step and fold it into the expression's collector. A cluster runs this on the
//! owner of every partition and merges the partial results ([`merge_folded`]); a single
//! store runs it in place ([`fold_scan`]).
//!
//! Atlas reference: `AggregateCollector.scala` (collectors), `MapStepTimeSeq.scala`
//! (consolidation: gauges average over the points present, rates over the step multiple).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use crate::model::{add_nan, AggrFn, Cf, DataExpr};
use crate::{Database, DatabaseError, FoldRequest, Folded, ScanRequest};

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

/// Combines two partial aggregates of disjoint sets of series: sums and counts add, min
/// and max keep the extreme. (Folding a count again would count the partial counts.)
fn combine(func: AggrFn, acc: f64, partial: f64) -> f64 {
    match func {
        AggrFn::Sum | AggrFn::Count => add_nan(acc, partial),
        AggrFn::Min | AggrFn::Max => fold(func, acc, partial),
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

pub(crate) fn is_gauge(tags: &[(&str, &str)]) -> bool {
    tags.iter()
        .any(|(k, v)| *k == "atlas.dstype" && *v == "gauge")
}

/// A group key's hash, to count groups past the limit without keeping them. Fixed keys
/// (SipHash with zero keys), so the nodes of a cluster agree on it.
fn key_hash<S: AsRef<str>>(key: &[S]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for k in key {
        k.as_ref().hash(&mut h);
    }
    h.finish()
}

/// Scans the series `request` selects from `db` and folds them, in place.
pub fn fold_scan(db: &dyn Database, request: &FoldRequest<'_>) -> Result<Folded, DatabaseError> {
    let scan = ScanRequest {
        query: request.expr.query(),
        start: request.start,
        end: request.end,
    };
    let (m, n, held) = (request.multiple, request.points, request.held.clone());
    let mut buf = vec![f64::NAN; n];
    match request.expr {
        DataExpr::All { .. } => {
            let mut lines = Vec::new();
            let mut over = 0usize;
            db.scan(&scan, &mut |tags, values| {
                if lines.len() >= request.max_lines {
                    over += 1;
                    return Ok(());
                }
                consolidate(values, m, Cf::Sum, is_gauge(tags), &mut buf[held.clone()]);
                let tags = tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                lines.push((tags, buf.clone()));
                Ok(())
            })?;
            Ok(Folded::Lines { lines, over })
        }
        DataExpr::Aggregate(a) => {
            let mut acc: Option<Vec<f64>> = None;
            db.scan(&scan, &mut |tags, values| {
                consolidate(values, m, a.cf, is_gauge(tags), &mut buf[held.clone()]);
                let acc = acc.get_or_insert_with(|| vec![f64::NAN; n]);
                for (x, &v) in acc.iter_mut().zip(&buf) {
                    *x = fold(a.func, *x, v);
                }
                Ok(())
            })?;
            Ok(Folded::Aggregate(acc))
        }
        DataExpr::GroupBy { aggr, keys } => {
            let mut groups: HashMap<Vec<String>, Vec<f64>> = HashMap::new();
            // Past the limit we keep counting distinct keys (by hash) to say how far over.
            let mut overflow: HashSet<u64> = HashSet::new();
            db.scan(&scan, &mut |tags, values| {
                let mut key: Vec<&str> = Vec::with_capacity(keys.len());
                for k in keys {
                    match tags.iter().find(|(tk, _)| tk == k) {
                        Some((_, v)) => key.push(v),
                        // Atlas drops series that lack a group key.
                        None => return Ok(()),
                    }
                }
                let owned: Vec<String> = key.iter().map(|s| s.to_string()).collect();
                if !groups.contains_key(&owned) && groups.len() >= request.max_lines {
                    overflow.insert(key_hash(&key));
                    return Ok(());
                }
                consolidate(values, m, aggr.cf, is_gauge(tags), &mut buf[held.clone()]);
                let acc = groups.entry(owned).or_insert_with(|| vec![f64::NAN; n]);
                for (x, &v) in acc.iter_mut().zip(&buf) {
                    *x = fold(aggr.func, *x, v);
                }
                Ok(())
            })?;
            Ok(Folded::Groups { groups, overflow })
        }
    }
}

/// Merges `partial`, folded from series disjoint from those of `into`, into `into`: lines
/// and groups are joined (groups with the same key combine), aggregates combine, and what
/// passes `request.max_lines` is counted as [`fold_scan`] counts it.
pub fn merge_folded(
    request: &FoldRequest<'_>,
    into: &mut Folded,
    partial: Folded,
) -> Result<(), DatabaseError> {
    let func = match request.expr {
        DataExpr::All { .. } => AggrFn::Sum,
        DataExpr::Aggregate(a) | DataExpr::GroupBy { aggr: a, .. } => a.func,
    };
    let mismatch = || {
        DatabaseError::Storage(format!(
            "a partial result does not match its request ({})",
            request.expr
        ))
    };
    match (into, partial) {
        (
            Folded::Lines { lines, over },
            Folded::Lines {
                lines: more,
                over: o,
            },
        ) => {
            *over += o;
            for line in more {
                if lines.len() >= request.max_lines {
                    *over += 1;
                } else {
                    lines.push(line);
                }
            }
        }
        (Folded::Aggregate(acc), Folded::Aggregate(partial)) => match (acc.as_mut(), partial) {
            (_, None) => {}
            (None, Some(p)) => *acc = Some(p),
            (Some(a), Some(p)) => {
                if a.len() != p.len() {
                    return Err(mismatch());
                }
                for (x, v) in a.iter_mut().zip(p) {
                    *x = combine(func, *x, v);
                }
            }
        },
        (
            Folded::Groups { groups, overflow },
            Folded::Groups {
                groups: more,
                overflow: o,
            },
        ) => {
            overflow.extend(o);
            for (key, values) in more {
                let full = groups.len() >= request.max_lines;
                match groups.entry(key) {
                    Entry::Occupied(mut e) => {
                        if e.get().len() != values.len() {
                            return Err(mismatch());
                        }
                        for (x, v) in e.get_mut().iter_mut().zip(values) {
                            *x = combine(func, *x, v);
                        }
                    }
                    Entry::Vacant(e) if full => {
                        overflow.insert(key_hash(e.key()));
                    }
                    Entry::Vacant(e) => {
                        e.insert(values);
                    }
                }
            }
            // A key kept here may have overflowed elsewhere: count it once.
            for key in groups.keys() {
                overflow.remove(&key_hash(key));
            }
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}

impl Folded {
    /// The result of folding no series for `expr`, to merge partial results into.
    pub fn empty(expr: &DataExpr) -> Folded {
        match expr {
            DataExpr::All { .. } => Folded::Lines {
                lines: Vec::new(),
                over: 0,
            },
            DataExpr::Aggregate(_) => Folded::Aggregate(None),
            DataExpr::GroupBy { .. } => Folded::Groups {
                groups: HashMap::new(),
                overflow: HashSet::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Aggregate;
    use crate::testing::StaticDatabase;
    use crate::Query;

    /// The result printed with lines and groups in order (NaN != NaN, so not `==`).
    fn canonical(f: Folded) -> String {
        match f {
            Folded::Lines { mut lines, over } => {
                lines.sort_by(|a, b| a.0.cmp(&b.0));
                format!("{lines:?} {over}")
            }
            Folded::Groups { groups, overflow } => {
                let groups: std::collections::BTreeMap<_, _> = groups.into_iter().collect();
                format!("{groups:?} {}", overflow.len())
            }
            other => format!("{other:?}"),
        }
    }

    fn request(expr: &DataExpr, max_lines: usize) -> FoldRequest<'_> {
        FoldRequest {
            expr,
            start: 0,
            end: 4,
            multiple: 1,
            points: 4,
            held: 0..4,
            max_lines,
            deadline: None,
            coverage: None,
        }
    }

    /// Series split into two halves, folded apart and merged, give what folding them all
    /// at once gives, for every aggregate, `:by` and `:all`.
    #[test]
    fn merged_halves_equal_the_whole() -> Result<(), DatabaseError> {
        let mut whole = StaticDatabase::new(1);
        let (mut a, mut b) = (StaticDatabase::new(1), StaticDatabase::new(1));
        for i in 0..10u32 {
            let app = format!("app{}", i % 3);
            let node = format!("n{i}");
            let tags = [
                ("app", app.as_str()),
                ("name", "cpu"),
                ("node", node.as_str()),
            ];
            let values: Vec<f64> = (0..4)
                .map(|t| {
                    if (i + t) % 4 == 0 {
                        f64::NAN
                    } else {
                        f64::from(i * t)
                    }
                })
                .collect();
            whole.push(tags, 0, values.clone());
            let half = if i % 2 == 0 { &mut a } else { &mut b };
            half.push(tags, 0, values);
        }
        let q = Query::Eq("name".into(), "cpu".into());
        let mut exprs = vec![DataExpr::All {
            query: q.clone(),
            offset: 0,
        }];
        for func in [AggrFn::Sum, AggrFn::Count, AggrFn::Min, AggrFn::Max] {
            exprs.push(DataExpr::Aggregate(Aggregate::new(func, q.clone())));
            exprs.push(DataExpr::GroupBy {
                aggr: Aggregate::new(func, q.clone()),
                keys: vec!["app".into()],
            });
        }
        for expr in &exprs {
            let r = request(expr, 100);
            let mut merged = Folded::empty(expr);
            merge_folded(&r, &mut merged, fold_scan(&a, &r)?)?;
            merge_folded(&r, &mut merged, fold_scan(&b, &r)?)?;
            let expected = fold_scan(&whole, &r)?;
            assert_eq!(canonical(merged), canonical(expected), "{expr}");
        }
        Ok(())
    }

    /// Groups past the limit are counted once, whichever half saw them.
    #[test]
    fn groups_past_the_limit_are_counted_once() -> Result<(), DatabaseError> {
        let (mut a, mut b) = (StaticDatabase::new(1), StaticDatabase::new(1));
        for i in 0..6u32 {
            let app = format!("app{i}");
            let tags = [("app", app.as_str()), ("name", "cpu")];
            a.push(tags, 0, vec![1.0; 4]);
            b.push(tags, 0, vec![2.0; 4]);
        }
        let expr = DataExpr::GroupBy {
            aggr: Aggregate::new(AggrFn::Sum, Query::Eq("name".into(), "cpu".into())),
            keys: vec!["app".into()],
        };
        let r = request(&expr, 4);
        let mut merged = Folded::empty(&expr);
        merge_folded(&r, &mut merged, fold_scan(&a, &r)?)?;
        merge_folded(&r, &mut merged, fold_scan(&b, &r)?)?;
        let Folded::Groups { groups, overflow } = merged else {
            return Err(DatabaseError::Storage("not groups".into()));
        };
        assert_eq!((groups.len(), overflow.len()), (4, 2));
        Ok(())
    }
}

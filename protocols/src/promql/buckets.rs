//! `histogram_quantile` over Prometheus `le` buckets, per step, as Prometheus computes it
//! (`promql/quantile.go`, `bucketQuantile`): linear interpolation within the bucket that
//! holds the rank; and the `quantile` aggregation across lines (`quantile.go`,
//! `quantile`). The Atlas model has no operator across lines by rank or by a numeric tag,
//! so these steps run on the evaluator's output lines.

use std::collections::BTreeMap;

use sextant_query::{TagMap, TimeSeries};

use super::node::{prom_labels, Labels, Node};
use crate::labels::value_from_atlas;

/// The quantile of cumulative buckets `(upper bound, count)` sorted by bound.
pub fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.retain(|(_, c)| !c.is_nan());
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Equal bounds are merged; counts made monotonic, as Prometheus does.
    buckets.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            earlier.1 += later.1;
            true
        } else {
            false
        }
    });
    let mut max = f64::NEG_INFINITY;
    for b in buckets.iter_mut() {
        max = max.max(b.1);
        b.1 = max;
    }
    let n = buckets.len();
    if n < 2 {
        return f64::NAN;
    }
    let observations = buckets[n - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets.iter().position(|x| x.1 >= rank).unwrap_or(n - 1);
    if b == n - 1 {
        return buckets[n - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let (start, end) = if b == 0 {
        (0.0, buckets[0].0)
    } else {
        (buckets[b - 1].0, buckets[b].0)
    };
    let mut count = buckets[b].1;
    if b > 0 {
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// One line per group of bucket lines (labels other than `le`), with the quantile at
/// every step.
pub fn quantiles(
    q: f64,
    lines: &[TimeSeries],
    input: &Node,
) -> Vec<(BTreeMap<String, String>, TimeSeries)> {
    let rule = match &input.labels {
        Labels::Series { .. } => Labels::Series { drop_name: true },
        Labels::Keys(k) => Labels::Keys(k.iter().filter(|k| *k != "name").cloned().collect()),
        Labels::Fixed(f) => Labels::Fixed(f.clone()),
    };
    let mut groups: BTreeMap<BTreeMap<String, String>, Vec<(f64, &TimeSeries)>> = BTreeMap::new();
    for l in lines {
        let Some(le) = l
            .tags
            .get("le")
            .and_then(|v| value_from_atlas(v).parse::<f64>().ok())
        else {
            continue;
        };
        let mut labels = prom_labels(&l.tags, &rule);
        labels.remove("le");
        groups.entry(labels).or_default().push((le, l));
    }
    let mut out = Vec::new();
    for (labels, members) in groups {
        let Some(first) = members.first().map(|m| m.1) else {
            continue;
        };
        let n = first.values.len();
        let mut values = Vec::with_capacity(n);
        let mut buf = Vec::with_capacity(members.len());
        for i in 0..n {
            buf.clear();
            buf.extend(
                members
                    .iter()
                    .map(|(le, l)| (*le, l.values.get(i).copied().unwrap_or(f64::NAN))),
            );
            values.push(bucket_quantile(q, &mut buf));
        }
        let series = TimeSeries {
            tags: TagMap::new(),
            label: String::new(),
            start: first.start,
            step: first.step,
            values,
        };
        out.push((labels, series));
    }
    out
}

/// The φ-quantile of `values` as Prometheus's `quantile` aggregation computes it: rank
/// `φ(n-1)` in the sorted values, interpolated linearly.
pub fn values_quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let rank = q * (n - 1) as f64;
    let lower = rank.floor().max(0.0) as usize;
    let upper = (lower + 1).min(n - 1);
    let w = rank - rank.floor();
    values[lower] * (1.0 - w) + values[upper] * w
}

/// One line per group (the `keys` of the lines' tags; one group when `None`) with the
/// quantile across its lines at every step; lines without a value at a step do not count.
pub fn series_quantiles(
    q: f64,
    lines: &[TimeSeries],
    keys: Option<&[String]>,
) -> Vec<(BTreeMap<String, String>, TimeSeries)> {
    let rule = Labels::Keys(keys.map(<[String]>::to_vec).unwrap_or_default());
    let mut groups: BTreeMap<BTreeMap<String, String>, Vec<&TimeSeries>> = BTreeMap::new();
    for l in lines {
        if let Some(ks) = keys {
            if ks.iter().any(|k| !l.tags.contains_key(k)) {
                continue;
            }
        }
        groups
            .entry(prom_labels(&l.tags, &rule))
            .or_default()
            .push(l);
    }
    let mut out = Vec::new();
    for (labels, members) in groups {
        let Some(first) = members.first() else {
            continue;
        };
        let mut buf = Vec::with_capacity(members.len());
        let values = (0..first.values.len())
            .map(|i| {
                buf.clear();
                buf.extend(
                    members
                        .iter()
                        .filter_map(|l| l.values.get(i).copied())
                        .filter(|v| !v.is_nan()),
                );
                values_quantile(q, &mut buf)
            })
            .collect();
        let series = TimeSeries {
            tags: TagMap::new(),
            label: String::new(),
            start: first.start,
            step: first.step,
            values,
        };
        out.push((labels, series));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_like_prometheus() {
        let mut b = vec![(0.1, 10.0), (0.5, 30.0), (f64::INFINITY, 40.0), (1.0, 40.0)];
        // rank 20 falls in (0.1, 0.5]: 0.1 + 0.4 * (10 / 20)
        assert!((bucket_quantile(0.5, &mut b.clone()) - 0.3).abs() < 1e-12);
        // rank 39.6 is in (0.5, 1]: 0.5 + 0.5 * (9.6 / 10)
        assert!((bucket_quantile(0.99, &mut b) - 0.98).abs() < 1e-12);
        // in the +Inf bucket: the largest finite bound
        let mut c = vec![(0.1, 10.0), (f64::INFINITY, 40.0)];
        assert_eq!(bucket_quantile(0.9, &mut c), 0.1);
        assert!(bucket_quantile(0.5, &mut vec![(1.0, 3.0)]).is_nan());
        assert_eq!(bucket_quantile(-1.0, &mut vec![]), f64::NEG_INFINITY);
    }

    #[test]
    fn quantile_across_values_interpolates_by_rank() {
        assert_eq!(values_quantile(0.5, &mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(values_quantile(0.0, &mut [4.0, 1.0]), 1.0);
        assert_eq!(values_quantile(1.0, &mut [4.0, 1.0]), 4.0);
        assert!(values_quantile(0.5, &mut []).is_nan());
    }
}

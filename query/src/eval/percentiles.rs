//! `:percentiles`: estimates from Spectator's 276 percentile bucket counters.
//!
//! Atlas reference: `MathExpr.Percentiles`; Spectator `PercentileBuckets.java` (bucket
//! boundaries, including the signed 64-bit overflow that stops the table at 276 entries).

use std::collections::BTreeMap;

use super::data::eval_data;
use super::Env;
use crate::error::{Error, Result};
use crate::model::{fmt_num, DataExpr};
use crate::{TagMap, TimeSeries};

// The bucket table is Spectator's, shared with the client that counts into it.
pub use sextant_meters::{bucket_index, bucket_value, BUCKET_COUNT};

/// The shared table, in the shape `estimate` reads it.
struct Buckets {
    values: &'static [i64],
}

fn buckets() -> Buckets {
    Buckets {
        values: &sextant_meters::BUCKET_VALUES,
    }
}

/// Percentile estimates from per-bucket counts: Spectator's
/// `PercentileBuckets.percentiles(double[], double[], double[])`, the overload Atlas's
/// `:percentiles` calls, operation for operation so the results match to the last bit
/// (bucket widths are subtracted as integers before the conversion to `f64`, as Java's
/// `long` arithmetic does).
pub(crate) fn estimate(counts: &[f64], pcts: &[f64], out: &mut [f64]) {
    let b = buckets();
    let bucket = |i: usize| b.values.get(i).copied().unwrap_or(i64::MAX);
    let count = |i: usize| counts.get(i).copied().unwrap_or(0.0);
    let mut last = 0usize;
    let mut total = 0.0;
    for (i, &c) in counts.iter().enumerate() {
        if c > 0.0 && c.is_finite() {
            total += c;
            last = i;
        }
    }
    let interpolate =
        |f: f64, next_b: i64, prev_b: i64| f * next_b.wrapping_sub(prev_b) as f64 + prev_b as f64;
    let mut j = 0;
    let (mut prev, mut prev_p, mut prev_b) = (0.0, 0.0, 0i64);
    for i in 0..=last {
        let next = prev + count(i);
        let next_p = 100.0 * next / total;
        let next_b = bucket(i);
        while let (Some(&p), Some(o)) = (pcts.get(j), out.get_mut(j)) {
            // Java's `nextP >= p`, false for NaN.
            if next_p.is_nan() || next_p < p {
                break;
            }
            let f = (p - prev_p) / (next_p - prev_p);
            *o = if f.is_nan() {
                0.0
            } else {
                interpolate(f, next_b, prev_b)
            };
            j += 1;
        }
        if j >= pcts.len() {
            break;
        }
        prev = next;
        prev_p = next_p;
        prev_b = next_b;
    }
    // Percentiles past the last non-empty bucket (or all of them when there is no count:
    // NaN then, since prev_p is NaN) interpolate towards 100 at that bucket's boundary.
    let next_b = bucket(last);
    while let (Some(&p), Some(o)) = (pcts.get(j), out.get_mut(j)) {
        let f = (p - prev_p) / (100.0 - prev_p);
        *o = interpolate(f, next_b, prev_b);
        j += 1;
    }
}

/// Decodes `T00FF`/`D00FF`: (is timer, bucket index).
fn decode(tag: &str) -> Option<(bool, usize)> {
    let timer = match tag.get(..1)? {
        "T" => true,
        "D" => false,
        _ => return None,
    };
    let idx = usize::from_str_radix(tag.get(1..)?, 16).ok()?;
    (idx < BUCKET_COUNT).then_some((timer, idx))
}

/// Percentile lines for each group of `data` (a `:sum`, maybe grouped).
pub(crate) fn eval_percentiles(
    data: &DataExpr,
    pcts: &[f64],
    env: &Env<'_>,
) -> Result<Vec<TimeSeries>> {
    let user_keys: Vec<String> = data.keys().map(<[String]>::to_vec).unwrap_or_default();
    let (aggr, label_base) = match data {
        DataExpr::Aggregate(a) | DataExpr::GroupBy { aggr: a, .. } => {
            (a.clone(), crate::model::query_label(&a.query))
        }
        DataExpr::All { .. } => {
            return Err(Error::Eval(":percentiles does not accept :all".into()))
        }
    };
    let mut keys = vec!["percentile".to_string()];
    keys.extend(user_keys.iter().cloned());
    // The bucket lines are an intermediate: allow 276 of them per output group.
    let inner = Env {
        db: env.db,
        start: env.start,
        end: env.end,
        step: env.step,
        n: env.n,
        lead: env.lead,
        limits: super::Limits {
            max_lines: env.limits.max_lines.saturating_mul(BUCKET_COUNT),
            ..env.limits
        },
        datapoints: std::cell::Cell::new(env.datapoints.get()),
    };
    let bucket_lines = eval_data(&DataExpr::GroupBy { aggr, keys }, &inner)?;
    env.datapoints.set(inner.datapoints.get());
    // group (user key values) -> (timer?, bucket -> line index)
    type Group = (bool, BTreeMap<usize, usize>, TagMap);
    let mut groups: BTreeMap<Vec<String>, Group> = BTreeMap::new();
    for (li, t) in bucket_lines.iter().enumerate() {
        let Some(tag) = t.tags.get("percentile") else {
            continue;
        };
        let Some((timer, idx)) = decode(tag) else {
            return Err(Error::Eval(format!("invalid percentile encoding: {tag}")));
        };
        let gk: Vec<String> = user_keys
            .iter()
            .map(|k| t.tags.get(k).cloned().unwrap_or_default())
            .collect();
        let mut tags = t.tags.clone();
        tags.remove("percentile");
        let entry = groups.entry(gk).or_insert((timer, BTreeMap::new(), tags));
        if let Some(prev) = entry.1.insert(idx, li) {
            let a = bucket_lines
                .get(prev)
                .and_then(|p| p.tags.get("percentile"));
            return Err(Error::Eval(format!(
                "invalid percentile encoding: [{},{}]",
                a.map(String::as_str).unwrap_or(""),
                tag
            )));
        }
    }
    let mut out = Vec::new();
    let mut counts = vec![0.0; BUCKET_COUNT];
    let mut est = vec![f64::NAN; pcts.len()];
    for (gk, (timer, members, tags)) in groups {
        let group_label = if user_keys.is_empty() {
            label_base.clone()
        } else {
            let parts: Vec<String> = user_keys
                .iter()
                .zip(&gk)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("({})", parts.join(" "))
        };
        let scale = if timer { 1e-9 } else { 1.0 };
        // Charged before the lines are allocated: a long list of percentiles is refused here.
        env.charge(pcts.len())?;
        let mut series: Vec<Vec<f64>> = vec![vec![f64::NAN; env.n]; pcts.len()];
        for i in 0..env.n {
            counts.iter_mut().for_each(|c| *c = 0.0);
            for (&idx, &li) in &members {
                let v = bucket_lines
                    .get(li)
                    .and_then(|t| t.values.get(i))
                    .copied()
                    .unwrap_or(0.0);
                if let Some(c) = counts.get_mut(idx) {
                    *c = if v.is_finite() { v } else { 0.0 };
                }
            }
            estimate(&counts, pcts, &mut est);
            for (s, e) in series.iter_mut().zip(&est) {
                if let Some(x) = s.get_mut(i) {
                    *x = e * scale;
                }
            }
        }
        for (p, values) in pcts.iter().zip(series) {
            let padded = format!("{:>5}", fmt_pct(*p));
            let mut tags = tags.clone();
            tags.insert("percentile".into(), padded.clone());
            let label = format!("percentile({group_label}, {padded})");
            out.push(env.line(tags, label, values));
        }
    }
    Ok(out)
}

/// Java's `%5.1f` without the padding.
fn fmt_pct(p: f64) -> String {
    let s = format!("{p:.1}");
    if s == "-0.0" {
        "0.0".into()
    } else {
        let _ = fmt_num;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_spectator() {
        assert_eq!(buckets().values.len(), BUCKET_COUNT);
        assert_eq!(bucket_value(100), Some(11_184_809));
        assert_eq!(bucket_value(131), Some(1_073_741_824));
        assert_eq!(bucket_value(157), Some(62_992_853_672));
        assert_eq!(bucket_value(274), Some(4_227_378_850_225_105_576));
        assert_eq!(bucket_value(275), Some(i64::MAX));
    }

    #[test]
    fn index_of_matches_spectator_vectors() {
        assert_eq!(bucket_index(87), 25);
        assert_eq!(bucket_index(12_000_000), 101);
        assert_eq!(bucket_index(10_000_000), 100);
        assert_eq!(bucket_index(60_000_000_000), 157);
        assert_eq!(bucket_index(1_000_000_000), 131);
        assert_eq!(bucket_index(i64::MAX), 275);
        assert_eq!(bucket_index(15), 15);
        for v in [1i64, 5, 17, 1000, 123_456_789, 1 << 40] {
            assert!(v <= bucket_value(bucket_index(v)).unwrap_or(0), "{v}");
        }
    }

    #[test]
    fn estimates_match_the_worked_examples() {
        let mut counts = vec![0.0; BUCKET_COUNT];
        counts[101] = 100.0;
        let pcts = [0.0, 50.0, 90.0, 100.0];
        let mut out = [0.0; 4];
        estimate(&counts, &pcts, &mut out);
        let secs: Vec<f64> = out.iter().map(|v| v * 1e-9).collect();
        assert!((secs[1] - 0.01188).abs() < 1e-5, "{secs:?}");
        assert!((secs[2] - 0.01244).abs() < 1e-5, "{secs:?}");
        assert!((secs[3] - 0.01258).abs() < 1e-5, "{secs:?}");
        assert_eq!(secs[0], 0.0);

        let mut counts = vec![0.0; BUCKET_COUNT];
        counts[100] = 50.0;
        counts[131] = 50.0;
        let pcts = [25.0, 50.0, 75.0];
        let mut out = [0.0; 3];
        estimate(&counts, &pcts, &mut out);
        let secs: Vec<f64> = out.iter().map(|v| v * 1e-9).collect();
        assert!((secs[0] - 0.010486).abs() < 1e-5, "{secs:?}");
        assert!((secs[1] - 0.011185).abs() < 1e-5, "{secs:?}");
        assert!((secs[2] - 1.029).abs() < 1e-3, "{secs:?}");
    }

    /// Atlas's `PercentilesSuite` "timer :sum" input: one timer value per nanosecond 0..99,
    /// each a rate of 1/60. The test there only checks `p / 1e9` within 2e-9; the exact
    /// values are those of Spectator's `percentiles(double[], ...)` on the same counts
    /// (computed with its Java arithmetic), e.g. p90 = 9.199999999999999e-08, not 9.0e-08.
    #[test]
    fn estimates_match_spectator_to_the_last_bit() {
        let mut counts = vec![0.0; BUCKET_COUNT];
        for v in 0..100 {
            if let Some(c) = counts.get_mut(bucket_index(v)) {
                *c += 1.0 / 60.0;
            }
        }
        let pcts = [25.0, 50.0, 90.0];
        let mut out = [0.0; 3];
        estimate(&counts, &pcts, &mut out);
        let secs: Vec<f64> = out.iter().map(|v| v * 1e-9).collect();
        assert_eq!(secs, [2.5000000000000005e-08, 5e-08, 9.199999999999999e-08]);

        // No count at all: NaN, as Java's 0/0 makes it.
        let mut out = [0.0; 1];
        estimate(&vec![0.0; BUCKET_COUNT], &[50.0], &mut out);
        assert!(out[0].is_nan());
    }
}

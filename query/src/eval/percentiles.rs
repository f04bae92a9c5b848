//! `:percentiles`: estimates from Spectator's 276 percentile bucket counters.
//!
//! Atlas reference: `MathExpr.Percentiles`; Spectator `PercentileBuckets.java` (bucket
//! boundaries, including the signed 64-bit overflow that stops the table at 276 entries).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::data::eval_data;
use super::Env;
use crate::error::{Error, Result};
use crate::model::{fmt_num, DataExpr};
use crate::{TagMap, TimeSeries};

/// Number of buckets.
pub const BUCKET_COUNT: usize = 276;

struct Buckets {
    values: Vec<i64>,
    power_of_4_index: Vec<usize>,
}

fn buckets() -> &'static Buckets {
    static B: OnceLock<Buckets> = OnceLock::new();
    B.get_or_init(|| {
        let mut values: Vec<i64> = vec![1, 2, 3];
        let mut power_of_4_index = vec![0usize];
        let mut exp = 2;
        while exp < 64 {
            let mut current: i64 = 1i64 << exp;
            let delta = current / 3;
            // Java's `current << 2` wraps; at exp=62 `next` goes negative and nothing is
            // added, which is why the table has 276 entries.
            let next = (current << 2).wrapping_sub(delta);
            power_of_4_index.push(values.len());
            while current < next {
                values.push(current);
                current += delta;
            }
            exp += 2;
        }
        values.push(i64::MAX);
        Buckets {
            values,
            power_of_4_index,
        }
    })
}

/// Upper boundary of bucket `i` (ns for timers), `None` past the last bucket.
pub fn bucket_value(i: usize) -> Option<i64> {
    buckets().values.get(i).copied()
}

/// The bucket a value falls in, as Spectator's `PercentileBuckets.indexOf`.
pub fn bucket_index(v: i64) -> usize {
    if v <= 0 {
        return 0;
    }
    if v <= 4 {
        return v as usize;
    }
    let b = buckets();
    let mut shift = 63 - v.leading_zeros() as usize;
    let prev_pow2 = (v >> shift) << shift;
    let mut prev_pow4 = prev_pow2;
    if shift % 2 != 0 {
        shift -= 1;
        prev_pow4 = prev_pow2 >> 1;
    }
    let delta = (prev_pow4 / 3).max(1);
    let offset = ((v - prev_pow4) / delta) as usize;
    let pos = offset + b.power_of_4_index.get(shift / 2).copied().unwrap_or(0);
    if pos >= BUCKET_COUNT - 1 {
        BUCKET_COUNT - 1
    } else {
        pos + 1
    }
}

/// Percentile estimates from per-bucket counts (Spectator's double-array overload).
pub(crate) fn estimate(counts: &[f64], pcts: &[f64], out: &mut [f64]) {
    let b = buckets();
    let total: f64 = counts.iter().filter(|c| c.is_finite() && **c > 0.0).sum();
    let last = counts.iter().rposition(|c| *c > 0.0);
    let (Some(last), true) = (last, total > 0.0) else {
        out.iter_mut().for_each(|o| *o = f64::NAN);
        return;
    };
    let (mut prev, mut prev_p, mut prev_b) = (0.0, 0.0, 0.0);
    let mut j = 0;
    for i in 0..=last {
        let next = prev + counts.get(i).copied().unwrap_or(0.0);
        let next_p = 100.0 * next / total;
        let next_b = b.values.get(i).copied().unwrap_or(i64::MAX) as f64;
        while let (Some(&p), Some(o)) = (pcts.get(j), out.get_mut(j)) {
            if p > next_p {
                break;
            }
            let f = (p - prev_p) / (next_p - prev_p);
            *o = if f.is_nan() {
                0.0
            } else {
                f * (next_b - prev_b) + prev_b
            };
            j += 1;
        }
        prev = next;
        prev_p = next_p;
        prev_b = next_b;
    }
    let next_b = b.values.get(last).copied().unwrap_or(i64::MAX) as f64;
    while let (Some(&p), Some(o)) = (pcts.get(j), out.get_mut(j)) {
        let f = (p - prev_p) / (100.0 - prev_p);
        *o = if f.is_nan() {
            0.0
        } else {
            f * (next_b - prev_b) + prev_b
        };
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
        env.charge(pcts.len())?;
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
        assert_eq!(buckets().power_of_4_index.len(), 32);
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
}

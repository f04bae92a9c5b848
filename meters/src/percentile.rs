//! Spectator's 276 percentile buckets and the estimate Atlas computes from their counts: the
//! one table the client (to count) and the query crate (to estimate) share.
//!
//! Ported from `PercentileBuckets.java`: the table is built with wrapping 64-bit arithmetic,
//! and at exponent 62 the shift overflows so no buckets are added there. Computing it in wider
//! integers yields 285 buckets, which would not match the server.

/// Number of percentile buckets.
pub const BUCKET_COUNT: usize = 276;

const fn build_tables() -> ([i64; BUCKET_COUNT], [usize; 32]) {
    let mut buckets = [0i64; BUCKET_COUNT];
    let mut pow4 = [0usize; 32];
    buckets[0] = 1;
    buckets[1] = 2;
    buckets[2] = 3;
    let mut n = 3;
    let mut p = 1;
    let mut exp = 2;
    while exp < 64 {
        let mut current: i64 = 1i64 << exp;
        let delta = current / 3;
        let next = (current << 2).wrapping_sub(delta);
        pow4[p] = n;
        p += 1;
        while current < next {
            buckets[n] = current;
            n += 1;
            current += delta;
        }
        exp += 2;
    }
    buckets[n] = i64::MAX;
    (buckets, pow4)
}

const TABLES: ([i64; BUCKET_COUNT], [usize; 32]) = build_tables();

/// Upper boundary of each bucket: nanoseconds for timers, raw units for distribution summaries.
pub const BUCKET_VALUES: [i64; BUCKET_COUNT] = TABLES.0;
const POWER_OF_4_INDEX: [usize; 32] = TABLES.1;

/// Upper boundary of bucket `i` (ns for timers), `None` past the last bucket.
///
/// ```
/// use sextant_meters::bucket_value;
/// assert_eq!(bucket_value(131), Some(1_073_741_824));
/// assert_eq!(bucket_value(276), None);
/// ```
#[must_use]
pub fn bucket_value(i: usize) -> Option<i64> {
    BUCKET_VALUES.get(i).copied()
}

/// The bucket a value falls in, as Spectator's `PercentileBuckets.indexOf`;
/// `v <= BUCKET_VALUES[bucket_index(v)]` always holds.
///
/// ```
/// use sextant_meters::bucket_index;
/// assert_eq!(bucket_index(87), 25);
/// assert_eq!(bucket_index(12_000_000), 101); // 12 ms → T0065
/// ```
#[must_use]
pub fn bucket_index(v: i64) -> usize {
    if v <= 0 {
        return 0;
    }
    if v <= 4 {
        return v as usize;
    }
    let mut shift = 63 - v.leading_zeros();
    let prev_pow2 = (v >> shift) << shift;
    let mut prev_pow4 = prev_pow2;
    if shift % 2 != 0 {
        shift -= 1;
        prev_pow4 = prev_pow2 >> 1;
    }
    let delta = prev_pow4 / 3;
    let offset = ((v - prev_pow4) / delta) as usize;
    let pos = offset + POWER_OF_4_INDEX[(shift / 2) as usize];
    if pos >= BUCKET_COUNT - 1 {
        BUCKET_COUNT - 1
    } else {
        pos + 1
    }
}

/// The `percentile` tag value of a timer bucket, `T0000`…`T0113`.
#[must_use]
pub fn timer_tag(index: usize) -> String {
    format!("T{index:04X}")
}

/// The `percentile` tag value of a distribution summary bucket, `D0000`…`D0113`.
#[must_use]
pub fn summary_tag(index: usize) -> String {
    format!("D{index:04X}")
}

/// Estimates percentile `pct` (0..=100) from per-bucket counts with Atlas's algorithm
/// (linear interpolation inside the bucket, `PercentileBuckets.percentiles(double[]…)`).
/// Returns the value in bucket units (nanoseconds for timers); NaN when there are no counts.
#[must_use]
pub fn estimate_percentile(counts: &[f64], pct: f64) -> f64 {
    let counts = &counts[..counts.len().min(BUCKET_COUNT)];
    let total: f64 = counts.iter().filter(|c| c.is_finite() && **c > 0.0).sum();
    let Some(last) = counts.iter().rposition(|c| c.is_finite() && *c > 0.0) else {
        return f64::NAN;
    };
    let (mut prev, mut prev_p, mut prev_b) = (0.0, 0.0, 0.0);
    for (i, c) in counts.iter().enumerate().take(last + 1) {
        let c = if c.is_finite() && *c > 0.0 { *c } else { 0.0 };
        let next = prev + c;
        let next_p = 100.0 * next / total;
        let next_b = BUCKET_VALUES[i] as f64;
        if pct <= next_p {
            let f = (pct - prev_p) / (next_p - prev_p);
            return if f.is_nan() {
                0.0
            } else {
                f * (next_b - prev_b) + prev_b
            };
        }
        prev = next;
        prev_p = next_p;
        prev_b = next_b;
    }
    BUCKET_VALUES[last] as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSV: &str = include_str!("../tests/data/spectator-percentile-buckets.tsv");

    fn table() -> Vec<(usize, String, String, i64)> {
        TSV.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (
                    f[0].parse().unwrap(),
                    f[1].to_string(),
                    f[2].to_string(),
                    f[3].parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn buckets_match_reference_table() {
        let t = table();
        assert_eq!(t.len(), BUCKET_COUNT);
        for (i, tt, dt, v) in t {
            assert_eq!(BUCKET_VALUES[i], v, "bucket {i}");
            assert_eq!(timer_tag(i), tt);
            assert_eq!(summary_tag(i), dt);
        }
        assert_eq!(
            POWER_OF_4_INDEX[..5],
            [0, 3, 14, 23, 32],
            "first power-of-4 indexes"
        );
        assert_eq!(POWER_OF_4_INDEX[31], 275);
    }

    #[test]
    fn index_test_vectors() {
        assert_eq!(bucket_index(87), 25);
        assert_eq!(bucket_index(12_000_000), 101);
        assert_eq!(timer_tag(bucket_index(12_000_000)), "T0065");
        assert_eq!(bucket_index(10_000_000), 100);
        assert_eq!(bucket_index(60_000_000_000), 157);
        assert_eq!(bucket_index(1_000_000_000), 131);
        assert_eq!(bucket_index(i64::MAX), 275);
        assert_eq!(bucket_index(0), 0);
        assert_eq!(bucket_index(-5), 0);
        assert_eq!(bucket_index(4), 4);
        // Not "first bucket >= v": 15 lands in bucket 15 (21), not 14 (16).
        assert_eq!(bucket_index(15), 15);
    }

    #[test]
    fn every_value_fits_its_bucket() {
        let mut v: i64 = 1;
        while v < i64::MAX / 3 {
            for x in [v - 1, v, v + 1] {
                let i = bucket_index(x);
                assert!(x <= BUCKET_VALUES[i], "{x} -> {i}");
            }
            v = v + v / 2 + 1;
        }
        for b in BUCKET_VALUES {
            assert!(b <= BUCKET_VALUES[bucket_index(b)]);
        }
    }

    #[test]
    fn estimate_matches_reference_examples() {
        let mut counts = [0.0; BUCKET_COUNT];
        counts[101] = 100.0;
        let p50 = estimate_percentile(&counts, 50.0) * 1e-9;
        let p90 = estimate_percentile(&counts, 90.0) * 1e-9;
        assert!((p50 - 0.01188).abs() < 1e-5, "{p50}");
        assert!((p90 - 0.01244).abs() < 1e-5, "{p90}");
        assert_eq!(estimate_percentile(&counts, 0.0), 0.0);

        let mut counts = [0.0; BUCKET_COUNT];
        counts[100] = 50.0;
        counts[131] = 50.0;
        let p25 = estimate_percentile(&counts, 25.0) * 1e-9;
        let p75 = estimate_percentile(&counts, 75.0) * 1e-9;
        assert!((p25 - 0.010486).abs() < 1e-5, "{p25}");
        assert!((p75 - 1.029).abs() < 1e-3, "{p75}");
        assert!(estimate_percentile(&[0.0; 3], 50.0).is_nan());
    }
}

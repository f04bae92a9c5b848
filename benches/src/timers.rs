//! Seeded percentile timers for the cluster query benchmark (`benches/cluster/query.py`):
//! the bucket series a Spectator `PercentileTimer` publishes, so `:percentiles` has data.
//!
//! Timer `i` belongs to app `app{i % 20}` and node `t{i}`; it publishes [`BUCKETS`]
//! adjacent buckets (`percentile=T0030` … `T0043`) as `atlas.dstype=sum` counts per minute.
//! The counts are whole numbers, so sums of them are exact in any order and a cluster's
//! merged answer must be the same bytes as one node's.
//!
//! ```
//! use sextant_benches::timers::Timers;
//! let t = Timers { timers: 3, points: 4, seed: 1, end_ms: 60_000 * 1000 };
//! let bodies: Vec<_> = t.bodies(100).collect();
//! assert_eq!(bodies.iter().map(|b| b.points).sum::<usize>(), 3 * 20 * 4);
//! assert!(bodies[0].atlas.contains(r#""percentile":"T0030""#));
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::peers::STEP_MS;

/// Buckets each timer publishes: a latency spread over about a factor of 4.
pub const BUCKETS: usize = 20;

/// Index of the first bucket (`T0030`, about 0.3 ms in Spectator's table).
const FIRST_BUCKET: usize = 0x30;

/// Apps the timers are spread over (`i % APPS`), as in the peers dataset.
const APPS: usize = 20;

/// `timers` percentile timers of `points` one-minute values, the last at `end_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// Number of timers (each makes [`BUCKETS`] series).
    pub timers: usize,
    /// Values per series.
    pub points: usize,
    /// Seed of every count.
    pub seed: u64,
    /// Timestamp of the last value, epoch ms; rounded down to the step.
    pub end_ms: i64,
}

/// One Atlas publish body.
#[derive(Debug, Clone)]
pub struct TimerBody {
    /// Atlas publish JSON (`POST /api/v1/publish`).
    pub atlas: String,
    /// Datapoints in the body.
    pub points: usize,
}

impl Timers {
    /// Series in all.
    pub fn series(&self) -> usize {
        self.timers * BUCKETS
    }

    /// Timestamp of the first value.
    pub fn start_ms(&self) -> i64 {
        self.end_ms.div_euclid(STEP_MS) * STEP_MS - (self.points as i64 - 1) * STEP_MS
    }

    /// The counts of timer `t`, bucket `b` (0-based among its [`BUCKETS`]): a bell over the
    /// buckets around a centre that differs per timer, times a per-minute load.
    pub fn counts(&self, t: usize, b: usize) -> Vec<f64> {
        let seed = self
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add((t * BUCKETS + b) as u64);
        let mut rng = StdRng::seed_from_u64(seed);
        let centre = 6.0 + (t % 9) as f64;
        let d = b as f64 - centre;
        let weight = 200.0 * (-d * d / 18.0).exp();
        (0..self.points)
            .map(|_| (weight * rng.gen_range(0.5..1.5)).floor())
            .collect()
    }

    /// The bodies, `batch` datapoints each, time-major like [`crate::peers::Dataset`]'s.
    pub fn bodies(&self, batch: usize) -> impl Iterator<Item = TimerBody> + '_ {
        let batch = batch.max(1);
        let series = self.series();
        let counts: Vec<Vec<f64>> = (0..series)
            .map(|s| self.counts(s / BUCKETS, s % BUCKETS))
            .collect();
        let total = series * self.points;
        let start = self.start_ms();
        (0..total.div_ceil(batch)).map(move |n| {
            let range = n * batch..((n + 1) * batch).min(total);
            let mut atlas = String::with_capacity(range.len() * 150);
            atlas.push_str(r#"{"tags":{},"metrics":["#);
            for (k, p) in range.clone().enumerate() {
                let (step, s) = (p / series, p % series);
                let (t, b) = (s / BUCKETS, s % BUCKETS);
                if k > 0 {
                    atlas.push(',');
                }
                atlas.push_str(&format!(
                    r#"{{"tags":{{"name":"bench_latency","app":"app{:02}","node":"t{t:06}","percentile":"T{:04X}","statistic":"percentile","atlas.dstype":"sum"}},"timestamp":{},"value":{}}}"#,
                    t % APPS,
                    FIRST_BUCKET + b,
                    start + step as i64 * STEP_MS,
                    counts[s][step],
                ));
            }
            atlas.push_str("]}");
            TimerBody {
                atlas,
                points: range.len(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_whole_seeded_and_peak_inside_the_buckets() {
        let t = Timers {
            timers: 9,
            points: 30,
            seed: 3,
            end_ms: 1_000 * STEP_MS,
        };
        assert_eq!(t.counts(4, 7), t.counts(4, 7));
        assert_ne!(t.counts(4, 7), t.counts(5, 7));
        for timer in 0..9 {
            let counts: Vec<Vec<f64>> = (0..BUCKETS).map(|b| t.counts(timer, b)).collect();
            assert!(counts
                .iter()
                .flatten()
                .all(|v| v.fract() == 0.0 && *v >= 0.0));
            let totals: Vec<f64> = counts.iter().map(|c| c.iter().sum()).collect();
            let peak = (0..BUCKETS)
                .max_by(|a, b| totals[*a].total_cmp(&totals[*b]))
                .unwrap_or(0);
            assert!(
                (3..BUCKETS - 3).contains(&peak),
                "timer {timer}: peak at {peak}"
            );
        }
    }

    #[test]
    fn bodies_carry_every_point_once_in_time_order() {
        let t = Timers {
            timers: 2,
            points: 3,
            seed: 1,
            end_ms: 500 * STEP_MS + 17,
        };
        let mut seen = Vec::new();
        for body in t.bodies(7) {
            let v: serde_json::Value = serde_json::from_str(&body.atlas).expect("valid JSON");
            let metrics = v["metrics"].as_array().expect("metrics");
            assert_eq!(metrics.len(), body.points);
            for m in metrics {
                let node = m["tags"]["node"].as_str().expect("node").to_string();
                let pct = m["tags"]["percentile"].as_str().expect("pct").to_string();
                seen.push((m["timestamp"].as_i64().expect("ts"), node, pct));
            }
        }
        assert_eq!(seen.len(), 2 * BUCKETS * 3);
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(seen[0].0, 498 * STEP_MS);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 2 * BUCKETS * 3);
    }
}

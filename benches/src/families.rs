//! Seeded generators for the value families of the benchmark method (perf.md §3.1): one
//! series of `n` values on a 1-minute step, the same values for the same seed on every run.
//!
//! ```
//! use sextant_benches::families::Family;
//! let a = Family::Gauge2dp.generate(7, 360);
//! assert_eq!(a, Family::Gauge2dp.generate(7, 360));
//! assert!(a.iter().all(|v| (v * 100.0).round() / 100.0 == *v));
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Minutes in a day: the period of the diurnal cycle in counter rates.
const MINUTES_PER_DAY: f64 = 1440.0;

/// One kind of series, as found in an Atlas-like deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// TSBS `cpu-only` fields at full precision: a random walk in [0, 100] with N(0, 1)
    /// steps. Mantissa noise; close to incompressible.
    TsbsCpu,
    /// The same walk truncated to an integer, as TSBS writes it (`ToPointAllInt64`).
    TsbsInt,
    /// The same walk rounded to 2 decimals, like most gauges people publish.
    Gauge2dp,
    /// A counter rate as Atlas stores it: a Poisson count per minute (rate log-uniform in
    /// 10..10^4 per series, with a ±50% diurnal swing) divided by 60 seconds.
    RatePerSec,
    /// The same counts as integers per minute.
    CountPerMin,
    /// An integer gauge (queue length, thread count) that changes with probability 0.1 per
    /// step, by up to ±10.
    IntGauge,
    /// An error rate: 0 except with probability 0.05 a small count (1 + Poisson(2)) / 60.
    SparseErr,
    /// A constant (a configuration value, a limit).
    Constant,
}

/// Share of each family in the suggested "production mix" of perf.md §3.1: 30% counter
/// rates, 20% float gauges (split evenly between full-precision and 2-decimal), 20%
/// integer gauges, 15% sparse, 15% constant. **An assumption, not a measurement**: report
/// it next to the per-family figures, never instead of them.
pub const PRODUCTION_MIX: [(Family, f64); 6] = [
    (Family::RatePerSec, 0.30),
    (Family::TsbsCpu, 0.10),
    (Family::Gauge2dp, 0.10),
    (Family::IntGauge, 0.20),
    (Family::SparseErr, 0.15),
    (Family::Constant, 0.15),
];

impl Family {
    /// Every family, in report order.
    pub fn all() -> [Family; 8] {
        [
            Family::TsbsCpu,
            Family::TsbsInt,
            Family::Gauge2dp,
            Family::RatePerSec,
            Family::CountPerMin,
            Family::IntGauge,
            Family::SparseErr,
            Family::Constant,
        ]
    }

    /// Short name for tables and benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Family::TsbsCpu => "TsbsCpu",
            Family::TsbsInt => "TsbsInt",
            Family::Gauge2dp => "Gauge2dp",
            Family::RatePerSec => "RatePerSec",
            Family::CountPerMin => "CountPerMin",
            Family::IntGauge => "IntGauge",
            Family::SparseErr => "SparseErr",
            Family::Constant => "Constant",
        }
    }

    /// One series of `n` values, one per minute, determined by `seed`. Different seeds give
    /// different series parameters (start, rate, phase) as well as different noise.
    pub fn generate(self, seed: u64, n: usize) -> Vec<f64> {
        // Mix the family in so that seed 0 of two families is not the same random stream.
        let mut rng =
            StdRng::seed_from_u64(seed ^ (self as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        match self {
            Family::TsbsCpu => walk(&mut rng, n).collect(),
            Family::TsbsInt => walk(&mut rng, n).map(f64::trunc).collect(),
            Family::Gauge2dp => walk(&mut rng, n)
                .map(|x| (x * 100.0).round() / 100.0)
                .collect(),
            Family::RatePerSec => counts(&mut rng, n).map(|c| c / 60.0).collect(),
            Family::CountPerMin => counts(&mut rng, n).collect(),
            Family::IntGauge => {
                let mut x: i64 = rng.gen_range(0..1000);
                (0..n)
                    .map(|_| {
                        if rng.gen_bool(0.1) {
                            let step =
                                rng.gen_range(1..=10) * if rng.gen_bool(0.5) { 1 } else { -1 };
                            x = (x + step).max(0);
                        }
                        x as f64
                    })
                    .collect()
            }
            Family::SparseErr => (0..n)
                .map(|_| {
                    if rng.gen_bool(0.05) {
                        (1.0 + poisson(&mut rng, 2.0)) / 60.0
                    } else {
                        0.0
                    }
                })
                .collect(),
            Family::Constant => {
                let v = f64::from(rng.gen_range(0..100_000)) / 100.0;
                vec![v; n]
            }
        }
    }
}

/// Standard normal deviate (Box–Muller; one of the pair is dropped for simplicity).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Poisson deviate: exact (Knuth) for small means; for means of 30 and more the normal
/// approximation, rounded, which has the same spread and so the same entropy to within a
/// few hundredths of a bit.
fn poisson(rng: &mut StdRng, mean: f64) -> f64 {
    if mean < 30.0 {
        let limit = (-mean).exp();
        let mut k = 0.0;
        let mut p: f64 = rng.gen();
        while p > limit {
            k += 1.0;
            p *= rng.gen::<f64>();
        }
        k
    } else {
        (mean + mean.sqrt() * normal(rng)).round().max(0.0)
    }
}

/// TSBS-style clamped random walk in [0, 100] with N(0, 1) steps.
fn walk(rng: &mut StdRng, n: usize) -> impl Iterator<Item = f64> + '_ {
    let mut x: f64 = rng.gen_range(0.0..100.0);
    (0..n).map(move |_| {
        x = (x + normal(rng)).clamp(0.0, 100.0);
        x
    })
}

/// Poisson counts per minute with a per-series mean, log-uniform in 10..10^4, swinging
/// ±50% over a day from a random phase.
fn counts(rng: &mut StdRng, n: usize) -> impl Iterator<Item = f64> + '_ {
    let mean = 10f64.powf(rng.gen_range(1.0..4.0));
    let phase = rng.gen_range(0.0..MINUTES_PER_DAY);
    (0..n).map(move |i| {
        let t = (i as f64 + phase) / MINUTES_PER_DAY;
        let lambda = mean * (1.0 + 0.5 * (std::f64::consts::TAU * t).sin());
        poisson(rng, lambda)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_seed_and_distinct_across_seeds() {
        for f in Family::all() {
            assert_eq!(f.generate(3, 100), f.generate(3, 100), "{}", f.name());
            assert_eq!(f.generate(3, 100).len(), 100);
            if f != Family::Constant {
                assert_ne!(f.generate(3, 100), f.generate(4, 100), "{}", f.name());
            }
        }
    }

    #[test]
    fn families_have_their_shape() {
        let n = 2000;
        let cpu = Family::TsbsCpu.generate(1, n);
        assert!(cpu.iter().all(|v| (0.0..=100.0).contains(v)));
        assert!(Family::TsbsInt
            .generate(1, n)
            .iter()
            .all(|v| v.fract() == 0.0));
        let counts = Family::CountPerMin.generate(1, n);
        let rates = Family::RatePerSec.generate(1, n);
        assert!(counts.iter().all(|v| v.fract() == 0.0 && *v >= 0.0));
        assert!(rates.iter().all(|v| (v * 60.0).round() / 60.0 == *v));
        let zeros = Family::SparseErr
            .generate(1, n)
            .iter()
            .filter(|v| **v == 0.0)
            .count();
        assert!(zeros > n * 9 / 10 && zeros < n);
        let gauge = Family::IntGauge.generate(1, n);
        let changes = gauge.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(changes > n / 20 && changes < n / 5, "{changes}");
        let c = Family::Constant.generate(1, n);
        assert!(c.iter().all(|v| *v == c[0]));
    }

    #[test]
    fn production_mix_sums_to_one() {
        let total: f64 = PRODUCTION_MIX.iter().map(|(_, w)| w).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }
}

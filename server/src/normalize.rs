//! Ingest normalisation: turns the samples a client publishes into one value per step,
//! following Atlas's rules for each `atlas.dstype`.
//!
//! | dstype | stored at interval end T |
//! |---|---|
//! | `rate` (default) | time-weighted average of the rates whose sample intervals overlap (T-step, T] |
//! | `counter` | `(v - prev) / Δt` seconds, then as `rate`; the first sample only primes the state |
//! | `gauge` | max of the samples in the interval; the timestamp is rounded up to the step |
//! | `sum` | sum of the samples in the interval |

/// How the values of a series are normalised to the step, from its `atlas.dstype` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsType {
    /// A rate per second, averaged over the step by time (the default).
    Rate,
    /// A monotonic counter converted to a rate per second.
    Counter,
    /// A sampled value: the max within the step.
    Gauge,
    /// Deltas added up within the step.
    Sum,
}

impl DsType {
    /// The dstype named by an `atlas.dstype` tag value; anything unknown is a rate, as in
    /// Atlas.
    pub fn from_tag(value: Option<&str>) -> DsType {
        match value {
            Some("gauge") => DsType::Gauge,
            Some("counter") => DsType::Counter,
            Some("sum") => DsType::Sum,
            _ => DsType::Rate,
        }
    }
}

/// What one sample does to the stored intervals: a list of `(interval end, action)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Update {
    /// Add `value` to the interval (NaN counts as zero).
    Add(i64, f64),
    /// Keep the max of the interval and `value` (NaN is ignored).
    Max(i64, f64),
}

/// Timestamp of the end of the interval that contains `t`: `t` rounded up to the step.
pub fn interval_end(t: i64, step: i64) -> i64 {
    let r = t.rem_euclid(step);
    if r == 0 {
        t
    } else {
        t - r + step
    }
}

/// Per-series normalisation state. Small on purpose: it lives in every series.
#[derive(Debug, Clone, Copy)]
pub struct Normalizer {
    dstype: DsType,
    /// Timestamp of the last accepted sample, `i64::MIN` before the first.
    last_time: i64,
    /// Value of the last accepted raw counter sample.
    last_value: f64,
}

impl Normalizer {
    /// A fresh state for a series of this dstype.
    pub fn new(dstype: DsType) -> Self {
        Normalizer {
            dstype,
            last_time: i64::MIN,
            last_value: f64::NAN,
        }
    }

    /// The state a checkpoint saves: time and raw value of the last accepted sample.
    pub fn state(&self) -> (i64, f64) {
        (self.last_time, self.last_value)
    }

    /// A state read back from a checkpoint.
    pub fn with_state(dstype: DsType, last_time: i64, last_value: f64) -> Self {
        Normalizer {
            dstype,
            last_time,
            last_value,
        }
    }

    /// Applies one sample taken at `t` (epoch ms) and calls `apply` for every interval it
    /// touches. Returns false when the sample was ignored (out of order or a duplicate for
    /// a rate or counter, or the first sample of a counter).
    pub fn sample(&mut self, t: i64, v: f64, step: i64, mut apply: impl FnMut(Update)) -> bool {
        match self.dstype {
            DsType::Gauge => {
                if !v.is_nan() {
                    apply(Update::Max(interval_end(t, step), v));
                }
                true
            }
            DsType::Sum => {
                if !v.is_nan() {
                    apply(Update::Add(interval_end(t, step), v));
                }
                true
            }
            DsType::Rate => self.rate(t, v, step, step, apply),
            DsType::Counter => {
                if t <= self.last_time {
                    return false;
                }
                let first = self.last_time == i64::MIN;
                let (prev_t, prev_v) = (self.last_time, self.last_value);
                self.last_value = v;
                if first {
                    self.last_time = t;
                    return false;
                }
                let seconds = (t - prev_t) as f64 / 1000.0;
                let delta = v - prev_v;
                // A reset (negative delta) reports 0 rather than a huge negative rate.
                let rate = if delta < 0.0 || seconds <= 0.0 {
                    0.0
                } else {
                    delta / seconds
                };
                let heartbeat = if step < 60_000 { 120_000 } else { 2 * step };
                self.rate(t, rate, step, heartbeat, apply)
            }
        }
    }

    /// Spreads a rate sample over the intervals its time span overlaps, weighted by the
    /// overlap. The span is (previous sample, t] when the previous sample is within the
    /// heartbeat, else one step back from `t`.
    fn rate(
        &mut self,
        t: i64,
        v: f64,
        step: i64,
        heartbeat: i64,
        mut apply: impl FnMut(Update),
    ) -> bool {
        if t <= self.last_time {
            return false;
        }
        let begin = if self.last_time != i64::MIN && t - self.last_time <= heartbeat {
            self.last_time
        } else {
            t - step
        };
        self.last_time = t;
        if v.is_nan() {
            return true;
        }
        let mut end = (begin.div_euclid(step) + 1) * step;
        while end - step < t {
            let overlap = end.min(t) - (end - step).max(begin);
            if overlap > 0 {
                let weight = overlap as f64 / step as f64;
                apply(Update::Add(end, v * weight));
            }
            end += step;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn run(n: &mut Normalizer, t: i64, v: f64) -> Vec<Update> {
        let mut out = Vec::new();
        n.sample(t, v, MIN, |u| out.push(u));
        out
    }

    fn add_up(updates: &[Update], end: i64) -> f64 {
        updates
            .iter()
            .map(|u| match u {
                Update::Add(e, v) if *e == end => *v,
                _ => 0.0,
            })
            .sum()
    }

    /// Atlas NormalizeValueFunctionSuite: 1.0 at 1:13, 2:13, 3:13 with a 1 m step gives
    /// 47/60 at 1:00 and 1.0 at 2:00 and 3:00.
    #[test]
    fn rate_spreads_by_overlap() {
        let mut n = Normalizer::new(DsType::Rate);
        let mut all = Vec::new();
        for m in 1..=3 {
            all.extend(run(&mut n, m * MIN + 13_000, 1.0));
        }
        assert!((add_up(&all, MIN) - 47.0 / 60.0).abs() < 1e-12);
        assert!((add_up(&all, 2 * MIN) - 1.0).abs() < 1e-12);
        assert!((add_up(&all, 3 * MIN) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rate_on_step_boundaries_is_stored_exactly() {
        let mut n = Normalizer::new(DsType::Rate);
        assert_eq!(run(&mut n, 5 * MIN, 0.1), [Update::Add(5 * MIN, 0.1)]);
        assert_eq!(run(&mut n, 6 * MIN, 0.3), [Update::Add(6 * MIN, 0.3)]);
        // duplicates and older samples are ignored
        assert!(run(&mut n, 6 * MIN, 9.0).is_empty());
        assert!(run(&mut n, 4 * MIN, 9.0).is_empty());
    }

    #[test]
    fn rate_gap_longer_than_heartbeat_resets() {
        let mut n = Normalizer::new(DsType::Rate);
        run(&mut n, MIN, 1.0);
        assert_eq!(run(&mut n, 10 * MIN, 2.0), [Update::Add(10 * MIN, 2.0)]);
    }

    #[test]
    fn counter_becomes_rate_and_drops_first_sample() {
        let mut n = Normalizer::new(DsType::Counter);
        assert!(run(&mut n, MIN, 100.0).is_empty());
        assert_eq!(run(&mut n, 2 * MIN, 160.0), [Update::Add(2 * MIN, 1.0)]);
        // a reset gives 0, not a negative rate
        assert_eq!(run(&mut n, 3 * MIN, 10.0), [Update::Add(3 * MIN, 0.0)]);
    }

    #[test]
    fn gauge_rounds_up_and_sum_adds() {
        let mut g = Normalizer::new(DsType::Gauge);
        assert_eq!(run(&mut g, MIN + 1, 3.0), [Update::Max(2 * MIN, 3.0)]);
        assert_eq!(run(&mut g, 2 * MIN, 1.0), [Update::Max(2 * MIN, 1.0)]);
        assert!(run(&mut g, 2 * MIN, f64::NAN).is_empty());
        let mut s = Normalizer::new(DsType::Sum);
        assert_eq!(run(&mut s, MIN - 5, 2.0), [Update::Add(MIN, 2.0)]);
    }

    #[test]
    fn dstype_from_tag_defaults_to_rate() {
        assert_eq!(DsType::from_tag(None), DsType::Rate);
        assert_eq!(DsType::from_tag(Some("count")), DsType::Rate);
        assert_eq!(DsType::from_tag(Some("gauge")), DsType::Gauge);
    }
}

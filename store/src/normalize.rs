//! Ingest normalisation: turns the samples a client publishes into one value per step,
//! following Atlas's rules for each `atlas.dstype`, whatever order the samples arrive in.
//!
//! | dstype | stored at interval end T |
//! |---|---|
//! | `rate` (default) | time-weighted average of the rates whose sample spans overlap (T-step, T] |
//! | `counter` | `(v - prev) / Δt` seconds, then as `rate`; the first sample only primes the state |
//! | `gauge` | max of the samples in the interval; the timestamp is rounded up to the step |
//! | `sum` | sum of the samples in the interval |
//!
//! Order: `gauge` and `sum` commute, so a sample is applied whenever it arrives. A `rate`
//! or `counter` sample's span (and a counter's rate) depend on the sample before it, so
//! the normaliser keeps the newest [`REORDER_SAMPLES`] raw samples: a sample older than
//! the newest is inserted among them and the intervals whose value changes are computed
//! again from those samples, in time order, exactly as in-order arrival adds them up. A
//! sample that would need a sample no longer kept is refused ([`Reorder::OutOfOrder`]),
//! never applied half-way.

/// Raw samples a `rate` or `counter` series keeps to take samples that arrive late: the
/// newest four, so two bodies of two steps each may arrive in either order.
pub const REORDER_SAMPLES: usize = 4;

/// Most intervals one late sample may change; past it the sample is refused rather than
/// spend unbounded work on one sample (a 1 ms step with a 2 min heartbeat).
const MAX_REORDER_INTERVALS: usize = 4096;

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

    /// How far back a sample's span may reach to the sample before it: one step for a
    /// rate, two steps (at least two minutes) for a counter, as in Atlas.
    pub fn heartbeat(self, step: i64) -> i64 {
        match self {
            DsType::Counter if step < 60_000 => 120_000,
            DsType::Counter => 2 * step,
            _ => step,
        }
    }
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

/// The time a rate or counter sample covers, `(begin, end]`, and its rate over it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// Exclusive start, ms.
    pub begin: i64,
    /// Inclusive end: the sample's timestamp.
    pub end: i64,
    /// Rate per second over the span; NaN contributes nothing.
    pub rate: f64,
}

impl Span {
    /// The span of a sample at `t` of value `v` after `prev` (`None`: the series' first
    /// sample). A counter's first sample has no span: it only primes the state.
    fn after(dstype: DsType, prev: Option<(i64, f64)>, t: i64, v: f64, step: i64) -> Option<Span> {
        let heartbeat = dstype.heartbeat(step);
        let begin = match prev {
            Some((pt, _)) if t - pt <= heartbeat => pt,
            _ => t - step,
        };
        let rate = match dstype {
            DsType::Counter => {
                let (pt, pv) = prev?;
                let seconds = (t - pt) as f64 / 1000.0;
                let delta = v - pv;
                // A reset (negative delta) reports 0 rather than a huge negative rate.
                if delta < 0.0 || seconds <= 0.0 {
                    0.0
                } else {
                    delta / seconds
                }
            }
            _ => v,
        };
        Some(Span {
            begin,
            end: t,
            rate,
        })
    }

    /// The contribution to the interval ending at `end`, weighted by the overlap; `None`
    /// when the span does not overlap it or its rate is NaN. The arithmetic is the same
    /// as [`Span::spread`]'s, so a value computed again is bit for bit the same.
    fn share(&self, end: i64, step: i64) -> Option<f64> {
        let overlap = end.min(self.end) - (end - step).max(self.begin);
        (overlap > 0 && !self.rate.is_nan()).then(|| self.rate * (overlap as f64 / step as f64))
    }

    /// Ends of the first and last interval the span overlaps.
    fn intervals(&self, step: i64) -> (i64, i64) {
        (
            (self.begin.div_euclid(step) + 1) * step,
            interval_end(self.end, step),
        )
    }

    /// Calls `apply(interval end, contribution)` for every interval the span overlaps,
    /// oldest first.
    pub fn spread(&self, step: i64, mut apply: impl FnMut(i64, f64)) {
        if self.rate.is_nan() {
            return;
        }
        let (mut end, last) = self.intervals(step);
        while end <= last {
            if let Some(c) = self.share(end, step) {
                apply(end, c);
            }
            end += step;
        }
    }
}

/// Adds a contribution to an interval's value the way every write does: the first one
/// replaces the empty marker (NaN), later ones add.
pub fn accumulate(slot: f64, c: f64) -> f64 {
    if slot.is_nan() {
        c
    } else {
        slot + c
    }
}

/// What one sample does, as decided by [`Normalizer::sample`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Keep the max of the interval ending at `.0` and `.1` (a gauge).
    Max(i64, f64),
    /// Add `.1` to the interval ending at `.0` (a sum).
    Add(i64, f64),
    /// Spread the span over the intervals it overlaps (a rate or counter in order).
    Spread(Span),
    /// Taken, nothing to store: a counter's first sample, or a NaN gauge or sum.
    Kept,
    /// A rate or counter sample with the timestamp of a kept one: the first one wins.
    Duplicate,
    /// A rate or counter sample older than the newest: see [`Normalizer::reorder`].
    Late,
}

/// Why a late sample cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A sample with this timestamp was already taken.
    Duplicate,
    /// The sample needs a neighbour the normaliser no longer keeps.
    OutOfOrder,
}

/// A late rate or counter sample worked out but not yet committed: the intervals whose
/// value changes and the samples the normaliser keeps afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Reorder {
    times: [i64; REORDER_SAMPLES + 1],
    values: [f64; REORDER_SAMPLES + 1],
    len: usize,
    /// Interval ends, ascending, with the whole value each holds now (NaN: none).
    pub intervals: Vec<(i64, f64)>,
}

/// Per-series normalisation state: the newest raw samples, oldest first (for a gauge or
/// a sum only the newest timestamp, which keeps the series while samples may still come).
#[derive(Debug, Clone, Copy)]
pub struct Normalizer {
    dstype: DsType,
    len: u8,
    /// True while `times[0]` is the first sample the series ever took, so its span is
    /// known; false once an older sample was let go (or after a restore).
    complete: bool,
    times: [i64; REORDER_SAMPLES],
    values: [f64; REORDER_SAMPLES],
}

impl Normalizer {
    /// A fresh state for a series of this dstype.
    pub fn new(dstype: DsType) -> Self {
        Normalizer {
            dstype,
            len: 0,
            complete: true,
            times: [i64::MIN; REORDER_SAMPLES],
            values: [f64::NAN; REORDER_SAMPLES],
        }
    }

    /// The series' dstype.
    pub fn dstype(&self) -> DsType {
        self.dstype
    }

    /// Time and raw value of the newest sample, `(i64::MIN, NaN)` before the first.
    pub fn state(&self) -> (i64, f64) {
        match self.len {
            0 => (i64::MIN, f64::NAN),
            n => (self.times[n as usize - 1], self.values[n as usize - 1]),
        }
    }

    /// The kept samples, oldest first, and whether the oldest is the series' first.
    pub fn samples(&self) -> (impl Iterator<Item = (i64, f64)> + '_, bool) {
        let n = self.len as usize;
        let it = self.times[..n]
            .iter()
            .copied()
            .zip(self.values[..n].iter().copied());
        (it, self.complete)
    }

    /// A state read back from a checkpoint: `samples` oldest first (strictly increasing
    /// times, at most [`REORDER_SAMPLES`]; more keeps the newest), `complete` when the
    /// oldest is the series' first.
    pub fn with_samples(
        dstype: DsType,
        samples: &[(i64, f64)],
        complete: bool,
    ) -> Result<Self, String> {
        if samples.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err("normaliser samples are not in time order".to_string());
        }
        let mut n = Normalizer::new(dstype);
        let from = samples.len().saturating_sub(REORDER_SAMPLES);
        for (i, (t, v)) in samples[from..].iter().enumerate() {
            n.times[i] = *t;
            n.values[i] = *v;
        }
        n.len = (samples.len() - from) as u8;
        n.complete = complete && from == 0;
        Ok(n)
    }

    /// Time of the newest sample taken, `i64::MIN` before the first.
    pub fn last_time(&self) -> i64 {
        self.state().0
    }

    /// Takes one sample at `t` (epoch ms) and says what it does to the stored intervals.
    /// A rate or counter sample older than the newest is [`Step::Late`]: nothing changed
    /// yet, work it out with [`Normalizer::reorder`].
    pub fn sample(&mut self, t: i64, v: f64, step: i64) -> Step {
        let n = self.len as usize;
        match self.dstype {
            DsType::Gauge | DsType::Sum => {
                if n == 0 || t > self.times[0] {
                    self.times[0] = t;
                    self.values[0] = v;
                    self.len = 1;
                }
                if v.is_nan() {
                    Step::Kept
                } else if self.dstype == DsType::Gauge {
                    Step::Max(interval_end(t, step), v)
                } else {
                    Step::Add(interval_end(t, step), v)
                }
            }
            DsType::Rate | DsType::Counter => {
                let prev = n.checked_sub(1).map(|i| (self.times[i], self.values[i]));
                match prev {
                    Some((last, _)) if t == last => return Step::Duplicate,
                    Some((last, _)) if t < last => return Step::Late,
                    _ => {}
                }
                let span = Span::after(self.dstype, prev, t, v, step);
                self.push(t, v);
                span.map_or(Step::Kept, Step::Spread)
            }
        }
    }

    /// Appends the newest sample, letting the oldest go when full. No allocation: this is
    /// the path of every in-order sample.
    fn push(&mut self, t: i64, v: f64) {
        let mut n = self.len as usize;
        if n == REORDER_SAMPLES {
            self.times.copy_within(1.., 0);
            self.values.copy_within(1.., 0);
            self.complete = false;
            n -= 1;
        }
        self.times[n] = t;
        self.values[n] = v;
        self.len = n as u8 + 1;
    }

    /// The span of kept sample `i` of `times`/`values`; `None` when it has none (a
    /// counter's first) or when the sample before it is no longer kept (`known` false).
    fn span_at(&self, times: &[i64], values: &[f64], i: usize, step: i64) -> Option<Span> {
        let prev = match i {
            0 if !self.complete => return None,
            0 => None,
            _ => Some((times[i - 1], values[i - 1])),
        };
        Span::after(self.dstype, prev, times[i], values[i], step)
    }

    /// Works out a late rate or counter sample (older than the newest) without changing
    /// anything: where it goes among the kept samples, and the new value of every interval
    /// whose value changes, computed again from the kept samples in time order (so equal,
    /// bit for bit, to what in-order arrival stores). Refused when a sample with the same
    /// timestamp was taken, or when an interval to change also depends on a sample no
    /// longer kept.
    pub fn reorder(&self, t: i64, v: f64, step: i64) -> Result<Reorder, Refusal> {
        let n = self.len as usize;
        let times = &self.times[..n];
        let pos = times.partition_point(|&x| x < t);
        if times.get(pos) == Some(&t) {
            return Err(Refusal::Duplicate);
        }
        // Older than every kept sample: its predecessor is gone, unless there was none.
        if pos == n || (pos == 0 && !self.complete) {
            return Err(Refusal::OutOfOrder);
        }
        let mut plan = Reorder {
            times: [i64::MIN; REORDER_SAMPLES + 1],
            values: [f64::NAN; REORDER_SAMPLES + 1],
            len: n + 1,
            intervals: Vec::new(),
        };
        plan.times[..pos].copy_from_slice(&times[..pos]);
        plan.values[..pos].copy_from_slice(&self.values[..pos]);
        plan.times[pos] = t;
        plan.values[pos] = v;
        plan.times[pos + 1..=n].copy_from_slice(&times[pos..]);
        plan.values[pos + 1..=n].copy_from_slice(&self.values[pos..n]);
        // What changes: the new sample's span, and the span (and a counter's rate) of the
        // sample after it, before and after.
        let changed = [
            self.span_at(&self.times, &self.values, pos, step),
            self.span_at(&plan.times, &plan.values, pos, step),
            self.span_at(&plan.times, &plan.values, pos + 1, step),
        ];
        let mut ends: Vec<i64> = Vec::new();
        for span in changed.iter().flatten() {
            let (mut end, last) = span.intervals(step);
            if ((last - end) / step) as usize >= MAX_REORDER_INTERVALS {
                return Err(Refusal::OutOfOrder);
            }
            while end <= last {
                ends.push(end);
                end += step;
            }
        }
        ends.sort_unstable();
        ends.dedup();
        if ends.len() > MAX_REORDER_INTERVALS {
            return Err(Refusal::OutOfOrder);
        }
        // The oldest kept sample's span is unknown once its predecessor is gone: it must
        // not reach an interval computed again.
        if !self.complete && ends.first().is_some_and(|e| plan.times[0] > e - step) {
            return Err(Refusal::OutOfOrder);
        }
        let spans: Vec<Option<Span>> = (0..=n)
            .map(|i| self.span_at(&plan.times, &plan.values, i, step))
            .collect();
        plan.intervals = ends
            .into_iter()
            .map(|end| {
                let value = spans
                    .iter()
                    .flatten()
                    .filter_map(|s| s.share(end, step))
                    .fold(f64::NAN, accumulate);
                (end, value)
            })
            .collect();
        Ok(plan)
    }

    /// Keeps the samples of a [`Reorder`] once its intervals are stored.
    pub fn commit(&mut self, plan: &Reorder) {
        let from = plan.len.saturating_sub(REORDER_SAMPLES);
        let n = plan.len - from;
        self.times[..n].copy_from_slice(&plan.times[from..plan.len]);
        self.values[..n].copy_from_slice(&plan.values[from..plan.len]);
        self.len = n as u8;
        if from > 0 {
            self.complete = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const MIN: i64 = 60_000;

    /// Interval values as a store keeps them, written the way `SeriesData::write` does.
    #[derive(Default)]
    struct Slots(BTreeMap<i64, f64>);

    impl Slots {
        fn take(&mut self, n: &mut Normalizer, t: i64, v: f64) -> Result<(), Refusal> {
            match n.sample(t, v, MIN) {
                Step::Max(e, v) => {
                    let s = self.0.entry(e).or_insert(f64::NAN);
                    *s = if s.is_nan() { v } else { s.max(v) };
                }
                Step::Add(e, v) => {
                    let s = self.0.entry(e).or_insert(f64::NAN);
                    *s = accumulate(*s, v);
                }
                Step::Spread(span) => span.spread(MIN, |e, c| {
                    let s = self.0.entry(e).or_insert(f64::NAN);
                    *s = accumulate(*s, c);
                }),
                Step::Kept => {}
                Step::Duplicate => return Err(Refusal::Duplicate),
                Step::Late => {
                    let plan = n.reorder(t, v, MIN)?;
                    for (e, v) in &plan.intervals {
                        self.0.insert(*e, *v);
                    }
                    n.commit(&plan);
                }
            }
            Ok(())
        }

        fn at(&self, end: i64) -> f64 {
            self.0.get(&end).copied().unwrap_or(f64::NAN)
        }

        fn bits(&self) -> Vec<(i64, u64)> {
            let nan = f64::NAN.to_bits();
            self.0
                .iter()
                .map(|(e, v)| (*e, v.to_bits()))
                .filter(|(_, b)| *b != nan)
                .collect()
        }
    }

    /// Atlas NormalizeValueFunctionSuite: 1.0 at 1:13, 2:13, 3:13 with a 1 m step gives
    /// 47/60 at 1:00 and 1.0 at 2:00 and 3:00.
    #[test]
    fn rate_spreads_by_overlap() {
        let mut n = Normalizer::new(DsType::Rate);
        let mut s = Slots::default();
        for m in 1..=3 {
            assert_eq!(s.take(&mut n, m * MIN + 13_000, 1.0), Ok(()));
        }
        assert!((s.at(MIN) - 47.0 / 60.0).abs() < 1e-12);
        assert!((s.at(2 * MIN) - 1.0).abs() < 1e-12);
        assert!((s.at(3 * MIN) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rate_on_step_boundaries_is_stored_exactly() {
        let mut n = Normalizer::new(DsType::Rate);
        assert_eq!(
            n.sample(5 * MIN, 0.1, MIN),
            Step::Spread(Span {
                begin: 4 * MIN,
                end: 5 * MIN,
                rate: 0.1
            })
        );
        let mut s = Slots::default();
        assert_eq!(s.take(&mut n, 6 * MIN, 0.3), Ok(()));
        assert_eq!(s.bits(), [(6 * MIN, 0.3f64.to_bits())]);
        // A duplicate is refused; an older boundary sample lands in its own interval.
        assert_eq!(s.take(&mut n, 6 * MIN, 9.0), Err(Refusal::Duplicate));
        assert_eq!(s.take(&mut n, 4 * MIN, 0.7), Ok(()));
        assert_eq!(s.at(4 * MIN), 0.7);
        assert_eq!(s.at(6 * MIN), 0.3);
        assert_eq!(s.take(&mut n, 4 * MIN, 9.0), Err(Refusal::Duplicate));
    }

    #[test]
    fn rate_gap_longer_than_heartbeat_resets() {
        let mut n = Normalizer::new(DsType::Rate);
        n.sample(MIN, 1.0, MIN);
        assert_eq!(
            n.sample(10 * MIN, 2.0, MIN),
            Step::Spread(Span {
                begin: 9 * MIN,
                end: 10 * MIN,
                rate: 2.0
            })
        );
    }

    #[test]
    fn counter_becomes_rate_and_drops_first_sample() {
        let mut n = Normalizer::new(DsType::Counter);
        let mut s = Slots::default();
        assert_eq!(n.sample(MIN, 100.0, MIN), Step::Kept);
        assert_eq!(s.take(&mut n, 2 * MIN, 160.0), Ok(()));
        // a reset gives 0, not a negative rate
        assert_eq!(s.take(&mut n, 3 * MIN, 10.0), Ok(()));
        assert_eq!(s.bits(), [(2 * MIN, 1f64.to_bits()), (3 * MIN, 0)]);
    }

    /// The case: the body of steps 3-4 is applied before the body of steps 1-2.
    #[test]
    fn a_counter_body_applied_late_gives_the_in_order_rates() {
        let samples: Vec<(i64, f64)> = (0..6)
            .map(|i| (i * MIN, 100.0 + 60.0 * i as f64 * i as f64))
            .collect();
        let mut n = Normalizer::new(DsType::Counter);
        let mut in_order = Slots::default();
        for (t, v) in &samples {
            assert_eq!(in_order.take(&mut n, *t, *v), Ok(()));
        }
        let mut n = Normalizer::new(DsType::Counter);
        let mut late = Slots::default();
        for i in [0, 3, 4, 1, 2, 5] {
            let (t, v) = samples[i];
            assert_eq!(late.take(&mut n, t, v), Ok(()), "sample {i}");
        }
        assert_eq!(late.bits(), in_order.bits());
        assert_eq!(in_order.at(2 * MIN), 3.0);
    }

    #[test]
    fn a_sample_older_than_the_kept_ones_is_refused_and_changes_nothing() {
        let mut n = Normalizer::new(DsType::Counter);
        let mut s = Slots::default();
        for i in 1..=6 {
            assert_eq!(s.take(&mut n, i * MIN, i as f64 * 60.0), Ok(()));
        }
        let before = s.bits();
        // Kept: 3..=6 minutes. Between 2 and 3 needs the sample at 2, no longer kept.
        assert_eq!(s.take(&mut n, 2 * MIN + 1, 1.0), Err(Refusal::OutOfOrder));
        assert_eq!(s.take(&mut n, MIN - 1, 1.0), Err(Refusal::OutOfOrder));
        assert_eq!(s.bits(), before);
        // Between 3 and 4 the neighbours are kept, and the intervals it changes do not
        // depend on the sample at 2.
        assert_eq!(s.take(&mut n, 3 * MIN + 30_000, 210.0), Ok(()));
        assert_eq!(s.at(4 * MIN), 1.0);
    }

    #[test]
    fn gauge_rounds_up_and_sum_adds_in_any_order() {
        let mut g = Normalizer::new(DsType::Gauge);
        assert_eq!(g.sample(MIN + 1, 3.0, MIN), Step::Max(2 * MIN, 3.0));
        assert_eq!(g.sample(2 * MIN, 1.0, MIN), Step::Max(2 * MIN, 1.0));
        assert_eq!(g.sample(2 * MIN, f64::NAN, MIN), Step::Kept);
        assert_eq!(g.sample(5, 1.0, MIN), Step::Max(MIN, 1.0));
        assert_eq!(g.last_time(), 2 * MIN);
        let mut s = Normalizer::new(DsType::Sum);
        assert_eq!(s.sample(MIN - 5, 2.0, MIN), Step::Add(MIN, 2.0));
        assert_eq!(s.sample(MIN - 5, 2.0, MIN), Step::Add(MIN, 2.0));
    }

    #[test]
    fn state_round_trips_through_samples() -> Result<(), String> {
        let mut n = Normalizer::new(DsType::Rate);
        for i in 1..=6 {
            n.sample(i * MIN, i as f64, MIN);
        }
        let (samples, complete) = n.samples();
        let samples: Vec<_> = samples.collect();
        assert_eq!(samples.len(), REORDER_SAMPLES);
        assert!(!complete);
        let back = Normalizer::with_samples(DsType::Rate, &samples, complete)?;
        assert_eq!(back.samples().0.collect::<Vec<_>>(), samples);
        assert_eq!(back.state(), (6 * MIN, 6.0));
        assert!(Normalizer::with_samples(DsType::Rate, &[(2, 1.0), (1, 1.0)], true).is_err());
        Ok(())
    }

    #[test]
    fn dstype_from_tag_defaults_to_rate() {
        assert_eq!(DsType::from_tag(None), DsType::Rate);
        assert_eq!(DsType::from_tag(Some("count")), DsType::Rate);
        assert_eq!(DsType::from_tag(Some("gauge")), DsType::Gauge);
    }
}

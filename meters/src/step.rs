//! Step-aligned accumulation, ported from Spectator's `StepLong`/`StepDouble`.
//!
//! Each meter keeps a `current` interval being recorded and a `previous` one being reported.
//! When a meter sees a newer step index it rolls: `current` moves to `previous`, unless the
//! meter skipped a step, in which case the skipped interval was empty and `previous` becomes
//! the initial value. Reported values are always those of the last completed interval and are
//! stamped with the boundary that ended it (`index * step`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock::Clock;

/// The registry-wide step index that records are attributed to.
///
/// In exact mode (a cheap clock, or no step thread) it is computed from the clock on
/// every call. Otherwise it is an atomic the step thread advances at each boundary and
/// every poll catches up, so records cost no clock read.
#[derive(Debug)]
pub(crate) struct Ticker {
    clock: Arc<dyn Clock>,
    step_ms: i64,
    exact: bool,
    index: AtomicI64,
    // The index before the latest advance, so a meter last rolled there is not treated as
    // having skipped a step when it was the ticker that skipped (a late step thread).
    prior: AtomicI64,
    advance_lock: Mutex<()>,
}

impl Ticker {
    pub(crate) fn new(clock: Arc<dyn Clock>, step_ms: i64, exact: bool) -> Self {
        let now = clock.wall_time().div_euclid(step_ms);
        Self {
            clock,
            step_ms,
            exact,
            index: AtomicI64::new(now),
            prior: AtomicI64::new(now - 1),
            advance_lock: Mutex::new(()),
        }
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    pub(crate) fn step_ms(&self) -> i64 {
        self.step_ms
    }

    pub(crate) fn step_secs(&self) -> f64 {
        self.step_ms as f64 / 1000.0
    }

    /// The boundary (epoch ms) that ends the interval before step `index`.
    pub(crate) fn timestamp(&self, index: i64) -> i64 {
        index * self.step_ms
    }

    /// The step index a record made now belongs to.
    #[inline]
    pub(crate) fn index(&self) -> i64 {
        if self.exact {
            self.clock.wall_time().div_euclid(self.step_ms)
        } else {
            self.index.load(Ordering::Acquire)
        }
    }

    /// Catches the index up with the clock and returns the index to poll at.
    pub(crate) fn advance(&self) -> i64 {
        let now = self.clock.wall_time().div_euclid(self.step_ms);
        self.advance_to(now)
    }

    /// Moves the index to at least `to`; used directly only by the final flush, which
    /// pretends the current step has ended.
    pub(crate) fn advance_to(&self, to: i64) -> i64 {
        let _g = self.advance_lock.lock();
        let cur = self.index.load(Ordering::Acquire);
        if to > cur {
            self.prior.store(cur, Ordering::Release);
            self.index.store(to, Ordering::Release);
            to
        } else {
            cur
        }
    }

    /// Whether a meter last rolled at `last` and now rolling at `now` covers adjacent intervals.
    #[inline]
    pub(crate) fn adjacent(&self, last: i64, now: i64) -> bool {
        last == now - 1
            || (!self.exact
                && now == self.index.load(Ordering::Acquire)
                && last == self.prior.load(Ordering::Acquire))
    }
}

/// Which step a meter's `current` belongs to, and how far rolling has completed.
#[derive(Debug)]
pub(crate) struct StepPos {
    init: AtomicI64,
    done: AtomicI64,
}

impl StepPos {
    pub(crate) fn new(index: i64) -> Self {
        Self {
            init: AtomicI64::new(index),
            done: AtomicI64::new(index),
        }
    }

    #[inline]
    pub(crate) fn needs_roll(&self, now: i64) -> bool {
        self.init.load(Ordering::Acquire) < now
    }

    /// Claims the roll to `now`. Returns the index `current` was started at, or `None` if
    /// another thread rolled (or is rolling) instead.
    #[inline]
    pub(crate) fn claim(&self, now: i64) -> Option<i64> {
        let last = self.init.load(Ordering::Acquire);
        if last < now
            && self
                .init
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            Some(last)
        } else {
            None
        }
    }

    pub(crate) fn finish(&self, now: i64) {
        self.done.fetch_max(now, Ordering::AcqRel);
    }

    /// Rolls to step `now` if it is newer: the one thread that claims the roll runs `roll`,
    /// told whether the interval it moves to `previous` is adjacent to `now` (else it was
    /// skipped and `previous` must become the initial value). The check stays inlined on the
    /// record path; the roll itself is out of line.
    #[inline]
    pub(crate) fn roll(&self, ticker: &Ticker, now: i64, roll: impl FnOnce(bool)) {
        if self.needs_roll(now) {
            self.roll_slow(ticker, now, roll);
        }
    }

    #[cold]
    fn roll_slow(&self, ticker: &Ticker, now: i64, roll: impl FnOnce(bool)) {
        if let Some(last) = self.claim(now) {
            roll(ticker.adjacent(last, now));
            self.finish(now);
        }
    }

    /// Waits for a roll another thread claimed to publish `previous`. Called by pollers only;
    /// the window is a handful of instructions, so yielding lets a preempted roller finish.
    pub(crate) fn wait_rolled(&self, now: i64) {
        while self.done.load(Ordering::Acquire) < now && self.init.load(Ordering::Acquire) >= now {
            std::hint::spin_loop();
            std::thread::yield_now();
        }
    }
}

/// An `f64` in an `AtomicU64`.
#[derive(Debug)]
pub(crate) struct AtomicF64(AtomicU64);

impl AtomicF64 {
    pub(crate) fn new(v: f64) -> Self {
        Self(AtomicU64::new(v.to_bits()))
    }

    #[inline]
    pub(crate) fn load(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Acquire))
    }

    #[inline]
    pub(crate) fn store(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Release);
    }

    #[inline]
    pub(crate) fn swap(&self, v: f64) -> f64 {
        f64::from_bits(self.0.swap(v.to_bits(), Ordering::AcqRel))
    }

    #[inline]
    pub(crate) fn add(&self, v: f64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + v).to_bits();
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Keeps the larger value; a NaN current value loses to anything, as in `StepDouble.max`.
    /// Non-finite inputs are ignored.
    #[inline]
    pub(crate) fn max(&self, v: f64) {
        if !v.is_finite() {
            return;
        }
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let c = f64::from_bits(cur);
            if !c.is_nan() && c >= v {
                return;
            }
            match self.0.compare_exchange_weak(
                cur,
                v.to_bits(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

/// `fetch_max` without the write when the value would not change, which is the common case
/// for a step's maximum and keeps the cache line shared.
#[inline]
pub(crate) fn max_u64(a: &AtomicU64, v: u64) {
    if a.load(Ordering::Relaxed) < v {
        a.fetch_max(v, Ordering::AcqRel);
    }
}

/// The step index of a meter's latest update, for expiry.
#[derive(Debug)]
pub(crate) struct Touched(AtomicI64);

impl Touched {
    pub(crate) fn new(index: i64) -> Self {
        Self(AtomicI64::new(index))
    }

    #[inline]
    pub(crate) fn touch(&self, index: i64) {
        // Read first: the store happens once per step, not once per record.
        if self.0.load(Ordering::Relaxed) < index {
            self.0.fetch_max(index, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn exact_ticker_follows_clock() {
        let clock = ManualClock::new(0);
        let t = Ticker::new(Arc::new(clock.clone()), 1000, true);
        assert_eq!(t.index(), 0);
        clock.set_wall_time(2_500);
        assert_eq!(t.index(), 2);
        assert!(t.adjacent(1, 2));
        assert!(!t.adjacent(0, 2));
    }

    #[test]
    fn coarse_ticker_moves_only_when_advanced() {
        let clock = ManualClock::new(0);
        let t = Ticker::new(Arc::new(clock.clone()), 1000, false);
        clock.set_wall_time(3_100);
        assert_eq!(
            t.index(),
            0,
            "records keep the old index until the ticker advances"
        );
        assert_eq!(t.advance(), 3);
        assert_eq!(t.index(), 3);
        // The ticker itself skipped 1 and 2: a meter last rolled at 0 is not a gap.
        assert!(t.adjacent(0, 3));
        clock.set_wall_time(1_000);
        assert_eq!(t.advance(), 3, "never moves backwards");
    }

    #[test]
    fn step_pos_claims_once() {
        let p = StepPos::new(5);
        assert!(!p.needs_roll(5));
        assert!(p.needs_roll(6));
        assert_eq!(p.claim(6), Some(5));
        assert_eq!(p.claim(6), None);
        p.finish(6);
        p.wait_rolled(6);
    }

    #[test]
    fn atomic_f64_max_semantics() {
        let a = AtomicF64::new(f64::NAN);
        a.max(-3.0);
        assert_eq!(a.load(), -3.0);
        a.max(f64::INFINITY);
        a.max(f64::NAN);
        assert_eq!(a.load(), -3.0);
        a.max(2.0);
        a.add(0.5);
        assert_eq!(a.load(), 2.5);
    }
}

//! Timing a block of code: [`TimerGuard`], and the `start` / `time` methods of the timers that
//! hand one out. They live here, not with each timer, so that `timer.rs` and `percentile.rs`
//! do not import each other (a percentile timer is built on a plain timer).

use std::time::Duration;

use super::percentile::PercentileTimer;
use super::timer::Timer;

#[derive(Debug)]
enum Recorder {
    Timer(Timer),
    Percentile(PercentileTimer),
}

/// Records the time from its creation to its drop (or [`TimerGuard::stop`]).
#[derive(Debug)]
#[must_use = "the time is recorded when the guard is dropped"]
pub struct TimerGuard {
    recorder: Option<Recorder>,
    start: i64,
}

impl TimerGuard {
    fn new(recorder: Recorder, start: i64) -> Self {
        Self {
            recorder: Some(recorder),
            start,
        }
    }

    /// Stops timing now, records, and returns the elapsed time.
    pub fn stop(mut self) -> Duration {
        self.finish()
    }

    fn finish(&mut self) -> Duration {
        let Some(r) = self.recorder.take() else {
            return Duration::ZERO;
        };
        let now = match &r {
            Recorder::Timer(t) => t.now(),
            Recorder::Percentile(p) => p.now(),
        };
        let nanos = now.saturating_sub(self.start).max(0);
        match &r {
            Recorder::Timer(t) => t.record_nanos(nanos),
            Recorder::Percentile(p) => p.record_nanos(nanos),
        }
        Duration::from_nanos(nanos as u64)
    }
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Timer {
    /// Runs `f`, records how long it took (by the registry's monotonic clock) and returns its
    /// result.
    pub fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.start();
        f()
    }

    /// Starts timing; the returned guard records when dropped or stopped.
    #[must_use = "the time is recorded when the guard is dropped; dropping it at once records ~0"]
    pub fn start(&self) -> TimerGuard {
        TimerGuard::new(Recorder::Timer(self.clone()), self.now())
    }
}

impl PercentileTimer {
    /// Runs `f`, records how long it took and returns its result.
    pub fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.start();
        f()
    }

    /// Starts timing; the returned guard records when dropped or stopped.
    #[must_use = "the time is recorded when the guard is dropped; dropping it at once records ~0"]
    pub fn start(&self) -> TimerGuard {
        TimerGuard::new(Recorder::Percentile(self.clone()), self.now())
    }
}

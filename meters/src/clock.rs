//! Time sources. Every piece of step logic reads time through [`Clock`], so tests drive
//! steps with a [`ManualClock`] instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of wall-clock and monotonic time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Milliseconds since the Unix epoch; step boundaries are multiples of the step in this scale.
    fn wall_time(&self) -> i64;

    /// Nanoseconds from an arbitrary origin that never goes backwards; used to measure durations.
    fn monotonic_time(&self) -> i64;

    /// Whether reading [`Clock::wall_time`] costs about an atomic load.
    ///
    /// Reading the system clock costs ~25 ns, more than a whole counter increment, so by
    /// default meters attribute a record to the step index an exporter's step thread
    /// advances at each boundary. A cheap clock is read on every record instead, which gives
    /// Spectator's exact attribution (and lets manual-clock tests see it).
    fn cheap_to_read(&self) -> bool {
        false
    }
}

/// The operating system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

fn process_origin() -> Instant {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl Clock for SystemClock {
    fn wall_time(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            // A clock set before 1970 is broken; negative time keeps arithmetic sound.
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }

    fn monotonic_time(&self) -> i64 {
        i64::try_from(process_origin().elapsed().as_nanos()).unwrap_or(i64::MAX)
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    wall: Arc<AtomicI64>,
    monotonic: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock at `wall_ms` milliseconds since the epoch, monotonic time 0.
    #[must_use]
    pub fn new(wall_ms: i64) -> Self {
        let clock = Self::default();
        clock.set_wall_time(wall_ms);
        clock
    }

    /// Sets the wall time in milliseconds since the epoch.
    pub fn set_wall_time(&self, ms: i64) {
        self.wall.store(ms, Ordering::SeqCst);
    }

    /// Sets the monotonic time in nanoseconds.
    pub fn set_monotonic_time(&self, ns: i64) {
        self.monotonic.store(ns, Ordering::SeqCst);
    }

    /// Moves both wall and monotonic time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.wall.fetch_add(ms, Ordering::SeqCst);
        self.monotonic.fetch_add(ns, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn wall_time(&self) -> i64 {
        self.wall.load(Ordering::SeqCst)
    }

    fn monotonic_time(&self) -> i64 {
        self.monotonic.load(Ordering::SeqCst)
    }

    fn cheap_to_read(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::new(1_000);
        let b = a.clone();
        b.advance(Duration::from_millis(1_500));
        assert_eq!(a.wall_time(), 2_500);
        assert_eq!(a.monotonic_time(), 1_500_000_000);
        assert!(a.cheap_to_read());
    }

    #[test]
    fn system_clock_is_sane() {
        let c = SystemClock;
        // 2020-01-01 in ms: the system clock of any machine running these tests is later.
        assert!(c.wall_time() > 1_577_836_800_000);
        let a = c.monotonic_time();
        assert!(c.monotonic_time() >= a);
        assert!(!c.cheap_to_read());
    }
}

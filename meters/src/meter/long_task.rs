//! Long task timers: how many tasks are running and for how long, while they run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::measurement::{stat_id, DsType, Measurement};
use crate::id::Id;
use crate::step::{Ticker, Touched};

pub(crate) struct LongTaskCore {
    ticker: Arc<Ticker>,
    pub(crate) touched: Touched,
    next: AtomicU64,
    // Task id → start (monotonic ns). Start and stop are per task, not per request in a
    // hot loop, so a mutex is fine here.
    tasks: Mutex<HashMap<u64, i64>>,
    ids: [Id; 2],
}

impl LongTaskCore {
    pub(crate) fn new(id: &Id, ticker: Arc<Ticker>) -> Self {
        Self {
            touched: Touched::new(ticker.index()),
            next: AtomicU64::new(0),
            tasks: Mutex::new(HashMap::new()),
            ids: [
                stat_id(id, "activeTasks", DsType::Gauge),
                stat_id(id, "duration", DsType::Gauge),
            ],
            ticker,
        }
    }

    pub(crate) fn active(&self) -> usize {
        self.tasks.lock().len()
    }

    fn duration_nanos(&self) -> i64 {
        let now = self.ticker.clock().monotonic_time();
        self.tasks
            .lock()
            .values()
            .map(|s| now.saturating_sub(*s).max(0))
            .fold(0i64, i64::saturating_add)
    }

    fn start(&self) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let now = self.ticker.clock().monotonic_time();
        self.tasks.lock().insert(id, now);
        self.touched.touch(self.ticker.index());
        id
    }

    fn stop(&self, task: u64) -> Duration {
        let start = self.tasks.lock().remove(&task);
        self.touched.touch(self.ticker.index());
        start.map_or(Duration::ZERO, |s| {
            let ns = self.ticker.clock().monotonic_time().saturating_sub(s);
            Duration::from_nanos(ns.max(0) as u64)
        })
    }

    pub(crate) fn measure(&self, now: i64, out: &mut Vec<Measurement>) {
        let ts = self.ticker.timestamp(now);
        let values = [self.active() as f64, self.duration_nanos() as f64 * 1e-9];
        out.extend(
            self.ids
                .iter()
                .zip(values)
                .map(|(id, value)| Measurement::new(id, ts, value)),
        );
    }
}

/// Tracks tasks that run for a long time (a batch job, a migration) while they run. Reports
/// `statistic=activeTasks` (number running) and `statistic=duration` (sum of the running
/// tasks' elapsed seconds), both gauges.
#[derive(Clone, Default)]
#[must_use = "a meter handle records nothing unless used (`let _ =` to only register the meter)"]
pub struct LongTaskTimer {
    core: Option<Arc<LongTaskCore>>,
}

impl LongTaskTimer {
    /// Starts a task; it runs until the returned handle is stopped or dropped.
    #[must_use = "the task stops when the handle is dropped"]
    pub fn start(&self) -> LongTask {
        LongTask {
            task: self.core.as_ref().map(|c| (c.clone(), c.start())),
        }
    }

    /// Number of running tasks.
    #[must_use]
    pub fn active_tasks(&self) -> usize {
        self.core.as_ref().map_or(0, |c| c.active())
    }

    /// Sum of the running tasks' elapsed time.
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.core.as_ref().map_or(Duration::ZERO, |c| {
            Duration::from_nanos(c.duration_nanos().max(0) as u64)
        })
    }
}

handle_basics!(
    LongTaskTimer,
    LongTaskCore,
    "A long task timer that records nothing.",
    |c| c.ids[0]
);

/// A running task of a [`LongTaskTimer`]; stops when dropped.
#[must_use = "the task stops when the handle is dropped"]
pub struct LongTask {
    task: Option<(Arc<LongTaskCore>, u64)>,
}

impl LongTask {
    /// Stops the task and returns how long it ran.
    pub fn stop(mut self) -> Duration {
        self.task
            .take()
            .map_or(Duration::ZERO, |(c, id)| c.stop(id))
    }
}

impl Drop for LongTask {
    fn drop(&mut self) {
        if let Some((c, id)) = self.task.take() {
            c.stop(id);
        }
    }
}

impl std::fmt::Debug for LongTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LongTask")
            .field("task", &self.task.as_ref().map(|(_, id)| id))
            .finish()
    }
}

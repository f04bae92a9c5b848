//! What the publisher's threads, `flush` and `shutdown` share: the queue of encoded steps,
//! the stop signal, the counts behind `PublishStats`, and the client's own meters. A leaf, so
//! the threads (`mod.rs`) and the sender (`http.rs`) both use it without using each other.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use sextant_meters::{Counter, Id, Registry};

use crate::config::Config;

/// One gzipped request body and the number of datapoints in it.
pub(super) struct Batch {
    pub(super) body: Vec<u8>,
    pub(super) count: usize,
}

#[derive(Default)]
pub(super) struct Queue {
    pub(super) steps: VecDeque<Vec<Batch>>,
    pub(super) in_flight: bool,
    pub(super) closing: bool,
}

/// Publishing state shared by both threads, `flush` and `shutdown`.
pub(super) struct PublishState {
    pub(super) registry: Registry,
    pub(super) config: Config,
    pub(super) stats: StatsCells,
    pub(super) self_metrics: OnceLock<SelfMetrics>,
    pub(super) agent: ureq::Agent,
    pub(super) queue: Mutex<Queue>,
    pub(super) queue_cv: Condvar,
    // Last step index collected: each step is published once, by whoever gets there first.
    // Held across a whole collection, so shard locks nest inside it (never the reverse).
    pub(super) last_collected: Mutex<i64>,
    pub(super) stop: Mutex<bool>,
    pub(super) stop_cv: Condvar,
    pub(super) closing: AtomicBool,
}

impl PublishState {
    pub(super) fn new(registry: Registry, config: Config, agent: ureq::Agent) -> Self {
        // The registry was just created, so the steps up to the current one hold nothing:
        // the first collection is at the next boundary.
        let index = registry.advance();
        Self {
            agent,
            registry,
            config,
            stats: StatsCells::default(),
            self_metrics: OnceLock::new(),
            queue: Mutex::new(Queue::default()),
            queue_cv: Condvar::new(),
            last_collected: Mutex::new(index),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
            closing: AtomicBool::new(false),
        }
    }

    pub(super) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Waits up to `d`; returns true if the step thread was told to stop.
    pub(super) fn wait_stop(&self, d: Duration) -> bool {
        let mut stop = self.stop.lock();
        if !*stop {
            let _ = self.stop_cv.wait_for(&mut stop, d);
        }
        *stop
    }
}

/// Cumulative publishing counts since the registry started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishStats {
    /// Datapoints the server accepted.
    pub sent: u64,
    /// Datapoints the server refused (from `errorCount` of a 202/400 answer): invalid, or
    /// not applied because of their arrival order (duplicate, out of order, late).
    pub dropped_validation: u64,
    /// Datapoints lost to connect errors, timeouts, 5xx answers or exhausted retries.
    pub dropped_http: u64,
    /// Datapoints lost to an unreadable 4xx answer.
    pub dropped_other: u64,
    /// Datapoints dropped unsent because the queue was full (server slower than the step).
    pub dropped_queue: u64,
    /// HTTP attempts made, retries included.
    pub requests: u64,
    /// Attempts that failed (no answer, or a non-2xx status).
    pub failed_requests: u64,
}

impl PublishStats {
    /// All datapoints dropped, whatever the reason.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped_validation + self.dropped_http + self.dropped_other + self.dropped_queue
    }
}

#[derive(Default)]
pub(super) struct Cell(AtomicU64);

impl Cell {
    pub(super) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub(super) struct StatsCells {
    pub(super) sent: Cell,
    pub(super) dropped_validation: Cell,
    pub(super) dropped_http: Cell,
    pub(super) dropped_other: Cell,
    pub(super) dropped_queue: Cell,
    pub(super) requests: Cell,
    pub(super) failed_requests: Cell,
}

impl StatsCells {
    pub(super) fn snapshot(&self) -> PublishStats {
        PublishStats {
            sent: self.sent.get(),
            dropped_validation: self.dropped_validation.get(),
            dropped_http: self.dropped_http.get(),
            dropped_other: self.dropped_other.get(),
            dropped_queue: self.dropped_queue.get(),
            requests: self.requests.get(),
            failed_requests: self.failed_requests.get(),
        }
    }
}

/// The client's own meters, named as Spectator names them (PR #835).
pub(super) struct SelfMetrics {
    pub(super) sent: Counter,
    pub(super) dropped_validation: Counter,
    pub(super) dropped_http: Counter,
    pub(super) dropped_other: Counter,
    pub(super) dropped_queue: Counter,
}

pub(super) fn self_metrics(ps: &PublishState) -> &SelfMetrics {
    ps.self_metrics.get_or_init(|| {
        let base = Id::new("spectator.measurements");
        let r = &ps.registry;
        let dropped = |e: &str| r.counter(base.with_tags([("id", "dropped"), ("error", e)]));
        SelfMetrics {
            sent: r.counter(base.with_tag("id", "sent")),
            dropped_validation: dropped("validation"),
            dropped_http: dropped("http-error"),
            dropped_other: dropped("other"),
            dropped_queue: dropped("queue-full"),
        }
    })
}

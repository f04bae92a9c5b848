//! Background publishing: a step thread that collects at each boundary and a sender thread
//! that posts batches, joined by a small bounded queue.
//!
//! Collection never waits for the network, so a slow or dead server delays no step boundary,
//! and the queue drops its oldest step when it is full, so memory stays bounded.

mod encode;
mod http;

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::meter::{Counter, Measurement};
use crate::registry::Shared;

// Steps waiting to be sent. Two covers one slow send overlapping the next boundary; beyond
// that the server is not keeping up and fresh data is worth more than old.
const MAX_PENDING_STEPS: usize = 2;

/// One gzipped request body and the number of datapoints in it.
pub(crate) struct Batch {
    body: Vec<u8>,
    count: usize,
}

#[derive(Default)]
struct Queue {
    steps: VecDeque<Vec<Batch>>,
    in_flight: bool,
    closing: bool,
}

/// Publishing state shared by both threads and `flush`.
pub(crate) struct PublishState {
    agent: ureq::Agent,
    queue: Mutex<Queue>,
    queue_cv: Condvar,
    // Last step index collected: each step is published once, by whoever gets there first.
    // Held across a whole collection, so shard locks nest inside it (never the reverse).
    last_collected: Mutex<i64>,
    stop: Mutex<bool>,
    stop_cv: Condvar,
    closing: AtomicBool,
}

impl PublishState {
    pub(crate) fn new(config: &Config, index: i64) -> Self {
        Self {
            agent: http::agent(config),
            queue: Mutex::new(Queue::default()),
            queue_cv: Condvar::new(),
            last_collected: Mutex::new(index),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
            closing: AtomicBool::new(false),
        }
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Waits up to `d`; returns true if the step thread was told to stop.
    fn wait_stop(&self, d: Duration) -> bool {
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
    /// Datapoints the server rejected as invalid (from `errorCount` of a 202/400 answer).
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
pub(crate) struct Cell(AtomicU64);

impl Cell {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub(crate) struct StatsCells {
    pub(crate) sent: Cell,
    pub(crate) dropped_validation: Cell,
    pub(crate) dropped_http: Cell,
    pub(crate) dropped_other: Cell,
    pub(crate) dropped_queue: Cell,
    pub(crate) requests: Cell,
    pub(crate) failed_requests: Cell,
}

impl StatsCells {
    pub(crate) fn snapshot(&self) -> PublishStats {
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
pub(crate) struct SelfMetrics {
    sent: Counter,
    dropped_validation: Counter,
    dropped_http: Counter,
    dropped_other: Counter,
    dropped_queue: Counter,
}

pub(crate) fn self_metrics(shared: &Shared) -> &SelfMetrics {
    shared.self_metrics.get_or_init(|| {
        let base = Id::new("spectator.measurements");
        let dropped = |e: &str| shared.counter(base.with_tags([("id", "dropped"), ("error", e)]));
        SelfMetrics {
            sent: shared.counter(base.with_tag("id", "sent")),
            dropped_validation: dropped("validation"),
            dropped_http: dropped("http-error"),
            dropped_other: dropped("other"),
            dropped_queue: dropped("queue-full"),
        }
    })
}

/// Collects step `index` unless already collected, and queues its batches.
fn collect(shared: &Shared, ps: &PublishState, index: i64) {
    let mut last = ps.last_collected.lock();
    if index <= *last {
        return;
    }
    *last = index;
    let mut ms: Vec<Measurement> = shared.measure_all(index);
    ms.retain(|m| m.value.is_finite());
    let common = shared.config.common_tags();
    let mut batches = Vec::new();
    for chunk in ms.chunks(shared.config.batch_size()) {
        match encode::gzip(&encode::batch_json(common, chunk)) {
            Ok(body) => batches.push(Batch {
                body,
                count: chunk.len(),
            }),
            Err(e) => {
                shared.stats.dropped_other.add(chunk.len() as u64);
                shared.note_error(format!("could not compress a batch: {e}"));
            }
        }
    }
    if !batches.is_empty() {
        let mut dropped = 0u64;
        {
            let mut q = ps.queue.lock();
            q.steps.push_back(batches);
            while q.steps.len() > MAX_PENDING_STEPS {
                if let Some(old) = q.steps.pop_front() {
                    dropped += old.iter().map(|b| b.count as u64).sum::<u64>();
                }
            }
            ps.queue_cv.notify_all();
        }
        if dropped > 0 {
            shared.stats.dropped_queue.add(dropped);
            self_metrics(shared).dropped_queue.increment_by(dropped);
        }
    }
    drop(last);
    shared.remove_expired(index);
}

fn step_loop(shared: &Shared, ps: &PublishState) {
    let step = shared.ticker.step_ms();
    loop {
        let now = shared.ticker.clock().wall_time();
        let next = (now.div_euclid(step) + 1) * step;
        let wait = Duration::from_millis(u64::try_from(next - now).unwrap_or(0));
        if ps.wait_stop(wait) {
            return;
        }
        let index = shared.ticker.advance();
        // A bug in one collection must not end publishing for the life of the process.
        if catch_unwind(AssertUnwindSafe(|| collect(shared, ps, index))).is_err() {
            shared.note_error(format!("collecting step {index} panicked"));
        }
    }
}

fn send_loop(shared: &Shared, ps: &PublishState) {
    loop {
        let step = {
            let mut q = ps.queue.lock();
            loop {
                if let Some(s) = q.steps.pop_front() {
                    q.in_flight = true;
                    break Some(s);
                }
                if q.closing {
                    break None;
                }
                ps.queue_cv.wait(&mut q);
            }
        };
        let Some(batches) = step else {
            return;
        };
        for b in &batches {
            // `in_flight` must be cleared whatever happens, or `flush` would wait forever.
            if catch_unwind(AssertUnwindSafe(|| http::send_batch(shared, ps, b))).is_err() {
                shared.stats.dropped_other.add(b.count as u64);
                shared.note_error(format!("sending a batch of {} panicked", b.count));
            }
        }
        let mut q = ps.queue.lock();
        q.in_flight = false;
        ps.queue_cv.notify_all();
    }
}

/// The background threads of one registry.
pub(crate) struct Publisher {
    step_thread: Option<JoinHandle<()>>,
    send_thread: Option<JoinHandle<()>>,
}

impl Publisher {
    pub(crate) fn start(shared: &Arc<Shared>) -> Result<Self> {
        let s1 = shared.clone();
        let step_thread = std::thread::Builder::new()
            .name("sextant-step".into())
            .spawn(move || {
                if let Some(ps) = &s1.publish {
                    step_loop(&s1, ps);
                }
            })
            .map_err(Error::Spawn)?;
        let s2 = shared.clone();
        let send_thread = std::thread::Builder::new()
            .name("sextant-send".into())
            .spawn(move || {
                if let Some(ps) = &s2.publish {
                    send_loop(&s2, ps);
                }
            });
        let mut p = Self {
            step_thread: Some(step_thread),
            send_thread: None,
        };
        match send_thread {
            Ok(h) => {
                p.send_thread = Some(h);
                Ok(p)
            }
            Err(e) => {
                p.shutdown(shared);
                Err(Error::Spawn(e))
            }
        }
    }

    pub(crate) fn flush(&self, shared: &Shared) {
        let Some(ps) = &shared.publish else {
            return;
        };
        let index = shared.ticker.advance();
        collect(shared, ps, index);
        if self.send_thread.is_none() {
            return;
        }
        let mut q = ps.queue.lock();
        while !q.steps.is_empty() || q.in_flight {
            ps.queue_cv.wait(&mut q);
        }
    }

    pub(crate) fn shutdown(mut self, shared: &Shared) {
        let Some(ps) = &shared.publish else {
            return;
        };
        *ps.stop.lock() = true;
        ps.stop_cv.notify_all();
        if let Some(h) = self.step_thread.take() {
            let _ = h.join();
        }
        // As Spectator's stop(): publish the last completed step, then pretend the current
        // step has ended and publish it too, so a short-lived process loses nothing.
        let index = shared.ticker.advance();
        collect(shared, ps, index);
        let next = shared.ticker.advance_to(index + 1);
        collect(shared, ps, next);
        ps.closing.store(true, Ordering::Release);
        {
            let mut q = ps.queue.lock();
            q.closing = true;
            ps.queue_cv.notify_all();
        }
        if let Some(h) = self.send_thread.take() {
            let _ = h.join();
        }
    }
}

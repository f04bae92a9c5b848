//! Background publishing, the exporter of a [`sextant_meters::Registry`]: a step thread that
//! advances the registry and collects at each boundary, and a sender thread that posts
//! batches, joined by a small bounded queue. It reads the registry through its public API
//! only; the registry knows nothing of it.
//!
//! Collection never waits for the network, so a slow or dead server delays no step boundary,
//! and the queue drops its oldest step when it is full, so memory stays bounded.

mod encode;
mod http;
mod state;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use sextant_meters::{Measurement, Registry};

use crate::config::Config;
use crate::error::{Error, Result};
pub use state::PublishStats;
use state::{self_metrics, Batch, PublishState};

// Steps waiting to be sent. Two covers one slow send overlapping the next boundary; beyond
// that the server is not keeping up and fresh data is worth more than old.
const MAX_PENDING_STEPS: usize = 2;

/// Collects step `index` unless already collected, and queues its batches.
fn collect(ps: &PublishState, index: i64) {
    let mut last = ps.last_collected.lock();
    if index <= *last {
        return;
    }
    *last = index;
    let mut ms: Vec<Measurement> = ps.registry.measure(index);
    ms.retain(|m| m.value.is_finite());
    let common = ps.config.common_tags();
    let mut batches = Vec::new();
    for chunk in ms.chunks(ps.config.batch_size()) {
        match encode::gzip(&encode::batch_json(common, chunk)) {
            Ok(body) => batches.push(Batch {
                body,
                count: chunk.len(),
            }),
            Err(e) => {
                ps.stats.dropped_other.add(chunk.len() as u64);
                ps.registry
                    .note_error(format!("could not compress a batch: {e}"));
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
            ps.stats.dropped_queue.add(dropped);
            self_metrics(ps).dropped_queue.increment_by(dropped);
        }
    }
    drop(last);
    ps.registry.remove_expired(index);
}

fn step_loop(ps: &PublishState) {
    let step = ps.registry.config().step_ms();
    loop {
        let now = ps.registry.clock().wall_time();
        let next = (now.div_euclid(step) + 1) * step;
        let wait = Duration::from_millis(u64::try_from(next - now).unwrap_or(0));
        if ps.wait_stop(wait) {
            return;
        }
        let index = ps.registry.advance();
        // A bug in one collection must not end publishing for the life of the process.
        if catch_unwind(AssertUnwindSafe(|| collect(ps, index))).is_err() {
            ps.registry
                .note_error(format!("collecting step {index} panicked"));
        }
    }
}

fn send_loop(ps: &PublishState) {
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
            if catch_unwind(AssertUnwindSafe(|| http::send_batch(ps, b))).is_err() {
                ps.stats.dropped_other.add(b.count as u64);
                ps.registry
                    .note_error(format!("sending a batch of {} panicked", b.count));
            }
        }
        let mut q = ps.queue.lock();
        q.in_flight = false;
        ps.queue_cv.notify_all();
    }
}

/// The background threads of one registry.
struct Threads {
    step: Option<JoinHandle<()>>,
    send: Option<JoinHandle<()>>,
}

/// Publishes a registry's measurements over HTTP from two background threads, until
/// [`Publisher::shutdown`]. Its counts outlive the threads.
pub(crate) struct Publisher {
    state: Arc<PublishState>,
    threads: Mutex<Option<Threads>>,
}

impl Publisher {
    /// Starts publishing `registry`, whose config must declare a step thread (the step
    /// thread started here), to `config.uri()`.
    pub(crate) fn start(registry: Registry, config: Config) -> Result<Self> {
        let agent = http::agent(&config);
        let state = Arc::new(PublishState::new(registry, config, agent));
        let s1 = state.clone();
        let step = std::thread::Builder::new()
            .name("sextant-step".into())
            .spawn(move || step_loop(&s1))
            .map_err(Error::Spawn)?;
        let s2 = state.clone();
        let send = std::thread::Builder::new()
            .name("sextant-send".into())
            .spawn(move || send_loop(&s2));
        let p = Self {
            state,
            threads: Mutex::new(Some(Threads {
                step: Some(step),
                send: None,
            })),
        };
        match send {
            Ok(h) => {
                if let Some(t) = p.threads.lock().as_mut() {
                    t.send = Some(h);
                }
                Ok(p)
            }
            Err(e) => {
                p.shutdown();
                Err(Error::Spawn(e))
            }
        }
    }

    /// Cumulative publishing counts since the start.
    pub(crate) fn stats(&self) -> PublishStats {
        self.state.stats.snapshot()
    }

    /// Publishes the last completed step unless it has been, and waits until everything
    /// queued has been sent (or dropped). Does nothing after shutdown.
    pub(crate) fn flush(&self) {
        let threads = self.threads.lock();
        let Some(t) = threads.as_ref() else {
            return;
        };
        let ps = &*self.state;
        let index = ps.registry.advance();
        collect(ps, index);
        if t.send.is_none() {
            return;
        }
        let mut q = ps.queue.lock();
        while !q.steps.is_empty() || q.in_flight {
            ps.queue_cv.wait(&mut q);
        }
    }

    /// Stops the threads after a final publish; idempotent.
    pub(crate) fn shutdown(&self) {
        let Some(mut t) = self.threads.lock().take() else {
            return;
        };
        let ps = &*self.state;
        *ps.stop.lock() = true;
        ps.stop_cv.notify_all();
        if let Some(h) = t.step.take() {
            let _ = h.join();
        }
        // As Spectator's stop(): publish the last completed step, then pretend the current
        // step has ended and publish it too, so a short-lived process loses nothing.
        let index = ps.registry.advance();
        collect(ps, index);
        let next = ps.registry.advance_to(index + 1);
        collect(ps, next);
        ps.closing.store(true, Ordering::Release);
        {
            let mut q = ps.queue.lock();
            q.closing = true;
            ps.queue_cv.notify_all();
        }
        if let Some(h) = t.send.take() {
            let _ = h.join();
        }
    }
}

//! Bounded slots of concurrent work. Graph evaluations and publishes each hold a slot while
//! they run; a request waits a short while for one and is then refused with 503, so a burst
//! makes clients retry instead of making every request slow (and buffering every body).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A fixed number of slots for one kind of work.
#[derive(Debug, Clone)]
pub struct Slots {
    permits: Arc<Semaphore>,
    size: usize,
    wait: Duration,
    kind: SlotKind,
}

/// What the slots are for, which names them in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// Graph evaluations.
    Query,
    /// Publish requests, from before their body is read until they are answered.
    Publish,
}

impl SlotKind {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            SlotKind::Query => ("query", "queries"),
            SlotKind::Publish => ("publish", "publishes"),
        }
    }
}

/// Every slot stayed taken for the whole wait.
#[derive(Debug, Clone, thiserror::Error)]
#[error("too many concurrent {plural}: all {size} {singular} slots stayed busy for {wait_ms} ms; retry later")]
pub struct Busy {
    plural: &'static str,
    singular: &'static str,
    size: usize,
    wait_ms: u128,
}

impl Slots {
    /// `size` slots (at least one) of `kind`; a request waits at most `wait` for one.
    pub fn new(kind: SlotKind, size: usize, wait: Duration) -> Slots {
        let size = size.max(1);
        Slots {
            permits: Arc::new(Semaphore::new(size)),
            size,
            wait,
            kind,
        }
    }

    /// Number of slots.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Takes a slot, held until the permit is dropped, or fails after the wait.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, Busy> {
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; treat that as busy rather than panic.
            Ok(Err(_)) | Err(_) => {
                let (singular, plural) = self.kind.names();
                Err(Busy {
                    plural,
                    singular,
                    size: self.size,
                    wait_ms: self.wait.as_millis(),
                })
            }
        }
    }
}

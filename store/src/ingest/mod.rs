//! The one write path: validate → log → apply → outcome, for every input format.
//!
//! Decoders (Atlas JSON, Spectator op-codes, and later Prometheus remote write or OTLP)
//! turn a body into [`Decoded`] datapoints; [`Ingest::apply`] validates each, appends the
//! survivors to a [`Log`] and applies them to the [`Store`] in the log's order. The log is
//! a trait, the way Prometheus's head appender treats its WAL as optional
//! (`if a.head.wal == nil { return nil }`): [`NoLog`] keeps data in memory only, [`Wal`]
//! makes it durable, and a replicated log can plug in without a new branch in any handler.
//!
//! ```
//! use std::borrow::Cow;
//! use std::sync::Arc;
//! use sextant_store::{Datapoint, Decoded, Ingest, NoLog, Store, StoreConfig};
//! let store = Arc::new(Store::new(StoreConfig::default()));
//! let ingest = Ingest::new(store.clone(), Arc::new(NoLog));
//! let now = 1_700_000_000_000;
//! let point = Datapoint {
//!     tags: vec![(Cow::Borrowed("name"), Cow::Borrowed("cpu"))],
//!     timestamp: now,
//!     value: 1.0,
//! };
//! let pending = ingest.apply(Decoded { points: vec![point], errors: vec![] }, now)?;
//! assert_eq!(pending.outcome().accepted, 1);
//! assert_eq!(store.len(), 1);
//! # Ok::<(), sextant_store::LogError>(())
//! ```

mod validate;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use validate::{is_valid_char, sanitize, validate, MAX_TAGS, MAX_USER_TAGS};

use crate::store::Store;
use crate::wal::record::Encoder;
use crate::wal::{Durability, Wal, WalError};

/// At most this many refusal messages are returned; the count covers them all.
pub const MAX_MESSAGES: usize = 5;

/// The reason code of a datapoint that could not be decoded or failed validation.
pub const INVALID: &str = "invalid";

/// One decoded sample with its tags sorted by key.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint<'a> {
    /// Tags, sorted by key.
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Epoch milliseconds.
    pub timestamp: i64,
    /// The value.
    pub value: f64,
}

/// What a body decoded to: datapoints, and the datapoints that could not be decoded.
#[derive(Debug, Default)]
pub struct Decoded<'a> {
    /// Datapoints ready to validate.
    pub points: Vec<Datapoint<'a>>,
    /// Datapoints that could not be decoded, with the reason.
    pub errors: Vec<String>,
}

/// What one batch did: how many datapoints were stored and why the others were not.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// Datapoints stored.
    pub accepted: usize,
    /// Datapoints refused, for any reason.
    pub error_count: usize,
    /// Of those, datapoints that were valid but not applied because of when they arrived
    /// (`duplicate`, `outOfOrder`, `late`): not the publisher's mistake, so the answer is
    /// partial even when nothing was stored.
    pub not_applied: usize,
    /// Reasons of the first few refusals, each with the datapoint's tags.
    pub messages: Vec<String>,
    /// Refused datapoints by reason code (`invalid`, `tooOld`, `duplicate`, `outOfOrder`,
    /// ...: [`Reject::code`](crate::Reject::code)), every one counted; they add up to `error_count`.
    pub reasons: BTreeMap<&'static str, usize>,
}

impl Outcome {
    fn refuse(&mut self, code: &'static str, reason: &str, tags: &[(Cow<'_, str>, Cow<'_, str>)]) {
        self.error_count += 1;
        *self.reasons.entry(code).or_default() += 1;
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(with_tags(reason, tags));
        }
    }
}

/// Appends the tags to a reason the way Atlas does: `reason (tags={"k":"v"})`.
pub fn with_tags(reason: &str, tags: &[(Cow<'_, str>, Cow<'_, str>)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = tags
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    // A datapoint with thousands of tags, or megabyte values, is shown by its first bytes.
    let tags = serde_json::Value::Object(map).to_string();
    format!("{reason} (tags={})", sextant_query::shown(&tags))
}

/// A tag as an error message repeats it: whole when short, else its first bytes and length.
pub(crate) fn shown(text: &str) -> String {
    sextant_query::shown(text)
}

/// A log could not take a batch; nothing of it was stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct LogError(pub String);

impl From<WalError> for LogError {
    fn from(e: WalError) -> Self {
        LogError(e.to_string())
    }
}

/// Where accepted datapoints are made durable before they are answered.
pub trait Log: Send + Sync {
    /// Appends `points` as one unit and, only if that worked, runs `apply` before any
    /// other append can happen, so the log's order is the store's order. On error nothing
    /// was applied. The returned [`Durability`] says what to wait for before answering.
    ///
    /// A replicated log whose readers apply from it (the cluster's JetStream log, where a
    /// partition's owners consume the stream) never calls `apply`: the receiving node does
    /// not store what it logged, and `accepted` counts what was logged.
    fn append(
        &self,
        points: &[Datapoint<'_>],
        apply: &mut dyn FnMut(),
    ) -> Result<Durability, LogError>;
}

/// No log: data lives in memory only (`serve` without `--data-dir`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLog;

impl Log for NoLog {
    fn append(
        &self,
        _points: &[Datapoint<'_>],
        apply: &mut dyn FnMut(),
    ) -> Result<Durability, LogError> {
        apply();
        Ok(Durability::Done)
    }
}

impl Log for Wal {
    fn append(
        &self,
        points: &[Datapoint<'_>],
        apply: &mut dyn FnMut(),
    ) -> Result<Durability, LogError> {
        // The record's exact size, so encoding never regrows (and copies) a large buffer.
        let bytes: usize = points
            .iter()
            .map(|p| {
                26 + p
                    .tags
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 4)
                    .sum::<usize>()
            })
            .sum();
        let mut record = Encoder::for_points_and_bytes(points.len(), bytes);
        for p in points {
            record.push(&p.tags, p.timestamp, p.value);
        }
        let max_ts = record.max_ts();
        let bytes = record.finish();
        let ((), durability) = Wal::append(self, &bytes, max_ts, apply)?;
        Ok(durability)
    }
}

/// Counters of the write path, for `/api/v1/stats` and self-monitoring.
#[derive(Debug, Default)]
pub struct IngestCounters {
    /// Batches taken (decoded bodies).
    pub batches: AtomicU64,
    /// Datapoints stored.
    pub datapoints_accepted: AtomicU64,
    /// Datapoints refused, for any reason.
    pub datapoints_rejected: AtomicU64,
}

/// The write path of one store: validation, the log, and the store.
pub struct Ingest {
    store: Arc<Store>,
    log: Arc<dyn Log>,
    counters: IngestCounters,
}

/// A batch applied and logged; wait with [`Pending::durable`] before answering.
#[must_use]
pub struct Pending {
    outcome: Outcome,
    durability: Durability,
}

impl Pending {
    /// What the batch did (already applied; not yet necessarily durable).
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Waits until the batch is as durable as the log promises, then gives the outcome.
    pub async fn durable(self) -> Result<Outcome, LogError> {
        self.durability.wait().await?;
        Ok(self.outcome)
    }
}

impl Ingest {
    /// The write path into `store` through `log`.
    pub fn new(store: Arc<Store>, log: Arc<dyn Log>) -> Ingest {
        Ingest {
            store,
            log,
            counters: IngestCounters::default(),
        }
    }

    /// The store written to.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// What the write path has done so far.
    pub fn counters(&self) -> &IngestCounters {
        &self.counters
    }

    /// Validates and age-checks every datapoint, appends the survivors to the log as one
    /// unit and applies them to the store in the log's order. When the log refuses,
    /// nothing is stored and the error says why.
    pub fn apply(&self, decoded: Decoded<'_>, now: i64) -> Result<Pending, LogError> {
        let mut outcome = Outcome {
            error_count: decoded.errors.len(),
            messages: decoded.errors.into_iter().take(MAX_MESSAGES).collect(),
            ..Outcome::default()
        };
        if outcome.error_count > 0 {
            outcome.reasons.insert(INVALID, outcome.error_count);
        }
        let mut kept = Vec::with_capacity(decoded.points.len());
        for mut p in decoded.points {
            dedup_tags(&mut p.tags);
            if let Err(reason) = validate(&p.tags) {
                outcome.refuse(INVALID, &reason, &p.tags);
                continue;
            }
            if let Err(reject) = self.store.check_age(p.timestamp, now) {
                outcome.refuse(reject.code(), &reject.to_string(), &p.tags);
                continue;
            }
            kept.push(p);
        }
        let mut durability = Durability::Done;
        if !kept.is_empty() {
            let mut refused = Vec::new();
            let store = &self.store;
            durability = self.log.append(&kept, &mut || {
                for (i, p) in kept.iter().enumerate() {
                    if let Err(reject) = store.write(&p.tags, p.timestamp, p.value) {
                        refused.push((i, reject));
                    }
                }
            })?;
            outcome.accepted = kept.len() - refused.len();
            for (i, reject) in refused {
                outcome.not_applied += usize::from(reject.is_arrival());
                outcome.refuse(reject.code(), &reject.to_string(), &kept[i].tags);
            }
        }
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        self.counters
            .datapoints_accepted
            .fetch_add(outcome.accepted as u64, Ordering::Relaxed);
        self.counters
            .datapoints_rejected
            .fetch_add(outcome.error_count as u64, Ordering::Relaxed);
        Ok(Pending {
            outcome,
            durability,
        })
    }
}

/// Duplicate keys within one metric's own tags (sorted stably by key): the last one wins.
fn dedup_tags(tags: &mut Vec<(Cow<'_, str>, Cow<'_, str>)>) {
    tags.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            std::mem::swap(&mut later.1, &mut earlier.1);
            true
        } else {
            false
        }
    });
}

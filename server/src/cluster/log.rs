//! The JetStream log: the cluster's write path behind [`sextant_store::Log`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use sextant_store::wal_record::Encoder;
use sextant_store::{identity, Datapoint, Durability, Log, LogError};
use tokio::sync::oneshot;

use super::{partition_of, subject};

/// Publishes each request's accepted datapoints as one record per partition (the WAL's
/// record format, checksummed, Snappy-compressed: [`super::message`]) to
/// `sextant.ingest.<p>`, with a `Nats-Msg-Id` so a retried publish is stored once. Never
/// applies locally: the partition's owners apply from the stream. The answer waits until
/// JetStream acknowledged every message, which means a quorum of its replicas has it.
pub struct JetStreamLog {
    js: jetstream::Context,
    partitions: u32,
    /// `node-bootnonce`: message ids stay unique across restarts of the same node.
    id_prefix: String,
    next: AtomicU64,
    timeout: Duration,
    /// Longest wait for one message's ack before it is sent again.
    ack_timeout: Duration,
    /// Messages acknowledged, and publishes given up (timeout or error).
    pub counters: std::sync::Arc<LogCounters>,
}

/// What the JetStream log has done.
#[derive(Debug, Default)]
pub struct LogCounters {
    /// Messages JetStream acknowledged.
    pub acked: AtomicU64,
    /// Bytes of acknowledged messages (payloads).
    pub bytes: AtomicU64,
    /// Datapoints in acknowledged messages.
    pub datapoints: AtomicU64,
    /// Requests answered 503 because NATS did not acknowledge in time.
    pub failed: AtomicU64,
}

impl JetStreamLog {
    /// A log over `js` for `partitions` partitions, waiting at most `timeout` for every
    /// ack of a request, and `ack_timeout` for one before sending that message again.
    pub fn new(
        js: jetstream::Context,
        partitions: u32,
        node_id: &str,
        timeout: Duration,
        ack_timeout: Duration,
    ) -> JetStreamLog {
        let boot = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        JetStreamLog {
            js,
            partitions,
            id_prefix: format!("{node_id}-{boot:x}"),
            next: AtomicU64::new(0),
            timeout,
            ack_timeout,
            counters: std::sync::Arc::default(),
        }
    }
}

impl Log for JetStreamLog {
    /// Groups `points` by partition and publishes them; `apply` is never called (the
    /// owners apply from the stream). The returned durability resolves once every message
    /// is acknowledged, or fails after the timeout.
    fn append(
        &self,
        points: &[Datapoint<'_>],
        _apply: &mut dyn FnMut(),
    ) -> Result<Durability, LogError> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| LogError("the cluster log needs a runtime".to_string()))?;
        let mut groups: BTreeMap<u32, Encoder> = BTreeMap::new();
        for p in points {
            let part = partition_of(identity(&p.tags), self.partitions);
            groups
                .entry(part)
                .or_insert_with(|| Encoder::with_capacity(points.len().min(1024)))
                .push(&p.tags, p.timestamp, p.value);
        }
        let request = self.next.fetch_add(1, Ordering::Relaxed);
        let messages: Vec<(String, String, bytes::Bytes)> = groups
            .into_iter()
            .map(|(part, record)| {
                (
                    subject(part),
                    format!("{}-{request}-{part}", self.id_prefix),
                    bytes::Bytes::from(super::message::encode(&record.finish())),
                )
            })
            .collect();
        let (tx, rx) = oneshot::channel();
        let js = self.js.clone();
        let deadline = Instant::now() + self.timeout;
        let counters = self.counters.clone();
        let sent_bytes: usize = messages.iter().map(|m| m.2.len()).sum();
        let sent = messages.len() as u64;
        let points_sent = points.len() as u64;
        let (timeout, ack_timeout) = (self.timeout, self.ack_timeout);
        handle.spawn(async move {
            let publish = publish_all(&js, &messages, deadline, ack_timeout);
            let result = tokio::time::timeout(timeout, publish)
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "NATS JetStream did not acknowledge within {} ms",
                        timeout.as_millis()
                    ))
                });
            if result.is_ok() {
                counters.acked.fetch_add(sent, Ordering::Relaxed);
                counters
                    .bytes
                    .fetch_add(sent_bytes as u64, Ordering::Relaxed);
                counters
                    .datapoints
                    .fetch_add(points_sent, Ordering::Relaxed);
            } else {
                counters.failed.fetch_add(1, Ordering::Relaxed);
            }
            let _ = tx.send(result);
        });
        Ok(Durability::Group(rx))
    }
}

/// Publishes every message and waits for every ack; a message whose publish fails or
/// whose ack does not come within `ack_timeout` is sent again with the same id (stored
/// once thanks to the duplicate window) until `deadline`.
///
/// The messages wait for their acks together, not one after the other: when the stream's
/// leader dies every ack in flight is lost, and waiting out each lost ack in turn would
/// add an ack timeout per message (a request of 16 partitions outlasted a 20 s publish
/// timeout that way after a 5 s leader election).
async fn publish_all(
    js: &jetstream::Context,
    messages: &[(String, String, bytes::Bytes)],
    deadline: Instant,
    ack_timeout: Duration,
) -> Result<(), String> {
    let sent = futures_util::future::join_all(
        messages
            .iter()
            .map(|m| publish_one(js, m, deadline, ack_timeout)),
    )
    .await;
    sent.into_iter().collect()
}

/// Publishes one message until JetStream acknowledges it or `deadline` passes.
async fn publish_one(
    js: &jetstream::Context,
    m: &(String, String, bytes::Bytes),
    deadline: Instant,
    ack_timeout: Duration,
) -> Result<(), String> {
    loop {
        let outcome = match send(js, m).await {
            Ok(future) => match tokio::time::timeout(ack_timeout, future).await {
                Ok(ack) => ack.map(|_| ()).map_err(|e| e.to_string()),
                Err(_) => Err(format!("no ack within {} ms", ack_timeout.as_millis())),
            },
            Err(e) => Err(e),
        };
        let Err(e) = outcome else { return Ok(()) };
        if Instant::now() + Duration::from_millis(100) >= deadline {
            return Err(format!("NATS JetStream did not acknowledge: {e}"));
        }
        tracing::debug!(error = %e, subject = %m.0, "publish not acknowledged; retrying");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn send(
    js: &jetstream::Context,
    (subject, id, payload): &(String, String, bytes::Bytes),
) -> Result<jetstream::context::PublishAckFuture, String> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id.as_str());
    js.publish_with_headers(subject.clone(), headers, payload.clone())
        .await
        .map_err(|e| e.to_string())
}

//! One owned partition's consumer: applies the partition's messages from the stream, in
//! stream order, after the last one applied, through the store's write path.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use sextant_store::{Applied, Store, StreamPositions};

use super::{subject, ClusterStatus, PartitionState, STREAM};

/// A consumer silent this long is checked against the partition's head.
const IDLE: Duration = Duration::from_secs(2);

/// Applies partition `p` from the stream until the partition is released (or the task
/// aborted); reconnects after any error.
pub async fn consume(
    js: jetstream::Context,
    store: Arc<Store>,
    status: Arc<ClusterStatus>,
    positions: Arc<StreamPositions>,
    p: u32,
) {
    loop {
        match consume_from(&js, &store, &status, &positions, p).await {
            Ok(()) => return,
            Err(e) => {
                tracing::debug!(partition = p, error = %e, "partition consumer stopped; restarting");
                set(&status, p, interrupted);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Consumes from the message after the partition's position; `Ok` when the partition
/// was released, an error when the consumer must be made again.
async fn consume_from(
    js: &jetstream::Context,
    store: &Store,
    status: &ClusterStatus,
    positions: &StreamPositions,
    p: u32,
) -> Result<(), String> {
    let stream = js.get_stream(STREAM).await.map_err(|e| e.to_string())?;
    // The head when we start: until it is applied the partition is catching up.
    let head = head_of(&stream, p).await?;
    let start = positions.applied(p);
    if start >= head {
        set(status, p, |s| s.state = "live");
    }
    let deliver_policy = if start == 0 {
        jetstream::consumer::DeliverPolicy::All
    } else {
        jetstream::consumer::DeliverPolicy::ByStartSequence {
            start_sequence: start + 1,
        }
    };
    // An ordered consumer: the client checks the consumer sequence of every message and
    // recreates the consumer from the last stream sequence on any gap, so nothing is
    // skipped or reordered. Its position lives in `positions` (and in the checkpoint),
    // not on the server.
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: subject(p),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    loop {
        let msg = match tokio::time::timeout(IDLE, messages.next()).await {
            Ok(Some(msg)) => msg.map_err(|e| e.to_string())?,
            Ok(None) => break,
            Err(_) => {
                // Quiet for a while: either nothing new, or the consumer died with the
                // nats-server it lived on and the client has not noticed. The head says
                // which; a consumer behind it is recreated from the position.
                let head = head_of(&stream, p).await?;
                let applied = positions.applied(p);
                if head > applied {
                    set(status, p, interrupted);
                    return Err(format!("stalled at {applied} below head {head}"));
                }
                set(status, p, |s| {
                    s.state = "live";
                    s.lag = 0;
                });
                continue;
            }
        };
        let info = msg.info().map_err(|e| e.to_string())?;
        let seq = info.stream_sequence;
        let pending = info.pending;
        let mut refused = 0;
        match positions.apply(p, seq, |keep| refused = apply(store, &msg.payload, keep)) {
            Applied::Applied => {}
            Applied::Already => continue,
            Applied::Inactive => return Ok(()),
        }
        set(status, p, |s| {
            s.applied_seq = seq;
            s.lag = pending;
            s.messages += 1;
            s.refused += refused;
            if pending == 0 || seq >= head {
                s.state = "live";
            }
        });
    }
    Err("the message stream ended".to_string())
}

/// The stream sequence of partition `p`'s newest message; 0 when it has none.
async fn head_of(stream: &jetstream::stream::Stream, p: u32) -> Result<u64, String> {
    match stream.get_last_raw_message_by_subject(&subject(p)).await {
        Ok(m) => Ok(m.sequence),
        Err(e) if e.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound => Ok(0),
        Err(e) => Err(e.to_string()),
    }
}

/// Applies one record through the store's write path, only to the series `keep` accepts
/// (a series restored from a checkpoint already holds the message); returns how many
/// points the store refused.
fn apply(store: &Store, payload: &[u8], keep: &dyn Fn(u128) -> bool) -> u64 {
    let Ok(record) = super::message::decode(payload) else {
        tracing::error!("a stream message does not decompress; skipped");
        return 0;
    };
    let Ok((record, _)) = sextant_store::wal_record::read_record(&record) else {
        tracing::error!("a stream message is not a record; skipped");
        return 0;
    };
    let Ok(points) = sextant_store::wal_record::decode_points(record) else {
        tracing::error!("a stream record does not decode; skipped");
        return 0;
    };
    let mut refused = 0;
    for p in points {
        let key = sextant_store::identity(&p.tags);
        if keep(key)
            && store
                .write_keyed(key, &p.tags, p.timestamp, p.value)
                .is_err()
        {
            refused += 1;
        }
    }
    refused
}

/// A consumer that stopped: a partition that had caught up keeps answering queries while
/// it reconnects (its data is complete up to a few seconds ago, as with any lag), one
/// still rebuilding stays out of them. A nats-server dying stalls many consumers at once
/// for seconds; answering "partial" for all their partitions would cry wolf.
fn interrupted(s: &mut PartitionState) {
    s.state = match s.state {
        "live" | "reconnecting" => "reconnecting",
        _ => "catching-up",
    };
}

fn set(status: &ClusterStatus, p: u32, f: impl FnOnce(&mut PartitionState)) {
    if let Some(s) = status.partitions.lock().get_mut(&p) {
        f(s);
    }
}

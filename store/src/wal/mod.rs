//! The write-ahead log: every accepted publish is appended (and, by default, synced) before
//! it is answered, and replayed into the store at start.
//!
//! - [`record`]: the byte format of a record, with a CRC-32 per record.
//! - [`writer`]: segments, rotation, sync modes and group commit.
//! - [`replay`]: recovery, cutting a torn tail and quarantining damaged segments.
//!
//! See docs/operations.md for the layout on disk and what each sync mode guarantees.

pub mod record;
pub mod replay;
pub mod writer;

#[cfg(test)]
mod tests;

#[cfg(test)]
use record::Encoder;
pub use replay::{replay, Recovery};
pub use writer::{Durability, Lsn, SyncMode, Wal, WalConfig, WalCounters, WalError};

/// Decides whether replay applies a datapoint: given its series' identity and the position
/// of its record.
pub type Wanted<'a> = dyn FnMut(u128, Lsn) -> bool + 'a;

/// Replays the log of `config.dir` from segment `from_seq` on into `store`, drops what is
/// already past retention, and opens the log for appending to a new segment. A datapoint
/// is applied only when `wanted(identity, position)` says so (a checkpoint already holds
/// the others). Logs what replay found and how long it took.
pub fn recover(
    store: &crate::store::Store,
    config: WalConfig,
    now: i64,
    from_seq: u64,
    wanted: &mut Wanted<'_>,
) -> std::io::Result<Wal> {
    let mut refused = 0u64;
    let mut skipped = 0u64;
    let recovery = replay(&config.dir, from_seq, &mut |lsn, p| {
        let key = crate::identity::identity(&p.tags);
        if !wanted(key, lsn) {
            skipped += 1;
            return;
        }
        // No age check: the point was accepted when it was logged. The series limit may
        // still refuse it if the limit was lowered since.
        if store
            .write_keyed(key, &p.tags, p.timestamp, p.value)
            .is_err()
        {
            refused += 1;
        }
    })
    .map_err(|e| {
        std::io::Error::other(format!("write-ahead log in {}: {e}", config.dir.display()))
    })?;
    store.maintain(now);
    tracing::info!(
        dir = %config.dir.display(),
        segments = recovery.segments.len(),
        segments_in_checkpoint = recovery.skipped_segments,
        records = recovery.records,
        datapoints = recovery.points,
        refused,
        skipped_in_checkpoint = skipped,
        dropped_bytes = recovery.dropped_bytes,
        dropped_records = recovery.dropped_records,
        quarantined = recovery.quarantined.len(),
        series = store.len(),
        elapsed_ms = recovery.elapsed.as_millis() as u64,
        "write-ahead log replayed"
    );
    Ok(Wal::open(config, recovery.segments, recovery.next_seq))
}

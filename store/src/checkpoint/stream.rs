//! A cluster node's checkpoints (docs/cluster.md, "Checkpoints and resume"). The node has
//! no log of its own, the stream is its log, so a checkpoint saves per partition the last
//! stream sequence applied instead of log positions.
//!
//! The partitions' sequences are read first (the *start* positions); then the series are
//! listed, grouped by partition, and each group of a partition is copied while that
//! partition's slot in [`StreamPositions`] is held, with the sequence the slot held. On
//! load each partition resumes after its start, and a series saved in a group copied at
//! a later sequence skips the messages up to that sequence: every series ends where it
//! was, no message applied twice, none skipped. A series created after the start and
//! missing from the listing is not in the file: the messages after the start create it
//! again.
//!
//! Files are named `<n>.ckpt`, `n` one above the newest in the directory, and the newest
//! two are kept, as on a single node.

use std::path::Path;
use std::time::Instant;

use super::format::{self, Header, Positions};
use super::{commit_file, list, load_newest, prune, Expect, Written, SERIES_PER_CHUNK};
use crate::identity::identity;
use crate::positions::StreamPositions;
use crate::store::{Store, StoreConfig};

/// Writes a checkpoint of `store` and the partitions' positions into `dir`; `stream`
/// names the stream the positions belong to. Deletes all but the newest two checkpoints.
pub fn write(
    store: &Store,
    positions: &StreamPositions,
    stream: u64,
    dir: &Path,
    now: i64,
) -> std::io::Result<Written> {
    let started = Instant::now();
    std::fs::create_dir_all(dir)?;
    let number = list(dir)?.first().map_or(1, |(n, _)| n + 1);
    let layout = store.layout();
    let header = Header {
        step: layout.step,
        block_len: layout.block_len as u64,
        created_ms: now,
        start_seq: number,
    };
    let partitions = positions.partitions();
    // No drop between reading a partition's start and copying its series.
    let (path, series, bytes) = positions.exclusive(|| {
        // Before listing the series: a series made by a message at or below its
        // partition's start was made before the start was read, so it is listed.
        let starts: Vec<(u32, u64)> = (0..partitions)
            .map(|p| (p, positions.applied(p)))
            .filter(|(_, seq)| *seq > 0)
            .collect();
        let mut groups = vec![Vec::new(); partitions as usize];
        for shard in 0..store.shard_count() {
            for s in store.shard_series(shard) {
                let p = positions.partition_of(identity(&s.tag_pairs()));
                groups[p as usize].push(s);
            }
        }
        commit_file(dir, &header, |file| {
            file.frame(&format::positions_payload(&Positions {
                stream,
                partitions,
                starts,
            }))?;
            let mut payload = Vec::with_capacity(1 << 20);
            for (p, series) in (0u32..).zip(&groups) {
                for group in series.chunks(SERIES_PER_CHUNK) {
                    positions.quiesce(p, |seq| {
                        format::start_partition_chunk(&mut payload, p, seq);
                        for s in group {
                            format::put_series(&mut payload, s.id, &s.tag_pairs(), &s.data.lock());
                        }
                    });
                    file.chunk(&payload, group.len())?;
                }
            }
            Ok(())
        })
    })?;
    prune(dir, None)?;
    Ok(Written {
        path,
        series,
        bytes,
        created_ms: now,
        elapsed_ms: started.elapsed().as_millis() as u64,
        segments_deleted: 0,
    })
}

/// Builds a cluster node's store at start from the newest intact checkpoint in `dir`
/// (quarantining damaged ones) and the positions to resume each partition from. With no
/// checkpoint, or one of another stream or partition count, the store is empty and every
/// position 0: the partitions are rebuilt from the stream. Fails when a checkpoint was
/// written by a single node or with another step or block length, or when the disk
/// cannot be read.
pub fn recover(
    config: StoreConfig,
    dir: &Path,
    stream: u64,
    partitions: u32,
) -> std::io::Result<(Store, StreamPositions)> {
    let started = Instant::now();
    let (store, loaded) = load_newest(config, dir, Expect::Cluster { stream, partitions })?;
    let positions = StreamPositions::new(partitions);
    if let Some(loaded) = loaded {
        let mut later: Vec<Vec<(u128, u64)>> = vec![Vec::new(); partitions as usize];
        for (p, key, seq) in loaded.later {
            if let Some(l) = later.get_mut(p as usize) {
                l.push((key, seq));
            }
        }
        let starts = loaded.positions.map(|p| p.starts).unwrap_or_default();
        let mut start_of = vec![0u64; partitions as usize];
        for (p, seq) in starts {
            if let Some(s) = start_of.get_mut(p as usize) {
                *s = seq;
            }
        }
        for (p, (start, later)) in (0u32..).zip(start_of.into_iter().zip(later)) {
            if start > 0 || !later.is_empty() {
                positions.restore(p, start, later);
            }
        }
    }
    tracing::info!(
        series = store.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "store recovered from its checkpoint; partitions resume from the stream"
    );
    Ok((store, positions))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::positions::Applied;
    use sextant_query::{Database, Query, ScanRequest};

    const STEP: i64 = 60_000;
    const STREAM: u64 = 1_700_000_000_000_000_000;
    const PARTITIONS: u32 = 4;

    fn config() -> StoreConfig {
        StoreConfig {
            step_ms: STEP,
            block_len: 4,
            retention_ms: 1000 * STEP,
            max_age_ms: 5 * STEP,
            ..StoreConfig::default()
        }
    }

    fn tags(name: &str) -> [(&'static str, String); 2] {
        [
            ("atlas.dstype", "sum".to_string()),
            ("name", name.to_string()),
        ]
    }

    /// A stream message: its sequence, its partition, its points (name, time, value).
    type Message = (u64, u32, Vec<(String, i64, f64)>);

    /// Applies one message as a partition's consumer does.
    fn consume(store: &Store, positions: &StreamPositions, m: &Message) -> Applied {
        let (seq, p, points) = m;
        positions.apply(*p, *seq, |keep| {
            for (name, t, v) in points {
                let key = identity(&tags(name));
                if keep(key) {
                    let _ = store.write_keyed(key, &tags(name), *t, *v);
                }
            }
        })
    }

    fn dump(store: &Store) -> Vec<(String, Vec<u64>)> {
        let mut out = Vec::new();
        let req = ScanRequest {
            query: &Query::True,
            start: 0,
            end: 4 * STEP,
        };
        let r = store.scan(&req, &mut |tags, values| {
            out.push((
                format!("{tags:?}"),
                values.iter().map(|v| v.to_bits()).collect(),
            ));
            Ok(())
        });
        assert!(r.is_ok());
        out.sort();
        out
    }

    fn tempdir() -> std::io::Result<std::path::PathBuf> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sextant-sckpt-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// 5000 series one message each, then 400 messages of two points (one to a hot series
    /// of the same partition) applied while the checkpoint runs.
    fn messages(positions: &StreamPositions) -> Vec<Message> {
        let partition = |name: &str| positions.partition_of(identity(&tags(name)));
        let hot: Vec<String> = (0..PARTITIONS)
            .map(|p| {
                (0..)
                    .map(|j| format!("hot{j}"))
                    .find(|n| partition(n) == p)
                    .unwrap_or_default()
            })
            .collect();
        let mut out: Vec<Message> = Vec::new();
        for i in 0..5000 {
            let name = format!("s{i}");
            out.push((
                out.len() as u64 + 1,
                partition(&name),
                vec![(name, STEP, i as f64)],
            ));
        }
        for k in 1..=400 {
            let name = format!("s{}", (k * 13) % 5000);
            let p = partition(&name);
            let points = vec![
                (name, 2 * STEP, 1.0),
                (hot[p as usize].clone(), 2 * STEP, 1.0),
            ];
            out.push((out.len() as u64 + 1, p, points));
        }
        out
    }

    #[test]
    fn applying_during_a_checkpoint_resumes_with_nothing_lost_or_doubled(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempdir()?;
        let store = Arc::new(Store::new(config()));
        let positions = Arc::new(StreamPositions::new(PARTITIONS));
        for p in 0..PARTITIONS {
            positions.activate(p);
        }
        let all = Arc::new(messages(&positions));
        for m in &all[..5000] {
            assert_eq!(consume(&store, &positions, m), Applied::Applied);
        }
        let consumer = {
            let (store, positions, all) = (store.clone(), positions.clone(), all.clone());
            std::thread::spawn(move || {
                for m in &all[5000..] {
                    consume(&store, &positions, m);
                }
            })
        };
        let written = write(&store, &positions, STREAM, &dir, 2 * STEP)?;
        let _ = consumer.join();
        assert_eq!(written.segments_deleted, 0);
        let before = dump(&store);

        let (restored, resumed) = recover(config(), &dir, STREAM, PARTITIONS)?;
        assert!((0..PARTITIONS).all(|p| resumed.resumed_from(p).is_some()));
        for p in 0..PARTITIONS {
            resumed.activate(p);
        }
        // The consumers resume: every message again, in stream order.
        let mut applied = 0;
        for m in all.iter() {
            if consume(&restored, &resumed, m) == Applied::Applied {
                applied += 1;
            }
        }
        assert!(applied < all.len(), "resumed, not rebuilt");
        assert_eq!(dump(&restored), before);
        Ok(())
    }

    #[test]
    fn a_checkpoint_of_another_stream_or_mode_is_not_resumed_from(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempdir()?;
        let store = Store::new(config());
        let positions = StreamPositions::new(PARTITIONS);
        for p in 0..PARTITIONS {
            positions.activate(p);
        }
        for m in &messages(&positions)[..100] {
            consume(&store, &positions, m);
        }
        write(&store, &positions, STREAM, &dir, STEP)?;
        let second = write(&store, &positions, STREAM, &dir, STEP)?;
        assert!(
            second.path.ends_with("0000000000000002.ckpt"),
            "{:?}",
            second.path
        );

        // The stream was created again: its sequences are not ours.
        let (other, fresh) = recover(config(), &dir, STREAM + 1, PARTITIONS)?;
        assert!(other.is_empty());
        assert!((0..PARTITIONS).all(|p| fresh.applied(p) == 0 && fresh.resumed_from(p).is_none()));
        let (same, _) = recover(config(), &dir, STREAM, PARTITIONS)?;
        assert_eq!(same.len(), 100);

        // A single node refuses a cluster node's checkpoint, and the other way round.
        let wal = crate::wal::WalConfig {
            dir: dir.join("wal"),
            sync: crate::wal::SyncMode::Off,
            segment_bytes: 4096,
        };
        let single = super::super::recover(config(), wal.clone(), &dir, STEP).map(|_| ());
        let message = single.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("written by a cluster node"), "{message}");
        let single_dir = tempdir()?;
        let wal = crate::wal::WalConfig {
            dir: single_dir.join("wal"),
            ..wal
        };
        let (store, wal) = super::super::recover(config(), wal, &single_dir, STEP)?;
        assert!(store.write(&tags("x"), STEP, 1.0).is_ok());
        super::super::write(&store, &wal, &single_dir, STEP)?;
        let cluster = recover(config(), &single_dir, STREAM, PARTITIONS).map(|_| ());
        let message = cluster.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("written by a single node"), "{message}");
        Ok(())
    }
}

//! Checkpoints: the whole store written to one file at each block boundary, so start-up
//! loads it and replays only the log written since, and the log can be cut.
//!
//! A checkpoint is taken without stopping publishers. The series are captured a few
//! thousand at a time, each group while the log is quiesced ([`Wal::quiesce`]), and the
//! group's log position is saved with it: the group holds exactly the records before that
//! position. Replay then applies a record to a series only if it is at or after the
//! position saved for that series, and to a series the checkpoint does not hold only if
//! it is at or after the position where the checkpoint started. Every series thus ends up
//! where it was, sums and counters included, with no record applied twice.
//!
//! - [`format`]: the bytes of the file.
//! - [`stream`]: a cluster node's checkpoints, which save stream positions per partition
//!   instead of log positions (the node has no log of its own).
//!
//! Files live in `<data-dir>/checkpoints` as `<first segment replay needs>.ckpt`. They are
//! written under a `.tmp` name, synced and renamed, so a crash mid-write leaves the previous
//! one in place. The newest two are kept; log segments older than the older of the two are
//! deleted, so a damaged newest checkpoint (quarantined as `*.corrupt`) still leaves a
//! complete way back.

pub mod format;
pub mod stream;

use std::collections::HashMap;
use std::fs::File;
use std::hash::BuildHasherDefault;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rustc_hash::FxHasher;

use crate::identity::identity;
use crate::normalize::{DsType, Normalizer};
use crate::series::SeriesData;
use crate::store::{Store, StoreConfig};
use crate::wal::record::{put_frame, read_record, HEADER_LEN, MAX_PAYLOAD};
use crate::wal::{Lsn, Wal, WalConfig};
use format::{Frame, Header};

/// Series captured per quiesce of the log: the pause a publisher may see is the time to
/// copy this many series (about a millisecond).
const SERIES_PER_CHUNK: usize = 2048;

/// Checkpoints kept on disk.
const KEEP: usize = 2;

/// What writing one checkpoint did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// Series saved.
    pub series: u64,
    /// File size.
    pub bytes: u64,
    /// When it was taken, epoch ms.
    pub created_ms: i64,
    /// How long it took, ms.
    pub elapsed_ms: u64,
    /// Log segments deleted because it (and the one before) covers them.
    pub segments_deleted: usize,
}

/// Writes a checkpoint of `store` into `dir`, then deletes the checkpoints and log
/// segments it makes redundant.
pub fn write(store: &Store, wal: &Wal, dir: &Path, now: i64) -> std::io::Result<Written> {
    let started = Instant::now();
    let start_seq = wal.rotate().map_err(std::io::Error::other)?;
    let layout = store.layout();
    let header = Header {
        step: layout.step,
        block_len: layout.block_len as u64,
        created_ms: now,
        start_seq,
    };
    let (path, series, bytes) = commit_file(dir, &header, |file| {
        let mut payload = Vec::with_capacity(1 << 20);
        for shard in 0..store.shard_count() {
            for group in store.shard_series(shard).chunks(SERIES_PER_CHUNK) {
                wal.quiesce(|lsn| {
                    format::start_chunk(&mut payload, lsn);
                    for s in group {
                        format::put_series(&mut payload, s.id, &s.tag_pairs(), &s.data.lock());
                    }
                });
                file.chunk(&payload, group.len())?;
            }
        }
        Ok(())
    })?;
    let segments_deleted = prune(dir, Some(wal))?;
    Ok(Written {
        path,
        series,
        bytes,
        created_ms: now,
        elapsed_ms: started.elapsed().as_millis() as u64,
        segments_deleted,
    })
}

/// Writes the checkpoint file named after `header.start_seq` in `dir`: the header, the
/// frames `body` adds, the end marker; under a `.tmp` name, synced, then renamed and the
/// directory synced, so a crash leaves either the whole file or none. Returns its path,
/// the series saved and its size.
fn commit_file(
    dir: &Path,
    header: &Header,
    body: impl FnOnce(&mut FileWriter) -> std::io::Result<()>,
) -> std::io::Result<(PathBuf, u64, u64)> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name(header.start_seq));
    let tmp = path.with_extension("ckpt.tmp");
    let written = FileWriter::create(&tmp, header)
        .and_then(|mut file| {
            body(&mut file)?;
            file.finish()
        })
        .and_then(|(series, bytes)| {
            std::fs::rename(&tmp, &path)?;
            File::open(dir)?.sync_all()?;
            Ok((series, bytes))
        });
    match written {
        Ok((series, bytes)) => Ok((path, series, bytes)),
        Err(e) => {
            // A half-written file would only be deleted at the next start.
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// A checkpoint file being written: frames in the log's framing, counted.
struct FileWriter {
    file: std::io::BufWriter<File>,
    framed: Vec<u8>,
    bytes: u64,
    series: u64,
    chunks: u64,
}

impl FileWriter {
    /// Creates `tmp` and writes the magic and the header frame.
    fn create(tmp: &Path, header: &Header) -> std::io::Result<FileWriter> {
        let mut w = FileWriter {
            file: std::io::BufWriter::with_capacity(1 << 20, File::create(tmp)?),
            framed: Vec::with_capacity(1 << 20),
            bytes: 0,
            series: 0,
            chunks: 0,
        };
        w.file.write_all(format::MAGIC)?;
        w.bytes += format::MAGIC.len() as u64;
        w.frame(&format::header_payload(header))?;
        Ok(w)
    }

    /// Writes one frame around `payload`.
    fn frame(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.framed.clear();
        put_frame(&mut self.framed, payload);
        self.file.write_all(&self.framed)?;
        self.bytes += self.framed.len() as u64;
        Ok(())
    }

    /// Writes a chunk frame holding `series` series.
    fn chunk(&mut self, payload: &[u8], series: usize) -> std::io::Result<()> {
        self.frame(payload)?;
        self.series += series as u64;
        self.chunks += 1;
        Ok(())
    }

    /// Writes the end frame and syncs; returns the series saved and the file's size.
    fn finish(mut self) -> std::io::Result<(u64, u64)> {
        self.frame(&format::end_payload(self.series, self.chunks))?;
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok((self.series, self.bytes))
    }
}

fn file_name(start_seq: u64) -> String {
    format!("{start_seq:016}.ckpt")
}

/// `(start_seq, path)` of every checkpoint in `dir`, newest first.
fn list(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = crate::wal::replay::numbered_files(dir, ".ckpt")?;
    out.sort_unstable_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    Ok(out)
}

/// Keeps the newest [`KEEP`] checkpoints and the log (if any) from the oldest of them on.
fn prune(dir: &Path, wal: Option<&Wal>) -> std::io::Result<usize> {
    let all = list(dir)?;
    for (_, path) in all.iter().skip(KEEP) {
        match std::fs::remove_file(path) {
            Ok(()) => tracing::info!(checkpoint = %path.display(), "old checkpoint deleted"),
            Err(e) => {
                tracing::warn!(checkpoint = %path.display(), error = %e, "cannot delete an old checkpoint; will retry")
            }
        }
    }
    // Only once there is a fallback: with a single checkpoint, its log must stay in case
    // the file turns out damaged at the next start.
    Ok(match (all.get(KEEP - 1), wal) {
        (Some((oldest_kept, _)), Some(wal)) => wal.drop_segments_before(*oldest_kept),
        _ => 0,
    })
}

/// Why a checkpoint could not be loaded.
#[derive(Debug)]
enum LoadError {
    /// The file is damaged: quarantine it and fall back to an older one.
    Damaged(String),
    /// The file is fine but does not fit this server: stop with the message.
    Mismatch(String),
    /// A cluster node's file of another stream (or partition count): its sequences mean
    /// nothing now; start empty and rebuild from the stream.
    OtherStream(String),
    /// The disk failed us.
    Io(std::io::Error),
}

impl From<std::io::Error> for LoadError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            LoadError::Damaged("the file ends before its end marker".to_string())
        } else {
            LoadError::Io(e)
        }
    }
}

type SkipMap = HashMap<u128, Lsn, BuildHasherDefault<FxHasher>>;

/// Which files the loader expects.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A single node's: log positions.
    Single,
    /// A cluster node's, of this stream and partition count.
    Cluster { stream: u64, partitions: u32 },
}

/// What a loaded checkpoint tells replay.
#[derive(Default)]
struct Loaded {
    /// A single node's: where replay starts, and per series where it resumes.
    start: Lsn,
    skip: SkipMap,
    /// A cluster node's: the partitions' start positions, and the series captured after
    /// their partition's start as `(partition, identity, sequence)`.
    positions: Option<format::Positions>,
    later: Vec<(u32, u128, u64)>,
    series: u64,
}

fn load_file(store: &Store, path: &Path, expect: Expect) -> Result<Loaded, LoadError> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut magic = [0u8; 8];
    reader.read_exact(&mut magic)?;
    if &magic != format::MAGIC {
        return Err(LoadError::Damaged(
            "not a checkpoint (bad header)".to_string(),
        ));
    }
    let layout = store.layout();
    let mut buf = Vec::new();
    let mut header = None;
    let mut loaded = Loaded::default();
    let mut starts: HashMap<u32, u64> = HashMap::new();
    let mut chunks = 0u64;
    let mismatch = |written_by: &str| {
        LoadError::Mismatch(format!(
            "checkpoint {} was written by a {written_by}; this server {}: move the data directory away or start the server as it was",
            path.display(),
            match expect {
                Expect::Single => "is a single node",
                Expect::Cluster { .. } => "is a cluster node",
            }
        ))
    };
    loop {
        buf.resize(HEADER_LEN, 0);
        reader.read_exact(&mut buf)?;
        let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as u64;
        // A damaged length must not size an allocation beyond the file itself.
        if len == 0 || len > MAX_PAYLOAD as u64 || len > size {
            return Err(LoadError::Damaged(format!("impossible frame length {len}")));
        }
        buf.resize(HEADER_LEN + len as usize, 0);
        reader.read_exact(&mut buf[HEADER_LEN..])?;
        let payload = match read_record(&buf) {
            Ok((payload, _)) => payload,
            Err(e) => return Err(LoadError::Damaged(format!("frame {}: {e:?}", chunks + 1))),
        };
        let frame = format::parse_frame(payload, layout.block_len).map_err(LoadError::Damaged)?;
        match (frame, header) {
            (Frame::Header(h), None) => {
                if h.step != layout.step || h.block_len != layout.block_len as u64 {
                    return Err(LoadError::Mismatch(format!(
                        "checkpoint {} was written with a step of {} ms and {} steps per block; this server runs with {} ms and {}: start it with the same --step and --block-len, or move the data directory away",
                        path.display(), h.step, h.block_len, layout.step, layout.block_len
                    )));
                }
                header = Some(h);
            }
            (Frame::Chunk { lsn, series: saved }, Some(_)) => {
                if matches!(expect, Expect::Cluster { .. }) {
                    return Err(mismatch("single node (log positions, no stream positions)"));
                }
                chunks += 1;
                for s in saved {
                    let key = restore_series(store, &layout, s)?;
                    loaded.skip.insert(key, lsn);
                    loaded.series += 1;
                }
            }
            (Frame::Positions(p), Some(_)) => {
                let Expect::Cluster { stream, partitions } = expect else {
                    return Err(mismatch("cluster node (stream positions)"));
                };
                if loaded.positions.is_some() || chunks > 0 {
                    return Err(LoadError::Damaged("frames out of order".to_string()));
                }
                if p.stream != stream || p.partitions != partitions {
                    return Err(LoadError::OtherStream(format!(
                        "checkpoint {} belongs to stream {} with {} partitions, the cluster's stream is {stream} with {partitions}",
                        path.display(), p.stream, p.partitions
                    )));
                }
                starts = p.starts.iter().copied().collect();
                loaded.positions = Some(p);
            }
            (
                Frame::PartitionChunk {
                    partition,
                    seq,
                    series: saved,
                },
                Some(_),
            ) => {
                let Some(positions) = &loaded.positions else {
                    return Err(match expect {
                        Expect::Single => mismatch("cluster node (stream positions)"),
                        Expect::Cluster { .. } => {
                            LoadError::Damaged("a partition chunk before the positions".to_string())
                        }
                    });
                };
                if partition >= positions.partitions {
                    return Err(LoadError::Damaged(format!(
                        "partition {partition} of {} partitions",
                        positions.partitions
                    )));
                }
                let start = starts.get(&partition).copied().unwrap_or(0);
                chunks += 1;
                for s in saved {
                    let key = identity(&s.tags);
                    if key % u128::from(positions.partitions) != u128::from(partition) {
                        return Err(LoadError::Damaged(format!(
                            "series {} is saved in partition {partition}, which is not its own",
                            s.id
                        )));
                    }
                    restore_series(store, &layout, s)?;
                    if seq > start {
                        loaded.later.push((partition, key, seq));
                    }
                    loaded.series += 1;
                }
            }
            (
                Frame::End {
                    series: n,
                    chunks: c,
                },
                Some(h),
            ) => {
                if n != loaded.series || c != chunks {
                    return Err(LoadError::Damaged(format!(
                        "the end marker counts {n} series in {c} chunks, the file holds {} in {chunks}",
                        loaded.series
                    )));
                }
                if matches!(expect, Expect::Cluster { .. }) && loaded.positions.is_none() {
                    return Err(mismatch("single node (no stream positions)"));
                }
                store.finish_restore();
                loaded.start = Lsn {
                    seq: h.start_seq,
                    offset: 0,
                };
                return Ok(loaded);
            }
            (_, _) => return Err(LoadError::Damaged("frames out of order".to_string())),
        }
    }
}

/// Puts one saved series back into `store`; returns its identity.
fn restore_series(
    store: &Store,
    layout: &crate::series::Layout,
    s: format::SavedSeries<'_>,
) -> Result<u128, LoadError> {
    let dstype = DsType::from_tag(
        s.tags
            .iter()
            .find(|(k, _)| *k == "atlas.dstype")
            .map(|(_, v)| *v),
    );
    let normalizer = Normalizer::with_samples(dstype, &s.samples, s.complete)
        .map_err(|e| LoadError::Damaged(format!("series {}: {e}", s.id)))?;
    let data = SeriesData::restore(layout, normalizer, s.open, s.sealed)
        .map_err(|e| LoadError::Damaged(format!("series {}: {e}", s.id)))?;
    store
        .restore(s.id, &s.tags, data)
        .map_err(LoadError::Damaged)?;
    Ok(identity(&s.tags))
}

/// Sets a damaged checkpoint aside as `*.corrupt`, never overwriting an earlier one.
fn quarantine(path: &Path, reason: &str) -> std::io::Result<PathBuf> {
    let target = crate::wal::replay::corrupt_name(path);
    std::fs::rename(path, &target)?;
    tracing::error!(
        checkpoint = %path.display(),
        moved_to = %target.display(),
        reason,
        "checkpoint damaged: quarantined for inspection; falling back to an older checkpoint and the log"
    );
    Ok(target)
}

/// Builds the store at start: loads the newest intact checkpoint in `dir` (quarantining
/// damaged ones), replays the log on top of it and opens the log for appending. Logs what
/// it found and how long each part took. Fails when a checkpoint was written with another
/// step or block length, or when the disk cannot be read.
pub fn recover(
    config: StoreConfig,
    wal: WalConfig,
    dir: &Path,
    now: i64,
) -> std::io::Result<(Store, Wal)> {
    let started = Instant::now();
    let (store, loaded) = load_newest(config, dir, Expect::Single)?;
    let (start, skip) = match loaded {
        Some(l) => (l.start, l.skip),
        None => (Lsn::default(), SkipMap::default()),
    };
    let wal = crate::wal::recover(&store, wal, now, start.seq, &mut |key, lsn| {
        lsn >= skip.get(&key).copied().unwrap_or(start)
    })?;
    tracing::info!(
        series = store.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "store recovered"
    );
    Ok((store, wal))
}

/// Loads the newest intact checkpoint in `dir` into a new store, quarantining damaged
/// ones on the way; `None` when there is none (or, for a cluster node, when the newest
/// belongs to another stream).
fn load_newest(
    config: StoreConfig,
    dir: &Path,
    expect: Expect,
) -> std::io::Result<(Store, Option<Loaded>)> {
    let started = Instant::now();
    // A `.tmp` is a checkpoint a crash interrupted; the previous one is still whole.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".ckpt.tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let mut store = Store::new(config.clone());
    for (_, path) in list(dir)? {
        match load_file(&store, &path, expect) {
            Ok(l) => {
                tracing::info!(
                    checkpoint = %path.display(),
                    series = l.series,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "checkpoint loaded"
                );
                return Ok((store, Some(l)));
            }
            Err(LoadError::Damaged(reason)) => {
                quarantine(&path, &reason)?;
                store = Store::new(config.clone());
            }
            Err(LoadError::OtherStream(msg)) => {
                // Older files are of that stream too; the next checkpoints replace them.
                tracing::warn!(reason = %msg, "checkpoint ignored: the partitions are rebuilt from the stream");
                return Ok((Store::new(config), None));
            }
            Err(LoadError::Mismatch(msg)) => return Err(std::io::Error::other(msg)),
            Err(LoadError::Io(e)) => {
                return Err(std::io::Error::other(format!(
                    "cannot read checkpoint {}: {e}",
                    path.display()
                )))
            }
        }
    }
    Ok((store, None))
}

#[cfg(test)]
mod tests;

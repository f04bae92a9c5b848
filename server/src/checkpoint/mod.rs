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
//!
//! Files live in `<data-dir>/checkpoints` as `<first segment replay needs>.ckpt`. They are
//! written under a `.tmp` name, synced and renamed, so a crash mid-write leaves the previous
//! one in place. The newest two are kept; log segments older than the older of the two are
//! deleted, so a damaged newest checkpoint (quarantined as `*.corrupt`) still leaves a
//! complete way back.

pub mod format;

use std::collections::HashMap;
use std::fs::File;
use std::hash::BuildHasherDefault;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rustc_hash::FxHasher;

use crate::normalize::{DsType, Normalizer};
use crate::series::SeriesData;
use crate::store::{identity, Store, StoreConfig};
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
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name(start_seq));
    let tmp = path.with_extension("ckpt.tmp");
    let layout = store.layout();
    let header = Header {
        step: layout.step,
        block_len: layout.block_len as u64,
        created_ms: now,
        start_seq,
    };
    let written = write_file(store, wal, &tmp, &header).and_then(|(series, bytes)| {
        std::fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()?;
        Ok((series, bytes))
    });
    let (series, bytes) = match written {
        Ok(w) => w,
        Err(e) => {
            // A half-written file would only be deleted at the next start.
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let segments_deleted = prune(dir, wal)?;
    Ok(Written {
        path,
        series,
        bytes,
        created_ms: now,
        elapsed_ms: started.elapsed().as_millis() as u64,
        segments_deleted,
    })
}

/// Writes and syncs the checkpoint file at `tmp`; returns the series saved and its size.
fn write_file(
    store: &Store,
    wal: &Wal,
    tmp: &Path,
    header: &Header,
) -> std::io::Result<(u64, u64)> {
    let mut file = std::io::BufWriter::with_capacity(1 << 20, File::create(tmp)?);
    let mut framed = Vec::with_capacity(1 << 20);
    framed.extend_from_slice(format::MAGIC);
    put_frame(&mut framed, &format::header_payload(header));
    file.write_all(&framed)?;
    let mut bytes = framed.len() as u64;
    let (mut series, mut chunks) = (0u64, 0u64);
    let mut payload = Vec::with_capacity(1 << 20);
    for shard in 0..store.shard_count() {
        for group in store.shard_series(shard).chunks(SERIES_PER_CHUNK) {
            wal.quiesce(|lsn| {
                format::start_chunk(&mut payload, lsn);
                for s in group {
                    format::put_series(&mut payload, s.id, &s.tag_pairs(), &s.data.lock());
                }
            });
            framed.clear();
            put_frame(&mut framed, &payload);
            file.write_all(&framed)?;
            bytes += framed.len() as u64;
            series += group.len() as u64;
            chunks += 1;
        }
    }
    framed.clear();
    put_frame(&mut framed, &format::end_payload(series, chunks));
    file.write_all(&framed)?;
    bytes += framed.len() as u64;
    let file = file.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok((series, bytes))
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

/// Keeps the newest [`KEEP`] checkpoints and the log from the oldest of them on.
fn prune(dir: &Path, wal: &Wal) -> std::io::Result<usize> {
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
    Ok(match all.get(KEEP - 1) {
        Some((oldest_kept, _)) => wal.drop_segments_before(*oldest_kept),
        None => 0,
    })
}

/// Why a checkpoint could not be loaded.
#[derive(Debug)]
enum LoadError {
    /// The file is damaged: quarantine it and fall back to an older one.
    Damaged(String),
    /// The file is fine but does not fit this server: stop with the message.
    Mismatch(String),
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

/// What a loaded checkpoint tells replay.
struct Loaded {
    start: Lsn,
    skip: SkipMap,
    series: u64,
}

fn load_file(store: &Store, path: &Path) -> Result<Loaded, LoadError> {
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
    let mut skip = SkipMap::default();
    let (mut series, mut chunks) = (0u64, 0u64);
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
                chunks += 1;
                for s in saved {
                    let dstype = DsType::from_tag(
                        s.tags
                            .iter()
                            .find(|(k, _)| *k == "atlas.dstype")
                            .map(|(_, v)| *v),
                    );
                    let normalizer = Normalizer::with_state(dstype, s.last_time, s.last_value);
                    let data = SeriesData::restore(&layout, normalizer, s.open, s.sealed)
                        .map_err(|e| LoadError::Damaged(format!("series {}: {e}", s.id)))?;
                    store
                        .restore(s.id, &s.tags, data)
                        .map_err(LoadError::Damaged)?;
                    skip.insert(identity(&s.tags), lsn);
                    series += 1;
                }
            }
            (
                Frame::End {
                    series: n,
                    chunks: c,
                },
                Some(h),
            ) => {
                if n != series || c != chunks {
                    return Err(LoadError::Damaged(format!(
                        "the end marker counts {n} series in {c} chunks, the file holds {series} in {chunks}"
                    )));
                }
                store.finish_restore();
                return Ok(Loaded {
                    start: Lsn {
                        seq: h.start_seq,
                        offset: 0,
                    },
                    skip,
                    series,
                });
            }
            (_, _) => return Err(LoadError::Damaged("frames out of order".to_string())),
        }
    }
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
    // A `.tmp` is a checkpoint a crash interrupted; the previous one is still whole.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".ckpt.tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let mut loaded = None;
    let mut store = Store::new(config.clone());
    for (_, path) in list(dir)? {
        match load_file(&store, &path) {
            Ok(l) => {
                tracing::info!(
                    checkpoint = %path.display(),
                    series = l.series,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "checkpoint loaded"
                );
                loaded = Some(l);
                break;
            }
            Err(LoadError::Damaged(reason)) => {
                quarantine(&path, &reason)?;
                store = Store::new(config.clone());
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

#[cfg(test)]
mod tests;

//! Reading the log back at start: every segment in order, every record applied, the torn or
//! corrupt tail of the last segment cut, a damaged earlier segment quarantined.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::record::{decode_points, read_record, Point, ReadError, HEADER_LEN, MAGIC, MAX_PAYLOAD};
use super::writer::{Lsn, Segment};

/// What replay found and did.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Surviving segments, oldest first, with their newest timestamps.
    pub segments: Vec<Segment>,
    /// The number the next new segment gets.
    pub next_seq: u64,
    /// Segments not read because a checkpoint holds them.
    pub skipped_segments: u64,
    /// Records applied.
    pub records: u64,
    /// Datapoints applied.
    pub points: u64,
    /// Bytes cut from the tail of the last segment.
    pub dropped_bytes: u64,
    /// Records (whole or partial) in the cut tail, as far as their lengths could be read.
    pub dropped_records: u64,
    /// Segments renamed to `*.corrupt`.
    pub quarantined: Vec<PathBuf>,
    /// How long replay took.
    pub elapsed: Duration,
}

/// Where a segment stopped being readable.
struct Damage {
    offset: usize,
    reason: String,
}

/// Replays every segment of `dir` numbered `from_seq` or more in order through `apply`;
/// older ones are kept, unread (a checkpoint holds them). New segments are numbered after
/// every segment found and never below `from_seq`. A missing directory is an empty log.
/// Fails only when the directory or a damaged file cannot be handled at all (unreadable
/// directory, a tail that cannot be cut, a segment that cannot be renamed): starting
/// anyway could then lose or reorder acknowledged data.
pub fn replay(
    dir: &Path,
    from_seq: u64,
    apply: &mut dyn FnMut(Lsn, &Point<'_>),
) -> std::io::Result<Recovery> {
    let started = Instant::now();
    let mut recovery = Recovery {
        next_seq: from_seq.max(1),
        ..Recovery::default()
    };
    let mut found = list_segments(dir)?;
    found.sort_unstable_by_key(|(seq, _)| *seq);
    let last = found.last().map(|(seq, _)| *seq);
    for (seq, path) in found {
        recovery.next_seq = recovery.next_seq.max(seq + 1);
        if seq < from_seq {
            // Its newest timestamp is unknown without reading it: keep it from the
            // retention rule; the checkpoint rule deletes it soon.
            recovery.segments.push(Segment {
                seq,
                path,
                max_ts: i64::MAX,
            });
            recovery.skipped_segments += 1;
            continue;
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                quarantine(&path, &format!("cannot be read: {e}"), None, &mut recovery)?;
                continue;
            }
        };
        let mut max_ts = i64::MIN;
        let damage = replay_segment(
            &bytes,
            &mut |offset, p| {
                max_ts = max_ts.max(p.timestamp);
                let lsn = Lsn {
                    seq,
                    offset: offset as u64,
                };
                apply(lsn, p);
            },
            &mut recovery,
        );
        if let Some(damage) = damage {
            let bad_magic =
                damage.offset == 0 && !MAGIC.starts_with(&bytes[..bytes.len().min(MAGIC.len())]);
            if Some(seq) == last && !bad_magic {
                cut_tail(&path, &bytes, &damage, &mut recovery)?;
            } else {
                // Keep the intact prefix under the segment's own name, so the records
                // just replayed are replayed again at the next start too.
                let intact =
                    (!bad_magic && damage.offset > MAGIC.len()).then(|| &bytes[..damage.offset]);
                quarantine(&path, &damage.reason, intact, &mut recovery)?;
                if intact.is_none() {
                    continue;
                }
            }
        }
        recovery.segments.push(Segment { seq, path, max_ts });
    }
    recovery.elapsed = started.elapsed();
    Ok(recovery)
}

/// `(seq, path)` of every `NNNN.wal` file; other files (quarantined ones) are left alone.
fn list_segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    numbered_files(dir, ".wal")
}

/// `(number, path)` of every file of `dir` named `<decimal number><suffix>`, unordered; a
/// missing directory has none.
pub(crate) fn numbered_files(dir: &Path, suffix: &str) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(suffix) else {
            continue;
        };
        if let Ok(seq) = stem.parse::<u64>() {
            out.push((seq, entry.path()));
        }
    }
    Ok(out)
}

/// Applies the records of one segment until the first bad one, which it returns.
fn replay_segment(
    bytes: &[u8],
    apply: &mut dyn FnMut(usize, &Point<'_>),
    recovery: &mut Recovery,
) -> Option<Damage> {
    if bytes.is_empty() {
        // Created, crashed before its header: nothing was ever acknowledged in it.
        return None;
    }
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        let reason = if MAGIC.starts_with(bytes) {
            "header torn".to_string()
        } else {
            "not a write-ahead log segment (bad header)".to_string()
        };
        return Some(Damage { offset: 0, reason });
    }
    let mut offset = MAGIC.len();
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let read =
            read_record(rest).and_then(|(payload, used)| Ok((decode_points(payload)?, used)));
        match read {
            Ok((points, used)) => {
                for p in &points {
                    apply(offset, p);
                }
                recovery.records += 1;
                recovery.points += points.len() as u64;
                offset += used;
            }
            Err(ReadError::Torn) => {
                return Some(Damage {
                    offset,
                    reason: "record torn (cut short by a crash)".to_string(),
                })
            }
            Err(ReadError::Corrupt(why)) => {
                return Some(Damage {
                    offset,
                    reason: format!("record corrupt: {why}"),
                })
            }
        }
    }
    None
}

/// Best-effort count of the records in a damaged tail, walking their length fields.
fn count_records(mut tail: &[u8]) -> u64 {
    let mut n = 0;
    while !tail.is_empty() {
        n += 1;
        if tail.len() < HEADER_LEN {
            break;
        }
        let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize;
        if len == 0 || len > MAX_PAYLOAD || HEADER_LEN + len > tail.len() {
            break;
        }
        tail = &tail[HEADER_LEN + len..];
    }
    n
}

fn cut_tail(
    path: &Path,
    bytes: &[u8],
    damage: &Damage,
    recovery: &mut Recovery,
) -> std::io::Result<()> {
    let dropped = bytes.len() - damage.offset;
    let records = count_records(&bytes[damage.offset..]);
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.set_len(damage.offset as u64)?;
    file.sync_all()?;
    recovery.dropped_bytes += dropped as u64;
    recovery.dropped_records += records;
    tracing::warn!(
        segment = %path.display(),
        offset = damage.offset,
        dropped_bytes = dropped,
        dropped_records = records,
        reason = %damage.reason,
        "write-ahead log tail cut at the first bad record"
    );
    Ok(())
}

/// A name next to `path` ending in `.corrupt` that is not taken yet, so an earlier
/// quarantined file is never overwritten.
pub(crate) fn corrupt_name(path: &Path) -> PathBuf {
    let mut n = 0u32;
    loop {
        let mut name = path.as_os_str().to_owned();
        name.push(".corrupt");
        if n > 0 {
            name.push(format!(".{n}"));
        }
        let candidate = PathBuf::from(name);
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

/// Sets a damaged segment aside as `*.corrupt` for inspection. With `intact`, the segment
/// is replaced by that prefix (its records were replayed): the prefix is written and synced
/// under a temporary name, the damaged file is linked (or copied) to its quarantine name,
/// and only then is the prefix renamed over it. A crash at any point leaves either the
/// damaged file (quarantined again at the next start) or the prefix, never neither.
fn quarantine(
    path: &Path,
    reason: &str,
    intact: Option<&[u8]>,
    recovery: &mut Recovery,
) -> std::io::Result<()> {
    let target = corrupt_name(path);
    match intact {
        None => std::fs::rename(path, &target)?,
        Some(prefix) => {
            let mut tmp = path.as_os_str().to_owned();
            tmp.push(".tmp");
            let tmp = PathBuf::from(tmp);
            {
                let mut f = std::fs::File::create(&tmp)?;
                std::io::Write::write_all(&mut f, prefix)?;
                f.sync_all()?;
            }
            if std::fs::hard_link(path, &target).is_err() {
                std::fs::copy(path, &target)?;
            }
            std::fs::rename(&tmp, path)?;
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    let kept = intact.map_or(0, |p| p.len().saturating_sub(MAGIC.len()));
    tracing::error!(
        segment = %path.display(),
        moved_to = %target.display(),
        intact_bytes_kept = kept,
        reason,
        "write-ahead log segment damaged: its intact records were replayed and kept, the damaged file is quarantined for inspection"
    );
    recovery.quarantined.push(target);
    Ok(())
}

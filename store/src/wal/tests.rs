//! Log tests on real files: append, replay, torn tails, corruption, quarantine, rotation,
//! truncation and failing appends.

use std::path::PathBuf;

use super::record::MAGIC;
use super::writer::segment_name;
use super::*;

type Seen = Vec<(String, i64, f64)>;

/// A fresh directory of its own per test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sextant-wal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn record(name: &str, ts: i64, value: f64) -> (Vec<u8>, i64) {
    let mut e = Encoder::with_capacity(1);
    e.push(&[("name", name)], ts, value);
    let max = e.max_ts();
    (e.finish(), max)
}

fn write_log(config: WalConfig, n: i64) -> Result<Wal, WalError> {
    let wal = Wal::open(config, Vec::new(), 1);
    for i in 0..n {
        let (rec, max) = record(&format!("m{i}"), i * 1000, i as f64 + 0.5);
        let ((), durability) = wal.append(&rec, max, || ())?;
        // Only `Done` and `Sync` happen in these configs; no runtime needed.
        if let Durability::Sync(f) = durability {
            f.sync_data().map_err(|e| WalError(e.to_string()))?;
        }
    }
    Ok(wal)
}

fn read_back(dir: &std::path::Path) -> std::io::Result<(Recovery, Seen)> {
    let mut seen = Vec::new();
    let r = replay(dir, 0, &mut |_, p| {
        seen.push((p.tags[0].1.to_string(), p.timestamp, p.value));
    })?;
    Ok((r, seen))
}

fn config(dir: &std::path::Path, sync: SyncMode, segment_bytes: u64) -> WalConfig {
    WalConfig {
        dir: dir.to_path_buf(),
        sync,
        segment_bytes,
    }
}

type R = Result<(), Box<dyn std::error::Error>>;

#[test]
fn appended_records_replay_in_order() -> R {
    let dir = temp_dir("order");
    drop(write_log(config(&dir, SyncMode::Always, 1 << 20), 50)?);
    let (r, seen) = read_back(&dir)?;
    assert_eq!(r.records, 50);
    assert_eq!(r.points, 50);
    assert_eq!(r.dropped_bytes, 0);
    assert_eq!(r.next_seq, 2);
    assert_eq!(r.segments.len(), 1);
    assert_eq!(r.segments[0].max_ts, 49_000);
    for (i, (name, ts, v)) in seen.iter().enumerate() {
        assert_eq!(name, &format!("m{i}"));
        assert_eq!(*ts, i as i64 * 1000);
        assert_eq!(*v, i as f64 + 0.5);
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn segments_rotate_by_size_and_truncate_by_age() -> R {
    let dir = temp_dir("rotate");
    // Each record is a few dozen bytes: a 200-byte segment holds a handful.
    let wal = write_log(config(&dir, SyncMode::Off, 200), 40)?;
    let segs = wal.segments();
    assert!(segs.len() > 5, "{segs:?}");
    let deleted = wal.truncate(20_000);
    assert!(deleted > 0);
    drop(wal);
    let (r, seen) = read_back(&dir)?;
    // Whole segments only: everything from 20 s on is still there.
    assert!(seen.iter().all(|(_, ts, _)| *ts < 40_000));
    assert!(seen.iter().any(|(_, ts, _)| *ts < 20_000) || seen[0].1 <= 20_000);
    assert_eq!(seen.last().map(|s| s.1), Some(39_000));
    assert!(r.segments.iter().all(|s| s.max_ts >= 20_000));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn torn_tail_is_cut_and_reported() -> R {
    let dir = temp_dir("torn");
    drop(write_log(config(&dir, SyncMode::Off, 1 << 20), 10)?);
    let path = dir.join(segment_name(1));
    let len = std::fs::metadata(&path)?.len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)?
        .set_len(len - 3)?;
    let (r, seen) = read_back(&dir)?;
    assert_eq!(seen.len(), 9);
    assert_eq!(r.records, 9);
    assert_eq!(r.dropped_records, 1);
    assert!(r.dropped_bytes > 0 && r.dropped_bytes < len);
    assert!(r.quarantined.is_empty());
    // The cut is on disk: a second replay finds a clean log.
    let (r2, seen2) = read_back(&dir)?;
    assert_eq!(seen2, seen);
    assert_eq!(r2.dropped_bytes, 0);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn checksum_failure_in_last_segment_ends_replay_there() -> R {
    let dir = temp_dir("crc");
    drop(write_log(config(&dir, SyncMode::Off, 1 << 20), 10)?);
    let path = dir.join(segment_name(1));
    let mut bytes = std::fs::read(&path)?;
    // Flip a byte inside the sixth record's payload (all records have the same size).
    let rec_len = (bytes.len() - MAGIC.len()) / 10;
    let at = MAGIC.len() + 5 * rec_len + 12;
    bytes[at] ^= 0x01;
    std::fs::write(&path, &bytes)?;
    let (r, seen) = read_back(&dir)?;
    assert_eq!(seen.len(), 5);
    assert_eq!(r.dropped_records, 5);
    assert_eq!(r.dropped_bytes as usize, 5 * rec_len);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn damaged_middle_segment_is_quarantined_and_later_ones_replay() -> R {
    let dir = temp_dir("quarantine");
    drop(write_log(config(&dir, SyncMode::Off, 200), 30)?);
    let first = dir.join(segment_name(1));
    let mut bytes = std::fs::read(&first)?;
    let n = bytes.len();
    bytes[n - 2] ^= 0xff;
    std::fs::write(&first, &bytes)?;
    let (r, seen) = read_back(&dir)?;
    assert_eq!(r.quarantined.len(), 1);
    // The damaged file is kept aside; its intact prefix stays in the log.
    assert!(dir.join(format!("{}.corrupt", segment_name(1))).exists());
    assert_eq!(std::fs::read(&first)?.len(), n - rec_len(&bytes));
    // Only the damaged last record of segment 1 is missing.
    assert_eq!(seen.len(), 29);
    assert_eq!(seen.last().map(|s| s.1), Some(29_000));
    assert_eq!(r.segments[0].seq, 1);
    // Quarantined files are left alone afterwards, and nothing more is lost.
    let (r2, seen2) = read_back(&dir)?;
    assert!(r2.quarantined.is_empty());
    assert_eq!(seen2.len(), seen.len());
    // Damaged again: a second quarantine never overwrites the first.
    let mut salvaged = std::fs::read(&first)?;
    salvaged.extend_from_slice(b"garbage");
    std::fs::write(&first, &salvaged)?;
    let (r3, seen3) = read_back(&dir)?;
    assert_eq!(r3.quarantined.len(), 1);
    assert!(dir.join(format!("{}.corrupt.1", segment_name(1))).exists());
    assert_eq!(seen3.len(), seen.len());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Length of the first record of a segment (the test records all have one size).
fn rec_len(segment: &[u8]) -> usize {
    let h = MAGIC.len();
    8 + u32::from_le_bytes([segment[h], segment[h + 1], segment[h + 2], segment[h + 3]]) as usize
}

#[test]
fn foreign_file_is_quarantined_even_when_last() -> R {
    let dir = temp_dir("foreign");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(segment_name(7)), b"hello, not a log")?;
    std::fs::write(dir.join("notes.txt"), b"ignored")?;
    let (r, seen) = read_back(&dir)?;
    assert!(seen.is_empty());
    assert_eq!(r.quarantined.len(), 1);
    assert_eq!(r.next_seq, 8);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn failing_append_applies_nothing_and_recovers() -> R {
    let dir = temp_dir("unwritable");
    // Tiny segments: every append needs a new file, which a file in the directory's place
    // makes impossible (chmod does not stop root).
    let wal = Wal::open(config(&dir, SyncMode::Off, 10), Vec::new(), 1);
    let (rec, max) = record("a", 1, 1.0);
    wal.append(&rec, max, || ())?.1.wait_blocking_for_tests();
    std::fs::rename(&dir, dir.with_extension("moved"))?;
    std::fs::write(&dir, b"in the way")?;
    let mut applied = false;
    let failed = wal.append(&rec, max, || applied = true);
    assert!(failed.is_err());
    assert!(!applied, "nothing is applied when the append fails");
    assert_eq!(
        wal.counters()
            .failures
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    std::fs::remove_file(&dir)?;
    std::fs::rename(dir.with_extension("moved"), &dir)?;
    wal.append(&rec, max, || applied = true)?
        .1
        .wait_blocking_for_tests();
    assert!(applied);
    drop(wal);
    let (r, _) = read_back(&dir)?;
    assert_eq!(r.records, 2);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn group_commit_answers_after_the_shared_fsync() -> R {
    let dir = temp_dir("group");
    let wal = std::sync::Arc::new(Wal::open(
        config(&dir, SyncMode::Group, 1 << 20),
        Vec::new(),
        1,
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()?;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..64 {
            let wal = wal.clone();
            tasks.push(tokio::spawn(async move {
                let (rec, max) = record("g", i, i as f64);
                let ((), d) = wal.append(&rec, max, || ())?;
                d.wait().await
            }));
        }
        for t in tasks {
            assert!(matches!(t.await, Ok(Ok(()))));
        }
    });
    let c = wal.counters();
    let syncs = c.syncs.load(std::sync::atomic::Ordering::Relaxed);
    assert!((1..=64).contains(&syncs), "{syncs}");
    drop(wal);
    let (r, _) = read_back(&dir)?;
    assert_eq!(r.records, 64);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn sync_modes_parse() {
    assert_eq!("always".parse(), Ok(SyncMode::Always));
    assert_eq!("group".parse(), Ok(SyncMode::Group));
    assert_eq!("off".parse(), Ok(SyncMode::Off));
    assert_eq!(
        "100ms".parse(),
        Ok(SyncMode::Interval(std::time::Duration::from_millis(100)))
    );
    assert!("0s".parse::<SyncMode>().is_err());
    assert!("sometimes".parse::<SyncMode>().is_err());
}

impl Durability {
    /// Tests without a runtime use only modes that need no waiting.
    fn wait_blocking_for_tests(self) {
        assert!(matches!(self, Durability::Done));
    }
}

/// Replay goes through the same normalisation in the same order: counters, rates and
/// gauges published through the log come back bit for bit.
#[test]
fn replay_reproduces_normalised_state_exactly() -> R {
    use crate::ingest::{Datapoint, Decoded, Ingest};
    use crate::store::{Store, StoreConfig};
    use sextant_query::{Database, Query, ScanRequest};
    use std::borrow::Cow;
    use std::sync::Arc;

    let dir = temp_dir("exact");
    let config = StoreConfig {
        step_ms: 1000,
        max_age_ms: 600_000,
        ..StoreConfig::default()
    };
    let live = Arc::new(Store::new(config.clone()));
    let wal = Arc::new(Wal::open(
        self::config(&dir, SyncMode::Off, 4096),
        Vec::new(),
        1,
    ));
    let ingest = Ingest::new(live.clone(), wal.clone());
    let base = 1_700_000_000_000i64;
    for i in 0..200i64 {
        let ts = base + i * 737;
        let dp = |name: &'static str, dstype: Option<&'static str>, timestamp: i64, value: f64| {
            let mut tags = vec![(Cow::Borrowed("name"), Cow::Borrowed(name))];
            if let Some(d) = dstype {
                tags.insert(0, (Cow::Borrowed("atlas.dstype"), Cow::Borrowed(d)));
            }
            Datapoint {
                tags,
                timestamp,
                value,
            }
        };
        let points = vec![
            dp("cc", Some("counter"), ts, (i * i) as f64 * 1.7),
            dp("rr", None, ts, (i % 7) as f64 / 3.0),
            dp(
                "gg",
                Some("gauge"),
                ts - (i % 3) * 400,
                (i % 5) as f64 + 0.1,
            ),
            dp("old", None, ts - 3_600_000, 1.0),
        ];
        let decoded = Decoded {
            points,
            errors: Vec::new(),
        };
        let pending = ingest.apply(decoded, ts)?;
        assert_eq!(
            pending.outcome().accepted,
            3,
            "{:?}",
            pending.outcome().messages
        );
    }
    drop(ingest);
    drop(wal);
    let replayed = Store::new(config);
    replay(&dir, 0, &mut |_, p| {
        let _ = replayed.write(&p.tags, p.timestamp, p.value);
    })?;
    let scan = |s: &Store| {
        let mut out = Vec::new();
        let req = ScanRequest {
            query: &Query::True,
            start: base - 5000,
            end: base + 200_000,
        };
        let r = s.scan(&req, &mut |tags, values| {
            let name = tags.iter().find(|t| t.0 == "name").map(|t| t.1.to_string());
            let bits: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
            out.push((name, bits));
            Ok(())
        });
        assert!(r.is_ok());
        out.sort();
        out
    };
    let want = scan(&live);
    assert_eq!(
        want.len(),
        3,
        "the too-old series was never logged nor stored"
    );
    assert_eq!(scan(&replayed), want);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

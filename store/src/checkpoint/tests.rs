//! Checkpoint and replay together: the store after a restart equals the store before it.

use super::*;
use crate::wal::{Durability, SyncMode};
use sextant_query::{Database, Query, ScanRequest};

const STEP: i64 = 60_000;

fn config() -> StoreConfig {
    StoreConfig {
        step_ms: STEP,
        block_len: 4,
        retention_ms: 1000 * STEP,
        max_age_ms: 5 * STEP,
        ..StoreConfig::default()
    }
}

fn wal_config(dir: &Path) -> WalConfig {
    WalConfig {
        dir: dir.join("wal"),
        sync: SyncMode::Off,
        segment_bytes: 4096,
    }
}

/// Every series' tags and values, bit for bit, over `0..=end`.
type Dump = Vec<(Vec<(String, String)>, Vec<u64>)>;

fn dump(store: &Store, end: i64) -> Dump {
    let mut out = Vec::new();
    let req = ScanRequest {
        query: &Query::True,
        start: 0,
        end,
    };
    let r = store.scan(&req, &mut |tags, values| {
        out.push((
            tags.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            values.iter().map(|v| v.to_bits()).collect(),
        ));
        Ok(())
    });
    assert!(r.is_ok());
    out.sort();
    out
}

/// Publishes one logged record of `points` (name, dstype, t, v) as the publish path does.
fn publish(store: &Store, wal: &Wal, points: &[(&str, &str, i64, f64)]) {
    let mut record = crate::wal::record::Encoder::with_capacity(points.len());
    for (name, ds, t, v) in points {
        record.push(&[("atlas.dstype", *ds), ("name", *name)], *t, *v);
    }
    let max_ts = record.max_ts();
    let bytes = record.finish();
    let appended = wal.append(&bytes, max_ts, || {
        for (name, ds, t, v) in points {
            let _ = store.write(&[("atlas.dstype", *ds), ("name", *name)], *t, *v);
        }
    });
    assert!(matches!(appended, Ok(((), Durability::Done))));
}

fn traffic(i: i64) -> Vec<(&'static str, &'static str, i64, f64)> {
    let t = i * STEP / 4;
    vec![
        ("sum", "sum", t, 1.5),
        ("counter", "counter", t, (i * i) as f64),
        ("rate", "rate", t, i as f64 * 0.25),
        ("gauge", "gauge", t, (i % 7) as f64),
    ]
}

#[test]
fn checkpoint_plus_log_rebuilds_the_store_exactly() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempdir()?;
    let ckpt = tmp.join("checkpoints");
    let store = Store::new(config());
    let wal = Wal::open(wal_config(&tmp), Vec::new(), 1);
    let mut checkpoints = 0;
    for i in 1..=200 {
        publish(&store, &wal, &traffic(i));
        if i % 37 == 0 {
            store.maintain(i * STEP / 4);
            write(&store, &wal, &ckpt, i * STEP / 4)?;
            checkpoints += 1;
        }
    }
    assert!(checkpoints >= 3);
    let before = dump(&store, 60 * STEP);
    drop(wal);
    let (restored, _wal) = recover(config(), wal_config(&tmp), &ckpt, 50 * STEP)?;
    assert_eq!(dump(&restored, 60 * STEP), before);
    // Segments before the older kept checkpoint are gone.
    let segments = std::fs::read_dir(tmp.join("wal"))?.count();
    let kept = list(&ckpt)?;
    assert_eq!(kept.len(), KEEP);
    assert!(segments < 30, "{segments} segments left");
    Ok(())
}

/// Records applied newest first, with a checkpoint between a record and the older one
/// that is placed among the kept samples after it: replay places it the same way, because
/// the checkpoint keeps every sample the normaliser keeps.
#[test]
fn late_samples_placed_after_a_checkpoint_are_placed_again_on_replay(
) -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempdir()?;
    let ckpt = tmp.join("checkpoints");
    let store = Store::new(config());
    let wal = Wal::open(wal_config(&tmp), Vec::new(), 1);
    for pair in (1..=120).collect::<Vec<i64>>().chunks(2) {
        publish(&store, &wal, &traffic(pair[1]));
        if pair[1] % 10 == 0 {
            write(&store, &wal, &ckpt, pair[1] * STEP / 4)?;
        }
        publish(&store, &wal, &traffic(pair[0]));
    }
    let c = store.counters();
    assert_eq!(c.out_of_order.load(std::sync::atomic::Ordering::Relaxed), 0);
    let before = dump(&store, 60 * STEP);
    drop(wal);
    let (restored, _wal) = recover(config(), wal_config(&tmp), &ckpt, 30 * STEP)?;
    assert_eq!(dump(&restored, 60 * STEP), before);
    let c = restored.counters();
    assert_eq!(c.out_of_order.load(std::sync::atomic::Ordering::Relaxed), 0);
    Ok(())
}

#[test]
fn publishing_during_a_checkpoint_is_neither_lost_nor_doubled(
) -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempdir()?;
    let ckpt = tmp.join("checkpoints");
    let store = std::sync::Arc::new(Store::new(config()));
    let wal = std::sync::Arc::new(Wal::open(wal_config(&tmp), Vec::new(), 1));
    // Many series so the checkpoint takes several quiesced chunks.
    let names: Vec<String> = (0..5000).map(|i| format!("s{i}")).collect();
    for (n, name) in names.iter().enumerate() {
        publish(&store, &wal, &[(name.as_str(), "sum", STEP, n as f64)]);
    }
    let writer = {
        let (store, wal) = (store.clone(), wal.clone());
        std::thread::spawn(move || {
            for i in 1..=400 {
                let name = format!("s{}", (i * 13) % 5000);
                publish(
                    &store,
                    &wal,
                    &[(&name, "sum", 2 * STEP, 1.0), ("hot", "sum", 2 * STEP, 1.0)],
                );
            }
        })
    };
    write(&store, &wal, &ckpt, 2 * STEP)?;
    let _ = writer.join();
    let before = dump(&store, 3 * STEP);
    drop(wal);
    let (restored, _wal) = recover(config(), wal_config(&tmp), &ckpt, 3 * STEP)?;
    assert_eq!(dump(&restored, 3 * STEP), before);
    Ok(())
}

#[test]
fn a_damaged_checkpoint_is_quarantined_and_the_older_one_used(
) -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempdir()?;
    let ckpt = tmp.join("checkpoints");
    let store = Store::new(config());
    let wal = Wal::open(wal_config(&tmp), Vec::new(), 1);
    for i in 1..=60 {
        publish(&store, &wal, &traffic(i));
        if i % 20 == 0 {
            write(&store, &wal, &ckpt, i * STEP / 4)?;
        }
    }
    let before = dump(&store, 20 * STEP);
    drop(wal);
    let newest = list(&ckpt)?
        .first()
        .map(|(_, p)| p.clone())
        .ok_or("no checkpoint")?;
    let mut bytes = std::fs::read(&newest)?;
    let at = bytes.len() / 2;
    bytes[at] ^= 0xFF;
    std::fs::write(&newest, &bytes)?;
    let (restored, _wal) = recover(config(), wal_config(&tmp), &ckpt, 20 * STEP)?;
    assert_eq!(dump(&restored, 20 * STEP), before);
    assert!(!newest.exists());
    let quarantined = std::fs::read_dir(&ckpt)?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".corrupt"))
        .count();
    assert_eq!(quarantined, 1);
    Ok(())
}

#[test]
fn a_checkpoint_of_another_layout_stops_the_start_with_the_reason(
) -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempdir()?;
    let ckpt = tmp.join("checkpoints");
    let store = Store::new(config());
    let wal = Wal::open(wal_config(&tmp), Vec::new(), 1);
    publish(&store, &wal, &traffic(1));
    write(&store, &wal, &ckpt, STEP)?;
    drop(wal);
    let other = StoreConfig {
        block_len: 8,
        ..config()
    };
    let err = recover(other, wal_config(&tmp), &ckpt, STEP)
        .err()
        .ok_or("started")?;
    assert!(err.to_string().contains("--step and --block-len"), "{err}");
    Ok(())
}

/// With every segment gone (deleted by the retention rule on an idle server), new
/// segments must still be numbered after the checkpoint, or the next start would take
/// their records for ones the checkpoint holds.
#[test]
fn segments_after_a_lost_log_still_follow_the_checkpoint() -> Result<(), Box<dyn std::error::Error>>
{
    let tmp = tempdir()?;
    let ckpt = tmp.join("checkpoints");
    let store = Store::new(config());
    let wal = Wal::open(wal_config(&tmp), Vec::new(), 1);
    for i in 1..=40 {
        publish(&store, &wal, &traffic(i));
    }
    write(&store, &wal, &ckpt, 10 * STEP)?;
    drop(wal);
    std::fs::remove_dir_all(tmp.join("wal"))?;
    let (store, wal) = recover(config(), wal_config(&tmp), &ckpt, 10 * STEP)?;
    for i in 41..=60 {
        publish(&store, &wal, &traffic(i));
    }
    let before = dump(&store, 20 * STEP);
    drop(wal);
    let (restored, _wal) = recover(config(), wal_config(&tmp), &ckpt, 20 * STEP)?;
    assert_eq!(dump(&restored, 20 * STEP), before);
    Ok(())
}

#[test]
fn an_interrupted_checkpoint_is_ignored() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempdir()?;
    let ckpt = tmp.join("checkpoints");
    let store = Store::new(config());
    let wal = Wal::open(wal_config(&tmp), Vec::new(), 1);
    for i in 1..=10 {
        publish(&store, &wal, &traffic(i));
    }
    let before = dump(&store, 5 * STEP);
    drop(wal);
    std::fs::create_dir_all(&ckpt)?;
    std::fs::write(ckpt.join("0000000000000009.ckpt.tmp"), b"SXTCKP01 half")?;
    let (restored, _wal) = recover(config(), wal_config(&tmp), &ckpt, 5 * STEP)?;
    assert_eq!(dump(&restored, 5 * STEP), before);
    assert!(!ckpt.join("0000000000000009.ckpt.tmp").exists());
    Ok(())
}

fn tempdir() -> std::io::Result<PathBuf> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sextant-ckpt-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

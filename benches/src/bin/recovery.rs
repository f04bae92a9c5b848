//! Start-up time from a checkpoint: fills a store with `--series` series of `--steps`
//! one-minute values (6 h by default, every block sealed), writes a checkpoint as the
//! server does, drops the store, and times loading it back with the server's recovery
//! (checkpoint, then the log written since, then sealing and expiry).
//!
//! `cargo run --release -p sextant-benches --bin recovery -- --series 1000000`
//!
//! `--tail-steps N` also logs N more one-minute values per series after the checkpoint,
//! through the write-ahead log as publishes do, so the replay of a log tail is timed too.

use std::time::Instant;

use clap::Parser;
use sextant_benches::dataset::{filled_store, store_config, tags};
use sextant_store::wal_record::Encoder;
use sextant_store::{recover_store, write_checkpoint, Store, SyncMode, Wal, WalConfig};

#[derive(Parser)]
struct Args {
    /// Series to create.
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// One-minute values per series before the checkpoint.
    #[arg(long, default_value_t = 360)]
    steps: usize,
    /// One-minute values per series logged after the checkpoint.
    #[arg(long, default_value_t = 0)]
    tail_steps: usize,
    /// Where the log and the checkpoint go (emptied first).
    #[arg(long, default_value = "/tmp/sextant-recovery-bench")]
    dir: std::path::PathBuf,
}

/// The `:sum` of every series at every step: a fingerprint of the store's contents.
fn fingerprint(store: &Store, start: i64, end: i64) -> Vec<u64> {
    let ctx =
        sextant_query::EvalContext::new(start, end, 60_000).with_limits(sextant_query::Limits {
            max_lines: usize::MAX,
            max_datapoints: usize::MAX,
        });
    let Ok(exprs) = sextant_query::parse("name,cpu.utilization,:eq,:sum") else {
        return Vec::new();
    };
    match sextant_query::evaluate(&exprs, &ctx, store) {
        Ok(lines) => lines
            .iter()
            .flat_map(|l| l.series.values.iter().map(|v| v.to_bits()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = std::fs::remove_dir_all(&args.dir);
    let step = 60_000i64;
    let end = 1_800_000_000_000;
    let started = Instant::now();
    let store = filled_store(args.series, args.steps, end);
    println!(
        "{} series x {} steps filled in {:.1} s",
        args.series,
        args.steps,
        started.elapsed().as_secs_f64()
    );
    let wal_config = WalConfig {
        dir: args.dir.join("wal"),
        sync: SyncMode::Group,
        segment_bytes: 64 << 20,
    };
    let ckpt_dir = args.dir.join("checkpoints");
    let wal = Wal::open(wal_config.clone(), Vec::new(), 1);
    let written = write_checkpoint(&store, &wal, &ckpt_dir, end)?;
    println!(
        "checkpoint: {} series, {:.1} MiB ({:.0} bytes/series) written in {:.2} s",
        written.series,
        written.bytes as f64 / (1 << 20) as f64,
        written.bytes as f64 / written.series as f64,
        written.elapsed_ms as f64 / 1000.0
    );
    // The log tail: one record per step holding every series, as big publishes would.
    let mut logged = 0u64;
    for s in 1..=args.tail_steps as i64 {
        let ts = end + s * step;
        for chunk in (0..args.series).collect::<Vec<_>>().chunks(10_000) {
            let mut record = Encoder::with_capacity(chunk.len());
            let points: Vec<_> = chunk
                .iter()
                .map(|i| (tags(*i), (*i % 100) as f64))
                .collect();
            for (t, v) in &points {
                record.push(t, ts, *v);
            }
            let max_ts = record.max_ts();
            let (_, _durability) = wal.append(&record.finish(), max_ts, || {
                for (t, v) in &points {
                    let _ = store.write(t, ts, *v);
                }
            })?;
            logged += points.len() as u64;
        }
    }
    wal.sync_now()?;
    let now = end + args.tail_steps as i64 * step;
    let first = end - (args.steps as i64 - 1) * step;
    let want = fingerprint(&store, first, now + step);
    drop(wal);
    drop(store);
    let started = Instant::now();
    let (restored, _wal) = recover_store(
        store_config(args.series, args.steps),
        wal_config,
        &ckpt_dir,
        now,
    )?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "recovered {} series ({} datapoints of log tail) in {:.2} s",
        restored.len(),
        logged,
        secs
    );
    let same = fingerprint(&restored, first, now + step) == want;
    println!("contents identical to before the restart: {same}");
    anyhow::ensure!(same, "the recovered store differs");
    Ok(())
}

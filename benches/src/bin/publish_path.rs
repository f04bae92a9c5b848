//! The publish path without HTTP: the peers dataset's Atlas JSON bodies decoded
//! (`decode_publish`) and applied (`Ingest::apply`, no log) in one thread, so what the
//! server spends per datapoint between the socket and the WAL can be measured alone, and
//! counted exactly with `valgrind --tool=callgrind` whatever else the machine runs.
//!
//! ```sh
//! cargo build --release -p sextant-benches --bin publish_path
//! target/release/publish_path --series 10000 --points 30
//! valgrind --tool=callgrind --toggle-collect='*apply_all*' target/release/publish_path --series 10000 --points 30
//! ```

use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use sextant_benches::peers::Dataset;
use sextant_store::{Ingest, NoLog, Store, StoreConfig};

#[derive(Parser)]
#[command(about = "Decode and apply the peers dataset's publish bodies in process")]
struct Args {
    /// Series (10 per host).
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// One-minute values per series.
    #[arg(long, default_value_t = 30)]
    points: usize,
    /// Datapoints per body.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
}

/// Decodes and applies every body; returns datapoints accepted and refused. Its own
/// function so callgrind can count it alone: `--toggle-collect='*apply_all*'`.
#[inline(never)]
fn apply_all(
    ingest: &Ingest,
    bodies: &[String],
    now: i64,
    step: i64,
) -> anyhow::Result<(usize, usize)> {
    let (mut accepted, mut refused) = (0, 0);
    for body in bodies {
        let decoded = sextant_server::decode_publish(body.as_bytes(), now, step)?;
        let outcome = ingest.apply(decoded, now)?.outcome().clone();
        accepted += outcome.accepted;
        refused += outcome.error_count;
    }
    Ok((accepted, refused))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let dataset = Dataset {
        series: args.series,
        points: args.points,
        seed: 1,
        end_ms: now - 60_000,
    };
    let bodies: Vec<String> = dataset.bodies(args.batch).map(|b| b.atlas).collect();
    let store = Arc::new(Store::new(StoreConfig {
        max_age_ms: 4 * 3_600_000,
        ..StoreConfig::default()
    }));
    let step = store.config().step_ms;
    let ingest = Ingest::new(store.clone(), Arc::new(NoLog));
    let start = Instant::now();
    let (accepted, refused) = apply_all(&ingest, &bodies, now, step)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} bodies, {accepted} datapoints accepted, {refused} refused, {} series, in {secs:.2} s = {:.2} M dp/s",
        bodies.len(),
        store.len(),
        accepted as f64 / secs / 1e6
    );
    anyhow::ensure!(refused == 0, "{refused} datapoints refused");
    Ok(())
}

//! Resident memory per series: fills a store with `--series` series of `--steps` one-minute
//! values (6 h by default, every block sealed) and prints the growth of the process's
//! resident set divided by the series count, beside the store's own estimate.
//!
//! `cargo run --release -p sextant-benches --bin memory -- --series 1000000`
//!
//! It then times `name,cpu.utilization,:eq,:sum` over the whole window, decoding every
//! sealed block: the "sum over a million series" figure of the stack-language benchmarks.

use std::time::Instant;

use clap::Parser;
use sextant_benches::dataset::filled_store;

#[derive(Parser)]
struct Args {
    /// Series to create.
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// One-minute values per series.
    #[arg(long, default_value_t = 360)]
    steps: usize,
}

/// Resident set size of this process in bytes, from /proc (Linux).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn main() {
    let args = Args::parse();
    let before = rss_bytes().unwrap_or(0);
    let started = Instant::now();
    let end = 1_800_000_000_000;
    let store = filled_store(args.series, args.steps, end);
    let elapsed = started.elapsed();
    let after = rss_bytes().unwrap_or(0);
    let stats = store.stats();
    let per_series = after.saturating_sub(before) as f64 / args.series as f64;
    println!(
        "{} series x {} steps filled in {:.1} s ({:.1} M datapoints/s)",
        args.series,
        args.steps,
        elapsed.as_secs_f64(),
        (args.series * args.steps) as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!(
        "resident: {:.0} bytes/series (RSS growth {:.1} MiB); store estimate {:.0} bytes/series; sealed data {:.2} bytes/datapoint",
        per_series,
        after.saturating_sub(before) as f64 / (1 << 20) as f64,
        stats.memory_bytes as f64 / args.series as f64,
        stats.sealed_bytes as f64 / (args.series * args.steps) as f64
    );
    let step = 60_000;
    let ctx =
        sextant_query::EvalContext::new(end - (args.steps as i64 - 1) * step, end + step, step)
            .with_limits(sextant_query::Limits {
                max_lines: usize::MAX,
                max_datapoints: usize::MAX,
            });
    let exprs = match sextant_query::parse("name,cpu.utilization,:eq,:sum") {
        Ok(e) => e,
        Err(e) => return eprintln!("parse failed: {e}"),
    };
    for run in 1..=3 {
        let started = Instant::now();
        let lines = sextant_query::evaluate(&exprs, &ctx, &store).map(|l| l.len());
        let secs = started.elapsed().as_secs_f64();
        println!(
            ":sum run {run}: {lines:?} line(s) in {:.3} s = {:.0} M datapoints/s decoded and summed",
            secs,
            (args.series * args.steps) as f64 / secs / 1e6
        );
    }
}

//! HTTP load generator: publishes Atlas batch payloads to a running server over loopback and
//! prints the sustained datapoints per second.
//!
//! ```sh
//! cargo run --release -p sextant-server -- serve --listen 127.0.0.1:7101 &
//! cargo run --release -p sextant-benches --bin load -- --series 100000 --rate 2000000 --seconds 20
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(about = "Publish synthetic datapoints to a Sextant server and report the rate")]
struct Args {
    /// Base URL of the server; several, comma-separated, spread the connections over
    /// them (the nodes of a cluster).
    #[arg(long, default_value = "http://127.0.0.1:7101")]
    url: String,
    /// Distinct series to publish to.
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Target datapoints per second (the generator publishes as fast as it can up to this).
    #[arg(long, default_value_t = 1_000_000)]
    rate: u64,
    /// How long to run.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Datapoints per request.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One request body of `batch` datapoints starting at series `first`.
fn body(first: usize, batch: usize, series: usize, ts: i64) -> String {
    let mut out = String::with_capacity(batch * 130);
    out.push_str(r#"{"tags":{"nf.app":"loadgen","nf.cluster":"loadgen-main"},"metrics":["#);
    for k in 0..batch {
        let i = (first + k) % series;
        if k > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"tags":{{"name":"load.requests","nf.node":"i-{:07}","id":"{}","atlas.dstype":"gauge"}},"timestamp":{ts},"value":{}.{:02}}}"#,
            i / 10,
            i % 10,
            (i * 7 + k) % 100,
            k % 100
        ));
    }
    out.push_str("]}");
    out
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let publish: Vec<String> = args
        .url
        .split(',')
        .map(|u| format!("{}/api/v1/publish", u.trim().trim_end_matches('/')))
        .collect();
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let per_conn_rate = (args.rate / args.connections.max(1) as u64).max(1);
    let bar = ProgressBar::new(args.seconds);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {msg}")
            .context("progress bar template")?,
    );
    let start = Instant::now();
    let workers: Vec<_> = (0..args.connections.max(1))
        .map(|w| {
            let (sent, failed) = (sent.clone(), failed.clone());
            let publish = publish[w % publish.len()].clone();
            let (series, batch) = (args.series.max(1), args.batch.max(1));
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut first = w * batch;
                let began = Instant::now();
                let mut mine = 0u64;
                while Instant::now() < deadline {
                    // Stay under the target rate: sleep when ahead of schedule.
                    let due = Duration::from_secs_f64(mine as f64 / per_conn_rate as f64);
                    if let Some(wait) = due.checked_sub(began.elapsed()) {
                        std::thread::sleep(
                            wait.min(deadline.saturating_duration_since(Instant::now())),
                        );
                        continue;
                    }
                    let payload = body(first, batch, series, now_ms());
                    first = (first + batch * 4) % series;
                    match agent
                        .post(&publish)
                        .header("content-type", "application/json")
                        .send(payload.as_bytes())
                    {
                        Ok(r) if r.status().as_u16() == 200 => {
                            sent.fetch_add(batch as u64, Ordering::Relaxed);
                        }
                        _ => {
                            failed.fetch_add(batch as u64, Ordering::Relaxed);
                        }
                    }
                    mine += batch as u64;
                }
            })
        })
        .collect();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        let secs = start.elapsed().as_secs_f64();
        bar.set_position(secs as u64);
        bar.set_message(format!(
            "{:.0} datapoints/s, {} failed",
            sent.load(Ordering::Relaxed) as f64 / secs,
            failed.load(Ordering::Relaxed)
        ));
    }
    for w in workers {
        let _ = w.join();
    }
    bar.finish();
    let secs = start.elapsed().as_secs_f64();
    let total = sent.load(Ordering::Relaxed);
    println!(
        "sent {total} datapoints in {secs:.1} s: {:.0} datapoints/s sustained ({} failed)",
        total as f64 / secs,
        failed.load(Ordering::Relaxed)
    );
    Ok(())
}

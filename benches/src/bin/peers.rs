//! The generator and sender of the peers benchmark; `benches/peers/run.py` drives it.
//!
//! ```sh
//! # write the bodies (Atlas JSON and Prometheus text) and manifest.json into /tmp/ds
//! peers gen --series 10000 --points 180 --seed 1 --end-ms 1800000000000 --out /tmp/ds
//! # post them over 2 keep-alive connections; prints one JSON line with the timings
//! peers send --url http://127.0.0.1:7101/api/v1/publish --dir /tmp/ds/atlas
//! # percentile timers (benches/cluster/query.py) as Atlas bodies t000000.json, ... in /tmp/ds/atlas
//! peers timers --timers 50 --points 180 --seed 1 --end-ms 1800000000000 --out /tmp/ds/atlas
//! ```

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sextant_benches::peers::Dataset;
use sextant_benches::timers::Timers;

#[derive(Parser)]
#[command(about = "Seeded dataset and HTTP sender of the peers benchmark")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the bodies in both formats and manifest.json.
    Gen {
        /// Series (10 per host: 6 gauges, 4 counters).
        #[arg(long, default_value_t = 10_000)]
        series: usize,
        /// One-minute values per series.
        #[arg(long, default_value_t = 180)]
        points: usize,
        /// Seed of every value.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Timestamp of the last value, epoch ms (rounded down to the minute).
        #[arg(long)]
        end_ms: i64,
        /// Datapoints per body.
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
        /// Directory to write `atlas/`, `prometheus/` and `manifest.json` into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write percentile timers (20 bucket series each) as Atlas bodies `t<n>.json`.
    Timers {
        /// Timers.
        #[arg(long, default_value_t = 50)]
        timers: usize,
        /// One-minute values per series.
        #[arg(long, default_value_t = 180)]
        points: usize,
        /// Seed of every count.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Timestamp of the last value, epoch ms (rounded down to the minute).
        #[arg(long)]
        end_ms: i64,
        /// Datapoints per body.
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
        /// Directory to write the bodies into.
        #[arg(long)]
        out: PathBuf,
    },
    /// POST every file of a directory, in name order, over keep-alive connections.
    Send {
        /// Full URL to post to.
        #[arg(long)]
        url: String,
        /// Directory of bodies.
        #[arg(long)]
        dir: PathBuf,
        /// Concurrent keep-alive connections; each takes the next body when it is free.
        #[arg(long, default_value_t = 2)]
        connections: usize,
        /// Content type of the bodies.
        #[arg(long, default_value = "application/json")]
        content_type: String,
    },
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Gen {
            series,
            points,
            seed,
            end_ms,
            batch,
            out,
        } => generate(
            &Dataset {
                series,
                points,
                seed,
                end_ms,
            },
            batch,
            &out,
        ),
        Command::Timers {
            timers,
            points,
            seed,
            end_ms,
            batch,
            out,
        } => {
            let timers = Timers {
                timers,
                points,
                seed,
                end_ms,
            };
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            for (n, body) in timers.bodies(batch).enumerate() {
                write(&out.join(format!("t{n:06}.json")), &body.atlas)?;
            }
            Ok(())
        }
        Command::Send {
            url,
            dir,
            connections,
            content_type,
        } => send(&url, &dir, connections, &content_type),
    }
}

fn generate(dataset: &Dataset, batch: usize, out: &Path) -> anyhow::Result<()> {
    let atlas = out.join("atlas");
    let prometheus = out.join("prometheus");
    for dir in [&atlas, &prometheus] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for (n, body) in dataset.bodies(batch).enumerate() {
        let name = format!("{n:06}");
        write(&atlas.join(format!("{name}.json")), &body.atlas)?;
        write(&prometheus.join(format!("{name}.txt")), &body.prometheus)?;
    }
    let manifest = serde_json::to_string_pretty(&dataset.manifest(batch))?;
    write(&out.join("manifest.json"), &manifest)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::new(file);
    w.write_all(text.as_bytes())
        .and_then(|()| w.flush())
        .with_context(|| format!("writing {}", path.display()))
}

/// How one connection's bodies went.
#[derive(Default)]
struct Tally {
    statuses: std::collections::BTreeMap<String, u64>,
    bytes: u64,
    /// The first few answers that were not 2xx, or 2xx with errors, for the report.
    problems: Vec<String>,
}

fn send(url: &str, dir: &Path, connections: usize, content_type: &str) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let files = Arc::new(files);
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let workers: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let (files, next, tally) = (files.clone(), next.clone(), tally.clone());
            let (url, content_type) = (url.to_string(), content_type.to_string());
            std::thread::spawn(move || -> anyhow::Result<()> {
                // One agent per thread: its pool keeps this thread's connection alive.
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                loop {
                    let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        return Ok(());
                    };
                    let body = std::fs::read(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let outcome = agent
                        .post(&url)
                        .header("content-type", &content_type)
                        .send(&body[..]);
                    let (status, answer) = match outcome {
                        Ok(mut r) => {
                            let mut text = String::new();
                            // Read the answer to the end so the connection is reused.
                            let _ = r
                                .body_mut()
                                .as_reader()
                                .take(64 * 1024)
                                .read_to_string(&mut text);
                            (r.status().as_u16().to_string(), text)
                        }
                        Err(e) => ("error".to_string(), e.to_string()),
                    };
                    let mut t = tally
                        .lock()
                        .map_err(|_| anyhow::anyhow!("tally poisoned"))?;
                    t.bytes += body.len() as u64;
                    // Sextant answers 202 when some datapoints were refused; 200 and 204
                    // (VictoriaMetrics) mean all taken.
                    if !(status == "200" || status == "204") && t.problems.len() < 5 {
                        let name = path.file_name().unwrap_or_default().to_string_lossy();
                        t.problems.push(format!(
                            "{name}: {status} {}",
                            answer.chars().take(300).collect::<String>()
                        ));
                    }
                    *t.statuses.entry(status).or_default() += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a sender thread panicked"))??;
    }
    let seconds = start.elapsed().as_secs_f64();
    let t = tally
        .lock()
        .map_err(|_| anyhow::anyhow!("tally poisoned"))?;
    let report = serde_json::json!({
        "bodies": files.len(),
        "bytes": t.bytes,
        "seconds": seconds,
        "statuses": t.statuses,
        "problems": t.problems,
    });
    println!("{report}");
    Ok(())
}

//! Soak test: runs a Sextant server for N minutes under a fixed publish rate, concurrent graph
//! queries and alert evaluation, and reports throughput, latencies, memory over time and errors.
//! The goal is zero errors and flat memory once the retention window has filled.
//!
//! ```sh
//! cargo build --release -p sextant-server --bin sextant     # the soak starts this binary
//! cargo run --release -p sextant-benches --bin soak -- --minutes 5
//! cargo run --release -p sextant-benches --bin soak -- --minutes 5 --url http://127.0.0.1:7101
//! ```
//!
//! Every request goes to loopback. Every loop ends at the deadline, and every request has a
//! timeout, so the run cannot outlive `--minutes` by more than one request timeout.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context};
use clap::Parser;
use serde_json::Value;

#[derive(Parser)]
#[command(about = "Soak a Sextant server: publishes, graph queries and alert rules for N minutes")]
struct Args {
    /// How long to run, minutes (fractions allowed).
    #[arg(long, default_value_t = 5.0)]
    minutes: f64,
    /// Use this running server instead of starting one (must be a loopback address).
    #[arg(long)]
    url: Option<String>,
    /// The `sextant` binary to start [default: `sextant` next to this binary].
    #[arg(long)]
    server: Option<PathBuf>,
    /// Server `--step` (when this tool starts the server).
    #[arg(long, default_value = "1s")]
    step: String,
    /// Server `--retention`; short, so memory has to level off within the run.
    #[arg(long, default_value = "2m")]
    retention: String,
    /// Target datapoints per second, all publishers together.
    #[arg(long, default_value_t = 50_000)]
    rate: u64,
    /// Distinct series published to.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Datapoints per publish request.
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
    /// Publisher threads (one connection each).
    #[arg(long, default_value_t = 2)]
    publishers: usize,
    /// Graph queries per second, all query threads together.
    #[arg(long, default_value_t = 5.0)]
    qps: f64,
    /// Query threads (one connection each).
    #[arg(long, default_value_t = 2)]
    query_threads: usize,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 10)]
    report_every: u64,
    /// Keep the temporary data directory (and the server log in it) after the run.
    #[arg(long)]
    keep_data: bool,
}

/// Per-request timeout: a hung server shows up as connection errors, never as a hung soak.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// At most this many error messages are kept to print at the end.
const MAX_ERROR_SAMPLES: usize = 10;
const METRIC: &str = "soak.gauge";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        // Statuses are counted, not turned into errors, so non-2xx and connection failures
        // are told apart.
        .http_status_as_error(false)
        .timeout_global(Some(REQUEST_TIMEOUT))
        .build()
        .into()
}

// ---------------------------------------------------------------------------------------------
// Latency histogram
// ---------------------------------------------------------------------------------------------

/// A log-linear (HDR-style) histogram of microseconds: exact below 128, then 64 sub-buckets per
/// power of two, so a quantile is within 1/64 (1.6 %) of the true value over the whole u64
/// range in a fixed 30 KB. Written here rather than taking `hdrhistogram` because this is all
/// a soak needs (record, quantile, merge) and it keeps the bench crate's dependencies as they are.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

const SUB: usize = 64;
const BUCKETS: usize = 2 * SUB + 57 * SUB;

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }

    fn bucket(v: u64) -> usize {
        if v < 2 * SUB as u64 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros() as usize; // >= 7
        let shift = e - 6; // v >> shift is in 64..128
        let m = (v >> shift) as usize;
        2 * SUB + (shift - 1) * SUB + (m - SUB)
    }

    /// Lowest value and width of bucket `i`.
    fn range(i: usize) -> (u64, u64) {
        if i < 2 * SUB {
            return (i as u64, 1);
        }
        let j = i - 2 * SUB;
        let shift = j / SUB + 1;
        let m = (j % SUB + SUB) as u64;
        (m << shift, 1 << shift)
    }

    fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[Self::bucket(us)] += 1;
        self.total += 1;
        self.max = self.max.max(us);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// The `q` quantile in milliseconds (bucket midpoint, never above the max), NaN when empty.
    fn quantile_ms(&self, q: f64) -> f64 {
        if self.total == 0 {
            return f64::NAN;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = Self::range(i);
                return (low + width / 2).min(self.max) as f64 / 1000.0;
            }
        }
        self.max as f64 / 1000.0
    }

    fn max_ms(&self) -> f64 {
        if self.total == 0 {
            f64::NAN
        } else {
            self.max as f64 / 1000.0
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared counters
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Counters {
    /// Datapoints in publish requests answered 200.
    pub_datapoints_ok: AtomicU64,
    pub_requests: AtomicU64,
    /// Datapoints the publishers gave up on because they had fallen more than 1 s behind.
    pub_shortfall: AtomicU64,
    pub_status_errors: AtomicU64,
    pub_conn_errors: AtomicU64,
    queries: AtomicU64,
    query_status_errors: AtomicU64,
    query_conn_errors: AtomicU64,
    /// 200 answers whose body was not what the format promises.
    query_body_errors: AtomicU64,
    /// Query slots skipped because every query thread was busy past them.
    query_missed: AtomicU64,
    /// Failed /api/v1/stats or /api/v1/rules polls.
    monitor_errors: AtomicU64,
    /// Polls in which a rule had health `error`.
    rule_errors: AtomicU64,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Publish,
    Json,
    Png,
}

struct Latencies {
    /// Since the last progress line.
    window: [Histogram; 3],
    /// Whole run.
    total: [Histogram; 3],
}

struct Shared {
    counters: Counters,
    latencies: Mutex<Latencies>,
    errors: Mutex<Vec<String>>,
}

impl Shared {
    fn record(&self, kind: Kind, d: Duration) {
        if let Ok(mut l) = self.latencies.lock() {
            l.window[kind as usize].record(d);
            l.total[kind as usize].record(d);
        }
    }

    fn error(&self, what: String) {
        if let Ok(mut e) = self.errors.lock() {
            if e.len() < MAX_ERROR_SAMPLES {
                e.push(what);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

/// The started server and its temporary directory; dropping it kills the server, so every way
/// out of `main` (error, panic unwinding, normal end) takes the server down. A Ctrl-C reaches
/// the server too, since it shares our process group.
struct ServerGuard {
    child: Option<Child>,
    dir: PathBuf,
    keep: bool,
}

impl ServerGuard {
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// `Some(reason)` once the server has exited.
    fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.keep {
            eprintln!("data directory kept: {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Three rules over the published metric. Values are `series % 100` plus a fraction, so the
/// max is just under 100 and every cluster averages about 50: `SoakFires` must reach firing
/// (after its `for`), the other two must stay inactive. A one-minute lookback keeps each
/// evaluation at 60 steps × the series count.
fn rules_file() -> String {
    format!(
        r#"[[rules]]
name = "SoakFires"
expr = "name,{METRIC},:eq,:max,50,:gt"
for = "20s"
lookback = "1m"
budget = "5s"

[[rules]]
name = "SoakQuiet"
expr = "name,{METRIC},:eq,:max,1000,:gt"
lookback = "1m"
budget = "5s"

[[rules]]
name = "SoakClusterLow"
expr = "name,{METRIC},:eq,:avg,(,nf.cluster,),:by,10,:lt"
lookback = "1m"
budget = "5s"
"#
    )
}

/// What each rule should show at the end when the soak wrote the rules.
const EXPECTED_RULES: [(&str, &str); 3] = [
    ("SoakFires", "firing"),
    ("SoakQuiet", "inactive"),
    ("SoakClusterLow", "inactive"),
];

fn start_server(args: &Args) -> anyhow::Result<(ServerGuard, String)> {
    let binary = match &args.server {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .context("locating this binary")?
            .with_file_name(format!("sextant{}", std::env::consts::EXE_SUFFIX)),
    };
    ensure!(
        binary.is_file(),
        "no server binary at {}: run `cargo build --release -p sextant-server --bin sextant` \
         first, or pass --server PATH or --url URL",
        binary.display()
    );
    let dir =
        std::env::temp_dir().join(format!("sextant-soak-{}-{}", std::process::id(), now_ms()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // From here on the guard owns the directory, so an early error still cleans it up.
    let mut guard = ServerGuard {
        child: None,
        dir: dir.clone(),
        keep: args.keep_data,
    };
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, rules_file()).context("writing the rules file")?;
    let log = std::fs::File::create(dir.join("server.log")).context("creating server.log")?;
    let mut child = Command::new(&binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--step", &args.step])
        .args(["--retention", &args.retention])
        .arg("--rules")
        .arg(&rules)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take();
    guard.child = Some(child);
    let stdout = stdout.context("server stdout")?;
    // The server prints its address on stdout; a thread reads it and then keeps draining the
    // pipe (until the server exits) so the server can never block on a full pipe.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.trim().strip_prefix("sextant listening on ") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr.to_string());
                }
            }
        }
    });
    let url = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(url) => url,
        Err(_) => bail!(
            "the server did not print its address within 60 s; its log:\n{}",
            guard.log_tail()
        ),
    };
    Ok((guard, url))
}

/// Total size of the files under `dir` (missing or unreadable entries count as 0).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// Resident set size of `pid` in bytes, from /proc (Linux only).
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn get_json(agent: &ureq::Agent, url: &str) -> anyhow::Result<Value> {
    let mut resp = agent
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .read_to_string()
        .with_context(|| format!("GET {url}: reading the body"))?;
    ensure!(status == 200, "GET {url}: status {status}: {text}");
    serde_json::from_str(&text).with_context(|| format!("GET {url}: not JSON"))
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

/// One publish body of `batch` datapoints starting at series `first`, stamped `ts`.
fn publish_body(first: usize, batch: usize, series: usize, ts: i64, tick: u64) -> String {
    let mut out = String::with_capacity(batch * 130);
    out.push_str(r#"{"tags":{"nf.app":"soak","atlas.dstype":"gauge"},"metrics":["#);
    for k in 0..batch {
        let i = (first + k) % series;
        if k > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"tags":{{"name":"{METRIC}","nf.cluster":"soak-c{}","nf.node":"i-{:07}"}},"timestamp":{ts},"value":{}.{}}}"#,
            i % 8,
            i,
            i % 100,
            tick % 10
        ));
    }
    out.push_str("]}");
    out
}

fn publisher(
    shared: Arc<Shared>,
    publish_url: String,
    w: usize,
    args: (usize, usize, u64, usize),
    deadline: Instant,
) {
    let (series, batch, rate, publishers) = args;
    let agent = agent();
    // Publishers start at different offsets and stride over the series together, so every
    // series gets about rate / series datapoints per second.
    let mut first = w * batch;
    let began = Instant::now();
    let mut mine = 0u64;
    let mut tick = 0u64;
    while Instant::now() < deadline {
        // Open-loop pacing against the schedule; but after a stall of over a second the
        // backlog is dropped (and counted) rather than sent as a burst that would make the
        // server's recovery look worse than the stall itself.
        let elapsed = began.elapsed();
        let due_now = (elapsed.as_secs_f64() * rate as f64) as u64;
        if due_now > mine + rate {
            shared
                .counters
                .pub_shortfall
                .fetch_add(due_now - rate - mine, Ordering::Relaxed);
            mine = due_now - rate;
        }
        let due = Duration::from_secs_f64(mine as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(elapsed) {
            std::thread::sleep(wait.min(deadline.saturating_duration_since(Instant::now())));
            continue;
        }
        let payload = publish_body(first, batch, series, now_ms(), tick);
        tick += 1;
        first = (first + batch * publishers) % series;
        let sent = Instant::now();
        let result = agent
            .post(&publish_url)
            .header("content-type", "application/json")
            .send(payload.as_bytes());
        let c = &shared.counters;
        c.pub_requests.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(mut r) => {
                let status = r.status().as_u16();
                // Read the body so the connection can be reused, and to quote it on errors.
                let body = r.body_mut().read_to_string().unwrap_or_default();
                shared.record(Kind::Publish, sent.elapsed());
                if status == 200 {
                    c.pub_datapoints_ok
                        .fetch_add(batch as u64, Ordering::Relaxed);
                } else {
                    // 202 (some datapoints refused) counts too: the goal is zero refusals.
                    c.pub_status_errors.fetch_add(1, Ordering::Relaxed);
                    shared.error(format!("publish: status {status}: {}", clip(&body)));
                }
            }
            Err(e) => {
                c.pub_conn_errors.fetch_add(1, Ordering::Relaxed);
                shared.error(format!("publish: {e}"));
            }
        }
        mine += batch as u64;
    }
}

fn clip(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// The query mix: (expression, format). JSON-family answers and PNG charts are timed apart
/// because the PNG path adds rendering and encoding.
fn query_mix() -> Vec<(String, &'static str)> {
    let q = format!("name,{METRIC},:eq");
    vec![
        (format!("{q},:sum"), "json"),
        (format!("{q},(,nf.cluster,),:by"), "json"),
        (format!("{q},:avg,(,nf.cluster,),:by"), "png"),
        (
            format!("{q},nf.node,i-00001,:re,:and,(,nf.node,),:by"),
            "std.json",
        ),
        (format!("{q},:max,{q},:min"), "png"),
    ]
}

fn querier(
    shared: Arc<Shared>,
    base: String,
    window: String,
    t: usize,
    threads: usize,
    qps: f64,
    deadline: Instant,
) {
    let agent = agent();
    let mix = query_mix();
    // Each thread owns every `threads`-th slot of a global schedule at `qps`.
    let interval = Duration::from_secs_f64(threads as f64 / qps);
    let offset = Duration::from_secs_f64(t as f64 / qps);
    let began = Instant::now();
    let mut slot: u32 = 0;
    while Instant::now() < deadline {
        let due = offset + interval * slot;
        let elapsed = began.elapsed();
        if let Some(wait) = due.checked_sub(elapsed) {
            std::thread::sleep(wait.min(deadline.saturating_duration_since(Instant::now())));
            continue;
        }
        // Slots that passed entirely while the previous query ran are skipped and counted, so
        // a slow server gets a steady qps rather than a burst of catch-up queries.
        let behind = ((elapsed - due).as_secs_f64() / interval.as_secs_f64()) as u32;
        if behind > 0 {
            shared
                .counters
                .query_missed
                .fetch_add(u64::from(behind), Ordering::Relaxed);
            slot += behind;
        }
        let (expr, format) = &mix[(slot as usize * threads + t) % mix.len()];
        slot += 1;
        let url = format!("{base}/api/v1/graph?q={expr}&s=e-{window}&format={format}");
        let kind = if *format == "png" {
            Kind::Png
        } else {
            Kind::Json
        };
        let sent = Instant::now();
        let result = agent.get(&url).call();
        let c = &shared.counters;
        c.queries.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(mut r) => {
                let status = r.status().as_u16();
                let body = r.body_mut().with_config().limit(64 << 20).read_to_vec();
                let took = sent.elapsed();
                match body {
                    Ok(body) if status == 200 => {
                        shared.record(kind, took);
                        let ok = match kind {
                            Kind::Png => body.starts_with(b"\x89PNG"),
                            _ => body.first() == Some(&b'{'),
                        };
                        if !ok {
                            c.query_body_errors.fetch_add(1, Ordering::Relaxed);
                            shared.error(format!("query {format} {expr}: unexpected body"));
                        }
                    }
                    Ok(body) => {
                        c.query_status_errors.fetch_add(1, Ordering::Relaxed);
                        shared.error(format!(
                            "query {format} {expr}: status {status}: {}",
                            clip(&String::from_utf8_lossy(&body))
                        ));
                    }
                    Err(e) => {
                        c.query_conn_errors.fetch_add(1, Ordering::Relaxed);
                        shared.error(format!("query {format} {expr}: reading the body: {e}"));
                    }
                }
            }
            Err(e) => {
                c.query_conn_errors.fetch_add(1, Ordering::Relaxed);
                shared.error(format!("query {format} {expr}: {e}"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Monitoring and the report
// ---------------------------------------------------------------------------------------------

/// One progress sample.
struct Sample {
    secs: f64,
    /// RSS when this tool started the server, else the server's own estimate.
    memory: Option<u64>,
    estimate: Option<u64>,
    /// Bytes under the data directory (the write-ahead log), when this tool started the server.
    disk: Option<u64>,
    series: Option<u64>,
}

/// The server's counters of interest from /api/v1/stats.
#[derive(Default, Clone, Copy)]
struct ServerStats {
    accepted: u64,
    rejected: u64,
    too_old: u64,
    late: u64,
    series: Option<u64>,
    memory_bytes: Option<u64>,
}

fn server_stats(v: &Value) -> ServerStats {
    let ingest = |k: &str| v["ingest"][k].as_u64().unwrap_or(0);
    ServerStats {
        accepted: ingest("datapointsAccepted"),
        rejected: ingest("datapointsRejected"),
        too_old: ingest("tooOld"),
        late: ingest("late"),
        series: v["series"].as_u64(),
        memory_bytes: v["memoryBytes"].as_u64(),
    }
}

/// `(name, state, health, lastError)` of every rule.
fn rule_states(v: &Value) -> Vec<(String, String, String, Option<String>)> {
    v["rules"]
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap_or("?").to_string();
                    (
                        s("name"),
                        s("state"),
                        s("health"),
                        r["lastError"].as_str().map(String::from),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn mib(b: Option<u64>) -> String {
    b.map(|b| format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64))
        .unwrap_or_else(|| "-".into())
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v < 10.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.1} ms")
    }
}

/// Least-squares slope of `(x, y)` in y-units per x-unit; None below 3 points.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// True when `url` is `http://` to 127.x.x.x, `[::1]` or `localhost`.
fn is_loopback(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn parse_secs(s: &str, what: &str) -> anyhow::Result<f64> {
    // Only the forms this tool passes on are needed: `500ms`, `1s`, `10s`, `2m`, `1h`.
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .with_context(|| format!("{what}: '{s}' needs a unit (ms, s, m, h)"))?;
    let n: f64 = num
        .parse()
        .with_context(|| format!("{what}: '{s}' is not a duration"))?;
    let mult = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => bail!("{what}: unit of '{s}' must be ms, s, m or h"),
    };
    Ok(n * mult)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.minutes > 0.0 && args.minutes <= 24.0 * 60.0,
        "--minutes must be in (0, 1440]"
    );
    ensure!(
        args.rate > 0 && args.series > 0 && args.batch > 0,
        "--rate, --series and --batch must be positive"
    );
    ensure!(
        args.qps > 0.0 && args.qps <= 1000.0,
        "--qps must be in (0, 1000]"
    );
    ensure!(
        (1..=64).contains(&args.publishers) && (1..=64).contains(&args.query_threads),
        "--publishers and --query-threads must be 1..=64"
    );
    let step_s = parse_secs(&args.step, "--step")?;
    let retention_s = parse_secs(&args.retention, "--retention")?;
    let run = Duration::from_secs_f64(args.minutes * 60.0);

    let (mut guard, base) = match &args.url {
        Some(url) => (None, url.trim_end_matches('/').to_string()),
        None => {
            let (g, url) = start_server(&args)?;
            (Some(g), url)
        }
    };
    // Traffic stays on this machine: refuse anything but a loopback host.
    ensure!(is_loopback(&base), "refusing a non-loopback server: {base}");
    let pid = guard.as_ref().and_then(|g| g.pid());
    let monitor = agent();

    // Wait until the server answers (bounded).
    let ready_by = Instant::now() + Duration::from_secs(60);
    loop {
        if get_json(&monitor, &format!("{base}/healthcheck")).is_ok() {
            break;
        }
        if let Some(g) = guard.as_mut() {
            if let Some(why) = g.exited() {
                bail!("the server exited ({why}); its log:\n{}", g.log_tail());
            }
        }
        ensure!(
            Instant::now() < ready_by,
            "{base} did not answer /healthcheck within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let window = format!("{}s", retention_s.round().max(60.0) as u64);
    println!(
        "soak: {base}{}, {:.1} min, {} dp/s over {} series ({} per request, {} publishers), \
         {} queries/s ({} threads, window {window}), step {}, retention {}",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        args.minutes,
        args.rate,
        args.series,
        args.batch,
        args.publishers,
        args.qps,
        args.query_threads,
        args.step,
        args.retention
    );

    let shared = Arc::new(Shared {
        counters: Counters::default(),
        latencies: Mutex::new(Latencies {
            window: [Histogram::new(), Histogram::new(), Histogram::new()],
            total: [Histogram::new(), Histogram::new(), Histogram::new()],
        }),
        errors: Mutex::new(Vec::new()),
    });
    let stats_url = format!("{base}/api/v1/stats");
    let rules_url = format!("{base}/api/v1/rules");
    let data_dir = guard.as_ref().map(|g| g.dir.join("data"));
    let memory_now = |estimate: Option<u64>| match pid {
        Some(p) => rss_bytes(p),
        None => estimate,
    };

    let first = get_json(&monitor, &stats_url)
        .map(|v| server_stats(&v))
        .context("first /api/v1/stats")?;
    let mut samples = vec![Sample {
        secs: 0.0,
        memory: memory_now(first.memory_bytes),
        estimate: first.memory_bytes,
        disk: data_dir.as_deref().map(dir_bytes),
        series: first.series,
    }];

    let start = Instant::now();
    let deadline = start + run;
    let per_publisher = (args.rate / args.publishers as u64).max(1);
    let mut workers = Vec::new();
    for w in 0..args.publishers {
        let (shared, url) = (shared.clone(), format!("{base}/api/v1/publish"));
        let a = (args.series, args.batch, per_publisher, args.publishers);
        workers.push(std::thread::spawn(move || {
            publisher(shared, url, w, a, deadline)
        }));
    }
    for t in 0..args.query_threads {
        let (shared, base, window) = (shared.clone(), base.clone(), window.clone());
        let (threads, qps) = (args.query_threads, args.qps);
        workers.push(std::thread::spawn(move || {
            querier(shared, base, window, t, threads, qps, deadline)
        }));
    }

    let c = &shared.counters;
    let errors_now = || {
        [
            &c.pub_status_errors,
            &c.pub_conn_errors,
            &c.query_status_errors,
            &c.query_conn_errors,
            &c.query_body_errors,
            &c.monitor_errors,
            &c.rule_errors,
        ]
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .sum::<u64>()
    };
    let mut prev = (0.0f64, first);
    let mut last_stats = first;
    let mut last_rules = Vec::new();
    let mut firing_since: Vec<(String, f64)> = Vec::new();
    let mut server_died = None;
    let every = Duration::from_secs(args.report_every.max(1));
    let mut next = start + every;
    println!(
        "{:>6} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10} {:>7}  {:<40} errors",
        "time", "dp/s", "q p50", "q p99", "memory", "estimate", "disk", "series", "rules"
    );
    while Instant::now() < deadline {
        std::thread::sleep(next.min(deadline).saturating_duration_since(Instant::now()));
        next += every;
        let secs = start.elapsed().as_secs_f64();
        if let Some(why) = guard.as_mut().and_then(|g| g.exited()) {
            server_died = Some(why);
            break;
        }
        let stats = match get_json(&monitor, &stats_url) {
            Ok(v) => server_stats(&v),
            Err(e) => {
                c.monitor_errors.fetch_add(1, Ordering::Relaxed);
                shared.error(format!("stats: {e:#}"));
                last_stats
            }
        };
        match get_json(&monitor, &rules_url) {
            Ok(v) => {
                last_rules = rule_states(&v);
                for (name, state, health, err) in &last_rules {
                    if health == "error" {
                        c.rule_errors.fetch_add(1, Ordering::Relaxed);
                        shared.error(format!(
                            "rule {name}: {}",
                            err.as_deref().unwrap_or("error")
                        ));
                    }
                    if state == "firing" && !firing_since.iter().any(|(n, _)| n == name) {
                        firing_since.push((name.clone(), secs));
                    }
                }
            }
            Err(e) => {
                c.monitor_errors.fetch_add(1, Ordering::Relaxed);
                shared.error(format!("rules: {e:#}"));
            }
        }
        let (p50, p99) = match shared.latencies.lock() {
            Ok(mut l) => {
                let mut q = l.window[Kind::Json as usize].clone();
                q.merge(&l.window[Kind::Png as usize]);
                for h in l.window.iter_mut() {
                    *h = Histogram::new();
                }
                (q.quantile_ms(0.5), q.quantile_ms(0.99))
            }
            Err(_) => (f64::NAN, f64::NAN),
        };
        let rate =
            (stats.accepted.saturating_sub(prev.1.accepted)) as f64 / (secs - prev.0).max(0.001);
        prev = (secs, stats);
        last_stats = stats;
        let sample = Sample {
            secs,
            memory: memory_now(stats.memory_bytes),
            estimate: stats.memory_bytes,
            disk: data_dir.as_deref().map(dir_bytes),
            series: stats.series,
        };
        let rules: Vec<String> = last_rules
            .iter()
            .map(|(n, s, _, _)| format!("{n}={s}"))
            .collect();
        println!(
            "{:>5.0}s {:>9.0} {:>9} {:>9} {:>10} {:>10} {:>10} {:>7}  {:<40} {}",
            secs,
            rate,
            ms(p50),
            ms(p99),
            mib(sample.memory),
            mib(sample.estimate),
            mib(sample.disk),
            sample.series.map(|s| s.to_string()).unwrap_or("-".into()),
            rules.join(" "),
            errors_now()
        );
        samples.push(sample);
    }
    // The workers stop at the deadline; a request in flight ends within REQUEST_TIMEOUT.
    for w in workers {
        let _ = w.join();
    }
    let elapsed = start.elapsed().as_secs_f64();
    if let Some(why) = &server_died {
        shared.error(format!("the server exited during the run: {why}"));
    }

    // Rule expectations hold only for the rules this tool wrote.
    let mut rule_failures = Vec::new();
    if guard.is_some() {
        for (name, want) in EXPECTED_RULES {
            let got = last_rules
                .iter()
                .find(|r| r.0 == name)
                .map(|r| r.1.as_str())
                .unwrap_or("missing");
            if got != want {
                rule_failures.push(format!("{name} is {got}, expected {want}"));
            }
        }
    }

    // Summary.
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let lat = match shared.latencies.lock() {
        Ok(l) => l.total.clone(),
        Err(_) => [Histogram::new(), Histogram::new(), Histogram::new()],
    };
    let mut all_q = lat[Kind::Json as usize].clone();
    all_q.merge(&lat[Kind::Png as usize]);
    let lat_row = |h: &Histogram| {
        format!(
            "{} / {} / {} (n = {})",
            ms(h.quantile_ms(0.5)),
            ms(h.quantile_ms(0.99)),
            ms(h.max_ms()),
            h.total
        )
    };
    let at = |frac: f64| {
        let t = elapsed * frac;
        samples
            .iter()
            .min_by(|a, b| (a.secs - t).abs().total_cmp(&(b.secs - t).abs()))
    };
    let mem_row = |f: fn(&Sample) -> Option<u64>| {
        [at(0.0), samples.get(1), at(0.5), samples.last()]
            .iter()
            .map(|s| {
                s.map(|s| format!("{} @ {:.0}s", mib(f(s)), s.secs))
                    .unwrap_or("-".into())
            })
            .collect::<Vec<_>>()
            .join(" / ")
    };
    // Memory can only be flat once the retention window is full and the oldest block has
    // been dropped: from retention + one 60-step block (the server's default) + 30 s, and
    // never before half the run.
    let settled_from = (retention_s + 60.0 * step_s + 30.0).max(elapsed / 2.0);
    let settled: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.secs >= settled_from)
        .filter_map(|s| s.memory.map(|m| (s.secs / 60.0, m as f64)))
        .collect();
    let mean = settled.iter().map(|p| p.1).sum::<f64>() / settled.len().max(1) as f64;
    let slope_row = match slope(&settled) {
        Some(s) => {
            let pct = 100.0 * s / mean.max(1.0);
            format!(
                "{:+.2} MiB/min ({:+.2} %/min of the mean) over {:.0}–{:.0} s, {} samples: {}",
                s / (1u64 << 20) as f64,
                pct,
                settled_from,
                elapsed,
                settled.len(),
                if pct.abs() < 1.0 {
                    "flat (under 1 %/min)"
                } else {
                    "NOT flat (1 %/min or more)"
                }
            )
        }
        None => format!(
            "not enough samples after {settled_from:.0} s (run longer than retention + ~2 min)"
        ),
    };
    let accepted = last_stats.accepted.saturating_sub(first.accepted);
    let rules_row = if last_rules.is_empty() {
        "-".to_string()
    } else {
        last_rules
            .iter()
            .map(|(n, s, h, _)| {
                let since = firing_since
                    .iter()
                    .find(|f| &f.0 == n)
                    .map(|f| format!(", firing from ~{:.0}s", f.1))
                    .unwrap_or_default();
                format!("{n}: {s} ({h}{since})")
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let total_errors = errors_now() + rule_failures.len() as u64 + u64::from(server_died.is_some());
    let memory_label = if pid.is_some() {
        "server RSS"
    } else {
        "memoryBytes (no pid: --url)"
    };

    println!();
    println!("| measure | value |");
    println!("| --- | --- |");
    println!(
        "| load | {:.1} min; {} dp/s target over {} series, {} dp per request, {} publishers; {} queries/s, {} query threads; step {}, retention {} |",
        elapsed / 60.0, args.rate, args.series, args.batch, args.publishers, args.qps, args.query_threads, args.step, args.retention
    );
    println!(
        "| datapoints accepted (server) | {accepted} = {:.0} dp/s |",
        accepted as f64 / elapsed
    );
    println!(
        "| datapoints sent with 200 (client) | {} = {:.0} dp/s; dropped behind schedule: {} |",
        load(&c.pub_datapoints_ok),
        load(&c.pub_datapoints_ok) as f64 / elapsed,
        load(&c.pub_shortfall)
    );
    println!(
        "| publish requests, latency p50 / p99 / max | {} |",
        lat_row(&lat[Kind::Publish as usize])
    );
    println!(
        "| queries | {} = {:.2}/s; slots missed: {} |",
        load(&c.queries),
        load(&c.queries) as f64 / elapsed,
        load(&c.query_missed)
    );
    println!(
        "| query latency p50 / p99 / max, all | {} |",
        lat_row(&all_q)
    );
    println!(
        "| query latency, json + std.json | {} |",
        lat_row(&lat[Kind::Json as usize])
    );
    println!(
        "| query latency, png | {} |",
        lat_row(&lat[Kind::Png as usize])
    );
    println!(
        "| {memory_label}: idle / first report / middle / end | {} |",
        mem_row(|s| s.memory)
    );
    println!(
        "| store estimate (memoryBytes): idle / first report / middle / end | {} |",
        mem_row(|s| s.estimate)
    );
    if data_dir.is_some() {
        println!(
            "| data directory on disk (write-ahead log): idle / first report / middle / end | {} |",
            mem_row(|s| s.disk)
        );
    }
    println!("| {memory_label} slope after settling | {slope_row} |");
    println!(
        "| series at end | {} |",
        samples
            .last()
            .and_then(|s| s.series)
            .map(|s| s.to_string())
            .unwrap_or("-".into())
    );
    println!("| rules at end | {rules_row} |");
    println!(
        "| server refusals | datapointsRejected {}, tooOld {}, late {} |",
        last_stats.rejected.saturating_sub(first.rejected),
        last_stats.too_old.saturating_sub(first.too_old),
        last_stats.late.saturating_sub(first.late)
    );
    println!(
        "| errors | **{total_errors}**: publish non-2xx {}, publish connection {}, query non-2xx {}, query connection {}, query bad body {}, monitor {}, rule health error (polls) {}, rule expectations {}, server exit {} |",
        load(&c.pub_status_errors),
        load(&c.pub_conn_errors),
        load(&c.query_status_errors),
        load(&c.query_conn_errors),
        load(&c.query_body_errors),
        load(&c.monitor_errors),
        load(&c.rule_errors),
        rule_failures.len(),
        u64::from(server_died.is_some())
    );
    for f in &rule_failures {
        println!("rule expectation failed: {f}");
    }
    if let Ok(e) = shared.errors.lock() {
        for e in e.iter() {
            println!("error: {e}");
        }
    }
    if let (Some(why), Some(g)) = (&server_died, &guard) {
        println!("server exited: {why}; log tail:\n{}", g.log_tail());
    }
    drop(guard);
    if total_errors > 0 {
        bail!("{total_errors} errors during the soak");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_the_bucket_precision() {
        let mut h = Histogram::new();
        for us in 1..=100_000u64 {
            h.record(Duration::from_micros(us));
        }
        for (q, want_ms) in [(0.5, 50.0), (0.99, 99.0), (1.0, 100.0)] {
            let got = h.quantile_ms(q);
            assert!(
                (got - want_ms).abs() / want_ms < 1.0 / 64.0,
                "q{q}: {got} vs {want_ms}"
            );
        }
        // Every bucket's range starts where the previous one ends.
        for i in 1..BUCKETS {
            let (low, _) = Histogram::range(i);
            let (plow, pw) = Histogram::range(i - 1);
            assert_eq!(plow + pw, low, "bucket {i}");
            assert_eq!(Histogram::bucket(low), i);
        }
        let mut big = Histogram::new();
        big.record(Duration::MAX);
        assert!(big.quantile_ms(0.5) > 0.0);
    }

    #[test]
    fn slope_and_durations() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 * i as f64 + 1.0)).collect();
        assert!((slope(&pts).unwrap_or(0.0) - 3.0).abs() < 1e-9);
        assert_eq!(parse_secs("2m", "x").ok(), Some(120.0));
        assert_eq!(parse_secs("500ms", "x").ok(), Some(0.5));
        assert!(parse_secs("5", "x").is_err());
        assert!(is_loopback("http://127.0.0.1:7101"));
        assert!(is_loopback("http://[::1]:7101/"));
        assert!(is_loopback("http://localhost"));
        assert!(!is_loopback("http://10.0.0.1:7101"));
        assert!(!is_loopback("https://127.0.0.1"));
    }
}

//! A fake service that instruments its request loop and publishes to a Sextant server.
//!
//! ```text
//! cargo run -p sextant-client --example demo_service -- \
//!     --uri http://127.0.0.1:7101/api/v1/publish --step 1s --duration 30s
//! ```
//! `--duration 0s` (the default) runs until killed.

use std::time::{Duration, Instant};

use sextant_client::{ConfigBuilder, Id, Registry};

struct Args {
    uri: String,
    step: Duration,
    duration: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("bad duration unit in {s:?}: use ms, s or m")),
    }
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        uri: "http://127.0.0.1:7101/api/v1/publish".to_string(),
        step: Duration::from_secs(1),
        duration: Duration::ZERO,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--uri" => args.uri = value()?,
            "--step" => args.step = parse_duration(&value()?)?,
            "--duration" => args.duration = parse_duration(&value()?)?,
            "-h" | "--help" => {
                return Err("usage: demo_service [--uri URI] [--step 1s] [--duration 0s]".into())
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// xorshift: varied but reproducible fake latencies, no dependency needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let registry = Registry::new(
        ConfigBuilder::new()
            .uri(&args.uri)
            .step(args.step)
            .common_tag("nf.app", "demo")
            .common_tag("nf.node", "demo-1")
            .build()?,
    )?;
    println!("publishing to {} every {:?}", args.uri, args.step);

    // Handles are looked up once and reused: recording is then a few atomic operations.
    let ok = registry.counter(Id::new("server.requests").with_tag("status", "200"));
    let err = registry.counter(Id::new("server.requests").with_tag("status", "500"));
    let latency = registry.timer("server.latency");
    let ptime = registry.percentile_timer_with_range(
        "server.ptime",
        Duration::from_millis(10),
        Duration::from_secs(60),
    );
    let inflight = registry.gauge("server.inflight");

    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let start = Instant::now();
    let mut last_report = Instant::now();
    loop {
        // One "request": 5..45 ms, a 2% error rate, and a 1-in-100 slow tail.
        let mut ms = 5 + rng.next() % 40;
        if rng.next() % 100 == 0 {
            ms += 500;
        }
        let d = Duration::from_millis(ms);
        latency.record(d);
        ptime.record(d);
        if rng.next() % 50 == 0 {
            err.increment();
        } else {
            ok.increment();
        }
        inflight.set((rng.next() % 16) as f64);
        std::thread::sleep(Duration::from_millis(2));

        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            let s = registry.publish_stats();
            println!(
                "sent={} dropped={} requests={} failed={} p99={:.3}s last_error={:?}",
                s.sent,
                s.dropped(),
                s.requests,
                s.failed_requests,
                ptime.percentile(99.0),
                registry.last_error()
            );
        }
        if !args.duration.is_zero() && start.elapsed() >= args.duration {
            break;
        }
    }
    // Publishes the last step and the partial one before exiting.
    registry.shutdown();
    let s = registry.publish_stats();
    println!("done: sent={} dropped={}", s.sent, s.dropped());
    Ok(())
}

//! Hot-path costs of the client: recording, lookup, and publishing 100 k meters.
//!
//! `cargo bench -p sextant-client --bench meters -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use sextant_client::{ConfigBuilder, Id, ManualClock, Registry, SystemClock};

/// A registry as a service runs it: system clock, background publisher on. The uri is a
/// port nobody listens on, so nothing leaves the machine.
fn production_registry() -> Registry {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    Registry::new(
        ConfigBuilder::new()
            .uri(format!("http://127.0.0.1:{port}/api/v1/publish"))
            .clock(SystemClock)
            .build()
            .unwrap(),
    )
    .unwrap()
}

/// An HTTP sink on loopback that reads each request and answers 200.
fn sink() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 {
                        return;
                    }
                    let h = h.trim_end().to_ascii_lowercase();
                    if h.is_empty() {
                        break;
                    }
                    if let Some(v) = h.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let mut conn = conn;
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            });
        }
    });
    format!("http://{addr}/api/v1/publish")
}

fn recording(c: &mut Criterion) {
    let r = production_registry();
    let counter = r.counter(Id::new("requests").with_tag("status", "200"));
    c.bench_function("counter_increment", |b| {
        b.iter(|| black_box(&counter).increment())
    });

    c.bench_function("counter_increment_2_threads", |b| {
        b.iter_custom(|iters| {
            // Both threads increment the same counter; the figure is time per increment
            // seen by one thread while the other contends.
            let other = counter.clone();
            let go = Arc::new(AtomicBool::new(false));
            let g2 = go.clone();
            let h = std::thread::spawn(move || {
                while !g2.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                for _ in 0..iters {
                    other.increment();
                }
            });
            go.store(true, Ordering::Release);
            let start = Instant::now();
            for _ in 0..iters {
                black_box(&counter).increment();
            }
            let t = start.elapsed();
            h.join().unwrap();
            t
        })
    });

    // The same increment when every record reads the system clock (publishing disabled, so
    // no thread advances the step index): the cost the step index saves.
    let exact = Registry::new(
        ConfigBuilder::new()
            .enabled(false)
            .clock(SystemClock)
            .build()
            .unwrap(),
    )
    .unwrap();
    let exact_counter = exact.counter("requests");
    c.bench_function("counter_increment_clock_per_record", |b| {
        b.iter(|| black_box(&exact_counter).increment())
    });

    let timer = r.timer("latency");
    c.bench_function("timer_record", |b| {
        b.iter(|| black_box(&timer).record(Duration::from_micros(1234)))
    });

    let ptimer = r.percentile_timer("platency");
    // Touch the bucket first: the measured path is the steady state, not first use.
    ptimer.record(Duration::from_micros(1234));
    c.bench_function("percentile_timer_record", |b| {
        b.iter(|| black_box(&ptimer).record(Duration::from_micros(1234)))
    });

    let id = Id::new("lookup.me")
        .with_tag("status", "200")
        .with_tag("route", "/x");
    for i in 0..10_000 {
        let _ = r.counter(Id::new("other").with_tag("i", i.to_string()));
    }
    let _ = r.counter(&id);
    c.bench_function("registry_lookup_existing", |b| {
        b.iter(|| black_box(r.counter(black_box(&id))))
    });
}

fn publishing(c: &mut Criterion) {
    let clock = ManualClock::new(0);
    let r = Registry::new(
        ConfigBuilder::new()
            .uri(sink())
            .clock(clock.clone())
            // Every iteration moves a step on; the meters must not expire mid-run.
            .meter_ttl(Duration::from_secs(100 * 365 * 86_400))
            .build()
            .unwrap(),
    )
    .unwrap();
    let counters: Vec<_> = (0..100_000)
        .map(|i| r.counter(Id::new("bench.meter").with_tag("i", i.to_string())))
        .collect();
    for c in &counters {
        c.increment();
    }
    let mut g = c.benchmark_group("publish");
    g.sample_size(10);
    g.bench_function("flush_100k_meters", |b| {
        b.iter(|| {
            clock.advance(Duration::from_secs(60));
            r.flush();
        })
    });

    // A recorder hammering a counter while another thread keeps publishing 100 k meters:
    // its cost per increment should stay that of an uncontended increment.
    let busy = Arc::new(AtomicBool::new(true));
    let flushes = Arc::new(AtomicU64::new(0));
    let (b2, f2, r2, c2) = (busy.clone(), flushes.clone(), r.clone(), clock.clone());
    let publisher = std::thread::spawn(move || {
        while b2.load(Ordering::Acquire) {
            c2.advance(Duration::from_secs(60));
            r2.flush();
            f2.fetch_add(1, Ordering::Relaxed);
        }
    });
    let hot = counters[7].clone();
    g.sample_size(50);
    g.bench_function("counter_increment_while_publishing_100k", |b| {
        b.iter(|| black_box(&hot).increment())
    });
    busy.store(false, Ordering::Release);
    publisher.join().unwrap();
    g.finish();
    eprintln!(
        "publisher completed {} flushes of 100k meters during the recording bench",
        flushes.load(Ordering::Relaxed)
    );
}

criterion_group!(benches, recording, publishing);
criterion_main!(benches);

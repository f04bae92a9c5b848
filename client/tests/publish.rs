//! Publishing against a real HTTP receiver on loopback: payload shape, batching, retries,
//! rejections, a dead or stuck server, shutdown and expiry.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, Receiver};
use sextant_client::{ConfigBuilder, ManualClock, Registry, SystemClock};

const STEP: i64 = 60_000;

fn registry(uri: &str, clock: &ManualClock, tweak: impl FnOnce(&mut ConfigBuilder)) -> Registry {
    let mut b = ConfigBuilder::new();
    b.uri(uri)
        .clock(clock.clone())
        .retry_backoff(Duration::from_millis(1))
        .publish_timeout(Duration::from_secs(5))
        .common_tag("nf.app", "demo");
    tweak(&mut b);
    Registry::new(b.build().unwrap()).unwrap()
}

fn metric<'a>(
    metrics: &[&'a serde_json::Value],
    name: &str,
    stat: &str,
) -> Option<&'a serde_json::Value> {
    metrics
        .iter()
        .find(|m| m["tags"]["name"] == name && m["tags"]["statistic"] == stat)
        .copied()
}

#[test]
fn payload_is_an_atlas_batch_with_rates_and_step_timestamps() {
    let rx = Receiver::start();
    let clock = ManualClock::new(1_000);
    let r = registry(&rx.uri(), &clock, |_| {});
    let c = r.counter(sextant_client::Id::new("server.requests").with_tag("status", "200"));
    c.increment_by(120);
    r.timer("server.latency").record(Duration::from_millis(12));
    r.gauge("queue.size").set(7.0);
    clock.set_wall_time(STEP + 500);
    r.flush();

    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.path, "/api/v1/publish");
    assert_eq!(req.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(req.content_type.as_deref(), Some("application/json"));
    assert_eq!(req.json["tags"], serde_json::json!({"nf.app": "demo"}));
    let ms = req.metrics();
    let count = metric(&ms, "server.requests", "count").unwrap();
    assert_eq!(
        count["tags"],
        serde_json::json!({"name": "server.requests", "status": "200",
                           "statistic": "count", "atlas.dstype": "rate"})
    );
    assert_eq!(count["timestamp"], STEP);
    assert_eq!(count["value"], 2.0);
    assert_eq!(
        metric(&ms, "server.latency", "max").unwrap()["value"],
        0.012
    );
    assert_eq!(metric(&ms, "queue.size", "gauge").unwrap()["value"], 7.0);
    assert_eq!(ms.len(), 1 + 4 + 1);
    assert_eq!(r.publish_stats().sent, 6);

    // A second flush within the same step publishes nothing new.
    r.flush();
    assert_eq!(rx.requests().len(), 1);
}

#[test]
fn measurements_are_split_into_batches() {
    let rx = Receiver::start();
    let clock = ManualClock::new(0);
    let r = registry(&rx.uri(), &clock, |b| {
        b.batch_size(2);
    });
    for i in 0..5 {
        r.counter(format!("c{i}")).increment();
    }
    clock.set_wall_time(STEP);
    r.flush();
    let sizes: Vec<usize> = rx.requests().iter().map(|q| q.metrics().len()).collect();
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(r.publish_stats().sent, 5);
}

#[test]
fn retries_503_then_success_deliver_exactly_once() {
    let rx = Receiver::with_script(vec![(503, ""), (503, "")]);
    let clock = ManualClock::new(0);
    let r = registry(&rx.uri(), &clock, |_| {});
    r.counter("c").increment();
    clock.set_wall_time(STEP);
    r.flush();
    let reqs = rx.requests();
    let statuses: Vec<u16> = reqs.iter().map(|q| q.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(reqs.iter().filter(|q| q.status == 200).count(), 1);
    let s = r.publish_stats();
    assert_eq!((s.sent, s.dropped()), (1, 0));
    assert_eq!((s.requests, s.failed_requests), (3, 2));

    // The attempts show up as the client's own meters in the next step.
    clock.set_wall_time(2 * STEP);
    let ms = r.measurements();
    let calls = |status: &str| {
        ms.iter()
            .filter(|m| {
                m.id.name() == "ipc.client.call"
                    && m.id.tag("statistic") == Some("count")
                    && m.id.tag("ipc.status") == Some(status)
            })
            .map(|m| m.value * 60.0)
            .sum::<f64>()
    };
    assert_eq!(calls("unavailable"), 2.0);
    assert_eq!(calls("success"), 1.0);
    let sent = ms
        .iter()
        .find(|m| m.id.name() == "spectator.measurements" && m.id.tag("id") == Some("sent"))
        .unwrap();
    assert_eq!(sent.value * 60.0, 1.0);
}

#[test]
fn retries_are_bounded() {
    let rx = Receiver::with_script(vec![(429, ""), (503, ""), (503, ""), (503, "")]);
    let clock = ManualClock::new(0);
    let r = registry(&rx.uri(), &clock, |_| {});
    r.counter("c").increment();
    clock.set_wall_time(STEP);
    r.flush();
    assert_eq!(rx.requests().len(), 3, "three attempts, no more");
    let s = r.publish_stats();
    assert_eq!(s.dropped_http, 1);
    assert!(r.last_error().unwrap().contains("HTTP 503"));
}

#[test]
fn a_400_is_not_retried_and_its_message_is_kept() {
    let body =
        r#"{"type":"error","errorCount":2,"message":["invalid tag key: k (tags={name=c})","x"]}"#;
    let rx = Receiver::with_script(vec![(400, body)]);
    let clock = ManualClock::new(0);
    let r = registry(&rx.uri(), &clock, |_| {});
    r.counter("c").increment();
    r.counter("d").increment();
    clock.set_wall_time(STEP);
    r.flush();
    assert_eq!(rx.requests().len(), 1);
    let s = r.publish_stats();
    assert_eq!((s.sent, s.dropped_validation), (0, 2));
    let e = r.last_error().unwrap();
    assert!(e.contains("HTTP 400"), "{e}");
    assert!(e.contains("invalid tag key: k"), "{e}");
}

#[test]
fn a_202_counts_accepted_and_rejected_datapoints() {
    let body = r#"{"type":"partial","errorCount":1,"message":["too old"]}"#;
    let rx = Receiver::with_script(vec![(202, body)]);
    let clock = ManualClock::new(0);
    let r = registry(&rx.uri(), &clock, |_| {});
    for n in ["a", "b", "c"] {
        r.counter(n).increment();
    }
    clock.set_wall_time(STEP);
    r.flush();
    let s = r.publish_stats();
    assert_eq!((s.sent, s.dropped_validation), (2, 1));
    assert!(r.last_error().unwrap().contains("too old"));
}

#[test]
fn an_unreadable_4xx_drops_as_other() {
    let rx = Receiver::with_script(vec![(404, "no such route")]);
    let clock = ManualClock::new(0);
    let r = registry(&rx.uri(), &clock, |_| {});
    r.counter("c").increment();
    clock.set_wall_time(STEP);
    r.flush();
    assert_eq!(r.publish_stats().dropped_other, 1);
    assert!(r.last_error().unwrap().contains("no such route"));
}

#[test]
fn server_down_drops_and_counts_and_recording_goes_on() {
    // A port that was just bound and released: connections are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let clock = ManualClock::new(0);
    let r = registry(
        &format!("http://127.0.0.1:{port}/api/v1/publish"),
        &clock,
        |_| {},
    );
    let c = r.counter("c");
    for step in 1..=3 {
        for _ in 0..1000 {
            c.increment();
        }
        clock.set_wall_time(step * STEP);
        r.flush();
    }
    let s = r.publish_stats();
    assert_eq!(s.sent, 0);
    assert_eq!(s.requests, 9, "three attempts per step");
    assert!(s.dropped_http >= 3);
    assert_eq!(s.dropped(), s.dropped_http);
    assert!(r.last_error().unwrap().contains("datapoints dropped"));
    // Locally everything still works.
    assert_eq!(c.last_step_total(), 1000.0);
    // The drops are visible as the client's own meter, named as Spectator names it.
    clock.set_wall_time(4 * STEP);
    let dropped = r
        .measurements()
        .into_iter()
        .find(|m| {
            m.id.name() == "spectator.measurements"
                && m.id.tag("id") == Some("dropped")
                && m.id.tag("error") == Some("http-error")
        })
        .unwrap();
    assert!(dropped.value > 0.0);
}

#[test]
fn recording_does_not_wait_for_a_stuck_server_and_the_queue_stays_bounded() {
    let rx = Receiver::start();
    rx.stall(true);
    // The real background thread on the system clock: a step every 50 ms keeps producing
    // payloads while the server holds the first request.
    let r = Registry::new(
        ConfigBuilder::new()
            .uri(rx.uri())
            .step(Duration::from_millis(50))
            .clock(SystemClock)
            .build()
            .unwrap(),
    )
    .unwrap();
    r.counter("c").increment();
    assert!(
        eventually(|| rx.waiting() == 1),
        "the sender is stuck in a request"
    );

    // While the sender is stuck, recording, lookups and local polls all complete.
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let r2 = r.clone();
    let recorder = std::thread::spawn(move || {
        let c = r2.counter("c");
        let t = r2.percentile_timer("t");
        for i in 0..100_000u64 {
            c.increment();
            t.record_nanos(i as i64 * 1000);
        }
        let _ = r2.measurements();
        d2.store(true, Ordering::Release);
    });
    assert!(eventually(|| done.load(Ordering::Acquire)));
    recorder.join().unwrap();

    // Steps kept coming while one request was stuck: old ones were dropped, not hoarded.
    assert!(eventually(|| r.publish_stats().dropped_queue > 0));
    rx.stall(false);
    assert!(eventually(|| r.publish_stats().sent > 0));
    r.shutdown();
}

#[test]
fn shutdown_publishes_the_partial_step() {
    let rx = Receiver::start();
    let clock = ManualClock::new(0);
    let r = registry(&rx.uri(), &clock, |_| {});
    r.counter("c").increment_by(30);
    clock.set_wall_time(STEP / 2);
    r.shutdown();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    let ms = reqs[0].metrics();
    let c = metric(&ms, "c", "count").unwrap();
    assert_eq!(
        c["timestamp"], STEP,
        "stamped with the end of the step it belongs to"
    );
    assert_eq!(c["value"], 0.5);
    // Idempotent, and nothing is published afterwards.
    r.shutdown();
    r.flush();
    assert_eq!(rx.requests().len(), 1);
}

#[test]
fn dropping_the_last_clone_shuts_down_with_a_final_publish() {
    let rx = Receiver::start();
    let clock = ManualClock::new(0);
    let r = registry(&rx.uri(), &clock, |_| {});
    let c = r.counter("c");
    let r2 = r.clone();
    drop(r);
    c.increment();
    assert!(rx.requests().is_empty(), "a clone still lives");
    drop(r2);
    assert_eq!(rx.requests().len(), 1);
}

#[test]
fn expired_meters_are_removed_after_a_publish() {
    let rx = Receiver::start();
    let clock = ManualClock::new(0);
    let r = registry(&rx.uri(), &clock, |b| {
        b.meter_ttl(Duration::from_secs(120));
    });
    r.counter("dropped.handle").increment();
    let held = r.counter("held.handle");
    held.increment();
    clock.set_wall_time(STEP);
    r.flush();
    let before = r.len();
    // Publishing every step keeps the client's own meters alive; the two counters idle.
    for step in 2..=4 {
        clock.set_wall_time(step * STEP);
        r.flush();
    }
    let names: Vec<String> = rx
        .requests()
        .pop()
        .unwrap()
        .metrics()
        .iter()
        .map(|m| m["tags"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".handle")), "{names:?}");
    // The meter nobody holds is gone; the held one stays, silent, until used again.
    assert_eq!(r.len(), before - 1);
    held.increment();
    clock.set_wall_time(5 * STEP);
    r.flush();
    let last = rx.requests().pop().unwrap();
    assert!(metric(&last.metrics(), "held.handle", "count").is_some());
}

#[test]
fn background_thread_publishes_at_step_boundaries() {
    let rx = Receiver::start();
    let r = Registry::new(
        ConfigBuilder::new()
            .uri(rx.uri())
            .step(Duration::from_millis(200))
            .clock(SystemClock)
            .build()
            .unwrap(),
    )
    .unwrap();
    let c = r.counter("bg");
    // Keep recording until a step containing records has been published: no assumption on
    // how quickly the thread runs.
    let seen = eventually(|| {
        c.increment();
        rx.requests().iter().any(|q| {
            q.metrics()
                .iter()
                .any(|m| m["tags"]["name"] == "bg" && m["value"].as_f64().unwrap_or(0.0) > 0.0)
        })
    });
    assert!(seen);
    for q in rx.requests() {
        for m in q.metrics() {
            assert_eq!(m["timestamp"].as_i64().unwrap() % 200, 0, "step-aligned");
        }
    }
}

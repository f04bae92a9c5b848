//! Arrival order through HTTP, against the real binary: bodies of the same series sent
//! concurrently or newest first store what in-order arrival stores, on every dstype;
//! samples the store cannot place are answered 202 with a count per reason and counted in
//! `/api/v1/stats`; and a counter published in real time, one sample per step, reads back
//! the rates of the same samples backfilled.

use std::sync::Barrier;

use serde_json::{json, Value};
use sextant_e2e::{get, now_ms, post_json, wait_for, TestServer};

const MINUTE: i64 = 60_000;
const DSTYPES: [&str; 4] = ["rate", "counter", "gauge", "sum"];
/// Series per dstype: even nodes publish on step boundaries, odd ones 13 s after.
const NODES: i64 = 20;
/// Steps per body.
const BODY_STEPS: i64 = 2;
const BODIES: i64 = 24;

fn server() -> TestServer {
    TestServer::start(&["--step", "1m", "--max-age", "2h"])
}

/// The value of series (`dstype`, `node`) at step `i`: a counter grows (with a reset at
/// step 17), the others vary.
fn value(dstype: &str, node: i64, i: i64) -> f64 {
    match dstype {
        "counter" if i >= 17 => (node + 1) as f64 * (i - 17) as f64,
        "counter" => 1000.0 + (node + 1) as f64 * (i * i) as f64,
        _ => ((node * 7 + i * 13) % 29) as f64 / 4.0,
    }
}

/// Body `k`: steps `k * BODY_STEPS ..` of every series.
fn body(base: i64, k: i64) -> String {
    let mut metrics = Vec::new();
    for i in k * BODY_STEPS..(k + 1) * BODY_STEPS {
        for dstype in DSTYPES {
            for node in 0..NODES {
                let offset = if node % 2 == 1 { 13_000 } else { 0 };
                metrics.push(json!({
                    "tags": {"name": "ooo", "atlas.dstype": dstype, "nf.node": format!("i-{node}")},
                    "timestamp": base + i * MINUTE + offset,
                    "value": value(dstype, node, i),
                }));
            }
        }
    }
    json!({"tags": {"nf.app": "order"}, "metrics": metrics}).to_string()
}

/// Publishes `body` and asserts every datapoint was stored.
fn publish_all(s: &TestServer, body: &str) {
    let a = post_json(&s.at("/api/v1/publish"), body);
    assert_eq!(a.status, 200, "{}", a.body);
}

/// Every line of `q` over the published window, as the graph API's JSON gives it.
fn lines(s: &TestServer, q: &str, start: i64, end: i64) -> Value {
    let a = get(&s.at(&format!(
        "/api/v1/graph?q={q}&s={start}&e={end}&step=1m&format=json"
    )));
    assert_eq!(a.status, 200, "{}", a.body);
    // Atlas's `json` format writes NaN for empty steps, which strict JSON parsers refuse.
    let mut j: Value = serde_json::from_str(&a.body.replace("NaN", "null")).expect("JSON");
    j.as_object_mut().map(|o| o.remove("explain"));
    json!({"legend": j["legend"], "values": j["values"]})
}

fn stats(s: &TestServer) -> Value {
    get(&s.at("/api/v1/stats")).json()
}

#[test]
fn concurrent_bodies_store_what_in_order_arrival_stores() {
    let now = now_ms();
    let base = now / MINUTE * MINUTE - 60 * MINUTE;
    let bodies: Vec<String> = (0..BODIES).map(|k| body(base, k)).collect();

    let in_order = server();
    for b in &bodies {
        publish_all(&in_order, b);
    }

    let shuffled = server();
    for (j, pair) in bodies.chunks(2).enumerate() {
        if j % 3 == 0 {
            // Deterministically newest first.
            publish_all(&shuffled, &pair[1]);
            publish_all(&shuffled, &pair[0]);
            continue;
        }
        // Both in flight at once: the server decides the order.
        let barrier = Barrier::new(2);
        std::thread::scope(|scope| {
            for b in pair {
                let (barrier, shuffled) = (&barrier, &shuffled);
                scope.spawn(move || {
                    barrier.wait();
                    publish_all(shuffled, b);
                });
            }
        });
    }

    let q = "name,ooo,:eq,(,atlas.dstype,nf.node,),:by";
    let (start, end) = (base - MINUTE, base + (BODIES * BODY_STEPS + 1) * MINUTE);
    let want = lines(&in_order, q, start, end);
    let got = lines(&shuffled, q, start, end);
    let legend = want["legend"].as_array().map_or(0, Vec::len);
    assert_eq!(legend, DSTYPES.len() * NODES as usize, "{want}");
    assert_eq!(got, want);
    // Nothing was refused, nothing left unapplied beyond each counter's first sample.
    for s in [&in_order, &shuffled] {
        let ingest = &stats(s)["ingest"];
        for key in ["duplicate", "outOfOrder", "late", "datapointsRejected"] {
            assert_eq!(ingest[key], 0, "{key}: {ingest}");
        }
        assert_eq!(ingest["counterPrimed"], NODES, "{ingest}");
    }
}

#[test]
fn samples_that_cannot_be_placed_are_answered_and_counted() {
    let s = server();
    let base = now_ms() / MINUTE * MINUTE - 30 * MINUTE;
    let point = |i: i64, v: f64| json!({"tags": {"name": "late", "atlas.dstype": "counter"}, "timestamp": base + i * MINUTE, "value": v});
    let publish = |points: Vec<Value>| {
        post_json(
            &s.at("/api/v1/publish"),
            &json!({ "metrics": points }).to_string(),
        )
    };
    let a = publish((4..=10).map(|i| point(i, 10.0 * i as f64)).collect());
    assert_eq!(a.status, 200, "{}", a.body);
    // A duplicate, one older than the samples kept to place late ones, and a good one.
    let a = publish(vec![point(10, 1.0), point(2, 5.0), point(11, 110.0)]);
    assert_eq!(a.status, 202, "{}", a.body);
    let j = a.json();
    assert_eq!(j["type"], "partial");
    assert_eq!(j["errorCount"], 2);
    assert_eq!(j["reasons"], json!({"duplicate": 1, "outOfOrder": 1}));
    let messages = j["message"].to_string();
    assert!(messages.contains("duplicate: "), "{messages}");
    assert!(messages.contains("outOfOrder: "), "{messages}");
    // Only refusals of arrival order in a body: still partial (202), not a bad request.
    let a = publish(vec![point(3, 1.0)]);
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.json()["reasons"], json!({"outOfOrder": 1}));
    let ingest = &stats(&s)["ingest"];
    assert_eq!(ingest["duplicate"], 1, "{ingest}");
    assert_eq!(ingest["outOfOrder"], 2, "{ingest}");
    assert_eq!(ingest["datapointsRejected"], 3, "{ingest}");
    assert_eq!(ingest["datapointsAccepted"], 8, "{ingest}");
}

/// Waits until the wall clock is `after` ms past the next multiple of `step`; returns that
/// step boundary.
fn next_boundary(step: i64, after: i64) -> i64 {
    let boundary = (now_ms() / step + 1) * step;
    wait_for("the next step boundary", || {
        (now_ms() >= boundary + after).then_some(())
    });
    boundary
}

/// The real-time case at a one-second step: one POST per step, just after its
/// boundary, as a client publishes. The series must keep its counter state between
/// samples, and read back the same rates as the samples backfilled in one body.
#[test]
fn a_counter_published_in_real_time_reads_like_a_backfill() {
    const STEP: i64 = 1000;
    let s = TestServer::start(&["--step", "1s", "--max-age", "5m"]);
    let sample = |name: &str, t: i64, v: f64| json!({"tags": {"name": name, "atlas.dstype": "counter"}, "timestamp": t, "value": v});
    let n = 8;
    let mut sent = Vec::new();
    for i in 0..n {
        let t = next_boundary(STEP, 100);
        let v = 100.0 + 10.0 * i as f64;
        let a = post_json(
            &s.at("/api/v1/publish"),
            &json!({"metrics": [sample("live", t, v)]}).to_string(),
        );
        assert_eq!(a.status, 200, "{}", a.body);
        sent.push((t, v));
    }
    let backfill: Vec<Value> = sent
        .iter()
        .map(|(t, v)| sample("backfill", *t, *v))
        .collect();
    let a = post_json(
        &s.at("/api/v1/publish"),
        &json!({ "metrics": backfill }).to_string(),
    );
    assert_eq!(a.status, 200, "{}", a.body);

    let (first, last) = (sent[0].0, sent[n - 1].0);
    let read = |name: &str| -> Vec<Option<f64>> {
        let a = get(&s.at(&format!(
            "/api/v1/graph?q=name,{name},:eq&s={first}&e={}&step=1s&format=json",
            last + STEP
        )));
        assert_eq!(a.status, 200, "{}", a.body);
        let j: Value = serde_json::from_str(&a.body.replace("NaN", "null")).expect("JSON");
        j["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| row[0].as_f64())
            .collect()
    };
    let live = read("live");
    assert_eq!(live, read("backfill"));
    // 10 per sample: the stored rates add up to 10 per sample after the first, whether or
    // not a publish came a step late (then its rate is spread over the steps it spans).
    let stored: Vec<f64> = live.iter().flatten().copied().collect();
    assert!(stored.len() >= n - 1, "{live:?}");
    let total: f64 = stored.iter().sum();
    assert!((total - 10.0 * (n - 1) as f64).abs() < 1e-9, "{live:?}");
    let ingest = &stats(&s)["ingest"];
    assert_eq!(ingest["seriesExpired"], 0, "{ingest}");
    assert_eq!(ingest["counterPrimed"], 2, "{ingest}");
}

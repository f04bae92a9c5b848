//! OTLP/HTTP end to end: the real OpenTelemetry Python SDK (`opentelemetry-sdk` and
//! `opentelemetry-exporter-otlp-proto-http` from PyPI, installed by
//! scripts/setup-test-deps.sh) exports a counter, an up-down counter, a histogram, an
//! exponential histogram and a gauge to the real server, and the values read back through
//! the Prometheus API and Atlas's `:percentiles`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use sextant_e2e::{get, post, TestServer};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/otel_export.py")
}

/// Runs the exporter script against `server`; the pause between its two exports is two
/// steps of the server's 1 s step, so the rounds land in different steps.
fn export(server: &TestServer) {
    let out = Command::new("python3")
        .arg(script())
        .arg(&server.url)
        .arg("2")
        .output()
        .expect("python3 runs (scripts/setup-test-deps.sh installs the OpenTelemetry SDK)");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("exported"),
        "the exporter failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An instant PromQL query two seconds past now, so the step holding the last export
/// (which ends up to a second after it) is inside the window: `(labels, value)` of each
/// element.
fn instant(server: &TestServer, q: &str) -> Vec<(Value, f64)> {
    let time = sextant_e2e::now_ms() / 1000 + 2;
    let body = format!("query={}&time={time}", urlencode(q));
    let a = post(
        &server.at("/prometheus/api/v1/query"),
        &[("content-type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(a.status, 200, "{q}: {}", a.body);
    let v = a.json();
    v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{q}: no result in {v}"))
        .iter()
        .map(|s| {
            let value = s["value"][1]
                .as_str()
                .and_then(|x| x.parse::<f64>().ok())
                .unwrap_or(f64::NAN);
            (s["metric"].clone(), value)
        })
        .collect()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The one value of an instant query.
fn one(server: &TestServer, q: &str) -> f64 {
    let r = instant(server, q);
    assert_eq!(r.len(), 1, "{q}: {r:?}");
    r[0].1
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn the_opentelemetry_python_sdk_exports_and_values_read_back() {
    let server = TestServer::start(&["--step", "1s"]);
    export(&server);

    // Counter (cumulative, monotonic): stored as a rate per second of a 1 s step, so the
    // sum over the steps is the increase of the second export.
    let r = instant(&server, "sum_over_time(orders[1m])");
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(close(r[0].1, 30.0), "{r:?}");
    assert_eq!(
        r[0].0,
        serde_json::json!({"nf.app": "checkout", "nf.node": "i-0001", "region": "eu"}),
        "resource attributes are tags: service.name is nf.app, service.instance.id nf.node"
    );

    // Up-down counter (cumulative, not monotonic): a gauge, 5 after the first export and
    // 4 after the second.
    assert_eq!(
        one(&server, r#"max_over_time({__name__="queue.depth"}[1m])"#),
        5.0
    );
    assert_eq!(
        one(&server, r#"min_over_time({__name__="queue.depth"}[1m])"#),
        4.0
    );

    // Gauge: 21.5 then 23.
    assert_eq!(one(&server, "max_over_time(temperature[1m])"), 23.0);
    assert_eq!(one(&server, "min_over_time(temperature[1m])"), 21.5);

    // Histogram: count and sum of the second export, and the median from the buckets
    // (default bounds 0, 5, 10, ...: three of four values in (0, 5], so 5 * 2/3).
    assert!(close(one(&server, "sum_over_time(latency_count[1m])"), 4.0));
    assert!(close(one(&server, "sum_over_time(latency_sum[1m])"), 9.25));
    let now = sextant_e2e::now_ms() / 1000;
    let range = get(&server.at(&format!(
        "/prometheus/api/v1/query_range?query={}&start={}&end={}&step=1",
        urlencode("histogram_quantile(0.5, sum by (le) (rate(latency_bucket[1s])))"),
        now - 60,
        now + 2
    )));
    assert_eq!(range.status, 200, "{}", range.body);
    let values = range.json()["data"]["result"][0]["values"].clone();
    let medians: Vec<f64> = values
        .as_array()
        .unwrap_or_else(|| panic!("no values: {}", range.body))
        .iter()
        .filter_map(|p| p[1].as_str().and_then(|v| v.parse().ok()))
        .collect();
    assert!(!medians.is_empty(), "{}", range.body);
    assert!(
        medians.iter().all(|m| close(*m, 5.0 * 2.0 / 3.0)),
        "{medians:?}"
    );

    // Exponential histogram: on Spectator's percentile buckets, so Atlas's :percentiles
    // works on it; 0.1 s within the buckets' resolution.
    let graph = get(&server.at(&format!(
        "/api/v1/graph?q=name,rpc.duration,:eq,(,50,),:percentiles&format=json&s=e-1m&e={}&step=1s",
        (now + 2) * 1000
    )));
    assert_eq!(graph.status, 200, "{}", graph.body);
    // Atlas's JSON writes missing values as a bare NaN.
    let g: Value = serde_json::from_str(&graph.body.replace("NaN", "null"))
        .unwrap_or_else(|e| panic!("{e}: {}", graph.body));
    let p50: Vec<f64> = g["values"]
        .as_array()
        .unwrap_or_else(|| panic!("no values: {g}"))
        .iter()
        .filter_map(|row| row[0].as_f64())
        .filter(|v| v.is_finite())
        .collect();
    assert!(!p50.is_empty(), "{g}");
    assert!(
        p50.iter().all(|v| (v - 0.1).abs() < 0.1 * 0.15),
        "p50 of 0.1 s: {p50:?}"
    );
    // The same through PromQL's histogram_quantile, which reads our percentile buckets.
    let range = get(&server.at(&format!(
        "/prometheus/api/v1/query_range?query={}&start={}&end={}&step=1",
        urlencode(r#"histogram_quantile(0.5, {__name__="rpc.duration"})"#),
        now - 60,
        now + 2
    )));
    assert_eq!(range.status, 200, "{}", range.body);
    let p50: Vec<f64> = range.json()["data"]["result"][0]["values"]
        .as_array()
        .unwrap_or_else(|| panic!("no values: {}", range.body))
        .iter()
        .filter_map(|p| p[1].as_str().and_then(|v| v.parse().ok()))
        .collect();
    assert!(!p50.is_empty(), "{}", range.body);
    assert!(
        p50.iter().all(|v: &f64| (v - 0.1).abs() < 0.1 * 0.15),
        "p50 of 0.1 s: {p50:?}"
    );
}

#[test]
fn otlp_answers_partial_success_and_refuses_other_media_types() {
    let server = TestServer::start(&[]);
    let now_ns = sextant_e2e::now_ms() as u128 * 1_000_000;
    let body = format!(
        r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[
            {{"name":"ok.gauge","gauge":{{"dataPoints":[{{"timeUnixNano":"{now_ns}","asDouble":1}}]}}}},
            {{"name":"x","gauge":{{"dataPoints":[{{"timeUnixNano":"{now_ns}","asDouble":1}}]}}}}]}}]}}]}}"#
    );
    let a = post(
        &server.at("/v1/metrics"),
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    // int64 in OTLP's JSON: a number or a decimal string.
    let rejected = &v["partialSuccess"]["rejectedDataPoints"];
    assert!(rejected == 1 || rejected == "1", "{v}");
    assert!(
        v["partialSuccess"]["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("value too short: name = [x]")),
        "{v}"
    );
    let a = post(
        &server.at("/v1/metrics"),
        &[("content-type", "text/plain")],
        b"hello",
    );
    assert_eq!(a.status, 415, "{}", a.body);
    let a = post(
        &server.at("/v1/metrics"),
        &[("content-type", "application/x-protobuf")],
        b"\x0a\xff\xff\xff",
    );
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("malformed protobuf body"), "{}", a.body);
}

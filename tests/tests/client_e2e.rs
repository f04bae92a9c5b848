//! The client library publishing to the real server binary: everything it sends is
//! accepted, and its meters become queryable series with Spectator's tags.

use std::time::Duration;

use sextant_client::{ConfigBuilder, Id, Registry};
use sextant_e2e::{get, wait_for, TestServer};

fn tag_values(s: &TestServer, key: &str, q: &str) -> Vec<String> {
    let a = get(&s.at(&format!("/api/v1/tags/{key}?q={q}")));
    assert_eq!(a.status, 200, "{}", a.body);
    serde_json::from_str(&a.body).unwrap_or_default()
}

#[test]
fn client_meters_are_accepted_and_indexed() {
    let s = TestServer::start(&["--step", "1s", "--max-age", "5m"]);
    let registry = Registry::new(
        ConfigBuilder::new()
            .uri(s.at("/api/v1/publish"))
            .step(Duration::from_secs(1))
            .common_tag("nf.app", "e2eclient")
            .build()
            .expect("valid config"),
    )
    .expect("registry starts");

    let requests = registry.counter(Id::new("server.requests").with_tag("status", "200"));
    let latency = registry.percentile_timer("server.latency");
    let queue = registry.gauge("server.queue");
    let size = registry.distribution_summary("server.size");
    // Keep recording until the background thread has published a step with data: no
    // assumption about when the step boundary falls.
    let names = wait_for("the client's meters to be indexed", || {
        requests.increment();
        latency.record(Duration::from_millis(12));
        queue.set(3.0);
        size.record(512);
        let names = tag_values(&s, "name", "nf.app,e2eclient,:eq");
        let all = [
            "server.requests",
            "server.latency",
            "server.queue",
            "server.size",
        ];
        all.iter()
            .all(|n| names.iter().any(|x| x == n))
            .then_some(names)
    });
    assert!(names.iter().any(|n| n == "server.latency"));

    let stats = tag_values(&s, "statistic", "name,server.latency,:eq");
    for st in ["count", "totalTime", "totalOfSquares", "max", "percentile"] {
        assert!(stats.iter().any(|x| x == st), "{st} missing from {stats:?}");
    }
    let buckets = tag_values(&s, "percentile", "name,server.latency,:eq");
    assert!(
        buckets.iter().any(|b| b == "T0065"),
        "12 ms bucket missing: {buckets:?}"
    );

    // The gauge's value arrives as published.
    let now = sextant_e2e::now_ms();
    let values = first_line(&s, "name,server.queue,:eq,:max", now);
    assert!(values.contains(&3.0), "gauge values {values:?}");

    // The server estimates percentiles from the client's T-tagged bucket counters: every
    // event was 12 ms (bucket T0065, 11.18..12.58 ms), so p50 must fall inside that bucket.
    let p50 = first_line(&s, "name,server.latency,:eq,(,50,),:percentiles", now);
    assert!(!p50.is_empty(), "no p50 values");
    for v in &p50 {
        assert!(
            (0.01118..=0.01259).contains(v),
            "p50 {v} outside bucket T0065"
        );
    }

    registry.flush();
    let p = registry.publish_stats();
    assert!(p.sent > 0);
    assert_eq!(
        p.dropped(),
        0,
        "the server rejected something: {:?}",
        registry.last_error()
    );

    // Shutdown publishes the partial step; the server still accepts it.
    registry.shutdown();
    let p = registry.publish_stats();
    assert_eq!(p.dropped(), 0, "{:?}", registry.last_error());
}

/// The values of the first line `q` draws over the minute before `now`, one-second steps,
/// empty steps left out.
fn first_line(s: &TestServer, q: &str, now: i64) -> Vec<f64> {
    let url = format!(
        "/api/v1/graph?q={q}&s={}&e={}&step=1s&format=json",
        now - 60_000,
        now + 2_000
    );
    let a = get(&s.at(&url));
    assert_eq!(a.status, 200, "{}", a.body);
    // Atlas's `json` format writes NaN for empty steps, which strict JSON parsers refuse.
    let j: serde_json::Value =
        serde_json::from_str(&a.body.replace("NaN", "null")).expect("graph answer is JSON");
    j["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row[0].as_f64())
        .filter(|v| v.is_finite())
        .collect()
}

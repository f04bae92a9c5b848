//! Publish API end to end: both payload formats, gzip, the real-client fixtures, partial
//! failures and every kind of bad input, against the real server binary.

use serde_json::{json, Value};
use sextant_e2e::{fixture, get, gzip, now_ms, post, post_json, TestServer};

fn server() -> TestServer {
    TestServer::start(&["--step", "1s", "--max-age", "5m"])
}

fn batch(metrics: Value) -> String {
    json!({"tags": {"nf.app": "e2e"}, "metrics": metrics}).to_string()
}

fn values(s: &TestServer, key: &str, q: &str) -> Vec<String> {
    let a = get(&s.at(&format!("/api/v1/tags/{key}?q={q}")));
    assert_eq!(a.status, 200, "{}", a.body);
    serde_json::from_str(&a.body).unwrap_or_default()
}

#[test]
fn batch_publish_is_queryable_at_once() {
    let s = server();
    let now = now_ms();
    let body = batch(json!([
        {"tags": {"name": "cpu", "nf.node": "i-1", "atlas.dstype": "gauge"}, "timestamp": now, "value": 42.5},
        {"tags": {"name": "cpu", "nf.node": "i-2", "atlas.dstype": "gauge"}, "timestamp": now, "value": 7.0}
    ]));
    let a = post_json(&s.at("/api/v1/publish"), &body);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body, "");
    // No wait: the series is in the index when the publish returns.
    assert_eq!(values(&s, "nf.node", "name,cpu,:eq"), ["i-1", "i-2"]);
    let keys: Vec<String> = get(&s.at("/api/v1/tags"))
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    assert_eq!(keys, ["atlas.dstype", "name", "nf.app", "nf.node"]);
}

#[test]
fn gzip_and_publish_fast_alias() {
    let s = server();
    let now = now_ms();
    let body = batch(json!([{"tags": {"name": "zipped"}, "timestamp": now, "value": 1.0}]));
    let a = post(
        &s.at("/api/v1/publish-fast"),
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        &gzip(body.as_bytes()),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(values(&s, "name", ""), ["zipped"]);
}

#[test]
fn real_client_fixtures_are_accepted() {
    let s = server();
    for name in [
        "nflx-spectator-1.0.0-post1.json",
        "nflx-spectator-1.0.0-post2.json",
        "netflix-spectator-py-0.1.18-post1.json",
        "netflix-spectator-py-0.1.18-post2.json",
    ] {
        let text = std::fs::read_to_string(fixture(name)).expect("fixture is readable");
        let capture: Value = serde_json::from_str(&text).expect("fixture is JSON");
        let body = capture["body"].to_string();
        let gzipped = capture["request"]["cenc"] == "gzip";
        let payload = if gzipped {
            gzip(body.as_bytes())
        } else {
            body.into_bytes()
        };
        let mut headers = vec![("content-type", "application/json")];
        if gzipped {
            headers.push(("content-encoding", "gzip"));
        }
        let a = post(&s.at("/api/v1/publish"), &headers, &payload);
        assert_eq!(a.status, 200, "{name}: {}", a.body);
    }
    let names = values(&s, "name", "");
    for expected in [
        "server.requests",
        "server.latency",
        "queue.size",
        "server.ptime",
        "http.req.complete",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    // ADD ops are stored as sums, MAX ops as gauges.
    assert_eq!(
        values(&s, "atlas.dstype", "name,server.requests,:eq"),
        ["sum"]
    );
    assert_eq!(values(&s, "atlas.dstype", "name,queue.size,:eq"), ["gauge"]);
    assert_eq!(values(&s, "percentile", "name,server.ptime,:eq"), ["T0065"]);
}

#[test]
fn partial_failure_answers_202_with_reasons() {
    let s = server();
    let now = now_ms();
    let body = batch(json!([
        {"tags": {"name": "good"}, "timestamp": now, "value": 1.0},
        {"tags": {"name": "bad name"}, "timestamp": now, "value": 1.0},
        {"tags": {"name": "old"}, "timestamp": now - 3_600_000, "value": 1.0}
    ]));
    let a = post_json(&s.at("/api/v1/publish"), &body);
    assert_eq!(a.status, 202, "{}", a.body);
    let j = a.json();
    assert_eq!(j["type"], "partial");
    assert_eq!(j["errorCount"], 2);
    let msgs: Vec<&str> = j["message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        msgs[0].contains("invalid characters in value: name = [bad name]"),
        "{msgs:?}"
    );
    assert!(msgs[1].starts_with("data is too old"), "{msgs:?}");
    // Nothing of a refused datapoint is stored.
    assert_eq!(values(&s, "name", ""), ["good"]);
}

#[test]
fn all_invalid_answers_400_with_count() {
    let s = server();
    let now = now_ms();
    let many_tags: serde_json::Map<String, Value> = (0..25)
        .map(|i| (format!("k{i:02}"), json!("v")))
        .chain([("name".into(), json!("x1"))])
        .collect();
    let body = batch(json!([
        {"tags": {"app": "no-name"}, "timestamp": now, "value": 1.0},
        {"tags": many_tags, "timestamp": now, "value": 1.0},
        {"tags": {"name": "future"}, "timestamp": now + 3_600_000, "value": 1.0}
    ]));
    let a = post_json(&s.at("/api/v1/publish"), &body);
    assert_eq!(a.status, 400, "{}", a.body);
    let j = a.json();
    assert_eq!(j["type"], "error");
    assert_eq!(j["errorCount"], 3);
    let text = j["message"].to_string();
    assert!(text.contains("missing key 'name'"), "{text}");
    assert!(text.contains("too many"), "{text}");
    assert!(text.contains("data is from the future"), "{text}");
    assert_eq!(values(&s, "name", "").len(), 0);
}

#[test]
fn malformed_bodies_get_400_saying_what_and_where() {
    let s = server();
    let cases: [(&[u8], &str); 6] = [
        (b"fubar", "invalid JSON: expected ident at line 1 column 2"),
        (br#"{"foo":"bar"}"#, "unknown field `foo`"),
        (b"", "empty payload"),
        (br#"{"metrics":[]}"#, "empty payload"),
        (
            br#"{"metrics":[{"tags":{"name":"x"},"timestamp":1,"value":"abc"}]}"#,
            "invalid number 'abc'",
        ),
        (
            br#"[2,"name","x",1,0,1,7,1]"#,
            "op-code payload: at element 6: expected op 0 (add) or 10 (max)",
        ),
    ];
    for (body, want) in cases {
        let a = post(
            &s.at("/api/v1/publish"),
            &[("content-type", "application/json")],
            body,
        );
        assert_eq!(a.status, 400, "{}", a.body);
        let msg = a.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(msg.contains(want), "{msg:?} should contain {want:?}");
    }
    let bad_gzip = post(
        &s.at("/api/v1/publish"),
        &[("content-encoding", "gzip")],
        b"definitely not gzip",
    );
    assert_eq!(bad_gzip.status, 400);
    assert!(bad_gzip.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("invalid gzip body"));
}

#[test]
fn oversize_bodies_get_413() {
    let s = TestServer::start(&["--step", "1s", "--max-body-bytes", "1000"]);
    let big = vec![b' '; 5000];
    let a = post(
        &s.at("/api/v1/publish"),
        &[("content-type", "application/json")],
        &big,
    );
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(a.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("too large"));
    // A small gzip that inflates past the decompressed limit is refused too.
    let bomb = gzip(&vec![b' '; 100_000]);
    assert!(bomb.len() < 1000);
    let a = post(
        &s.at("/api/v1/publish"),
        &[("content-encoding", "gzip")],
        &bomb,
    );
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(a.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("decompressed body exceeds"));
}

#[test]
fn unknown_paths_get_404_json() {
    let s = server();
    let a = get(&s.at("/api/v1/nope"));
    assert_eq!(a.status, 404);
    assert!(a.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("/api/v1/nope"));
}

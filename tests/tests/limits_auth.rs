//! Every limit and every auth rule of the real server, each asserting the status code and
//! the message a caller gets (issue 7, "Limits and backpressure" and "Security").
//!
//! Covered elsewhere and not repeated here: body size and gzip bombs
//! (`publish.rs::oversize_bodies_get_413`), the tags `limit` parameter
//! (`store_api.rs`, the `invalid limit` cases).

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::{json, Value};
use sextant_e2e::{get, now_ms, post_json, refused_start, send, Answer, TestServer};

const PUBLISH: &str = "publish-token-0123456789abcdef";
const READ: &str = "read-token-0123456789abcdef";
const READ2: &str = "read-token-two-0123456789abcdef";
const ADMIN: &str = "admin-token-0123456789abcdef";

fn message(a: &Answer) -> String {
    a.json()["message"].as_str().unwrap_or_default().to_string()
}

/// Publishes series `a` and `b` of `cpu` (accepted), then `c`, which a limit of 2 refuses;
/// returns that answer and its first message.
fn fill_then_refuse(s: &TestServer) -> (Answer, String) {
    assert_eq!(publish_series(s, "cpu", &["a", "b"]).status, 200);
    let third = publish_series(s, "cpu", &["c"]);
    assert_eq!(third.status, 400, "{}", third.body);
    let text = third.json()["message"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (third, text)
}

fn tokens_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("sextant-e2e-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("a temp tokens file can be written");
    path
}

fn with_auth(s: &TestServer) -> impl Fn(&str, &str, Option<&str>, &str) -> Answer + '_ {
    move |method, path, token, body| {
        let header = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(h) = &header {
            headers.push(("authorization", h.as_str()));
        }
        send(method, &s.at(path), &headers, body.as_bytes())
    }
}

fn one_point(name: &str) -> String {
    json!({"metrics": [{"tags": {"name": name}, "timestamp": now_ms(), "value": 1.0}]}).to_string()
}

fn assert_401(a: &Answer, what: &str) {
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(
        a.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{:?}",
        a.headers
    );
    assert!(message(a).contains(what), "{}", a.body);
}

fn assert_403(a: &Answer, role: &str) {
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(a.json()["type"], "error");
    assert!(message(a).contains(&format!("'{role}' role")), "{}", a.body);
}

#[test]
fn tokens_from_a_file_guard_each_role() {
    let file = tokens_file(
        "tokens",
        &format!("# roles\npublish {PUBLISH}\nread {READ}\nread {READ2}\n\nadmin {ADMIN}\n"),
    );
    let file_arg = file.to_string_lossy().to_string();
    let s = TestServer::start(&["--step", "1s", "--tokens", &file_arg]);
    let call = with_auth(&s);

    // The health check stays open for load balancers.
    assert_eq!(get(&s.at("/healthcheck")).status, 200);

    // 401: no header, a header of another scheme, an unknown token.
    assert_401(
        &call("GET", "/api/v1/tags", None, ""),
        "authentication required",
    );
    let basic = send(
        "GET",
        &s.at("/api/v1/tags"),
        &[("authorization", "Basic dXNlcjpwYXNz")],
        b"",
    );
    assert_401(&basic, "malformed Authorization header");
    let wrong = call("GET", "/api/v1/tags", Some("not-a-configured-token"), "");
    assert_401(&wrong, "invalid bearer token");
    assert!(wrong
        .header("www-authenticate")
        .is_some_and(|v| v.contains("invalid_token")));
    // Unknown paths ask for a token before saying 404, so they reveal nothing.
    assert_401(
        &call("GET", "/api/v1/nope", None, ""),
        "authentication required",
    );

    // publish: POST /api/v1/publish*, and nothing else.
    for path in ["/api/v1/publish", "/api/v1/publish-fast"] {
        assert_401(
            &call("POST", path, None, &one_point("aa")),
            "authentication",
        );
        assert_403(&call("POST", path, Some(READ), &one_point("aa")), "publish");
        let ok = call("POST", path, Some(PUBLISH), &one_point("aa"));
        assert_eq!(ok.status, 200, "{}", ok.body);
        let ok = call("POST", path, Some(ADMIN), &one_point("bb"));
        assert_eq!(ok.status, 200, "{}", ok.body);
    }
    assert_403(&call("GET", "/api/v1/tags", Some(PUBLISH), ""), "read");

    // The web UI's files hold no data and load without a token; the page then asks for one.
    for path in ["/", "/ui/app.js", "/ui/style.css"] {
        assert_eq!(call("GET", path, None, "").status, 200, "{path}");
    }
    // read: queries, listings, dashboards; both read tokens work.
    for path in [
        "/api/v1/tags",
        "/api/v1/tags/name",
        "/api/v1/graph?q=name,aa,:eq&format=json",
        "/api/v1/expr?q=1",
        "/api/v1/stats",
        "/api/v1/rules",
        "/api/v1/alerts",
        "/api/v1/silences",
        "/api/v1/dashboards",
    ] {
        assert_401(&call("GET", path, None, ""), "authentication required");
        for token in [READ, READ2, ADMIN] {
            let a = call("GET", path, Some(token), "");
            assert_eq!(a.status, 200, "{path}: {}", a.body);
        }
    }

    // admin: rules reload, silences, dashboard changes.
    let dashboard = json!({"title": "t", "graphs": []}).to_string();
    let silence =
        json!({"matchers": [{"name": "alertname", "value": "X"}], "endsAt": "2999-01-01T00:00:00Z"})
            .to_string();
    for (method, path, body) in [
        ("POST", "/api/v1/rules/reload", ""),
        ("POST", "/api/v1/silences", silence.as_str()),
        ("DELETE", "/api/v1/silences/nope", ""),
        ("PUT", "/api/v1/dashboards/d1", dashboard.as_str()),
        ("DELETE", "/api/v1/dashboards/d1", ""),
    ] {
        assert_401(&call(method, path, None, body), "authentication required");
        assert_403(&call(method, path, Some(READ), body), "admin");
        assert_403(&call(method, path, Some(PUBLISH), body), "admin");
    }
    let created = call("POST", "/api/v1/silences", Some(ADMIN), &silence);
    assert_eq!(created.status, 200, "{}", created.body);
    let put = call("PUT", "/api/v1/dashboards/d1", Some(ADMIN), &dashboard);
    assert!(put.status < 300, "{}", put.body);
    let deleted = call("DELETE", "/api/v1/dashboards/d1", Some(ADMIN), "");
    assert!(deleted.status < 300, "{}", deleted.body);
    let _ = std::fs::remove_file(file);
}

#[test]
fn tokens_from_the_environment() {
    let both = format!("{READ},{READ2}");
    let s = TestServer::start_with_env(
        &["--step", "1s"],
        &[
            ("SEXTANT_TOKEN_READ", both.as_str()),
            ("SEXTANT_TOKEN_PUBLISH", PUBLISH),
        ],
    );
    let call = with_auth(&s);
    assert_eq!(call("GET", "/api/v1/tags", Some(READ), "").status, 200);
    assert_eq!(call("GET", "/api/v1/tags", Some(READ2), "").status, 200);
    assert_403(
        &call("POST", "/api/v1/publish", Some(READ2), &one_point("aa")),
        "publish",
    );
    assert_eq!(
        call("POST", "/api/v1/publish", Some(PUBLISH), &one_point("aa")).status,
        200
    );
    // No admin token is configured: nobody may change rules.
    assert_403(
        &call("POST", "/api/v1/rules/reload", Some(READ), ""),
        "admin",
    );
}

#[test]
fn without_tokens_everything_is_open() {
    let s = TestServer::start(&["--step", "1s"]);
    assert_eq!(
        post_json(&s.at("/api/v1/publish"), &one_point("aa")).status,
        200
    );
    assert_eq!(get(&s.at("/api/v1/tags")).status, 200);
}

#[test]
fn a_bad_tokens_file_stops_the_server_at_start() {
    let file = tokens_file("bad-tokens", &format!("read {READ}\nread tooShortTok\n"));
    let stderr = refused_start(&[std::ffi::OsStr::new("--tokens"), file.as_os_str()]);
    let _ = std::fs::remove_file(file);
    assert!(
        stderr.contains("line 2: a token must be at least 16 characters"),
        "{stderr}"
    );
    // The error names the line, never the token.
    assert!(!stderr.contains("tooShortTok"), "{stderr}");
}

fn publish_series(s: &TestServer, name: &str, nodes: &[&str]) -> Answer {
    let now = now_ms();
    let metrics: Vec<Value> = nodes
        .iter()
        .map(|n| json!({"tags": {"name": name, "node": n}, "timestamp": now, "value": 1.0}))
        .collect();
    post_json(
        &s.at("/api/v1/publish"),
        &json!({ "metrics": metrics }).to_string(),
    )
}

fn graph_error(s: &TestServer, q: &str) -> Answer {
    get(&s.at(&format!("/api/v1/graph?q={q}&s=e-5m&format=json")))
}

#[test]
fn too_many_tags_is_refused_naming_the_limit() {
    let s = TestServer::start(&["--step", "1s"]);
    let tags: serde_json::Map<String, Value> = (0..30)
        .map(|i| (format!("k{i:02}"), json!("v")))
        .chain([("name".into(), json!("wide"))])
        .collect();
    let body = json!({"metrics": [{"tags": tags, "timestamp": now_ms(), "value": 1.0}]});
    let a = post_json(&s.at("/api/v1/publish"), &body.to_string());
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.json()["message"][0]
            .as_str()
            .is_some_and(|m| m.starts_with("too many tags: 31 > 30")),
        "{}",
        a.body
    );
}

#[test]
fn series_limit_refuses_new_series_but_not_known_ones() {
    let s = TestServer::start(&["--step", "1s", "--max-series", "2"]);
    let (third, text) = fill_then_refuse(&s);
    assert!(
        text.contains("series limit reached: the store holds 2 series and cannot add another"),
        "{}",
        third.body
    );
    // In a batch, the new series is refused and the known ones are stored: 202.
    let mixed = publish_series(&s, "cpu", &["a", "d"]);
    assert_eq!(mixed.status, 202, "{}", mixed.body);
    assert!(
        mixed.body.contains("series limit reached"),
        "{}",
        mixed.body
    );
}

#[test]
fn series_per_name_limit_refuses_new_series_of_that_name_only() {
    let s = TestServer::start(&["--step", "1s", "--max-series-per-name", "2"]);
    let (third, text) = fill_then_refuse(&s);
    assert!(
        text.contains(
            r#"series limit for name "cpu" reached: 2 series have this name and no new one is added"#
        ),
        "{}",
        third.body
    );
    // Other names still get new series, and known series of the full name are stored.
    assert_eq!(publish_series(&s, "mem", &["a", "b"]).status, 200);
    let mixed = publish_series(&s, "cpu", &["a", "d"]);
    assert_eq!(mixed.status, 202, "{}", mixed.body);
    assert_eq!(mixed.json()["errorCount"], 1, "{}", mixed.body);
    let stats = get(&s.at("/api/v1/stats")).json();
    assert_eq!(stats["ingest"]["seriesPerNameLimit"], 2, "{stats}");
}

#[test]
fn query_limits_answer_400_naming_the_limit() {
    let s = TestServer::start(&[
        "--step",
        "1s",
        "--max-series-per-query",
        "3",
        "--max-lines",
        "2",
        "--max-datapoints",
        "500",
        "--query-timeout",
        "10s",
    ]);
    assert_eq!(publish_series(&s, "cpu", &["a", "b", "c"]).status, 200);
    assert_eq!(publish_series(&s, "mem", &["a", "b", "c", "d"]).status, 200);

    let a = graph_error(&s, "name,mem,:eq,:sum");
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        message(&a).contains("query matched 4 series, over the limit of 3"),
        "{}",
        a.body
    );

    let a = graph_error(&s, "name,cpu,:eq,(,node,),:by");
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        message(&a).contains("lines: 3 is over the limit of 2"),
        "{}",
        a.body
    );

    // Five minutes at a one-second step is 300 datapoints a line: one line fits, two do not.
    let ok = graph_error(&s, "name,cpu,:eq,:sum");
    assert_eq!(ok.status, 200, "{}", ok.body);
    let a = graph_error(&s, "name,cpu,:eq,:sum,name,cpu,:eq,:max");
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        message(&a).contains("datapoints: 60") && message(&a).contains("over the limit of 500"),
        "{}",
        a.body
    );
}

#[test]
fn query_concurrency_is_configurable_and_never_zero() {
    // The 503 path itself is tested in the server crate (http::tests), where the test can
    // hold every slot; here, the flag reaches the server and a query still runs.
    let s = TestServer::start(&["--step", "1s", "--query-concurrency", "1"]);
    assert_eq!(graph_error(&s, "1").status, 200);
    let stderr = refused_start(&["--query-concurrency", "0"]);
    assert!(
        stderr.contains("--query-concurrency must be at least 1"),
        "{stderr}"
    );
}

/// A slow-loris client: the request line and one header, then nothing. The server closes
/// the connection after `--header-read-timeout`; the test only waits, bounded, for that.
#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let s = TestServer::start(&["--step", "1s", "--header-read-timeout", "1s"]);
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connects to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a read timeout can be set");
    stream
        .write_all(format!("GET /api/v1/tags HTTP/1.1\r\nhost: {addr}\r\n").as_bytes())
        .expect("part of the head is sent");
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        // A reset is a close too; only our own read timeout means the server kept it open.
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the server kept the connection open: {e}"
        ),
    }
    // Whatever the server said before closing, it was not an answer to the request.
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("200 OK"), "{answer}");
    // The header timeout is above zero.
    let stderr = refused_start(&["--header-read-timeout", "0s"]);
    assert!(
        stderr.contains("--header-read-timeout must be above 0"),
        "{stderr}"
    );
}

#[test]
fn a_client_that_stalls_mid_body_is_cut_off() {
    let s = TestServer::start(&["--step", "1s", "--body-read-timeout", "1s"]);
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connects to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a read timeout can be set");
    // Announces 100 bytes, sends one, then stalls.
    let head = format!(
        "POST /api/v1/publish HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
    );
    stream
        .write_all(head.as_bytes())
        .expect("the request head is sent");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("data was not received within the designated timeout"),
        "{answer}"
    );
}

/// The publish slot is taken before the body is read, so a request whose body never
/// finishes holds the only slot; another publish then waits out its second and gets 503.
/// The held request may lose the race for the slot to the probe, so the probe repeats
/// until it is refused.
#[test]
fn publishes_over_the_concurrency_limit_get_503_with_retry_after() {
    let s = TestServer::start(&[
        "--step",
        "1s",
        "--max-concurrent-publishes",
        "1",
        "--body-read-timeout",
        "5m",
    ]);
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut held = std::net::TcpStream::connect(&addr).expect("connects to the server");
    let head = format!(
        "POST /api/v1/publish HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
    );
    held.write_all(head.as_bytes())
        .expect("the request head is sent");
    let refused = sextant_e2e::wait_for("a publish refused for want of a slot", || {
        let a = post_json(&s.at("/api/v1/publish"), &one_point("probe"));
        match a.status {
            200 => None,
            503 => Some(a),
            other => panic!("unexpected {other}: {}", a.body),
        }
    });
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        message(&refused)
            .contains("too many concurrent publishes: all 1 publish slots stayed busy for 1000 ms; retry later"),
        "{}",
        refused.body
    );
    // Other endpoints do not wait for a publish slot.
    assert_eq!(get(&s.at("/api/v1/tags")).status, 200);
    // Closing the held connection frees the slot.
    drop(held);
    sextant_e2e::wait_for("publishing to work again", || {
        let a = post_json(&s.at("/api/v1/publish"), &one_point("probe"));
        (a.status == 200).then_some(())
    });
    let stderr = refused_start(&["--max-concurrent-publishes", "0"]);
    assert!(
        stderr.contains("--max-concurrent-publishes must be at least 1"),
        "{stderr}"
    );
}

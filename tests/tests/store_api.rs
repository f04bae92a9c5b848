//! Tags, graph and stats APIs end to end, and concurrent publishers and readers losing no
//! point, against the real server binary.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread;

use serde_json::{json, Value};
use sextant_e2e::{get, now_ms, post_json, wait_for, TestServer};

fn publish(s: &TestServer, metrics: Value) {
    let a = post_json(
        &s.at("/api/v1/publish"),
        &json!({ "metrics": metrics }).to_string(),
    );
    assert_eq!(a.status, 200, "{}", a.body);
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(String::from))
        .collect()
}

#[test]
fn tags_api_filters_pages_and_counts() {
    let s = TestServer::start(&["--step", "1s", "--max-age", "5m"]);
    let now = now_ms();
    let metrics: Vec<Value> = (0..5)
        .map(|i| {
            json!({"tags": {"name": "req", "nf.app": if i < 3 { "www" } else { "api" }, "nf.node": format!("i-{i}")},
                   "timestamp": now, "value": 1.0})
        })
        .collect();
    publish(&s, Value::Array(metrics));

    let nodes = get(&s.at("/api/v1/tags/nf.node?q=nf.app,www,:eq"));
    assert_eq!(strings(&nodes.json()), ["i-0", "i-1", "i-2"]);

    // Paging: limit 2 gives a cursor, and the next page starts after it.
    let page1 = get(&s.at("/api/v1/tags/nf.node?limit=2"));
    assert_eq!(strings(&page1.json()), ["i-0", "i-1"]);
    let cursor = page1
        .header("x-nflx-atlas-next-offset")
        .unwrap_or_default()
        .to_string();
    assert_eq!(cursor, "i-1");
    let page2 = get(&s.at(&format!("/api/v1/tags/nf.node?limit=2&offset={cursor}")));
    assert_eq!(strings(&page2.json()), ["i-2", "i-3"]);

    let verbose = get(&s.at("/api/v1/tags/nf.app?verbose=1")).json();
    assert_eq!(
        verbose,
        json!([{"key":"nf.app","value":"api","count":2},{"key":"nf.app","value":"www","count":3}])
    );
    let keys = get(&s.at("/api/v1/tags?q=nf.app,api,:eq&verbose=1")).json();
    assert_eq!(keys[0], json!({"key": "name", "count": 2}));

    let txt = get(&s.at("/api/v1/tags/nf.app?format=txt"));
    assert_eq!(txt.body, "api\nwww\n");

    for (url, want) in [
        ("/api/v1/tags?limit=0", "invalid limit '0'"),
        ("/api/v1/tags?limit=foo", "invalid limit 'foo'"),
        ("/api/v1/tags?q=name,:eq", ":eq at 5"),
        ("/api/v1/tags?q=name,x,:eq,:sum", "q must be a query"),
        ("/api/v1/tags?format=xml", "invalid format 'xml'"),
    ] {
        let a = get(&s.at(url));
        assert_eq!(a.status, 400, "{url}: {}", a.body);
        let msg = a.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(msg.contains(want), "{url}: {msg:?} should contain {want:?}");
    }
}

#[test]
fn graph_answers_with_published_values() {
    let s = TestServer::start(&["--step", "1s", "--max-age", "5m"]);
    // Whole seconds a little in the past, so every value sits in a closed interval.
    let base = (now_ms() / 1000 - 20) * 1000;
    let mut metrics = Vec::new();
    for i in 0..10 {
        for (node, scale) in [("a", 1.0), ("b", 2.0)] {
            metrics.push(
                json!({"tags": {"name": "load", "node": node, "atlas.dstype": "gauge"},
                                "timestamp": base + i * 1000, "value": scale * i as f64}),
            );
        }
    }
    publish(&s, Value::Array(metrics));
    // Atlas labels a value by the end of its interval: rows run from s+step to e.
    let url = format!(
        "/api/v1/graph?q=name,load,:eq,(,node,),:by&s={}&e={}&step=1s&format=json",
        base - 1000,
        base + 9000
    );
    let j = get(&s.at(&url)).json();
    assert_eq!(j["start"], base);
    assert_eq!(j["step"], 1000);
    assert_eq!(j["legend"], json!(["(node=a)", "(node=b)"]));
    let rows = j["values"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 10);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row, &json!([i as f64, 2.0 * i as f64]), "row {i}");
    }

    let sum = get(&s.at(&url.replace(",(,node,),:by", ",:sum").replace("json", "csv")));
    assert_eq!(sum.status, 200);
    assert!(
        sum.body
            .lines()
            .nth(4)
            .unwrap_or_default()
            .ends_with(",9.000000"),
        "{}",
        sum.body
    );

    // `cq` narrows every query of the expression.
    let cq = get(&s.at(&format!(
        "{}&cq=node,b,:eq",
        url.replace(",(,node,),:by", ",:sum")
    )))
    .json();
    assert_eq!(cq["values"][3], json!([6.0]), "{cq}");

    let bad = get(&s.at("/api/v1/graph?q=name,load,:eq,:sum,foo,:bar&format=json"));
    assert_eq!(bad.status, 400);
    let msg = bad.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains(":bar at 23: unknown word"), "{msg}");
    let missing = get(&s.at("/api/v1/graph?format=json"));
    assert_eq!(missing.status, 400);
    assert!(missing.body.contains("missing required parameter 'q'"));
}

#[test]
fn demo_server_answers_the_issue_query() {
    let s = TestServer::start(&["--demo"]);
    let j = get(&s.at("/api/v1/graph?q=name,ssCpuUser,:eq,(,nf.app,),:by&format=json")).json();
    assert_eq!(
        j["legend"],
        json!(["(nf.app=api)", "(nf.app=db)", "(nf.app=www)"])
    );
    let rows = j["values"].as_array().cloned().unwrap_or_default();
    assert!(
        rows.len() >= 170,
        "three hours at one minute, got {}",
        rows.len()
    );
    // Each app sums 8 nodes of CPU percent: finite and within 0..=800 for all past steps.
    let finite = rows[..rows.len() - 2]
        .iter()
        .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        .all(|v| v.as_f64().is_some_and(|x| (0.0..=800.0).contains(&x)));
    assert!(finite, "{rows:?}");
    let stats = get(&s.at("/api/v1/stats")).json();
    assert!(stats["series"].as_u64().unwrap_or(0) >= 200);
    // The demo data is fed in-process, so the log holds nothing yet, but it is there.
    assert_eq!(stats["wal"]["failures"], 0, "{stats}");
    assert_eq!(get(&s.at("/healthcheck")).status, 200);
}

/// Four publishers write distinct points while two readers query; afterwards every
/// acknowledged point is there with its value.
#[test]
fn concurrent_publishers_and_readers_lose_nothing() {
    let s = Arc::new(TestServer::start(&["--step", "1s", "--max-age", "10m"]));
    let base = (now_ms() / 1000 - 120) * 1000;
    let publishers: Vec<_> = (0..4)
        .map(|p| {
            let s = s.clone();
            thread::spawn(move || {
                for batch in 0..10 {
                    let metrics: Vec<Value> = (0..100)
                        .map(|i| {
                            let t = base + ((batch * 100 + i) % 100) * 1000;
                            json!({"tags": {"name": "conc", "pub": format!("p{p}"), "series": format!("s{batch}"), "atlas.dstype": "gauge"},
                                   "timestamp": t, "value": (p * 1000 + batch * 100 + i) as f64})
                        })
                        .collect();
                    publish(&s, Value::Array(metrics));
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            thread::spawn(move || {
                for _ in 0..20 {
                    let a = get(&s.at("/api/v1/tags/series?q=name,conc,:eq"));
                    assert_eq!(a.status, 200);
                }
            })
        })
        .collect();
    for h in publishers.into_iter().chain(readers) {
        assert!(h.join().is_ok(), "a client thread panicked");
    }
    let series: BTreeSet<String> =
        strings(&get(&s.at("/api/v1/tags/series?q=name,conc,:eq")).json())
            .into_iter()
            .collect();
    assert_eq!(series.len(), 10);
    let url = format!(
        "/api/v1/graph?q=name,conc,:eq,:all&s={}&e={}&step=1s&format=std.json",
        base - 1000,
        base + 99_000
    );
    let j = wait_for("the graph of every published point", || {
        let j = get(&s.at(&url)).json();
        (j["metrics"].as_array().map(Vec::len) == Some(40)).then_some(j)
    });
    let metrics = j["metrics"].as_array().cloned().unwrap_or_default();
    let values = j["values"].as_array().cloned().unwrap_or_default();
    assert_eq!(values.len(), 100);
    for (col, m) in metrics.iter().enumerate() {
        let p: i64 = m["pub"].as_str().unwrap_or("p9")[1..].parse().unwrap_or(9);
        let b: i64 = m["series"].as_str().unwrap_or("s99")[1..]
            .parse()
            .unwrap_or(99);
        for (i, row) in values.iter().enumerate() {
            let want = (p * 1000 + b * 100 + i as i64) as f64;
            assert_eq!(
                row[col].as_f64(),
                Some(want),
                "pub {p} series {b} point {i}"
            );
        }
    }
    // The stats count every one of the 4 000 points as held (the server's own meters add
    // theirs), and the bytes that hold them.
    let stats = get(&s.at("/api/v1/stats")).json();
    let held = ["sealedDatapoints", "openDatapoints"]
        .iter()
        .map(|k| stats[k].as_u64().unwrap_or(0))
        .sum::<u64>();
    assert!(held >= 4000, "{stats}");
    assert!(stats["openBytes"].as_u64().unwrap_or(0) > 0, "{stats}");
}

/// The server writes its own meters into its store each step (issue: client library).
#[test]
fn server_monitors_itself() {
    let s = TestServer::start(&["--step", "1s"]);
    let graph = s.at("/api/v1/graph?q=name,x,:eq,:sum&format=json");
    let names = wait_for("the server's own meters", || {
        // Keep querying so the latency timer has something to report for the step.
        assert_eq!(get(&graph).status, 200);
        let names = strings(&get(&s.at("/api/v1/tags/name?q=nf.app,sextant,:eq")).json());
        names
            .iter()
            .any(|n| n == "sextant.query.latency")
            .then_some(names)
    });
    for want in [
        "sextant.store.series",
        "sextant.publish.requests",
        "sextant.ingest.samples",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    let formats =
        strings(&get(&s.at("/api/v1/tags/format?q=name,sextant.query.latency,:eq")).json());
    assert_eq!(formats, ["json"]);
}

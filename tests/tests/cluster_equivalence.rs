//! A cluster answers as one big node would (issue 18, docs/cluster.md "Queries"): the
//! same seeded data is published to a single node and to a 3-node cluster (one
//! nats-server, 16 partitions, 2 owners each), and a broad set of expressions, every
//! graph format and the tags API are asked of the single node and of every cluster
//! node. The answers must be the same bytes, with no partial marker. Every node's own
//! meters are seen from every node.
//!
//! The data is integer-valued on purpose: a cluster adds partial sums in another order
//! than one node adds series, and only sums of integers are exact in any order. With
//! arbitrary doubles the answers may differ in the last bit (docs/cluster.md says so).

use sextant_e2e::nats::{nats_cluster, urls, wait_until};
use sextant_e2e::{delete, get, get_bytes, now_ms, post_json, put_json, wait_for, TestServer};

const STEP: i64 = 60_000;
/// Three hours of one-minute points.
const POINTS: i64 = 180;
const APPS: [&str; 4] = ["api", "db", "web", "queue"];
const REGIONS: [&str; 3] = ["east", "west", "eu"];
const NODES: usize = 24;

/// SplitMix64: the data is the same in every run, and differs between series.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The publish bodies: per minute, a gauge `cpu`, a rate `requests` and percentile-bucket
/// counters `latency`. Gauges are multiples of 60 and counts multiples of 300, so every
/// consolidation up to 5 minutes (an average over 1 to 5 points, a rate per second over
/// 5 minutes) is an integer, and integer sums are exact in any order.
fn bodies(start: i64) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..POINTS {
        let ts = start + i * STEP;
        let mut metrics = Vec::new();
        for n in 0..NODES {
            let app = APPS[n % APPS.len()];
            let region = REGIONS[n % REGIONS.len()];
            let node = format!("i-{n:03}");
            let r = mix((n as u64) << 32 | i as u64);
            // Some gaps, so NaN rules of every aggregate are exercised.
            if r % 17 == 0 {
                continue;
            }
            let tags = format!(r#""app":"{app}","region":"{region}","node":"{node}""#);
            metrics.push(format!(
                r#"{{"tags":{{"name":"cpu","atlas.dstype":"gauge",{tags}}},"timestamp":{ts},"value":{}}}"#,
                60 * (r % 100)
            ));
            metrics.push(format!(
                r#"{{"tags":{{"name":"requests","atlas.dstype":"sum",{tags}}},"timestamp":{ts},"value":{}}}"#,
                300 * (r % 50)
            ));
            for (k, b) in [20u64, 40, 60, 80].into_iter().enumerate() {
                let count = 300 * ((r >> (8 * (k + 1))) % 7);
                metrics.push(format!(
                    r#"{{"tags":{{"name":"latency","atlas.dstype":"sum","statistic":"percentile","percentile":"T{b:04X}",{tags}}},"timestamp":{ts},"value":{count}}}"#
                ));
            }
        }
        out.push(format!(r#"{{"metrics":[{}]}}"#, metrics.join(",")));
    }
    out
}

/// The expressions compared: every aggregate, `:by`, percentiles, math, stateful words,
/// `:offset`, filters, `:all`, and step consolidation.
const EXPRESSIONS: &[&str] = &[
    "name,cpu,:eq,:sum",
    "name,cpu,:eq,:count",
    "name,cpu,:eq,:min",
    "name,cpu,:eq,:max",
    "name,cpu,:eq,:avg",
    "name,cpu,:eq,:sum,(,app,),:by",
    "name,cpu,:eq,:max,(,app,region,),:by",
    "name,cpu,:eq,:avg,(,region,),:by",
    "name,cpu,:eq,:count,(,app,),:by",
    "name,requests,:eq,:sum,(,app,),:by",
    "name,requests,:eq,app,api,:eq,:and,:sum",
    "name,latency,:eq,(,50,90,99,),:percentiles",
    "name,latency,:eq,(,app,),:by,(,99,),:percentiles",
    "name,cpu,:eq,:sum,name,requests,:eq,:sum,:div",
    "name,cpu,:eq,:max,2,:mul,1,:add,(,region,),:by",
    "name,cpu,:eq,:sum,:integral",
    "name,cpu,:eq,:sum,:derivative",
    "name,cpu,:eq,:sum,5,3,:rolling-mean",
    "name,requests,:eq,:sum,3,:delay",
    "name,cpu,:eq,:sum,10,0.1,0.5,:des",
    "name,cpu,:eq,:sum,1h,:offset",
    "name,cpu,:eq,:sum,(,0h,1h,),:offset",
    "name,cpu,:eq,:max,(,node,),:by,max,3,:topk",
    "name,cpu,:eq,:max,(,node,),:by,avg,3,:bottomk",
    "name,cpu,:eq,:max,(,node,),:by,:stat-avg,50,:gt,:filter",
    "name,cpu,:eq,app,db,:eq,:and,:all",
    "name,nothing,:eq,:sum",
    "name,cpu,:eq,:sum,name,cpu,:eq,:count,(,app,),:by",
];

fn graph_url(base: &str, q: &str, window: (i64, i64), extra: &str) -> String {
    format!(
        "{base}/api/v1/graph?q={q}&s={}&e={}{extra}",
        window.0, window.1
    )
}

/// A cluster node on `urls` (16 partitions, one nats-server) with `extra` flags.
fn node(urls: &str, id: &str, extra: &[&str]) -> TestServer {
    let mut args = vec![
        "--cluster",
        urls,
        "--node-id",
        id,
        "--cluster-partitions",
        "16",
        "--cluster-replicas",
        "1",
    ];
    args.extend_from_slice(extra);
    TestServer::start(&args)
}

#[test]
fn a_cluster_answers_as_one_node() {
    let nats = nats_cluster(1);
    let urls = urls(&nats);
    let cluster: Vec<TestServer> = ["a", "b", "c"]
        .iter()
        .map(|id| {
            node(
                &urls,
                id,
                &[
                    "--cluster-owners",
                    "2",
                    "--cluster-member-ttl",
                    "4s",
                    "--max-age",
                    "4h",
                ],
            )
        })
        .collect();
    let single = TestServer::start(&["--max-age", "4h"]);

    // Three hours ending on the last whole minute.
    let now = now_ms();
    let end = now - now.rem_euclid(STEP);
    let start = end - POINTS * STEP;
    for (i, body) in bodies(start).iter().enumerate() {
        for target in std::iter::once(&single).chain(std::iter::once(&cluster[i % 3])) {
            let a = post_json(&target.at("/api/v1/publish"), body);
            assert_eq!(a.status, 200, "{}: {}", target.url, a.body);
        }
    }

    let window = (start, end + STEP);
    // Settled: every node sees three members, has caught up, and the cluster's count of
    // every datapoint equals the single node's.
    let census = |base: &str| {
        get(&graph_url(
            base,
            "name,(,cpu,requests,latency,),:in,:count,(,name,),:by,:integral",
            window,
            "&format=json",
        ))
    };
    let expected = census(&single.url).body;
    for n in &cluster {
        wait_for(&format!("{} to answer as the single node", n.url), || {
            let s = get(&n.at("/api/v1/stats")).json();
            let c = &s["cluster"];
            let settled = c["members"].as_array().is_some_and(|m| m.len() == 3)
                && c["catchingUp"] == 0
                && c["lag"] == 0;
            let a = census(&n.url);
            (settled && a.header("sextant-partial").is_none() && a.body == expected).then_some(())
        });
    }

    let mut compared = 0;
    for q in EXPRESSIONS {
        for extra in ["&format=json", "&format=json&step=5m"] {
            let url = |base: &str| graph_url(base, q, window, extra);
            let want = get(&url(&single.url));
            assert_eq!(want.status, 200, "{q}: {}", want.body);
            for n in &cluster {
                let got = get(&url(&n.url));
                assert_eq!(got.status, 200, "{q} on {}: {}", n.url, got.body);
                assert_eq!(got.header("sextant-partial"), None, "{q} on {}", n.url);
                assert_eq!(got.body, want.body, "{q}{extra} on {} differs", n.url);
                compared += 1;
            }
        }
    }
    // Every format, images included: the same lines draw the same pixels.
    let q = "name,cpu,:eq,:max,(,app,),:by,name,latency,:eq,(,90,),:percentiles";
    for format in ["csv", "txt", "std.json", "stats.json", "png", "svg"] {
        let url = |base: &str| graph_url(base, q, window, &format!("&format={format}"));
        let want = get_bytes(&url(&single.url));
        assert_eq!(want.status, 200, "{format}");
        for n in &cluster {
            let got = get_bytes(&url(&n.url));
            assert_eq!(got.status, 200, "{format} on {}", n.url);
            assert!(got.body == want.body, "{format} on {} differs", n.url);
            compared += 1;
        }
    }
    // The tags API: keys, values, verbose counts (series counted once), paging.
    // Each node publishes its own self-monitoring series: only the test's data is listed.
    let ours = "name,(,cpu,requests,latency,),:in";
    let tag_paths = [
        format!("/api/v1/tags?q={ours}"),
        format!("/api/v1/tags?q={ours}&verbose=1"),
        format!("/api/v1/tags/node?q={ours}&limit=7"),
        format!("/api/v1/tags/node?q={ours}&limit=7&offset=i-006"),
        "/api/v1/tags/app?q=name,cpu,:eq&verbose=1".to_string(),
        format!("/api/v1/tags/percentile?q={ours},app,web,:eq,:and&format=txt"),
        format!("/api/v1/tags/node?q={ours}&verbose=1&limit=5&offset=node,i-010"),
    ];
    for path in &tag_paths {
        let want = get(&single.at(path));
        assert_eq!(want.status, 200, "{path}: {}", want.body);
        for n in &cluster {
            let got = get(&n.at(path));
            assert_eq!(got.status, 200, "{path} on {}", n.url);
            assert_eq!(got.body, want.body, "{path} on {} differs", n.url);
            assert_eq!(
                got.header("x-nflx-atlas-next-offset"),
                want.header("x-nflx-atlas-next-offset"),
                "{path} on {}",
                n.url
            );
            compared += 1;
        }
    }
    // The Prometheus API: a range query fans out like a graph, label listings merge.
    let (s, e) = (window.0 / 1000, window.1 / 1000 - 60);
    let prom_paths = [
        (
            format!("/prometheus/api/v1/query_range?query=sum%20by%20(app)%20(cpu)&start={s}&end={e}&step=60"),
            r#""app":"api""#,
        ),
        (
            format!("/prometheus/api/v1/query?query=max(cpu)&time={}", e - 120),
            r#""value":["#,
        ),
        (
            "/prometheus/api/v1/label/node/values?match[]=cpu".to_string(),
            "i-023",
        ),
        (
            format!("/prometheus/api/v1/series?match[]=cpu&start={s}&end={e}"),
            "i-023",
        ),
    ];
    for (path, holds) in &prom_paths {
        let want = get(&single.at(path));
        assert_eq!(want.status, 200, "{path}: {}", want.body);
        assert!(want.body.contains(holds), "{path}: {}", want.body);
        for n in &cluster {
            let got = get(&n.at(path));
            assert_eq!(got.body, want.body, "{path} on {} differs", n.url);
            assert_eq!(got.header("sextant-partial"), None, "{path} on {}", n.url);
            compared += 1;
        }
    }
    // A regular expression that gives up on a value fails the query on the node that
    // evaluated it, even when that is a peer: the same 400 as one node's.
    let long = "4".repeat(40);
    let body = format!(
        r#"{{"metrics":[{{"tags":{{"name":"req","status":"{long}","atlas.dstype":"gauge"}},"timestamp":{},"value":1}}]}}"#,
        end - STEP
    );
    for target in [&single, &cluster[0]] {
        assert_eq!(post_json(&target.at("/api/v1/publish"), &body).status, 200);
    }
    let bad = "status,(?:(?=4)4|4)*x,:re";
    let bad_paths = [
        graph_url(
            "",
            &format!("name,req,:eq,{bad},:and"),
            window,
            "&format=json",
        ),
        format!("/api/v1/tags/status?q={bad}"),
    ];
    for n in &cluster {
        wait_for(&format!("the long value on {}", n.url), || {
            let a = get(&n.at("/api/v1/tags/status?q=name,req,:eq"));
            a.body.contains(&long).then_some(())
        });
    }
    for path in &bad_paths {
        for n in std::iter::once(&single).chain(&cluster) {
            let a = get(&n.at(path));
            assert_eq!(a.status, 400, "{path} on {}: {}", n.url, a.body);
            assert!(
                a.body.contains("backtracking steps"),
                "{path} on {}: {}",
                n.url,
                a.body
            );
        }
    }
    // Dashboards are the cluster's: saved on one node, shown, listed and deleted on others.
    let doc =
        r#"{"title":"cpu","graphs":[{"title":"by app","q":"name,cpu,:eq,:sum,(,app,),:by"}]}"#;
    let saved = put_json(&cluster[0].at("/api/v1/dashboards/team.cpu"), doc);
    assert_eq!(saved.status, 200, "{}", saved.body);
    let shown = get(&cluster[1].at("/api/v1/dashboards/team.cpu"));
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(
        shown.json()["graphs"][0]["q"],
        "name,cpu,:eq,:sum,(,app,),:by"
    );
    let listed = get(&cluster[2].at("/api/v1/dashboards"));
    assert!(listed.body.contains("team.cpu"), "{}", listed.body);
    assert_eq!(
        delete(&cluster[2].at("/api/v1/dashboards/team.cpu")).status,
        204
    );
    assert_eq!(
        get(&cluster[0].at("/api/v1/dashboards/team.cpu")).status,
        404
    );
    // Self-monitoring goes through the stream too: every node answers for all three.
    for n in &cluster {
        // Meters are written once a step (a minute here): up to a minute after start.
        wait_until(&format!("every node's meters on {}", n.url), || {
            let a = get(&n.at("/api/v1/tags/nf.node?q=name,sextant.store.series,:eq"));
            (a.status == 200 && a.body == r#"["a","b","c"]"#).then_some(())
        });
    }
    assert!(
        compared > 3 * EXPRESSIONS.len(),
        "{compared} answers compared"
    );
    drop(nats);
}

/// When a partition has no live owner the answer still comes back, marked partial on
/// every format; `strict=1` refuses it.
#[test]
fn answers_missing_partitions_are_marked_partial() {
    let nats = nats_cluster(1);
    let urls = urls(&nats);
    let node = |id: &str| {
        // One owner, and a member TTL longer than the test: the killed node's
        // partitions stay without a live owner.
        node(
            &urls,
            id,
            &[
                "--cluster-owners",
                "1",
                "--cluster-member-ttl",
                "60s",
                "--max-age",
                "10m",
            ],
        )
    };
    let a = node("a");
    let b = node("b");
    let owned = |n: &TestServer| {
        let c = get(&n.at("/api/v1/stats")).json()["cluster"].clone();
        let settled = c["members"].as_array().is_some_and(|m| m.len() == 2)
            && c["catchingUp"] == 0
            && c["withoutLiveOwner"] == 0;
        settled.then(|| c["owned"].as_u64().unwrap_or(0))
    };
    wait_for("a to see both members", || owned(&a));
    let lost = wait_for("b to own its partitions", || owned(&b));
    assert!(lost > 0, "b owns no partition of 16");
    // Two steps back, so the point's interval is inside a window ending now.
    let ts = now_ms() - 120_000;
    let body = format!(
        r#"{{"metrics":[{}]}}"#,
        (0..40)
            .map(|i| format!(
                r#"{{"tags":{{"name":"cpu","atlas.dstype":"gauge","node":"i-{i}"}},"timestamp":{ts},"value":1}}"#
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    let published = post_json(&a.at("/api/v1/publish"), &body);
    assert_eq!(published.status, 200, "{}", published.body);
    let graph = |extra: &str| {
        get(&a.at(&format!(
            "/api/v1/graph?q=name,cpu,:eq,:count&s=e-5m&e=now{extra}"
        )))
    };
    wait_for("every series visible", || {
        (graph("&format=json").body.contains("[40.0]")).then_some(())
    });
    b.kill();
    let expected = format!("missing={lost}; partitions=16");
    let json = wait_for("the answer marked partial", || {
        let a = graph("&format=json");
        (a.header("sextant-partial") == Some(expected.as_str())).then_some(a)
    });
    assert_eq!(json.status, 200, "{}", json.body);
    assert!(
        json.body.contains(&format!(
            r#""partial":{{"missingPartitions":{lost},"partitions":16}}"#
        )),
        "{}",
        json.body
    );
    assert!(!json.body.contains("[40.0]"), "{}", json.body);
    let svg = graph("&format=svg");
    assert_eq!(svg.header("sextant-partial"), Some(expected.as_str()));
    assert!(
        svg.body.contains(&format!(
            "Partial answer: {lost} of 16 partitions had no live owner"
        )),
        "the legend warns"
    );
    let chart = get(&a.at("/api/v1/chart?q=name,cpu,:eq,:count&s=e-5m"));
    assert!(chart.body.contains(r#""partial":{"#), "{}", chart.body);
    let strict = graph("&format=json&strict=1");
    assert_eq!(strict.status, 503, "{}", strict.body);
    assert!(strict.body.contains("strict=1"), "{}", strict.body);
    let tags = get(&a.at("/api/v1/tags/node"));
    assert_eq!(tags.status, 200);
    assert_eq!(tags.header("sextant-partial"), Some(expected.as_str()));
    drop(nats);
}

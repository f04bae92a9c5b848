//! The cluster on NATS JetStream end to end (issue 14, docs/cluster.md): 3 nats-servers as
//! a JetStream cluster and 3 Sextant nodes on 127.0.0.1 with ephemeral ports, stopped by
//! PID. Publishes through every node, partitions stored on exactly F nodes, SIGKILL of a
//! node during a load and its restart resuming from its checkpoint, SIGKILL of a
//! nats-server, with nothing acknowledged lost or applied twice; a fourth node joining
//! takes partitions, whose old owners drop them once it is live; 503 while NATS is gone.

#[path = "common/cluster.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    nats_cluster, nats_urls, node_stats, node_with, stats, wait_until, DataDir, OWNERS, PARTITIONS,
};
use sextant_e2e::{get, now_ms, post_json, TestServer, DEADLINE};

const LOAD_SERIES: u64 = 40;

fn node(urls: &str, id: &str) -> TestServer {
    node_with(urls, id, &[])
}

/// Checkpoints `n` wrote since it started.
fn checkpoints(n: &TestServer) -> u64 {
    node_stats(n)["checkpoint"]["written"].as_u64().unwrap_or(0)
}

/// Asserts every series of `name` in `expected` is held by exactly [`OWNERS`] nodes.
fn assert_copies(nodes: &[&TestServer], name: &str, since: i64, expected: &BTreeMap<String, f64>) {
    let held: Vec<BTreeMap<String, f64>> = nodes.iter().map(|n| sums(n, name, since)).collect();
    for nr in expected.keys() {
        let copies = held.iter().filter(|h| h.contains_key(nr)).count();
        assert_eq!(copies, OWNERS, "series {name} nr={nr} is on {copies} nodes");
    }
}

/// The partitions `n` owns.
fn owned(n: &TestServer) -> BTreeSet<u32> {
    stats(n)["partitions"]
        .as_object()
        .map(|m| m.keys().filter_map(|k| k.parse().ok()).collect())
        .unwrap_or_default()
}

/// Waits until every node sees every node, owns its share and has caught up.
fn wait_settled(nodes: &[&TestServer], ids: &[&str]) {
    wait_until("the cluster to settle", || {
        let mut total = 0;
        for n in nodes {
            let s = stats(n);
            let members: Vec<&str> = s["members"]
                .as_array()?
                .iter()
                .filter_map(|m| m.as_str())
                .collect();
            if members != ids || s["catchingUp"] != 0 || s["lag"] != 0 {
                return None;
            }
            total += s["owned"].as_u64()?;
        }
        (total == u64::from(PARTITIONS) * OWNERS as u64).then_some(())
    });
}

fn partition(tags: &[(&str, &str)]) -> u32 {
    (sextant_store::identity(tags) % u128::from(PARTITIONS)) as u32
}

/// Per series (`nr` tag) of `name` on `n`: the sum of everything stored.
fn sums(n: &TestServer, name: &str, since: i64) -> BTreeMap<String, f64> {
    let a = get(&n.at(&format!(
        "/api/v1/graph?q=name,{name},:eq,:all&s={}&e={}&step=1s&format=std.json&local=1",
        since - 2000,
        now_ms() + 2000
    )));
    assert_eq!(a.status, 200, "{}", a.body);
    let j = a.json();
    let metrics = j["metrics"].as_array().cloned().unwrap_or_default();
    let rows = j["values"].as_array().cloned().unwrap_or_default();
    metrics
        .iter()
        .enumerate()
        .map(|(col, m)| {
            let nr = m["nr"].as_str().unwrap_or("?").to_string();
            (nr, rows.iter().filter_map(|r| r[col].as_f64()).sum())
        })
        .collect()
}

fn body(name: &str, ts: i64, series: impl Iterator<Item = (String, f64)>) -> String {
    let metrics: Vec<String> = series
        .map(|(nr, v)| {
            format!(
                r#"{{"tags":{{"name":"{name}","atlas.dstype":"sum","nr":"{nr}"}},"timestamp":{ts},"value":{v}}}"#
            )
        })
        .collect();
    format!(r#"{{"metrics":[{}]}}"#, metrics.join(","))
}

fn tags<'a>(name: &'a str, nr: &'a str) -> [(&'a str, &'a str); 3] {
    [("atlas.dstype", "sum"), ("name", name), ("nr", nr)]
}

/// Waits until every owner of every series of `name` holds exactly `expected`'s sum.
fn wait_exact(nodes: &[&TestServer], name: &str, since: i64, expected: &BTreeMap<String, f64>) {
    let start = Instant::now();
    loop {
        let mut wrong = Vec::new();
        for n in nodes {
            let mine = owned(n);
            let got = sums(n, name, since);
            for (nr, want) in expected {
                if mine.contains(&partition(&tags(name, nr))) && got.get(nr) != Some(want) {
                    wrong.push(format!("{} nr={nr}: {:?} != {want}", n.url, got.get(nr)));
                }
            }
        }
        if wrong.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE * 2,
            "owners disagree with what was acknowledged: {wrong:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn cluster_on_jetstream() {
    let mut nats = nats_cluster();
    let urls = nats_urls(&nats);
    let ids = ["n0", "n1", "n2"];
    let n0 = node(&urls, "n0");
    let n1 = node(&urls, "n1");
    // n2 keeps checkpoints (one a second) in a directory that outlives its process.
    let n2_dir = DataDir::new("n2");
    let n2_args = ["--data-dir", n2_dir.path(), "--checkpoint-interval", "1s"];
    let mut n2 = node_with(&urls, "n2", &n2_args);
    wait_settled(&[&n0, &n1, &n2], &ids);
    let since = now_ms();

    // Publish through every node; each series ends up on exactly F nodes, its owners.
    let mut expected = BTreeMap::new();
    for (i, n) in [&n0, &n1, &n2].iter().enumerate() {
        let series: Vec<(String, f64)> = (0..20)
            .map(|k| (format!("{i}-{k}"), 1.0 + k as f64))
            .collect();
        expected.extend(series.iter().cloned());
        let a = post_json(
            &n.at("/api/v1/publish"),
            &body("spread", now_ms(), series.into_iter()),
        );
        assert_eq!(a.status, 200, "{}", a.body);
    }
    wait_exact(&[&n0, &n1, &n2], "spread", since, &expected);
    assert_copies(&[&n0, &n1, &n2], "spread", since, &expected);

    // A load through n0 and n1 while n2 is SIGKILLed and restarted from its checkpoint,
    // then one nats-server is SIGKILLed and restarted: every publish is acknowledged, and
    // every owner ends up with exactly the acknowledged sums, none applied twice.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(BTreeMap::<String, f64>::new()));
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let targets = [n0.url.clone(), n1.url.clone()];
    let load = {
        let (stop, acked, refused, sent) =
            (stop.clone(), acked.clone(), refused.clone(), sent.clone());
        std::thread::spawn(move || {
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let v = (round % 7 + 1) as f64;
                let series: Vec<(String, f64)> =
                    (0..LOAD_SERIES).map(|k| (k.to_string(), v)).collect();
                let url = format!("{}/api/v1/publish", targets[(round % 2) as usize]);
                let a = post_json(&url, &body("load", now_ms(), series.iter().cloned()));
                sent.fetch_add(1, Ordering::Relaxed);
                if a.status == 200 {
                    let mut acked = acked.lock().expect("lock");
                    for (nr, v) in series {
                        *acked.entry(nr).or_insert(0.0) += v;
                    }
                } else {
                    refused
                        .lock()
                        .expect("lock")
                        .push(format!("{}: {}", a.status, a.body));
                }
            }
        })
    };
    let wait_sent = |more: u64| {
        let target = sent.load(Ordering::Relaxed) + more;
        wait_until("the load to go on", || {
            (sent.load(Ordering::Relaxed) >= target).then_some(())
        });
    };
    wait_sent(20);
    // A checkpoint taken during the load, so the restart resumes in the middle of it.
    let written = checkpoints(&n2);
    wait_until("a checkpoint of n2 during the load", || {
        (checkpoints(&n2) > written).then_some(())
    });
    wait_sent(5);
    // SIGKILL by PID, as a crash; the restarted node loads its checkpoint and resumes
    // each partition after the sequence saved for it.
    n2.kill();
    wait_sent(20);
    n2 = node_with(&urls, "n2", &n2_args);
    let resumed = wait_until("n2 to resume partitions from its checkpoint", || {
        let s = stats(&n2);
        let resumed: Vec<u64> = s["partitions"]
            .as_object()?
            .values()
            .filter_map(|p| p["resumedFrom"].as_u64())
            .collect();
        (!resumed.is_empty()).then_some(resumed)
    });
    assert!(resumed.iter().all(|&seq| seq > 0), "{resumed:?}");
    wait_sent(20);
    nats[1].kill();
    wait_sent(30);
    nats[1].start();
    wait_sent(20);
    stop.store(true, Ordering::Relaxed);
    load.join().expect("the load generator");
    let refused = refused.lock().expect("lock").clone();
    assert!(
        refused.is_empty(),
        "publishes refused under R=3: {refused:?}"
    );
    let acked = acked.lock().expect("lock").clone();
    assert!(!acked.is_empty());
    wait_settled(&[&n0, &n1, &n2], &ids);
    wait_exact(&[&n0, &n1, &n2], "load", since, &acked);

    // A fourth node joins: it takes partitions from the others, which stop consuming
    // them at once and drop their series once every new owner reports them live. Every
    // series is again on exactly F nodes, with the acknowledged sums.
    let before: Vec<BTreeSet<u32>> = [&n0, &n1, &n2].iter().map(|n| owned(n)).collect();
    let n3 = node(&urls, "n3");
    let all = [&n0, &n1, &n2, &n3];
    wait_settled(&all, &["n0", "n1", "n2", "n3"]);
    let moved: Vec<u64> = [&n0, &n1, &n2]
        .iter()
        .zip(&before)
        .map(|(n, was)| was.difference(&owned(n)).count() as u64)
        .collect();
    assert!(moved.iter().sum::<u64>() > 0, "n3 took no partition");
    wait_until(
        "the moved partitions to be dropped by their old owners",
        || {
            [&n0, &n1, &n2]
                .iter()
                .zip(&moved)
                .all(|(n, &m)| {
                    let s = stats(n);
                    s["released"].as_array().is_some_and(|r| r.is_empty())
                        && s["dropped"]["partitions"].as_u64() >= Some(m)
                })
                .then_some(())
        },
    );
    wait_exact(&all, "spread", since, &expected);
    wait_exact(&all, "load", since, &acked);
    assert_copies(&all, "spread", since, &expected);
    assert_copies(&all, "load", since, &acked);

    // NATS gone entirely: 503 with Retry-After after the timeout, never a hang or a 200;
    // publishes are acknowledged again once it is back.
    for s in &mut nats {
        s.kill();
    }
    let probe = || body("probe", now_ms(), std::iter::once(("0".to_string(), 1.0)));
    let a = post_json(&n0.at("/api/v1/publish"), &probe());
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.header("retry-after"), Some("1"));
    for s in &mut nats {
        s.start();
    }
    wait_until("publishes to be acknowledged again", || {
        (post_json(&n1.at("/api/v1/publish"), &probe()).status == 200).then_some(())
    });
}

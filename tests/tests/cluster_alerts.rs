//! Alerting in a cluster end to end (issue 18, docs/cluster.md "Alerting in a cluster"):
//! 3 nats-servers as a JetStream cluster and 3 Sextant nodes on 127.0.0.1, a rule that
//! fires, and a real webhook receiver in this process counting deliveries. The node
//! evaluating the rule is SIGKILLed (by PID); the rule moves to another node with its
//! state (still firing, same `activeAt`) and is not notified again; its resolution is
//! notified exactly once. Rules given to one node and silences created on any node reach
//! every node.
//!
//! Each partition has 2 owners of the 3 nodes and the rule's series span partitions, so
//! the evaluating node reads them through the query fan-out (docs/cluster.md, "Queries").

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[path = "common/webhook.rs"]
mod webhook;

use serde_json::{json, Value};
use sextant_e2e::nats::{nats_cluster, wait_until};
use sextant_e2e::{delete, get, now_ms, post_json, TestServer};

const RULE: &str = "MoveMe";
const STEP_MS: i64 = 1000;

/// Publishes the gauge `name=alertmove` every 100 ms through a node that can be changed
/// while it runs (the node it used may be killed), until dropped.
struct Publisher {
    value: Arc<AtomicU64>,
    target: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Publisher {
    fn start(node: &TestServer, value: f64) -> Publisher {
        let value = Arc::new(AtomicU64::new(value.to_bits()));
        let target = Arc::new(Mutex::new(node.url.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let (v, t, s) = (value.clone(), target.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into();
            while !s.load(Ordering::Relaxed) {
                let x = f64::from_bits(v.load(Ordering::Relaxed));
                // Several series, in different partitions: `:max` needs all of them.
                let ts = now_ms();
                let metrics: Vec<_> = (0..6)
                    .map(|i| json!({
                        "tags": {"name": "alertmove", "atlas.dstype": "gauge", "shard": format!("s{i}")},
                        "timestamp": ts, "value": if i == 3 { x } else { 0.0 },
                    }))
                    .collect();
                let body = json!({ "metrics": metrics });
                let url = format!("{}/api/v1/publish", t.lock().expect("lock"));
                // A request to a node killed meanwhile fails; the next goes elsewhere.
                let _ = agent
                    .post(&url)
                    .header("content-type", "application/json")
                    .send(body.to_string().as_bytes());
                // Paces the feed (several samples per 1 s step), not a wait for a result.
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Publisher {
            value,
            target,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, v: f64) {
        self.value.store(v.to_bits(), Ordering::Relaxed);
    }

    fn through(&self, node: &TestServer) {
        *self.target.lock().expect("lock") = node.url.clone();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A scratch directory for the rules file, removed at the end.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn node(urls: &str, id: &str, extra: &[&str]) -> TestServer {
    let mut args = vec![
        "--cluster",
        urls,
        "--node-id",
        id,
        "--step",
        "1s",
        "--cluster-partitions",
        "8",
        "--cluster-replicas",
        "3",
        "--cluster-owners",
        "2",
        "--cluster-member-ttl",
        "4s",
        "--cluster-publish-timeout",
        "10s",
    ];
    args.extend_from_slice(extra);
    TestServer::start(&args)
}

/// The rule's alert instance as `n` reports it.
fn alert(n: &TestServer) -> Option<Value> {
    let a = get(&n.at("/api/v1/alerts"));
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["rule"] == RULE)
        .cloned()
}

/// The rule as `n` reports it in `/api/v1/rules`.
fn rule(n: &TestServer) -> Option<Value> {
    let a = get(&n.at("/api/v1/rules"));
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()["rules"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == RULE)
        .cloned()
}

/// Waits until `n`, evaluating the rule, has evaluated it at least `steps` more times
/// than at `since` (epoch ms): every chance to notify in between has passed.
fn wait_evaluations(n: &TestServer, since: i64, steps: i64) {
    wait_until("further evaluations by the rule's node", || {
        let r = rule(n)?;
        (r["lastEvaluationMs"].as_i64()? >= since + steps * STEP_MS).then_some(())
    });
}

#[test]
fn a_firing_alert_moves_with_its_node_and_is_notified_once() {
    let nats = nats_cluster(3);
    let urls = nats
        .iter()
        .map(|s| format!("nats://127.0.0.1:{}", s.port))
        .collect::<Vec<_>>()
        .join(",");
    let hook = webhook::Receiver::start();
    let dir = TempDir(std::env::temp_dir().join(format!("sextant-alerts-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let rules_file = dir.0.join("rules.toml");
    let rules = format!(
        "[[receivers]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\n\
         group_wait = \"0s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"1h\"\nbackoff = \"100ms\"\n\n\
         [[rules]]\nname = \"{RULE}\"\nexpr = \"name,alertmove,:eq,:max,50,:gt\"\nfor = \"2s\"\n\
         receivers = [\"hook\"]\n",
        hook.url
    );
    std::fs::write(&rules_file, rules).expect("write the rules file");
    let rules_path = rules_file.display().to_string();

    // Only n0 is given the rules file: n1 and n2 take the rules from the cluster.
    let ids = ["n0", "n1", "n2"];
    let mut nodes: Vec<Option<TestServer>> = ids
        .iter()
        .map(|id| {
            let extra: &[&str] = if *id == "n0" {
                &["--rules", &rules_path]
            } else {
                &[]
            };
            Some(node(&urls, id, extra))
        })
        .collect();
    let live = |nodes: &[Option<TestServer>]| -> Vec<usize> {
        (0..nodes.len()).filter(|&i| nodes[i].is_some()).collect()
    };
    wait_until("every node to see every node and the rule", || {
        nodes
            .iter()
            .flatten()
            .all(|n| {
                let s = get(&n.at("/api/v1/stats")).json();
                s["cluster"]["members"] == json!(ids) && rule(n).is_some()
            })
            .then_some(())
    });

    // A silence created on one node is listed and expired on another.
    let silence = post_json(
        &nodes[1].as_ref().expect("n1").at("/api/v1/silences"),
        &json!({"matchers": [{"name": "alertname", "value": "Other"}],
                "endsAt": "2099-01-01T00:00:00Z", "comment": "cluster-wide"})
        .to_string(),
    );
    assert_eq!(silence.status, 200, "{}", silence.body);
    let id = silence.json()["silenceID"]
        .as_str()
        .expect("a silence id")
        .to_string();
    let state_on = |n: &TestServer| -> Option<String> {
        let list = get(&n.at("/api/v1/silences")).json();
        list.as_array()?
            .iter()
            .find(|s| s["id"] == id.as_str())
            .and_then(|s| s["status"]["state"].as_str().map(String::from))
    };
    let n2 = nodes[2].as_ref().expect("n2");
    wait_until("the silence to reach n2", || {
        (state_on(n2).as_deref() == Some("active")).then_some(())
    });
    assert_eq!(
        delete(&n2.at(&format!("/api/v1/silences/{id}"))).status,
        200
    );
    let n0 = nodes[0].as_ref().expect("n0");
    wait_until("the expiry to reach n0", || {
        (state_on(n0).as_deref() == Some("expired")).then_some(())
    });

    // The condition holds: the rule fires on the node evaluating it, which notifies.
    let publisher = Publisher::start(n0, 90.0);
    let holder = wait_until("the rule to fire", || {
        let a = alert(nodes[0].as_ref()?)?;
        let by = a["evaluatedBy"].as_str()?;
        (a["state"] == "firing").then(|| ids.iter().position(|i| *i == by))?
    });
    // Read on another node, from the cluster's copy: the firing and what the receiver
    // was told are both saved, so the holder may die now.
    let other = (holder + 1) % ids.len();
    let fired = wait_until("the notification to be saved in the cluster", || {
        let a = alert(nodes[other].as_ref()?)?;
        (a["notified"]["hook"] == "firing").then_some(a)
    });
    assert_eq!(fired["state"], "firing", "{fired}");
    assert_eq!(fired["evaluatedBy"], ids[holder]);
    assert_eq!(hook.count("firing"), 1, "{:?}", hook.bodies());
    // Every node reports the same state and evaluator.
    for n in nodes.iter().flatten() {
        let a = alert(n).expect("the alert on every node");
        assert_eq!(a["evaluatedBy"], ids[holder], "{a}");
        assert_eq!(a["activeAt"], fired["activeAt"], "{a}");
    }

    // SIGKILL the holder; publish through a survivor. The rule moves once the holder's
    // member key expires.
    let survivor = live(&nodes)
        .into_iter()
        .find(|&i| i != holder)
        .expect("a survivor");
    publisher.through(nodes[survivor].as_ref().expect("survivor"));
    nodes[holder].take().expect("the holder").kill();
    let watcher = nodes[survivor].as_ref().expect("survivor");
    let (heir, moved) = wait_until("the rule to move to a live node", || {
        let a = alert(watcher)?;
        let by = a["evaluatedBy"].as_str()?;
        let heir = ids.iter().position(|i| *i == by)?;
        (heir != holder).then_some((heir, a))
    });
    assert!(nodes[heir].is_some(), "moved to a dead node: {moved}");
    assert_eq!(moved["state"], "firing", "{moved}");
    assert_eq!(moved["activeAt"], fired["activeAt"]);
    assert_eq!(moved["firedAt"], fired["firedAt"]);
    let heir_node = nodes[heir].as_ref().expect("heir");
    // Several evaluations (and notification rounds) later: no second "firing".
    wait_evaluations(heir_node, now_ms(), 3);
    assert_eq!(hook.count("firing"), 1, "{:?}", hook.bodies());
    assert_eq!(hook.count("resolved"), 0, "{:?}", hook.bodies());

    // The condition clears: the heir sends the resolution, once.
    publisher.set(10.0);
    wait_until("the resolved notification", || {
        (hook.count("resolved") >= 1).then_some(())
    });
    wait_evaluations(heir_node, now_ms(), 3);
    assert_eq!(hook.count("resolved"), 1, "{:?}", hook.bodies());
    assert_eq!(hook.count("firing"), 1, "{:?}", hook.bodies());
    let resolved = hook
        .bodies()
        .into_iter()
        .find(|b| b["status"] == "resolved")
        .expect("a resolved notification");
    assert_eq!(resolved["alerts"][0]["labels"]["alertname"], RULE);
    for n in nodes.iter().flatten() {
        wait_until("each live node to show the resolution", || {
            alert(n).filter(|a| a["state"] == "resolved" && a["notified"]["hook"] == "resolved")
        });
    }
    drop(publisher);
}

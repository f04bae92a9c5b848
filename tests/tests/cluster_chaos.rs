//! Chaos test of the cluster (issue 18, docs/cluster.md): 3 nats-servers (JetStream, R=3)
//! and 3 Sextant nodes on 127.0.0.1 under a bounded, paced load. During the load a random
//! node is SIGKILLed, later a random nats-server, and both are restarted on their ports
//! and data directories: the Chaos Monkey idea, drawn from a seed (`SEXTANT_CHAOS_SEED`,
//! else a random one, printed first) so a failure can be replayed.
//!
//! Throughout, every query sent to a live node answers 200, marked partial only while the
//! cluster is disturbed; afterwards every node counts every acknowledged datapoint exactly
//! once; an alert rule fires during the load and resolves after it, notified once each
//! although its evaluator may be the node killed (see [`CLUSTER_ALERTS`]).

#[path = "common/cluster.rs"]
mod common;
#[path = "common/webhook.rs"]
mod webhook;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use common::{js_ready, nats_cluster, nats_urls, node_with_env, stats, DataDir, PARTITIONS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use sextant_e2e::{now_ms, TestServer, DEADLINE};
use webhook::Receiver;

/// Datapoints per publish (a *round*): each a gauge of value 1 on a series of its own
/// (tags `round` and `point`), all at the round's timestamp. A gauge sent again at the same
/// timestamp is stored once (gauges keep the max), so a round whose answer was lost can be
/// sent again, and the cluster-wide sum of a round is the number of its points stored.
const POINTS: usize = 20;
/// Most rounds: the final check asks for one line per round, and a graph answer holds at
/// most 1024 lines (`--max-lines`). The plan's waits make a few hundred.
const MAX_ROUNDS: u64 = 1000;
/// The publisher sends one round per interval (~200 datapoints/s, a bounded load).
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// The query thread asks one question per interval.
const QUERY_EVERY: Duration = Duration::from_millis(200);
/// The cluster-wide question asked during the load.
const LOAD_QUERY: &str = "/api/v1/graph?q=name,chaos,:eq,:sum&s=e-1m&step=1s&format=stats.json";
/// Whether the alert assertions run (and a plan may kill the rule's evaluator). They need
/// cluster alerting (one evaluator per rule, its state in KV, from branch
/// `cluster-alerts`); without it every node evaluates the rule and each one notifies. The
/// rule and the receiver run either way.
const CLUSTER_ALERTS: bool = true;
/// The rule keeps firing this long after its condition stops: longer than a gap in the
/// load while a stream leader is re-elected (~5 s, docs/cluster.md) and a publish times
/// out (10 s), so it fires once for the whole load.
const KEEP_FIRING: &str = "20s";
/// Node ids.
const IDS: [&str; 3] = ["c0", "c1", "c2"];

/// What the seed decides. Waits are counted in acknowledged rounds, not seconds, so a
/// replay goes through the same states on a faster or slower machine.
#[derive(Debug)]
struct Plan {
    /// Index of the Sextant node to kill...
    node: usize,
    /// ...unless this says to kill the node evaluating the alert rule (so the rule moves
    /// while it fires).
    kill_evaluator: bool,
    /// Index of the nats-server to kill.
    nats: usize,
    /// Rounds acknowledged before the node is killed.
    warm_up: u64,
    /// Whether the node stays away until the others see its membership expire (so its
    /// partitions move and are rebuilt elsewhere), or comes back sooner.
    until_expired: bool,
    /// Rounds acknowledged between the node's kill and the nats-server's.
    between_kills: u64,
    /// Rounds acknowledged with the nats-server down (2 of 3 keep a quorum).
    nats_down: u64,
    /// Whether the node is restarted before the nats-server.
    node_first: bool,
    /// Rounds acknowledged between the two restarts.
    between_restarts: u64,
    /// Rounds acknowledged after the cluster is whole again.
    tail: u64,
}

impl Plan {
    fn draw(rng: &mut StdRng) -> Plan {
        Plan {
            node: rng.gen_range(0..IDS.len()),
            kill_evaluator: rng.gen_bool(0.5),
            nats: rng.gen_range(0..3),
            warm_up: rng.gen_range(15..40),
            until_expired: rng.gen_bool(0.5),
            between_kills: rng.gen_range(5..30),
            nats_down: rng.gen_range(10..40),
            node_first: rng.gen_bool(0.5),
            between_restarts: rng.gen_range(0..20),
            tail: rng.gen_range(20..40),
        }
    }
}

/// `SEXTANT_CHAOS_SEED`, or a fresh random seed.
fn seed() -> u64 {
    match std::env::var("SEXTANT_CHAOS_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("SEXTANT_CHAOS_SEED={s} is not a u64")),
        Err(_) => rand::random(),
    }
}

/// One Sextant node: fixed port and data directory, and its process while it runs.
///
/// The query thread holds a read guard of `server` for each request and a kill takes the
/// write guard, so a query is never cut short by a kill: every query must answer. The
/// publisher does not hold it: a publish cut short is what makes a datapoint uncertain.
struct Node {
    id: &'static str,
    /// `http://127.0.0.1:<port>`, the same after a restart.
    url: String,
    /// `127.0.0.1:<port>`.
    listen: String,
    args: Vec<String>,
    _dir: DataDir,
    server: RwLock<Option<TestServer>>,
}

impl Node {
    /// Starts node `id` on a free port; `args` are given at every start.
    fn start(urls: &str, id: &'static str, rules: &str) -> Node {
        let dir = DataDir::new(&format!("chaos-{id}"));
        let args: Vec<String> = [
            "--data-dir",
            dir.path(),
            // A checkpoint a second, so a restart resumes in the middle of the load.
            "--checkpoint-interval",
            "1s",
            // A round retried after a long NATS outage keeps its timestamp: accept it.
            "--max-age",
            "5m",
            "--rules",
            rules,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let server = Self::launch(urls, id, "127.0.0.1:0", &args);
        let listen = server
            .url
            .strip_prefix("http://")
            .expect("an http URL")
            .to_string();
        Node {
            id,
            url: server.url.clone(),
            listen,
            args,
            _dir: dir,
            server: RwLock::new(Some(server)),
        }
    }

    fn launch(urls: &str, id: &str, listen: &str, args: &[String]) -> TestServer {
        let mut all = vec!["--listen", listen];
        all.extend(args.iter().map(String::as_str));
        // Warnings and errors only (a checkpoint a second on three nodes is a lot of
        // lines), unless SEXTANT_CHAOS_LOG says otherwise for a replay.
        let log = std::env::var("SEXTANT_CHAOS_LOG").unwrap_or_else(|_| "warn".into());
        node_with_env(urls, id, &all, &[("RUST_LOG", &log)])
    }

    /// SIGKILL by PID (after any query in flight to it has answered).
    fn kill(&self) {
        let server = self.server.write().expect("node lock").take();
        if let Some(s) = server {
            s.kill();
        }
    }

    /// Starts the node again on its port, with its data directory.
    fn restart(&self, urls: &str) {
        let server = Self::launch(urls, self.id, &self.listen, &self.args);
        assert_eq!(server.url, self.url, "{} came back elsewhere", self.id);
        *self.server.write().expect("node lock") = Some(server);
    }

    fn alive(&self) -> bool {
        self.server.read().expect("node lock").is_some()
    }
}

/// What the load threads share with the test.
struct Load<'a> {
    nodes: &'a [Node],
    /// No new rounds, no more queries: the publisher retries what is uncertain, then ends.
    stop: AtomicBool,
    /// End at once (the test is failing).
    abort: AtomicBool,
    /// Rounds acknowledged so far.
    acked: AtomicU64,
    /// Queries answered so far.
    answered: AtomicU64,
    /// The node a publish is in flight to (its index + 1; 0: none).
    publishing_to: AtomicUsize,
}

impl Load<'_> {
    /// A random node that runs now.
    fn pick(&self, rng: &mut StdRng) -> Option<(usize, &Node)> {
        let live: Vec<(usize, &Node)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.alive())
            .collect();
        (!live.is_empty()).then(|| live[rng.gen_range(0..live.len())])
    }
}

/// Sets `abort` when dropped, so a failing test stops the load threads (and the scope
/// joining them ends, and every process is killed) instead of hanging.
struct AbortOnDrop<'a>(&'a AtomicBool);

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A clock ticking every `every`: `wait` returns at the next tick, at once when late (and
/// the ticks then restart from now, so a slow request is not followed by a burst).
struct Pace {
    every: Duration,
    next: Instant,
}

impl Pace {
    fn new(every: Duration) -> Pace {
        Pace {
            every,
            next: Instant::now(),
        }
    }

    fn wait(&mut self) {
        let now = Instant::now();
        if self.next > now {
            std::thread::sleep(self.next - now);
        } else {
            self.next = now;
        }
        self.next += self.every;
    }
}

/// An HTTP answer.
struct Reply {
    status: u16,
    /// The `sextant-partial` header.
    partial: Option<String>,
    body: String,
}

/// One request on a fresh connection (a pooled one may lead to a killed process); a
/// transport error is an `Err`, not a panic: the publisher expects some.
fn send(url: &str, body: Option<&str>) -> Result<Reply, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let r = match body {
        Some(b) => agent
            .post(url)
            .header("content-type", "application/json")
            .send(b),
        None => agent.get(url).call(),
    };
    let mut r = r.map_err(|e| e.to_string())?;
    let partial = r
        .headers()
        .get("sextant-partial")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok(Reply {
        status,
        partial,
        body,
    })
}

fn round_body(round: u64, ts: i64) -> String {
    let metrics: Vec<String> = (0..POINTS)
        .map(|k| {
            format!(
                r#"{{"tags":{{"name":"chaos","atlas.dstype":"gauge","round":"{round}","point":"{k}"}},"timestamp":{ts},"value":1}}"#
            )
        })
        .collect();
    format!(r#"{{"metrics":[{}]}}"#, metrics.join(","))
}

/// What the publisher sent and what it knows of each round's fate.
#[derive(Default)]
struct Ledger {
    /// Every round and its timestamp (kept for its retries).
    ts: BTreeMap<u64, i64>,
    /// Rounds answered 200: every point stored.
    acked: BTreeSet<u64>,
    /// Rounds answered 503 or cut short, never acknowledged since: anything from none to
    /// all of their points may be stored.
    uncertain: BTreeSet<u64>,
    /// Answers that are neither (a retried gauge is never refused).
    unexpected: Vec<String>,
    attempts: u64,
    retries: u64,
    /// The longest time without an acknowledgement: what [`KEEP_FIRING`] must outlast.
    longest_gap: Duration,
}

/// Sends a round to a random live node every [`PUBLISH_EVERY`], an uncertain round again
/// (same timestamp) before any new one, until stopped and nothing is uncertain.
fn publish(load: &Load<'_>, mut rng: StdRng) -> Ledger {
    let mut ledger = Ledger::default();
    let mut retry: VecDeque<u64> = VecDeque::new();
    let mut pace = Pace::new(PUBLISH_EVERY);
    let mut stopped_at = None;
    let mut last_ack = Instant::now();
    while !load.abort.load(Ordering::Relaxed) {
        if load.stop.load(Ordering::Relaxed) {
            let since = *stopped_at.get_or_insert_with(Instant::now);
            if retry.is_empty() || since.elapsed() > DEADLINE {
                break;
            }
        }
        pace.wait();
        let round = match retry.pop_front() {
            Some(r) => {
                ledger.retries += 1;
                r
            }
            None if stopped_at.is_none() && (ledger.ts.len() as u64) < MAX_ROUNDS => {
                let r = ledger.ts.len() as u64;
                ledger.ts.insert(r, now_ms() / 1000 * 1000);
                r
            }
            None => continue,
        };
        let Some((i, node)) = load.pick(&mut rng) else {
            retry.push_front(round);
            continue;
        };
        ledger.attempts += 1;
        let url = format!("{}/api/v1/publish", node.url);
        load.publishing_to.store(i + 1, Ordering::SeqCst);
        let answer = send(&url, Some(&round_body(round, ledger.ts[&round])));
        load.publishing_to.store(0, Ordering::SeqCst);
        match answer {
            Ok(a) if a.status == 200 => {
                ledger.acked.insert(round);
                ledger.uncertain.remove(&round);
                ledger.longest_gap = ledger.longest_gap.max(last_ack.elapsed());
                last_ack = Instant::now();
                load.acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(a) if a.status == 503 => {
                ledger.uncertain.insert(round);
                retry.push_back(round);
            }
            Err(_) => {
                ledger.uncertain.insert(round);
                retry.push_back(round);
            }
            Ok(a) => ledger.unexpected.push(format!(
                "round {round} via {}: {} {}",
                node.id, a.status, a.body
            )),
        }
    }
    ledger
}

/// One query of the query thread.
struct Asked {
    node: &'static str,
    sent: Instant,
    got: Instant,
    reply: Result<Reply, String>,
    /// For a partial answer: what every node showed right after it.
    seen: Option<String>,
}

/// Asks [`LOAD_QUERY`] of a random live node every [`QUERY_EVERY`] until stopped.
fn ask(load: &Load<'_>, mut rng: StdRng) -> Vec<Asked> {
    let mut asked = Vec::new();
    let mut pace = Pace::new(QUERY_EVERY);
    while !load.stop.load(Ordering::Relaxed) && !load.abort.load(Ordering::Relaxed) {
        pace.wait();
        let Some((_, node)) = load.pick(&mut rng) else {
            continue;
        };
        let guard = node.server.read().expect("node lock");
        let Some(server) = guard.as_ref() else {
            continue; // killed since it was picked
        };
        let sent = Instant::now();
        let reply = send(&server.at(LOAD_QUERY), None);
        let got = Instant::now();
        drop(guard);
        let partial = reply.as_ref().is_ok_and(|r| r.partial.is_some());
        asked.push(Asked {
            node: node.id,
            sent,
            got,
            reply,
            seen: partial.then(|| snapshot(load.nodes)),
        });
        load.answered.fetch_add(1, Ordering::Relaxed);
    }
    asked
}

/// `missing=N; partitions=P` from a `sextant-partial` header.
fn header_partial(h: &str) -> Option<(u64, u64)> {
    let (m, p) = h.split_once(';')?;
    let m = m.trim().strip_prefix("missing=")?.parse().ok()?;
    let p = p.trim().strip_prefix("partitions=")?.parse().ok()?;
    Some((m, p))
}

/// The `"partial":{...}` field of a JSON answer (read as text: `stats.json` may hold a
/// bare `NaN`, which is not JSON).
fn body_partial(body: &str) -> Option<(u64, u64)> {
    let at = body.find("\"partial\":")? + "\"partial\":".len();
    let end = at + body[at..].find('}')? + 1;
    let v: Value = serde_json::from_str(&body[at..end]).ok()?;
    Some((v["missingPartitions"].as_u64()?, v["partitions"].as_u64()?))
}

/// The `cluster` stats of every node that runs; with `all`, an error naming any that
/// does not.
fn seen(nodes: &[Node], all: bool) -> Result<BTreeMap<&'static str, Value>, String> {
    let mut seen = BTreeMap::new();
    for n in nodes {
        let guard = n.server.read().expect("node lock");
        match guard.as_ref() {
            Some(server) => {
                seen.insert(n.id, stats(server));
            }
            None if all => return Err(format!("{} is down", n.id)),
            None => {}
        }
    }
    Ok(seen)
}

/// Why the cluster is not whole yet ([`common::not_whole`]), or `None`.
fn not_whole(nodes: &[Node], caught_up: bool) -> Option<String> {
    match seen(nodes, true) {
        Ok(seen) => common::not_whole(&seen, &IDS, caught_up),
        Err(why) => Some(why),
    }
}

/// What the running nodes show of the cluster, for failure messages.
fn snapshot(nodes: &[Node]) -> String {
    seen(nodes, false)
        .map(|seen| common::describe(&seen))
        .unwrap_or_default()
}

/// How long the cluster must be seen whole, poll after poll, before the test counts it
/// whole: a partition consumer whose nats-server went away notices only after 2 s
/// without a message (`IDLE` in server/src/cluster/consume.rs), and its peers hear of it
/// at the next heartbeat (1 s). Seen whole for longer, no such failure is left hidden.
const QUIET: Duration = Duration::from_secs(4);

/// Waits until JetStream (every stream led, every replica current) and the nodes
/// ([`not_whole`]) have been whole at every poll for [`QUIET`]; the last reason on a
/// timeout.
fn wait_whole(nodes: &[Node], nats: &mut [common::Nats], caught_up: bool) {
    let start = Instant::now();
    let mut whole_since: Option<Instant> = None;
    loop {
        let running = nats.iter_mut().find_map(|s| s.running().then_some(s.port));
        let why = match running {
            Some(port) => common::js_not_whole(port),
            None => Some("no nats-server runs".to_string()),
        }
        .or_else(|| not_whole(nodes, caught_up));
        match why {
            None => {
                if whole_since.get_or_insert_with(Instant::now).elapsed() >= QUIET {
                    return;
                }
            }
            Some(why) => {
                whole_since = None;
                assert!(
                    start.elapsed() < DEADLINE * 2,
                    "the cluster is not whole again: {why}"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `n` more rounds are acknowledged.
fn wait_acked(load: &Load<'_>, n: u64) {
    let target = load.acked.load(Ordering::Relaxed) + n;
    common::wait_until(&format!("{n} more acknowledged rounds"), || {
        (load.acked.load(Ordering::Relaxed) >= target).then_some(())
    });
}

/// Notifications about the rule whose group status is `status`.
fn notified(hook: &Receiver, status: &str) -> usize {
    hook.bodies()
        .iter()
        .filter(|b| b["groupLabels"]["alertname"] == "ChaosLoad" && b["status"] == status)
        .count()
}

/// Distinct `startsAt` of the rule's alerts: one per time it started firing.
fn starts(hook: &Receiver) -> BTreeSet<String> {
    hook.bodies()
        .iter()
        .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["alertname"] == "ChaosLoad")
        .filter_map(|a| a["startsAt"].as_str().map(str::to_string))
        .collect()
}

/// The rules file every node is given: `ChaosLoad` holds while datapoints of the load
/// arrive, and resolves [`KEEP_FIRING`] after they stop.
fn rules(hook: &str) -> String {
    format!(
        r#"[[receivers]]
name = "hook"
kind = "webhook"
url = "{hook}"
send_resolved = true
group_by = ["alertname"]
group_wait = "0s"
group_interval = "1s"
repeat_interval = "1h"
backoff = "100ms"

[[rules]]
name = "ChaosLoad"
expr = "name,chaos,:eq,:count,0,:gt"
keep_firing_for = "{KEEP_FIRING}"
lookback = "1m"
no_data = "ok"
receivers = ["hook"]
"#
    )
}

/// Prints `what` with the time since the test started.
fn log(t0: Instant, what: &str) {
    println!("[{:6.1} s] {what}", t0.elapsed().as_secs_f64());
}

/// The index of the node evaluating the rule, as `/api/v1/rules` names it
/// (`evaluatedBy`, cluster alerting).
fn evaluator(nodes: &[Node]) -> usize {
    common::wait_until("a node to name the rule's evaluator", || {
        let a = send(&format!("{}/api/v1/rules", nodes[0].url), None).ok()?;
        let rules: Value = serde_json::from_str(&a.body).ok()?;
        let by = rules["rules"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == "ChaosLoad")?["evaluatedBy"]
            .as_str()?
            .to_string();
        IDS.iter().position(|id| *id == by)
    })
}

/// Kills and restarts as `plan` says, during the load; returns the windows during which
/// the cluster was disturbed: from just before the first kill until the test saw it whole
/// again after both restarts.
fn chaos(
    t0: Instant,
    plan: &Plan,
    load: &Load<'_>,
    nats: &mut [common::Nats],
    urls: &str,
    hook: &Receiver,
) -> Vec<(Instant, Option<Instant>)> {
    let nodes = load.nodes;
    wait_acked(load, plan.warm_up);
    // Fired before anything fails, so the kills test that it does not fire again.
    common::wait_until("the alert's firing notification", || {
        (notified(hook, "firing") > 0).then_some(())
    });
    log(t0, "warmed up; the alert fired");
    let victim_at = if plan.kill_evaluator && CLUSTER_ALERTS {
        evaluator(nodes)
    } else {
        plan.node
    };
    let victim = &nodes[victim_at];
    // While a publish to it is in flight, so that some datapoints are uncertain: the
    // node may have sent them to the stream before it died, or not.
    let start = Instant::now();
    while load.publishing_to.load(Ordering::SeqCst) != victim_at + 1 {
        assert!(
            start.elapsed() < DEADLINE,
            "no publish to {} to cut short",
            victim.id
        );
        // Publishes take milliseconds: look often.
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut windows = vec![(Instant::now(), None)];
    victim.kill();
    log(
        t0,
        &format!(
            "SIGKILLed node {}{}",
            victim.id,
            if plan.kill_evaluator && CLUSTER_ALERTS {
                ", the rule's evaluator"
            } else {
                ""
            }
        ),
    );
    if plan.until_expired {
        common::wait_until("the others to see the killed node leave", || {
            nodes
                .iter()
                .filter(|n| n.alive())
                .all(|n| {
                    let guard = n.server.read().expect("node lock");
                    guard.as_ref().is_some_and(|s| {
                        let members = stats(s)["members"].clone();
                        !members
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|m| m == victim.id)
                    })
                })
                .then_some(())
        });
        log(t0, &format!("{} left the membership", victim.id));
    }
    wait_acked(load, plan.between_kills);
    nats[plan.nats].kill();
    log(t0, &format!("SIGKILLed {}", nats[plan.nats].name));
    wait_acked(load, plan.nats_down);
    let restart_nats = |nats: &mut [common::Nats]| {
        let s = &mut nats[plan.nats];
        s.start();
        common::wait_until(&format!("JetStream on {} again", s.name), || {
            js_ready(s.port).then_some(())
        });
        log(t0, &format!("restarted {}", s.name));
    };
    let restart_node = || {
        victim.restart(urls);
        log(t0, &format!("restarted node {}", victim.id));
    };
    if plan.node_first {
        restart_node();
        wait_acked(load, plan.between_restarts);
        restart_nats(nats);
    } else {
        restart_nats(nats);
        wait_acked(load, plan.between_restarts);
        restart_node();
    }
    wait_whole(nodes, nats, false);
    windows[0].1 = Some(Instant::now());
    log(t0, "the cluster is whole again");
    // Queries and publishes go on against the whole cluster: no partial answer now.
    let answered = load.answered.load(Ordering::Relaxed);
    wait_acked(load, plan.tail);
    common::wait_until("queries after the cluster is whole", || {
        (load.answered.load(Ordering::Relaxed) >= answered + 20).then_some(())
    });
    windows
}

/// Checks every answer of the query thread: each one 200; a partial one says so in the
/// header and in the body alike, and overlaps a window of disturbance. Returns when the
/// partial ones were answered.
///
/// Why this check is sound: a query is complete when the node it reached finds, for
/// every partition, a live owner in its routing view: itself, or a peer whose last
/// heartbeat listed the partition live (docs/cluster.md). A window opens just before a
/// kill. It closes only after both restarts, once the test has seen, poll after poll for
/// [`QUIET`], every JetStream stream led with all replicas current, every partition live
/// on its owners, and every node's view of every peer exactly what that peer has live
/// ([`wait_whole`]): by then a consumer the kills left stuck would have shown up as
/// catching up. The test changes nothing after that, so no partition loses its owner and
/// no view goes stale: a partial answer sent after the close (or before the first kill,
/// the cluster having been seen whole the same way) is a partition lost for no reason, a
/// bug. An answer overlapping a window in any way may be partial (it may be planned on a
/// view from before the close).
fn check_queries(
    t0: Instant,
    asked: &[Asked],
    windows: &[(Instant, Option<Instant>)],
) -> Vec<Instant> {
    let mut partial = Vec::new();
    let mut failures = Vec::new();
    for a in asked {
        let r = match &a.reply {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: {e}", a.node));
                continue;
            }
        };
        if r.status != 200 {
            failures.push(format!("{}: {} {}", a.node, r.status, r.body));
            continue;
        }
        let body = body_partial(&r.body);
        let Some(head) = r.partial.as_deref() else {
            assert!(
                body.is_none(),
                "a partial field without the header: {}",
                r.body
            );
            continue;
        };
        let (missing, of) = header_partial(head).expect("a well-formed sextant-partial header");
        assert_eq!(body, Some((missing, of)), "header and body disagree");
        assert!(
            missing >= 1 && of == u64::from(PARTITIONS),
            "{missing} of {of}"
        );
        partial.push(a.got);
        let during = windows
            .iter()
            .any(|(from, to)| *from <= a.got && to.is_none_or(|to| a.sent <= to));
        assert!(
            during,
            "{} answered partial ({missing} of {of} partitions missing) {:.1} s into the test, \
             outside every window of disturbance {:?}; then: {}",
            a.node,
            (a.got - t0).as_secs_f64(),
            windows
                .iter()
                .map(|(f, t)| ((*f - t0).as_secs_f64(), t.map(|t| (t - t0).as_secs_f64())))
                .collect::<Vec<_>>(),
            a.seen.as_deref().unwrap_or("")
        );
    }
    assert!(
        failures.is_empty(),
        "queries that did not answer 200: {failures:?}"
    );
    partial
}

/// Asks `n` for the cluster-wide sum of every round (complete, not partial) and checks it
/// against what the publisher knows: an acknowledged round counts all of its points once,
/// an uncertain one at most once each, and no round is counted that was never sent.
/// Returns the points counted per round.
fn count(n: &Node, ledger: &Ledger) -> BTreeMap<u64, u64> {
    let from = ledger.ts.values().min().copied().unwrap_or(0) - 5_000;
    let q = format!(
        "/api/v1/graph?q=name,chaos,:eq,:sum,(,round,),:by&s={from}&e={}&step=1s&format=stats.json",
        now_ms() + 5_000
    );
    let a = send(&format!("{}{q}", n.url), None).expect("the final query answers");
    assert_eq!(a.status, 200, "{}: {}", n.id, a.body);
    assert_eq!(a.partial, None, "{} answered partial after the chaos", n.id);
    let j: Value = serde_json::from_str(&a.body).expect("a stats.json body");
    assert!(j.get("partial").is_none(), "{}", a.body);
    let metrics = j["metrics"].as_array().cloned().unwrap_or_default();
    let stats = j["stats"].as_array().cloned().unwrap_or_default();
    assert_eq!(metrics.len(), stats.len());
    let mut per_round = BTreeMap::new();
    for (m, s) in metrics.iter().zip(&stats) {
        let round: u64 = m["round"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("a line without a round: {m}"));
        assert!(
            ledger.ts.contains_key(&round),
            "round {round} was never sent"
        );
        // One timestamp per round: its points fill exactly one step.
        assert_eq!(s["count"], 1, "round {round} on {}: {s}", n.id);
        let total = s["total"].as_f64().unwrap_or(f64::NAN);
        assert!(
            total.fract() == 0.0 && (1.0..=POINTS as f64).contains(&total),
            "round {round} on {} sums to {total}",
            n.id
        );
        per_round.insert(round, total as u64);
    }
    for r in &ledger.acked {
        assert_eq!(
            per_round.get(r).copied(),
            Some(POINTS as u64),
            "acknowledged round {r} on {}",
            n.id
        );
    }
    per_round
}

/// The rule's alert as node `n` lists it (`/api/v1/alerts`).
fn alert(n: &Node) -> Option<Value> {
    let a = send(&format!("{}/api/v1/alerts", n.url), None).ok()?;
    let j: Value = serde_json::from_str(&a.body).ok()?;
    j["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["rule"] == "ChaosLoad")
        .cloned()
}

#[test]
fn chaos_under_load() {
    let seed = seed();
    println!(
        "chaos seed {seed} (replay: SEXTANT_CHAOS_SEED={seed} cargo test -p sextant-e2e --test cluster_chaos)"
    );
    let t0 = Instant::now();
    let plan = Plan::draw(&mut StdRng::seed_from_u64(seed));
    println!("{plan:?}");
    let hook = Receiver::start();
    let rules_dir = DataDir::new("chaos-rules");
    std::fs::create_dir_all(rules_dir.path()).expect("a rules directory");
    let rules_file = format!("{}/rules.toml", rules_dir.path());
    std::fs::write(&rules_file, rules(&hook.url)).expect("the rules file");

    sextant_e2e::binary();
    log(t0, "sextant built");
    let mut nats = nats_cluster();
    let urls = nats_urls(&nats);
    log(t0, "JetStream up");
    let nodes: Vec<Node> = IDS
        .iter()
        .map(|id| Node::start(&urls, id, &rules_file))
        .collect();
    wait_whole(&nodes, &mut nats, false);
    log(t0, "cluster up");

    let load = Load {
        nodes: &nodes,
        stop: AtomicBool::new(false),
        abort: AtomicBool::new(false),
        acked: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        publishing_to: AtomicUsize::new(0),
    };
    let (ledger, asked, windows) = std::thread::scope(|scope| {
        let _abort = AbortOnDrop(&load.abort);
        let publisher = scope.spawn(|| publish(&load, StdRng::seed_from_u64(seed ^ 1)));
        let queries = scope.spawn(|| ask(&load, StdRng::seed_from_u64(seed ^ 2)));
        let windows = chaos(t0, &plan, &load, &mut nats, &urls, &hook);
        load.stop.store(true, Ordering::Relaxed);
        let asked = queries.join().expect("the query thread");
        let ledger = publisher.join().expect("the publisher");
        (ledger, asked, windows)
    });
    log(
        t0,
        &format!(
            "load done: {} rounds, {} acknowledged, {} uncertain, {} attempts ({} retries), \
             {} queries; longest wait for an acknowledgement {:.1} s",
            ledger.ts.len(),
            ledger.acked.len(),
            ledger.uncertain.len(),
            ledger.attempts,
            ledger.retries,
            asked.len(),
            ledger.longest_gap.as_secs_f64()
        ),
    );
    assert!(
        ledger.unexpected.is_empty(),
        "unexpected publish answers: {:?}",
        ledger.unexpected
    );

    let partial = check_queries(t0, &asked, &windows);
    let secs = |t: Option<&Instant>| t.map_or(f64::NAN, |t| (*t - t0).as_secs_f64());
    log(
        t0,
        &format!(
            "{} queries answered 200, {} partial (from {:.1} s to {:.1} s)",
            asked.len(),
            partial.len(),
            secs(partial.first()),
            secs(partial.last())
        ),
    );

    // Afterwards every node counts every acknowledged datapoint exactly once, and an
    // uncertain one at most once, in a cluster-wide sum per round.
    wait_whole(&nodes, &mut nats, true);
    log(t0, "every partition live, lag 0");
    let counts: Vec<BTreeMap<u64, u64>> = nodes.iter().map(|n| count(n, &ledger)).collect();
    assert!(
        counts.windows(2).all(|w| w[0] == w[1]),
        "the nodes count differently"
    );
    let stored_uncertain: u64 = ledger
        .uncertain
        .iter()
        .filter_map(|r| counts[0].get(r))
        .sum();
    log(
        t0,
        &format!(
            "every node counts the {} acknowledged datapoints once, and {stored_uncertain} of the {} uncertain",
            ledger.acked.len() * POINTS,
            ledger.uncertain.len() * POINTS
        ),
    );

    // The alert fired once (before the kills, checked above) and resolves once, after the
    // load.
    common::wait_until("the alert's resolved notification", || {
        (notified(&hook, "resolved") > 0).then_some(())
    });
    let (fired, resolved, starts) = (
        notified(&hook, "firing"),
        notified(&hook, "resolved"),
        starts(&hook),
    );
    log(
        t0,
        &format!(
            "alert: {fired} firing and {resolved} resolved notifications, {} start(s)",
            starts.len()
        ),
    );
    if CLUSTER_ALERTS {
        assert_eq!(fired, 1, "firing notifications");
        assert_eq!(resolved, 1, "resolved notifications");
        assert_eq!(
            starts.len(),
            1,
            "times the alert started firing: {starts:?}"
        );
        // Every node agrees the receiver was told it resolved: nothing is left to send.
        for n in &nodes {
            common::wait_until(&format!("{} to list the alert resolved", n.id), || {
                alert(n).filter(|a| a["state"] == "resolved" && a["notified"]["hook"] == "resolved")
            });
        }
    }
    log(t0, &format!("done (seed {seed})"));
}

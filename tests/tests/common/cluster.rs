//! A cluster on loopback, shared by the cluster tests (`cluster*.rs`): three real
//! nats-servers (Debian's, at /usr/sbin/nats-server) as one JetStream cluster, Sextant
//! nodes joined to it, data directories that outlive a node's process, and waiting for
//! conditions with a deadline. Every process is stopped by PID when its guard is dropped,
//! so a failing test leaves none behind.

// Each test file uses a different part of the harness.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sextant_e2e::{get, TestServer};

/// Partitions of the test clusters: enough that a request touches most of them.
pub const PARTITIONS: u32 = 16;
/// Sextant nodes storing each partition.
pub const OWNERS: usize = 2;

#[allow(unused_imports)] // Each test file uses a different part of the harness.
pub use sextant_e2e::nats::{free_port, free_ports, js_ready, wait_until, Nats};

/// Three nats-servers routed to each other, each answering JetStream requests.
pub fn nats_cluster() -> Vec<Nats> {
    sextant_e2e::nats::nats_cluster(3)
}

/// The client URLs of `servers`, as `--cluster` takes them.
pub fn nats_urls(servers: &[Nats]) -> String {
    sextant_e2e::nats::urls(servers)
}

/// Sends a JetStream API request (`subject`, e.g. `$JS.API.STREAM.LIST`, with an empty
/// body) to the server at `port` and returns its JSON answer, or `None` when there is
/// none within a second. NATS's text protocol is a few lines, so no client library.
pub fn js_api(port: u16, subject: &str) -> Option<serde_json::Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let req = format!(
        "CONNECT {{\"verbose\":false}}\r\nSUB _INBOX.api 1\r\nPUB {subject} _INBOX.api 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut got: Vec<u8> = Vec::new();
    let mut buf = [0u8; 16384];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        // `MSG <subject> <sid> <bytes>\r\n<payload>\r\n`
        let text = String::from_utf8_lossy(&got);
        let Some(at) = text.find("MSG _INBOX.api ") else {
            continue;
        };
        let Some(eol) = text[at..].find("\r\n").map(|e| at + e) else {
            continue;
        };
        let len: usize = text[at..eol].rsplit(' ').next()?.parse().ok()?;
        let payload = got.get(eol + 2..eol + 2 + len);
        if let Some(p) = payload {
            return serde_json::from_slice(p).ok();
        }
    }
    None
}

/// Why JetStream is not whole, or `None` when every stream (the ingest stream and the KV
/// buckets) has a leader and all its replicas current, as the server at `port` reports.
pub fn js_not_whole(port: u16) -> Option<String> {
    let Some(list) = js_api(port, "$JS.API.STREAM.LIST") else {
        return Some(format!("no stream list from port {port}"));
    };
    let streams = list["streams"].as_array().cloned().unwrap_or_default();
    if streams.is_empty() {
        return Some(format!("no streams: {list}"));
    }
    for s in &streams {
        let name = &s["config"]["name"];
        let cluster = &s["cluster"];
        if cluster["leader"].as_str().unwrap_or("").is_empty() {
            return Some(format!("stream {name} has no leader"));
        }
        let replicas = cluster["replicas"].as_array().cloned().unwrap_or_default();
        let replicas_wanted = s["config"]["num_replicas"].as_u64().unwrap_or(1);
        if replicas.len() as u64 + 1 != replicas_wanted
            || replicas
                .iter()
                .any(|r| r["current"] != true || r["offline"] == true)
        {
            return Some(format!("stream {name} replicas {}", cluster["replicas"]));
        }
    }
    None
}

/// A data directory the test names (so a restarted node finds its checkpoints), removed
/// when dropped.
pub struct DataDir(PathBuf);

impl DataDir {
    /// `sextant-cluster-<name>-<pid>` under the temp directory, empty.
    pub fn new(name: &str) -> DataDir {
        let dir =
            std::env::temp_dir().join(format!("sextant-cluster-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        DataDir(dir)
    }

    /// The directory, as an argument.
    pub fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts node `id` of the cluster on the nats-servers `urls` with the test settings
/// ([`PARTITIONS`], R=3, [`OWNERS`], a member TTL of 4 s) and the `extra` arguments.
pub fn node_with(urls: &str, id: &str, extra: &[&str]) -> TestServer {
    node_with_env(urls, id, extra, &[])
}

/// [`node_with`] with environment variables for the node (such as `RUST_LOG`).
pub fn node_with_env(urls: &str, id: &str, extra: &[&str], env: &[(&str, &str)]) -> TestServer {
    let (partitions, owners) = (PARTITIONS.to_string(), OWNERS.to_string());
    let mut args = vec![
        "--cluster",
        urls,
        "--node-id",
        id,
        "--step",
        "1s",
        "--cluster-partitions",
        &partitions,
        "--cluster-replicas",
        "3",
        "--cluster-owners",
        &owners,
        "--cluster-member-ttl",
        "4s",
        // Longer than a stream leader election, so losing one nats-server of three never
        // turns into a 503.
        "--cluster-publish-timeout",
        "10s",
    ];
    args.extend_from_slice(extra);
    TestServer::start_with_env(&args, env)
}

/// `/api/v1/stats` of node `n`.
pub fn node_stats(n: &TestServer) -> serde_json::Value {
    let a = get(&n.at("/api/v1/stats"));
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()
}

/// The `cluster` section of `n`'s stats.
pub fn stats(n: &TestServer) -> serde_json::Value {
    node_stats(n)["cluster"].clone()
}

/// The partitions a node's `cluster` stats show live.
pub fn live(c: &serde_json::Value) -> BTreeSet<u64> {
    c["partitions"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, s)| s["state"] == "live")
        .filter_map(|(p, _)| p.parse().ok())
        .collect()
}

/// The partitions a node's `cluster` stats `c` say `peer` has live: its routing view.
pub fn view_of(c: &serde_json::Value, peer: &str) -> BTreeSet<u64> {
    c["peers"][peer]["live"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_u64)
        .collect()
}

/// Why the cluster whose nodes show the `cluster` stats `seen` (by node id) is not
/// whole, or `None` when it is: every node sees exactly the members `ids` and has every
/// partition it owns live (and applied up to the stream's head when `caught_up`);
/// between them they own [`OWNERS`] copies of every partition; and each node's routing
/// view of each peer is what that peer has live now. A view behind a change routes a
/// query to a peer that let the partition go, or away from one that has it live: a
/// partition may then be missing from an answer although an owner has it live.
pub fn not_whole(
    seen: &BTreeMap<&str, serde_json::Value>,
    ids: &[&str],
    caught_up: bool,
) -> Option<String> {
    let mut owned = 0;
    let mut covered = BTreeSet::new();
    for (id, c) in seen {
        let members: Vec<&str> = c["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_str)
            .collect();
        if members != ids {
            return Some(format!("{id} sees members {members:?}"));
        }
        if c["catchingUp"] != 0 {
            return Some(format!("{id} is catching up {}", c["catchingUp"]));
        }
        if caught_up && c["lag"] != 0 {
            return Some(format!("{id} lags {}", c["lag"]));
        }
        owned += c["owned"].as_u64().unwrap_or(0);
        covered.extend(live(c));
        for (peer, now) in seen.iter().filter(|(peer, _)| *peer != id) {
            if view_of(c, peer) != live(now) {
                return Some(format!("{id}'s view of {peer} is not what {peer} has live"));
            }
        }
    }
    let want = u64::from(PARTITIONS) * OWNERS as u64;
    if owned != want {
        return Some(format!("{owned} partition copies owned, not {want}"));
    }
    (covered.len() as u32 != PARTITIONS).then(|| format!("only {covered:?} are live"))
}

/// What nodes show of the cluster (`cluster` stats by node id), in short: each one's
/// members, partitions not live, and its view of each peer where that is not what the
/// peer has live. For failure messages.
pub fn describe(seen: &BTreeMap<&str, serde_json::Value>) -> String {
    let mut out = Vec::new();
    for (id, c) in seen {
        let not_live: Vec<String> = c["partitions"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, s)| s["state"] != "live")
            .map(|(p, s)| format!("{p}:{}", s["state"]))
            .collect();
        let mut line = format!(
            "{id}: members {}, owns {}, not live {not_live:?}",
            c["members"], c["owned"]
        );
        for (peer, now) in seen.iter().filter(|(peer, _)| *peer != id) {
            let view = view_of(c, peer);
            if view != live(now) {
                line += &format!(", sees {peer} live {view:?} (has {:?})", live(now));
            }
        }
        out.push(line);
    }
    out.join("; ")
}

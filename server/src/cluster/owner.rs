//! Membership and ownership: each node refreshes its key in the member bucket (its value
//! lists the partitions it has live), reads who else is live, consumes the partitions
//! rendezvous hashing gives it, and drops the ones it lost once their owners are live.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use sextant_store::{Store, StreamPositions};

use super::consume::consume;
use super::status::Peer;
use super::{owners_of, ClusterStatus, PartitionState, MEMBERS_BUCKET};

/// What the ownership task needs.
pub struct Owner {
    pub js: jetstream::Context,
    pub store: Arc<Store>,
    pub positions: Arc<StreamPositions>,
    pub status: Arc<ClusterStatus>,
    pub node_id: String,
    pub url: String,
    pub ttl: Duration,
}

/// What a node's member key holds: where it answers and the partitions it has live.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct MemberValue {
    url: String,
    #[serde(default)]
    live: Vec<u32>,
}

/// Heartbeats and rebalances until aborted.
pub async fn run(owner: Owner) {
    let every = (owner.ttl / 4).max(Duration::from_millis(200));
    let mut consumers: HashMap<u32, tokio::task::JoinHandle<()>> = HashMap::new();
    let dropping = Arc::new(parking_lot::Mutex::new(BTreeSet::new()));
    let mut released_since: HashMap<u32, tokio::time::Instant> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut kv = None;
    loop {
        tick.tick().await;
        if kv.is_none() {
            kv = members_bucket(&owner.js, owner.ttl, owner.status.settings.replicas)
                .await
                .map_err(|e| *owner.status.last_error.lock() = Some(e))
                .ok();
        }
        let Some(bucket) = &kv else { continue };
        let value = serde_json::to_string(&MemberValue {
            url: owner.url.clone(),
            live: owner.status.live(),
        })
        .unwrap_or_default();
        let members = match heartbeat(bucket, &owner.node_id, &value, every).await {
            Ok(m) => m,
            Err(e) => {
                // Keep consuming what we own: a NATS outage stops the stream anyway, and
                // the members we last saw are the best guess until it is back.
                *owner.status.last_error.lock() = Some(e);
                continue;
            }
        };
        *owner.status.last_error.lock() = None;
        *owner.status.members.lock() = members.clone();
        // Queries route by what each member reports live; a member whose value cannot be
        // read this time keeps last time's.
        let mut peers = read_peers(bucket, &members, every).await;
        let previous = owner.status.peers();
        for m in &members {
            if let (false, Some(p)) = (peers.contains_key(m), previous.get(m)) {
                peers.insert(m.clone(), p.clone());
            }
        }
        *owner.status.peers.lock() = peers;
        let settings = &owner.status.settings;
        let owned: BTreeSet<u32> = (0..settings.partitions)
            .filter(|&p| owners_of(&members, p, settings.owners).contains(&owner.node_id))
            .collect();
        consumers.retain(|p, task| {
            let keep = owned.contains(p) && !task.is_finished();
            if !keep {
                // Released before the task ends: from now on nothing is applied to it,
                // even by a consumer in the middle of a message.
                owner.positions.release(*p);
                task.abort();
                owner.status.partitions.lock().remove(p);
                tracing::info!(partition = p, "partition released");
            }
            keep
        });
        for &p in &owned {
            if consumers.contains_key(&p) {
                continue;
            }
            let from = owner.positions.activate(p);
            tracing::info!(partition = p, after = from, "partition consumed");
            owner.status.partitions.lock().insert(
                p,
                PartitionState {
                    state: "catching-up",
                    applied_seq: from,
                    resumed_from: owner.positions.resumed_from(p),
                    ..Default::default()
                },
            );
            let task = tokio::spawn(consume(
                owner.js.clone(),
                owner.store.clone(),
                owner.status.clone(),
                owner.positions.clone(),
                p,
            ));
            consumers.insert(p, task);
        }
        let held: BTreeSet<u32> = owner
            .positions
            .held()
            .into_iter()
            .filter(|p| !owned.contains(p))
            .collect();
        *owner.status.released.lock() = held.clone();
        // Dropped only once released for a member TTL: after an outage of NATS the
        // members come back one heartbeat at a time, and a partition that moves away and
        // back within that churn is resumed rather than rebuilt.
        let now = tokio::time::Instant::now();
        released_since.retain(|p, _| held.contains(p));
        let due: BTreeSet<u32> = held
            .iter()
            .copied()
            .filter(|p| now - *released_since.entry(*p).or_insert(now) >= owner.ttl)
            .collect();
        if !due.is_empty() {
            drop_released(&owner, bucket, &members, &due, &dropping, every).await;
        }
    }
}

/// Drops each partition of `held` (released, series still stored) whose owners all
/// report it live in their member values. The drops run in tasks of their own (each
/// walks the store, and waits for a running checkpoint): the heartbeat must not wait for
/// them. `dropping` lists the drops under way.
async fn drop_released(
    owner: &Owner,
    kv: &jetstream::kv::Store,
    members: &[String],
    held: &BTreeSet<u32>,
    dropping: &Arc<parking_lot::Mutex<BTreeSet<u32>>>,
    limit: Duration,
) {
    let settings = &owner.status.settings;
    let needed: BTreeSet<String> = held
        .iter()
        .filter(|&&p| !dropping.lock().contains(&p))
        .flat_map(|&p| owners_of(members, p, settings.owners))
        .collect();
    let values = futures_util::future::join_all(
        needed
            .iter()
            .map(|m| tokio::time::timeout(limit, kv.get(m.as_str()))),
    )
    .await;
    let mut live: HashMap<&str, BTreeSet<u32>> = HashMap::new();
    for (m, value) in needed.iter().zip(values) {
        if let Ok(Ok(Some(bytes))) = value {
            let value: MemberValue = serde_json::from_slice(&bytes).unwrap_or_default();
            live.insert(m, value.live.into_iter().collect());
        }
        // Otherwise unknown: that owner's partitions wait for the next heartbeat.
    }
    for &p in held {
        let owners = owners_of(members, p, settings.owners);
        let ready = !owners.is_empty()
            && owners
                .iter()
                .all(|o| live.get(o.as_str()).is_some_and(|l| l.contains(&p)));
        if !ready || !dropping.lock().insert(p) {
            continue;
        }
        let (store, positions) = (owner.store.clone(), owner.positions.clone());
        let (status, dropping) = (owner.status.clone(), dropping.clone());
        tokio::spawn(async move {
            let dropped = tokio::task::spawn_blocking(move || positions.drop_partition(&store, p))
                .await
                .ok()
                .flatten();
            if let Some(series) = dropped {
                tracing::info!(partition = p, series, owners = ?owners, "released partition dropped: its owners are live");
                status.released.lock().remove(&p);
                status.dropped.fetch_add(1, Ordering::Relaxed);
                status
                    .dropped_series
                    .fetch_add(series as u64, Ordering::Relaxed);
            }
            dropping.lock().remove(&p);
        });
    }
}

/// The member values of `members`, read at once, each within `limit`.
async fn read_peers(
    kv: &jetstream::kv::Store,
    members: &[String],
    limit: Duration,
) -> BTreeMap<String, Peer> {
    let values = futures_util::future::join_all(
        members
            .iter()
            .map(|m| tokio::time::timeout(limit, kv.get(m.as_str()))),
    )
    .await;
    members
        .iter()
        .zip(values)
        .filter_map(|(m, value)| match value {
            Ok(Ok(Some(bytes))) => {
                let value: MemberValue = serde_json::from_slice(&bytes).ok()?;
                Some((
                    m.clone(),
                    Peer {
                        url: value.url,
                        live: value.live.into_iter().collect(),
                    },
                ))
            }
            _ => None,
        })
        .collect()
}

async fn members_bucket(
    js: &jetstream::Context,
    ttl: Duration,
    replicas: usize,
) -> Result<jetstream::kv::Store, String> {
    super::kv_bucket(js, MEMBERS_BUCKET, ttl, replicas).await
}

/// Refreshes our key and lists the live members, sorted; bounded by `limit`.
async fn heartbeat(
    kv: &jetstream::kv::Store,
    node_id: &str,
    value: &str,
    limit: Duration,
) -> Result<Vec<String>, String> {
    let work = async {
        kv.put(node_id, value.to_string().into())
            .await
            .map_err(|e| format!("heartbeat failed: {e}"))?;
        let mut keys = kv
            .keys()
            .await
            .map_err(|e| format!("listing members failed: {e}"))?;
        let mut members = Vec::new();
        while let Some(k) = keys.next().await {
            members.push(k.map_err(|e| format!("listing members failed: {e}"))?);
        }
        members.sort();
        // A key put while the listing runs can be listed twice.
        members.dedup();
        Ok(members)
    };
    tokio::time::timeout(limit.max(Duration::from_secs(1)), work)
        .await
        .unwrap_or_else(|_| Err("heartbeat timed out".to_string()))
}

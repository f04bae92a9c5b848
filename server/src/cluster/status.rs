//! What a cluster node knows of itself and the cluster, for `/api/v1/stats` and
//! `/healthcheck`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

use super::Settings;

/// Where one owned partition stands.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionState {
    /// `catching-up` until the consumer reached the stream's head, then `live`;
    /// `reconnecting` while the consumer of a partition that was live is made again.
    pub state: &'static str,
    /// Stream sequence of the last message applied (0: none yet).
    pub applied_seq: u64,
    /// Messages of this partition in the stream not yet applied.
    pub lag: u64,
    /// Messages applied since this node gained the partition.
    pub messages: u64,
    /// Datapoints the store refused while applying (series limits).
    pub refused: u64,
    /// The stream sequence the partition resumed after, when it was loaded from this
    /// node's checkpoint rather than rebuilt from the stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<u64>,
}

/// A member as its heartbeat shows it: where it answers and the partitions it has live.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    /// Its HTTP base URL.
    pub url: String,
    /// Partitions it has live.
    pub live: BTreeSet<u32>,
}

/// The cluster as this node sees it.
#[derive(Debug)]
pub struct ClusterStatus {
    /// This node.
    pub node_id: String,
    /// The cluster's settings.
    pub settings: Settings,
    /// Live members (node ids), sorted; empty until the first heartbeat.
    pub members: parking_lot::Mutex<Vec<String>>,
    /// Live members with their URLs and live partitions, as of the last heartbeat.
    pub peers: parking_lot::Mutex<BTreeMap<String, Peer>>,
    /// The partitions this node owns.
    pub partitions: parking_lot::Mutex<BTreeMap<u32, PartitionState>>,
    /// Partitions this node no longer owns but still holds series of, until their new
    /// owners are live.
    pub released: parking_lot::Mutex<BTreeSet<u32>>,
    /// Released partitions dropped since start.
    pub dropped: AtomicU64,
    /// Series removed with them.
    pub dropped_series: AtomicU64,
    /// The newest membership error, cleared by the next heartbeat that works.
    pub last_error: parking_lot::Mutex<Option<String>>,
    /// What this node's write path sent to the stream.
    pub publish: Arc<super::LogCounters>,
}

impl ClusterStatus {
    /// Nothing known yet.
    pub fn new(
        node_id: String,
        settings: Settings,
        publish: Arc<super::LogCounters>,
    ) -> ClusterStatus {
        ClusterStatus {
            publish,
            node_id,
            settings,
            members: Default::default(),
            peers: Default::default(),
            partitions: Default::default(),
            released: Default::default(),
            dropped: AtomicU64::new(0),
            dropped_series: AtomicU64::new(0),
            last_error: Default::default(),
        }
    }

    /// True when every owned partition is live.
    pub fn caught_up(&self) -> bool {
        self.partitions.lock().values().all(|p| p.state == "live")
    }

    /// Live members with their URLs and live partitions.
    pub fn peers(&self) -> BTreeMap<String, Peer> {
        self.peers.lock().clone()
    }

    /// The owned partitions that answer queries, for this node's member value: `live`
    /// ones, and `reconnecting` ones (caught up once, their consumer now reconnecting).
    pub fn live(&self) -> Vec<u32> {
        self.partitions
            .lock()
            .iter()
            .filter(|(_, s)| s.state == "live" || s.state == "reconnecting")
            .map(|(p, _)| *p)
            .collect()
    }

    /// The status as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let partitions = self.partitions.lock().clone();
        let catching_up = partitions
            .values()
            .filter(|p| p.state == "catching-up")
            .count();
        let reconnecting = partitions
            .values()
            .filter(|p| p.state == "reconnecting")
            .count();
        // Every partition: the members rendezvous hashing names, and those that have it
        // live (what queries use), as this node last heard from them.
        let members = self.members.lock().clone();
        let peers = self.peers();
        let mut without = 0;
        let owners: BTreeMap<String, serde_json::Value> = (0..self.settings.partitions)
            .map(|p| {
                let named = super::owners_of(&members, p, self.settings.owners);
                let live: Vec<&String> = peers
                    .iter()
                    .filter(|(_, peer)| peer.live.contains(&p))
                    .map(|(id, _)| id)
                    .collect();
                without += usize::from(live.is_empty());
                (
                    p.to_string(),
                    serde_json::json!({"owners": named, "live": live}),
                )
            })
            .collect();
        serde_json::json!({
            "nodeId": self.node_id,
            "settings": self.settings,
            "members": *self.members.lock(),
            // What queries are routed by: each member's live partitions as this node last
            // read them, so a test (or an operator) can see when routing has caught up.
            "peers": *self.peers.lock(),
            "owned": partitions.len(),
            "catchingUp": catching_up,
            "reconnecting": reconnecting,
            "lag": partitions.values().map(|p| p.lag).sum::<u64>(),
            "resumed": partitions.values().filter(|p| p.resumed_from.is_some()).count(),
            "partitions": partitions.iter().map(|(p, s)| (p.to_string(), s)).collect::<BTreeMap<_, _>>(),
            "peers": peers,
            "owners": owners,
            "withoutLiveOwner": without,
            "released": *self.released.lock(),
            "dropped": {
                "partitions": self.dropped.load(Ordering::Relaxed),
                "series": self.dropped_series.load(Ordering::Relaxed),
            },
            "lastError": *self.last_error.lock(),
            "published": {
                "messagesAcked": self.publish.acked.load(Ordering::Relaxed),
                "bytesAcked": self.publish.bytes.load(Ordering::Relaxed),
                "datapointsAcked": self.publish.datapoints.load(Ordering::Relaxed),
                "failed": self.publish.failed.load(Ordering::Relaxed),
            },
        })
    }
}

//! Many nodes on NATS JetStream (docs/cluster.md): cluster settings in a KV bucket, the
//! write path as a [`sextant_store::Log`] that publishes one message per partition, and
//! ownership of partitions by rendezvous hashing over live members.
//!
//! A series belongs to partition `identity(tags) mod P`; every node accepts publishes,
//! only a partition's owners store it, applying its messages from the stream in order.
//! Each alert rule is evaluated by one live member, chosen the same way, with its state,
//! the rules and the silences in KV buckets ([`ClusterAlerts`]).

mod alerts;
mod consume;
mod log;
mod message;
mod owner;
pub mod query;
mod status;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use serde::{Deserialize, Serialize};
use sextant_store::{Store, StoreConfig, StreamPositions};

pub use alerts::{ClusterAlerts, ALERTS_BUCKET, SILENCES_BUCKET};
pub use log::{JetStreamLog, LogCounters};
pub use query::ClusterDatabase;
pub use status::{ClusterStatus, PartitionState, Peer};

/// The one stream every datapoint goes through.
pub const STREAM: &str = "sextant-ingest";
/// Subject prefix of the stream; the partition number follows.
pub const SUBJECT_PREFIX: &str = "sextant.ingest.";
/// KV bucket holding the cluster's settings (key [`SETTINGS_KEY`]).
pub const SETTINGS_BUCKET: &str = "sextant-cluster";
/// Key of the settings in [`SETTINGS_BUCKET`].
pub const SETTINGS_KEY: &str = "settings";
/// Key in [`SETTINGS_BUCKET`] of the token nodes show each other on internal routes.
pub const TOKEN_KEY: &str = "internal-token";
/// KV bucket of live members: one key per node, expiring unless refreshed.
pub const MEMBERS_BUCKET: &str = "sextant-members";

/// What `serve --cluster` was told.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// NATS server URLs, comma-separated (`nats://127.0.0.1:4222,...`).
    pub urls: String,
    /// This node's name, unique in the cluster.
    pub node_id: String,
    /// Settings used only if this node creates the cluster.
    pub create: Settings,
    /// Longest wait for JetStream to acknowledge a publish; then 503.
    pub publish_timeout: Duration,
    /// A member not heard from for this long has left.
    pub member_ttl: Duration,
    /// Longest wait for one node's part of a query.
    pub query_timeout: Duration,
}

/// Settings fixed when the cluster is created and read by every node, so nodes cannot
/// disagree on partitioning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Partitions P: a series is in partition `identity mod P`.
    pub partitions: u32,
    /// JetStream replicas R of the stream (Raft copies).
    pub replicas: usize,
    /// Sextant nodes F that store each partition.
    pub owners: usize,
    /// The store's retention; the stream keeps at least this much (plus max age).
    pub retention_ms: i64,
    /// The store's step; every node must use the same.
    pub step_ms: i64,
}

/// The partition of a series with this identity ([`sextant_store::identity`]).
pub fn partition_of(identity: u128, partitions: u32) -> u32 {
    (identity % u128::from(partitions.max(1))) as u32
}

/// The subject of partition `p`.
pub fn subject(p: u32) -> String {
    format!("{SUBJECT_PREFIX}{p}")
}

/// The `owners` members that own partition `p` by rendezvous (highest random weight)
/// hashing: each member scores `hash(member, p)` and the best win, so a join or a leave
/// moves only the partitions whose winners changed.
pub fn owners_of(members: &[String], p: u32, owners: usize) -> Vec<String> {
    rendezvous(members, &p.to_le_bytes(), owners)
}

/// The `n` members with the highest `hash(member, key)`: who holds `key`.
pub fn rendezvous(members: &[String], key: &[u8], n: usize) -> Vec<String> {
    let mut scored: Vec<(u64, &String)> = members
        .iter()
        .map(|m| {
            let mut bytes = m.as_bytes().to_vec();
            bytes.push(0);
            bytes.extend_from_slice(key);
            (xxhash_rust::xxh3::xxh3_64(&bytes), m)
        })
        .collect();
    scored.sort_unstable_by(|a, b| b.cmp(a));
    scored.into_iter().take(n).map(|(_, m)| m.clone()).collect()
}

/// A node joined to a cluster: its log for the write path and its ownership task.
pub struct Cluster {
    js: jetstream::Context,
    config: ClusterConfig,
    status: Arc<ClusterStatus>,
    url: String,
    log: Arc<JetStreamLog>,
    /// Names the stream (its creation time, ns): a checkpoint's sequences are only
    /// meaningful for the stream they were read from.
    stream_id: u64,
    /// The token nodes show each other on internal routes.
    token: String,
}

/// Why a node could not join.
pub type JoinError = Box<dyn std::error::Error + Send + Sync>;

impl Cluster {
    /// Connects to NATS, creates the settings, the stream and the member bucket unless
    /// they exist, and checks this node's store settings agree with the cluster's. `url`
    /// is where this node answers HTTP, recorded in its member key.
    ///
    /// NATS that is starting (no JetStream quorum yet) is waited for up to 30 s, so nodes
    /// and nats-servers may be started in any order.
    pub async fn join(
        config: ClusterConfig,
        store: &StoreConfig,
        url: String,
    ) -> Result<Cluster, JoinError> {
        // A bad URL is a mistake to report now, not a server to wait for.
        let servers = config
            .urls
            .split(',')
            .map(|u| u.trim().parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("--cluster {}: {e}", config.urls))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match Self::try_join(config.clone(), &servers, store, url.clone()).await {
                Ok(c) => return Ok(c),
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error = %e, "cannot join the cluster yet; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_join(
        config: ClusterConfig,
        servers: &[async_nats::ServerAddr],
        store: &StoreConfig,
        url: String,
    ) -> Result<Cluster, JoinError> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("sextant {}", config.node_id))
            .connection_timeout(Duration::from_secs(5))
            // The default backs off to 4 s; when one nats-server of three dies the others
            // are up, so try them at once.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100 * attempts.min(10) as u64)
            })
            .connect(servers)
            .await
            .map_err(|e| format!("cannot reach NATS at {}: {e}", config.urls))?;
        // A publish sent just before its server died is never acknowledged: give up on
        // that ack early and re-send under the same message id, a few times within the
        // publish timeout. The builder's `ack_timeout` only bounds acks nobody awaits; an
        // awaited ack waits the API timeout (5 s), so `JetStreamLog` bounds it itself.
        let ack_timeout =
            (config.publish_timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(2));
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .ack_timeout(ack_timeout)
            .build(client);
        let settings = load_settings(&js, &config.create).await?;
        let token = load_token(&js, settings.replicas).await?;
        if settings.step_ms != store.step_ms {
            return Err(format!(
                "the cluster's step is {} ms, this node's --step {} ms",
                settings.step_ms, store.step_ms
            )
            .into());
        }
        // Max age above retention plus the accepted clock skew: a new owner rebuilds
        // everything the store may still hold from the stream alone.
        let max_age =
            Duration::from_millis((settings.retention_ms + store.max_age_ms).max(0) as u64);
        let stream = js
            .get_or_create_stream(jetstream::stream::Config {
                name: STREAM.to_string(),
                subjects: vec![format!("{SUBJECT_PREFIX}*")],
                num_replicas: settings.replicas,
                max_age,
                duplicate_window: Duration::from_secs(120).min(max_age),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("cannot create the stream {STREAM}: {e}"))?;
        let created = stream.cached_info().created.unix_timestamp_nanos();
        let stream_id = u64::try_from(created).unwrap_or(0);
        let log = Arc::new(JetStreamLog::new(
            js.clone(),
            settings.partitions,
            &config.node_id,
            config.publish_timeout,
            ack_timeout,
        ));
        let status = Arc::new(ClusterStatus::new(
            config.node_id.clone(),
            settings.clone(),
            log.counters.clone(),
        ));
        Ok(Cluster {
            js,
            config,
            status,
            url,
            log,
            stream_id,
            token,
        })
    }

    /// The cluster's partitions as one database for queries, over this node's `store`.
    pub fn database(
        &self,
        store: Arc<Store>,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Arc<ClusterDatabase> {
        Arc::new(ClusterDatabase::new(
            store,
            self.status.clone(),
            clock,
            Some(self.token.clone()),
            self.config.query_timeout,
        ))
    }

    /// The cluster's settings, as read from NATS.
    pub fn settings(&self) -> &Settings {
        &self.status.settings
    }

    /// Names the stream the node's checkpoints hold sequences of.
    pub fn stream_id(&self) -> u64 {
        self.stream_id
    }

    /// The write path's log: publishes to the stream, applies nothing locally.
    pub fn log(&self) -> Arc<JetStreamLog> {
        self.log.clone()
    }

    /// Partition states, members and lag, for `/api/v1/stats` and `/healthcheck`.
    pub fn status(&self) -> Arc<ClusterStatus> {
        self.status.clone()
    }

    /// Alerting's shared state: rule ownership over the live members, rule states, rules
    /// and silences in KV. Its tasks start with the alerting subsystem's.
    pub fn alerts(&self) -> Arc<dyn crate::alert::SharedAlerts> {
        Arc::new(ClusterAlerts::new(
            self.js.clone(),
            self.status.clone(),
            self.config.member_ttl,
        ))
    }

    /// Starts heartbeats and ownership; the task consumes the partitions this node owns
    /// into `store`, from and advancing `positions`, until aborted.
    pub fn spawn(
        &self,
        store: Arc<Store>,
        positions: Arc<StreamPositions>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(owner::run(owner::Owner {
            js: self.js.clone(),
            store,
            positions,
            status: self.status.clone(),
            node_id: self.config.node_id.clone(),
            url: self.url.clone(),
            ttl: self.config.member_ttl,
        }))
    }

    /// Removes this node's member key (a clean stop), so the others take over its
    /// partitions now rather than when the key expires.
    pub async fn leave(&self) {
        if let Ok(kv) = self.js.get_key_value(MEMBERS_BUCKET).await {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                kv.delete(self.config.node_id.as_str()),
            )
            .await;
        }
    }
}

/// Reads the settings, creating them from `create` when this node is the first.
async fn load_settings(js: &jetstream::Context, create: &Settings) -> Result<Settings, JoinError> {
    let kv = kv_bucket(js, SETTINGS_BUCKET, Duration::ZERO, create.replicas).await?;
    let json = serde_json::to_vec(create)?;
    // Create, not put: of nodes starting at once exactly one wins, the others read its.
    if kv.create(SETTINGS_KEY, json.into()).await.is_ok() {
        tracing::info!(settings = ?create, "cluster created");
    }
    let stored = kv
        .get(SETTINGS_KEY)
        .await
        .map_err(|e| format!("cannot read the cluster settings: {e}"))?
        .ok_or("the cluster settings are missing")?;
    let settings: Settings = serde_json::from_slice(&stored)
        .map_err(|e| format!("the cluster settings are damaged: {e}"))?;
    if settings.partitions == 0 || settings.owners == 0 {
        return Err("the cluster settings name zero partitions or owners".into());
    }
    Ok(settings)
}

/// Reads the internal token, creating a random one when this node is the first: only
/// processes that can read the cluster's KV bucket know it.
async fn load_token(js: &jetstream::Context, replicas: usize) -> Result<String, JoinError> {
    let kv = kv_bucket(js, SETTINGS_BUCKET, Duration::ZERO, replicas).await?;
    let fresh: String = {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        (0..32)
            .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
            .collect()
    };
    // Create, not put: of nodes starting at once exactly one wins.
    let _ = kv.create(TOKEN_KEY, fresh.into()).await;
    let stored = kv
        .get(TOKEN_KEY)
        .await
        .map_err(|e| format!("cannot read the internal token: {e}"))?
        .ok_or("the internal token is missing")?;
    String::from_utf8(stored.to_vec()).map_err(|_| "the internal token is damaged".into())
}

/// Opens KV bucket `name`, creating it (history 1, keys expiring after `max_age` unless
/// zero) when missing.
///
/// The bucket's stream is made here rather than by `create_key_value`, which first asks
/// for the account's info in a shape nats-server 2.9 does not answer with; this is the
/// stream that call would make (ADR-8's KV conventions).
pub(crate) async fn kv_bucket(
    js: &jetstream::Context,
    name: &str,
    max_age: Duration,
    replicas: usize,
) -> Result<jetstream::kv::Store, String> {
    if let Ok(kv) = js.get_key_value(name).await {
        return Ok(kv);
    }
    let created = js
        .create_stream(jetstream::stream::Config {
            name: format!("KV_{name}"),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            max_age,
            num_replicas: replicas,
            discard: jetstream::stream::DiscardPolicy::New,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            duplicate_window: Duration::from_secs(120).min(if max_age.is_zero() {
                Duration::from_secs(120)
            } else {
                max_age
            }),
            ..Default::default()
        })
        .await;
    // Another node may have created it meanwhile: opening it again settles that.
    match js.get_key_value(name).await {
        Ok(kv) => Ok(kv),
        Err(e) => Err(format!(
            "cannot create the KV bucket {name}: {}",
            created.err().map_or(e.to_string(), |c| c.to_string())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_moves_only_what_it_must() {
        let three: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let two: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let mut moved = 0;
        for p in 0..64 {
            let before = owners_of(&three, p, 2);
            let after = owners_of(&two, p, 2);
            assert_eq!(before.len(), 2);
            // Owners that are still members keep the partition.
            for o in before.iter().filter(|o| *o != "c") {
                assert!(after.contains(o), "partition {p} left {o}");
            }
            moved += usize::from(before.contains(&"c".to_string()));
        }
        assert!(moved > 0 && moved < 64, "c owned {moved} of 64");
    }

    #[test]
    fn partitions_cover_the_range() {
        let p = partition_of(sextant_store::identity(&[("name", "cpu")]), 64);
        assert!(p < 64);
        assert_eq!(partition_of(130, 64), 2);
    }
}

//! Running the server: listener, API, background maintenance and demo feed, and a clean
//! stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::alert::{Alerting, AlertingConfig};
use crate::clock::{Clock, SystemClock};
use crate::demo::Demo;
use crate::http::{app, AppState, Limits};
use sextant_store::{Store, StoreConfig};

/// Everything `sextant serve` can be told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Store settings.
    pub store: StoreConfig,
    /// HTTP limits.
    pub limits: Limits,
    /// Feed synthetic demo data.
    pub demo: bool,
    /// Alert rules and where their state is saved.
    pub alerting: AlertingConfig,
    /// Where dashboards are saved (`<data-dir>/dashboards`); `None` keeps them in memory.
    pub dashboards_dir: Option<std::path::PathBuf>,
    /// The write-ahead log (`<data-dir>/wal`); `None` (`--no-persist`) keeps data in
    /// memory only.
    pub wal: Option<sextant_store::WalConfig>,
    /// Where checkpoints go (`<data-dir>/checkpoints`); used with a log, or by a cluster
    /// node (whose log is the stream).
    pub checkpoint_dir: Option<std::path::PathBuf>,
    /// Longest time between two checkpoints, besides one per block boundary; zero: block
    /// boundaries only.
    pub checkpoint_interval: Duration,
    /// Bearer tokens per role; empty turns authentication off.
    pub auth: Arc<crate::auth::Tokens>,
    /// Limits of one graph query.
    pub query_limits: crate::grapher::QueryLimits,
    /// Certificate and key to serve HTTPS with; `None` serves plain HTTP.
    pub tls: Option<crate::listen::TlsFiles>,
    /// Longest time a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// The data directory, locked for the server's lifetime so a second server cannot
    /// share it; `None` locks nothing (tests with no files).
    pub data_dir: Option<std::path::PathBuf>,
    /// Join a cluster on NATS JetStream instead of keeping a log of our own.
    pub cluster: Option<crate::cluster::ClusterConfig>,
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    demo: bool,
    checkpoint_dir: Option<std::path::PathBuf>,
    checkpoint_interval: Duration,
    listen: crate::listen::ListenConfig,
    data_dir_lock: Option<sextant_store::DataDirLock>,
    cluster: Option<crate::cluster::Cluster>,
    /// A cluster node's stream position per partition.
    positions: Option<Arc<sextant_store::StreamPositions>>,
}

impl Server {
    /// Binds the listener and builds the store.
    pub async fn bind(config: ServerConfig) -> std::io::Result<Server> {
        // Before anything else: a bad certificate should stop the start, not the first
        // client, and before the data directory is created for nothing.
        let tls = config
            .tls
            .as_ref()
            .map(crate::listen::tls_config)
            .transpose()?;
        // Then, before reading or writing any of its files: the directory must be ours.
        let data_dir_lock = config
            .data_dir
            .as_deref()
            .map(sextant_store::DataDirLock::acquire)
            .transpose()?;
        let listener = TcpListener::bind(config.listen).await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        // A cluster node joins first: its checkpoint is read against the cluster's stream
        // and partition count.
        let cluster = match config.cluster {
            Some(c) => {
                let scheme = if tls.is_some() { "https" } else { "http" };
                let url = format!("{scheme}://{}", listener.local_addr()?);
                let cluster = crate::cluster::Cluster::join(c, &config.store, url)
                    .await
                    .map_err(|e| std::io::Error::other(format!("cannot join the cluster: {e}")))?;
                Some(cluster)
            }
            None => None,
        };
        // Recovery runs before anything is answered: the listener only accepts once `run`
        // starts.
        let (store, wal, checkpoint_dir, positions) =
            match (&cluster, config.wal, config.checkpoint_dir) {
                // In a cluster the stream is the log: no log of our own; the checkpoint holds
                // each partition's stream position to resume from.
                (Some(c), _, dir) => {
                    let (stream, partitions) = (c.stream_id(), c.settings().partitions);
                    match dir {
                        Some(dir) => {
                            let store_config = config.store;
                            let (store, positions, dir) = tokio::task::spawn_blocking(move || {
                                sextant_store::recover_partitioned_store(
                                    store_config,
                                    &dir,
                                    stream,
                                    partitions,
                                )
                                .map(|(store, positions)| (store, positions, dir))
                            })
                            .await
                            .map_err(|e| {
                                std::io::Error::other(format!("recovery failed: {e}"))
                            })??;
                            (store, None, Some(dir), Some(Arc::new(positions)))
                        }
                        None => (
                            Store::new(config.store),
                            None,
                            None,
                            Some(Arc::new(sextant_store::StreamPositions::new(partitions))),
                        ),
                    }
                }
                (None, Some(wal), Some(dir)) => {
                    let now = clock.now_ms();
                    let (store, wal, dir) = tokio::task::spawn_blocking(move || {
                        sextant_store::recover_store(config.store, wal, &dir, now)
                            .map(|(store, wal)| (store, wal, dir))
                    })
                    .await
                    .map_err(|e| std::io::Error::other(format!("recovery failed: {e}")))??;
                    (store, Some(wal), Some(dir), None)
                }
                (None, Some(wal), None) => {
                    let store = Store::new(config.store);
                    let wal =
                        sextant_store::recover_wal(&store, wal, clock.now_ms(), 0, &mut |_, _| {
                            true
                        })?;
                    (store, Some(wal), None, None)
                }
                (None, None, _) => (Store::new(config.store), None, None, None),
            };
        let store = Arc::new(store);
        let mut alerting = config.alerting;
        if alerting.external_url.is_empty() {
            let scheme = if tls.is_some() { "https" } else { "http" };
            alerting.external_url = format!("{scheme}://{}", listener.local_addr()?);
        }
        // Rules are evaluated over what queries read: the local store on a single node,
        // every partition through the fan-out on a cluster node.
        let database: Arc<dyn sextant_query::Database + Send + Sync> = match &cluster {
            Some(c) => c.database(store.clone(), clock.clone()),
            None => store.clone(),
        };
        let shared = cluster.as_ref().map(|c| c.alerts());
        let alerting = Alerting::new(store.clone(), database, clock.clone(), alerting, shared)
            .map_err(|e| std::io::Error::other(format!("alert rules: {e}")))?;
        let mut state = AppState::new(store, clock, config.limits);
        state.alerting = Arc::new(alerting);
        if let Some(wal) = wal {
            state = state.with_wal(Arc::new(wal));
        }
        state.auth = config.auth;
        state = state.with_query_limits(config.query_limits);
        if let Some(dir) = config.dashboards_dir {
            state.dashboards = Arc::new(crate::dashboard::DashboardStore::in_dir(dir));
        }
        if let Some(c) = &cluster {
            state = state.with_log(c.log());
            state.cluster = Some(c.status());
            let db = c.database(state.store.clone(), state.clock.clone());
            state = state.with_cluster_database(db);
        }
        state.checkpoints_enabled = state.wal.is_some() || checkpoint_dir.is_some();
        Ok(Server {
            listener,
            state,
            demo: config.demo,
            checkpoint_dir,
            checkpoint_interval: config.checkpoint_interval,
            listen: crate::listen::ListenConfig {
                tls,
                header_read_timeout: config.header_read_timeout,
            },
            data_dir_lock,
            cluster,
            positions,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// True when the server speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.listen.tls.is_some()
    }

    /// The shared state (store, clock, limits).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let store = self.state.store.clone();
        let clock = self.state.clock.clone();
        let step = store.config().step_ms.max(1) as u64;
        let every = Duration::from_millis((step / 2).clamp(1000, 15_000));
        // Backfill before maintenance starts: sealing runs by the clock and would close
        // the old blocks the backfill is still writing.
        let demo = self.demo.then(|| {
            crate::demo::install_dashboards(&self.state.dashboards);
            let demo = Demo::new(store.clone());
            let now = clock.now_ms();
            let seeded = demo.backfill(now);
            tracing::info!(
                series = store.len(),
                points = seeded,
                "demo data backfilled"
            );
            tokio::spawn(demo.run(clock.clone()))
        });
        let maintenance = tokio::spawn({
            let store = store.clone();
            let clock = clock.clone();
            async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tick.tick().await;
                    let store = store.clone();
                    let now = clock.now_ms();
                    if tokio::task::spawn_blocking(move || store.maintain(now))
                        .await
                        .is_err()
                    {
                        tracing::error!("store maintenance failed");
                    }
                }
            }
        });
        let selfmon =
            self.state.selfmon.clone().map(|m| {
                tokio::spawn(m.run(store.clone(), self.state.ingest.clone(), clock.clone()))
            });
        let alerting = self.state.alerting.spawn();
        // The log keeps what the store may still hold: a segment whose newest point is
        // past retention plus max-age holds nothing the store keeps.
        let wal = self.state.wal.clone();
        let wal_truncation = wal.clone().map(|wal| {
            let config = store.config().clone();
            let clock = clock.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tick.tick().await;
                    let before = clock.now_ms() - config.retention_ms - config.max_age_ms;
                    let wal = wal.clone();
                    let _ = tokio::task::spawn_blocking(move || wal.truncate(before)).await;
                }
            })
        });
        let source = match (&wal, &self.positions, &self.cluster) {
            (Some(wal), _, _) => Some(CheckpointSource::Wal(wal.clone())),
            (None, Some(positions), Some(cluster)) => Some(CheckpointSource::Stream {
                positions: positions.clone(),
                stream: cluster.stream_id(),
            }),
            _ => None,
        };
        let checkpoints = match (source, self.checkpoint_dir.clone()) {
            (Some(source), Some(dir)) => Some(Checkpointer {
                store: store.clone(),
                source,
                dir,
                status: self.state.checkpoint.clone(),
                running: Arc::default(),
            }),
            _ => None,
        };
        let interval = i64::try_from(self.checkpoint_interval.as_millis()).unwrap_or(i64::MAX);
        let checkpoint_task = checkpoints.clone().map(|c| {
            let clock = clock.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let mut horizon = i64::MIN;
                let mut last = i64::MIN;
                loop {
                    tick.tick().await;
                    let now = clock.now_ms();
                    let h = c.store.seal_horizon(now);
                    let due = interval > 0 && now.saturating_sub(last) >= interval;
                    if h > horizon || due {
                        let c = c.clone();
                        // Sealing first, so the checkpoint holds the block just closed
                        // compressed rather than open.
                        let _ = tokio::task::spawn_blocking(move || {
                            c.store.maintain(now);
                            c.run(now)
                        })
                        .await;
                        // After a failure too: the next try waits for the next boundary
                        // or interval rather than hammering a full disk every tick.
                        horizon = h;
                        last = now;
                    }
                }
            })
        });
        let ownership = self
            .cluster
            .as_ref()
            .zip(self.positions.clone())
            .map(|(c, positions)| c.spawn(store.clone(), positions));
        let router = app(self.state);
        let result = crate::listen::serve(self.listener, router, self.listen, shutdown).await;
        maintenance.abort();
        if let Some(task) = ownership {
            task.abort();
        }
        if let Some(c) = &self.cluster {
            c.leave().await;
        }
        if let Some(task) = wal_truncation {
            task.abort();
        }
        if let Some(task) = checkpoint_task {
            task.abort();
        }
        // A clean stop leaves a checkpoint, so the next start replays almost nothing.
        if let Some(c) = checkpoints {
            let now = clock.now_ms();
            let _ = tokio::task::spawn_blocking(move || c.run(now)).await;
        }
        // Whatever the sync mode, a clean stop leaves the log on disk.
        if let Some(Err(e)) = wal.map(|w| w.sync_now()) {
            tracing::error!(error = %e, "final write-ahead log sync failed");
        }
        for task in alerting {
            task.abort();
        }
        for task in demo.into_iter().chain(selfmon) {
            task.abort();
        }
        // Only after the log's last sync: the next server may start as soon as it is free.
        drop(self.data_dir_lock);
        result
    }
}

/// What a checkpoint saves besides the series: the log position (a single node), or the
/// stream position of every partition (a cluster node, whose log is the stream).
#[derive(Clone)]
enum CheckpointSource {
    Wal(Arc<sextant_store::Wal>),
    Stream {
        positions: Arc<sextant_store::StreamPositions>,
        stream: u64,
    },
}

/// What the checkpoint task needs; cloned into each blocking run.
#[derive(Clone)]
struct Checkpointer {
    store: Arc<Store>,
    source: CheckpointSource,
    dir: std::path::PathBuf,
    status: Arc<parking_lot::Mutex<crate::http::CheckpointStatus>>,
    /// Held while one runs: the stop's final checkpoint must not overlap a periodic one
    /// still running on a blocking thread (aborting its task does not stop the thread).
    running: Arc<parking_lot::Mutex<()>>,
}

impl Checkpointer {
    /// Writes one checkpoint, logs and records the outcome.
    fn run(&self, now: i64) {
        let _running = self.running.lock();
        let written = match &self.source {
            CheckpointSource::Wal(wal) => {
                sextant_store::write_checkpoint(&self.store, wal, &self.dir, now)
            }
            CheckpointSource::Stream { positions, stream } => {
                sextant_store::write_partitioned_checkpoint(
                    &self.store,
                    positions,
                    *stream,
                    &self.dir,
                    now,
                )
            }
        };
        match written {
            Ok(w) => {
                tracing::info!(
                    checkpoint = %w.path.display(),
                    series = w.series,
                    bytes = w.bytes,
                    elapsed_ms = w.elapsed_ms,
                    segments_deleted = w.segments_deleted,
                    "checkpoint written"
                );
                let mut status = self.status.lock();
                status.written += 1;
                status.last = Some(w);
            }
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, "checkpoint failed; the log keeps everything until one succeeds");
                let mut status = self.status.lock();
                status.failed += 1;
                status.last_error = Some(e.to_string());
            }
        }
    }
}

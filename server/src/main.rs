//! `sextant`: the command-line entry point of the server.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sextant_server::{Limits, Server, ServerConfig};
use sextant_store::StoreConfig;

#[derive(Parser)]
#[command(
    name = "sextant",
    version,
    about = "Sextant: dimensional time-series monitoring"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:7101")]
    listen: SocketAddr,
    /// Primary step: every series keeps one value per step.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    step: Duration,
    /// How long data is kept.
    #[arg(long, default_value = "6h", value_parser = humantime::parse_duration)]
    retention: Duration,
    /// Steps per block (a block is compressed when time moves past it).
    #[arg(long, default_value_t = 60)]
    block_len: usize,
    /// Samples further than this from the server's clock are refused [default: the larger
    /// of one step and 60 s].
    #[arg(long, value_parser = humantime::parse_duration)]
    max_age: Option<Duration>,
    /// Most series the store holds.
    #[arg(long, default_value_t = 5_000_000)]
    max_series: usize,
    /// Most series with one `name` tag value; new series of that name beyond it are
    /// refused (0: no limit).
    #[arg(long, default_value_t = 1_000_000)]
    max_series_per_name: usize,
    /// Most series one query may match.
    #[arg(long, default_value_t = 2_000_000)]
    max_series_per_query: usize,
    /// Largest request body, bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_body_bytes: usize,
    /// Most lines one graph answer may have.
    #[arg(long, default_value_t = 1024)]
    max_lines: usize,
    /// Most datapoints one graph evaluation may hold (lines × steps, also per line).
    #[arg(long, default_value_t = 500_000)]
    max_datapoints: usize,
    /// Wall-clock budget of one graph evaluation.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    query_timeout: Duration,
    /// Graph queries evaluated at once; others wait up to 1 s, then get 503
    /// [default: twice the number of cores].
    #[arg(long)]
    query_concurrency: Option<usize>,
    /// Longest wait for the next piece of a request body; a client that stalls longer
    /// gets 408 and the connection is freed.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    body_read_timeout: Duration,
    /// Longest time a client may take to send a request's headers (and the TLS
    /// handshake); a slower one is disconnected, as is a keep-alive connection idle as long.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    header_read_timeout: Duration,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Publish requests read, decoded and applied at once; others wait up to 1 s, then get
    /// 503 [default: four times the number of cores].
    #[arg(long)]
    max_concurrent_publishes: Option<usize>,
    /// Feed synthetic demo data (a few hundred series over apps, regions and nodes).
    #[arg(long)]
    demo: bool,
    /// Alert rules file (TOML); reloaded on SIGHUP and on POST /api/v1/rules/reload.
    #[arg(long, value_name = "FILE")]
    rules: Option<std::path::PathBuf>,
    /// Directory for state that must survive a restart (alert state, silences).
    #[arg(long, default_value = "./data")]
    data_dir: std::path::PathBuf,
    /// When publishes reach the disk: `group` (each answer waits for an fsync shared by
    /// concurrent publishers), `always` (each request fsyncs alone), an interval such as
    /// `100ms` (background fsync; a crash may lose that much acknowledged data) or `off`.
    #[arg(long, default_value = "group", value_name = "MODE")]
    wal_sync: sextant_store::SyncMode,
    /// Largest write-ahead log segment, bytes; a full one is closed and a new one started.
    #[arg(long, default_value_t = 64 << 20, value_name = "BYTES")]
    wal_segment_size: u64,
    /// No write-ahead log: published data lives in memory only and a restart loses it.
    /// With --cluster: no checkpoints (the stream is the log; a restart rebuilds from it).
    #[arg(long)]
    no_persist: bool,
    /// Longest time between checkpoints of the store; one is also written at every block
    /// boundary and at a clean stop. Bounds the log replayed at start (with --cluster:
    /// the stream read again at start). `0s`: only at block boundaries.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    checkpoint_interval: Duration,
    /// Most silences kept (expired ones count until forgotten, a day after they end).
    #[arg(long, default_value_t = 10_000)]
    max_silences: usize,
    /// Most matchers in one silence.
    #[arg(long, default_value_t = 100)]
    max_silence_matchers: usize,
    /// Most bytes of one silence's matchers, comment and author.
    #[arg(long, default_value_t = 64 << 10)]
    max_silence_bytes: usize,
    /// Bearer tokens file: one `role token` per line (roles: publish, read, admin; `#`
    /// comments). SEXTANT_TOKEN_PUBLISH/READ/ADMIN add more. No tokens: authentication off.
    #[arg(long, value_name = "FILE")]
    tokens: Option<std::path::PathBuf>,
    /// Join a cluster on NATS JetStream: server URLs, comma-separated
    /// (`nats://127.0.0.1:4222,...`). Needs --node-id. See docs/cluster.md.
    #[arg(long, value_name = "URLS", requires = "node_id")]
    cluster: Option<String>,
    /// This node's name in the cluster, unique among its nodes.
    #[arg(long, value_name = "ID", requires = "cluster")]
    node_id: Option<String>,
    /// Partitions of a new cluster (ignored when the cluster exists).
    #[arg(long, default_value_t = 64)]
    cluster_partitions: u32,
    /// JetStream replicas of a new cluster's stream: 3 in production, 1 for one nats-server.
    #[arg(long, default_value_t = 1)]
    cluster_replicas: usize,
    /// Sextant nodes that store each partition, for a new cluster.
    #[arg(long, default_value_t = 2)]
    cluster_owners: usize,
    /// Longest wait for JetStream to acknowledge a publish; then 503 with Retry-After.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    cluster_publish_timeout: Duration,
    /// A node whose heartbeat is older than this has left the cluster.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    cluster_member_ttl: Duration,
    /// Longest wait for another node's part of a query; its partitions are then asked of
    /// their other owner, or the answer is marked partial.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    cluster_query_timeout: Duration,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn config(a: ServeArgs) -> anyhow::Result<ServerConfig> {
    let step_ms = millis(a.step);
    anyhow::ensure!(step_ms >= 1, "--step must be at least 1ms");
    // Zero would refuse every query (or every line), which is never what is meant.
    anyhow::ensure!(
        a.query_concurrency != Some(0),
        "--query-concurrency must be at least 1"
    );
    anyhow::ensure!(
        a.max_concurrent_publishes != Some(0),
        "--max-concurrent-publishes must be at least 1"
    );
    anyhow::ensure!(
        a.max_lines >= 1 && a.max_datapoints >= 1,
        "--max-lines and --max-datapoints must be at least 1"
    );
    anyhow::ensure!(
        a.block_len >= 1 && a.block_len <= 65_535,
        "--block-len must be 1..=65535"
    );
    // Zero would disconnect every client before its first byte.
    anyhow::ensure!(
        !a.header_read_timeout.is_zero(),
        "--header-read-timeout must be above 0"
    );
    let max_age_ms = a.max_age.map(millis).unwrap_or(step_ms.max(60_000));
    let retention_ms = millis(a.retention).max(step_ms);
    let cluster = match (a.cluster, a.node_id) {
        (Some(urls), Some(node_id)) => {
            // The demo feed writes into the local store, which in a cluster holds only
            // the partitions it owns; demo data goes through /api/v1/publish instead.
            anyhow::ensure!(!a.demo, "--demo does not work with --cluster; publish demo data over HTTP (scripts/cluster-demo.sh)");
            anyhow::ensure!(
                !node_id.is_empty()
                    && node_id.len() <= 64
                    && node_id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "--node-id must be 1..=64 characters of A-Z a-z 0-9 - _"
            );
            anyhow::ensure!(
                a.cluster_partitions >= 1,
                "--cluster-partitions must be at least 1"
            );
            anyhow::ensure!(
                (1..=5).contains(&a.cluster_replicas),
                "--cluster-replicas must be 1..=5"
            );
            anyhow::ensure!(a.cluster_owners >= 1, "--cluster-owners must be at least 1");
            anyhow::ensure!(
                !a.cluster_member_ttl.is_zero()
                    && !a.cluster_publish_timeout.is_zero()
                    && !a.cluster_query_timeout.is_zero(),
                "--cluster-member-ttl, --cluster-publish-timeout and --cluster-query-timeout must be above 0"
            );
            Some(sextant_server::cluster::ClusterConfig {
                urls,
                node_id,
                create: sextant_server::cluster::Settings {
                    partitions: a.cluster_partitions,
                    replicas: a.cluster_replicas,
                    owners: a.cluster_owners,
                    retention_ms,
                    step_ms,
                },
                publish_timeout: a.cluster_publish_timeout,
                member_ttl: a.cluster_member_ttl,
                query_timeout: a.cluster_query_timeout,
            })
        }
        _ => None,
    };
    let tls = match (a.tls_cert, a.tls_key) {
        (Some(cert), Some(key)) => Some(sextant_server::TlsFiles { cert, key }),
        _ => None,
    };
    let mut tokens = sextant_server::Tokens::new();
    if let Some(path) = &a.tokens {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --tokens {}", path.display()))?;
        tokens
            .add_file(&text)
            .with_context(|| format!("--tokens {}", path.display()))?;
    }
    tokens.add_env(|name| std::env::var(name).ok())?;
    Ok(ServerConfig {
        listen: a.listen,
        store: StoreConfig {
            step_ms,
            block_len: a.block_len,
            retention_ms,
            max_age_ms,
            max_series_per_query: a.max_series_per_query,
            max_series: a.max_series,
            max_series_per_name: a.max_series_per_name,
        },
        limits: Limits {
            max_body_bytes: a.max_body_bytes,
            max_decompressed_bytes: a.max_body_bytes.saturating_mul(4),
            query_concurrency: a
                .query_concurrency
                .unwrap_or_else(sextant_server::default_query_concurrency),
            body_read_timeout: a.body_read_timeout,
            max_concurrent_publishes: a
                .max_concurrent_publishes
                .unwrap_or_else(sextant_server::default_max_concurrent_publishes),
        },
        demo: a.demo,
        dashboards_dir: Some(a.data_dir.join("dashboards")),
        wal: (!a.no_persist).then(|| sextant_store::WalConfig {
            dir: a.data_dir.join("wal"),
            sync: a.wal_sync,
            segment_bytes: a.wal_segment_size.max(1024),
        }),
        checkpoint_dir: (!a.no_persist).then(|| a.data_dir.join("checkpoints")),
        checkpoint_interval: a.checkpoint_interval,
        auth: std::sync::Arc::new(tokens),
        query_limits: sextant_server::QueryLimits {
            max_lines: a.max_lines,
            max_datapoints: a.max_datapoints,
            budget: a.query_timeout,
        },
        tls,
        header_read_timeout: a.header_read_timeout,
        data_dir: Some(a.data_dir.clone()),
        cluster,
        alerting: sextant_server::AlertingConfig {
            rules_file: a.rules,
            data_dir: Some(a.data_dir),
            external_url: String::new(),
            silence_limits: sextant_server::SilenceLimits {
                max_silences: a.max_silences,
                max_matchers: a.max_silence_matchers,
                max_bytes: a.max_silence_bytes,
            },
        },
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Command::Serve(args) = Cli::parse().command;
    let config = config(args)?;
    let server = Server::bind(config.clone())
        .await
        .with_context(|| format!("cannot start the server on {}", config.listen))?;
    let addr = server.local_addr()?;
    if !addr.ip().is_loopback() && !server.state().auth.is_enabled() {
        tracing::warn!(
            %addr,
            "listening on a non-loopback address without authentication: anyone who can reach it may read, publish and change rules; set --tokens or SEXTANT_TOKEN_*"
        );
    }
    if !addr.ip().is_loopback() && !server.is_tls() {
        tracing::warn!(
            %addr,
            "listening on a non-loopback address without TLS: requests, data and bearer tokens travel in plain text; set --tls-cert and --tls-key or put a TLS proxy in front"
        );
    }
    let scheme = if server.is_tls() { "https" } else { "http" };
    // Tests and scripts read this line to find the port.
    println!("sextant listening on {scheme}://{addr}");
    server.run(shutdown_signal()).await?;
    Ok(())
}

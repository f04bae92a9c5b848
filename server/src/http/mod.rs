//! The HTTP API: routes, shared state and limits. Handlers are thin: they parse, call one
//! domain function and map errors through [`ApiError`].

mod alerts;
mod dashboards;
mod graph;
mod internal;
mod interop;
mod layers;
mod prometheus;
mod publish;
mod status;
mod tags;
mod web;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use sextant_query::{Query, StackItem};

pub use crate::error::ApiError;

use crate::alert::Alerting;
use crate::clock::Clock;
use crate::grapher::{Grapher, QueryLimits};
use crate::slots::{SlotKind, Slots};
use sextant_store::Store;

/// Limits the HTTP layer enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted, as sent (compressed or not), bytes.
    pub max_body_bytes: usize,
    /// Largest body after gzip inflation, bytes.
    pub max_decompressed_bytes: usize,
    /// Graph queries evaluating at once; more wait up to [`QUERY_SLOT_WAIT`], then get 503.
    pub query_concurrency: usize,
    /// Longest wait for the next piece of a request body before the request fails.
    pub body_read_timeout: std::time::Duration,
    /// Publish requests read, decoded and applied at once; more wait up to
    /// [`PUBLISH_SLOT_WAIT`], then get 503.
    pub max_concurrent_publishes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            query_concurrency: default_query_concurrency(),
            body_read_timeout: std::time::Duration::from_secs(30),
            max_concurrent_publishes: default_max_concurrent_publishes(),
        }
    }
}

/// How long a graph query waits for a slot before the answer is 503: long enough to ride
/// out a short burst, short enough that a client's retry is not left hanging.
pub const QUERY_SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Two query slots per core: a query alternates between scanning (CPU) and waiting on
/// locks and the blocking pool, so one per core would leave cores idle.
pub fn default_query_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().saturating_mul(2))
}

pub use publish::{default_max_concurrent_publishes, PUBLISH_SLOT_WAIT};

/// The header that marks an answer missing some of a cluster's partitions.
pub const PARTIAL_HEADER: &str = "sextant-partial";

/// `response` with [`PARTIAL_HEADER`] (`missing=3; partitions=64`) when it lacks
/// partitions, whatever its format.
pub fn partial_marked(
    mut response: axum::response::Response,
    partial: Option<sextant_query::Partial>,
) -> axum::response::Response {
    if let Some(p) = partial {
        let value = format!(
            "missing={}; partitions={}",
            p.missing_partitions, p.partitions
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(axum::http::HeaderName::from_static(PARTIAL_HEADER), v);
        }
    }
    response
}

/// A graph answer as a response: its bytes with their content type, marked when partial.
pub fn graph_answer(answer: crate::grapher::Answer) -> axum::response::Response {
    use axum::response::IntoResponse;
    partial_marked(
        (
            [(
                axum::http::header::CONTENT_TYPE,
                answer.rendered.content_type,
            )],
            answer.rendered.body,
        )
            .into_response(),
        answer.partial,
    )
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<Store>,
    /// What queries read: the store, or in a cluster every partition's owners.
    pub database: Arc<dyn sextant_query::Database + Send + Sync>,
    /// The cluster's partitions as one database, when this node is in a cluster.
    pub cluster_database: Option<Arc<crate::cluster::ClusterDatabase>>,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// Request limits.
    pub limits: Limits,
    /// The one write path: decode, validate, log, apply.
    pub ingest: Arc<crate::ingest::IngestService>,
    /// The one read path of `/api/v1/graph`: parameters to rendered bytes.
    pub grapher: Arc<Grapher>,
    /// Alert rules, their state, silences and notifications.
    pub alerting: Arc<Alerting>,
    /// Saved dashboards of the web UI.
    pub dashboards: Arc<crate::dashboard::DashboardStore>,
    /// The server's own meters; `None` when they could not be set up.
    pub selfmon: Option<crate::selfmon::SelfMetrics>,
    /// The write-ahead log publishes are appended to (see [`AppState::with_wal`]); `None`
    /// keeps data in memory only.
    pub wal: Option<Arc<sextant_store::Wal>>,
    /// Bearer tokens; empty means authentication is off.
    pub auth: Arc<crate::auth::Tokens>,
    /// Slots of concurrent graph evaluations (`Limits::query_concurrency`).
    pub query_slots: Slots,
    /// Slots of concurrent publishes (`Limits::max_concurrent_publishes`).
    pub publish_slots: Slots,
    /// What the checkpoint task has done, for `/api/v1/stats`.
    pub checkpoint: Arc<parking_lot::Mutex<CheckpointStatus>>,
    /// Partition states and members when this node is in a cluster.
    pub cluster: Option<Arc<crate::cluster::ClusterStatus>>,
    /// True when a checkpoint task runs (a log, or a cluster node with a data directory):
    /// `/api/v1/stats` then shows [`AppState::checkpoint`].
    pub checkpoints_enabled: bool,
}

/// Outcomes of the checkpoint task so far.
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointStatus {
    /// Checkpoints written since start.
    pub written: u64,
    /// Checkpoints that failed since start.
    pub failed: u64,
    /// The newest one written.
    pub last: Option<sextant_store::Written>,
    /// The newest failure's message.
    pub last_error: Option<String>,
}

impl AppState {
    /// State over `store` with the given clock and limits.
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>, limits: Limits) -> Self {
        let query_slots = Slots::new(SlotKind::Query, limits.query_concurrency, QUERY_SLOT_WAIT);
        let publish_slots = Slots::new(
            SlotKind::Publish,
            limits.max_concurrent_publishes,
            PUBLISH_SLOT_WAIT,
        );
        let ingest = Arc::new(crate::ingest::IngestService::new(
            store.clone(),
            Arc::new(sextant_store::NoLog),
            clock.clone(),
            limits.max_decompressed_bytes,
        ));
        let selfmon = crate::selfmon::SelfMetrics::new(std::time::Duration::from_millis(
            store.config().step_ms.max(1) as u64,
        ))
        .ok();
        let grapher = Arc::new(Grapher::new(
            store.clone(),
            store.config().block_len,
            QueryLimits::default(),
            clock.clone(),
            selfmon.clone(),
        ));
        AppState {
            alerting: Arc::new(Alerting::disabled(store.clone(), clock.clone())),
            dashboards: Arc::new(crate::dashboard::DashboardStore::in_memory()),
            clock,
            limits,
            selfmon,
            database: store.clone(),
            cluster_database: None,
            store,
            ingest,
            grapher,
            wal: None,
            auth: Arc::default(),
            query_slots,
            checkpoint: Arc::default(),
            publish_slots,
            cluster: None,
            checkpoints_enabled: false,
        }
    }
}

impl AppState {
    /// The same state with every graph query within `limits`.
    pub fn with_query_limits(mut self, limits: QueryLimits) -> Self {
        let grapher = Grapher::new(
            self.database.clone(),
            self.store.config().block_len,
            limits,
            self.clock.clone(),
            self.selfmon.clone(),
        );
        self.grapher = Arc::new(match &self.cluster_database {
            Some(_) => grapher.with_local(self.store.clone()),
            None => grapher,
        });
        self
    }

    /// The same state with queries answered across the cluster's partitions by `db`.
    pub fn with_cluster_database(mut self, db: Arc<crate::cluster::ClusterDatabase>) -> Self {
        self.database = db.clone();
        self.cluster_database = Some(db);
        let limits = self.grapher.limits().clone();
        self.with_query_limits(limits)
    }

    /// Tag keys (`key` = `None`) or values of `key` among the series `query` selects,
    /// after `after`, at most `limit`, with the partitions missing in a cluster.
    pub async fn tag_names(
        &self,
        query: sextant_query::Query,
        key: Option<String>,
        after: Option<String>,
        limit: usize,
    ) -> Result<(Vec<sextant_store::TagCount>, Option<sextant_query::Partial>), ApiError> {
        let Some(db) = self.cluster_database.clone() else {
            let names = match &key {
                None => self.store.tag_keys(&query, after.as_deref(), limit),
                Some(k) => self.store.tag_values(k, &query, after.as_deref(), limit),
            };
            return Ok((names, None));
        };
        // The fan-out waits on other nodes: not on the runtime's threads.
        let (names, partial) = tokio::task::spawn_blocking(move || {
            db.tag_names(&query, key.as_deref(), after.as_deref(), limit)
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| match e {
            sextant_query::DatabaseError::Storage(_) => ApiError::Internal(e.to_string()),
            _ => ApiError::BadRequest(e.to_string()),
        })?;
        let names = names
            .into_iter()
            .map(|(name, count)| sextant_store::TagCount { name, count })
            .collect();
        Ok((names, partial))
    }

    /// The same state with publishes appended to `wal` before they are stored.
    pub fn with_wal(mut self, wal: Arc<sextant_store::Wal>) -> Self {
        self.ingest = Arc::new(crate::ingest::IngestService::new(
            self.store.clone(),
            wal.clone(),
            self.clock.clone(),
            self.limits.max_decompressed_bytes,
        ));
        self.wal = Some(wal);
        self
    }

    /// The same state with publishes sent through `log` (the cluster's JetStream log).
    pub fn with_log(mut self, log: Arc<dyn sextant_store::Log>) -> Self {
        self.ingest = Arc::new(crate::ingest::IngestService::new(
            self.store.clone(),
            log,
            self.clock.clone(),
            self.limits.max_decompressed_bytes,
        ));
        self
    }
}

/// The whole API as a router.
pub fn app(state: AppState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    Router::new()
        .merge(
            publish_routes()
                .layer(DefaultBodyLimit::max(body_limit))
                // A route layer runs before the handler's body extractor, so a slot bounds
                // the bodies buffered at once, not only the decoding.
                .route_layer(axum::middleware::from_fn_with_state(
                    state.publish_slots.clone(),
                    layers::hold_slot,
                )),
        )
        .merge(tags_routes())
        .merge(
            graph_routes().route_layer(axum::middleware::from_fn_with_state(
                state.query_slots.clone(),
                layers::hold_slot,
            )),
        )
        .merge(expr_routes())
        .merge(prometheus::routes())
        .merge(status_routes())
        .merge(alerts::alerts_routes())
        .merge(dashboards::dashboard_routes())
        .merge(web::web_routes())
        .merge(internal::internal_routes())
        .fallback(not_found)
        // Bounds the wait between body pieces, so a client that stops sending mid-body
        // does not hold a connection and a buffer forever.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.limits.body_read_timeout,
        ))
        // Outermost, so a refused request is answered before its body is read.
        .layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            layers::require_role,
        ))
        // Outside authentication too: a 401 is already shaped, a 414 needs no token.
        .layer(axum::middleware::from_fn(layers::shape_errors))
        .with_state(state)
}

fn publish_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/publish", post(publish::publish_create))
        .route("/api/v1/publish-fast", post(publish::publish_create))
        .route("/api/v1/write", post(interop::remote_write))
        .route("/v1/metrics", post(interop::otlp_metrics))
}

fn tags_routes() -> Router<AppState> {
    Router::new()
        // As Atlas's `pathEndOrSingleSlash` and `path(Remaining)`: a trailing slash lists
        // the keys, and a key may hold slashes.
        .route("/api/v1/tags", get(tags::tags_list))
        .route("/api/v1/tags/", get(tags::tags_list))
        .route("/api/v1/tags/{*key}", get(tags::tags_values))
}

fn graph_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/graph", get(graph::graph_show))
        .route("/api/v1/chart", get(web::chart_show))
}

fn expr_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/expr", get(graph::expr_show))
        .route("/api/v1/expr/normalize", get(graph::expr_normalize))
}

fn status_routes() -> Router<AppState> {
    Router::new()
        .route("/healthcheck", get(status::health_show))
        .route("/api/v1/stats", get(status::stats_show))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {}", uri.path()))
}

/// Parses the `q` of the tags API: query words only, leaving exactly one query. A missing
/// `q` selects every series.
fn parse_tag_query(q: Option<&str>) -> Result<Query, ApiError> {
    match q {
        None => Ok(Query::True),
        Some(q) if q.trim().is_empty() => Ok(Query::True),
        Some(q) => {
            let mut stack =
                sextant_query::interpret(q).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            match (stack.pop(), stack.is_empty()) {
                (Some(StackItem::Query(query)), true) => Ok(query),
                (Some(other), true) => Err(ApiError::BadRequest(format!(
                    "q must be a query, found {}",
                    other.describe()
                ))),
                _ => Err(ApiError::BadRequest(
                    "q must leave exactly one query on the stack".to_string(),
                )),
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::clock::ManualClock;
    use sextant_store::StoreConfig;

    fn state(slots: usize) -> AppState {
        let store = Arc::new(Store::new(StoreConfig {
            step_ms: 1000,
            ..StoreConfig::default()
        }));
        let limits = Limits {
            query_concurrency: slots,
            ..Limits::default()
        };
        AppState::new(store, Arc::new(ManualClock::new(1_700_000_000_000)), limits)
    }

    async fn graph(state: &AppState) -> (StatusCode, Option<String>, String) {
        let request = Request::get("/api/v1/graph?q=1&format=json&s=e-1m")
            .body(Body::empty())
            .unwrap_or_default();
        send(state, request).await
    }

    /// Runs `request` through the whole router: its status, `Retry-After` and body.
    pub(crate) async fn send(
        state: &AppState,
        request: Request<Body>,
    ) -> (StatusCode, Option<String>, String) {
        let response = match app(state.clone()).oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        (status, retry, body)
    }

    /// The 503 path without timing: the test itself holds every slot, so the query can
    /// only wait out `QUERY_SLOT_WAIT` and be refused; once a slot is free it runs.
    #[tokio::test]
    async fn graph_answers_503_while_every_query_slot_is_held() {
        let state = state(2);
        let first = state.query_slots.acquire().await;
        let second = state.query_slots.acquire().await;
        assert!(first.is_ok() && second.is_ok());
        let (status, retry, body) = graph(&state).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(retry.as_deref(), Some("1"));
        assert!(
            body.contains("too many concurrent queries: all 2 query slots stayed busy for 1000 ms"),
            "{body}"
        );
        // Other endpoints never wait for a query slot.
        let request = Request::get("/api/v1/tags")
            .body(Body::empty())
            .unwrap_or_default();
        let tags = app(state.clone())
            .oneshot(request)
            .await
            .map(|r| r.status());
        assert_eq!(tags.ok(), Some(StatusCode::OK));
        drop(first);
        let (status, _, body) = graph(&state).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        drop(second);
    }
}

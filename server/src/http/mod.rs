//! The HTTP API: routes, shared state and limits. Handlers are thin: they parse, call one
//! domain function and map errors through [`ApiError`].

mod alerts;
mod dashboards;
mod error;
mod graph;
mod publish;
mod status;
mod tags;
mod web;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use sextant_query::{Query, StackItem};

pub use error::ApiError;

use crate::alert::Alerting;
use crate::clock::Clock;
use crate::graph::QueryLimits;
use crate::publish::PublishOutcome;
use crate::store::Store;

/// Limits the HTTP layer enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted, as sent (compressed or not), bytes.
    pub max_body_bytes: usize,
    /// Largest body after gzip inflation, bytes.
    pub max_decompressed_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
        }
    }
}

/// Counters of the HTTP layer, for `/api/v1/stats`.
#[derive(Debug, Default)]
pub struct HttpCounters {
    /// Publish requests that were decoded.
    pub publishes: AtomicU64,
    /// Datapoints stored by publish requests.
    pub datapoints_accepted: AtomicU64,
    /// Datapoints refused by publish requests (any reason).
    pub datapoints_rejected: AtomicU64,
}

impl HttpCounters {
    fn record_publish(&self, outcome: &PublishOutcome) {
        self.publishes.fetch_add(1, Ordering::Relaxed);
        self.datapoints_accepted
            .fetch_add(outcome.accepted as u64, Ordering::Relaxed);
        self.datapoints_rejected
            .fetch_add(outcome.error_count as u64, Ordering::Relaxed);
    }
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<Store>,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// Request limits.
    pub limits: Limits,
    /// HTTP-level counters.
    pub meters: Arc<HttpCounters>,
    /// Limits of one query.
    pub query_limits: QueryLimits,
    /// Alert rules, their state, silences and notifications.
    pub alerting: Arc<Alerting>,
    /// Saved dashboards of the web UI.
    pub dashboards: Arc<crate::dashboard::DashboardStore>,
    /// The server's own meters; `None` when they could not be set up.
    pub selfmon: Option<crate::selfmon::SelfMetrics>,
    /// Bearer tokens; empty means authentication is off.
    pub auth: Arc<crate::auth::Tokens>,
}

impl AppState {
    /// State over `store` with the given clock and limits.
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>, limits: Limits) -> Self {
        AppState {
            alerting: Arc::new(Alerting::disabled(store.clone(), clock.clone())),
            dashboards: Arc::new(crate::dashboard::DashboardStore::in_memory()),
            clock,
            limits,
            selfmon: crate::selfmon::SelfMetrics::new(std::time::Duration::from_millis(
                store.config().step_ms.max(1) as u64,
            ))
            .ok(),
            store,
            meters: Arc::default(),
            query_limits: QueryLimits::default(),
            auth: Arc::default(),
        }
    }
}

/// The whole API as a router.
pub fn app(state: AppState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    Router::new()
        .merge(publish_routes().layer(DefaultBodyLimit::max(body_limit)))
        .merge(tags_routes())
        .merge(graph_routes())
        .merge(status_routes())
        .merge(alerts::alerts_routes())
        .merge(dashboards::dashboard_routes())
        .merge(web::web_routes())
        .fallback(not_found)
        // Outermost, so a refused request is answered before its body is read.
        .layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            crate::auth::require_role,
        ))
        .with_state(state)
}

fn publish_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/publish", post(publish::publish_create))
        .route("/api/v1/publish-fast", post(publish::publish_create))
}

fn tags_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tags", get(tags::tags_list))
        .route("/api/v1/tags/{key}", get(tags::tags_values))
}

fn graph_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/graph", get(graph::graph_show))
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

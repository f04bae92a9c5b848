//! Handlers of `GET /api/v1/graph`, `GET /api/v1/expr` and `GET /api/v1/expr/normalize`.

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sextant_query::{GraphData, TimeSeries};

use super::{ApiError, AppState};
use crate::graph;

/// The query string as decoded `(key, value)` pairs, repeated keys kept in order.
fn pairs(raw: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    let raw = raw.unwrap_or_default();
    serde_urlencoded::from_str(&raw)
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

impl From<graph::GraphError> for ApiError {
    fn from(e: graph::GraphError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// Evaluates `q` over the window and answers in the requested format.
pub async fn graph_show(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = pairs(raw)?;
    let now = state.clock.now_ms();
    let store = state.store.clone();
    let limits = state.query_limits.clone();
    let graph = tokio::task::spawn_blocking(move || graph::evaluate(&store, &pairs, &limits, now))
        .await
        .map_err(|e| ApiError::Internal(format!("graph evaluation panicked: {e}")))??;
    let params = &graph.params;
    let lines: Vec<TimeSeries> = graph.lines.iter().map(|l| l.series.clone()).collect();
    let data = GraphData {
        lines: &lines,
        window: params.window,
        timezone: params.primary_timezone(),
        notices: &params.warnings,
    };
    match sextant_query::render_data(params.format, &data) {
        Some((content_type, body)) => Ok(([(header::CONTENT_TYPE, content_type)], body).into_response()),
        None => Err(ApiError::BadRequest(format!(
            "format '{}' is not available in this build: use json, std.json, csv, txt or stats.json",
            params.format.name()
        ))),
    }
}

/// Parses `q` and shows the resulting stack, bottom first, each item in canonical form.
pub async fn expr_show(RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let pairs = pairs(raw)?;
    let q = param(&pairs, "q")
        .ok_or_else(|| ApiError::BadRequest("missing required parameter 'q'".into()))?;
    let stack = sextant_query::interpret(q).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let items: Vec<_> = stack
        .iter()
        .map(|item| json!({"type": item.describe(), "expr": item.to_string()}))
        .collect();
    Ok(axum::Json(json!({"q": q, "stack": items})).into_response())
}

/// The canonical form of each expression of `q`, as Atlas's `/api/v1/expr/normalize`.
pub async fn expr_normalize(RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let pairs = pairs(raw)?;
    let q = param(&pairs, "q")
        .ok_or_else(|| ApiError::BadRequest("missing required parameter 'q'".into()))?;
    let exprs = sextant_query::normalize(q).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(axum::Json(exprs).into_response())
}

//! Handlers of `GET /api/v1/graph`, `GET /api/v1/expr` and `GET /api/v1/expr/normalize`.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, AppState};
use crate::grapher::{GraphOutput, GraphRequest};

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

/// Evaluates `q` over the window and answers in the requested format. A failure is drawn
/// as an error image, still with a 4xx status, for clients that asked for an image and
/// for browsers, so an `<img>` on a dashboard shows what went wrong.
pub async fn graph_show(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let browser = headers
        .get(header::USER_AGENT)
        .and_then(|ua| ua.to_str().ok())
        .is_some_and(GraphRequest::is_browser);
    let request = GraphRequest {
        pairs: pairs(raw)?,
        browser,
        output: GraphOutput::Format,
    };
    Ok(super::graph_answer(state.grapher.graph(request).await?))
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

//! Routes cluster nodes call on each other (docs/cluster.md, "Queries"): fold some
//! partitions of one data expression, list tags of some partitions. Bodies are bincode;
//! a call must carry the cluster's internal token, which nodes read from NATS.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use super::{ApiError, AppState};
use crate::cluster::query::{self, FoldCall, TagsCall, FOLD_PATH, TAGS_PATH};

/// The internal routes; they answer 404 on a node that is not in a cluster.
pub fn internal_routes() -> Router<AppState> {
    Router::new()
        .route(FOLD_PATH, post(fold_create))
        .route(TAGS_PATH, post(tags_create))
}

/// The cluster database, once the caller showed the cluster's token.
fn authorised(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<std::sync::Arc<crate::cluster::ClusterDatabase>, ApiError> {
    let db = state
        .cluster_database
        .clone()
        .ok_or_else(|| ApiError::NotFound("this node is not in a cluster".into()))?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !db.accepts(given) {
        return Err(ApiError::Forbidden(
            "internal routes need the cluster's internal token".into(),
        ));
    }
    Ok(db)
}

fn binary(body: Result<Vec<u8>, String>) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}

/// Folds the partitions of the call this node has live.
pub async fn fold_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let db = authorised(&state, &headers)?;
    let call: FoldCall = query::decode(&body).map_err(ApiError::BadRequest)?;
    let reply = tokio::task::spawn_blocking(move || db.fold_here(&call))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    binary(query::encode(&reply))
}

/// Lists tag names of the partitions of the call this node has live.
pub async fn tags_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let db = authorised(&state, &headers)?;
    let call: TagsCall = query::decode(&body).map_err(ApiError::BadRequest)?;
    let reply = tokio::task::spawn_blocking(move || db.tags_here(&call))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    binary(query::encode(&reply))
}

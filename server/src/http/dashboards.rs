//! Handlers of `/api/v1/dashboards[/{name}]`: list, show, save (PUT) and delete the
//! dashboards of the web UI. Storage rules live in [`crate::dashboard`].

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::{ApiError, AppState};
use crate::dashboard::{DashboardError, MAX_DASHBOARD_BYTES};

impl From<DashboardError> for ApiError {
    fn from(e: DashboardError) -> Self {
        match e {
            DashboardError::InvalidName(_) | DashboardError::Invalid(_) => {
                ApiError::BadRequest(e.to_string())
            }
            DashboardError::NotFound(_) => ApiError::NotFound(e.to_string()),
            DashboardError::TooLarge(_) => ApiError::TooLarge(e.to_string()),
            DashboardError::Io(_) => ApiError::Internal(e.to_string()),
        }
    }
}

/// The dashboard routes, with a body limit sized for dashboards rather than publishes.
pub fn dashboard_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/dashboards", get(dashboards_list))
        .route(
            "/api/v1/dashboards/{name}",
            get(dashboards_show)
                .put(dashboards_update)
                .delete(dashboards_delete),
        )
        .layer(DefaultBodyLimit::max(MAX_DASHBOARD_BYTES))
}

/// Names of the saved dashboards.
pub async fn dashboards_list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.dashboards.clone();
    let names = tokio::task::spawn_blocking(move || store.list())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(names).into_response())
}

/// One dashboard.
pub async fn dashboards_show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.dashboards.clone();
    let doc = tokio::task::spawn_blocking(move || store.get(&name))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(doc).into_response())
}

/// Saves a dashboard, replacing any with that name.
pub async fn dashboards_update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let store = state.dashboards.clone();
    let doc = tokio::task::spawn_blocking(move || store.put(&name, &body))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(doc).into_response())
}

/// Deletes a dashboard.
pub async fn dashboards_delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.dashboards.clone();
    tokio::task::spawn_blocking(move || store.delete(&name))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

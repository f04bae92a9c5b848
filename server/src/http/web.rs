//! The web UI: the page at `/` and its files under `/ui/` (scripts, stylesheets, the
//! vendored uPlot), all compiled into the binary by `sextant-ui`; and the two JSON documents the page draws
//! from: `GET /api/v1/words` (the stack language's words) and `GET /api/v1/chart` (a
//! graph's lines with the colors, styles and axes the PNG renderer would use).

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{ApiError, AppState};
use crate::grapher::{GraphOutput, GraphRequest};

/// Routes of the web UI (`/api/v1/chart` is among the graph routes, which hold a query
/// slot).
pub fn web_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index_show))
        .route("/ui/{name}", get(asset_show))
        .route("/api/v1/words", get(words_list))
}

/// The single page; its views are chosen by the query string, in the browser.
pub async fn index_show() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        sextant_ui::web::index_html(),
    )
}

/// A static file of the page: scripts, stylesheets, uPlot.
pub async fn asset_show(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (content_type, body) = sextant_ui::web::asset(&name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no such file: /ui/{}",
            name.chars().take(80).collect::<String>()
        ))
    })?;
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Every word of the stack language with its stack effect and one line of meaning.
pub async fn words_list() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        sextant_ui::web::words_json(),
    )
}

/// The chart model of a graph: takes `/api/v1/graph`'s parameters and answers its lines
/// in drawing order with values (as `std.json`, `null` for NaN), color, style, axis and
/// legend statistics, plus the axes' ranges and the theme's colors. Holds a query slot
/// like `/api/v1/graph`.
pub async fn chart_show(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&raw.unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?;
    let request = GraphRequest {
        pairs,
        browser: false,
        output: GraphOutput::ChartModel,
    };
    Ok(super::graph_answer(state.grapher.graph(request).await?))
}

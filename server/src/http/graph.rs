//! Handlers of `GET /api/v1/graph`, `GET /api/v1/expr` and `GET /api/v1/expr/normalize`.

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sextant_query::{GraphData, OutputFormat, Theme, TimeSeries};

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

/// Evaluates `q` over the window and answers in the requested format. For the image
/// formats a failure is drawn as an error image, still with a 4xx status, so an `<img>`
/// on a dashboard shows what went wrong.
pub async fn graph_show(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let pairs = pairs(raw)?;
    // A fixed set of tag values, so a caller cannot blow up the meter's cardinality.
    let format = match param(&pairs, "format").unwrap_or("png") {
        f @ ("png" | "svg" | "json" | "std.json" | "csv" | "txt" | "stats.json") => f,
        _ => "other",
    };
    let latency = state.selfmon.as_ref().map(|m| m.query_latency(format));
    let answer = graph_answer(state, pairs).await;
    if let Some(timer) = latency {
        timer.record(started.elapsed());
    }
    answer
}

async fn graph_answer(state: AppState, pairs: Vec<(String, String)>) -> Result<Response, ApiError> {
    let image = ErrorImage::for_request(&pairs);
    let now = state.clock.now_ms();
    let store = state.store.clone();
    let limits = state.query_limits.clone();
    let evaluated =
        tokio::task::spawn_blocking(move || graph::evaluate(&store, &pairs, &limits, now))
            .await
            .map_err(|e| ApiError::Internal(format!("graph evaluation panicked: {e}")))?;
    let graph = match (evaluated, image) {
        (Ok(graph), _) => graph,
        (Err(e), Some(image)) => return image.render(e.to_string()).await,
        (Err(e), None) => return Err(e.into()),
    };
    let params = &graph.params;
    if params.format.is_image() {
        return render_image(graph).await;
    }
    let lines: Vec<TimeSeries> = graph.lines.iter().map(|l| l.series.clone()).collect();
    let data = GraphData {
        lines: &lines,
        window: params.window,
        timezone: params.primary_timezone(),
        notices: &params.warnings,
    };
    match sextant_query::render_data(params.format, &data) {
        Some((content_type, body)) => {
            Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
        }
        None => Err(ApiError::BadRequest(format!(
            "format '{}' is not available in this build",
            params.format.name()
        ))),
    }
}

/// Draws the chart off the async workers (plotters is CPU-bound and `!Send`).
async fn render_image(graph: graph::Graph) -> Result<Response, ApiError> {
    let format = graph.params.format;
    let body = tokio::task::spawn_blocking(move || match format {
        OutputFormat::Svg => {
            sextant_ui::render_svg(&graph.params, &graph.lines).map(String::into_bytes)
        }
        _ => sextant_ui::render_png(&graph.params, &graph.lines),
    })
    .await
    .map_err(|e| ApiError::Internal(format!("chart rendering panicked: {e}")))?
    .map_err(|e| ApiError::Internal(format!("chart rendering failed: {e}")))?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

/// How to draw an error for a request that asked for an image (`format` absent, `png`
/// or `svg`), read leniently from the raw parameters since parsing them may be what failed.
struct ErrorImage {
    svg: bool,
    width: u32,
    height: u32,
    theme: Theme,
}

impl ErrorImage {
    fn for_request(pairs: &[(String, String)]) -> Option<ErrorImage> {
        let svg = match param(pairs, "format") {
            None | Some("png") => false,
            Some("svg") => true,
            Some(_) => return None,
        };
        let size = |key, default| {
            param(pairs, key)
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(default)
        };
        Some(ErrorImage {
            svg,
            width: size("w", 700),
            height: size("h", 300),
            theme: match param(pairs, "theme") {
                Some("dark") => Theme::Dark,
                _ => Theme::Light,
            },
        })
    }

    async fn render(self, message: String) -> Result<Response, ApiError> {
        let ErrorImage {
            svg,
            width,
            height,
            theme,
        } = self;
        let body = tokio::task::spawn_blocking(move || {
            if svg {
                sextant_ui::render_error_svg(&message, width, height, theme).map(String::into_bytes)
            } else {
                sextant_ui::render_error_png(&message, width, height, theme)
            }
        })
        .await
        .map_err(|e| ApiError::Internal(format!("error image panicked: {e}")))?
        .map_err(|e| ApiError::Internal(format!("error image failed: {e}")))?;
        let format = if svg {
            OutputFormat::Svg
        } else {
            OutputFormat::Png
        };
        Ok((
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, format.content_type())],
            body,
        )
            .into_response())
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

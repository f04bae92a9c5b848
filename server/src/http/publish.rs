//! Handler of `POST /api/v1/publish`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, AppState};
use crate::publish;

/// Decodes (gunzipping if asked), validates and stores a publish body.
pub async fn publish_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let inflated;
    let raw: &[u8] = if gzip {
        inflated = publish::gunzip(&body, state.limits.max_decompressed_bytes)?;
        &inflated
    } else {
        &body
    };
    let now = state.clock.now_ms();
    let decoded = publish::decode(raw, now, state.store.config().step_ms)?;
    if let Some(wal) = state.wal.clone() {
        // Logged before it is stored and answered only once durable (per --wal-sync);
        // a log that cannot be written refuses the whole request, storing nothing.
        let unavailable = |e: crate::wal::WalError| ApiError::Unavailable {
            message: format!("{e}; nothing was stored, retry later"),
            retry_after: 1,
        };
        let (outcome, durability) =
            publish::store_logged(&state.store, &wal, decoded, now).map_err(unavailable)?;
        durability.wait().await.map_err(unavailable)?;
        state.meters.record_publish(&outcome);
        return Ok(answer(outcome));
    }
    let outcome = publish::store(&state.store, decoded, now);
    state.meters.record_publish(&outcome);
    Ok(answer(outcome))
}

/// Atlas's answer to a publish, logged or not: 200 empty, 202 partial, 400 all refused.
fn answer(outcome: publish::PublishOutcome) -> Response {
    if outcome.error_count == 0 {
        return StatusCode::OK.into_response();
    }
    let (status, kind) = if outcome.accepted > 0 {
        (StatusCode::ACCEPTED, "partial")
    } else {
        (StatusCode::BAD_REQUEST, "error")
    };
    let body = json!({
        "type": kind,
        "errorCount": outcome.error_count,
        "message": outcome.messages,
    });
    (status, axum::Json(body)).into_response()
}

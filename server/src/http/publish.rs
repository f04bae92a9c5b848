//! Handler of `POST /api/v1/publish`, and the slots that bound how many publishes are read
//! and applied at once.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, AppState};
use sextant_store::Outcome;

/// Decodes (gunzipping if asked), validates, logs and stores a publish body.
pub async fn publish_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Checked before the body is read: an encoding we cannot undo is refused, not
    // parsed as if it were plain JSON.
    let gzip = match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => false,
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("gzip") => true,
        Some(Ok(v)) if v.trim().is_empty() || v.trim().eq_ignore_ascii_case("identity") => false,
        Some(v) => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "unsupported Content-Encoding '{}': expected gzip or identity",
                sextant_query::shown(v.unwrap_or("(not text)"))
            )))
        }
    };
    let body = body?;
    let outcome = state.ingest.publish(&body, gzip).await?;
    Ok(answer(outcome))
}

/// Atlas's answer to a publish: 200 empty, 202 partial, 400 all refused.
fn answer(outcome: Outcome) -> Response {
    refusals(&outcome).unwrap_or_else(|| StatusCode::OK.into_response())
}

/// The answer to a write that refused datapoints (`None` when it refused none): 202
/// partial when some were stored, 400 when all were refused. Valid datapoints the store
/// did not apply because of when they arrived (duplicate, out of order, late) make the
/// answer partial even when nothing was stored: the body was not wrong, and the client
/// must count them as dropped, not log a malformed request. Shared by every write route.
pub fn refusals(outcome: &Outcome) -> Option<Response> {
    if outcome.error_count == 0 {
        return None;
    }
    let (status, kind) = if outcome.accepted > 0 || outcome.not_applied > 0 {
        (StatusCode::ACCEPTED, "partial")
    } else {
        (StatusCode::BAD_REQUEST, "error")
    };
    let body = json!({
        "type": kind,
        "errorCount": outcome.error_count,
        "reasons": outcome.reasons,
        "message": outcome.messages,
    });
    Some((status, axum::Json(body)).into_response())
}

/// How long a publish waits for a slot before the answer is 503: as for queries, long
/// enough to ride out a burst, short enough that the client's retry is not left hanging.
pub const PUBLISH_SLOT_WAIT: Duration = Duration::from_secs(1);

/// Four publish slots per core: decoding and applying are CPU work, but a publish also
/// waits for its body and for the log's shared fsync, and more publishers waiting on one
/// fsync share it; more slots than that only add buffered bodies (each up to
/// `--max-body-bytes`, four times that inflated).
pub fn default_max_concurrent_publishes() -> usize {
    std::thread::available_parallelism().map_or(8, |n| n.get().saturating_mul(4))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;

    use super::*;
    use crate::clock::ManualClock;
    use crate::http::Limits;
    use sextant_store::{Store, StoreConfig};

    async fn publish(state: &AppState) -> (StatusCode, Option<String>, String) {
        let request = Request::post("/api/v1/publish")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                r#"{"metrics":[{"tags":{"name":"xy"},"timestamp":1700000000000,"value":1}]}"#,
            ))
            .unwrap_or_default();
        crate::http::tests::send(state, request).await
    }

    /// Without timing: the test holds the only slot, so the publish can only wait out
    /// `PUBLISH_SLOT_WAIT` and be refused; once the slot is free it is stored.
    #[tokio::test]
    async fn publish_answers_503_while_every_publish_slot_is_held() {
        let store = Arc::new(Store::new(StoreConfig::default()));
        let limits = Limits {
            max_concurrent_publishes: 1,
            ..Limits::default()
        };
        let state = AppState::new(store, Arc::new(ManualClock::new(1_700_000_000_000)), limits);
        let held = state.publish_slots.acquire().await;
        assert!(held.is_ok());
        let (status, retry, body) = publish(&state).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(retry.as_deref(), Some("1"));
        assert!(
            body.contains(
                "too many concurrent publishes: all 1 publish slots stayed busy for 1000 ms"
            ),
            "{body}"
        );
        drop(held);
        let (status, _, body) = publish(&state).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

//! Handler of `POST /api/v1/publish`, and the slots that bound how many publishes are read
//! and applied at once.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
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

/// Slots of publish requests being read, decoded and applied.
#[derive(Clone)]
pub struct PublishSlots {
    permits: Arc<tokio::sync::Semaphore>,
    size: usize,
    wait: Duration,
}

impl PublishSlots {
    /// `size` slots (at least one); a publish waits at most `wait` for one.
    pub fn new(size: usize, wait: Duration) -> PublishSlots {
        let size = size.max(1);
        PublishSlots {
            permits: Arc::new(tokio::sync::Semaphore::new(size)),
            size,
            wait,
        }
    }

    /// Takes a slot, held until the permit is dropped, or the 503 to answer after the wait.
    pub async fn acquire(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; treat that as busy rather than panic.
            Ok(Err(_)) | Err(_) => Err(ApiError::Unavailable {
                message: format!(
                    "too many concurrent publishes: all {} publish slots stayed busy for {} ms; retry later",
                    self.size,
                    self.wait.as_millis()
                ),
                retry_after: 1,
            }),
        }
    }
}

/// Holds a publish slot from before the body is read until the answer is ready.
pub async fn publish_slot(
    State(slots): State<PublishSlots>,
    request: Request,
    next: Next,
) -> Response {
    match slots.acquire().await {
        // Bound to a name so the slot is released only when the answer is ready.
        Ok(_slot) => next.run(request).await,
        Err(busy) => busy.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;

    use super::*;
    use crate::clock::ManualClock;
    use crate::http::Limits;
    use crate::store::{Store, StoreConfig};

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

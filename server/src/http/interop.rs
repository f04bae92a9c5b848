//! The ecosystem's ingest protocols: `POST /api/v1/write` (Prometheus remote write 1.0) and
//! `POST /v1/metrics` (OTLP/HTTP metrics). Both decode with `sextant-protocols` into the
//! same datapoints a publish produces, then take the publish path: the same validation,
//! limits, write-ahead log and answers (docs/api.md).

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sextant_protocols::otlp::{self, Format};
use sextant_protocols::{remote_write, DecodeError, Decoded};

use super::{ApiError, AppState};
use crate::ingest::gunzip;
use sextant_store::Outcome;

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::TooLarge { .. } | DecodeError::TooManyPoints { .. } => {
                ApiError::TooLarge(e.to_string())
            }
            DecodeError::Snappy(_) | DecodeError::Malformed { .. } => {
                ApiError::BadRequest(e.to_string())
            }
        }
    }
}

/// The write path's form of decoded datapoints.
fn to_store(d: Decoded) -> sextant_store::Decoded<'static> {
    sextant_store::Decoded {
        points: d
            .points
            .into_iter()
            .map(|p| sextant_store::Datapoint {
                tags: p
                    .tags
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)))
                    .collect(),
                timestamp: p.timestamp,
                value: p.value,
            })
            .collect(),
        errors: d.errors,
    }
}

/// Validates, logs and stores through the ingest service, as a publish.
async fn store(state: &AppState, decoded: Decoded) -> Result<Outcome, ApiError> {
    Ok(state.ingest.apply(to_store(decoded)).await?)
}

fn gunzip_if(state: &AppState, headers: &HeaderMap, body: Bytes) -> Result<Bytes, ApiError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if encoding.eq_ignore_ascii_case("gzip") {
        let inflated = gunzip(&body, state.ingest.max_decompressed_bytes())
            .map_err(crate::ingest::IngestError::from)?;
        Ok(Bytes::from(inflated))
    } else {
        Ok(body)
    }
}

/// `POST /api/v1/write`: 204 when every sample is stored; as publish, 202 with the
/// reasons when some are refused and 400 when all are (Prometheus does not retry a 4xx).
pub async fn remote_write(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("snappy");
    if !encoding.eq_ignore_ascii_case("snappy") {
        return Err(ApiError::BadRequest(format!(
            "remote write bodies must be snappy-compressed (Content-Encoding: snappy), not {encoding:?}"
        )));
    }
    let limits = remote_write::Limits {
        max_decompressed: state.ingest.max_decompressed_bytes(),
        ..remote_write::Limits::default()
    };
    let decoded = remote_write::decode(&body, limits)?;
    if decoded.points.is_empty() && decoded.errors.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let outcome = store(&state, decoded).await?;
    Ok(
        super::publish::refusals(&outcome)
            .unwrap_or_else(|| StatusCode::NO_CONTENT.into_response()),
    )
}

/// `POST /v1/metrics`: OTLP/HTTP in protobuf or JSON. 200 with an
/// `ExportMetricsServiceResponse` in the request's format; refused points are reported in
/// `partial_success` as OTLP asks, never as an error status.
pub async fn otlp_metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(format) = Format::from_content_type(ct) else {
        return Ok((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            axum::Json(json!({"type": "error", "message": format!(
                "OTLP/HTTP bodies are application/x-protobuf or application/json, not {ct:?}"
            )})),
        )
            .into_response());
    };
    let body = gunzip_if(&state, &headers, body)?;
    let step = state.ingest.step_ms();
    let decoded = otlp::decode(
        &body,
        format,
        step,
        remote_write::Limits::default().max_points,
    )?;
    let sources = decoded.source_points;
    let outcome = if decoded.points.is_empty() && decoded.errors.is_empty() {
        Outcome::default()
    } else {
        store(&state, decoded).await?
    };
    // A refused datapoint is counted as a refused OTLP point; a histogram point expands
    // to several datapoints, so the count is capped at the points sent.
    let rejected = outcome.error_count.min(sources);
    let message = outcome.messages.join("; ");
    let answer = otlp::response(format, rejected, &message);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        answer,
    )
        .into_response())
}

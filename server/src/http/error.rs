//! The one error type of the HTTP layer and how each variant maps to a status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Every way a request can fail. The message of a 4xx tells the caller what was wrong and
/// where; a 5xx reveals nothing and is logged instead.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is wrong: a parameter, an expression, a body.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// Nothing here.
    #[error("{0}")]
    NotFound(String),
    /// The client stopped sending its body for longer than allowed.
    #[error("{0}")]
    Timeout(String),
    /// The server cannot take the request now; try again after the given seconds.
    #[error("{message}")]
    Unavailable {
        /// What is wrong.
        message: String,
        /// Seconds for `Retry-After`.
        retry_after: u64,
    },
    /// A bug or a failure of ours.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let mut response = (
            status,
            axum::Json(json!({"type": "error", "message": message})),
        )
            .into_response();
        if let ApiError::Unavailable { retry_after, .. } = self {
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

impl From<crate::publish::PublishError> for ApiError {
    fn from(e: crate::publish::PublishError) -> Self {
        use crate::publish::PublishError;
        match e {
            PublishError::TooLarge { .. } => ApiError::TooLarge(e.to_string()),
            PublishError::Malformed(_) | PublishError::Empty | PublishError::Gzip(_) => {
                ApiError::BadRequest(e.to_string())
            }
        }
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(e: axum::extract::rejection::BytesRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!("request body too large: {}", e.body_text()))
        } else if caused_by_body_timeout(&e) {
            ApiError::Timeout(e.body_text())
        } else {
            ApiError::BadRequest(e.body_text())
        }
    }
}

/// True when the body timeout (`--body-read-timeout`) is somewhere in `e`'s causes: axum
/// reports it as any other failure to read the body, 400, while it is the client that was
/// too slow, 408.
fn caused_by_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

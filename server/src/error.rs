//! The crate's error as a client sees it, [`ApiError`], and how each error of the crate
//! maps to it: user errors are 4xx with their message, faults are 5xx without detail (and
//! logged). Every conversion is an exhaustive match, so a new error variant cannot slip
//! through as the wrong status.

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
    /// The body is in an encoding (`Content-Encoding`) or a type the endpoint does not
    /// read (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request target (path and query) is longer than allowed (414).
    #[error("{0}")]
    UriTooLong(String),
    /// The request's headers are larger than allowed (431).
    #[error("{0}")]
    HeadersTooLarge(String),
    /// The endpoint exists but not with this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request is well formed but cannot be carried out as asked (422).
    #[error("{0}")]
    Unprocessable(String),
    /// No credentials, or credentials that are not valid (401).
    #[error("{message}")]
    Unauthorized {
        /// What was wrong.
        message: String,
        /// The `WWW-Authenticate` challenge (RFC 6750).
        challenge: &'static str,
    },
    /// Valid credentials without the role the request needs (403).
    #[error("{0}")]
    Forbidden(String),
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
    /// A request error already rendered for its client (an error image, say), answered
    /// with 400.
    #[error("{message}")]
    Rendered {
        /// What was wrong, for logs.
        message: String,
        /// The rendered answer.
        rendered: sextant_ui::Rendered,
    },
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Rendered { .. } => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Rendered { rendered, .. } = self {
            return (
                status,
                [(header::CONTENT_TYPE, rendered.content_type)],
                rendered.body,
            )
                .into_response();
        }
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error".to_string()
            }
            other => crate::message::capped(&other.to_string()),
        };
        let mut response = (
            status,
            axum::Json(json!({"type": "error", "message": message})),
        )
            .into_response();
        response.extensions_mut().insert(Shaped);
        match self {
            ApiError::Unavailable { retry_after, .. } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::Unauthorized { challenge, .. } => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            _ => {}
        }
        response
    }
}

/// Marks a response already in the API's error shape, so the outer layer that reshapes
/// the framework's own errors (405, a plain-text 415 or 413) leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct Shaped;

impl From<crate::ingest::IngestError> for ApiError {
    fn from(e: crate::ingest::IngestError) -> Self {
        use crate::ingest::{IngestError, PublishError};
        match e {
            IngestError::Body(PublishError::TooLarge { .. }) => ApiError::TooLarge(e.to_string()),
            IngestError::Body(
                PublishError::Malformed(_) | PublishError::Empty | PublishError::Gzip(_),
            ) => ApiError::BadRequest(e.to_string()),
            IngestError::Unavailable(_) => ApiError::Unavailable {
                message: e.to_string(),
                retry_after: 1,
            },
        }
    }
}

impl From<crate::grapher::GraphError> for ApiError {
    fn from(e: crate::grapher::GraphError) -> Self {
        use crate::grapher::GraphError;
        match e {
            GraphError::Shown { cause, rendered } => ApiError::Rendered {
                message: cause.to_string(),
                rendered,
            },
            GraphError::Params(_) | GraphError::CommonQuery(_) => {
                ApiError::BadRequest(e.to_string())
            }
            GraphError::Query(sextant_query::Error::Database(
                sextant_query::DatabaseError::Storage(_),
            )) => ApiError::Internal(e.to_string()),
            GraphError::Query(_) => ApiError::BadRequest(e.to_string()),
            GraphError::Render(_) | GraphError::Panicked(_) => ApiError::Internal(e.to_string()),
            GraphError::Partial(_) => ApiError::Unavailable {
                message: e.to_string(),
                retry_after: 1,
            },
        }
    }
}

impl From<crate::slots::Busy> for ApiError {
    fn from(e: crate::slots::Busy) -> Self {
        ApiError::Unavailable {
            message: e.to_string(),
            retry_after: 1,
        }
    }
}

impl From<crate::auth::Denied> for ApiError {
    fn from(e: crate::auth::Denied) -> Self {
        use crate::auth::Denied;
        match e {
            // RFC 6750 §3: a 401 names the scheme, and says when the token was the problem.
            Denied::Unknown => ApiError::Unauthorized {
                message: e.message(),
                challenge: r#"Bearer realm="sextant", error="invalid_token""#,
            },
            Denied::Missing | Denied::Malformed => ApiError::Unauthorized {
                message: e.message(),
                challenge: r#"Bearer realm="sextant""#,
            },
            Denied::Forbidden(_) => ApiError::Forbidden(e.message()),
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

//! The middlewares every request passes: the bounds on a request's head and the one shape
//! of every error, authentication, and the slots that bound concurrent work. All answer
//! before the request's body is read.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{required_role, Tokens};
use crate::error::{ApiError, Shaped};
use crate::slots::Slots;

/// Lets a request through when authentication is off, when it needs no role, or when its
/// token has the role; answers 401/403 otherwise.
pub async fn require_role(
    State(tokens): State<Arc<Tokens>>,
    request: Request,
    next: Next,
) -> Response {
    if !tokens.is_enabled() {
        return next.run(request).await;
    }
    let Some(needed) = required_role(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    match tokens.check(request.headers(), needed) {
        Ok(()) => next.run(request).await,
        Err(denied) => ApiError::from(denied).into_response(),
    }
}

/// Holds a slot from before the body is read until the answer is ready; 503 with
/// `Retry-After` when every slot stays busy for the wait.
pub async fn hold_slot(State(slots): State<Slots>, request: Request, next: Next) -> Response {
    match slots.acquire().await {
        // Bound to a name so the slot is released only when the answer is ready.
        Ok(_slot) => next.run(request).await,
        Err(busy) => ApiError::from(busy).into_response(),
    }
}

/// Longest request target (path and query) served, bytes; longer ones get 414. Below
/// hyper's own cut (64 KiB, answered by hyper with an empty 414) so ours answers first.
pub const MAX_URI_BYTES: usize = 32 << 10;
/// Most request headers served; more get 431. Hyper is let read up to
/// `crate::listen::HYPER_MAX_HEADERS` so that ours answers first.
pub const MAX_HEADERS: usize = 100;
/// Most bytes of request headers (names and values) served; more get 431.
pub const MAX_HEADER_BYTES: usize = 64 << 10;
/// Most bytes of a framework error's text read back to reshape it.
const MAX_REJECTION_BYTES: usize = 16 << 10;

/// Outermost: refuses an over-long target (414) or over-large headers (431), and gives
/// every error the framework answers by itself (405, a plain-text 413/415/422 from an
/// extractor) the API's JSON shape, `{"type":"error","message":...}`, with a capped message.
pub async fn shape_errors(request: Request, next: Next) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return ApiError::UriTooLong(format!(
            "request target is {target} bytes, over the limit of {MAX_URI_BYTES}; shorten \
             the expression (a dashboard can hold long ones) or split the request"
        ))
        .into_response();
    }
    let headers: usize = request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    let count = request.headers().len();
    if headers > MAX_HEADER_BYTES || count > MAX_HEADERS {
        return ApiError::HeadersTooLarge(format!(
            "request headers are {count} fields and {headers} bytes, over the limits of \
             {MAX_HEADERS} fields and {MAX_HEADER_BYTES} bytes"
        ))
        .into_response();
    }
    if let Err(message) = request.uri().query().map_or(Ok(()), check_utf8) {
        return ApiError::BadRequest(message).into_response();
    }
    let method = request.method().clone();
    let path = sextant_query::shown(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<Shaped>().is_some()
    {
        return response;
    }
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/plain"));
    if !plain {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REJECTION_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match status {
        // The router adds `Allow` after this layer has run: point at it.
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "method {method} is not allowed on {path}; the Allow header lists those that are"
        ),
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string(),
        _ => text,
    };
    let shaped = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed(message),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(message),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(message),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable(message),
        StatusCode::NOT_FOUND => ApiError::NotFound(message),
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout(message),
        s if s.is_server_error() => ApiError::Internal(message),
        _ => ApiError::BadRequest(message),
    };
    let mut answer = shaped.into_response();
    // The framework's status stands (e.g. 400 stays 400); its headers such as `Allow` too.
    *answer.status_mut() = status;
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

/// Checks that every name and value of a query string decodes to UTF-8; the error names
/// the parameter and the byte where the decoded text stops being UTF-8. Every endpoint is
/// checked here, once, rather than each decoding lossily into replacement characters.
fn check_utf8(query: &str) -> Result<(), String> {
    let mut offset = 0;
    for part in query.split('&') {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let decoded_name = percent_encoding::percent_decode_str(name).decode_utf8();
        let shown_name =
            sextant_query::shown(&percent_encoding::percent_decode_str(name).decode_utf8_lossy());
        if let Err(e) = decoded_name {
            return Err(format!(
                "invalid UTF-8 in the query string: the name of parameter '{shown_name}' \
                 (at offset {offset}) stops being UTF-8 at its decoded byte {}",
                e.valid_up_to()
            ));
        }
        if let Err(e) = percent_encoding::percent_decode_str(value).decode_utf8() {
            return Err(format!(
                "invalid UTF-8 in the query string: the value of parameter '{shown_name}' (at \
                 offset {offset}) stops being UTF-8 at its decoded byte {}",
                e.valid_up_to()
            ));
        }
        offset += part.len() + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_utf8;

    #[test]
    fn invalid_utf8_is_found_with_its_parameter_and_position() {
        assert!(check_utf8("q=name,cpu,:eq&s=e-1h").is_ok());
        assert!(check_utf8("q=%C3%A9t%C3%A9&x").is_ok());
        assert_eq!(
            check_utf8("s=e-1h&q=ab%FF%FE").err().as_deref(),
            Some(
                "invalid UTF-8 in the query string: the value of parameter 'q' (at offset 7) \
                 stops being UTF-8 at its decoded byte 2"
            )
        );
        assert!(check_utf8("%FF=1")
            .err()
            .is_some_and(|e| e.contains("the name of parameter '\u{fffd}'")));
    }
}

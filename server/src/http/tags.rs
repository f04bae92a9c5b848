//! Handlers of `GET /api/v1/tags` and `GET /api/v1/tags/{key}`.

use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{parse_tag_query, ApiError, AppState};
use sextant_store::TagCount;

/// Most items one answer holds, as in Atlas (`tags.max-limit`).
const MAX_LIMIT: usize = 1000;
/// The header carrying the paging cursor, named as Atlas names it.
const NEXT_OFFSET: &str = "x-nflx-atlas-next-offset";

/// Query parameters of the tags endpoints.
#[derive(Debug, Deserialize)]
pub struct TagsParams {
    q: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    verbose: Option<String>,
    format: Option<String>,
}

struct Listing {
    limit: usize,
    verbose: bool,
    txt: bool,
}

fn listing(p: &TagsParams) -> Result<Listing, ApiError> {
    let limit = match &p.limit {
        None => MAX_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n.min(MAX_LIMIT),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "invalid limit '{s}': expected an integer from 1 to {MAX_LIMIT}"
                )))
            }
        },
    };
    let txt = match p.format.as_deref() {
        None | Some("json") => false,
        Some("txt") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "invalid format '{other}': expected json or txt"
            )))
        }
    };
    // Atlas's `params.get("verbose").contains("1")`: only `1` turns it on.
    let verbose = p.verbose.as_deref() == Some("1");
    Ok(Listing {
        limit,
        verbose,
        txt,
    })
}

/// A regular expression that gave up on a value makes the listing incomplete: refuse it.
fn checked(query: &sextant_query::Query) -> Result<(), ApiError> {
    query
        .check_patterns()
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn with_next(mut response: Response, next: Option<String>) -> Response {
    if let Some(next) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(NEXT_OFFSET), next);
    }
    response
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Sorted tag keys of the series `q` selects. With `verbose=1`, each key with its number
/// of series (Atlas answers `[]` there; we give the counts).
pub async fn tags_list(
    State(state): State<AppState>,
    QueryParams(p): QueryParams<TagsParams>,
) -> Result<Response, ApiError> {
    let l = listing(&p)?;
    let query = parse_tag_query(p.q.as_deref())?;
    let (keys, partial) = state
        .tag_names(query.clone(), None, p.offset.clone(), l.limit)
        .await?;
    // After the listing: a pattern that gave up on a value (clones share the flag).
    checked(&query)?;
    let next = (keys.len() == l.limit)
        .then(|| keys.last().map(|k| k.name.clone()))
        .flatten();
    let response = if l.txt {
        text(keys.iter().map(|k| format!("{}\n", k.name)).collect())
    } else if l.verbose {
        let items: Vec<_> = keys
            .iter()
            .map(|k| json!({"key": k.name, "count": k.count}))
            .collect();
        axum::Json(items).into_response()
    } else {
        axum::Json(keys.into_iter().map(|k| k.name).collect::<Vec<_>>()).into_response()
    };
    Ok(super::partial_marked(with_next(response, next), partial))
}

/// Sorted values of `key` among the series `q` selects; with `verbose=1`,
/// `[{"key","value","count"}]` with real counts (Atlas gives -1).
pub async fn tags_values(
    State(state): State<AppState>,
    Path(key): Path<String>,
    QueryParams(p): QueryParams<TagsParams>,
) -> Result<Response, ApiError> {
    let l = listing(&p)?;
    let query = parse_tag_query(p.q.as_deref())?;
    // A verbose cursor is `key,value`, as Atlas pages it.
    let after = p.offset.as_deref().map(|o| match o.split_once(',') {
        Some((k, v)) if l.verbose && k == key => v,
        _ => o,
    });
    let after = after.map(str::to_string);
    let (values, partial): (Vec<TagCount>, _) = state
        .tag_names(query.clone(), Some(key.clone()), after, l.limit)
        .await?;
    checked(&query)?;
    let next = (values.len() == l.limit)
        .then(|| values.last())
        .flatten()
        .map(|v| {
            if l.verbose {
                format!("{key},{}", v.name)
            } else {
                v.name.clone()
            }
        });
    let response = match (l.txt, l.verbose) {
        (true, true) => text(
            values
                .iter()
                .map(|v| format!("{key}\t{}\t{}\n", v.name, v.count))
                .collect(),
        ),
        (true, false) => text(values.iter().map(|v| format!("{}\n", v.name)).collect()),
        (false, true) => {
            let items: Vec<_> = values
                .iter()
                .map(|v| json!({"key": key, "value": v.name, "count": v.count}))
                .collect();
            axum::Json(items).into_response()
        }
        (false, false) => {
            axum::Json(values.into_iter().map(|v| v.name).collect::<Vec<_>>()).into_response()
        }
    };
    Ok(super::partial_marked(with_next(response, next), partial))
}

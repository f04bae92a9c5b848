//! The Prometheus HTTP query API under `/prometheus/api/v1/...`, for Grafana's built-in
//! Prometheus data source and `promtool`. The prefix keeps every Atlas `/api/v1/...` route
//! as it is; Grafana is given `http://HOST:PORT/prometheus` as the server URL.
//!
//! Parameters come from the URL and, for POST, from a form body, merged as Prometheus
//! does. Answers and errors have Prometheus's JSON shapes (`sextant_protocols::promql`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use sextant_protocols::promql::{
    self,
    response::{parse_duration, parse_time, success},
    PromError,
};

use sextant_protocols::labels::{key_from_atlas, key_to_atlas, value_from_atlas};
use sextant_query::Query;

use super::AppState;
use crate::grapher::Budgeted;

/// The routes, relative to the root.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/prometheus/api/v1/query",
            get(query_instant).post(query_instant),
        )
        .route(
            "/prometheus/api/v1/query_range",
            get(query_range).post(query_range),
        )
        .route("/prometheus/api/v1/series", get(series).post(series))
        .route("/prometheus/api/v1/labels", get(labels).post(labels))
        .route("/prometheus/api/v1/label/{name}/values", get(label_values))
        .route("/prometheus/api/v1/metadata", get(metadata))
        .route("/prometheus/api/v1/status/buildinfo", get(buildinfo))
}

/// The version Sextant reports: Grafana chooses which API calls to make by it, and
/// Sextant answers the calls of Prometheus 2.42's API.
pub const COMPATIBLE_VERSION: &str = "2.42.0";

struct Params(Vec<(String, String)>);

impl Params {
    fn from(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Params, PromError> {
        let mut pairs: Vec<(String, String)> = match uri.query() {
            Some(q) => serde_urlencoded::from_str(q)
                .map_err(|e| PromError::bad_data(format!("invalid query string: {e}")))?,
            None => Vec::new(),
        };
        let form = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if *method == Method::POST && form && !body.is_empty() {
            let more: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|e| PromError::bad_data(format!("invalid form body: {e}")))?;
            pairs.extend(more);
        }
        Ok(Params(pairs))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn required(&self, key: &str) -> Result<&str, PromError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| PromError::bad_data(format!("missing parameter {key:?}")))
    }

    fn time(&self, key: &str, default: i64) -> Result<i64, PromError> {
        match self.get(key).filter(|v| !v.is_empty()) {
            Some(v) => parse_time(v).map_err(|e| {
                PromError::bad_data(format!("invalid parameter {key:?}: {}", e.message))
            }),
            None => Ok(default),
        }
    }
}

/// A request's parameters, from its query string and (for a POST form) its body, as
/// every query endpoint reads them; a malformed one is answered in Prometheus's shape by
/// the handler.
struct Parsed(Result<Params, PromError>);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Parsed {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let (method, uri, headers) = (
            req.method().clone(),
            req.uri().clone(),
            req.headers().clone(),
        );
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Parsed(Params::from(&method, &uri, &headers, &body)))
    }
}

fn answer(result: Result<Value, PromError>) -> Response {
    match result {
        Ok(data) => (StatusCode::OK, axum::Json(success(data))).into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, axum::Json(e.body())).into_response()
        }
    }
}

fn limits(state: &AppState) -> promql::Limits {
    promql::Limits {
        eval: sextant_query::Limits {
            max_lines: state.grapher.limits().max_lines,
            max_datapoints: state.grapher.limits().max_datapoints,
        },
        ..promql::Limits::default()
    }
}

/// Runs `f` on the blocking pool within a query slot and the query time budget.
async fn run<F>(state: &AppState, f: F) -> Result<Evaluated, PromError>
where
    F: FnOnce(&dyn sextant_query::Database, promql::Limits) -> Result<Value, PromError>
        + Send
        + 'static,
{
    let _slot = state
        .query_slots
        .acquire()
        .await
        .map_err(|busy| PromError {
            error_type: "unavailable",
            message: busy.to_string(),
        })?;
    let db = state.database.clone();
    let budget = state.grapher.limits().budget;
    let lim = limits(state);
    tokio::task::spawn_blocking(move || {
        let budgeted = Budgeted::new(db.as_ref(), budget);
        f(&budgeted, lim).map(|data| (data, budgeted.coverage.partial()))
    })
    .await
    .map_err(|e| PromError {
        error_type: "internal",
        message: e.to_string(),
    })?
}

/// [`answer`] for an evaluation: a partial one (a cluster missing partitions) carries
/// Prometheus's `warnings` and the partial header.
fn answer_evaluated(result: Result<Evaluated, PromError>) -> Response {
    match result {
        Ok((data, Some(partial))) => {
            let mut body = success(data);
            body["warnings"] = json!([partial.to_string()]);
            super::partial_marked(
                (StatusCode::OK, axum::Json(body)).into_response(),
                Some(partial),
            )
        }
        Ok((data, None)) => answer(Ok(data)),
        Err(e) => answer(Err(e)),
    }
}

/// An evaluation's data, and what it lacks in a cluster.
type Evaluated = (Value, Option<sextant_query::Partial>);

async fn query_instant(State(state): State<AppState>, Parsed(params): Parsed) -> Response {
    let now = state.clock.now_ms();
    let result = async {
        let p = params?;
        let q = p.required("query")?.to_string();
        let t = p.time("time", now)?;
        run(&state, move |db, lim| {
            promql::query_instant(db, &q, t, lim).map(|d| d.to_json())
        })
        .await
    }
    .await;
    answer_evaluated(result)
}

async fn query_range(State(state): State<AppState>, Parsed(params): Parsed) -> Response {
    let result = async {
        let p = params?;
        let q = p.required("query")?.to_string();
        let start = parse_time(p.required("start")?)?;
        let end = parse_time(p.required("end")?)?;
        let step = parse_duration(p.required("step")?)?;
        run(&state, move |db, lim| {
            promql::query_range(db, &q, start, end, step, lim).map(|d| d.to_json())
        })
        .await
    }
    .await;
    answer_evaluated(result)
}

/// Start and end of the metadata endpoints: the store's retention unless given.
fn window(state: &AppState, p: &Params) -> Result<(i64, i64), PromError> {
    let now = state.clock.now_ms();
    let retention = state.store.config().retention_ms;
    Ok((p.time("start", now - retention)?, p.time("end", now)?))
}

async fn series(State(state): State<AppState>, Parsed(params): Parsed) -> Response {
    let result = async {
        let p = params?;
        let (start, end) = window(&state, &p)?;
        let matchers = p.all("match[]");
        run(&state, move |db, lim| {
            promql::series(db, &matchers, start, end, lim).map(|s| json!(s))
        })
        .await
    }
    .await;
    answer_evaluated(result)
}

/// Most label names or values one answer holds.
const MAX_NAMES: usize = 10_000;

/// The tag queries of the `match[]` selectors; every series without one.
fn match_queries(p: &Params) -> Result<Vec<Query>, PromError> {
    let matchers = p.all("match[]");
    if matchers.is_empty() {
        return Ok(vec![Query::True]);
    }
    matchers.iter().map(|m| promql::match_query(m)).collect()
}

/// A tag listing's failure as the Prometheus API reports errors.
fn listed<T>(r: Result<T, super::ApiError>) -> Result<T, PromError> {
    r.map_err(|e| PromError {
        error_type: "internal",
        message: e.to_string(),
    })
}

/// `/labels`: read from the tag index (every series the store holds, so within the
/// retention; `start`/`end` are accepted and not needed), not by scanning series.
async fn labels(State(state): State<AppState>, Parsed(params): Parsed) -> Response {
    let result = async {
        let p = params?;
        let queries = match_queries(&p)?;
        let mut names = std::collections::BTreeSet::new();
        let mut partial = None;
        for q in queries {
            let (keys, p) = listed(state.tag_names(q, None, None, MAX_NAMES).await)?;
            partial = partial.or(p);
            for key in keys {
                if !key.name.starts_with("atlas.") {
                    names.insert(key_from_atlas(&key.name).into_owned());
                }
            }
        }
        Ok((json!(names), partial))
    }
    .await;
    answer_evaluated(result)
}

/// `/label/{name}/values`, from the tag index like `/labels`.
async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let p = Params::from(&Method::GET, &uri, &headers, &[])?;
        let queries = match_queries(&p)?;
        let key = key_to_atlas(&name).into_owned();
        let mut values = std::collections::BTreeSet::new();
        let mut partial = None;
        for q in queries {
            let listing = state.tag_names(q, Some(key.clone()), None, MAX_NAMES).await;
            let (found, p) = listed(listing)?;
            partial = partial.or(p);
            for v in found {
                values.insert(value_from_atlas(&v.name).into_owned());
            }
        }
        Ok((json!(values), partial))
    }
    .await;
    answer_evaluated(result)
}

/// `/metadata`: Sextant keeps no help texts or units; the answer is empty, which Grafana
/// takes as "no metadata" (it then offers metric names without descriptions).
async fn metadata() -> Response {
    answer(Ok(json!({})))
}

async fn buildinfo() -> Response {
    answer(Ok(json!({
        "version": COMPATIBLE_VERSION,
        "revision": concat!("sextant-", env!("CARGO_PKG_VERSION")),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    })))
}

//! The graph service: `/api/v1/graph` parameters in, bytes out, for every format, after
//! Atlas's `Grapher.evalAndRender`. Parameters are parsed once (`cq` merged into the
//! expressions as a query, not spliced in as text), the expressions are evaluated through
//! the data-access trait [`Database`] (the store, through a time budget; a cluster's
//! fan-out can stand in its place), and every format, the error image included, is
//! rendered by [`sextant_ui::render`] / [`sextant_ui::render_error`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use sextant_query::{
    Coverage, Database, DatabaseError, ErrorView, EvalContext, FoldRequest, Folded, GraphParams,
    GraphSettings, Limits as EvalLimits, ParamError, Partial, ScanRequest, SeriesVisitor,
};
use sextant_ui::Rendered;

use crate::clock::Clock;
use crate::selfmon::SelfMetrics;

/// Limits of one query.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Most output lines.
    pub max_lines: usize,
    /// Most datapoints held by evaluated lines.
    pub max_datapoints: usize,
    /// Wall-clock budget of one evaluation.
    pub budget: Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_lines: 1024,
            max_datapoints: 500_000,
            budget: Duration::from_secs(30),
        }
    }
}

/// Why a graph request failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// A parameter is missing or has a bad value (4xx).
    #[error("{0}")]
    Params(#[from] ParamError),
    /// The expression does not parse or cannot be evaluated, or a limit was hit (4xx,
    /// unless the store itself failed).
    #[error("{0}")]
    Query(#[from] sextant_query::Error),
    /// The `cq` parameter is not a query (4xx).
    #[error("cq: {0}")]
    CommonQuery(sextant_query::Error),
    /// The failure above, drawn as the client asked: an image or a JSON error (4xx).
    #[error("{cause}")]
    Shown {
        /// What went wrong.
        cause: Box<GraphError>,
        /// The rendered message.
        rendered: Rendered,
    },
    /// Rendering the answer failed: a fault of ours (5xx).
    #[error("rendering failed: {0}")]
    Render(#[from] sextant_ui::Error),
    /// The evaluation task died: a fault of ours (5xx).
    #[error("graph evaluation failed: {0}")]
    Panicked(String),
    /// `strict=1` and the cluster could not reach every partition (503).
    #[error("{0}; strict=1 refuses partial answers")]
    Partial(Partial),
}

/// A rendered answer, and what it lacks when the data came from a cluster that could not
/// reach every partition.
#[derive(Debug)]
pub struct Answer {
    /// The bytes in the requested format.
    pub rendered: Rendered,
    /// Partitions missing from it, if any.
    pub partial: Option<Partial>,
}

/// A data source seen through a deadline: the scan stops with an error once the budget is
/// spent, so one heavy query cannot hold a worker forever.
pub(crate) struct Budgeted<'a> {
    db: &'a dyn Database,
    deadline: Instant,
    budget: Duration,
    /// What a partitioned database could not reach for this query.
    pub(crate) coverage: Coverage,
}

impl<'a> Budgeted<'a> {
    /// `db` with `budget` of wall-clock time from now (alert rules use it too).
    pub(crate) fn new(db: &'a dyn Database, budget: Duration) -> Budgeted<'a> {
        Budgeted {
            db,
            deadline: Instant::now() + budget,
            budget,
            coverage: Coverage::default(),
        }
    }
}

impl Budgeted<'_> {
    fn over_budget(&self) -> DatabaseError {
        DatabaseError::Limit(format!(
            "query exceeded its time budget of {} ms; narrow the query or shorten the range",
            self.budget.as_millis()
        ))
    }
}

/// Primary datapoints read between two looks at the clock: a clock read per short series
/// would cost more than the series, a look per long series could overrun the budget.
const POINTS_PER_CLOCK_CHECK: usize = 1 << 16;

impl Database for Budgeted<'_> {
    fn step(&self) -> i64 {
        self.db.step()
    }

    fn extent(&self) -> Option<(i64, i64)> {
        self.db.extent()
    }

    fn check_budget(&self) -> Result<(), DatabaseError> {
        if Instant::now() >= self.deadline {
            return Err(self.over_budget());
        }
        self.db.check_budget()
    }

    fn scan(
        &self,
        request: &ScanRequest<'_>,
        visit: &mut SeriesVisitor<'_>,
    ) -> Result<(), DatabaseError> {
        // Cooperative cancellation: the scan stops within a few thousand series of the
        // deadline, not when the answer is finally written.
        let mut work = 0usize;
        self.db.scan(request, &mut |tags, values| {
            work = work.saturating_add(values.len().max(1).saturating_add(tags.len()));
            if work >= POINTS_PER_CLOCK_CHECK {
                work = 0;
                if Instant::now() >= self.deadline {
                    return Err(self.over_budget());
                }
            }
            visit(tags, values)
        })
    }

    /// A database that folds elsewhere (a cluster) gets the deadline to bound its calls
    /// by; one that does not is folded through [`Budgeted::scan`], which watches it.
    fn fold(&self, request: &FoldRequest<'_>) -> Option<Result<Folded, DatabaseError>> {
        let request = FoldRequest {
            deadline: Some((self.deadline, self.budget)),
            coverage: Some(&self.coverage),
            ..request.clone()
        };
        self.db.fold(&request)
    }
}

/// Graph settings for a store with this step.
pub fn settings(step_ms: i64, block_len: usize) -> GraphSettings {
    GraphSettings {
        primary_step: step_ms,
        block_step: step_ms * block_len as i64,
        ..GraphSettings::default()
    }
}

/// One graph request: its query parameters, and whether it came from a web browser
/// (which gets errors drawn as images when it did not name a format).
#[derive(Debug, Clone, Default)]
pub struct GraphRequest {
    /// The URL's query parameters, decoded, repeated keys in order.
    pub pairs: Vec<(String, String)>,
    /// The `User-Agent` is a browser's.
    pub browser: bool,
    /// What to answer with.
    pub output: GraphOutput,
}

/// What a graph request is answered with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GraphOutput {
    /// The `format` parameter's output (`/api/v1/graph`).
    #[default]
    Format,
    /// The chart model the web page draws (`/api/v1/chart`): lines with the colours,
    /// styles, axes and legend statistics of the PNG; errors as JSON.
    ChartModel,
}

impl GraphRequest {
    /// True when `user_agent` is a web browser's, by Atlas's test
    /// (`mozilla|msie|gecko|chrome|opera|webkit`, any case).
    pub fn is_browser(user_agent: &str) -> bool {
        let ua = user_agent.to_ascii_lowercase();
        ["mozilla", "msie", "gecko", "chrome", "opera", "webkit"]
            .iter()
            .any(|b| ua.contains(b))
    }
}

/// Answers graph requests over one data source.
pub struct Grapher {
    db: Arc<dyn Database + Send + Sync>,
    /// This node's own store, for `local=1` (in a cluster, `db` fans out).
    local: Option<Arc<dyn Database + Send + Sync>>,
    settings: GraphSettings,
    limits: QueryLimits,
    clock: Arc<dyn Clock>,
    selfmon: Option<SelfMetrics>,
}

impl Grapher {
    /// Graphs of `db`, whose blocks hold `block_len` steps, within `limits`; latencies go
    /// to `selfmon` when given.
    pub fn new(
        db: Arc<dyn Database + Send + Sync>,
        block_len: usize,
        limits: QueryLimits,
        clock: Arc<dyn Clock>,
        selfmon: Option<SelfMetrics>,
    ) -> Grapher {
        let settings = settings(db.step(), block_len);
        Grapher {
            db,
            local: None,
            settings,
            limits,
            clock,
            selfmon,
        }
    }

    /// The same grapher answering `local=1` requests from `local` alone (a cluster
    /// node's store, to see which series it holds).
    pub fn with_local(mut self, local: Arc<dyn Database + Send + Sync>) -> Grapher {
        self.local = Some(local);
        self
    }

    /// The limits every query runs within.
    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// Evaluates and renders one request in the format it asks for. A user error comes back
    /// as [`GraphError::Shown`], already rendered for the client; faults come back bare.
    pub async fn graph(self: &Arc<Self>, request: GraphRequest) -> Result<Answer, GraphError> {
        let started = Instant::now();
        let me = self.clone();
        let answer = tokio::task::spawn_blocking(move || me.graph_blocking(&request))
            .await
            .map_err(|e| GraphError::Panicked(e.to_string()))
            .and_then(|r| r);
        if let Some(m) = &self.selfmon {
            m.query_latency(
                answer
                    .as_ref()
                    .map_or("error", |r| format_tag(r.rendered.content_type)),
            )
            .record(started.elapsed());
        }
        answer
    }

    /// [`Grapher::graph`] on the calling thread: CPU-bound.
    fn graph_blocking(&self, request: &GraphRequest) -> Result<Answer, GraphError> {
        match self.evaluate_and_render(&request.pairs, request.output) {
            Ok(rendered) => Ok(rendered),
            Err(
                e @ (GraphError::Params(_) | GraphError::Query(_) | GraphError::CommonQuery(_)),
            ) if !is_fault(&e) => {
                let mut view =
                    ErrorView::for_request(&request.pairs, &self.settings, request.browser);
                if request.output == GraphOutput::ChartModel {
                    view.image = None;
                }
                let message = crate::message::capped(&e.to_string());
                let rendered = sextant_ui::render_error(&view, &message)?;
                Err(GraphError::Shown {
                    cause: Box::new(e),
                    rendered,
                })
            }
            Err(e) => Err(e),
        }
    }

    fn evaluate_and_render(
        &self,
        pairs: &[(String, String)],
        output: GraphOutput,
    ) -> Result<Answer, GraphError> {
        let mut params = GraphParams::parse(pairs, &self.settings, self.clock.now_ms())?;
        let mut exprs = sextant_query::parse(&params.q)?;
        if exprs.is_empty() {
            // Atlas refuses an empty `q` too, rather than drawing an empty chart.
            return Err(GraphError::Params(ParamError::Invalid {
                param: "q".into(),
                value: sextant_query::shown(&params.q),
                expected: "at least one expression, such as name,cpu,:eq,:sum".into(),
            }));
        }
        // `cq` is ANDed into every query of every expression, as Atlas's dashboards use it.
        if let Some(cq) = params.cq.as_deref().filter(|cq| !cq.trim().is_empty()) {
            let cq = sextant_query::parse_query(cq).map_err(GraphError::CommonQuery)?;
            exprs = exprs
                .into_iter()
                .map(|e| sextant_query::and_common_query(e, &cq))
                .collect();
        }
        let w = &params.window;
        let ctx = EvalContext::new(w.start, w.end, w.step).with_limits(EvalLimits {
            max_lines: self.limits.max_lines,
            max_datapoints: self.limits.max_datapoints,
        });
        let source = match &self.local {
            Some(local) if pairs.iter().any(|(k, v)| k == "local" && v == "1") => local,
            _ => &self.db,
        };
        let db = Budgeted::new(source.as_ref(), self.limits.budget);
        let lines = sextant_query::evaluate(&exprs, &ctx, &db)?;
        let partial = db.coverage.partial();
        if let Some(p) = partial {
            // `strict=1`: a caller that would rather fail than act on part of the data.
            if pairs.iter().any(|(k, v)| k == "strict" && v == "1") {
                return Err(GraphError::Partial(p));
            }
            params.warnings.push(p.to_string());
            params.partial = Some(p);
        }
        let rendered = match output {
            GraphOutput::Format => sextant_ui::render(&params, &lines)?,
            GraphOutput::ChartModel => Rendered {
                content_type: "application/json",
                body: sextant_ui::web::chart_json(&params, &lines).into_bytes(),
            },
        };
        Ok(Answer { rendered, partial })
    }
}

/// True when the error is the store's fault rather than the request's.
fn is_fault(e: &GraphError) -> bool {
    matches!(
        e,
        GraphError::Query(sextant_query::Error::Database(DatabaseError::Storage(_)))
    )
}

/// The self-monitoring tag of an answer's format: a fixed set, so no caller can blow up
/// the meter's cardinality.
fn format_tag(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/svg+xml" => "svg",
        "text/csv" => "csv",
        "text/plain" => "txt",
        "application/json" => "json",
        _ => "other",
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;
    use crate::clock::ManualClock;
    use sextant_store::{Store, StoreConfig};

    /// With no time at all, the query stops at its first look at the clock.
    #[test]
    fn a_query_over_its_time_budget_fails_naming_it() -> Result<(), Box<dyn std::error::Error>> {
        let store = Arc::new(Store::new(StoreConfig {
            step_ms: 1000,
            ..StoreConfig::default()
        }));
        let now = 1_700_000_000_000;
        for i in 0..300 {
            let node = format!("n{i:03}");
            store.ingest(
                &[("atlas.dstype", "gauge"), ("name", "cpu"), ("node", &node)],
                now,
                1.0,
                now,
            )?;
        }
        let pairs: Vec<(String, String)> = [
            ("q", "name,cpu,:eq,:sum"),
            ("s", "e-1m"),
            ("format", "json"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let limits = QueryLimits {
            budget: Duration::ZERO,
            ..QueryLimits::default()
        };
        let grapher = |limits| {
            Grapher::new(
                store.clone(),
                60,
                limits,
                Arc::new(ManualClock::new(now)),
                None,
            )
        };
        let error = grapher(limits)
            .evaluate_and_render(&pairs, GraphOutput::Format)
            .err()
            .map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("query exceeded its time budget of 0 ms")),
            "{error:?}"
        );
        assert!(grapher(QueryLimits::default())
            .evaluate_and_render(&pairs, GraphOutput::Format)
            .is_ok());
        Ok(())
    }
}

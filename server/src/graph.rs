//! Answering a graph request: parse Atlas's parameters, evaluate the expression on the
//! store within the query limits and a time budget, and produce the evaluated lines.
//! Output formatting lives in `sextant-query` (data formats) and `sextant-ui` (images).

use std::time::{Duration, Instant};

use sextant_query::{
    Database, DatabaseError, EvalContext, GraphLine, GraphParams, GraphSettings,
    Limits as EvalLimits, ParamError, ScanRequest, SeriesVisitor,
};

use crate::store::Store;

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

/// Why a graph request failed; every variant is the caller's to fix (4xx).
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// A parameter is missing or has a bad value.
    #[error("{0}")]
    Params(#[from] ParamError),
    /// The expression does not parse or cannot be evaluated, or a limit was hit.
    #[error("{0}")]
    Query(#[from] sextant_query::Error),
}

/// An evaluated graph: the parameters as resolved and the lines in legend order.
pub struct Graph {
    /// The resolved parameters (window, format, visual settings).
    pub params: GraphParams,
    /// The evaluated lines.
    pub lines: Vec<GraphLine>,
}

/// A store seen through a deadline: the scan stops with an error once the budget is
/// spent, so one heavy query cannot hold a worker forever.
pub(crate) struct Budgeted<'a> {
    store: &'a Store,
    deadline: Instant,
    budget: Duration,
}

impl<'a> Budgeted<'a> {
    /// `store` with `budget` of wall-clock time from now (alert rules use it too).
    pub(crate) fn new(store: &'a Store, budget: Duration) -> Budgeted<'a> {
        Budgeted {
            store,
            deadline: Instant::now() + budget,
            budget,
        }
    }
}

impl Database for Budgeted<'_> {
    fn step(&self) -> i64 {
        self.store.step()
    }

    fn scan(
        &self,
        request: &ScanRequest<'_>,
        visit: &mut SeriesVisitor<'_>,
    ) -> Result<(), DatabaseError> {
        let mut seen = 0u32;
        self.store.scan(request, &mut |tags, values| {
            seen = seen.wrapping_add(1);
            // Reading the clock per series would cost more than summing a short line.
            if seen % 256 == 0 && Instant::now() > self.deadline {
                return Err(DatabaseError::Limit(format!(
                    "query exceeded its time budget of {} ms; narrow the query or shorten the range",
                    self.budget.as_millis()
                )));
            }
            visit(tags, values)
        })
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

/// Parses `pairs` (the URL's query parameters) and evaluates the expression. CPU-bound:
/// call it off the async workers.
pub fn evaluate(
    store: &Store,
    pairs: &[(String, String)],
    limits: &QueryLimits,
    now: i64,
) -> Result<Graph, GraphError> {
    let config = store.config();
    let params = GraphParams::parse(pairs, &settings(config.step_ms, config.block_len), now)?;
    // `cq` is ANDed into every query of the live stack, as Atlas's dashboards rewrite it
    // (`:list,(,cq,:cq,),:each`). Appending keeps error positions in `q` unchanged.
    let program = match params.cq.as_deref().filter(|cq| !cq.trim().is_empty()) {
        Some(cq) => format!("{},:list,(,{cq},:cq,),:each", params.q),
        None => params.q.clone(),
    };
    let exprs = sextant_query::parse(&program)?;
    let w = &params.window;
    let ctx = EvalContext::new(w.start, w.end, w.step).with_limits(EvalLimits {
        max_lines: limits.max_lines,
        max_datapoints: limits.max_datapoints,
    });
    let db = Budgeted {
        store,
        deadline: Instant::now() + limits.budget,
        budget: limits.budget,
    };
    let lines = sextant_query::evaluate(&exprs, &ctx, &db)?;
    Ok(Graph { params, lines })
}

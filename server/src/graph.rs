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

/// How many graph queries may evaluate at once. Evaluation is CPU-bound and runs on the
/// blocking pool, which grows to hundreds of threads: without this bound a burst of heavy
/// queries would make every query slow, and publishes with them.
#[derive(Debug, Clone)]
pub struct QuerySlots {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    size: usize,
    wait: Duration,
}

/// Every slot stayed taken for the whole wait.
#[derive(Debug, Clone, thiserror::Error)]
#[error("too many concurrent queries: all {size} query slots stayed busy for {} ms; retry later", wait.as_millis())]
pub struct QueriesBusy {
    size: usize,
    wait: Duration,
}

impl QuerySlots {
    /// `size` slots; a query waits at most `wait` for one.
    pub fn new(size: usize, wait: Duration) -> QuerySlots {
        QuerySlots {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(size)),
            size,
            wait,
        }
    }

    /// Number of slots.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Takes a slot, held until the permit is dropped, or fails after the wait.
    pub async fn acquire(&self) -> Result<tokio::sync::OwnedSemaphorePermit, QueriesBusy> {
        let busy = QueriesBusy {
            size: self.size,
            wait: self.wait,
        };
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; treat it as busy rather than panic.
            Ok(Err(_)) | Err(_) => Err(busy),
        }
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;
    use crate::store::StoreConfig;

    /// With no time at all, the scan stops at its first clock check (every 256 series).
    #[test]
    fn a_query_over_its_time_budget_fails_naming_it() -> Result<(), Box<dyn std::error::Error>> {
        let store = Store::new(StoreConfig {
            step_ms: 1000,
            ..StoreConfig::default()
        });
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
        let pairs: Vec<(String, String)> = [("q", "name,cpu,:eq,:sum"), ("s", "e-1m")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let limits = QueryLimits {
            budget: Duration::ZERO,
            ..QueryLimits::default()
        };
        let error = evaluate(&store, &pairs, &limits, now)
            .err()
            .map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("query exceeded its time budget of 0 ms")),
            "{error:?}"
        );
        assert!(evaluate(&store, &pairs, &QueryLimits::default(), now).is_ok());
        Ok(())
    }
}

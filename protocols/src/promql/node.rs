//! What translation works with: a translated [`Node`] and the [`Labels`] rule of its lines,
//! the translation context [`Ctx`] (store, window, step, query text), and the small
//! builders the translator and the binary operators share.

use std::collections::{BTreeMap, BTreeSet};

use sextant_query::{BinaryOp, Database, Expr, Query, ScanRequest};

use super::response::PromError;
use crate::labels::{key_from_atlas, key_to_atlas, value_from_atlas};

/// Which tags of an evaluated line are its Prometheus labels.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    /// All tags of the series except `atlas.*`; without `name` when `drop_name`.
    Series {
        /// Prometheus drops the metric name after most functions and arithmetic.
        drop_name: bool,
    },
    /// Only these Atlas keys.
    Keys(Vec<String>),
    /// These labels (Prometheus form), whatever the line's tags: `absent` has no series to
    /// take them from.
    Fixed(std::collections::BTreeMap<String, String>),
}

/// A translated node.
#[derive(Debug, Clone)]
pub struct Node {
    /// What the evaluator runs.
    pub expr: Expr,
    /// How its lines' tags become labels.
    pub labels: Labels,
    /// True for PromQL scalars (one line, no labels).
    pub scalar: bool,
}

/// What translation needs: the store (to find label keys for matching), the window and
/// the step the evaluator will use, and the query text (for error positions).
pub struct Ctx<'a> {
    /// The store.
    pub db: &'a dyn Database,
    /// Query text, for positions in errors.
    pub text: &'a str,
    /// Evaluation step, ms.
    pub step: i64,
    /// Window start and end for key discovery, ms (multiples of the store's step).
    pub start: i64,
    /// See `start`.
    pub end: i64,
    /// Largest look-back (rolling windows) any operator needs, ms; set by translation.
    pub lookback: i64,
}

pub(super) fn bad(msg: String) -> PromError {
    PromError::bad_data(msg)
}

impl Ctx<'_> {
    /// Position of the first call of `name` in the query text, for error messages.
    pub(super) fn position(&self, name: &str) -> usize {
        let bytes = self.text.as_bytes();
        let mut from = 0;
        while let Some(i) = self.text.get(from..).and_then(|s| s.find(name)) {
            let at = from + i;
            let before_ok = at == 0
                || !bytes
                    .get(at - 1)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
            let rest = self.text.get(at + name.len()..).unwrap_or("").trim_start();
            if before_ok
                && (rest.starts_with('(') || rest.starts_with("by") || rest.starts_with("without"))
            {
                return at;
            }
            from = at + name.len();
        }
        0
    }

    pub(super) fn unsupported(&self, what: &str, name: &str) -> PromError {
        bad(format!(
            "{what} {name} at position {} is not supported by Sextant (see docs/promql.md)",
            self.position(name)
        ))
    }

    /// Rolling window in steps for a range, and note the look-back it needs.
    pub(super) fn window(&mut self, range_ms: i64) -> usize {
        self.lookback = self.lookback.max(range_ms);
        let n = (range_ms + self.step - 1) / self.step.max(1);
        n.max(1) as usize
    }

    /// The Atlas keys (not `atlas.*`) of the series the data expressions inside `e` read
    /// that have a value in the window.
    pub(super) fn keys_of(&self, e: &Expr) -> Result<BTreeSet<String>, PromError> {
        let mut queries: Vec<(Query, i64)> = Vec::new();
        e.visit_data(&mut |d| queries.push((d.query().clone(), d.offset())));
        let mut keys = BTreeSet::new();
        let step = self.db.step().max(1);
        for (q, offset) in queries {
            let shift = offset.div_euclid(step) * step;
            let req = ScanRequest {
                query: &q,
                start: self.start - self.lookback - shift,
                end: self.end - shift,
            };
            self.db
                .scan(&req, &mut |tags, values| {
                    if values.iter().any(|v| !v.is_nan()) {
                        for (k, _) in tags {
                            if !k.starts_with("atlas.") && !keys.contains(*k) {
                                keys.insert((*k).to_string());
                            }
                        }
                    }
                    Ok(())
                })
                .map_err(|e| PromError::execution(e.to_string()))?;
        }
        Ok(keys)
    }

    /// The label keys of a node's lines (Atlas form).
    pub(super) fn label_keys(&self, n: &Node) -> Result<BTreeSet<String>, PromError> {
        match &n.labels {
            Labels::Keys(k) => Ok(k.iter().cloned().collect()),
            Labels::Fixed(f) => Ok(f.keys().map(|k| key_to_atlas(k).into_owned()).collect()),
            Labels::Series { drop_name } => {
                let mut keys = self.keys_of(&n.expr)?;
                if *drop_name {
                    keys.remove("name");
                }
                Ok(keys)
            }
        }
    }
}

pub(super) fn drop_name(labels: Labels) -> Labels {
    match labels {
        Labels::Series { .. } => Labels::Series { drop_name: true },
        Labels::Keys(k) => Labels::Keys(k.into_iter().filter(|k| k != "name").collect()),
        Labels::Fixed(f) => Labels::Fixed(f),
    }
}

/// A scalar node: one line, no labels.
pub(super) fn scalar(expr: Expr) -> Node {
    Node {
        expr,
        labels: Labels::Keys(Vec::new()),
        scalar: true,
    }
}

/// `x * 0 + 1`: 1 where `x` has a value.
pub(super) fn presence(e: Expr) -> Expr {
    Expr::Binary(
        BinaryOp::FAdd,
        Box::new(Expr::Binary(
            BinaryOp::FMul,
            Box::new(e),
            Box::new(Expr::Const(0.0)),
        )),
        Box::new(Expr::Const(1.0)),
    )
}

/// Labels of one line in Prometheus form (`name` as `__name__`, values unescaped).
pub(super) fn prom_labels(tags: &sextant_query::TagMap, rule: &Labels) -> BTreeMap<String, String> {
    if let Labels::Fixed(f) = rule {
        return f.clone();
    }
    let keep = |k: &str| match rule {
        Labels::Series { drop_name } => !(k.starts_with("atlas.") || (*drop_name && k == "name")),
        Labels::Keys(keys) => keys.iter().any(|x| x == k),
        Labels::Fixed(_) => false,
    };
    tags.iter()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| {
            (
                key_from_atlas(k).into_owned(),
                value_from_atlas(v).into_owned(),
            )
        })
        .collect()
}

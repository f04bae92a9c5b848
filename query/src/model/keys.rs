//! The group keys of an expression's lines. Apart from `expr.rs` because a rewritten
//! expression (`:dist-avg`, ...) has the keys of what it rewrites to, and the rewriting
//! itself builds expressions.

use super::expr::Expr;
use super::rewrite::rewrite;

impl Expr {
    /// The group keys of the lines this expression produces, `None` when ungrouped.
    pub fn group_keys(&self) -> Option<Vec<String>> {
        match self {
            Expr::Data(d) => d.keys().map(<[String]>::to_vec),
            Expr::Const(_)
            | Expr::Random
            | Expr::SeededRandom(_)
            | Expr::Time(_)
            | Expr::TimeSpan(..)
            | Expr::StatPlaceholder(_)
            | Expr::Aggregate(..) => None,
            Expr::GroupBy(_, _, keys) => Some(keys.clone()),
            Expr::Percentiles { data, .. } => {
                let mut keys = data.keys().map(<[String]>::to_vec).unwrap_or_default();
                keys.push("percentile".to_string());
                Some(keys)
            }
            Expr::As(e, from, to) => e.group_keys().map(|ks| {
                ks.into_iter()
                    .map(|k| if &k == from { to.clone() } else { k })
                    .collect()
            }),
            Expr::Rewrite(kind, e, keys) => rewrite(*kind, e, keys).group_keys(),
            Expr::Unary(_, e)
            | Expr::Clamp { expr: e, .. }
            | Expr::Stateful(_, e)
            | Expr::ApproxDistinct { expr: e, .. }
            | Expr::Stat(e, _)
            | Expr::TopK { expr: e, .. }
            | Expr::Consolidate { expr: e, .. }
            | Expr::Filter(e, _) => e.group_keys(),
            Expr::Binary(_, a, b) => match (a.group_keys(), b.group_keys()) {
                (Some(x), Some(y)) => Some(if x.len() >= y.len() { x } else { y }),
                (x, y) => x.or(y),
            },
        }
    }
}

//! What named rewrites evaluate as. Atlas keeps the original form for printing and the
//! rewritten form for evaluation (`MathExpr.NamedRewrite`); we keep only the original and
//! derive the rewritten form on demand, so `:offset`, `:cq` and `:by` on the original stay
//! consistent by construction.

use super::data::{AggrFn, Aggregate, DataExpr};
use super::expr::{BinaryOp, Expr, RewriteKind, UnaryOp};
use crate::Query;

/// The plain `:sum` aggregate a query-based rewrite works on, if the input is one.
pub(crate) fn simple_input(input: &Expr) -> Option<&Aggregate> {
    match input {
        Expr::Data(DataExpr::Aggregate(a)) if a.func == AggrFn::Sum => Some(a),
        _ => None,
    }
}

fn data(func: AggrFn, base: &Aggregate, query: Query, keys: &[String]) -> Expr {
    let aggr = Aggregate {
        func,
        query,
        cf: base.cf,
        offset: base.offset,
    };
    Expr::Data(if keys.is_empty() {
        DataExpr::Aggregate(aggr)
    } else {
        DataExpr::GroupBy {
            aggr,
            keys: keys.to_vec(),
        }
    })
}

fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    Expr::Binary(op, Box::new(a), Box::new(b))
}

fn across(func: AggrFn, e: &Expr) -> Expr {
    Expr::Aggregate(func, Box::new(e.clone()))
}

fn stat_eq(base: &Aggregate, value: &str) -> Query {
    base.query.clone().and(Query::eq("statistic", value))
}

/// Keys of the Netflix custom averages (`nflx-keys` in Atlas's `reference.conf`): the part of
/// the user's query on these keys also scopes the denominator, and only these keys can group
/// the denominator.
pub(crate) const CUSTOM_AVG_KEYS: [&str; 10] = [
    "nf.account",
    "nf.app",
    "nf.ami",
    "nf.asg",
    "nf.cluster",
    "nf.stack",
    "nf.zone",
    "nf.region",
    "nf.node",
    "nf.vmtype",
];

/// The denominator query of a custom average (`custom-averages` in `reference.conf`).
fn custom_base(kind: RewriteKind) -> Query {
    match kind {
        RewriteKind::EurekaAvg => {
            Query::eq("name", "discovery.status").and(Query::eq("state", "UP"))
        }
        _ => Query::eq("name", "poller.asg.instance"),
    }
}

/// Atlas's `CustomAvg.extractCommonQuery`: clauses on other keys become `:true` and are
/// simplified away. A negated dropped clause is dropped too (`simplify(ignore = true)`), so
/// the denominator is only ever loosened, never emptied.
fn common_query(q: &Query) -> Query {
    let keep = |k: &str| CUSTOM_AVG_KEYS.contains(&k);
    match q {
        Query::And(a, b) => common_query(a).and(common_query(b)),
        Query::Or(a, b) => common_query(a).or(common_query(b)),
        Query::Not(a) => match common_query(a) {
            Query::True => Query::True,
            inner => inner.not(),
        },
        Query::Has(k)
        | Query::Eq(k, _)
        | Query::Lt(k, _)
        | Query::Le(k, _)
        | Query::Gt(k, _)
        | Query::Ge(k, _)
        | Query::Re(k, _)
        | Query::In(k, _) => {
            if keep(k) {
                q.clone()
            } else {
                Query::True
            }
        }
        Query::True | Query::False => q.clone(),
    }
}

/// The `percentile` tags (`T%04X` timers, `D%04X` distribution summaries) of the buckets
/// overlapping `[min, max]`, as lexical ranges: the tags are fixed-width upper-case hex, so
/// their lexical order is the bucket order. Timer buckets are in ns and the bounds in seconds.
fn bucket_range(min: f64, max: f64) -> Query {
    // `as i64` saturates (Infinity → i64::MAX, negatives are clamped by bucket_index), and
    // the ceiling finds the bucket holding a fractional bound since boundaries are integers.
    let index = |v: f64| sextant_meters::bucket_index(v.ceil() as i64);
    let range = |prefix: char, scale: f64| {
        let lo = format!("{prefix}{:04X}", index(min * scale));
        let hi = format!("{prefix}{:04X}", index(max * scale));
        Query::Ge("percentile".into(), lo).and(Query::Le("percentile".into(), hi))
    };
    range('T', 1e9).or(range('D', 1.0))
}

/// The expression a named rewrite evaluates as.
pub(crate) fn rewrite(kind: RewriteKind, input: &Expr, keys: &[String]) -> Expr {
    let simple = simple_input(input);
    match (kind, simple) {
        (RewriteKind::Avg, Some(a)) => bin(
            BinaryOp::Div,
            data(AggrFn::Sum, a, a.query.clone(), keys),
            data(AggrFn::Count, a, a.query.clone(), keys),
        ),
        (RewriteKind::Avg, None) => bin(
            BinaryOp::Div,
            across(AggrFn::Sum, input),
            across(AggrFn::Count, input),
        ),
        (RewriteKind::Stddev, _) => {
            // Population stddev across lines: sqrt((N*Σx² - (Σx)²) / N²). The input first goes
            // through `0,:fadd` as in Atlas, so that :sum of a plain aggregate is not a no-op.
            let x = bin(BinaryOp::FAdd, input.clone(), Expr::Const(0.0));
            let input = &x;
            let n = across(AggrFn::Count, input);
            let sx = across(AggrFn::Sum, input);
            let sq = Expr::Aggregate(
                AggrFn::Sum,
                Box::new(bin(BinaryOp::FMul, input.clone(), input.clone())),
            );
            let num = bin(
                BinaryOp::FSub,
                bin(BinaryOp::FMul, n.clone(), sq),
                bin(BinaryOp::FMul, sx.clone(), sx),
            );
            Expr::Unary(
                UnaryOp::Sqrt,
                Box::new(bin(BinaryOp::FDiv, num, bin(BinaryOp::FMul, n.clone(), n))),
            )
        }
        (RewriteKind::Pct, _) => bin(
            BinaryOp::Mul,
            bin(BinaryOp::Div, input.clone(), across(AggrFn::Sum, input)),
            Expr::Const(100.0),
        ),
        (RewriteKind::DistAvg, Some(a)) => {
            let totals = Query::In(
                "statistic".into(),
                vec!["totalAmount".into(), "totalTime".into()],
            );
            bin(
                BinaryOp::Div,
                data(AggrFn::Sum, a, a.query.clone().and(totals), keys),
                data(AggrFn::Sum, a, stat_eq(a, "count"), keys),
            )
        }
        (RewriteKind::DistMax, Some(a)) => data(AggrFn::Max, a, stat_eq(a, "max"), keys),
        (RewriteKind::DistStddev, Some(a)) => {
            let totals = Query::In(
                "statistic".into(),
                vec!["totalAmount".into(), "totalTime".into()],
            );
            let count = data(AggrFn::Sum, a, stat_eq(a, "count"), keys);
            let total = data(AggrFn::Sum, a, a.query.clone().and(totals), keys);
            let squares = data(AggrFn::Sum, a, stat_eq(a, "totalOfSquares"), keys);
            let mean = bin(BinaryOp::Div, total, count.clone());
            Expr::Unary(
                UnaryOp::Sqrt,
                Box::new(bin(
                    BinaryOp::Sub,
                    bin(BinaryOp::Div, squares, count),
                    bin(BinaryOp::Mul, mean.clone(), mean),
                )),
            )
        }
        (RewriteKind::NodeAvg | RewriteKind::EurekaAvg, Some(a)) => {
            // sum(q) / sum(base AND common(q)); the denominator is grouped only by the keys
            // it can have (Atlas `CustomAvg.apply`), so it joins every numerator line when
            // none of the group keys is one of them.
            let base = custom_base(kind).and(common_query(&a.query));
            let den_keys: Vec<String> = keys
                .iter()
                .filter(|k| CUSTOM_AVG_KEYS.contains(&k.as_str()))
                .cloned()
                .collect();
            bin(
                BinaryOp::Div,
                data(AggrFn::Sum, a, a.query.clone(), keys),
                data(AggrFn::Sum, a, base, &den_keys),
            )
        }
        (RewriteKind::SampleCount { min, max }, Some(a)) => data(
            AggrFn::Sum,
            a,
            a.query.clone().and(bucket_range(min, max)),
            keys,
        ),
        // The dist words and custom averages only accept a query, so a non-simple input cannot be built; fall
        // back to the input itself rather than fail.
        (
            RewriteKind::DistAvg
            | RewriteKind::DistMax
            | RewriteKind::DistStddev
            | RewriteKind::NodeAvg
            | RewriteKind::EurekaAvg
            | RewriteKind::SampleCount { .. },
            None,
        ) => input.clone(),
    }
}

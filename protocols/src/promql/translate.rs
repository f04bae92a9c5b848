//! PromQL → `sextant_query` expressions.
//!
//! Every PromQL node becomes an [`Expr`] the Atlas evaluator runs, plus a [`Labels`] rule
//! saying which tags of the resulting lines are the Prometheus labels. The rules, and where
//! they differ from Prometheus, are in docs/promql.md; the main ones:
//! - counters are stored as per-second rates, so `rate(c[r])` is the mean of the stored
//!   rates over the window, `increase` that times the range, `irate(c[r])` the stored rate;
//! - range windows are whole steps: `f_over_time(x[r])` is a rolling operator over
//!   `r / step` values;
//! - vector matching joins on label keys found in the data (the Atlas evaluator joins
//!   grouped lines on their common keys), so one-to-one matching is `:by` on both sides.

use promql_parser::label::MatchOp;
use promql_parser::parser::{
    self, AggregateExpr, Call, Expr as PExpr, LabelModifier, MatrixSelector, Offset, VectorSelector,
};
use sextant_query::{
    AggrFn, Aggregate, BinaryOp, DataExpr, Expr, Pattern, Query, StatKind, StatefulOp, UnaryOp,
};

use super::binary::{self, binary, compare, filter, grouped};
use super::node::{bad, drop_name, presence, scalar, Ctx, Labels, Node};
use super::relabel::LabelReplace;
use super::response::PromError;
use super::sets::{Matching, SetOp};
use crate::labels::{key_to_atlas, regex_to_atlas, value_to_atlas};

/// A translated query: an expression, or `histogram_quantile` over Prometheus `le`
/// buckets, computed per step from the lines of its input.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Evaluate the node.
    Eval(Node),
    /// `histogram_quantile(phi, input)` where input lines carry an `le` tag.
    BucketQuantile {
        /// The quantile, 0..=1.
        phi: f64,
        /// The bucket lines.
        input: Node,
    },
    /// `lhs and/or/unless rhs`, per step on both answers.
    Set {
        /// The operator.
        op: SetOp,
        /// Left side.
        lhs: Box<Plan>,
        /// Right side.
        rhs: Box<Plan>,
        /// The labels elements are matched on.
        matching: Matching,
    },
    /// `label_replace(input, ...)` on the labels of the answer.
    LabelReplace {
        /// The answer relabelled.
        input: Box<Plan>,
        /// The arguments.
        args: LabelReplace,
    },
    /// `quantile(phi, input)` across the lines of each group, per step.
    SeriesQuantile {
        /// The quantile, 0..=1.
        phi: f64,
        /// The lines.
        input: Node,
        /// Group keys (Atlas form); `None` for one group of all lines.
        keys: Option<Vec<String>>,
    },
}

/// Parses and translates a PromQL query.
pub fn translate(ctx: &mut Ctx<'_>) -> Result<Plan, PromError> {
    let ast = parser::parse(ctx.text).map_err(|e| bad(format!("invalid PromQL: {e}")))?;
    plan(ctx, &ast)
}

fn plan(ctx: &mut Ctx<'_>, e: &PExpr) -> Result<Plan, PromError> {
    match e {
        PExpr::Paren(p) => plan(ctx, &p.expr),
        PExpr::Call(c) if c.func.name == "histogram_quantile" => histogram_quantile(ctx, c),
        PExpr::Call(c) if c.func.name == "label_replace" => {
            let text = |i: usize| match c.args.args.get(i).map(|a| a.as_ref()) {
                Some(PExpr::StringLiteral(s)) => Ok(s.val.clone()),
                _ => Err(bad(format!(
                    "argument {} of label_replace must be a string",
                    i + 1
                ))),
            };
            let args = LabelReplace::new(&text(1)?, &text(2)?, &text(3)?, &text(4)?)?;
            let inner = c
                .args
                .args
                .first()
                .ok_or_else(|| bad("label_replace needs five arguments".into()))?;
            Ok(Plan::LabelReplace {
                input: Box::new(plan(ctx, inner)?),
                args,
            })
        }
        PExpr::Binary(b) if matches!(b.op.to_string().as_str(), "and" | "or" | "unless") => {
            let op = match b.op.to_string().as_str() {
                "and" => SetOp::And,
                "or" => SetOp::Or,
                _ => SetOp::Unless,
            };
            let matching = match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
                Some(LabelModifier::Include(ls)) => Matching::On(ls.labels.clone()),
                Some(LabelModifier::Exclude(ls)) => Matching::Ignoring(ls.labels.clone()),
                None => Matching::All,
            };
            let lhs = plan(ctx, &b.lhs)?;
            let rhs = plan(ctx, &b.rhs)?;
            Ok(Plan::Set {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                matching,
            })
        }
        PExpr::Aggregate(a) if a.op.to_string() == "quantile" => {
            let phi = a
                .param
                .as_ref()
                .and_then(|p| literal(p))
                .ok_or_else(|| bad("quantile needs a number literal".into()))?;
            let input = node(ctx, &a.expr)?;
            let keys = group_keys(ctx, &a.modifier, &input)?;
            Ok(Plan::SeriesQuantile { phi, input, keys })
        }
        _ => Ok(Plan::Eval(node(ctx, e)?)),
    }
}

fn literal(e: &PExpr) -> Option<f64> {
    match e {
        PExpr::NumberLiteral(n) => Some(n.val),
        PExpr::Paren(p) => literal(&p.expr),
        PExpr::Unary(u) => literal(&u.expr).map(|v| -v),
        _ => None,
    }
}

fn offset_ms(o: &Option<Offset>) -> Result<i64, PromError> {
    match o {
        None => Ok(0),
        Some(Offset::Pos(d)) => Ok(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        Some(Offset::Neg(_)) => Err(bad("negative offsets are not supported".into())),
    }
}

/// The tag query of a selector's matchers.
pub fn selector_query(vs: &VectorSelector) -> Result<Query, PromError> {
    let mut q = Query::True;
    if let Some(name) = &vs.name {
        q = q.and(Query::eq("name", &value_to_atlas(name)));
    }
    if !vs.matchers.or_matchers.is_empty() {
        return Err(bad("'or' inside a selector is not supported".into()));
    }
    for m in &vs.matchers.matchers {
        let key = key_to_atlas(&m.name).into_owned();
        // Metric names are escaped like any value (a recording rule's `:`).
        let value = value_to_atlas(&m.value).into_owned();
        let clause = match &m.op {
            MatchOp::Equal if m.value.is_empty() => Query::Not(Box::new(Query::has(&key))),
            MatchOp::Equal => Query::Eq(key, value),
            MatchOp::NotEqual if m.value.is_empty() => Query::has(&key),
            MatchOp::NotEqual => Query::Not(Box::new(Query::Eq(key, value))),
            MatchOp::Re(re) | MatchOp::NotRe(re) => {
                let stored =
                    regex_to_atlas(&m.value).map_err(|e| bad(format!("invalid regex: {e}")))?;
                let pattern = Pattern::try_new(&format!("(?:{stored})$"), false)
                    .map_err(|e| bad(e.to_string()))?;
                let mut positive = Query::Re(key.clone(), pattern);
                // Prometheus: a regex that matches "" also matches series without the label.
                if re.is_match("") {
                    positive = Query::Or(
                        Box::new(positive),
                        Box::new(Query::Not(Box::new(Query::has(&key)))),
                    );
                }
                if matches!(m.op, MatchOp::NotRe(_)) {
                    Query::Not(Box::new(positive))
                } else {
                    positive
                }
            }
        };
        q = q.and(clause);
    }
    if q == Query::True {
        return Err(bad(
            "vector selector must contain at least one non-empty matcher".into(),
        ));
    }
    Ok(q)
}

fn selector(ctx: &Ctx<'_>, vs: &VectorSelector) -> Result<Node, PromError> {
    if vs.at.is_some() {
        return Err(bad("the @ modifier is not supported".into()));
    }
    let query = selector_query(vs)?;
    let offset = offset_ms(&vs.offset)?;
    let all = Expr::Data(DataExpr::All { query, offset });
    let expr = if ctx.step > ctx.db.step() {
        // On a step larger than the store's, `:all` adds the values of each step up (Atlas
        // consolidates unaggregated lines by sum); a group by every key of the series is
        // the same lines consolidated by average, as a gauge or a rate reads.
        let keys: Vec<String> = ctx.keys_of(&all)?.into_iter().collect();
        let Expr::Data(DataExpr::All { query, offset }) = all else {
            return Err(PromError::execution("selector translation".into()));
        };
        let mut a = Aggregate::new(AggrFn::Sum, query);
        a.offset = offset;
        a.cf = sextant_query::Cf::Avg;
        Expr::Data(DataExpr::GroupBy { aggr: a, keys })
    } else {
        all
    };
    Ok(Node {
        expr,
        labels: Labels::Series { drop_name: false },
        scalar: false,
    })
}

pub(super) fn node(ctx: &mut Ctx<'_>, e: &PExpr) -> Result<Node, PromError> {
    match e {
        PExpr::NumberLiteral(n) => Ok(scalar(Expr::Const(n.val))),
        PExpr::Paren(p) => node(ctx, &p.expr),
        PExpr::Unary(u) => {
            let inner = node(ctx, &u.expr)?;
            Ok(Node {
                expr: Expr::Unary(UnaryOp::Neg, Box::new(inner.expr)),
                labels: drop_name(inner.labels),
                scalar: inner.scalar,
            })
        }
        PExpr::VectorSelector(vs) => selector(ctx, vs),
        PExpr::MatrixSelector(_) => Err(bad(
            "a range vector is only supported as the argument of a function such as rate()".into(),
        )),
        PExpr::Subquery(_) => Err(bad("subqueries are not supported".into())),
        PExpr::StringLiteral(_) => Err(bad("string literals are not supported".into())),
        PExpr::Extension(_) => Err(bad("extension expressions are not supported".into())),
        PExpr::Call(c) => call(ctx, c),
        PExpr::Aggregate(a) => aggregate(ctx, a),
        PExpr::Binary(b) => {
            binary::check(b)?;
            let lhs = node(ctx, &b.lhs)?;
            let rhs = node(ctx, &b.rhs)?;
            binary(ctx, b, lhs, rhs)
        }
    }
}

fn matrix_arg<'a>(ctx: &Ctx<'_>, c: &'a Call, i: usize) -> Result<&'a MatrixSelector, PromError> {
    match c.args.args.get(i).map(|b| b.as_ref()) {
        Some(PExpr::MatrixSelector(m)) => Ok(m),
        Some(PExpr::Subquery(_)) => Err(bad(format!(
            "subqueries are not supported (argument of {} at position {})",
            c.func.name,
            ctx.position(c.func.name)
        ))),
        _ => Err(bad(format!(
            "expected a range vector as argument {} of {}",
            i + 1,
            c.func.name
        ))),
    }
}

fn number_arg(ctx: &Ctx<'_>, c: &Call, i: usize) -> Result<f64, PromError> {
    c.args.args.get(i).and_then(|a| literal(a)).ok_or_else(|| {
        bad(format!(
            "argument {} of {} at position {} must be a number literal in Sextant",
            i + 1,
            c.func.name,
            ctx.position(c.func.name)
        ))
    })
}

fn stateful(op: StatefulOp, e: Expr) -> Expr {
    Expr::Stateful(op, Box::new(e))
}

fn call(ctx: &mut Ctx<'_>, c: &Call) -> Result<Node, PromError> {
    let name = c.func.name;
    let range_fn = |ctx: &mut Ctx<'_>, build: &dyn Fn(Expr, usize, f64) -> Expr| {
        let m = matrix_arg(ctx, c, 0)?;
        let range_ms = i64::try_from(m.range.as_millis()).unwrap_or(i64::MAX);
        let n = ctx.window(range_ms);
        let sel = selector(ctx, &m.vs)?;
        Ok::<Node, PromError>(Node {
            expr: build(sel.expr, n, range_ms as f64 / 1000.0),
            labels: Labels::Series { drop_name: true },
            scalar: false,
        })
    };
    let step_s = ctx.step as f64 / 1000.0;
    match name {
        // Counters are stored as per-second rates: the mean over the window is the rate.
        "rate" => range_fn(ctx, &|e, n, _| {
            stateful(StatefulOp::RollingMean { window: n, min: 1 }, e)
        }),
        "increase" => range_fn(ctx, &|e, n, secs| {
            Expr::Binary(
                BinaryOp::FMul,
                Box::new(stateful(StatefulOp::RollingMean { window: n, min: 1 }, e)),
                Box::new(Expr::Const(secs)),
            )
        }),
        "irate" => range_fn(ctx, &|e, _, _| e),
        "delta" => range_fn(ctx, &|e, n, _| {
            stateful(
                StatefulOp::RollingSum(n),
                stateful(StatefulOp::Derivative, e),
            )
        }),
        "idelta" => range_fn(ctx, &|e, _, _| stateful(StatefulOp::Derivative, e)),
        "deriv" => range_fn(ctx, &|e, n, _| {
            Expr::Binary(
                BinaryOp::FDiv,
                Box::new(stateful(
                    StatefulOp::RollingMean { window: n, min: 1 },
                    stateful(StatefulOp::Derivative, e),
                )),
                Box::new(Expr::Const(step_s)),
            )
        }),
        "avg_over_time" => range_fn(ctx, &|e, n, _| {
            stateful(StatefulOp::RollingMean { window: n, min: 1 }, e)
        }),
        "sum_over_time" => range_fn(ctx, &|e, n, _| stateful(StatefulOp::RollingSum(n), e)),
        "min_over_time" => range_fn(ctx, &|e, n, _| stateful(StatefulOp::RollingMin(n), e)),
        "max_over_time" => range_fn(ctx, &|e, n, _| stateful(StatefulOp::RollingMax(n), e)),
        "count_over_time" => range_fn(ctx, &|e, n, _| {
            stateful(StatefulOp::RollingSum(n), presence(e))
        }),
        "last_over_time" => {
            let mut n = range_fn(ctx, &|e, _, _| e)?;
            n.labels = Labels::Series { drop_name: false };
            Ok(n)
        }
        "abs" | "sqrt" | "exp" | "clamp_min" | "clamp_max" | "clamp" => {
            let arg = c
                .args
                .args
                .first()
                .ok_or_else(|| bad(format!("{name} needs an argument")))?;
            let inner = node(ctx, arg)?;
            let e = inner.expr;
            let expr = match name {
                "abs" => Expr::Unary(UnaryOp::Abs, Box::new(e)),
                "sqrt" => Expr::Unary(UnaryOp::Sqrt, Box::new(e)),
                "exp" => Expr::Binary(
                    BinaryOp::Pow,
                    Box::new(Expr::Const(std::f64::consts::E)),
                    Box::new(e),
                ),
                "clamp_min" => Expr::Clamp {
                    max: false,
                    bound: number_arg(ctx, c, 1)?,
                    expr: Box::new(e),
                },
                "clamp_max" => Expr::Clamp {
                    max: true,
                    bound: number_arg(ctx, c, 1)?,
                    expr: Box::new(e),
                },
                _ => Expr::Clamp {
                    max: true,
                    bound: number_arg(ctx, c, 2)?,
                    expr: Box::new(Expr::Clamp {
                        max: false,
                        bound: number_arg(ctx, c, 1)?,
                        expr: Box::new(e),
                    }),
                },
            };
            Ok(Node {
                expr,
                labels: drop_name(inner.labels),
                scalar: inner.scalar,
            })
        }
        "sgn" => {
            let arg = c
                .args
                .args
                .first()
                .ok_or_else(|| bad("sgn needs an argument".into()))?;
            let inner = node(ctx, arg)?;
            let labels = drop_name(inner.labels.clone());
            let scalar_arg = inner.scalar;
            // (x > 0) - (x < 0), NaN where x has no value; x is read twice, so grouped.
            let x = grouped(ctx, inner)?;
            let b = |o: BinaryOp, a: Expr, z: Expr| Expr::Binary(o, Box::new(a), Box::new(z));
            let sign = b(
                BinaryOp::FSub,
                b(BinaryOp::Gt, x.clone(), Expr::Const(0.0)),
                b(BinaryOp::Lt, x.clone(), Expr::Const(0.0)),
            );
            Ok(Node {
                expr: b(BinaryOp::FAdd, sign, b(BinaryOp::FMul, x, Expr::Const(0.0))),
                labels,
                scalar: scalar_arg,
            })
        }
        "scalar" => {
            let arg = c
                .args
                .args
                .first()
                .ok_or_else(|| bad("scalar needs an argument".into()))?;
            let inner = node(ctx, arg)?;
            // The value of the only series, NaN unless there is exactly one.
            let count = Expr::Aggregate(AggrFn::Count, Box::new(inner.expr.clone()));
            let one = compare("==", count, Expr::Const(1.0))
                .ok_or_else(|| bad("scalar: comparison".into()))?;
            let sum = Expr::Aggregate(AggrFn::Sum, Box::new(inner.expr));
            Ok(scalar(filter(sum, one)))
        }
        "time" => Ok(scalar(Expr::Time("seconds".into()))),
        "vector" => {
            let v = number_arg(ctx, c, 0)?;
            Ok(Node {
                expr: Expr::Const(v),
                labels: Labels::Keys(Vec::new()),
                scalar: false,
            })
        }
        "absent" => absent(ctx, c),
        "sort" | "sort_desc" => {
            let arg = c
                .args
                .args
                .first()
                .ok_or_else(|| bad(format!("{name} needs an argument")))?;
            node(ctx, arg)
        }
        _ => Err(ctx.unsupported("function", name)),
    }
}

/// `absent(v)`: 1 with the labels of `v`'s equality matchers where `v` has no value.
fn absent(ctx: &mut Ctx<'_>, c: &Call) -> Result<Node, PromError> {
    let arg = c
        .args
        .args
        .first()
        .ok_or_else(|| bad("absent needs an argument".into()))?;
    let inner = node(ctx, arg)?;
    let fixed = match arg.as_ref() {
        PExpr::VectorSelector(vs) => vs
            .matchers
            .matchers
            .iter()
            .filter(|m| matches!(m.op, MatchOp::Equal) && m.name != "__name__")
            .map(|m| (m.name.clone(), m.value.clone()))
            .collect(),
        _ => Default::default(),
    };
    let count = Expr::Aggregate(AggrFn::Count, Box::new(inner.expr));
    let present = Expr::Binary(BinaryOp::Gt, Box::new(count), Box::new(Expr::Const(0.0)));
    // 1 - present, written with the line on the left so its tags are kept.
    let missing = Expr::Binary(
        BinaryOp::FAdd,
        Box::new(Expr::Binary(
            BinaryOp::FMul,
            Box::new(present),
            Box::new(Expr::Const(-1.0)),
        )),
        Box::new(Expr::Const(1.0)),
    );
    Ok(Node {
        expr: Expr::Binary(BinaryOp::FDiv, Box::new(missing.clone()), Box::new(missing)),
        labels: Labels::Fixed(fixed),
        scalar: false,
    })
}

/// The group keys of an aggregation in Atlas form, resolving `without` from the data.
fn group_keys(
    ctx: &Ctx<'_>,
    m: &Option<LabelModifier>,
    inner: &Node,
) -> Result<Option<Vec<String>>, PromError> {
    match m {
        None => Ok(None),
        Some(LabelModifier::Include(ls)) if ls.labels.is_empty() => Ok(None),
        Some(LabelModifier::Include(ls)) => Ok(Some(
            ls.labels
                .iter()
                .map(|l| key_to_atlas(l).into_owned())
                .collect(),
        )),
        Some(LabelModifier::Exclude(ls)) => {
            let mut keys = ctx.label_keys(inner)?;
            keys.remove("name");
            for l in &ls.labels {
                keys.remove(key_to_atlas(l).as_ref());
            }
            Ok(Some(keys.into_iter().collect()))
        }
    }
}

fn aggr(f: AggrFn, inner: &Node, keys: &Option<Vec<String>>) -> Expr {
    // A plain selector aggregates while streaming from the store.
    if let Expr::Data(DataExpr::All { query, offset }) = &inner.expr {
        let mut a = Aggregate::new(f, query.clone());
        a.offset = *offset;
        return Expr::Data(match keys {
            Some(k) => DataExpr::GroupBy {
                aggr: a,
                keys: k.clone(),
            },
            None => DataExpr::Aggregate(a),
        });
    }
    match keys {
        Some(k) => Expr::GroupBy(f, Box::new(inner.expr.clone()), k.clone()),
        None => Expr::Aggregate(f, Box::new(inner.expr.clone())),
    }
}

fn aggregate(ctx: &mut Ctx<'_>, a: &AggregateExpr) -> Result<Node, PromError> {
    let op = a.op.to_string();
    let inner = node(ctx, &a.expr)?;
    let keys = group_keys(ctx, &a.modifier, &inner)?;
    let labels = Labels::Keys(keys.clone().unwrap_or_default());
    let expr = match op.as_str() {
        "sum" => aggr(AggrFn::Sum, &inner, &keys),
        "min" => aggr(AggrFn::Min, &inner, &keys),
        "max" => aggr(AggrFn::Max, &inner, &keys),
        "count" => aggr(AggrFn::Count, &inner, &keys),
        "avg" => Expr::Binary(
            BinaryOp::Div,
            Box::new(aggr(AggrFn::Sum, &inner, &keys)),
            Box::new(aggr(AggrFn::Count, &inner, &keys)),
        ),
        "stddev" | "stdvar" => {
            // Population variance per step: E[x²] - E[x]², from sums over the group.
            let g = grouped(ctx, inner.clone())?;
            let over = |f: AggrFn, e: Expr| match &keys {
                Some(k) => Expr::GroupBy(f, Box::new(e), k.clone()),
                None => Expr::Aggregate(f, Box::new(e)),
            };
            let b = |o: BinaryOp, x: Expr, y: Expr| Expr::Binary(o, Box::new(x), Box::new(y));
            let n = over(AggrFn::Count, g.clone());
            let mean = b(BinaryOp::FDiv, over(AggrFn::Sum, g.clone()), n.clone());
            let mean_sq = b(
                BinaryOp::FDiv,
                over(AggrFn::Sum, b(BinaryOp::FMul, g.clone(), g)),
                n,
            );
            let var = Expr::Clamp {
                max: false,
                bound: 0.0,
                expr: Box::new(b(
                    BinaryOp::FSub,
                    mean_sq,
                    b(BinaryOp::FMul, mean.clone(), mean),
                )),
            };
            if op == "stddev" {
                Expr::Unary(UnaryOp::Sqrt, Box::new(var))
            } else {
                var
            }
        }
        "group" => {
            let g = presence(inner.expr.clone());
            match &keys {
                Some(k) => Expr::GroupBy(AggrFn::Max, Box::new(g), k.clone()),
                None => Expr::Aggregate(AggrFn::Max, Box::new(g)),
            }
        }
        "topk" | "bottomk" => {
            if keys.is_some() {
                return Err(bad(format!(
                    "{op} with by/without at position {} is not supported",
                    ctx.position(&op)
                )));
            }
            let k = a
                .param
                .as_ref()
                .and_then(|p| literal(p))
                .filter(|k| *k >= 0.0)
                .ok_or_else(|| bad(format!("{op} needs a number literal k")))?;
            return Ok(Node {
                expr: Expr::TopK {
                    expr: Box::new(inner.expr),
                    stat: StatKind::Last,
                    k: k as usize,
                    bottom: op == "bottomk",
                    others: None,
                },
                labels: inner.labels,
                scalar: false,
            });
        }
        _ => return Err(ctx.unsupported("aggregation", &op)),
    };
    Ok(Node {
        expr,
        labels,
        scalar: false,
    })
}

/// Strips `rate(...)`/`irate(...)`/`increase(...)` around a bucket selector: our buckets are
/// counters stored as rates already, so the quantile of the rates is what is wanted.
fn bucket_source(e: &PExpr) -> &PExpr {
    match e {
        PExpr::Paren(p) => bucket_source(&p.expr),
        PExpr::Call(c)
            if matches!(c.func.name, "rate" | "irate" | "increase")
                && matches!(
                    c.args.args.first().map(|a| a.as_ref()),
                    Some(PExpr::MatrixSelector(_))
                ) =>
        {
            c.args.args.first().map(|a| a.as_ref()).unwrap_or(e)
        }
        _ => e,
    }
}

fn histogram_quantile(ctx: &mut Ctx<'_>, c: &Call) -> Result<Plan, PromError> {
    let phi = number_arg(ctx, c, 0)?;
    let arg = c
        .args
        .args
        .get(1)
        .ok_or_else(|| bad("histogram_quantile needs two arguments".into()))?;
    // Spectator percentile buckets: `(sum by (k) (rate(x[r])))` where x has `percentile`.
    let (by, inner) = match arg.as_ref() {
        PExpr::Aggregate(a) if a.op.to_string() == "sum" => (a.modifier.clone(), a.expr.as_ref()),
        other => (None, other),
    };
    let sel = match bucket_source(inner) {
        PExpr::MatrixSelector(m) => Some(&m.vs),
        PExpr::VectorSelector(vs) => Some(vs),
        _ => None,
    };
    let by_keys: Option<Vec<String>> = match &by {
        Some(LabelModifier::Include(ls)) => Some(
            ls.labels
                .iter()
                .map(|l| key_to_atlas(l).into_owned())
                .collect(),
        ),
        _ => None,
    };
    if let Some(vs) = sel {
        let uses_le = by_keys
            .as_ref()
            .is_some_and(|k| k.iter().any(|k| k == "le"));
        let query = selector_query(vs)?;
        let probe = Node {
            expr: Expr::Data(DataExpr::All {
                query: query.clone(),
                offset: offset_ms(&vs.offset)?,
            }),
            labels: Labels::Series { drop_name: false },
            scalar: false,
        };
        if !uses_le && ctx.keys_of(&probe.expr)?.contains("percentile") {
            let keys: Vec<String> = by_keys
                .unwrap_or_default()
                .into_iter()
                .filter(|k| k != "percentile")
                .collect();
            let mut a = Aggregate::new(AggrFn::Sum, query);
            a.offset = offset_ms(&vs.offset)?;
            let data = if keys.is_empty() {
                DataExpr::Aggregate(a)
            } else {
                DataExpr::GroupBy {
                    aggr: a,
                    keys: keys.clone(),
                }
            };
            return Ok(Plan::Eval(Node {
                expr: Expr::Percentiles {
                    data,
                    pcts: vec![phi * 100.0],
                },
                labels: Labels::Keys(keys),
                scalar: false,
            }));
        }
    }
    let input = node(ctx, arg)?;
    Ok(Plan::BucketQuantile { phi, input })
}

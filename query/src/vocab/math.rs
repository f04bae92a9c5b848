//! The `math` vocabulary: constants, pointwise operators, joins, aggregates across lines,
//! group by over math, percentiles and named rewrites.
//!
//! Atlas reference: `MathVocabulary.scala`, `MathExpr.scala`.

use super::args::{passthrough, sig};
use super::{Interp, StackItem, Step};
use crate::error::Result;
use crate::model::rewrite::simple_input;
use crate::model::{AggrFn, BinaryOp, DataExpr, Expr, RewriteKind, UnaryOp};

const TS: &str = "a time series";
const TS2: &str = "two time series";

fn keys_str(keys: &[String]) -> String {
    let mut s = String::from("(");
    for k in keys {
        s.push(',');
        s.push_str(k);
    }
    s.push_str(",)");
    s
}

fn subset(a: &[String], b: &[String]) -> bool {
    a.iter().all(|k| b.contains(k))
}

/// Atlas's rule for binary operators on two grouped operands.
pub(crate) fn check_join(it: &Interp, a: &Expr, b: &Expr) -> Result<()> {
    if let (Some(x), Some(y)) = (a.group_keys(), b.group_keys()) {
        if !subset(&x, &y) && !subset(&y, &x) {
            return Err(it.err(format!(
                "both sides of binary operation must have the same grouping or one side \
                 must be a subset of the other [{} ⊈ {}]",
                keys_str(&x),
                keys_str(&y)
            )));
        }
    }
    Ok(())
}

pub(crate) fn unary(op: UnaryOp, e: Expr) -> Expr {
    match e {
        Expr::Const(v) if op != UnaryOp::PerStep => Expr::Const(op.apply(v, 0)),
        e => Expr::Unary(op, Box::new(e)),
    }
}

pub(crate) fn binary(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    match (a, b) {
        (Expr::Const(x), Expr::Const(y)) => Expr::Const(op.apply(x, y)),
        (a, b) => Expr::Binary(op, Box::new(a), Box::new(b)),
    }
}

/// `:by` after math: regroup named rewrites, group the lines of a grouped input again
/// (multi-level), or push the keys into every aggregate inside.
fn group_by(it: &Interp, e: Expr, keys: Vec<String>) -> Result<Expr> {
    if let Expr::Rewrite(kind, input, rk) = &e {
        let regroupable = !matches!(kind, RewriteKind::Stddev | RewriteKind::Pct);
        if regroupable && rk.is_empty() && simple_input(input).is_some() {
            return Ok(Expr::Rewrite(*kind, input.clone(), keys));
        }
    }
    let multi_level = match &e {
        Expr::Aggregate(_, b) => b.group_keys().is_some(),
        other => other.group_keys().is_some(),
    };
    if multi_level {
        let (func, base) = match e {
            Expr::Aggregate(f, b) if b.group_keys().is_some() => (f, *b),
            other => (AggrFn::Sum, other),
        };
        let inner = base.group_keys().unwrap_or_default();
        if !subset(&keys, &inner) {
            return Err(it.err(format!(
                "requirement failed: {} is not a subset of {}",
                keys_str(&keys),
                keys_str(&inner)
            )));
        }
        return Ok(Expr::GroupBy(func, Box::new(base), keys));
    }
    let mut e = e;
    push_keys(&mut e, &keys, false);
    Ok(e)
}

/// Adds group keys to the aggregates inside `e`. With `extend` (`:cg`), existing group bys
/// get the missing keys too; otherwise they are left alone.
fn push_keys(e: &mut Expr, keys: &[String], extend: bool) {
    match e {
        Expr::Data(d) | Expr::Percentiles { data: d, .. } => match d {
            DataExpr::Aggregate(a) => {
                *d = DataExpr::GroupBy {
                    aggr: a.clone(),
                    keys: keys.to_vec(),
                }
            }
            DataExpr::GroupBy { keys: ks, .. } if extend => add_missing(ks, keys),
            _ => {}
        },
        Expr::Rewrite(kind, input, rk) if simple_input(input).is_some() => {
            if !matches!(kind, RewriteKind::Stddev | RewriteKind::Pct) {
                add_missing(rk, keys);
            } else {
                push_keys(input, keys, extend);
            }
        }
        Expr::GroupBy(_, inner, ks) if extend => {
            add_missing(ks, keys);
            push_keys(inner, keys, extend);
        }
        other => {
            for c in other.children_mut() {
                push_keys(c, keys, extend);
            }
        }
    }
}

fn add_missing(ks: &mut Vec<String>, keys: &[String]) {
    for k in keys {
        if !ks.contains(k) {
            ks.push(k.clone());
        }
    }
}

fn binary_word(name: &str) -> Option<BinaryOp> {
    use BinaryOp::*;
    Some(match name {
        "add" => Add,
        "sub" => Sub,
        "mul" => Mul,
        "div" => Div,
        "pow" => Pow,
        "gt" => Gt,
        "ge" => Ge,
        "lt" => Lt,
        "le" => Le,
        "and" => And,
        "or" => Or,
        "fadd" => FAdd,
        "fsub" => FSub,
        "fmul" => FMul,
        "fdiv" => FDiv,
        _ => return None,
    })
}

fn unary_word(name: &str) -> Option<UnaryOp> {
    Some(match name {
        "abs" => UnaryOp::Abs,
        "neg" => UnaryOp::Neg,
        "sqrt" => UnaryOp::Sqrt,
        "sin" => UnaryOp::Sin,
        "per-step" => UnaryOp::PerStep,
        _ => return None,
    })
}

pub(crate) fn run(it: &mut Interp) -> Result<Step> {
    let word = it.word.clone();
    let w = word.as_str();
    if let Some(op) = binary_word(w) {
        let [a, b] = sig!(it, [Styled, Styled], TS2);
        let ((a, sa), (b, sb)) = (it.ts(a)?, it.ts(b)?);
        check_join(it, &a, &b)?;
        it.push(passthrough(binary(op, a, b), vec![sa, sb]))?;
        return Ok(Step::Done);
    }
    if let Some(op) = unary_word(w) {
        let [a] = sig!(it, [Styled], TS);
        let (a, s) = it.ts(a)?;
        it.push(passthrough(unary(op, a), vec![s]))?;
        return Ok(Step::Done);
    }
    let item = match w {
        "const" => {
            let [v] = sig!(it, [Double], "a number");
            StackItem::Expr(Expr::Const(it.double(v)?))
        }
        "pi" => StackItem::Expr(Expr::Const(std::f64::consts::PI)),
        "random" => StackItem::Expr(Expr::Random),
        "srandom" => {
            let [seed] = sig!(it, [Int], "an integer seed");
            StackItem::Expr(Expr::SeededRandom(it.int(seed)?))
        }
        "time" => {
            let [mode] = sig!(it, [Str], "a time mode such as hourOfDay");
            let mode = it.string(mode)?;
            if crate::eval::time_value(&mode, 0).is_none() {
                return Err(it.err(format!("unknown time mode '{mode}'")));
            }
            StackItem::Expr(Expr::Time(mode))
        }
        "time-span" => {
            let [s, e] = sig!(it, [Str, Str], "a start and an end time");
            let (s, e) = (it.string(s)?, it.string(e)?);
            if let Err(m) = crate::eval::check_time_span(&s, &e) {
                return Err(it.err(m));
            }
            StackItem::Expr(Expr::TimeSpan(s, e))
        }
        "clamp-min" | "clamp-max" => {
            let [ts, v] = sig!(it, [Styled, Double], "a time series and a number");
            let (e, s) = it.ts(ts)?;
            let bound = it.double(v)?;
            let max = w == "clamp-max";
            let e = match e {
                Expr::Const(x) => Expr::Const(if max { x.min(bound) } else { x.max(bound) }),
                e => Expr::Clamp {
                    max,
                    bound,
                    expr: Box::new(e),
                },
            };
            passthrough(e, vec![s])
        }
        "sum" | "count" | "min" | "max" => {
            let [ts] = sig!(it, [Styled], TS);
            let (e, s) = it.ts(ts)?;
            let f = match w {
                "sum" => AggrFn::Sum,
                "count" => AggrFn::Count,
                "min" => AggrFn::Min,
                _ => AggrFn::Max,
            };
            passthrough(Expr::Aggregate(f, Box::new(e)), vec![s])
        }
        "by" => {
            let [ts, keys] = sig!(it, [Styled, StrList], "a time series and a list of keys");
            let (e, s) = it.ts(ts)?;
            let keys = it.str_list(keys)?;
            passthrough(group_by(it, e, keys)?, vec![s])
        }
        "cg" => {
            let [ts, keys] = sig!(it, [Styled, StrList], "a time series and a list of keys");
            let (mut e, s) = it.ts(ts)?;
            let keys = it.str_list(keys)?;
            push_keys(&mut e, &keys, true);
            passthrough(e, vec![s])
        }
        "as" => {
            let [ts, from, to] = sig!(it, [Styled, Str, Str], "a time series and two keys");
            let (e, s) = it.ts(ts)?;
            let (from, to) = (it.string(from)?, it.string(to)?);
            passthrough(Expr::As(Box::new(e), from, to), vec![s])
        }
        "percentiles" => {
            let [d, ps] = sig!(
                it,
                [Data, DoubleList],
                "a data expression and a list of percentiles"
            );
            let data = it.data(d)?;
            let mut pcts = it.double_list(ps)?;
            let data = match data {
                DataExpr::All { .. } => {
                    return Err(it.err(":percentiles does not accept :all; use :sum or :by"))
                }
                DataExpr::Aggregate(mut a) => {
                    a.func = AggrFn::Sum;
                    DataExpr::Aggregate(a)
                }
                DataExpr::GroupBy { mut aggr, keys } => {
                    aggr.func = AggrFn::Sum;
                    DataExpr::GroupBy { aggr, keys }
                }
            };
            if let Some(p) = pcts.iter().find(|p| !(0.0..=100.0).contains(*p)) {
                return Err(it.err(format!("percentile {p} is outside 0..100")));
            }
            pcts.sort_by(f64::total_cmp);
            pcts.dedup();
            StackItem::Expr(Expr::Percentiles { data, pcts })
        }
        "median" => {
            it.run_macro("(,50,),:percentiles")?;
            return Ok(Step::Done);
        }
        "avg" | "stddev" | "pct" => {
            let [ts] = sig!(it, [Styled], TS);
            let on_query = matches!(ts, StackItem::Query(_));
            let (e, s) = it.ts(ts)?;
            if w == "avg" && !on_query {
                // On an expression Atlas's macro averages across lines: sum / count.
                let sum = Expr::Aggregate(AggrFn::Sum, Box::new(e.clone()));
                let count = Expr::Aggregate(AggrFn::Count, Box::new(e));
                it.push(passthrough(binary(BinaryOp::Div, sum, count), vec![s]))?;
                return Ok(Step::Done);
            }
            let kind = match w {
                "avg" => RewriteKind::Avg,
                "stddev" => RewriteKind::Stddev,
                _ => RewriteKind::Pct,
            };
            passthrough(Expr::Rewrite(kind, Box::new(e), Vec::new()), vec![s])
        }
        "dist-avg" | "dist-max" | "dist-stddev" | "node-avg" | "eureka-avg" => {
            let [q] = sig!(it, [Query], "a query");
            let q = it.query(q)?;
            let kind = match w {
                "dist-avg" => RewriteKind::DistAvg,
                "dist-max" => RewriteKind::DistMax,
                // Atlas's `custom` vocabulary with the Netflix defaults of `reference.conf`.
                "node-avg" => RewriteKind::NodeAvg,
                "eureka-avg" => RewriteKind::EurekaAvg,
                _ => RewriteKind::DistStddev,
            };
            let input = Expr::Data(DataExpr::sum(q));
            StackItem::Expr(Expr::Rewrite(kind, Box::new(input), Vec::new()))
        }
        "approx-distinct" => {
            let [ts] = sig!(it, [Styled], TS);
            let (e, s) = it.ts(ts)?;
            let e = Expr::ApproxDistinct {
                expr: Box::new(e),
                cumulative: false,
            };
            passthrough(e, vec![s])
        }
        "sample-count" => {
            if it.fits(&[super::Kind::Query]) {
                // Atlas's one-argument form is the macro `0,Infinity,:sample-count`.
                it.run_macro("0,Infinity,:sample-count")?;
                return Ok(Step::Done);
            }
            let [q, lo, hi] = sig!(
                it,
                [Query, Double, Double],
                "a query, or a query, a minimum and a maximum"
            );
            let q = it.query(q)?;
            let (min, max) = (it.double(lo)?, it.double(hi)?);
            if min.is_nan() || max.is_nan() || min > max {
                return Err(it.err(format!(
                    "the range must be two numbers with min <= max, found [{min}, {max}]"
                )));
            }
            let input = Expr::Data(DataExpr::sum(q));
            let kind = RewriteKind::SampleCount { min, max };
            StackItem::Expr(Expr::Rewrite(kind, Box::new(input), Vec::new()))
        }
        "cos" | "tan" | "cot" | "sec" | "csc" => {
            let body = match w {
                "cos" => ":pi,2,:div,:add,:sin",
                "tan" => ":dup,:sin,:swap,:cos,:div",
                "cot" => ":dup,:cos,:swap,:sin,:div",
                "sec" => "1,:swap,:cos,:div",
                _ => "1,:swap,:sin,:div",
            };
            if !it.fits(&[super::Kind::Styled]) {
                return Ok(Step::NoMatch(TS, 1));
            }
            it.run_macro(body)?;
            return Ok(Step::Done);
        }
        _ => return Ok(Step::Unknown),
    };
    it.push(item)?;
    Ok(Step::Done)
}

//! PromQL binary operators onto the Atlas model: arithmetic and comparisons between
//! vectors and scalars, and one-to-one vector matching (`on`/`ignoring`), which the Atlas
//! evaluator does by joining lines grouped by the matching keys.

use promql_parser::parser::{self, BinaryExpr, LabelModifier, VectorMatchCardinality};
use sextant_query::{AggrFn, BinaryOp, Expr};

use super::node::{bad, drop_name, scalar, Ctx, Labels, Node};
use super::response::PromError;
use crate::labels::key_to_atlas;

/// NaN where `a` or `b` is NaN, else `c` (comparisons in Atlas give 0 for NaN inputs).
fn with_nan_of(c: Expr, a: &Expr, b: &Expr) -> Expr {
    let zero = |e: &Expr| {
        Expr::Binary(
            BinaryOp::FMul,
            Box::new(e.clone()),
            Box::new(Expr::Const(0.0)),
        )
    };
    Expr::Binary(
        BinaryOp::FAdd,
        Box::new(Expr::Binary(BinaryOp::FAdd, Box::new(c), Box::new(zero(a)))),
        Box::new(zero(b)),
    )
}

/// A 0/1 comparison with NaN where an input has none.
pub(super) fn compare(op: &str, a: Expr, b: Expr) -> Option<Expr> {
    let bin =
        |o: BinaryOp, x: &Expr, y: &Expr| Expr::Binary(o, Box::new(x.clone()), Box::new(y.clone()));
    let c = match op {
        ">" => bin(BinaryOp::Gt, &a, &b),
        ">=" => bin(BinaryOp::Ge, &a, &b),
        "<" => bin(BinaryOp::Lt, &a, &b),
        "<=" => bin(BinaryOp::Le, &a, &b),
        "!=" => Expr::Binary(
            BinaryOp::FAdd,
            Box::new(bin(BinaryOp::Gt, &a, &b)),
            Box::new(bin(BinaryOp::Lt, &a, &b)),
        ),
        "==" => Expr::Binary(
            BinaryOp::FSub,
            Box::new(Expr::Const(1.0)),
            Box::new(Expr::Binary(
                BinaryOp::FAdd,
                Box::new(bin(BinaryOp::Gt, &a, &b)),
                Box::new(bin(BinaryOp::Lt, &a, &b)),
            )),
        ),
        _ => return None,
    };
    Some(with_nan_of(c, &a, &b))
}

fn arith(op: &str) -> Option<BinaryOp> {
    Some(match op {
        "+" => BinaryOp::FAdd,
        "-" => BinaryOp::FSub,
        "*" => BinaryOp::FMul,
        "/" => BinaryOp::FDiv,
        "^" => BinaryOp::Pow,
        _ => return None,
    })
}

/// Refuses the binary operators Sextant does not translate, before their operands are.
pub(super) fn check(b: &BinaryExpr) -> Result<(), PromError> {
    let op = b.op.to_string();
    if let Some(m) = b.modifier.as_ref() {
        if !matches!(m.card, VectorMatchCardinality::OneToOne) {
            if matches!(m.card, VectorMatchCardinality::ManyToMany) {
                return Err(bad(format!("set operator {op} is not supported")));
            }
            return Err(bad(
                "group_left/group_right (many-to-one matching) is not supported".into(),
            ));
        }
    }
    if matches!(op.as_str(), "and" | "or" | "unless") {
        return Err(bad(format!("set operator {op} is not supported")));
    }
    Ok(())
}

/// `lhs op rhs`, both operands translated already.
pub(super) fn binary(
    ctx: &mut Ctx<'_>,
    b: &BinaryExpr,
    lhs: Node,
    rhs: Node,
) -> Result<Node, PromError> {
    check(b)?;
    let op = b.op.to_string();
    let modifier = b.modifier.as_ref();
    let return_bool = modifier.is_some_and(|m| m.return_bool);
    let scalar = lhs.scalar && rhs.scalar;
    let is_cmp = arith(&op).is_none();
    if matches!(op.as_str(), "%" | "atan2") {
        return Err(bad(format!("operator {op} is not supported")));
    }
    if scalar {
        if let Some(a) = arith(&op) {
            return Ok(scalar_node(Expr::Binary(
                a,
                Box::new(lhs.expr),
                Box::new(rhs.expr),
            )));
        }
        if !return_bool {
            return Err(bad("comparisons between scalars must use bool".into()));
        }
        let c = compare(&op, lhs.expr, rhs.expr)
            .ok_or_else(|| bad(format!("operator {op} is not supported")))?;
        return Ok(scalar_node(c));
    }
    if !lhs.scalar && !rhs.scalar {
        return vector_vector(ctx, &op, modifier, return_bool, lhs, rhs);
    }
    // A vector and a scalar. The evaluator takes a single-line result's tags from its left
    // operand, so the vector goes on the left and the operator is mirrored when needed.
    let swapped = lhs.scalar;
    let (v, s) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let labels = v.labels.clone();
    let b = |o: BinaryOp, x: Expr, y: Expr| Expr::Binary(o, Box::new(x), Box::new(y));
    if !is_cmp {
        let a = arith(&op).unwrap_or(BinaryOp::FAdd);
        let expr = match (swapped, op.as_str()) {
            (false, _) | (true, "+" | "*") => b(a, v.expr, s.expr),
            (true, "-") => b(
                BinaryOp::FAdd,
                b(BinaryOp::FMul, v.expr, Expr::Const(-1.0)),
                s.expr,
            ),
            (true, "/") => b(
                BinaryOp::FMul,
                b(BinaryOp::Pow, v.expr, Expr::Const(-1.0)),
                s.expr,
            ),
            _ => b(a, s.expr, v.expr),
        };
        return Ok(Node {
            expr,
            labels: drop_name(labels),
            scalar: false,
        });
    }
    let op = if swapped { mirror(&op) } else { op.as_str() };
    // The vector is read twice (comparison and value): group it so its lines can join.
    let ve = grouped(ctx, v)?;
    let c = compare(op, ve.clone(), s.expr)
        .ok_or_else(|| bad(format!("operator {op} is not supported")))?;
    if return_bool {
        return Ok(Node {
            expr: c,
            labels: drop_name(labels),
            scalar: false,
        });
    }
    Ok(Node {
        expr: filter(ve, c),
        labels,
        scalar: false,
    })
}

fn scalar_node(expr: Expr) -> Node {
    scalar(expr)
}

/// The comparison with its operands swapped.
fn mirror(op: &str) -> &str {
    match op {
        ">" => "<",
        "<" => ">",
        ">=" => "<=",
        "<=" => ">=",
        other => other,
    }
}

/// `value` where `cond` is 1, nothing where it is 0.
pub(super) fn filter(value: Expr, cond: Expr) -> Expr {
    let keep = Expr::Binary(BinaryOp::FDiv, Box::new(cond.clone()), Box::new(cond));
    Expr::Binary(BinaryOp::FMul, Box::new(value), Box::new(keep))
}

/// A node's lines grouped by all their keys, so two expressions over them can join.
pub(super) fn grouped(ctx: &Ctx<'_>, n: Node) -> Result<Expr, PromError> {
    match &n.labels {
        Labels::Keys(_) | Labels::Fixed(_) => Ok(n.expr),
        Labels::Series { .. } => {
            let keys: Vec<String> = ctx.keys_of(&n.expr)?.into_iter().collect();
            Ok(Expr::GroupBy(AggrFn::Sum, Box::new(n.expr), keys))
        }
    }
}

/// One-to-one matching: both sides grouped by the matching keys, which the evaluator
/// joins on.
fn vector_vector(
    ctx: &mut Ctx<'_>,
    op: &str,
    modifier: Option<&parser::BinModifier>,
    return_bool: bool,
    lhs: Node,
    rhs: Node,
) -> Result<Node, PromError> {
    let keys: Vec<String> = match modifier.and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(ls)) => ls
            .labels
            .iter()
            .map(|l| key_to_atlas(l).into_owned())
            .collect(),
        other => {
            let mut k = ctx.label_keys(&lhs)?;
            k.extend(ctx.label_keys(&rhs)?);
            k.remove("name");
            if let Some(LabelModifier::Exclude(ls)) = other {
                for l in &ls.labels {
                    k.remove(key_to_atlas(l).as_ref());
                }
            }
            k.into_iter().collect()
        }
    };
    let group = |n: Node| match &n.labels {
        Labels::Keys(k) if *k == keys => n.expr,
        _ => Expr::GroupBy(AggrFn::Sum, Box::new(n.expr), keys.clone()),
    };
    let (a, b) = (group(lhs), group(rhs));
    let labels = Labels::Keys(keys.clone());
    if let Some(o) = arith(op) {
        return Ok(Node {
            expr: Expr::Binary(o, Box::new(a), Box::new(b)),
            labels,
            scalar: false,
        });
    }
    let c =
        compare(op, a.clone(), b).ok_or_else(|| bad(format!("operator {op} is not supported")))?;
    Ok(Node {
        expr: if return_bool { c } else { filter(a, c) },
        labels,
        scalar: false,
    })
}

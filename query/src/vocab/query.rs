//! The `query` vocabulary: tag queries, and `:cq`.
//!
//! Atlas reference: `QueryVocabulary.scala`, `Query.scala`.

use super::args::sig;
use super::{Interp, StackItem, Step};
use crate::error::Result;
use crate::model::Expr;
use crate::{Pattern, Query};

const KV: &str = "a key and a value (strings)";

fn regex_escape(s: &str) -> String {
    regex::escape(s)
}

fn pattern(it: &Interp, k: String, source: String, ignore_case: bool) -> Result<StackItem> {
    let p = Pattern::try_new(&source, ignore_case).map_err(|e| it.err(e.to_string()))?;
    Ok(StackItem::Query(Query::Re(k, p)))
}

/// ANDs `q` into every query clause of `e`.
pub(crate) fn and_query(e: &mut Expr, q: &Query) {
    e.visit_data_mut(&mut |d| {
        let old = std::mem::replace(d.query_mut(), Query::True);
        *d.query_mut() = old.and(q.clone());
    })
}

/// ANDs `q` into every query inside the item (`:cq`).
fn and_into(item: StackItem, q: &Query) -> StackItem {
    let rewrite = |e: &mut Expr| and_query(e, q);
    match item {
        StackItem::Query(x) => StackItem::Query(x.and(q.clone())),
        StackItem::Expr(mut e) => {
            rewrite(&mut e);
            StackItem::Expr(e)
        }
        StackItem::Style(mut s) => {
            rewrite(&mut s.expr);
            StackItem::Style(s)
        }
        other => other,
    }
}

pub(crate) fn run(it: &mut Interp) -> Result<Step> {
    let word = it.word.clone();
    let item = match word.as_str() {
        "true" => StackItem::Query(Query::True),
        "false" => StackItem::Query(Query::False),
        "has" => {
            let [k] = sig!(it, [Str], "a key (string)");
            StackItem::Query(Query::Has(it.string(k)?))
        }
        "eq" | "lt" | "le" | "gt" | "ge" => {
            let [k, v] = sig!(it, [Str, Str], KV);
            let (k, v) = (it.string(k)?, it.string(v)?);
            StackItem::Query(match word.as_str() {
                "eq" => Query::Eq(k, v),
                "lt" => Query::Lt(k, v),
                "le" => Query::Le(k, v),
                "gt" => Query::Gt(k, v),
                _ => Query::Ge(k, v),
            })
        }
        "re" | "reic" => {
            let [k, v] = sig!(it, [Str, Str], "a key and a regular expression");
            let (k, v) = (it.string(k)?, it.string(v)?);
            pattern(it, k, v, word == "reic")?
        }
        "contains" | "starts" | "ends" => {
            let [k, v] = sig!(it, [Str, Str], KV);
            let (k, v) = (it.string(k)?, regex_escape(&it.string(v)?));
            let source = match word.as_str() {
                "contains" => format!(".*{v}"),
                "starts" => v,
                _ => format!(".*{v}$"),
            };
            pattern(it, k, source, false)?
        }
        "in" => {
            let [k, vs] = sig!(it, [Str, StrList], "a key and a list of values");
            let k = it.string(k)?;
            let mut vs = it.str_list(vs)?;
            StackItem::Query(match vs.len() {
                0 => Query::False,
                1 => Query::Eq(k, vs.remove(0)),
                _ => Query::In(k, vs),
            })
        }
        "and" | "or" => {
            let [a, b] = sig!(it, [Query, Query], "two queries");
            let (a, b) = (it.query(a)?, it.query(b)?);
            StackItem::Query(if word == "and" { a.and(b) } else { a.or(b) })
        }
        "not" => {
            let [q] = sig!(it, [Query], "a query");
            StackItem::Query(it.query(q)?.not())
        }
        "cq" => {
            let [item, q] = sig!(it, [Any, Query], "an expression and a query");
            let q = it.query(q)?;
            and_into(item, &q)
        }
        _ => return Ok(Step::Unknown),
    };
    it.push(item)?;
    Ok(Step::Done)
}

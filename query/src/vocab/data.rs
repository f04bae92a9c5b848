//! The `data` vocabulary: aggregates of matching series, group by, offset, consolidation.
//!
//! Atlas reference: `DataVocabulary.scala`, `DataExpr.scala`.

use super::args::{passthrough, sig};
use super::{Interp, StackItem, Step};
use crate::error::Result;
use crate::model::{AggrFn, Aggregate, Cf, DataExpr, Expr};

pub(crate) fn run(it: &mut Interp) -> Result<Step> {
    let word = it.word.clone();
    let item = match word.as_str() {
        "all" => {
            let [q] = sig!(it, [Query], "a query");
            StackItem::Expr(Expr::Data(DataExpr::All {
                query: it.query(q)?,
                offset: 0,
            }))
        }
        "sum" | "count" | "min" | "max" => {
            let [q] = sig!(it, [Query], "a query");
            let func = match word.as_str() {
                "sum" => AggrFn::Sum,
                "count" => AggrFn::Count,
                "min" => AggrFn::Min,
                _ => AggrFn::Max,
            };
            StackItem::Expr(Expr::Data(DataExpr::Aggregate(Aggregate::new(
                func,
                it.query(q)?,
            ))))
        }
        "by" => {
            let [af, keys] = sig!(it, [Aggr, StrList], "an aggregate and a list of keys");
            let aggr = it.aggr(af)?;
            let keys = it.str_list(keys)?;
            StackItem::Expr(Expr::Data(DataExpr::GroupBy { aggr, keys }))
        }
        "offset" => {
            let [ts, d] = sig!(it, [Styled, Duration], "a time series and a duration");
            let (mut e, style) = it.ts(ts)?;
            let d = it.duration(d)?;
            e.set_offset(d);
            passthrough(e, vec![style])
        }
        "cf-avg" | "cf-sum" | "cf-min" | "cf-max" => {
            let [ts] = sig!(it, [Styled], "a time series");
            let (mut e, style) = it.ts(ts)?;
            let cf = Cf::from_name(word.trim_start_matches("cf-"))
                .ok_or_else(|| it.err("internal: unknown consolidation"))?;
            e.visit_data_mut(&mut |d| d.set_cf(cf));
            passthrough(e, vec![style])
        }
        _ => return Ok(Step::Unknown),
    };
    it.push(item)?;
    Ok(Step::Done)
}

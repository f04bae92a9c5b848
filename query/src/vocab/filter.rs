//! The `filter` vocabulary: summary statistics, `:filter`, top/bottom k, `:consolidate`.
//!
//! Atlas reference: `FilterVocabulary.scala`, `FilterExpr.scala`, `SummaryStats.scala`.

use super::args::{passthrough, sig};
use super::{Interp, StackItem, Step};
use crate::error::Result;
use crate::model::{Cf, Expr, OthersFn, StatKind};

fn stat_kind(it: &Interp, s: &str) -> Result<StatKind> {
    StatKind::from_name(s).ok_or_else(|| {
        it.err(format!(
            "unknown statistic '{s}'; expected avg, max, min, last, total or count"
        ))
    })
}

pub(crate) fn run(it: &mut Interp) -> Result<Step> {
    let word = it.word.clone();
    let w = word.as_str();
    let item = match w {
        "stat" => {
            let [ts, name] = sig!(it, [Styled, Str], "a time series and a statistic name");
            let (e, s) = it.ts(ts)?;
            let kind = stat_kind(it, &it.string(name)?)?;
            passthrough(Expr::Stat(Box::new(e), kind), vec![s])
        }
        "stat-avg" | "stat-max" | "stat-min" | "stat-last" | "stat-count" | "stat-total" => {
            let kind = stat_kind(it, w.trim_start_matches("stat-"))?;
            StackItem::Expr(Expr::StatPlaceholder(kind))
        }
        "stat-min-mf" | "stat-max-mf" | "stat-avg-mf" => {
            let [ts] = sig!(it, [Styled], "a time series");
            let (e, s) = it.ts(ts)?;
            let kind = stat_kind(it, w.trim_start_matches("stat-").trim_end_matches("-mf"))?;
            passthrough(Expr::Stat(Box::new(e), kind), vec![s])
        }
        "filter" => {
            let [a, b] = sig!(it, [Styled, Styled], "two time series");
            let ((a, sa), (b, _)) = (it.ts(a)?, it.ts(b)?);
            if a.group_keys().is_none() && b.group_keys().is_some() {
                return Err(
                    it.err("filter condition is grouped but the filtered expression is not")
                );
            }
            super::math::check_join(it, &a, &b)?;
            passthrough(Expr::Filter(Box::new(a), Box::new(b)), vec![sa])
        }
        _ if w.starts_with("topk") || w.starts_with("bottomk") => {
            let bottom = w.starts_with("bottomk");
            let rest = w.trim_start_matches("topk").trim_start_matches("bottomk");
            let others = match rest {
                "" => None,
                "-others-min" => Some(OthersFn::Min),
                "-others-max" => Some(OthersFn::Max),
                "-others-sum" => Some(OthersFn::Sum),
                "-others-avg" => Some(OthersFn::Avg),
                _ => return Ok(Step::Unknown),
            };
            let [ts, stat, k] = sig!(
                it,
                [Styled, Str, Int],
                "a time series, a statistic and a count"
            );
            let (e, s) = it.ts(ts)?;
            let stat = stat_kind(it, &it.string(stat)?)?;
            let k = it.int_in(k, "k", 0, i64::MAX)?;
            passthrough(
                Expr::TopK {
                    expr: Box::new(e),
                    stat,
                    k,
                    bottom,
                    others,
                },
                vec![s],
            )
        }
        "consolidate" => {
            let [ts, cf, step] = sig!(
                it,
                [Styled, Str, Duration],
                "a time series, a consolidation function and a step"
            );
            let (e, s) = it.ts(ts)?;
            let cf_name = it.string(cf)?;
            let cf = Cf::from_name(&cf_name).ok_or_else(|| {
                it.err(format!(
                    "unknown consolidation '{cf_name}'; expected avg, sum, min or max"
                ))
            })?;
            let step = it.duration(step)?;
            if step <= 0 {
                return Err(it.err("consolidation step must be positive"));
            }
            passthrough(
                Expr::Consolidate {
                    expr: Box::new(e),
                    cf,
                    step,
                },
                vec![s],
            )
        }
        _ => return Ok(Step::Unknown),
    };
    it.push(item)?;
    Ok(Step::Done)
}

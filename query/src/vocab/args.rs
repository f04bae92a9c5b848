//! Stack argument types and the implicit coercions of Atlas's `DataType`s.

use super::{Interp, StackItem};
use crate::error::Result;
use crate::lexer::unescape;
use crate::model::{Aggregate, DataExpr, Expr, Style, StyleExpr};
use crate::time::duration_millis;
use crate::Query;

/// What a word parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Anything.
    Any,
    /// A literal string.
    Str,
    /// A string that parses as an integer.
    Int,
    /// A string that parses as a number (`NaN`, `Infinity`, `1e3` included).
    Double,
    /// A duration literal.
    Duration,
    /// A query.
    Query,
    /// A query (implicit `:sum`) or an ungrouped aggregate.
    Aggr,
    /// A query or any data expression.
    Data,
    /// A time series: numeric string (constant), query (`:sum`) or expression.
    Ts,
    /// A time series or a styled expression (style passes through).
    Styled,
    /// A list of strings.
    StrList,
    /// A list of numeric strings.
    DoubleList,
    /// Any list.
    List,
}

/// Java-like number parsing: what `v.toDouble` accepts in Atlas.
pub(crate) fn parse_f64(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => {
            // Rust also reads "inf" and "nan"; Java does not, so refuse words.
            if s.bytes()
                .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
            {
                return None;
            }
            s.parse().ok()
        }
    }
}

fn is_str(i: &StackItem) -> bool {
    matches!(i, StackItem::Str(_))
}

impl Kind {
    pub fn matches(self, item: &StackItem) -> bool {
        match (self, item) {
            (Kind::Any, _) => true,
            (Kind::Str, StackItem::Str(_)) => true,
            (Kind::Int, StackItem::Str(s)) => s.parse::<i64>().is_ok(),
            (Kind::Double, StackItem::Str(s)) => parse_f64(s).is_some(),
            (Kind::Duration, StackItem::Str(s)) => duration_millis(s).is_some(),
            (Kind::Query, StackItem::Query(_)) => true,
            (Kind::Aggr, StackItem::Query(_)) => true,
            (Kind::Aggr, StackItem::Expr(Expr::Data(DataExpr::Aggregate(_)))) => true,
            (Kind::Data, StackItem::Query(_) | StackItem::Expr(Expr::Data(_))) => true,
            (Kind::Ts, StackItem::Str(s)) => parse_f64(s).is_some(),
            (Kind::Ts, StackItem::Query(_) | StackItem::Expr(_)) => true,
            (Kind::Styled, StackItem::Style(_)) => true,
            (Kind::Styled, i) => Kind::Ts.matches(i),
            (Kind::StrList, StackItem::List(items)) => items.iter().all(is_str),
            (Kind::DoubleList, StackItem::List(items)) => items
                .iter()
                .all(|i| matches!(i, StackItem::Str(s) if parse_f64(&unescape(s)).is_some())),
            (Kind::List, StackItem::List(_)) => true,
            _ => false,
        }
    }
}

impl Interp {
    /// True when the top of the stack fits `kinds` (last kind = top).
    pub fn fits(&self, kinds: &[Kind]) -> bool {
        let n = kinds.len();
        if self.stack.len() < n {
            return false;
        }
        let base = self.stack.len() - n;
        kinds
            .iter()
            .zip(&self.stack[base..])
            .all(|(k, i)| k.matches(i))
    }

    /// Pops `kinds.len()` items if they fit, deepest first.
    pub fn take(&mut self, kinds: &[Kind]) -> Option<Vec<StackItem>> {
        if !self.fits(kinds) {
            return None;
        }
        let base = self.stack.len() - kinds.len();
        Some(self.stack.split_off(base))
    }

    fn mismatch<T>(&self, what: &str, item: &StackItem) -> Result<T> {
        Err(self.err(format!("expected {what}, found {}", item.describe())))
    }

    pub fn string(&self, item: StackItem) -> Result<String> {
        match item {
            StackItem::Str(s) => Ok(s),
            other => self.mismatch("a string", &other),
        }
    }

    pub fn int(&self, item: StackItem) -> Result<i64> {
        match &item {
            StackItem::Str(s) => match s.parse() {
                Ok(v) => Ok(v),
                Err(_) => self.mismatch("an integer", &item),
            },
            _ => self.mismatch("an integer", &item),
        }
    }

    /// An integer within `lo..=hi`, else an error naming the range.
    pub fn int_in(&self, item: StackItem, what: &str, lo: i64, hi: i64) -> Result<usize> {
        let v = self.int(item)?;
        if v < lo || v > hi {
            return Err(self.err(format!("{what} must be in {lo}..={hi}, found {v}")));
        }
        usize::try_from(v).map_err(|_| self.err(format!("{what} out of range: {v}")))
    }

    pub fn double(&self, item: StackItem) -> Result<f64> {
        match &item {
            StackItem::Str(s) => match parse_f64(s) {
                Some(v) => Ok(v),
                None => self.mismatch("a number", &item),
            },
            _ => self.mismatch("a number", &item),
        }
    }

    pub fn duration(&self, item: StackItem) -> Result<i64> {
        match &item {
            StackItem::Str(s) => match duration_millis(s) {
                Some(v) => Ok(v),
                None => self.mismatch("a duration such as 5m or PT1H", &item),
            },
            _ => self.mismatch("a duration", &item),
        }
    }

    pub fn query(&self, item: StackItem) -> Result<Query> {
        match item {
            StackItem::Query(q) => Ok(q),
            other => self.mismatch("a query", &other),
        }
    }

    pub fn aggr(&self, item: StackItem) -> Result<Aggregate> {
        match item {
            StackItem::Query(q) => Ok(Aggregate::new(crate::model::AggrFn::Sum, q)),
            StackItem::Expr(Expr::Data(DataExpr::Aggregate(a))) => Ok(a),
            other => self.mismatch("an aggregate", &other),
        }
    }

    pub fn data(&self, item: StackItem) -> Result<DataExpr> {
        match item {
            StackItem::Query(q) => Ok(DataExpr::sum(q)),
            StackItem::Expr(Expr::Data(d)) => Ok(d),
            other => self.mismatch("a data expression", &other),
        }
    }

    /// A time series with the style it carried, if any (Atlas's `StylePassthrough`).
    pub fn ts(&self, item: StackItem) -> Result<(Expr, Option<Style>)> {
        match item {
            StackItem::Str(s) => match parse_f64(&s) {
                Some(v) => Ok((Expr::Const(v), None)),
                None => self.mismatch("a time series", &StackItem::Str(s)),
            },
            StackItem::Query(q) => Ok((Expr::Data(DataExpr::sum(q)), None)),
            StackItem::Expr(e) => Ok((e, None)),
            StackItem::Style(s) => Ok((s.expr, Some(s.style))),
            other => self.mismatch("a time series", &other),
        }
    }

    /// A presentation expression: anything a time series accepts, or a styled one.
    pub fn style_expr(&self, item: StackItem) -> Result<StyleExpr> {
        let (expr, style) = self.ts(item)?;
        Ok(StyleExpr {
            expr,
            style: style.unwrap_or_default(),
        })
    }

    pub fn str_list(&self, item: StackItem) -> Result<Vec<String>> {
        match item {
            StackItem::List(items) => items
                .into_iter()
                .map(|i| self.string(i).map(|s| unescape(&s)))
                .collect(),
            other => self.mismatch("a list of strings", &other),
        }
    }

    pub fn double_list(&self, item: StackItem) -> Result<Vec<f64>> {
        self.str_list(item)?
            .into_iter()
            .map(|s| {
                parse_f64(&s).ok_or_else(|| self.err(format!("expected a number, found \"{s}\"")))
            })
            .collect()
    }
}

/// Wraps a result with the style of its inputs when exactly one input was styled.
pub(crate) fn passthrough(expr: Expr, styles: Vec<Option<Style>>) -> StackItem {
    let mut styled = styles.into_iter().flatten();
    match (styled.next(), styled.next()) {
        (Some(style), None) => StackItem::Style(StyleExpr { expr, style }),
        _ => StackItem::Expr(expr),
    }
}

/// Pops a fixed signature as an array, deepest first, or returns `Step::NoMatch` from the
/// calling word: `let [ts, n] = sig!(it, [Styled, Int], "a time series and an integer");`
macro_rules! sig {
    ($it:expr, [$($k:ident),*], $expected:expr) => {{
        let kinds = [$($crate::vocab::Kind::$k),*];
        let Some(items) = $it.take(&kinds) else {
            return Ok($crate::vocab::Step::NoMatch($expected, kinds.len()));
        };
        let mut iter = items.into_iter();
        [$({
            let _ = stringify!($k);
            match iter.next() {
                Some(x) => x,
                None => return Err($it.err("internal: stack shorter than its signature")),
            }
        }),*]
    }};
}
pub(crate) use sig;

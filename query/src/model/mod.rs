//! The typed expression model: data, math, stateful, filter and style expressions.

mod data;
mod expr;
mod keys;
mod print;
pub(crate) mod rewrite;
mod style;

pub use data::{AggrFn, Aggregate, Cf, DataExpr};
pub(crate) use expr::{add_nan, truthy};
pub use expr::{BinaryOp, Expr, OthersFn, RewriteKind, StatKind, StatefulOp, UnaryOp};
pub(crate) use print::{escape_literal, Printer};
pub use print::{fmt_duration, fmt_num, normalize_query, query_label, tags_label};
pub use style::{LineStyle, Palette, SedOp, SortMode, Style, StyleExpr};

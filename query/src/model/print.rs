//! Canonical stack-language printing of expressions, and the normalized form of
//! `/api/v1/expr/normalize` (Atlas `ExprNormalizer`).
//!
//! The printed form parses back to an equal expression; the tests check this on generated
//! expressions.

use std::fmt;

use super::data::DataExpr;
use super::expr::{Expr, RewriteKind, StatefulOp};
use super::rewrite::simple_input;
use super::style::{Palette, SedOp, Style, StyleExpr};
use crate::{Query, TagMap};

/// Formats a number so it reads back exactly: `42.0`, `0.1`, `NaN`, `Infinity`.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "Infinity".into()
    } else if v == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        format!("{v:?}")
    }
}

/// Formats a duration in ms the way Atlas prints them: the largest unit that divides it.
pub fn fmt_duration(ms: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (7 * 86_400_000, "w"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ];
    if ms == 0 {
        return "0w".into();
    }
    for (size, unit) in UNITS {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Escapes a literal so it reads back as one token. Only what the tokenizer would misread is
/// escaped: `,`, a leading `:`, a whole-token `(`/`)`, `\u`, a `/` next to `*` (a comment
/// marker), edge spaces and controls.
pub(crate) fn escape_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let count = s.chars().count();
    let whole_paren = s == "(" || s == ")";
    let bytes = s.as_bytes();
    for (i, (at, c)) in s.char_indices().enumerate() {
        let edge = (i == 0 || i + 1 == count) && c.is_whitespace();
        let backslash_u = c == '\\' && bytes.get(at + 1) == Some(&b'u');
        let lead_colon = i == 0 && c == ':';
        let marker = crate::lexer::slash_in_marker(s, at);
        if c == ',' || edge || backslash_u || lead_colon || whole_paren || marker || c.is_control()
        {
            out.push_str(&format!("\\u{:04X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The query as Atlas labels it: `k=v`, `k<v`, `k~/^v/`, `(a) and (b)`, `has(k)`, `not(q)`.
pub fn query_label(q: &Query) -> String {
    match q {
        Query::True => "true".into(),
        Query::False => "false".into(),
        Query::Has(k) => format!("has({k})"),
        Query::Eq(k, v) => format!("{k}={v}"),
        Query::Lt(k, v) => format!("{k}<{v}"),
        Query::Le(k, v) => format!("{k}<={v}"),
        Query::Gt(k, v) => format!("{k}>{v}"),
        Query::Ge(k, v) => format!("{k}>={v}"),
        Query::Re(k, p) => {
            let flags = if p.ignore_case() { "i" } else { "" };
            format!("{k}~/^{}/{flags}", p.source())
        }
        Query::In(k, vs) => format!("{k} in ({})", vs.join(",")),
        Query::And(a, b) => format!("({}) and ({})", query_label(a), query_label(b)),
        Query::Or(a, b) => format!("({}) or ({})", query_label(a), query_label(b)),
        Query::Not(q) => format!("not({})", query_label(q)),
    }
}

/// A label built from tags: `k=v` sorted by key and joined with `, `; `NO TAGS` when empty.
pub fn tags_label(tags: &TagMap) -> String {
    if tags.is_empty() {
        return "NO TAGS".into();
    }
    let parts: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(", ")
}

/// Keys that `ExprNormalizer` moves to the front of a conjunction, in this order.
const PREFIX_KEYS: [&str; 8] = [
    "name",
    "nf.app",
    "nf.stack",
    "nf.cluster",
    "nf.asg",
    "nf.region",
    "nf.zone",
    "nf.node",
];

fn clause_key(q: &Query) -> Option<&str> {
    match q {
        Query::Has(k)
        | Query::Eq(k, _)
        | Query::In(k, _)
        | Query::Lt(k, _)
        | Query::Le(k, _)
        | Query::Gt(k, _)
        | Query::Ge(k, _)
        | Query::Re(k, _) => Some(k),
        _ => None,
    }
}

fn flatten_and(q: &Query, out: &mut Vec<Query>) {
    match q {
        Query::And(a, b) => {
            flatten_and(a, out);
            flatten_and(b, out);
        }
        Query::Or(a, b) => out.push(Query::Or(
            Box::new(normalize_query(a)),
            Box::new(normalize_query(b)),
        )),
        Query::Not(a) => out.push(Query::Not(Box::new(normalize_query(a)))),
        other => out.push(other.clone()),
    }
}

/// Reorders the clauses of conjunctions: `name`, `nf.*` keys first, `statistic` last, other
/// keys in between in key order; clauses without a key keep their place at the end.
pub fn normalize_query(q: &Query) -> Query {
    let mut clauses = Vec::new();
    flatten_and(q, &mut clauses);
    let rank = |c: &Query| -> (u8, usize, String) {
        match clause_key(c) {
            Some(k) => match PREFIX_KEYS.iter().position(|p| *p == k) {
                Some(i) => (0, i, String::new()),
                None if k == "statistic" => (2, 0, String::new()),
                None => (1, 0, k.to_string()),
            },
            None => (3, 0, String::new()),
        }
    };
    clauses.sort_by_key(|c| rank(c));
    let mut it = clauses.into_iter();
    let first = it.next().unwrap_or(Query::True);
    it.fold(first, |acc, c| Query::And(Box::new(acc), Box::new(c)))
}

/// Prints expressions; `normalize` selects the `/api/v1/expr/normalize` form.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Printer {
    pub normalize: bool,
}

fn tok(out: &mut String, s: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(s);
}

fn list(out: &mut String, items: &[String]) {
    tok(out, "(");
    for i in items {
        tok(out, &escape_literal(i));
    }
    tok(out, ")");
}

impl Printer {
    fn query(&self, q: &Query, out: &mut String) {
        if self.normalize {
            tok(out, &normalize_query(q).to_string());
        } else {
            tok(out, &q.to_string());
        }
    }

    fn offset(&self, ms: i64, out: &mut String) {
        if ms != 0 {
            tok(out, &fmt_duration(ms));
            tok(out, ":offset");
        }
    }

    /// `implicit` allows dropping `:sum` in normalized output where a query means the same.
    fn data(&self, d: &DataExpr, implicit: bool, out: &mut String) {
        match d {
            DataExpr::All { query, offset } => {
                self.query(query, out);
                tok(out, ":all");
                self.offset(*offset, out);
            }
            DataExpr::Aggregate(a) | DataExpr::GroupBy { aggr: a, .. } => {
                self.query(&a.query, out);
                let drop_sum = self.normalize && implicit && a.func == super::AggrFn::Sum;
                if !drop_sum {
                    tok(out, &format!(":{}", a.func.name()));
                }
                if a.cf != a.func.default_cf() {
                    tok(out, &format!(":cf-{}", a.cf.name()));
                }
                if let DataExpr::GroupBy { keys, .. } = d {
                    list(out, keys);
                    tok(out, ":by");
                }
                self.offset(a.offset, out);
            }
        }
    }

    /// The input of a math aggregate: a data `:sum` must stay explicit there, because
    /// `q,:count` alone would count series instead of lines.
    fn explicit(&self, e: &Expr, out: &mut String) {
        match e {
            Expr::Data(d) => self.data(d, false, out),
            other => self.expr(other, out),
        }
    }

    pub fn expr(&self, e: &Expr, out: &mut String) {
        match e {
            Expr::Data(d) => self.data(d, true, out),
            Expr::Const(v) => {
                tok(out, &fmt_num(*v));
                if !self.normalize {
                    tok(out, ":const");
                }
            }
            Expr::Random => tok(out, ":random"),
            Expr::SeededRandom(s) => {
                tok(out, &s.to_string());
                tok(out, ":srandom");
            }
            Expr::Time(mode) => {
                tok(out, &escape_literal(mode));
                tok(out, ":time");
            }
            Expr::TimeSpan(s, e) => {
                tok(out, &escape_literal(s));
                tok(out, &escape_literal(e));
                tok(out, ":time-span");
            }
            Expr::Unary(op, e) => {
                self.expr(e, out);
                tok(out, &format!(":{}", op.name()));
            }
            Expr::Clamp { max, bound, expr } => {
                self.expr(expr, out);
                tok(out, &fmt_num(*bound));
                tok(out, if *max { ":clamp-max" } else { ":clamp-min" });
            }
            Expr::Binary(op, a, b) => {
                self.expr(a, out);
                self.expr(b, out);
                tok(out, &format!(":{}", op.name()));
            }
            Expr::Aggregate(f, inner) => {
                self.explicit(inner, out);
                tok(out, &format!(":{}", f.name()));
            }
            Expr::GroupBy(f, inner, keys) => {
                self.explicit(inner, out);
                tok(out, &format!(":{}", f.name()));
                list(out, keys);
                tok(out, ":by");
            }
            Expr::As(e, from, to) => {
                self.expr(e, out);
                tok(out, &escape_literal(from));
                tok(out, &escape_literal(to));
                tok(out, ":as");
            }
            Expr::Percentiles { data, pcts } => {
                self.data(data, true, out);
                let ps: Vec<String> = pcts.iter().map(|p| fmt_num(*p)).collect();
                list(out, &ps);
                tok(out, ":percentiles");
            }
            Expr::Rewrite(kind, input, keys) => match simple_input(input) {
                Some(a) => {
                    self.query(&a.query, out);
                    if let RewriteKind::SampleCount { min, max } = kind {
                        tok(out, &fmt_num(*min));
                        tok(out, &fmt_num(*max));
                    }
                    tok(out, &format!(":{}", kind.name()));
                    if !keys.is_empty() {
                        list(out, keys);
                        tok(out, ":by");
                    }
                    if a.cf != a.func.default_cf() {
                        tok(out, &format!(":cf-{}", a.cf.name()));
                    }
                    self.offset(a.offset, out);
                }
                None => {
                    self.expr(input, out);
                    tok(out, &format!(":{}", kind.name()));
                }
            },
            Expr::Stateful(op, e) => {
                self.expr(e, out);
                match op {
                    StatefulOp::Delay(n)
                    | StatefulOp::RollingCount(n)
                    | StatefulOp::RollingMin(n)
                    | StatefulOp::RollingMax(n)
                    | StatefulOp::RollingSum(n) => tok(out, &n.to_string()),
                    StatefulOp::RollingMean { window, min } => {
                        tok(out, &window.to_string());
                        tok(out, &min.to_string());
                    }
                    StatefulOp::Des {
                        training,
                        alpha,
                        beta,
                    }
                    | StatefulOp::Sdes {
                        training,
                        alpha,
                        beta,
                    } => {
                        tok(out, &training.to_string());
                        tok(out, &fmt_num(*alpha));
                        tok(out, &fmt_num(*beta));
                    }
                    StatefulOp::Trend(ms) => tok(out, &fmt_duration(*ms)),
                    StatefulOp::Integral | StatefulOp::CumulativeMax | StatefulOp::Derivative => {}
                }
                tok(out, &format!(":{}", op.name()));
            }
            Expr::ApproxDistinct { expr, cumulative } => {
                self.expr(expr, out);
                tok(
                    out,
                    if *cumulative {
                        ":approx-distinct-cumulative"
                    } else {
                        ":approx-distinct"
                    },
                );
            }
            Expr::Stat(e, kind) => {
                self.expr(e, out);
                tok(out, kind.name());
                tok(out, ":stat");
            }
            Expr::StatPlaceholder(kind) => tok(out, &format!(":stat-{}", kind.name())),
            Expr::Filter(a, b) => {
                self.expr(a, out);
                self.expr(b, out);
                tok(out, ":filter");
            }
            Expr::TopK {
                expr,
                stat,
                k,
                bottom,
                others,
            } => {
                self.expr(expr, out);
                tok(out, stat.name());
                tok(out, &k.to_string());
                let base = if *bottom { ":bottomk" } else { ":topk" };
                match others {
                    Some(f) => tok(out, &format!("{base}-others-{}", f.name())),
                    None => tok(out, base),
                }
            }
            Expr::Consolidate { expr, cf, step } => {
                self.expr(expr, out);
                tok(out, cf.name());
                tok(out, &fmt_duration(*step));
                tok(out, ":consolidate");
            }
        }
    }
}

impl Printer {
    pub fn style(&self, s: &Style, out: &mut String) {
        // Atlas prints settings sorted by key, descending.
        if let Some(sort) = s.sort {
            tok(out, sort.name());
            tok(out, ":sort");
        }
        for op in &s.sed {
            match op {
                SedOp::Decode(mode) => {
                    tok(out, &escape_literal(mode));
                    tok(out, ":decode");
                }
                SedOp::Subst { regex, replacement } => {
                    tok(out, &escape_literal(regex));
                    tok(out, &escape_literal(replacement));
                    tok(out, ":s");
                }
            }
        }
        match &s.palette {
            Some(Palette::Named(name)) => {
                tok(out, &escape_literal(name));
                tok(out, ":palette");
            }
            Some(Palette::Colors(cs)) => {
                list(out, cs);
                tok(out, ":palette");
            }
            None => {}
        }
        if let Some(desc) = s.descending {
            tok(out, if desc { "desc" } else { "asc" });
            tok(out, ":order");
        }
        if !s.offsets.is_empty() {
            let ds: Vec<String> = s.offsets.iter().map(|d| fmt_duration(*d)).collect();
            list(out, &ds);
            tok(out, ":offset");
        }
        if let Some(w) = s.line_width {
            tok(out, &fmt_num(w));
            tok(out, ":lw");
        }
        match s.line_style {
            Some(super::LineStyle::Line) if self.normalize => {}
            Some(ls) => tok(out, &format!(":{}", ls.name())),
            None => {}
        }
        if let Some(n) = s.limit {
            tok(out, &n.to_string());
            tok(out, ":limit");
        }
        if let Some(legend) = &s.legend {
            let text = if self.normalize {
                normalize_legend(legend)
            } else {
                legend.clone()
            };
            tok(out, &escape_literal(&text));
            tok(out, ":legend");
        }
        if let Some(c) = &s.color {
            tok(out, &escape_literal(c));
            tok(out, ":color");
        }
        if let Some(a) = s.axis {
            tok(out, &a.to_string());
            tok(out, ":axis");
        }
        if let Some(a) = &s.alpha {
            tok(out, &escape_literal(a));
            tok(out, ":alpha");
        }
    }

    pub fn style_expr(&self, se: &StyleExpr, out: &mut String) {
        self.expr(&se.expr, out);
        self.style(&se.style, out);
    }
}

/// `$name` becomes `$(name)`, as `ExprNormalizer` writes legends.
fn normalize_legend(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let n = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
            .unwrap_or(after.len());
        if n == 0 {
            out.push('$');
        } else {
            out.push_str(&format!("$({})", &after[..n]));
        }
        rest = &after[n..];
    }
    out.push_str(rest);
    out
}

impl fmt::Display for Expr {
    /// Canonical stack language, e.g. `name,cpu,:eq,:sum,2.0,:const,:mul`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        Printer::default().expr(self, &mut out);
        f.write_str(&out)
    }
}

impl fmt::Display for DataExpr {
    /// Canonical stack language, e.g. `name,cpu,:eq,:max,(,nf.node,),:by`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        Printer::default().data(self, true, &mut out);
        f.write_str(&out)
    }
}

impl fmt::Display for StyleExpr {
    /// Canonical stack language with the settings in Atlas's order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        Printer::default().style_expr(self, &mut out);
        f.write_str(&out)
    }
}

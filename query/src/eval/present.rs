//! From evaluated lines to graph lines: `atlas.offset`, legends, per-expression sorting
//! and limits.
//!
//! Atlas reference: `StyleExpr.scala` (legend, sed), `EVAL/graph/Grapher.scala` (lines
//! sorted by label first, then the expression's own sort/order/limit; NaN stats last).

use std::cmp::Ordering;

use super::filter::{java_cmp, SummaryStats};
use super::{eval, trim_lead, Env, GraphLine};
use crate::error::Result;
use crate::model::{fmt_duration, SedOp, SortMode, StatKind, StyleExpr};
use crate::TimeSeries;

fn fmt_stat(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Looks up a legend variable: tags, `atlas.offset`, and `atlas.<stat>`.
fn variable(t: &TimeSeries, stats: &SummaryStats, name: &str) -> Option<String> {
    if let Some(v) = t.tags.get(name) {
        return Some(v.clone());
    }
    let kind = match name {
        "atlas.avg" => StatKind::Avg,
        "atlas.max" => StatKind::Max,
        "atlas.min" => StatKind::Min,
        "atlas.last" => StatKind::Last,
        "atlas.total" => StatKind::Total,
        _ => return None,
    };
    Some(fmt_stat(stats.get(kind)))
}

fn is_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.".contains(c)
}

/// Expands `$key` and `$(key)`; a missing key renders as its name, as in Atlas.
pub(crate) fn expand(template: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, next) = if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(j) => (&body[..j], &body[j + 1..]),
                None => ("", after),
            }
        } else {
            let n = after.find(|c| !is_var_char(c)).unwrap_or(after.len());
            (&after[..n], &after[n..])
        };
        if name.is_empty() {
            out.push('$');
        } else {
            out.push_str(&lookup(name).unwrap_or_else(|| name.to_string()));
        }
        rest = next;
    }
    out.push_str(rest);
    out
}

/// `hex` decoding of `_XX` escapes, lenient about malformed ones.
fn decode_hex(s: &str) -> String {
    let mut bytes = Vec::with_capacity(s.len());
    let raw = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'_', Some(v)) => {
                bytes.push(v);
                i += 3;
            }
            _ => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn apply_sed(label: String, ops: &[SedOp], t: &TimeSeries) -> String {
    let mut label = label;
    for op in ops {
        label = match op {
            SedOp::Decode(mode) if mode == "hex" => decode_hex(&label),
            SedOp::Decode(_) => label,
            SedOp::Subst { regex, replacement } => {
                let Ok(re) = regex::RegexBuilder::new(regex).size_limit(1 << 20).build() else {
                    continue;
                };
                re.replace_all(&label, |caps: &regex::Captures<'_>| {
                    // Capture groups first (by number or name), then tags.
                    expand(replacement, &|name: &str| {
                        let group = match name.parse::<usize>() {
                            Ok(i) => caps.get(i),
                            Err(_) => caps.name(name),
                        };
                        group
                            .map(|m| m.as_str().to_string())
                            .or_else(|| t.tags.get(name).cloned())
                    })
                })
                .into_owned()
            }
        };
    }
    label
}

fn sort_stat(mode: SortMode) -> Option<StatKind> {
    Some(match mode {
        SortMode::Legend => return None,
        SortMode::Min => StatKind::Min,
        SortMode::Max => StatKind::Max,
        SortMode::Avg => StatKind::Avg,
        SortMode::Count => StatKind::Count,
        SortMode::Total => StatKind::Total,
        SortMode::Last => StatKind::Last,
    })
}

pub(crate) fn expression_lines(
    se: &StyleExpr,
    index: usize,
    env: &Env<'_>,
    out: &mut Vec<GraphLine>,
) -> Result<()> {
    let style = &se.style;
    let variants: Vec<(std::borrow::Cow<'_, crate::Expr>, i64)> = if style.offsets.is_empty() {
        vec![(std::borrow::Cow::Borrowed(&se.expr), se.expr.offset())]
    } else {
        style
            .offsets
            .iter()
            .map(|&d| {
                let mut e = se.expr.clone();
                e.set_offset(d);
                (std::borrow::Cow::Owned(e), d)
            })
            .collect()
    };
    let mut lines: Vec<(TimeSeries, SummaryStats)> = Vec::new();
    for (expr, offset) in variants {
        for mut t in eval(&expr, env)? {
            // Legend statistics cover the returned rows only, as Atlas's Grapher does.
            trim_lead(env, &mut t);
            t.tags.insert("atlas.offset".into(), fmt_duration(offset));
            let stats = SummaryStats::of(&t.values);
            match &style.legend {
                Some(template) => t.label = expand(template, &|name| variable(&t, &stats, name)),
                // Atlas's `StyleExpr.legend` marks a shifted line's default legend, the
                // whole label, not each data expression inside it.
                None if offset > 0 => {
                    t.label = format!("{} (offset={})", t.label, fmt_duration(offset));
                }
                None => {}
            }
            t.label = apply_sed(std::mem::take(&mut t.label), &style.sed, &t);
            lines.push((t, stats));
        }
    }
    lines.sort_by(|a, b| a.0.label.cmp(&b.0.label));
    let desc = style.descending.unwrap_or(false);
    match style.sort.and_then(sort_stat) {
        Some(kind) => lines.sort_by(|a, b| {
            let (x, y) = (a.1.get(kind), b.1.get(kind));
            // NaN stats go last in either order.
            match (x.is_nan(), y.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ if desc => java_cmp(y, x),
                _ => java_cmp(x, y),
            }
        }),
        None if desc => lines.reverse(),
        None => {}
    }
    if let Some(n) = style.limit {
        lines.truncate(n);
    }
    out.extend(lines.into_iter().map(|(series, _)| GraphLine {
        series,
        style: style.clone(),
        expr_index: index,
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_handles_both_forms_and_missing_keys() {
        let look = |k: &str| (k == "app").then(|| "www".to_string());
        assert_eq!(
            expand("$app $(app)-x $missing $", &look),
            "www www-x missing $"
        );
        // `-` belongs to a bare name, as in Atlas's `$[-_.a-zA-Z0-9]+`.
        assert_eq!(expand("$app-", &look), "app-");
        assert_eq!(expand("$(unclosed", &look), "$(unclosed");
    }

    #[test]
    fn decode_hex_is_lenient() {
        assert_eq!(decode_hex("a_2Cb_zz_"), "a,b_zz_");
    }
}

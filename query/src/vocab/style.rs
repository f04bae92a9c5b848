//! The `style` vocabulary: presentation settings on an expression.
//!
//! Atlas reference: `StyleVocabulary.scala`, `StyleExpr.scala`.

use super::args::sig;
use super::{Interp, StackItem, Step};
use crate::error::Result;
use crate::model::{LineStyle, Palette, SedOp, SortMode, StyleExpr};
use crate::time::duration_millis;

const SE_S: &str = "an expression and a string";

/// `ColorStringType`: 3, 6 or 8 hex digits, or a name such as `blue1`.
fn valid_color(c: &str) -> bool {
    let hex = c.bytes().all(|b| b.is_ascii_hexdigit()) && matches!(c.len(), 3 | 6 | 8);
    let letters = c.trim_end_matches(|ch: char| ch.is_ascii_digit());
    let named = !letters.is_empty() && letters.bytes().all(|b| b.is_ascii_alphabetic());
    hex || named
}

fn set(it: &mut Interp, se: StyleExpr) -> Result<Step> {
    it.push(StackItem::Style(se))?;
    Ok(Step::Done)
}

pub(crate) fn run(it: &mut Interp) -> Result<Step> {
    let word = it.word.clone();
    let w = word.as_str();
    if let Some(ls) = LineStyle::from_name(w) {
        let [x] = sig!(it, [Styled], "an expression");
        let mut se = it.style_expr(x)?;
        se.style.line_style = Some(ls);
        return set(it, se);
    }
    match w {
        "legend" | "decode" | "sort" | "order" | "alpha" | "color" | "ls" => {
            let [x, v] = sig!(it, [Styled, Str], SE_S);
            let mut se = it.style_expr(x)?;
            let v = it.string(v)?;
            let st = &mut se.style;
            match w {
                "legend" => st.legend = Some(v),
                "decode" => {
                    if v != "hex" && v != "none" {
                        return Err(
                            it.err(format!("unknown decode mode '{v}'; expected hex or none"))
                        );
                    }
                    st.sed.push(SedOp::Decode(v));
                }
                "sort" => st.sort = Some(SortMode::from_name(&v)),
                "order" => {
                    st.descending = Some(match v.as_str() {
                        "asc" => false,
                        "desc" => true,
                        _ => {
                            return Err(it.err(format!("unknown order '{v}'; expected asc or desc")))
                        }
                    })
                }
                "alpha" => {
                    if v.len() != 2 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(it.err(format!("alpha must be two hex digits, found '{v}'")));
                    }
                    st.set_alpha(&v);
                }
                "color" => {
                    if !valid_color(&v) {
                        return Err(it.err(format!("invalid color '{v}'")));
                    }
                    st.set_color(&v);
                }
                _ => {
                    st.line_style = Some(LineStyle::from_name(&v).ok_or_else(|| {
                        it.err(format!(
                            "unknown line style '{v}'; expected line, area, stack, vspan or heatmap"
                        ))
                    })?)
                }
            }
            set(it, se)
        }
        "s" => {
            let [x, re, rep] = sig!(
                it,
                [Styled, Str, Str],
                "an expression, a regex and a replacement"
            );
            let mut se = it.style_expr(x)?;
            let (regex, replacement) = (it.string(re)?, it.string(rep)?);
            if let Err(e) = regex::RegexBuilder::new(&regex).size_limit(1 << 20).build() {
                return Err(it.err(format!("invalid regular expression '{regex}': {e}")));
            }
            se.style.sed.push(SedOp::Subst { regex, replacement });
            set(it, se)
        }
        "axis" => {
            let [x, n] = sig!(it, [Styled, Int], "an expression and an axis index");
            let mut se = it.style_expr(x)?;
            se.style.axis = Some(it.int_in(n, "axis", 0, 4)? as u8);
            set(it, se)
        }
        "limit" | "head" => {
            let [x, n] = sig!(it, [Styled, Int], "an expression and a count");
            let mut se = it.style_expr(x)?;
            se.style.limit = Some(it.int_in(n, "limit", 0, i64::MAX)?);
            set(it, se)
        }
        "lw" => {
            let [x, v] = sig!(it, [Styled, Double], "an expression and a width");
            let mut se = it.style_expr(x)?;
            se.style.line_width = Some(it.double(v)?);
            set(it, se)
        }
        "palette" => {
            if let Some([x, list]) =
                it.take(&[super::Kind::Styled, super::Kind::StrList])
                    .map(|v| {
                        let mut i = v.into_iter();
                        [i.next(), i.next()]
                    })
            {
                let (Some(x), Some(list)) = (x, list) else {
                    return Err(it.err("internal: stack shorter than its signature"));
                };
                let mut se = it.style_expr(x)?;
                let colors = it.str_list(list)?;
                if let Some(c) = colors.iter().find(|c| !valid_color(c)) {
                    return Err(it.err(format!("invalid color '{c}'")));
                }
                se.style.set_palette(Palette::Colors(colors));
                return set(it, se);
            }
            let [x, name] = sig!(it, [Styled, Str], "an expression and a palette");
            let mut se = it.style_expr(x)?;
            se.style.set_palette(Palette::Named(it.string(name)?));
            set(it, se)
        }
        "offset" => {
            let [x, list] = sig!(it, [Styled, StrList], "an expression and a list of offsets");
            let mut se = it.style_expr(x)?;
            let mut offsets = Vec::new();
            for d in it.str_list(list)? {
                match duration_millis(&d) {
                    Some(ms) => offsets.push(ms),
                    None => return Err(it.err(format!("invalid duration '{d}'"))),
                }
            }
            se.style.offsets = offsets;
            set(it, se)
        }
        "percentiles-heatmap" => {
            if !it.fits(&[super::Kind::Styled]) {
                return Ok(Step::NoMatch("an expression", 1));
            }
            it.run_macro("(,percentile,),:cg,heatmap,:ls")?;
            Ok(Step::Done)
        }
        "des-epic-viz" => {
            use super::Kind::{Double, Int, Styled};
            if !it.fits(&[Styled, Int, Double, Double, Double, Double, Double]) {
                return Ok(Step::NoMatch(
                    "a time series, training size, alpha, beta, max percent, min percent \
                     and noise",
                    7,
                ));
            }
            // Atlas's `desEpicViz` (`StyleVocabulary.scala`): the signal as a vertical span,
            // then the input line and the four bounds, each with its name as legend.
            it.run_macro(
                ":des-epic-signal,:vspan,40,:alpha,triggered,:legend,\
                 line,:get,line,:legend,\
                 minPredNoiseBound,:get,minPredNoiseBound,:legend,\
                 minPredPercentBound,:get,minPredPercentBound,:legend,\
                 maxPredNoiseBound,:get,maxPredNoiseBound,:legend,\
                 maxPredPercentBound,:get,maxPredPercentBound,:legend",
            )?;
            Ok(Step::Done)
        }
        "strip-style" => {
            let [x] = sig!(it, [Styled], "an expression");
            let (e, _) = it.ts(x)?;
            it.push(StackItem::Expr(e))?;
            Ok(Step::Done)
        }
        _ => Ok(Step::Unknown),
    }
}

//! The web UI's static files, compiled into the binary so the server needs no asset
//! directory: one HTML page, its script and stylesheet, the vendored uPlot chart library,
//! and two JSON documents the page builds on: the stack language's words
//! ([`words_json`]) and the chart model of a graph ([`chart_json`]).

use std::sync::OnceLock;

use serde_json::{json, Value};
use sextant_query::{GraphLine, GraphParams, LineStyle, Scale, TimeSeries};

use crate::data::SummaryStats;

use crate::chart;
use crate::color::Rgba;

/// The single page of the UI (graph, tag explorer, dashboards and alerts are views of it).
pub fn index_html() -> &'static str {
    include_str!("../assets/index.html")
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The files under `/ui/`: name, content type and body. The page's script is split by
/// view; uPlot is its released browser build (`dist/uPlot.iife.min.js` and
/// `dist/uPlot.min.css`, version in `assets/uplot/VERSION`, MIT licence in
/// `assets/uplot/LICENSE`), unmodified.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", JS, include_str!("../assets/app.js")),
    ("chart.js", JS, include_str!("../assets/chart.js")),
    ("editor.js", JS, include_str!("../assets/editor.js")),
    ("dashboards.js", JS, include_str!("../assets/dashboards.js")),
    ("alerts.js", JS, include_str!("../assets/alerts.js")),
    ("status.js", JS, include_str!("../assets/status.js")),
    ("style.css", CSS, include_str!("../assets/style.css")),
    (
        "uPlot.iife.min.js",
        JS,
        include_str!("../assets/uplot/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        CSS,
        include_str!("../assets/uplot/uPlot.min.css"),
    ),
    (
        "uPlot.LICENSE",
        "text/plain; charset=utf-8",
        include_str!("../assets/uplot/LICENSE"),
    ),
];

/// The static file `/ui/{name}`: its content type and body, or `None`.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, t, body)| (*t, *body))
}

/// The stack language's reference, whose tables are the word list of the editor.
const ASL_MD: &str = include_str!("../../docs/asl.md");

/// One word of the stack language as the expression editor offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word with its colon, e.g. `:sum`.
    pub word: String,
    /// Stack effect, e.g. `k v -- Q`.
    pub effect: String,
    /// One line saying what it does.
    pub meaning: String,
}

/// Every word documented in `docs/asl.md`, in document order. The tables there are the one
/// place words are described, so the editor's list and the reference cannot drift apart
/// (a test checks that each listed word is known to the interpreter).
pub fn words() -> Vec<Word> {
    let mut out: Vec<Word> = Vec::new();
    for line in ASL_MD.lines() {
        if !line.starts_with("| `:") {
            continue;
        }
        // `\|` is a pipe inside a cell (`AF\|Q L -- TS`).
        let escaped = line.trim().trim_matches('|').replace("\\|", "\u{1}");
        let cells: Vec<String> = escaped
            .split('|')
            .map(|c| c.replace('\u{1}', "|"))
            .collect();
        if cells.len() < 3 {
            continue;
        }
        let effect = cells[1].trim().trim_matches('`').to_string();
        let meaning = cells[2].trim().replace('`', "");
        // A cell may name several words: "`:eq` `:lt` `:le`", "`:topk-others-{min,max}`".
        for w in cells[0].split('`').map(str::trim).flat_map(expand) {
            let w = w.as_str();
            let plain = w.len() > 1 && !w.contains(['*', ' ', '…']);
            if !w.starts_with(':') || !plain {
                continue;
            }
            // A word in two vocabularies (`:by` on data and on math) lists both effects.
            if let Some(seen) = out.iter_mut().find(|x| x.word == w) {
                if !effect.is_empty() && !seen.effect.split(" or ").any(|e| e == effect) {
                    seen.effect = format!("{} or {effect}", seen.effect);
                }
            } else {
                out.push(Word {
                    word: w.to_string(),
                    effect: effect.clone(),
                    meaning: meaning.clone(),
                });
            }
        }
    }
    out
}

/// `:a-{x,y}` → `:a-x`, `:a-y`; anything else as it is.
fn expand(w: &str) -> Vec<String> {
    match (w.find('{'), w.find('}')) {
        (Some(open), Some(close)) if open < close => w[open + 1..close]
            .split(',')
            .map(|alt| format!("{}{}{}", &w[..open], alt.trim(), &w[close + 1..]))
            .collect(),
        _ => vec![w.to_string()],
    }
}

/// [`words`] as the JSON array `GET /api/v1/words` answers: `[{"word", "effect",
/// "meaning"}]`, built once.
pub fn words_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let list: Vec<Value> = words()
            .into_iter()
            .map(|w| json!({"word": w.word, "effect": w.effect, "meaning": w.meaning}))
            .collect();
        Value::Array(list).to_string()
    })
}

fn css(c: Rgba) -> String {
    if c.a == 255 {
        format!("#{:02x}{:02x}{:02x}", c.r, c.g, c.b)
    } else {
        format!(
            "rgba({},{},{},{:.3})",
            c.r,
            c.g,
            c.b,
            f64::from(c.a) / 255.0
        )
    }
}

fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

fn value_at(s: &TimeSeries, t: i64) -> f64 {
    if s.step <= 0 || t < s.start {
        return f64::NAN;
    }
    usize::try_from((t - s.start) / s.step)
        .ok()
        .and_then(|i| s.values.get(i).copied())
        .unwrap_or(f64::NAN)
}

fn stats(s: &SummaryStats) -> Value {
    json!({"count": s.count, "avg": num(s.avg), "total": num(s.total), "max": num(s.max),
           "min": num(s.min), "last": num(s.last)})
}

/// The chart of a graph as the page draws it with uPlot: the lines in drawing order with
/// the color, style, width, axis and legend statistics the PNG renderer picks for them
/// (one model, so a panel looks the same either way), the value range of each axis and
/// the theme's colors. Values follow `std.json`'s window (`start`, `step`, rows labelled
/// by the end of their interval) with `null` for NaN; stacked lines also carry the top of
/// their band.
pub fn chart_json(params: &GraphParams, lines: &[GraphLine]) -> String {
    let c = chart::build(params, lines);
    let times: Vec<i64> = params.window.timestamps().collect();
    let out_lines: Vec<Value> = c
        .lines
        .iter()
        .map(|l| {
            let values: Vec<Value> = times.iter().map(|&t| num(value_at(l.series, t))).collect();
            let mut v = json!({
                "label": l.series.label,
                "tags": l.series.tags,
                "color": css(l.color),
                "style": l.style.name(),
                "width": l.width,
                "axis": l.axis,
                "stats": stats(&l.stats),
                "values": values,
            });
            if let (Some(band), LineStyle::Stack) = (&l.band, l.style) {
                v["top"] = band.iter().map(|&(_, top)| num(top)).collect();
                v["bottom"] = band.iter().map(|&(b, _)| num(b)).collect();
            }
            v
        })
        .collect();
    let axes: Vec<Value> = c
        .axes
        .iter()
        .map(|a| {
            json!({
                "index": a.index,
                "min": num(a.range.min),
                "max": num(a.range.max),
                "scale": match a.range.scale {
                    Scale::Log => "log",
                    Scale::LogLinear => "log-linear",
                    Scale::Pow2 => "pow2",
                    Scale::Sqrt => "sqrt",
                    Scale::Linear => "linear",
                },
                "label": a.ylabel,
                "color": css(a.color),
                "left": a.left,
            })
        })
        .collect();
    let p = c.palette;
    json!({
        "start": params.window.start,
        "end": params.window.end,
        "step": params.window.step,
        "timezone": params.primary_timezone().name(),
        "title": params.title,
        "theme": {
            "name": params.theme.name(),
            "background": css(p.background),
            "canvas": css(p.canvas),
            "text": css(p.text),
            "grid": css(p.grid),
            "axis": css(p.axis),
        },
        "axes": axes,
        "lines": out_lines,
        "notices": params.warnings,
        "partial": params.partial,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_word_is_known_to_the_interpreter() {
        let words = words();
        assert!(words.len() > 100, "{} words", words.len());
        for w in &words {
            assert!(!w.effect.is_empty() || !w.meaning.is_empty(), "{w:?}");
            // On an empty stack a known word fails for want of arguments, never as unknown.
            // (Some words run fine on an empty stack.)
            if let Err(e) = sextant_query::interpret(&w.word) {
                assert!(!e.to_string().contains("unknown word"), "{}: {e}", w.word);
            }
        }
        let by = words
            .iter()
            .find(|w| w.word == ":by")
            .map(|w| w.effect.as_str());
        assert_eq!(
            by,
            Some("AF|Q L -- TS or TS L -- TS"),
            "escaped pipes, both vocabularies"
        );
        for w in [":eq", ":sum", ":by", ":stack", ":percentiles", ":dup"] {
            assert!(words.iter().any(|x| x.word == w), "{w} is listed");
        }
    }

    #[test]
    fn chart_json_carries_colors_styles_and_stacks() -> Result<(), Box<dyn std::error::Error>> {
        use sextant_query::{evaluate, parse, testing::StaticDatabase, EvalContext, GraphSettings};
        let mut db = StaticDatabase::new(60_000);
        db.push([("name", "a")], 0, vec![1.0, 2.0, f64::NAN, 4.0]);
        db.push([("name", "b")], 0, vec![10.0, 20.0, 30.0, 40.0]);
        let pairs = [
            ("q", "name,a,:eq,:stack,name,b,:eq,:stack"),
            ("s", "0"),
            // Epoch seconds, as Atlas reads a bare number this small: four minutes.
            ("e", "240"),
            ("tz", "UTC"),
            ("theme", "dark"),
            ("step", "1m"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let params = GraphParams::parse(&pairs, &GraphSettings::default(), 240_000)?;
        let w = params.window;
        let lines = evaluate(
            &parse(&params.q)?,
            &EvalContext::new(w.start, w.end, w.step),
            &db,
        )?;
        let v: Value = serde_json::from_str(&chart_json(&params, &lines))?;
        assert_eq!(v["theme"]["name"], "dark");
        assert_eq!(v["theme"]["canvas"], "#000000");
        let l = v["lines"].as_array().ok_or("lines")?;
        assert_eq!(l.len(), 2);
        assert_eq!(l[0]["style"], "stack");
        assert_ne!(l[0]["color"], l[1]["color"]);
        let a: Vec<Option<f64>> = serde_json::from_value(l[0]["values"].clone())?;
        let b: Vec<Option<f64>> = serde_json::from_value(l[1]["values"].clone())?;
        let top: Vec<Option<f64>> = serde_json::from_value(l[1]["top"].clone())?;
        assert_eq!(
            a.len(),
            w.timestamps().count(),
            "one value per row of the window"
        );
        assert!(a.contains(&None), "NaN is null: {a:?}");
        let max = a.iter().flatten().copied().fold(f64::MIN, f64::max);
        assert_eq!(l[0]["stats"]["max"], max);
        // b stacks on a: its top is a + b where both have a value.
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            if let (Some(x), Some(y)) = (x, y) {
                assert_eq!(top[i], Some(x + y), "row {i}");
            }
        }
        Ok(())
    }
}

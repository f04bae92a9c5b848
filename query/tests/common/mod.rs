//! Helpers shared by the conformance tests.
#![allow(dead_code)]

use sextant_query::testing::StaticDatabase;
use sextant_query::{eval_expr, parse, EvalContext, TagMap, TimeSeries};

/// Atlas's `EvalContext(0, 10 * 60000, 60000)`.
pub fn ctx() -> EvalContext {
    EvalContext::new(0, 600_000, 60_000)
}

/// Evaluates the single expression of `src` on the constants fixture, lines sorted by label.
pub fn run(src: &str) -> Vec<TimeSeries> {
    run_on(&StaticDatabase::constants(), src, ctx())
}

pub fn run_on(db: &StaticDatabase, src: &str, ctx: EvalContext) -> Vec<TimeSeries> {
    let exprs = match parse(src) {
        Ok(e) => e,
        Err(e) => panic!("{src}: {e}"),
    };
    assert_eq!(exprs.len(), 1, "{src}: one expression expected");
    let mut lines = match eval_expr(&exprs[0].expr, &ctx, db) {
        Ok(l) => l,
        Err(e) => panic!("{src}: {e}"),
    };
    lines.sort_by(|a, b| a.label.cmp(&b.label));
    lines
}

pub fn tags(pairs: &[(&str, &str)]) -> TagMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() < 1e-9
}

pub fn assert_values(src: &str, line: &TimeSeries, expected: &[f64]) {
    assert_eq!(line.values.len(), expected.len(), "{src}: length");
    for (i, (a, b)) in line.values.iter().zip(expected).enumerate() {
        assert!(same(*a, *b), "{src}: value {i}: got {a}, expected {b}");
    }
}

/// One line with these tags, label and a constant value.
pub fn check_const(src: &str, tags_: &[(&str, &str)], label: &str, v: f64) {
    let lines = run(src);
    assert_eq!(lines.len(), 1, "{src}: {lines:?}");
    let l = &lines[0];
    assert_eq!(l.tags, tags(tags_), "{src}: tags");
    assert_eq!(l.label, label, "{src}: label");
    assert_values(src, l, &[v; 10]);
}

/// One line with these tags and label whose value at minute i is `f(i)`.
pub fn check_fn(src: &str, tags_: &[(&str, &str)], label: &str, f: impl Fn(usize) -> f64) {
    let lines = run(src);
    assert_eq!(lines.len(), 1, "{src}: {lines:?}");
    let l = &lines[0];
    assert_eq!(l.tags, tags(tags_), "{src}: tags");
    assert_eq!(l.label, label, "{src}: label");
    let expected: Vec<f64> = (0..10).map(f).collect();
    assert_values(src, l, &expected);
}

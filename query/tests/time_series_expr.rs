//! Port of Atlas's `TimeSeriesExprSuite` (atlas-core, model): 11 constant series
//! `name=0..10, type=constant` with value i over `EvalContext(0, 600000, 60000)`.
//! Expected tags, labels and values are those of the upstream suite.

mod common;

use common::*;

const UNKNOWN: (&str, &str) = ("name", "unknown");
const NAN: f64 = f64::NAN;

#[test]
fn all_returns_every_series() {
    let lines = run(":true,:all");
    assert_eq!(lines.len(), 11);
    for l in &lines {
        let i: f64 = l.tags["name"].parse().unwrap_or(-1.0);
        assert_eq!(l.tags["type"], "constant");
        assert_values(":true,:all", l, &[i; 10]);
    }
    assert!(run(":false,:all").is_empty());
}

#[test]
fn data_aggregates() {
    check_const(":true", &[UNKNOWN], "name=unknown", 55.0);
    check_const(":true,:sum", &[UNKNOWN], "name=unknown", 55.0);
    check_const(":true,:count", &[UNKNOWN], "name=unknown", 11.0);
    check_const(":true,:min", &[UNKNOWN], "name=unknown", 0.0);
    check_const(":true,:max", &[UNKNOWN], "name=unknown", 10.0);
    check_const(":true,:avg", &[UNKNOWN], "name=unknown", 5.0);
    for w in ["sum", "min", "max", "count"] {
        check_const(
            &format!(":false,:{w}"),
            &[("name", "NO_DATA")],
            "NO DATA",
            NAN,
        );
    }
    check_const("issue,283,:eq", &[("issue", "283")], "NO DATA", NAN);
}

#[test]
fn math_aggregates_across_lines() {
    check_const(":true,:sum,:sum", &[UNKNOWN], "name=unknown", 55.0);
    check_const(":true,:max,:sum", &[UNKNOWN], "name=unknown", 10.0);
    check_const(":true,:sum,:max", &[UNKNOWN], "name=unknown", 55.0);
    check_const(":true,:sum,:count", &[], "count(NO TAGS)", 1.0);
    check_const(":true,:avg,:count", &[], "count(NO TAGS)", 1.0);
    check_const(":true,:sum,:avg", &[UNKNOWN], "name=unknown", 55.0);
    check_const(":true,:avg,:avg", &[], "NO TAGS", 5.0);
}

#[test]
fn queries() {
    check_const("name,:has", &[UNKNOWN], "name=unknown", 55.0);
    check_const("name,1,:eq", &[("name", "1")], "name=1", 1.0);
    check_const("name,1,:re", &[UNKNOWN], "name=unknown", 11.0);
    check_const("name,2,:re", &[UNKNOWN], "name=unknown", 2.0);
    check_const("name,2,:contains", &[UNKNOWN], "name=unknown", 2.0);
    check_const("name,(,1,10,),:in", &[UNKNOWN], "name=unknown", 11.0);
    check_const(
        "name,1,:eq,name,10,:eq,:or",
        &[UNKNOWN],
        "name=unknown",
        11.0,
    );
}

#[test]
fn unary_math() {
    check_const(":true,:abs", &[UNKNOWN], "name=unknown", 55.0);
    check_const("10,:abs", &[("name", "10.0")], "10.0", 10.0);
    check_const(":true,:neg", &[UNKNOWN], "name=unknown", -55.0);
    check_const("4,:sqrt", &[("name", "2.0")], "2.0", 2.0);
}

#[test]
fn binary_math_with_constants() {
    let cases: &[(&str, &str, f64)] = &[
        (":true,10,:add", "name=unknown", 65.0),
        (":true,10,:sub", "name=unknown", 45.0),
        (":true,10,:mul", "name=unknown", 550.0),
        (":true,10,:div", "name=unknown", 5.5),
        (":true,2,:pow", "name=unknown", 3025.0),
        (":true,0,:div", "name=unknown", NAN),
        (":true,55,:gt", "name=unknown", 0.0),
        (":true,0,:gt", "name=unknown", 1.0),
        (":true,55.1,:ge", "name=unknown", 0.0),
        (":true,55,:ge", "name=unknown", 1.0),
        (":true,55,:lt", "name=unknown", 0.0),
        (":true,56,:lt", "name=unknown", 1.0),
        (":true,55.1,:le", "name=unknown", 1.0),
        (":true,0,:le", "name=unknown", 0.0),
        (":true,0,:and", "name=unknown", 0.0),
        (":true,1,:and", "name=unknown", 1.0),
        (":true,0,:or", "name=unknown", 1.0),
        (":true,1,:or", "name=unknown", 1.0),
    ];
    for (src, label, v) in cases {
        check_const(src, &[UNKNOWN], label, *v);
    }
    check_const(
        "2,:true,:pow",
        &[("name", "2.0")],
        "name=2.0",
        2f64.powf(55.0),
    );
}

/// Upstream evaluates `NaN,1.0,:add` as an expression; we fold constants at parse time as
/// Atlas's parser does (§1.3.7), so the label is that of the folded constant.
#[test]
fn nan_arithmetic_on_constants() {
    let cases: &[(&str, f64)] = &[
        ("NaN,NaN,:add", NAN),
        ("NaN,1.0,:add", 1.0),
        ("1.0,NaN,:add", 1.0),
        ("2.0,1.0,:add", 3.0),
        ("NaN,NaN,:sub", NAN),
        ("NaN,1.0,:sub", -1.0),
        ("1.0,NaN,:sub", 1.0),
        ("NaN,1.0,:mul", NAN),
        ("2.0,1.0,:mul", 2.0),
        ("NaN,1.0,:div", NAN),
        ("1.0,NaN,:div", NAN),
        ("2.0,1.0,:div", 2.0),
        ("2.0,0.0,:div", NAN),
        ("0.0,0.0,:div", 0.0),
        ("NaN,1.0,:fadd", NAN),
        ("2.0,1.0,:fadd", 3.0),
        ("1.0,NaN,:fsub", NAN),
        ("2.0,1.0,:fsub", 1.0),
        ("NaN,NaN,:fmul", NAN),
        ("2.0,1.0,:fmul", 2.0),
        ("NaN,1.0,:fdiv", NAN),
        ("2.0,1.0,:fdiv", 2.0),
        ("2.0,0.0,:fdiv", f64::INFINITY),
        ("0.0,0.0,:fdiv", NAN),
        ("NaN,NaN,:const,:lt", 0.0),
        ("NaN,1.0,:const,:lt", 0.0),
        ("1.0,NaN,:const,:lt", 0.0),
        ("2.0,1.0,:const,:lt", 0.0),
        ("1.0,2.0,:const,:lt", 1.0),
        ("1.0,1.0,:const,:le", 1.0),
        ("NaN,1.0,:const,:le", 0.0),
        ("2.0,1.0,:const,:gt", 1.0),
        ("1.0,NaN,:const,:gt", 0.0),
        ("1.0,1.0,:const,:ge", 1.0),
        ("NaN,NaN,:const,:ge", 0.0),
        ("0,0,:or", 0.0),
    ];
    for (src, v) in cases {
        let lines = run(src);
        assert_eq!(lines.len(), 1, "{src}");
        assert_values(src, &lines[0], &[*v; 10]);
    }
}

#[test]
fn per_step_and_stateful() {
    check_const("1,:per-step", &[("name", "1.0")], "name=1.0", 60.0);
    check_fn("1,:integral", &[("name", "1.0")], "integral(1.0)", |i| {
        1.0 + i as f64
    });
    check_fn("8,:integral", &[("name", "8.0")], "integral(8.0)", |i| {
        8.0 * (1.0 + i as f64)
    });
    check_fn(
        ":true,:integral",
        &[UNKNOWN],
        "integral(name=unknown)",
        |i| 55.0 * (1.0 + i as f64),
    );
    check_fn(
        "minuteOfDay,:time,1,:add",
        &[("name", "minuteOfDay")],
        "name=minuteOfDay",
        |i| 1.0 + i as f64,
    );
    check_fn(
        "1,:integral,:derivative",
        &[("name", "1.0")],
        "derivative(integral(1.0))",
        |i| {
            if i == 0 {
                NAN
            } else {
                1.0
            }
        },
    );
    check_fn(
        "1,10,:rolling-count",
        &[("name", "1.0")],
        "rolling-count(1.0)",
        |i| 1.0 + i as f64,
    );
    check_fn(
        "0,10,:rolling-count",
        &[("name", "0.0")],
        "rolling-count(0.0)",
        |_| 0.0,
    );
    check_fn(
        "1,2,:rolling-count",
        &[("name", "1.0")],
        "rolling-count(1.0)",
        |i| {
            if i == 0 {
                1.0
            } else {
                2.0
            }
        },
    );
}

#[test]
fn group_by() {
    let lines = run(":true,(,name,),:by");
    assert_eq!(lines.len(), 11);
    for l in &lines {
        let name = l.tags["name"].clone();
        assert_eq!(l.tags, tags(&[("name", &name)]));
        assert_eq!(l.label, format!("(name={name})"));
    }
    let plus = run(":true,(,name,),:by,1,:add");
    assert_eq!(plus.len(), 11);
    assert!(plus
        .iter()
        .any(|l| l.label == "name=3" && same(l.values[0], 4.0)));
    let lhs = run("1,:true,(,name,),:by,:add");
    assert!(lhs
        .iter()
        .any(|l| l.label == "name=3" && l.tags == tags(&[("name", "3")])));
    let dup = run(":true,(,name,),:by,:dup,:add");
    assert!(dup
        .iter()
        .any(|l| l.label == "name=4" && same(l.values[0], 8.0)));
    check_const(
        ":true,(,type,),:by",
        &[("type", "constant")],
        "(type=constant)",
        55.0,
    );
    check_const(":true,(,name,),:by,:sum", &[], "sum(NO TAGS)", 55.0);
    check_const(":true,:sum,(,name,),:by,:sum", &[], "sum(NO TAGS)", 55.0);
    check_const(":true,:min,(,name,),:by,:min", &[], "min(NO TAGS)", 0.0);
    check_const(":true,:max,(,name,),:by,:max", &[], "max(NO TAGS)", 10.0);
    check_const(":true,:max,(,type,),:by,:sum", &[], "sum(NO TAGS)", 10.0);
    check_const(":true,(,name,),:by,:avg", &[], "NO TAGS", 5.0);
    assert!(run(":true,(,foo,),:by").is_empty());
    assert!(run(":false,(,name,),:by").is_empty());
    check_const(
        "n,:has,(,n,),:by,4,:div,:sum",
        &[("name", "NO_DATA")],
        "NO DATA",
        NAN,
    );
    check_const(
        ":false,(,name,),:by,:count",
        &[("name", "NO_DATA")],
        "NO DATA",
        NAN,
    );
}

#[test]
fn stddev() {
    check_const(":true,(,name,),:by,:stddev", &[], "NO TAGS", 10f64.sqrt());
    check_const(":true,:max,:stddev", &[], "NO TAGS", 0.0);
    check_const(":true,:sum,:stddev", &[], "NO TAGS", 0.0);
    check_const(":true,:stddev", &[], "NO TAGS", 0.0);
}

#[test]
fn offsets() {
    check_const(":true,1w,:offset", &[UNKNOWN], "name=unknown", 55.0);
    check_const(":true,5,:add,1w,:offset", &[UNKNOWN], "name=unknown", 60.0);
    check_const("42", &[("name", "42.0")], "42.0", 42.0);
}

#[test]
fn stats_and_filters() {
    let stat = |s: &str, label: &str, v: f64| check_const(s, &[("name", "1.0")], label, v);
    stat("1,:integral,min,:stat", "stat-min(integral(1.0))", 1.0);
    stat("1,:integral,max,:stat", "stat-max(integral(1.0))", 10.0);
    stat("1,:integral,avg,:stat", "stat-avg(integral(1.0))", 5.5);
    stat("1,:integral,last,:stat", "stat-last(integral(1.0))", 10.0);
    stat("1,:integral,total,:stat", "stat-total(integral(1.0))", 55.0);
    stat("1,:stat-min-mf", "stat-min(1.0)", 1.0);
    stat("1,:stat-max-mf", "stat-max(1.0)", 1.0);
    stat("1,:stat-avg-mf", "stat-avg(1.0)", 1.0);
    stat("1,total,:stat", "stat-total(1.0)", 10.0);
    assert_eq!(run(":true,(,name,),:by,1,:filter").len(), 11);
    assert!(run(":true,(,name,),:by,0,:filter").is_empty());
    assert!(run(":true,(,name,),:by,:stat-max,50,:gt,:filter").is_empty());
    assert!(run(":true,(,name,),:by,:stat-min,:over,:lt,:filter").is_empty());
    assert!(run(":true,(,name,),:by,:stat-last,50,:gt,:filter").is_empty());
    check_const(
        ":true,(,name,),:by,:stat-avg,1,:lt,:filter",
        &[("name", "0")],
        "(name=0)",
        0.0,
    );
    check_const(
        "name,1,:eq,foo,:legend,1,:filter",
        &[("name", "1")],
        "name=1",
        1.0,
    );
}

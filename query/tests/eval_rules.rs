//! Evaluation rules from Atlas's suites: consolidation (`MapStepTimeSeqSuite`), group by
//! and joins (`DataGroupBySuite`), percentiles (`PercentilesSuite`, spectator worked
//! examples), the stateful algorithms step by step (`Online*Suite`), offsets, limits and
//! the per-expression presentation of `evaluate`.

mod common;

use common::*;
use sextant_query::testing::StaticDatabase;
use sextant_query::{evaluate, parse, Error, EvalContext, Limits};

const N: f64 = f64::NAN;

fn series_db(values: &[f64]) -> StaticDatabase {
    let mut db = StaticDatabase::new(60_000);
    db.push([("name", "x")], 0, values.to_vec());
    db
}

/// Runs `name,x,:eq,<ops>` over the stored values, one point per minute from 0.
fn table(ops: &str, values: &[f64]) -> Vec<f64> {
    let db = series_db(values);
    let src = format!("name,x,:eq,{ops}");
    let ctx = EvalContext::new(0, values.len() as i64 * 60_000, 60_000);
    let lines = run_on(&db, &src, ctx);
    assert_eq!(lines.len(), 1, "{src}");
    lines[0].values.clone()
}

fn assert_table(ops: &str, input: &[f64], expected: &[f64]) {
    let got = table(ops, input);
    assert_eq!(got.len(), expected.len(), "{ops}");
    for (i, (a, b)) in got.iter().zip(expected).enumerate() {
        assert!(
            same(*a, *b),
            "{ops}: point {i}: got {a}, expected {b} (all: {got:?})"
        );
    }
}

#[test]
fn stateful_step_tables() {
    assert_table(
        "2,:delay",
        &[1.0, 2.0, 3.0, 4.0, 5.0],
        &[N, N, 1.0, 2.0, 3.0],
    );
    assert_table(
        "3,:rolling-count",
        &[0.0, 1.0, N, 1.0, 1.0, 0.0],
        &[0.0, 1.0, 1.0, 2.0, 2.0, 2.0],
    );
    assert_table(
        "2,:rolling-min",
        &[1.0, N, N, 3.0, 2.0],
        &[1.0, 1.0, N, 3.0, 2.0],
    );
    assert_table(
        "2,:rolling-max",
        &[1.0, N, N, 3.0, 2.0],
        &[1.0, 1.0, N, 3.0, 3.0],
    );
    assert_table(
        "3,2,:rolling-mean",
        &[1.0, 2.0, N, N, 4.0],
        &[N, 1.5, 1.5, N, N],
    );
    assert_table("2,:rolling-sum", &[1.0, N, N, 2.0], &[1.0, 1.0, N, 2.0]);
    assert_table(":integral", &[N, 1.0, N, 2.0], &[N, 1.0, 1.0, 3.0]);
    assert_table(
        ":cumulative-max",
        &[N, 1.0, 3.0, N, 2.0],
        &[N, 1.0, 3.0, 3.0, 3.0],
    );
    assert_table(":derivative", &[1.0, 3.0, N, 4.0], &[N, 2.0, N, N]);
    assert_table("3m,:trend", &[1.0, 2.0, 3.0, N], &[N, N, 2.0, 5.0 / 3.0]);
    assert_table("1m,:trend", &[1.0, N], &[1.0, N]);
    assert_table("2,0.5,0.5,:des", &[1.0, 2.0, 3.0, 4.0], &[N, N, 1.5, 2.375]);
    // NaN inputs are skipped by DES: they neither count as samples nor move the level.
    assert_table("1,0.5,0.5,:des", &[N, 2.0, N, 4.0], &[N, N, 2.0, 2.0]);
}

/// `:sdes` skips points until the window start aligns with step × training, then
/// alternates two DES instances each training period.
#[test]
fn sliding_des_aligns_to_training_period() {
    let mut db = StaticDatabase::new(60_000);
    db.push_fn([("name", "x")], |t| (t / 60_000) as f64);
    // Rows from minute 2: evaluation starts a step earlier, at minute 1, and training 2
    // skips it: minute 2 is the first aligned point.
    let lines = run_on(
        &db,
        "name,x,:eq,2,0.5,0.5,:sdes",
        EvalContext::new(120_000, 420_000, 60_000),
    );
    let v = &lines[0].values;
    assert!(
        v[0].is_nan() && v[1].is_nan(),
        "training not yet complete: {v:?}"
    );
    assert!(!v[2].is_nan(), "{v:?}");
}

#[test]
fn consolidation_gauge_vs_rate() {
    let mut db = StaticDatabase::new(60_000);
    db.push([("name", "rate")], 60_000, vec![1.0, N]);
    db.push(
        [("name", "gauge"), ("atlas.dstype", "gauge")],
        60_000,
        vec![1.0, N],
    );
    let ctx = EvalContext::new(120_000, 240_000, 120_000);
    let v = |src: &str| run_on(&db, src, ctx)[0].values[0];
    assert!(same(v("name,rate,:eq,:sum"), 0.5));
    assert!(same(v("name,gauge,:eq,:sum"), 1.0));
    assert!(same(v("name,rate,:eq,:max"), 1.0));
    assert!(same(v("name,rate,:eq,:sum,:cf-sum"), 1.0));
    assert!(same(v("name,rate,:eq,:sum,:cf-max"), 1.0));
    assert!(same(v("name,rate,:eq,:count"), 1.0));
    // A step that is not a multiple of the primary step is refused.
    let exprs = parse("name,rate,:eq").unwrap_or_default();
    let e = evaluate(&exprs, &EvalContext::new(0, 90_000, 90_000), &db).err();
    assert!(matches!(e, Some(Error::Eval(_))), "{e:?}");
}

/// `DataGroupBySuite`: joins keep the more grouped side and drop unmatched lines.
#[test]
fn group_by_joins_follow_the_subset_rule() {
    let mut db = StaticDatabase::new(60_000);
    for v in 0..10 {
        let mode = if v % 2 == 0 { "even" } else { "odd" };
        let value = v.to_string();
        db.push_fn(
            [("name", "test"), ("mode", mode), ("value", value.as_str())],
            move |_| v as f64,
        );
    }
    let lines = run_on(
        &db,
        "mode,even,:eq,(,name,),:by,name,test,:eq,(,name,value,),:by,:add",
        ctx(),
    );
    assert_eq!(lines.len(), 10);
    for l in &lines {
        let v: f64 = l.tags["value"].parse().unwrap_or(-1.0);
        assert!(same(l.values[0], 20.0 + v), "{l:?}");
        assert_eq!(l.tags.len(), 2);
    }
    let lines = run_on(
        &db,
        "mode,even,:eq,(,name,value,),:by,name,test,:eq,(,name,),:by,:add",
        ctx(),
    );
    assert_eq!(lines.len(), 5);
    for l in &lines {
        let v: f64 = l.tags["value"].parse().unwrap_or(-1.0);
        assert!(same(l.values[0], 45.0 + v), "{l:?}");
    }
    // Series missing a group key are dropped.
    assert!(run_on(&db, "name,test,:eq,(,name,not_present,),:by", ctx()).is_empty());
    // Multi-level group by: max across value within each mode.
    let lines = run_on(
        &db,
        "name,test,:eq,(,mode,value,),:by,:max,(,mode,),:by",
        ctx(),
    );
    let got: Vec<(String, f64)> = lines
        .iter()
        .map(|l| (l.tags["mode"].clone(), l.values[0]))
        .collect();
    assert_eq!(
        got,
        vec![("even".to_string(), 8.0), ("odd".to_string(), 9.0)]
    );
    // Regrouped named rewrite: average per mode.
    let lines = run_on(&db, "name,test,:eq,:avg,(,mode,),:by", ctx());
    let got: Vec<f64> = lines.iter().map(|l| l.values[0]).collect();
    assert_eq!(got, vec![4.0, 5.0]);
    // :cg adds a key to every aggregate.
    let lines = run_on(&db, "name,test,:eq,:max,(,mode,),:cg", ctx());
    assert_eq!(lines.len(), 2);
}

#[test]
fn percentiles_from_timer_buckets() {
    let mut db = StaticDatabase::new(60_000);
    let add = |db: &mut StaticDatabase, app: &str, bucket: &str, v: f64| {
        db.push_fn(
            [
                ("name", "lat"),
                ("nf.app", app),
                ("statistic", "percentile"),
                ("percentile", bucket),
            ],
            move |_| v,
        );
    };
    add(&mut db, "a", "T0065", 100.0);
    add(&mut db, "b", "T0064", 50.0);
    add(&mut db, "b", "T0083", 50.0);
    let lines = run_on(
        &db,
        "name,lat,:eq,nf.app,a,:eq,:and,(,0,50,90,100,),:percentiles",
        ctx(),
    );
    let labels: Vec<&str> = lines.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "percentile((name=lat) and (nf.app=a),   0.0)",
            "percentile((name=lat) and (nf.app=a),  50.0)",
            "percentile((name=lat) and (nf.app=a),  90.0)",
            "percentile((name=lat) and (nf.app=a), 100.0)",
        ]
    );
    assert_eq!(lines[1].tags["percentile"], " 50.0");
    let expect = [0.0, 0.01188, 0.01244, 0.01258];
    for (l, e) in lines.iter().zip(expect) {
        assert!(
            (l.values[0] - e).abs() < 1e-5,
            "{}: {}",
            l.label,
            l.values[0]
        );
    }
    let lines = run_on(
        &db,
        "name,lat,:eq,(,nf.app,),:by,(,25,50,75,),:percentiles",
        ctx(),
    );
    assert_eq!(lines.len(), 6);
    let b: Vec<f64> = lines
        .iter()
        .filter(|l| l.tags["nf.app"] == "b")
        .map(|l| l.values[0])
        .collect();
    assert!(
        (b[0] - 0.010486).abs() < 1e-5 && (b[1] - 0.011185).abs() < 1e-5,
        "{b:?}"
    );
    assert!((b[2] - 1.029).abs() < 1e-3, "{b:?}");
    assert!(lines
        .iter()
        .any(|l| l.label == "percentile((nf.app=b),  75.0)"));
    // Two encodings of one bucket are an error.
    add(&mut db, "c", "T0065", 1.0);
    add(&mut db, "c", "T0065", 1.0);
    let exprs = parse("name,lat,:eq,nf.app,c,:eq,:and,(,50,),:percentiles,nf.app,c,:eq,:all,:drop")
        .unwrap_or_default();
    let e = evaluate(&exprs, &ctx(), &db);
    assert!(e.is_ok(), "identical series sum into one group: {e:?}");
    assert!(parse("name,lat,:eq,(,101,),:percentiles").is_err());
    assert!(parse("name,lat,:eq,:all,(,50,),:percentiles").is_err());
}

#[test]
fn offset_shifts_the_fetch_window() {
    let db = series_db(&(0..10).map(f64::from).collect::<Vec<_>>());
    let lines = run_on(
        &db,
        "name,x,:eq,1m,:offset",
        EvalContext::new(120_000, 300_000, 60_000),
    );
    assert_values("offset", &lines[0], &[1.0, 2.0, 3.0]);
    // The data label carries no offset; the default legend adds it (see `evaluate`).
    assert_eq!(lines[0].label, "name=x");
    // Offsets replace, they do not add.
    let lines = run_on(
        &db,
        "name,x,:eq,1m,:offset,2m,:offset",
        EvalContext::new(240_000, 300_000, 60_000),
    );
    assert_values("offset", &lines[0], &[2.0]);
    // Offsets under one step are ignored.
    let lines = run_on(
        &db,
        "name,x,:eq,30s,:offset",
        EvalContext::new(120_000, 180_000, 60_000),
    );
    assert_values("offset", &lines[0], &[2.0]);
}

#[test]
fn limits_report_how_far_over() {
    let db = StaticDatabase::constants();
    let exprs = parse(":true,(,name,),:by").unwrap_or_default();
    let small = ctx().with_limits(Limits {
        max_lines: 5,
        max_datapoints: 500_000,
    });
    let e = evaluate(&exprs, &small, &db).err();
    assert!(
        matches!(
            e,
            Some(Error::Limit {
                what: "lines",
                limit: 5,
                actual: 11
            })
        ),
        "{e:?}"
    );
    let msg = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.starts_with("lines: 11 is over the limit of 5 by 6"),
        "{msg}"
    );
    let tiny = ctx().with_limits(Limits {
        max_lines: 1024,
        max_datapoints: 50,
    });
    let e = evaluate(&exprs, &tiny, &db).err();
    assert!(
        matches!(
            e,
            Some(Error::Limit {
                what: "datapoints",
                ..
            })
        ),
        "{e:?}"
    );
    // A window longer than the datapoint limit fails before touching the store.
    let huge = EvalContext::new(0, 60_000 * 1_000_000, 60_000);
    let e = evaluate(&parse("1").unwrap_or_default(), &huge, &db).err();
    assert!(
        matches!(
            e,
            Some(Error::Limit {
                what: "datapoints per line",
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn evaluate_sorts_limits_and_labels_lines() {
    let db = StaticDatabase::constants();
    let exprs = parse(":true,(,name,),:by,$name,:legend,max,:sort,desc,:order,3,:limit,42")
        .unwrap_or_default();
    let lines = evaluate(&exprs, &ctx(), &db).unwrap_or_default();
    let got: Vec<(&str, usize)> = lines
        .iter()
        .map(|l| (l.series.label.as_str(), l.expr_index))
        .collect();
    assert_eq!(got, [("10", 0), ("9", 0), ("8", 0), ("42.0", 1)]);
    assert_eq!(lines[0].series.tags["atlas.offset"], "0w");
    assert_eq!(lines[0].style.limit, Some(3));
    // Default order is by label.
    let exprs = parse(":true,(,name,),:by").unwrap_or_default();
    let lines = evaluate(&exprs, &ctx(), &db).unwrap_or_default();
    assert_eq!(lines[0].series.label, "(name=0)");
    assert_eq!(lines[2].series.label, "(name=10)");
    // Deprecated style offsets repeat the expression, with sed on the legend.
    let exprs =
        parse("name,1,:eq,(,0h,1d,),:offset,$atlas.offset,:legend,d,day,:s").unwrap_or_default();
    let lines = evaluate(&exprs, &ctx(), &db).unwrap_or_default();
    let labels: Vec<&str> = lines.iter().map(|l| l.series.label.as_str()).collect();
    assert_eq!(labels, ["0w", "1day"]);
}

#[test]
fn filters_and_topk() {
    let pick = |src: &str| -> Vec<String> {
        run(src)
            .iter()
            .map(|l| l.tags.get("name").cloned().unwrap_or_default())
            .collect()
    };
    let mut top = pick(":true,(,name,),:by,max,3,:topk");
    top.sort();
    assert_eq!(top, ["10", "8", "9"]);
    let mut bottom = pick(":true,(,name,),:by,max,2,:bottomk");
    bottom.sort();
    assert_eq!(bottom, ["0", "1"]);
    let lines = run(":true,(,name,),:by,max,2,:topk-others-sum");
    let others: Vec<_> = lines
        .iter()
        .filter(|l| l.tags["name"] == "--others--")
        .collect();
    assert_eq!(others.len(), 1);
    assert!(same(others[0].values[0], 36.0));
    let lines = run(":true,(,name,),:by,max,2,:bottomk-others-avg");
    let others: Vec<_> = lines
        .iter()
        .filter(|l| l.tags["name"] == "--others--")
        .collect();
    assert!(same(others[0].values[0], 6.0));
    assert_eq!(pick(":true,(,name,),:by,:stat-max,9,:gt,:filter"), ["10"]);
}

#[test]
fn consolidate_keeps_the_graph_step() {
    let values: Vec<f64> = (1..=6).map(f64::from).collect();
    let got = table("avg,2m,:consolidate", &values);
    // Blocks end at even minutes: (0], (1,2], (3,4], (5,6]...
    assert_eq!(got, vec![1.0, 2.5, 2.5, 4.5, 4.5, 6.0]);
}

#[test]
fn time_and_random() {
    let lines = run("hourOfDay,:time");
    assert_eq!(lines[0].label, "hourOfDay");
    assert!(lines[0].values.iter().all(|v| *v == 0.0));
    let r1 = run(":random");
    let r2 = run(":random");
    assert_eq!(r1, r2);
    assert!(r1[0].values.iter().all(|v| (0.0..1.0).contains(v)));
    let span = run("gs,gs+2m,:time-span");
    assert_eq!(&span[0].values[..4], &[1.0, 1.0, 1.0, 0.0]);
    assert!(parse("foo,:time").is_err());
}

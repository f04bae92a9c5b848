//! Words added after the first port: the custom averages (`:node-avg`, `:eureka-avg`),
//! `:des-epic-signal`/`:des-epic-viz`, `:sample-count` and `:approx-distinct`. Expectations
//! are hand-checked in the comments; Atlas's own are quoted where atlas.md or the upstream
//! suites give one.

mod common;

use common::*;
use sextant_query::testing::StaticDatabase;
use sextant_query::{interpret, parse};

/// Parses, prints, parses again: the printed form is `expected` and reads back equal.
fn round_trip(src: &str, expected: &str) {
    let exprs = match parse(src) {
        Ok(e) => e,
        Err(e) => panic!("{src}: {e}"),
    };
    assert_eq!(exprs.len(), 1, "{src}");
    let printed = exprs[0].to_string();
    assert_eq!(printed, expected, "{src}");
    let again = parse(&printed).unwrap_or_default();
    assert_eq!(again, exprs, "{src} -> {printed}");
}

fn values(db: &StaticDatabase, src: &str) -> Vec<(String, f64)> {
    run_on(db, src, ctx())
        .iter()
        .map(|l| (l.label.clone(), l.values[0]))
        .collect()
}

/// `sps` on two `www` nodes (10 and 20, status 404) and one `api` node (100); three `www`
/// instances and one `api` instance in `poller.asg.instance`; two `www` instances UP in
/// discovery and one DOWN.
fn fleet() -> StaticDatabase {
    let mut db = StaticDatabase::new(60_000);
    for (app, node, v) in [
        ("www", "i-1", 10.0),
        ("www", "i-2", 20.0),
        ("api", "a-1", 100.0),
    ] {
        db.push_fn(
            [
                ("name", "sps"),
                ("nf.app", app),
                ("nf.node", node),
                ("status", "404"),
            ],
            move |_| v,
        );
    }
    for (app, node) in [
        ("www", "i-1"),
        ("www", "i-2"),
        ("www", "i-3"),
        ("api", "a-1"),
    ] {
        db.push_fn(
            [
                ("name", "poller.asg.instance"),
                ("nf.app", app),
                ("nf.node", node),
            ],
            |_| 1.0,
        );
    }
    for (node, state) in [("i-1", "UP"), ("i-2", "UP"), ("i-3", "DOWN")] {
        db.push_fn(
            [
                ("name", "discovery.status"),
                ("nf.app", "www"),
                ("nf.node", node),
                ("state", state),
            ],
            |_| 1.0,
        );
    }
    db
}

#[test]
fn custom_averages_print_as_written() {
    round_trip("name,sps,:eq,:node-avg", "name,sps,:eq,:node-avg");
    round_trip(
        "name,sps,:eq,:node-avg,(,nf.app,),:by",
        "name,sps,:eq,:node-avg,(,nf.app,),:by",
    );
    round_trip(
        "name,sps,:eq,:eureka-avg,1h,:offset",
        "name,sps,:eq,:eureka-avg,1h,:offset",
    );
    round_trip(
        "name,sps,:eq,:node-avg,:cf-max",
        "name,sps,:eq,:node-avg,:cf-max",
    );
    // A custom average needs a query, as in Atlas (`Query -- TimeSeriesExpr`).
    assert!(interpret("1,:const,:node-avg").is_err());
}

#[test]
fn node_avg_divides_by_the_instances_in_scope() {
    let db = fleet();
    let q = "name,sps,:eq,nf.app,www,:eq,:and,status,404,:eq,:and";
    // status is not a custom-average key, so the denominator is
    // name=poller.asg.instance AND nf.app=www: 3 instances. (10 + 20) / 3 = 10.
    let got = values(&db, &format!("{q},:node-avg"));
    assert_eq!(got.len(), 1);
    assert!(same(got[0].1, 10.0), "{got:?}");
    // Grouped by a custom key, the denominator is grouped too: 10/1 and 20/1.
    let got = values(&db, &format!("{q},:node-avg,(,nf.node,),:by"));
    let v: Vec<f64> = got.iter().map(|g| g.1).collect();
    assert_eq!(v, vec![10.0, 20.0]);
    // Grouped by another key, the denominator stays whole: 30 / 3.
    let got = values(&db, &format!("{q},:node-avg,(,status,),:by"));
    assert_eq!(got.len(), 1);
    assert!(same(got[0].1, 10.0), "{got:?}");
    // Without scope: (10 + 20 + 100) / 4 instances.
    let got = values(&db, "name,sps,:eq,:node-avg");
    assert!(same(got[0].1, 32.5), "{got:?}");
    // Atlas's NamedRewriteSuite: `q,:node-avg,(,app,),:by` = sum(q) by app / base by app.
    let a = values(&db, "name,sps,:eq,:node-avg,(,nf.app,),:by");
    let b = values(
        &db,
        "name,sps,:eq,(,nf.app,),:by,name,poller.asg.instance,:eq,(,nf.app,),:by,:div",
    );
    let (a, b): (Vec<f64>, Vec<f64>) = (
        a.iter().map(|x| x.1).collect(),
        b.iter().map(|x| x.1).collect(),
    );
    assert_eq!(a, b);
    assert_eq!(a, vec![100.0, 10.0]);
}

#[test]
fn eureka_avg_divides_by_the_instances_up() {
    let db = fleet();
    // Two www instances are UP: (10 + 20) / 2.
    let got = values(&db, "name,sps,:eq,nf.app,www,:eq,:and,:eureka-avg");
    assert!(same(got[0].1, 15.0), "{got:?}");
    // A negated clause on a non-key is dropped, not turned into :false.
    let got = values(
        &db,
        "name,sps,:eq,nf.app,www,:eq,:and,status,500,:eq,:not,:and,:eureka-avg",
    );
    assert!(same(got[0].1, 15.0), "{got:?}");
}

/// The DES line of the epic macros with alpha = beta = 0 and training 1: the prediction is
/// NaN at the first point and then stays at the first value, 10.
fn epic_db() -> StaticDatabase {
    let mut db = StaticDatabase::new(60_000);
    let nan = f64::NAN;
    db.push(
        [("name", "line")],
        0,
        vec![10.0, 10.0, 3.0, 20.0, 13.0, 7.0, 10.0, 15.0, nan, 11.0],
    );
    db
}

#[test]
fn des_epic_signal_flags_points_outside_both_bounds() {
    let db = epic_db();
    // noise 4 → bounds 6 and 14; 20% → bounds 8 and 12. A point counts when it is below
    // both lower bounds (3) or above both upper bounds (20, 15); 13 and 7 cross only one.
    // At the first point the prediction is NaN, so every comparison is 0.
    let src = "name,line,:eq,1,0,0,0.2,0.2,4,:des-epic-signal";
    let lines = run_on(&db, src, ctx());
    assert_eq!(lines.len(), 1);
    assert_values(
        src,
        &lines[0],
        &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    );
    // Atlas's example parses, prints as its expansion, and reads back equal.
    let exprs =
        parse("name,sps,:eq,:sum,10,0.1,0.5,0.2,0.2,4,:des-epic-signal").unwrap_or_default();
    assert_eq!(exprs.len(), 1);
    let printed = exprs[0].to_string();
    assert!(printed.contains("10,0.1,0.5,:des"), "{printed}");
    assert_eq!(parse(&printed).unwrap_or_default(), exprs);
    // The macro leaves its variables behind, as Atlas's does.
    let stack = interpret(&format!("{src},pred,:get")).unwrap_or_default();
    assert_eq!(stack.len(), 2);
    assert_eq!(stack[1].to_string(), "name,line,:eq,:sum,1,0.0,0.0,:des");
    // A bad stack names the signature.
    let e = interpret("name,line,:eq,1,0,0,0.2,4,:des-epic-signal").err();
    assert!(e.is_some_and(|e| e.to_string().contains("max percent")));
}

#[test]
fn des_epic_viz_shows_the_signal_the_line_and_the_bounds() {
    let db = epic_db();
    let exprs = parse("name,line,:eq,1,0,0,0.2,0.2,4,:des-epic-viz").unwrap_or_default();
    let legends: Vec<String> = exprs
        .iter()
        .map(|e| e.style.legend.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        legends,
        [
            "triggered",
            "line",
            "minPredNoiseBound",
            "minPredPercentBound",
            "maxPredNoiseBound",
            "maxPredPercentBound"
        ]
    );
    assert!(exprs[0]
        .to_string()
        .ends_with(":vspan,triggered,:legend,40,:alpha"));
    // The bounds at the second point: 10 - 4, 10 * 0.8, 10 + 4, 10 * 1.2.
    let at1: Vec<f64> = exprs[2..]
        .iter()
        .map(|e| {
            let l = sextant_query::eval_expr(&e.expr, &ctx(), &db).unwrap_or_default();
            l.first().map(|l| l.values[1]).unwrap_or(f64::NAN)
        })
        .collect();
    for (got, want) in at1.iter().zip([6.0, 8.0, 14.0, 12.0]) {
        assert!(same(*got, want), "{at1:?}");
    }
    for e in &exprs {
        assert_eq!(parse(&e.to_string()).unwrap_or_default(), vec![e.clone()]);
    }
}

/// Percentile buckets of a timer `lat` (bucket 0x64 = 100 up to ~11.2 ms, 0x65 = 101 up to
/// ~12.6 ms, 0x83 = 131 up to ~1.07 s) and one distribution-summary bucket 5 (amount 5).
fn buckets_db() -> StaticDatabase {
    let mut db = StaticDatabase::new(60_000);
    for (app, bucket, v) in [
        ("a", "T0064", 50.0),
        ("b", "T0065", 100.0),
        ("a", "T0083", 7.0),
        ("b", "D0005", 3.0),
    ] {
        db.push_fn(
            [
                ("name", "lat"),
                ("nf.app", app),
                ("statistic", "percentile"),
                ("percentile", bucket),
            ],
            move |_| v,
        );
    }
    db
}

#[test]
fn sample_count_sums_the_buckets_in_range() {
    round_trip(
        "name,lat,:eq,:sample-count",
        "name,lat,:eq,0.0,Infinity,:sample-count",
    );
    round_trip(
        "name,lat,:eq,1,10,:sample-count,(,nf.app,),:by,1h,:offset",
        "name,lat,:eq,1.0,10.0,:sample-count,(,nf.app,),:by,1h,:offset",
    );
    assert!(interpret("name,lat,:eq,2,1,:sample-count").is_err());
    assert!(interpret("name,lat,:eq,NaN,1,:sample-count").is_err());
    assert!(interpret("1,2,:sample-count").is_err());

    let db = buckets_db();
    let v = |src: &str| values(&db, src).iter().map(|x| x.1).collect::<Vec<f64>>();
    // Everything: 50 + 100 + 7 + 3.
    assert_eq!(v("name,lat,:eq,:sample-count"), vec![160.0]);
    // Up to 12 ms: 12,000,000 ns is in bucket 101, so timer buckets 0..=101 (50 + 100); the
    // amount bound 0.012 only reaches distribution bucket 1.
    assert_eq!(v("name,lat,:eq,0,0.012,:sample-count"), vec![150.0]);
    // From 1 s: timer bucket 131 (7); from amount 1: distribution buckets 1.. (3).
    assert_eq!(v("name,lat,:eq,1,Infinity,:sample-count"), vec![10.0]);
    // Grouped: a = 50 + 7, b = 100 + 3.
    assert_eq!(
        v("name,lat,:eq,:sample-count,(,nf.app,),:by"),
        vec![57.0, 103.0]
    );
    // The output keeps the query's exact tags, not the bucket ranges.
    let lines = run_on(&db, "name,lat,:eq,:sample-count", ctx());
    assert_eq!(lines[0].tags.get("name").map(String::as_str), Some("lat"));
    assert!(!lines[0].tags.contains_key("percentile"));
}

/// Register series of a `DistinctCountSketch` on two instances of app `a` and one of `b`.
fn sketch_db() -> StaticDatabase {
    let mut db = StaticDatabase::new(60_000);
    let nan = f64::NAN;
    let mut reg = |app: &str, node: &str, r: &str, values: Vec<f64>| {
        db.push(
            [
                ("name", "users"),
                ("nf.app", app),
                ("nf.node", node),
                ("statistic", "distinct"),
                ("distinct", r),
            ],
            0,
            values,
        );
    };
    reg("a", "i-1", "R0", vec![1.0; 10]);
    reg("a", "i-1", "R1", vec![2.0; 10]);
    reg("a", "i-2", "R1", vec![3.0; 10]);
    reg("a", "i-2", "R5", vec![1.0; 10]);
    // For the cumulative form: R0 set only at the first step, RA only at the second.
    let mut once = vec![nan; 10];
    once[0] = 1.0;
    reg("b", "j-1", "R0", once);
    let mut second = vec![nan; 10];
    second[1] = 4.0;
    reg("b", "j-1", "RA", second);
    db
}

#[test]
fn approx_distinct_estimates_from_sketch_registers() {
    round_trip(
        "name,users,:eq,:approx-distinct",
        "name,users,:eq,:sum,:approx-distinct",
    );
    round_trip(
        "name,users,:eq,(,nf.app,),:by,:approx-distinct-cumulative,1h,:offset",
        "name,users,:eq,:sum,(,nf.app,),:by,1h,:offset,:approx-distinct-cumulative",
    );
    let db = sketch_db();
    let linear = |set: f64| 16.0 * (16.0 / (16.0 - set)).ln();
    // App a: the register-wise max across instances is R0 = 1, R1 = 3, R5 = 1; 16 registers
    // (the smallest sketch), 3 set, so the small-range estimate 16 ln(16/13) ≈ 3.32.
    let lines = run_on(
        &db,
        "name,users,:eq,nf.app,a,:eq,:and,:approx-distinct",
        ctx(),
    );
    assert_eq!(lines.len(), 1);
    assert!(same(lines[0].values[0], linear(3.0)), "{lines:?}");
    assert_eq!(lines[0].tags.get("distinct"), None);
    assert_eq!(
        lines[0].label,
        "approx-distinct(name=users, nf.app=a, statistic=distinct)"
    );
    // Grouped by app: b has one register set at t0 and another at t1, NaN after.
    let lines = run_on(&db, "name,users,:eq,(,nf.app,),:by,:approx-distinct", ctx());
    assert_eq!(lines.len(), 2);
    let b = &lines[1];
    assert_eq!(b.tags.get("nf.app").map(String::as_str), Some("b"));
    assert!(same(b.values[0], linear(1.0)) && same(b.values[1], linear(1.0)));
    assert!(b.values[2].is_nan(), "{b:?}");
    // Cumulative: the running max per register keeps both set from t1 on.
    let lines = run_on(
        &db,
        "name,users,:eq,nf.app,b,:eq,:and,:approx-distinct-cumulative",
        ctx(),
    );
    let expected: Vec<f64> = (0..10)
        .map(|i| if i == 0 { linear(1.0) } else { linear(2.0) })
        .collect();
    assert_values("cumulative", &lines[0], &expected);
    // :all keeps one estimate per instance: i-1 has 2 registers set, i-2 has 2.
    let lines = run_on(
        &db,
        "name,users,:eq,nf.app,a,:eq,:and,:all,:approx-distinct",
        ctx(),
    );
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| same(l.values[0], linear(2.0))));
    // Lines without registers are an error that says what is needed.
    let exprs =
        parse("name,users,:eq,:sum,(,nf.node,),:by,:sum,:approx-distinct").unwrap_or_default();
    let e = sextant_query::eval_expr(&exprs[0].expr, &ctx(), &db).err();
    assert!(e.is_some_and(|e| e.to_string().contains("distinct=R")));
}

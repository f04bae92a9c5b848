use super::*;
use sextant_query::testing::StaticDatabase;

const STEP: i64 = 60_000;
const T: i64 = 1_700_000_040_000 / STEP * STEP;

/// Two `up` series, a counter stored as rates (2/s and 3/s), a gauge growing by 60 a step,
/// and Prometheus-style buckets.
fn db() -> StaticDatabase {
    let mut db = StaticDatabase::new(STEP);
    for (inst, v) in [("a~3A1", 1.0), ("b~3A1", 0.0)] {
        db.push_fn(
            [
                ("name", "up"),
                ("job", "node"),
                ("instance", inst),
                ("atlas.dstype", "gauge"),
            ],
            move |_| v,
        );
    }
    for (inst, r) in [("a~3A1", 2.0), ("b~3A1", 3.0)] {
        db.push_fn(
            [
                ("name", "req_total"),
                ("job", "node"),
                ("instance", inst),
                ("atlas.dstype", "counter"),
            ],
            move |_| r,
        );
    }
    db.push_fn(
        [("name", "temp"), ("job", "node"), ("instance", "a~3A1")],
        |t| (t / STEP) as f64 * 60.0,
    );
    for (le, r) in [("0.1", 1.0), ("0.5", 3.0), ("~2BInf", 4.0)] {
        db.push_fn(
            [("name", "lat_bucket"), ("job", "node"), ("le", le)],
            move |_| r,
        );
    }
    db
}

fn instant(q: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    match query_instant(&db(), q, T, Limits::default()) {
        Ok(QueryData::Vector(v)) => v.into_iter().map(|s| (s.metric, s.value)).collect(),
        other => panic!("{q}: {other:?}"),
    }
}

fn values(q: &str) -> Vec<f64> {
    instant(q).into_iter().map(|(_, v)| v).collect()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn selectors_match_and_unescape_labels() {
    let got = instant(r#"up{instance="a:1"}"#);
    assert_eq!(
        got,
        vec![(
            labels(&[("__name__", "up"), ("instance", "a:1"), ("job", "node")]),
            1.0
        )]
    );
    assert_eq!(values(r#"up{instance=~"b:.*"}"#), vec![0.0]);
    assert_eq!(values(r#"up{instance!="b:1"}"#), vec![1.0]);
    assert_eq!(values(r#"up{instance!~"a.*"}"#), vec![0.0]);
    assert_eq!(values(r#"{__name__="up", job="node"}"#).len(), 2);
    // A recording rule's name: `:` is escaped in the store like in any value.
    let mut db = StaticDatabase::new(STEP);
    db.push_fn([("name", "job~3Areq~3Arate5m"), ("job", "node")], |_| 4.0);
    let got = query_instant(&db, "job:req:rate5m", T, Limits::default());
    assert!(
        matches!(&got, Ok(QueryData::Vector(v)) if v.len() == 1
            && v[0].metric.get("__name__").map(String::as_str) == Some("job:req:rate5m")),
        "{got:?}"
    );
}

#[test]
fn rates_and_aggregations() {
    assert_eq!(values("rate(req_total[5m])"), vec![2.0, 3.0]);
    assert_eq!(values("increase(req_total[5m])"), vec![600.0, 900.0]);
    assert_eq!(values("sum(rate(req_total[5m]))"), vec![5.0]);
    assert_eq!(
        instant("sum by (instance) (rate(req_total[1m]))"),
        vec![
            (labels(&[("instance", "a:1")]), 2.0),
            (labels(&[("instance", "b:1")]), 3.0)
        ]
    );
    assert_eq!(
        instant("sum without (instance) (req_total)"),
        vec![(labels(&[("job", "node")]), 5.0)]
    );
    assert_eq!(values("avg(req_total)"), vec![2.5]);
    assert_eq!(values("max(req_total)"), vec![3.0]);
    assert_eq!(values("count(up)"), vec![2.0]);
    assert_eq!(values("topk(1, req_total)"), vec![3.0]);
    assert_eq!(values("quantile(0.5, req_total)"), vec![2.5]);
    assert_eq!(
        instant("quantile by (instance) (0.9, req_total)"),
        vec![
            (labels(&[("instance", "a:1")]), 2.0),
            (labels(&[("instance", "b:1")]), 3.0)
        ]
    );
    assert_eq!(values("stddev(req_total)"), vec![0.5]);
    assert_eq!(values("stdvar(req_total)"), vec![0.25]);
    assert_eq!(values("group(req_total)"), vec![1.0]);
    assert_eq!(values(r#"sum(nothing{job="x"}) or vector(0)"#), vec![0.0]);
    assert_eq!(values("req_total and req_total > 2"), vec![3.0]);
    assert_eq!(
        instant(r#"label_replace(up{instance="a:1"}, "host", "$1", "instance", "(.*):.*")"#),
        vec![(
            labels(&[
                ("__name__", "up"),
                ("host", "a"),
                ("instance", "a:1"),
                ("job", "node")
            ]),
            1.0
        )]
    );
    assert_eq!(values("req_total unless req_total > 2"), vec![2.0]);
    assert_eq!(
        instant(r#"up{instance="a:1"} or on(instance) req_total"#),
        vec![
            (
                labels(&[
                    ("__name__", "req_total"),
                    ("instance", "b:1"),
                    ("job", "node")
                ]),
                3.0
            ),
            (
                labels(&[("__name__", "up"), ("instance", "a:1"), ("job", "node")]),
                1.0
            ),
        ]
    );
    assert_eq!(values("delta(temp[5m])"), vec![300.0]);
    assert_eq!(values("idelta(temp[5m])"), vec![60.0]);
    assert_eq!(values("deriv(temp[5m])"), vec![1.0]);
    assert_eq!(values("count_over_time(temp[5m])"), vec![5.0]);
    let t = (T / STEP) as f64 * 60.0;
    assert_eq!(values("max_over_time(temp[5m])"), vec![t]);
    assert_eq!(values("min_over_time(temp[5m])"), vec![t - 240.0]);
    assert_eq!(values("temp offset 2m"), vec![t - 120.0]);
}

#[test]
fn binary_operators() {
    assert_eq!(values("req_total * 2"), vec![4.0, 6.0]);
    assert_eq!(values("10 - req_total"), vec![8.0, 7.0]);
    assert_eq!(values("req_total > 2"), vec![3.0]);
    assert_eq!(values("req_total > bool 2"), vec![0.0, 1.0]);
    assert_eq!(values("req_total == 2"), vec![2.0]);
    assert_eq!(
        instant("req_total / on(instance) up"),
        vec![
            (labels(&[("instance", "a:1")]), 2.0),
            (labels(&[("instance", "b:1")]), f64::INFINITY)
        ]
    );
    assert_eq!(
        instant("req_total + ignoring(job) up"),
        vec![
            (labels(&[("instance", "a:1")]), 3.0),
            (labels(&[("instance", "b:1")]), 3.0)
        ]
    );
    assert_eq!(values("clamp_max(req_total, 2.5)"), vec![2.0, 2.5]);
    assert_eq!(values("abs(-req_total)"), vec![2.0, 3.0]);
    assert_eq!(values("vector(4) + 1"), vec![5.0]);
    assert_eq!(values("sgn(req_total - 2)"), vec![0.0, 1.0]);
    assert_eq!(
        values(r#"req_total * scalar(up{instance="a:1"})"#),
        vec![2.0, 3.0]
    );
    assert_eq!(values("req_total * scalar(up)"), Vec::<f64>::new());
}

#[test]
fn scalars_time_absent_and_quantiles() {
    assert_eq!(
        query_instant(&db(), "1 + 2 * 3", T, Limits::default()),
        Ok(QueryData::Scalar(T, 7.0))
    );
    assert_eq!(
        query_instant(&db(), "time()", T, Limits::default()),
        Ok(QueryData::Scalar(T, (T / 1000) as f64))
    );
    assert_eq!(values("absent(up)"), Vec::<f64>::new());
    assert_eq!(
        instant(r#"absent(nothing{job="x"})"#),
        vec![(labels(&[("job", "x")]), 1.0)]
    );
    // 4 per second in all; rank 2 is in (0.1, 0.5]: 0.1 + 0.4 * (1 / 2)
    let q = instant("histogram_quantile(0.5, sum by (le) (rate(lat_bucket[5m])))");
    assert_eq!(q.len(), 1);
    assert!((q[0].1 - 0.3).abs() < 1e-12, "{q:?}");
}

#[test]
fn unsupported_and_bad_queries_name_what_and_where() {
    let err = |q: &str| query_instant(&db(), q, T, Limits::default()).err();
    let e = err("sum(stddev_over_time(temp[5m]))");
    assert_eq!(
        e.map(|e| (e.error_type, e.message)),
        Some((
            "bad_data",
            "function stddev_over_time at position 4 is not supported by Sextant (see docs/promql.md)"
                .to_string()
        ))
    );
    assert!(err("sum(").is_some_and(|e| e.status() == 400));
    assert!(err("sum(up and up)").is_some_and(|e| e.message.contains("set operator and")));
    assert!(err("rate(up[5m:1m])").is_some_and(|e| e.message.contains("subqueries")));
}

#[test]
fn range_queries_sample_each_step() -> Result<(), PromError> {
    let m = query_range(&db(), "temp", T - 2 * STEP, T, STEP, Limits::default())?;
    let QueryData::Matrix(series) = m else {
        return Err(PromError::bad_data("not a matrix".into()));
    };
    let t = (T / STEP) as f64 * 60.0;
    assert_eq!(
        series[0].values,
        vec![(T - 2 * STEP, t - 120.0), (T - STEP, t - 60.0), (T, t)]
    );
    // An output time between steps reads the step interval ending before it.
    let m = query_range(&db(), "temp", T + 1000, T + 1000, 1000, Limits::default())?;
    assert!(matches!(m, QueryData::Matrix(s) if s[0].values == vec![(T + 1000, t)]));
    assert!(query_range(&db(), "temp", T, T - 1, STEP, Limits::default()).is_err());
    // A range longer than 11 000 steps is evaluated on the requested step, consolidated:
    // the average of the four values of each 4-minute step.
    let end = T / (4 * STEP) * (4 * STEP);
    let m = query_range(
        &db(),
        "temp",
        end - 20_000 * STEP,
        end,
        4 * STEP,
        Limits::default(),
    )?;
    let QueryData::Matrix(series) = m else {
        return Err(PromError::bad_data("not a matrix".into()));
    };
    assert_eq!(series[0].values.len(), 5_001);
    let v = (end / STEP) as f64 * 60.0;
    assert_eq!(series[0].values[5_000], (end, v - 90.0));
    assert!(query_range(&db(), "temp", 0, T, 1, Limits::default()).is_err());
    Ok(())
}

#[test]
fn metadata_endpoints() -> Result<(), PromError> {
    let l = Limits::default();
    let names = label_names(&db(), &[], T - STEP, T, l)?;
    assert_eq!(names, ["__name__", "instance", "job", "le"]);
    let v = label_values(&db(), "instance", &["up".to_string()], T - STEP, T, l)?;
    assert_eq!(v, ["a:1", "b:1"]);
    let s = series(
        &db(),
        &[r#"up{instance="a:1"}"#.to_string()],
        T - STEP,
        T,
        l,
    )?;
    assert_eq!(
        s,
        vec![labels(&[
            ("__name__", "up"),
            ("instance", "a:1"),
            ("job", "node")
        ])]
    );
    assert!(series(&db(), &["rate(up[1m])".to_string()], 0, T, l).is_err());
    Ok(())
}

#[test]
fn histogram_quantile_on_spectator_buckets_is_atlas_percentiles() -> Result<(), PromError> {
    let mut db = StaticDatabase::new(STEP);
    for (bucket, rate) in [("T0064", 5.0), ("T0083", 5.0)] {
        db.push_fn(
            [
                ("name", "rpc"),
                ("statistic", "percentile"),
                ("percentile", bucket),
                ("nf.app", "www"),
            ],
            move |_| rate,
        );
    }
    let QueryData::Vector(got) = query_instant(
        &db,
        r#"histogram_quantile(0.9, sum by ("nf.app") (rate(rpc[1m])))"#,
        T,
        Limits::default(),
    )?
    else {
        return Err(PromError::bad_data("not a vector".into()));
    };
    let exprs = sextant_query::parse("name,rpc,:eq,(,nf.app,),:by,(,90,),:percentiles")
        .map_err(|e| PromError::bad_data(e.to_string()))?;
    let ctx = sextant_query::EvalContext::new(T, T + STEP, STEP);
    let lines = sextant_query::evaluate(&exprs, &ctx, &db)
        .map_err(|e| PromError::bad_data(e.to_string()))?;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].metric, labels(&[("nf.app", "www")]));
    assert_eq!(Some(got[0].value), lines[0].series.values.first().copied());
    Ok(())
}

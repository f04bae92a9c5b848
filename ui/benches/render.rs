//! Chart rendering speed: `cargo bench -p sextant-ui --bench render`.
//! Goal: a 700x300 PNG with 10 lines of 180 points in at most 10 ms.

use criterion::{criterion_group, criterion_main, Criterion};
use sextant_query::{
    evaluate, parse, testing::StaticDatabase, EvalContext, GraphLine, GraphParams, GraphSettings,
    TimeWindow,
};

const T0: i64 = 1_325_376_000_000;
const MINUTE: i64 = 60_000;

fn chart(points: usize, lines: usize, range: &str) -> (GraphParams, Vec<GraphLine>) {
    let mut db = StaticDatabase::new(MINUTE);
    for l in 0..lines {
        let node = format!("i-{l:03}");
        let values = (0..points)
            .map(|i| 50.0 + 40.0 * ((i as f64 / 20.0) + l as f64).sin() + (i * 7 % 13) as f64)
            .collect();
        db.push([("name", "cpu"), ("nf.node", node.as_str())], T0, values);
    }
    let end = T0 + points as i64 * MINUTE;
    let pairs: Vec<(String, String)> = [
        ("q", "name,cpu,:eq,(,nf.node,),:by"),
        ("s", range),
        ("e", &end.to_string()),
        ("step", "1m"),
        ("tz", "UTC"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut params =
        GraphParams::parse(&pairs, &GraphSettings::default(), end).expect("valid parameters");
    // The graph API picks a coarser step for wide ranges on 700 px; force one point per
    // minute to measure the downsampling path with a full day of 1-minute data.
    params.window = TimeWindow::align(end - points as i64 * MINUTE, end, MINUTE).expect("aligns");
    let w = params.window;
    let exprs = parse(&params.q).expect("valid query");
    let lines =
        evaluate(&exprs, &EvalContext::new(w.start, w.end, w.step), &db).expect("evaluates");
    (params, lines)
}

fn render(c: &mut Criterion) {
    let (p, l) = chart(180, 10, "e-3h");
    assert_eq!(l.len(), 10);
    c.bench_function("png 700x300, 10 lines x 180 points", |b| {
        b.iter(|| sextant_ui::render_png(&p, &l).expect("renders"))
    });
    c.bench_function("svg 700x300, 10 lines x 180 points", |b| {
        b.iter(|| sextant_ui::render_svg(&p, &l).expect("renders"))
    });
    // Text-heavy: 50 legend entries with stats, all rasterised by `glyphs.rs`.
    let (p, l) = chart(180, 50, "e-3h");
    assert_eq!(l.len(), 50);
    c.bench_function("png 700x300, 50 lines with legend stats", |b| {
        b.iter(|| sextant_ui::render_png(&p, &l).expect("renders"))
    });
    let (p, l) = chart(1440, 5, "e-1d");
    assert!(p.window.len() >= 1440, "{}", p.window.len());
    c.bench_function("png 700x300, 5 lines x 1440 points", |b| {
        b.iter(|| sextant_ui::render_png(&p, &l).expect("renders"))
    });
}

criterion_group!(benches, render);
criterion_main!(benches);

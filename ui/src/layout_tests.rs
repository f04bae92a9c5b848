//! Tests of the chart layout for the defects of issue 16: colors across axes, padding at
//! automatic bounds, labels and image size at extreme magnitudes, legend units, and
//! fixed-size layouts.

use sextant_query::testing::StaticDatabase;
use sextant_query::{evaluate, parse, EvalContext, GraphLine, GraphParams, GraphSettings};

use crate::chart::{build, stat_cells, Chart, LegendRow};

const MINUTE: i64 = 60_000;

/// Lays out `q` over the first ten minutes of `db`, with the extra URL parameters.
fn layout<'a>(
    db: &StaticDatabase,
    q: &str,
    extra: &[(&str, &str)],
    lines: &'a mut Vec<GraphLine>,
) -> Chart<'a> {
    let pairs: Vec<(String, String)> = [
        ("q", q),
        ("s", "1970-01-01T00:00"),
        ("e", "1970-01-01T00:10"),
        ("tz", "UTC"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let params = GraphParams::parse(&pairs, &GraphSettings::default(), 600_000)
        .unwrap_or_else(|e| panic!("parameters: {e}"));
    let w = params.window;
    let exprs = parse(&params.q).unwrap_or_else(|e| panic!("query: {e}"));
    *lines = evaluate(&exprs, &EvalContext::new(w.start, w.end, w.step), db)
        .unwrap_or_else(|e| panic!("eval: {e}"));
    build(&params, lines)
}

fn db() -> StaticDatabase {
    let mut db = StaticDatabase::new(MINUTE);
    let ramp = |base: f64| (0..10).map(|i| base + i as f64).collect::<Vec<_>>();
    for (name, base) in [("a", 10.0), ("b", 20.0), ("c", 30.0), ("d", 40.0)] {
        db.push([("name", name)], 0, ramp(base));
    }
    db.push(
        [("name", "huge")],
        0,
        (0..10).map(|i| 10f64.powi(290 + i)).collect(),
    );
    db.push(
        [("name", "tiny")],
        0,
        (0..10).map(|i| -1e-20 * f64::from(i + 1)).collect(),
    );
    // Latencies in seconds, 25 ms to 250 ms (the first is before the window).
    db.push(
        [("name", "latency")],
        0,
        (0..10).map(|i| 0.025 * f64::from(i + 1)).collect(),
    );
    db
}

#[test]
fn lines_on_different_axes_get_different_colors() {
    let mut lines = Vec::new();
    let q = "name,a,:eq,name,b,:eq,name,c,:eq,1,:axis,name,d,:eq,1,:axis";
    let chart = layout(&db(), q, &[], &mut lines);
    let mut colors: Vec<_> = chart.lines.iter().map(|l| l.color).collect();
    colors.sort_by_key(|c| (c.r, c.g, c.b));
    colors.dedup();
    assert_eq!(colors.len(), 4, "every line its own color");
    assert_ne!(chart.axes[0].color, chart.axes[1].color, "axes told apart");
    // Each axis takes its first line's color, as Atlas does.
    assert_eq!(chart.axes[1].color, chart.lines[2].color);
    // An axis with its own palette starts that palette over.
    let chart = layout(&db(), q, &[("palette.1", "reds")], &mut lines);
    assert_eq!(chart.lines[2].color, crate::Rgba::rgb(0x67000d));
    assert_ne!(chart.lines[0].color, chart.lines[2].color);
}

#[test]
fn automatic_bounds_keep_lines_off_the_frame() {
    let mut lines = Vec::new();
    let chart = layout(&db(), "name,a,:eq", &[], &mut lines);
    let (_, cy, _, ch) = chart.canvas;
    let r = chart.axes[0].range;
    let (lo, hi) = (chart.y(0, r.min), chart.y(0, r.max));
    assert!(
        lo <= cy + ch - 3.0,
        "minimum at row {lo}, frame at {}",
        cy + ch
    );
    assert!(hi >= cy + 3.0, "maximum at row {hi}, frame at {cy}");
    // Explicit bounds are honoured to the pixel.
    let chart = layout(&db(), "name,a,:eq", &[("l", "10"), ("u", "18")], &mut lines);
    let (_, cy, _, ch) = chart.canvas;
    assert_eq!(chart.y(0, 10.0), cy + ch);
    assert_eq!(chart.y(0, 18.0), cy);
    // An area fills down to the frame at 0.
    let chart = layout(&db(), "name,a,:eq,:area", &[], &mut lines);
    let (_, cy, _, ch) = chart.canvas;
    assert_eq!(chart.y(0, 0.0), cy + ch);
}

#[test]
fn extreme_values_keep_labels_short_and_the_image_size() {
    let mut lines = Vec::new();
    let normal = layout(&db(), "name,a,:eq", &[], &mut lines);
    let (w, h) = (normal.width, normal.height);
    for (q, extra) in [
        ("name,huge,:eq", vec![("scale", "log")]),
        ("name,huge,:eq", vec![]),
        ("name,tiny,:eq", vec![]),
        ("name,huge,:eq,:neg", vec![("scale", "log")]),
    ] {
        let mut lines = Vec::new();
        let chart = layout(&db(), q, &extra, &mut lines);
        assert_eq!((chart.width, chart.height), (w, h), "{q} {extra:?}");
        let labels = &chart.axes[0].labels;
        assert!(!labels.is_empty(), "{q}: no ticks");
        for l in labels {
            assert!(l.chars().count() <= 8, "{q} {extra:?}: label {l:?}");
        }
        for row in &chart.legend {
            if let LegendRow::Stats(s, mode) = row {
                for cell in stat_cells(s, *mode) {
                    assert!(cell.chars().count() <= 16, "{q}: legend {cell:?}");
                }
            }
        }
    }
}

#[test]
fn legend_stats_use_the_axis_units() {
    let mut lines = Vec::new();
    let chart = layout(
        &db(),
        "name,latency,:eq",
        &[("tick_labels", "duration")],
        &mut lines,
    );
    assert!(
        chart.axes[0].labels.iter().all(|l| l.ends_with("ms")),
        "{:?}",
        chart.axes[0].labels
    );
    let cells: Vec<String> = chart
        .legend
        .iter()
        .filter_map(|r| match r {
            LegendRow::Stats(s, mode) => Some(stat_cells(s, *mode)),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        cells,
        ["Max: 250ms", "Min: 50.0ms", "Avg: 150ms", "Last: 250ms"]
    );
    let chart = layout(
        &db(),
        "name,a,:eq,1024,:mul",
        &[("tick_labels", "binary")],
        &mut lines,
    );
    let cells: Vec<String> = chart
        .legend
        .iter()
        .filter_map(|r| match r {
            LegendRow::Stats(s, mode) => Some(stat_cells(s, *mode)),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(cells[0], "Max: 19.0Ki");
}

#[test]
fn fixed_layouts_are_exactly_the_asked_size() {
    let q = "name,(,a,b,c,d,),:in,(,name,),:by,name,d,:eq,1,:axis";
    for (layout_name, w, h) in [
        ("image", 300, 150),
        ("image", 700, 300),
        ("image", 50, 40),
        ("iw", 120, 100),
        ("ih", 400, 90),
    ] {
        let mut lines = Vec::new();
        let (ws, hs) = (w.to_string(), h.to_string());
        let extra = [
            ("layout", layout_name),
            ("w", ws.as_str()),
            ("h", hs.as_str()),
            ("ylabel", "percent"),
        ];
        let chart = layout(&db(), q, &extra, &mut lines);
        if layout_name != "ih" {
            assert_eq!(chart.width, w, "{layout_name} {w}x{h}");
        }
        if layout_name != "iw" {
            assert_eq!(chart.height, h, "{layout_name} {w}x{h}");
        }
    }
}

#[test]
fn long_labels_are_cut_to_fit() {
    let long = "nf.app=www,".repeat(10_000);
    let cut = crate::chart::fit(&long, 11.0, 200.0);
    assert!(cut.ends_with('…'), "{cut}");
    assert!(crate::chart::text_width(&cut, 11.0) <= 200.0);
    assert!(cut.chars().count() > 20, "{cut}");
}

//! Golden-image tests: charts rendered from fixed data are compared with the PNGs under
//! `tests/golden/`, allowing a small per-pixel difference.
//!
//! After an intended change in rendering, regenerate them and look at the diff:
//!
//! ```text
//! SEXTANT_BLESS=1 cargo test -p sextant-ui --test golden
//! ```
//!
//! A failing comparison writes the actual image next to the golden one as
//! `<name>.actual.png` (ignored by git) so it can be inspected.

use std::path::PathBuf;

use sextant_query::{
    evaluate, parse, testing::StaticDatabase, EvalContext, GraphLine, GraphParams, GraphSettings,
    Theme,
};

/// 2012-01-01T00:00Z, the epoch of Atlas's own test data.
const T0: i64 = 1_325_376_000_000;
const MINUTE: i64 = 60_000;
/// Per-channel difference ignored, for rounding differences across compilers.
const CHANNEL_TOLERANCE: u8 = 8;
/// Share of pixels that may differ by more than that.
const PIXEL_TOLERANCE: f64 = 0.002;

fn db() -> StaticDatabase {
    let mut db = StaticDatabase::new(MINUTE);
    let n = 180;
    let wave = |phase: f64, amp: f64, base: f64| -> Vec<f64> {
        (0..n)
            .map(|i| base + amp * ((i as f64 / 15.0) + phase).sin())
            .collect()
    };
    let mut www = wave(0.0, 20.0, 50.0);
    for v in &mut www[60..70] {
        *v = f64::NAN;
    }
    db.push([("name", "cpu"), ("nf.app", "www")], T0, www);
    db.push(
        [("name", "cpu"), ("nf.app", "api")],
        T0,
        wave(1.0, 10.0, 30.0),
    );
    db.push(
        [("name", "cpu"), ("nf.app", "db")],
        T0,
        wave(2.0, 5.0, 10.0),
    );
    db.push(
        [("name", "requests"), ("nf.app", "www")],
        T0,
        (0..n).map(|i| 1000.0 * 1.05f64.powi(i % 90)).collect(),
    );
    // A latency timer's percentile buckets: counts peaking at a bucket that drifts up over
    // the three hours, as `:percentiles-heatmap` sees them.
    let centre = sextant_query::bucket_index(40_000_000);
    for b in centre - 8..centre + 8 {
        let values = (0..n)
            .map(|i| {
                let peak = centre as f64 - 3.0 + 6.0 * i as f64 / n as f64;
                let d = b as f64 - peak;
                (100.0 * (-d * d / 8.0).exp()).round()
            })
            .collect();
        let label = format!("T{b:04X}");
        db.push(
            [("name", "latency"), ("percentile", label.as_str())],
            T0,
            values,
        );
    }
    db
}

fn chart(query: &str, extra: &[(&str, &str)]) -> (GraphParams, Vec<GraphLine>) {
    let mut pairs: Vec<(String, String)> = [
        ("q", query),
        ("s", "2012-01-01T00:00"),
        ("e", "2012-01-01T03:00"),
        ("tz", "UTC"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    pairs.dedup_by(|a, b| a.0 == b.0 && a.0 != "tz");
    let params = GraphParams::parse(&pairs, &GraphSettings::default(), T0 + 3 * 3_600_000)
        .expect("test parameters are valid");
    let w = params.window;
    let exprs = parse(&params.q).expect("test query parses");
    let lines = evaluate(&exprs, &EvalContext::new(w.start, w.end, w.step), &db())
        .expect("test query evaluates");
    (params, lines)
}

fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(bytes);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn check(name: &str, png: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let path = dir.join(format!("{name}.png"));
    if std::env::var_os("SEXTANT_BLESS").is_some() {
        std::fs::create_dir_all(&dir).expect("golden dir");
        std::fs::write(&path, png).expect("write golden");
        return;
    }
    let golden = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}); run SEXTANT_BLESS=1 cargo test -p sextant-ui --test golden",
            path.display()
        )
    });
    let (gw, gh, g) = decode(&golden);
    let (aw, ah, a) = decode(png);
    let actual = dir.join(format!("{name}.actual.png"));
    if (gw, gh) != (aw, ah) {
        std::fs::write(&actual, png).expect("write actual");
        panic!(
            "{name}: size {aw}x{ah}, golden {gw}x{gh}; see {}",
            actual.display()
        );
    }
    let pixels = (aw * ah) as usize;
    let channels = a.len() / pixels.max(1);
    let differing = a
        .chunks(channels)
        .zip(g.chunks(channels))
        .filter(|(x, y)| {
            x.iter()
                .zip(*y)
                .any(|(p, q)| p.abs_diff(*q) > CHANNEL_TOLERANCE)
        })
        .count();
    if differing as f64 > pixels as f64 * PIXEL_TOLERANCE {
        std::fs::write(&actual, png).expect("write actual");
        panic!(
            "{name}: {differing} of {pixels} pixels differ; see {} (bless if intended)",
            actual.display()
        );
    }
    let _ = std::fs::remove_file(actual);
}

#[test]
fn lines_with_gap_and_legend() {
    let (p, l) = chart(
        "name,cpu,:eq,(,nf.app,),:by,$nf.app,:legend",
        &[("title", "CPU by app")],
    );
    check("lines", &sextant_ui::render_png(&p, &l).expect("renders"));
}

#[test]
fn percentile_heatmap_under_percentile_lines() {
    let (p, l) = chart(
        "name,latency,:eq,:percentiles-heatmap,name,latency,:eq,(,50,99,),:percentiles",
        &[("title", "latency distribution")],
    );
    check("heatmap", &sextant_ui::render_png(&p, &l).expect("renders"));
}

#[test]
fn stack_and_area_dark_theme() {
    let (p, l) = chart(
        "name,cpu,:eq,(,nf.app,),:by,:stack,name,cpu,:eq,:max,:area,40,:alpha",
        &[("theme", "dark"), ("ylabel", "percent")],
    );
    check(
        "stack_dark",
        &sextant_ui::render_png(&p, &l).expect("renders"),
    );
}

#[test]
fn multi_axis_log_vspan_and_two_zones() {
    let (p, l) = chart(
        "name,cpu,:eq,:sum,:dup,100,:gt,:vspan,40,:alpha,busy,:legend,:swap,f00,:color,2,:lw,\
         name,requests,:eq,:sum,1,:axis",
        &[
            ("scale.1", "log"),
            ("tz", "US/Pacific"),
            ("l", "0"),
            ("ylabel.1", "req/s"),
        ],
    );
    check(
        "multi_axis",
        &sextant_ui::render_png(&p, &l).expect("renders"),
    );
}

#[test]
fn no_data_with_warning() {
    let (mut p, l) = chart("name,nothing,:eq,:sum", &[("w", "400"), ("h", "150")]);
    p.warnings.push("Restricted width to 2000.".to_string());
    check("no_data", &sextant_ui::render_png(&p, &l).expect("renders"));
}

#[test]
fn error_image() {
    let png = sextant_ui::render_error_png(
        "unknown word ':foo' at 12: check the spelling of the operator",
        400,
        150,
        Theme::Light,
    )
    .expect("renders");
    check("error", &png);
}

#[test]
fn svg_has_the_same_elements() {
    let (p, l) = chart("name,cpu,:eq,(,nf.app,),:by", &[]);
    let svg = sextant_ui::render_svg(&p, &l).expect("renders");
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    for text in ["www", "Max: ", "UTC", "Frame: 3h"] {
        assert!(svg.contains(text), "svg lacks {text}");
    }
}

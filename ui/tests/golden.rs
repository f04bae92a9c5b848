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
    // Magnitudes past every unit prefix: 1e250 up to about 1e300, and -1e-20 down.
    db.push(
        [("name", "huge")],
        T0,
        (0..n).map(|i| 10f64.powf(250.0 + i as f64 / 3.6)).collect(),
    );
    db.push(
        [("name", "tiny")],
        T0,
        (0..n)
            .map(|i| -1e-20 * (2.0 + ((i as f64) / 20.0).sin()))
            .collect(),
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
        "name,cpu,:eq,:sum,:dup,100,:gt,:vspan,40,:alpha,busy,:legend,:swap,000,:color,2,:lw,\
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

/// Issue 16: with `:axis` every line had the first palette color. Lines on three axes,
/// several per axis, each take the next color of one palette; each axis its first line's.
#[test]
fn lines_on_three_axes_each_in_their_own_color() {
    let (p, l) = chart(
        "name,cpu,:eq,(,nf.app,),:by,$nf.app,:legend,\
         name,requests,:eq,:sum,1,:axis,requests,:legend,\
         name,cpu,:eq,:sum,2,:axis,sum,:legend,name,cpu,:eq,:avg,2,:axis,avg,:legend",
        &[
            ("ylabel", "cpu"),
            ("ylabel.1", "req/s"),
            ("ylabel.2", "cpu sum/avg"),
        ],
    );
    check(
        "axes_colors",
        &sextant_ui::render_png(&p, &l).expect("renders"),
    );
}

/// Issue 16: `tick_labels=duration` showed `250ms` on the axis but `41.9m` in the legend,
/// and the p50 line at its minimum merged with the frame (no padding at automatic bounds).
#[test]
fn percentiles_on_a_duration_axis() {
    let (p, l) = chart(
        "name,latency,:eq,(,50,99,),:percentiles",
        &[
            ("tick_labels", "duration"),
            ("title", "latency percentiles"),
        ],
    );
    check(
        "duration_percentiles",
        &sextant_ui::render_png(&p, &l).expect("renders"),
    );
}

/// Issue 16: near 1e300 on a log axis the tick labels were 300 digits long and the image
/// 2381 px wide; past `P` and `p` values read `1225000P` and `-0.00p`.
#[test]
fn extreme_magnitudes_keep_short_labels_and_the_size() {
    let (p, l) = chart(
        "name,huge,:eq,:sum,name,tiny,:eq,:sum,1,:axis",
        &[
            ("scale", "log"),
            ("scale.1", "linear"),
            ("title", "extremes"),
        ],
    );
    let png = sextant_ui::render_png(&p, &l).expect("renders");
    let (normal, _) = chart("name,cpu,:eq,:sum,name,cpu,:eq,:sum,1,:axis", &[]);
    let baseline = sextant_ui::render_png(&normal, &l).expect("renders");
    // Same parameters but the data and title: the same width.
    assert_eq!(decode(&png).0, decode(&baseline).0);
    check("extremes", &png);
}

/// Issue 16: the dark theme must cover the whole image, legend and margins included, not
/// just the canvas: no pixel of the light theme's background remains, and the margins
/// are the dark background.
#[test]
fn dark_theme_covers_the_whole_image() {
    let (p, l) = chart(
        "name,cpu,:eq,(,nf.app,),:by",
        &[("theme", "dark"), ("title", "dark")],
    );
    let (w, h, px) = decode(&sextant_ui::render_png(&p, &l).expect("renders"));
    let at = |x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        [px[i], px[i + 1], px[i + 2]]
    };
    // Light pixels are text only: a few percent, where a light background is most.
    let light = px.chunks(3).filter(|c| c.iter().all(|v| *v > 0xe0)).count();
    assert!(
        light * 100 < (w * h) as usize * 3,
        "{light} light pixels of {}",
        w * h
    );
    // The margins left and right of every row, and the bottom row, are the background.
    for y in 0..h {
        assert_eq!(at(0, y), [0x0a, 0x0a, 0x0a], "left margin at row {y}");
        assert_eq!(at(w - 1, y), [0x0a, 0x0a, 0x0a], "right margin at row {y}");
    }
    for x in 0..w {
        assert_eq!(at(x, h - 1), [0x0a, 0x0a, 0x0a], "bottom row at {x}");
    }
    let error = sextant_ui::render_error_png("bad", 300, 100, Theme::Dark).expect("renders");
    let (ew, eh, epx) = decode(&error);
    let i = (((eh - 1) * ew + ew - 1) * 3) as usize;
    assert_eq!(
        &epx[i..i + 3],
        &[0x0a, 0x0a, 0x0a],
        "error image background"
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

/// The lowest inked row of each glyph (run of inked columns) in the rows `rows` of an
/// RGB image, left to right; "inked" is darker than mid-grey.
fn glyph_bottoms(png: &[u8], rows: std::ops::Range<u32>) -> Vec<u32> {
    let (w, _, px) = decode(png);
    let dark = |x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        px[i..i + 3].iter().map(|&c| u32::from(c)).sum::<u32>() < 3 * 100
    };
    let mut bottoms = Vec::new();
    let mut run: Option<u32> = None;
    for x in 0..w {
        let lowest = rows.clone().filter(|&y| dark(x, y)).max();
        run = match (run, lowest) {
            (Some(b), Some(l)) => Some(b.max(l)),
            (None, Some(l)) => Some(l),
            (Some(b), None) => {
                bottoms.push(b);
                None
            }
            (None, None) => None,
        };
    }
    bottoms.extend(run);
    bottoms
}

/// Issue 16: plotters' bitmap text put `.`, `:` and `=` a pixel above the digits at odd
/// sizes (`10'00`). Every glyph of a line of digits and punctuation must end on one row.
#[test]
fn punctuation_sits_on_the_digits_baseline() {
    for text in ["0.0:0.0,00:00", "32.8 10:00 1.5"] {
        // The message line of an error image: 11 px DejaVu Sans on a plain background.
        let png = sextant_ui::render_error_png(text, 400, 100, Theme::Light).expect("renders");
        let bottoms = glyph_bottoms(&png, 30..50);
        assert!(bottoms.len() >= 8, "{text}: glyphs found {bottoms:?}");
        // `,` descends below the baseline by design; everything else ends on it.
        let baseline = *bottoms.iter().min().expect("glyphs");
        let off: Vec<_> = bottoms.iter().filter(|b| **b != baseline).collect();
        assert!(
            off.len() <= text.matches(',').count(),
            "{text}: glyph bottoms {bottoms:?}"
        );
    }
}

//! Graph parameters and step selection: ports of Atlas's `StepSuite` and the `GraphConfig`
//! alignment rules, plus one test per parameter error.

use chrono::{TimeZone, Utc};
use sextant_query::{
    round_to_step_boundary, Features, GraphParams, GraphSettings, Layout, OutputFormat, ParamError,
    PlotBound, Scale, SortBy, SortOrder, StepSizes, Theme, TickLabelMode, TimeError, TimeWindow,
    VisionType,
};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .timestamp_millis()
}

/// 2012-01-01T09:00Z, the end used by the atlas-docs output examples.
fn now() -> i64 {
    ms(2012, 1, 1, 9, 0)
}

fn pairs(kv: &[(&str, &str)]) -> Vec<(String, String)> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(kv: &[(&str, &str)]) -> Result<GraphParams, ParamError> {
    let mut all = vec![("q", "name,cpu,:eq")];
    all.extend_from_slice(kv);
    GraphParams::parse(&pairs(&all), &GraphSettings::default(), now())
}

fn ok(kv: &[(&str, &str)]) -> GraphParams {
    parse(kv).unwrap_or_else(|e| panic!("{kv:?}: {e}"))
}

fn err(kv: &[(&str, &str)]) -> String {
    match parse(kv) {
        Ok(p) => panic!("{kv:?} parsed: {p:?}"),
        Err(e) => e.to_string(),
    }
}

// --- StepSuite -------------------------------------------------------------------------------

#[test]
fn round_sub_second_step_sizes() {
    let one_hour = StepSizes::for_block_step(HOUR);
    for (step, expected) in [
        (1, 1),
        (2, 5),
        (6, 10),
        (20, 50),
        (60, 100),
        (200, 500),
        (600, 1000),
    ] {
        assert_eq!(one_hour.round(1, step), expected, "{step}");
    }
}

#[test]
fn round_allows_any_number_of_days() {
    let one_hour = StepSizes::for_block_step(HOUR);
    for i in 1..500 {
        assert_eq!(one_hour.round(MINUTE, i * DAY), i * DAY);
    }
}

#[test]
fn round_up_to_a_day_or_the_next_day() {
    let one_hour = StepSizes::for_block_step(HOUR);
    assert_eq!(one_hour.round(MINUTE, DAY / 2 + 1), DAY);
    assert_eq!(one_hour.round(MINUTE, 2 * DAY + 1), 3 * DAY);
}

#[test]
fn round_only_steps_that_divide_the_block() {
    let ten_minutes = StepSizes::for_block_step(10 * MINUTE);
    let primary = 5_000;
    for (step, expected) in [(1, 1), (2, 2), (3, 5), (4, 5), (5, 5), (6, 10)] {
        assert_eq!(
            ten_minutes.round(primary, step * MINUTE),
            expected * MINUTE,
            "{step}m"
        );
    }
}

#[test]
fn round_only_steps_that_are_multiples_of_the_block() {
    let ten_minutes = StepSizes::for_block_step(10 * MINUTE);
    assert_eq!(ten_minutes.round(5_000, 15 * MINUTE), 20 * MINUTE);
}

#[test]
fn round_never_below_primary() {
    assert_eq!(StepSizes::default().round(MINUTE, 10_000), MINUTE);
}

#[test]
fn compute_allows_any_number_of_days() {
    let one_hour = StepSizes::for_block_step(HOUR);
    for i in 1..500 {
        assert_eq!(one_hour.compute(MINUTE, 1, 0, i * DAY), i * DAY);
    }
}

#[test]
fn compute_rounds_less_than_a_day() {
    let e = ms(2017, 6, 27, 0, 0);
    let s = e - 12 * 30 * DAY;
    assert_eq!(
        StepSizes::for_block_step(HOUR).compute(MINUTE, 430, s, e),
        DAY
    );
}

#[test]
fn compute_window_smaller_than_step_is_not_zero() {
    assert!(StepSizes::for_block_step(HOUR).compute(DAY, 400, 0, HOUR) > 0);
}

#[test]
fn compute_always_positive() {
    let sizes = StepSizes::for_block_step(HOUR);
    for p in [1000, MINUTE, HOUR, DAY] {
        for w in [1, 10, 400, 1500] {
            for win in [0, 1, HOUR, DAY, 400 * DAY] {
                assert!(
                    sizes.compute(p, w, 0, win) > 0,
                    "compute({p}, {w}, 0, {win})"
                );
            }
        }
    }
}

#[test]
fn compute_defaults_from_atlas_md() {
    // 1m primary, w=700: 3h → 1m, 1d → 3m, 1w → 15m.
    let sizes = StepSizes::default();
    assert_eq!(sizes.compute(MINUTE, 700, 0, 3 * HOUR), MINUTE);
    assert_eq!(sizes.compute(MINUTE, 700, 0, DAY), 3 * MINUTE);
    assert_eq!(sizes.compute(MINUTE, 700, 0, 7 * DAY), 15 * MINUTE);
}

#[test]
fn round_to_step_boundary_cases() {
    for (t, e) in [(0, 0), (1, 2), (2, 2), (3, 4), (4, 4)] {
        assert_eq!(round_to_step_boundary(t, 2), e);
    }
    for (t, e) in [
        (0, 0),
        (1, 5_000),
        (2_000, 5_000),
        (5_000, 5_000),
        (11_000, 15_000),
    ] {
        assert_eq!(round_to_step_boundary(t, 5_000), e);
    }
    for (t, e) in [(0, 0), (1, 60_000), (87_123, 120_000)] {
        assert_eq!(round_to_step_boundary(t, 60_000), e);
    }
}

// --- Alignment (GraphConfig) -----------------------------------------------------------------

#[test]
fn align_example_from_outputs_md() {
    let p = ok(&[("e", "2012-01-01T09:00"), ("s", "e-5m"), ("tz", "UTC")]);
    let w = p.window;
    assert_eq!(w.step, MINUTE);
    assert_eq!(w.start, ms(2012, 1, 1, 8, 56));
    assert_eq!(w.end, ms(2012, 1, 1, 9, 1));
    let times: Vec<i64> = w.timestamps().collect();
    assert_eq!(
        times,
        (56..61)
            .map(|m| ms(2012, 1, 1, 8, 0) + m * MINUTE)
            .collect::<Vec<_>>()
    );
}

#[test]
fn align_floors_both_ends() {
    let w = TimeWindow::align(90_000, 250_000, MINUTE).unwrap();
    assert_eq!((w.start, w.end, w.len()), (120_000, 300_000, 3));
}

#[test]
fn align_widens_an_empty_range_by_one_step() {
    let p = ok(&[("s", "2012-01-01T09:00"), ("e", "2012-01-01T09:00")]);
    assert_eq!(p.window.timestamps().collect::<Vec<_>>(), vec![now()]);
    let w = TimeWindow::align(30_000, 45_000, MINUTE).unwrap();
    assert_eq!((w.start, w.len()), (0, 1));
}

#[test]
fn align_rejects_bad_steps() {
    assert_eq!(TimeWindow::align(0, 1, 0), None);
    assert_eq!(TimeWindow::align(i64::MAX - 1, i64::MAX, 1), None);
}

// --- Step selection through the parameters ---------------------------------------------------

#[test]
fn default_window_is_last_three_hours_at_one_minute() {
    let p = ok(&[]);
    assert_eq!(p.window.step, MINUTE);
    assert_eq!(p.window.len(), 180);
    assert_eq!(p.window.end, now() + MINUTE);
    assert!(p.warnings.is_empty());
}

#[test]
fn step_grows_with_the_range() {
    assert_eq!(ok(&[("s", "e-1d")]).window.step, 3 * MINUTE);
    assert_eq!(ok(&[("s", "e-1w")]).window.step, 15 * MINUTE);
    // Narrower graphs need coarser steps.
    assert_eq!(ok(&[("s", "e-1d"), ("w", "200")]).window.step, 10 * MINUTE);
    // Max datapoints caps what the width can ask for: 1d on 2000px is still 1m.
    assert_eq!(ok(&[("s", "e-1d"), ("w", "2000")]).window.step, MINUTE);
    assert_eq!(ok(&[("s", "e-2d"), ("w", "2000")]).window.step, 2 * MINUTE);
}

#[test]
fn explicit_step_is_honoured() {
    let p = ok(&[("step", "5m")]);
    assert_eq!(p.window.step, 5 * MINUTE);
    assert!(p.warnings.is_empty());
    assert_eq!(ok(&[("step", "PT1H")]).window.step, HOUR);
}

#[test]
fn explicit_step_is_rounded_with_a_notice() {
    let p = ok(&[("step", "7m")]);
    assert_eq!(p.window.step, 10 * MINUTE);
    assert_eq!(p.warnings, vec!["Step 7m was rounded to 10m.".to_string()]);
}

/// A step the server would not honour is refused, naming the smallest it would: never
/// replaced silently by a coarser one.
#[test]
fn explicit_step_too_fine_is_an_error_naming_the_smallest() {
    assert_eq!(
        err(&[("step", "10s")]),
        "invalid value '10s' for parameter 'step': it is finer than the stored step 1m; the \
         smallest step allowed here is 1m"
    );
    let e = err(&[("step", "1m"), ("s", "e-1w")]);
    assert!(
        e.starts_with(
            "invalid value '1m' for parameter 'step': the window would need 10080 datapoints"
        ),
        "{e}"
    );
    assert!(e.ends_with("the smallest step allowed here is 15m"), "{e}");
    assert_eq!(
        ok(&[("step", "15m"), ("s", "e-1w")]).window.step,
        15 * MINUTE
    );
    let e = err(&[("step", "1ms"), ("s", "e-1000y")]);
    assert!(e.contains("smallest step allowed here is 1m"), "{e}");
}

#[test]
fn explicit_step_must_be_a_multiple_of_primary() {
    let settings = GraphSettings {
        primary_step: 5_000,
        ..GraphSettings::default()
    };
    let p = pairs(&[("q", "a"), ("step", "12s"), ("s", "e-5m")]);
    let e = GraphParams::parse(&p, &settings, now()).unwrap_err();
    assert_eq!(
        e,
        ParamError::StepNotMultiple {
            value: "12s".into(),
            rounded_ms: 12_000,
            primary_ms: 5_000
        }
    );
    assert_eq!(
        e.to_string(),
        "invalid value '12s' for parameter 'step': rounds to 12000ms, which is not a multiple of \
         the primary step 5000ms"
    );
    let p = pairs(&[("q", "a"), ("step", "10s"), ("s", "e-5m")]);
    assert_eq!(
        GraphParams::parse(&p, &settings, now())
            .unwrap()
            .window
            .step,
        10_000
    );
}

#[test]
fn bad_step_values() {
    assert_eq!(
        err(&[("step", "fast")]),
        "invalid value 'fast' for parameter 'step': expected a duration such as 1m, 5m or PT1H"
    );
    assert_eq!(
        err(&[("step", "0s")]),
        "invalid value '0s' for parameter 'step': expected a duration of at least 1ms"
    );
    assert!(err(&[("step", "500us")]).contains("at least 1ms"));
}

// --- Time parameters -------------------------------------------------------------------------

#[test]
fn time_range_errors_name_s_and_e() {
    assert_eq!(
        err(&[("s", "e-5m"), ("e", "s+5m")]),
        "invalid time range s='e-5m', e='s+5m': start and end are both relative"
    );
    let e = parse(&[("s", "2012-01-02"), ("e", "2012-01-01")]).unwrap_err();
    assert!(matches!(
        e,
        ParamError::TimeRange {
            source: TimeError::EndBeforeStart,
            ..
        }
    ));
    assert!(err(&[("s", "yesterday")]).contains("unknown time reference 'yesterday'"));
    assert!(err(&[("e", "2012-02-30")]).contains("invalid time '2012-02-30'"));
}

#[test]
fn timezones_repeat_and_the_first_is_primary() {
    let p = ok(&[
        ("tz", "US/Pacific"),
        ("tz", "UTC"),
        ("e", "2012-01-01T01:00"),
        ("s", "e-1h"),
    ]);
    assert_eq!(p.timezones, vec![chrono_tz::US::Pacific, chrono_tz::UTC]);
    assert_eq!(p.primary_timezone(), chrono_tz::US::Pacific);
    // Zone-less times are read in the primary zone: 01:00 PST is 09:00Z.
    assert_eq!(p.window.end, ms(2012, 1, 1, 9, 0) + MINUTE);
}

#[test]
fn default_timezone_is_utc() {
    assert_eq!(ok(&[]).timezones, vec![chrono_tz::UTC]);
}

#[test]
fn bad_timezone() {
    assert_eq!(
        err(&[("tz", "Moon/Base")]),
        "invalid value 'Moon/Base' for parameter 'tz': expected an IANA time zone name such as \
         UTC or US/Pacific"
    );
}

// --- Other parameters ------------------------------------------------------------------------

#[test]
fn missing_q() {
    let e = GraphParams::parse(&pairs(&[("s", "e-1h")]), &GraphSettings::default(), now());
    assert_eq!(e.unwrap_err().to_string(), "missing required parameter 'q'");
}

#[test]
fn defaults() {
    let p = ok(&[]);
    assert_eq!(p.q, "name,cpu,:eq");
    assert_eq!(p.cq, None);
    assert_eq!(p.format, OutputFormat::Png);
    assert_eq!((p.width, p.height, p.zoom), (700, 300, 1.0));
    assert_eq!(p.layout, Layout::Canvas);
    assert_eq!(p.theme, Theme::Light);
    assert_eq!(p.palette, "armytage");
    assert_eq!(p.vision, VisionType::Normal);
    assert_eq!(p.features, Features::Stable);
    assert_eq!(p.id, "default");
    assert!(p.show_legend && p.show_legend_stats && !p.only_graph && !p.axis_per_line);
    assert!(p.hints.is_empty());
    assert_eq!(p.title, None);
    for axis in &p.axes {
        assert_eq!(axis.scale, Scale::Linear);
        assert_eq!(
            (axis.upper, axis.lower),
            (PlotBound::AutoStyle, PlotBound::AutoStyle)
        );
        assert_eq!(axis.tick_labels, TickLabelMode::Decimal);
        assert_eq!((axis.sort, axis.order), (None, SortOrder::Asc));
    }
}

#[test]
fn formats() {
    for (name, f, ct) in [
        ("png", OutputFormat::Png, "image/png"),
        ("svg", OutputFormat::Svg, "image/svg+xml"),
        ("csv", OutputFormat::Csv, "text/csv"),
        ("txt", OutputFormat::Txt, "text/plain"),
        ("json", OutputFormat::Json, "application/json"),
        ("std.json", OutputFormat::StdJson, "application/json"),
        ("stats.json", OutputFormat::StatsJson, "application/json"),
    ] {
        let p = ok(&[("format", name)]);
        assert_eq!(p.format, f);
        assert_eq!(f.name(), name);
        assert_eq!(f.content_type(), ct);
    }
    assert_eq!(
        err(&[("format", "gif")]),
        "invalid value 'gif' for parameter 'format': expected one of png, svg, csv, txt, json, \
         std.json, stats.json"
    );
}

#[test]
fn width_and_height() {
    let p = ok(&[("w", "400"), ("h", "200")]);
    assert_eq!((p.width, p.height), (400, 200));
    for (k, v) in [
        ("w", "0"),
        ("w", "-5"),
        ("w", "wide"),
        ("h", "0"),
        ("h", "1.5"),
        ("h", ""),
    ] {
        assert_eq!(
            err(&[(k, v)]),
            format!("invalid value '{v}' for parameter '{k}': expected a positive integer")
        );
    }
}

#[test]
fn width_height_and_zoom_are_clamped_with_notices() {
    let p = ok(&[("w", "5000"), ("h", "3000"), ("zoom", "3")]);
    assert_eq!((p.width, p.height, p.zoom), (2000, 1000, 2.0));
    assert_eq!(
        p.warnings,
        vec![
            "Restricted graph width to 2000.".to_string(),
            "Restricted graph height to 1000.".to_string(),
            "Restricted zoom to 2.0.".to_string(),
        ]
    );
}

#[test]
fn zoom() {
    assert_eq!(ok(&[("zoom", "1.5")]).zoom, 1.5);
    for v in ["0", "-1", "big", "NaN", "inf"] {
        assert_eq!(
            err(&[("zoom", v)]),
            format!("invalid value '{v}' for parameter 'zoom': expected a positive number")
        );
    }
}

#[test]
fn layout_values() {
    for (v, l) in [
        ("canvas", Layout::Canvas),
        ("image", Layout::Image),
        ("iw", Layout::ImageWidth),
        ("ih", Layout::ImageHeight),
    ] {
        assert_eq!(ok(&[("layout", v)]).layout, l);
    }
    assert_eq!(
        err(&[("layout", "full")]),
        "invalid value 'full' for parameter 'layout': expected one of canvas, image, iw, ih"
    );
}

#[test]
fn theme_and_palette() {
    let p = ok(&[("theme", "dark")]);
    assert_eq!((p.theme, p.palette.as_str()), (Theme::Dark, "light24"));
    assert_eq!(p.theme.offset_palette(), "lightgray");
    assert_eq!(ok(&[("palette", "blues")]).palette, "blues");
    assert_eq!(
        err(&[("theme", "solarized")]),
        "invalid value 'solarized' for parameter 'theme': expected one of light, dark"
    );
    assert!(err(&[("palette", "")]).starts_with("invalid value '' for parameter 'palette'"));
}

#[test]
fn vision_features_hints_cq_id_title() {
    let p = ok(&[
        ("vision", "tritanopia"),
        ("features", "unstable"),
        ("hints", " no-image, ,presentation-metadata,no-image"),
        ("cq", "nf.app,www,:eq"),
        ("id", "dash"),
        ("title", "CPU $nf.app"),
    ]);
    assert_eq!(p.vision, VisionType::Tritanopia);
    assert_eq!(p.features, Features::Unstable);
    assert_eq!(
        p.hints.iter().map(String::as_str).collect::<Vec<_>>(),
        ["no-image", "presentation-metadata"]
    );
    assert_eq!(p.cq.as_deref(), Some("nf.app,www,:eq"));
    assert_eq!(p.id, "dash");
    assert_eq!(p.title.as_deref(), Some("CPU $nf.app"));
    assert_eq!(ok(&[("title", "")]).title, None);
    assert!(err(&[("vision", "blurry")]).starts_with(
        "invalid value 'blurry' for parameter 'vision': expected one of normal, protanopia"
    ));
    assert_eq!(
        err(&[("features", "beta")]),
        "invalid value 'beta' for parameter 'features': expected one of stable, unstable"
    );
}

#[test]
fn boolean_flags() {
    let p = ok(&[
        ("no_legend", "1"),
        ("no_legend_stats", "true"),
        ("only_graph", "1"),
        ("axis_per_line", "1"),
    ]);
    assert!(!p.show_legend && !p.show_legend_stats && p.only_graph && p.axis_per_line);
    assert!(ok(&[("no_legend", "0")]).show_legend);
    for k in [
        "no_legend",
        "no_legend_stats",
        "only_graph",
        "axis_per_line",
    ] {
        assert_eq!(
            err(&[(k, "yes")]),
            format!("invalid value 'yes' for parameter '{k}': expected 1 or 0")
        );
    }
}

#[test]
fn axis_params_fall_back_to_the_bare_name() {
    let p = ok(&[
        ("u", "100"),
        ("l.1", "auto-data"),
        ("u.1", "auto-style"),
        ("scale", "log"),
        ("scale.2", "sqrt"),
        ("stack.3", "1"),
        ("ylabel", "bytes"),
        ("ylabel.4", "errors"),
        ("tick_labels.1", "BINARY"),
        ("tick_labels.2", "duration"),
        ("palette.2", "reds"),
        ("sort", "max"),
        ("order.1", "desc"),
    ]);
    let a = &p.axes;
    assert_eq!(
        (a[0].upper, a[0].lower),
        (PlotBound::Explicit(100.0), PlotBound::AutoStyle)
    );
    assert_eq!(
        (a[1].upper, a[1].lower),
        (PlotBound::AutoStyle, PlotBound::AutoData)
    );
    assert_eq!(a[4].upper, PlotBound::Explicit(100.0));
    assert_eq!(
        [a[0].scale, a[1].scale, a[2].scale],
        [Scale::Log, Scale::Log, Scale::Sqrt]
    );
    assert_eq!([a[2].stack, a[3].stack], [false, true]);
    assert_eq!(a[0].ylabel.as_deref(), Some("bytes"));
    assert_eq!(a[4].ylabel.as_deref(), Some("errors"));
    assert_eq!(a[1].tick_labels, TickLabelMode::Binary);
    assert_eq!(a[2].tick_labels, TickLabelMode::Duration);
    assert_eq!(
        (a[0].palette.as_deref(), a[2].palette.as_deref()),
        (None, Some("reds"))
    );
    assert_eq!(a[3].sort, Some(SortBy::Max));
    assert_eq!((a[0].order, a[1].order), (SortOrder::Asc, SortOrder::Desc));
    // The bare palette is the graph palette, not axis 0's.
    assert_eq!(p.palette, "armytage");
}

#[test]
fn legacy_o_means_log_unless_scale_is_set() {
    let p = ok(&[("o", "1"), ("scale.1", "pow2"), ("o.2", "0")]);
    assert_eq!(p.axes[0].scale, Scale::Log);
    assert_eq!(p.axes[1].scale, Scale::Pow2);
    assert_eq!(p.axes[2].scale, Scale::Linear);
    assert_eq!(
        ok(&[("scale", "log-linear")]).axes[0].scale,
        Scale::LogLinear
    );
    assert_eq!(
        err(&[("o.1", "2")]),
        "invalid value '2' for parameter 'o.1': expected 1 or 0"
    );
}

#[test]
fn axis_param_errors_name_the_indexed_key() {
    assert_eq!(
        err(&[("scale.1", "cubic")]),
        "invalid value 'cubic' for parameter 'scale.1': expected one of linear, log, log-linear, \
         pow2, sqrt"
    );
    assert_eq!(
        err(&[("u", "lots")]),
        "invalid value 'lots' for parameter 'u': expected auto-style, auto-data or a finite number"
    );
    assert!(err(&[("l.0", "NaN")]).starts_with("invalid value 'NaN' for parameter 'l.0'"));
    assert_eq!(
        err(&[("stack.2", "on")]),
        "invalid value 'on' for parameter 'stack.2': expected 1 or 0"
    );
    assert_eq!(
        err(&[("tick_labels", "hex")]),
        "invalid value 'hex' for parameter 'tick_labels': expected one of decimal, binary, \
         duration, off"
    );
    assert_eq!(
        err(&[("sort.3", "median")]),
        "invalid value 'median' for parameter 'sort.3': expected one of legend, min, max, avg, \
         count, total, last"
    );
    assert_eq!(
        err(&[("order", "up")]),
        "invalid value 'up' for parameter 'order': expected one of asc, desc"
    );
    assert!(err(&[("heatmap_scale.1", "x")])
        .starts_with("invalid value 'x' for parameter 'heatmap_scale.1'"));
    assert!(err(&[("heatmap_u", "x")]).starts_with("invalid value 'x' for parameter 'heatmap_u'"));
}

#[test]
fn heatmap_params() {
    let p = ok(&[
        ("heatmap_scale", "log"),
        ("heatmap_u.1", "10"),
        ("heatmap_l", "auto-data"),
        ("heatmap_palette", "blues"),
        ("heatmap_label.1", "latency"),
    ]);
    let (h0, h1) = (&p.axes[0].heatmap, &p.axes[1].heatmap);
    assert_eq!(h0.scale, Some(Scale::Log));
    assert_eq!(
        (h0.upper, h1.upper),
        (PlotBound::AutoStyle, PlotBound::Explicit(10.0))
    );
    assert_eq!(h1.lower, PlotBound::AutoData);
    assert_eq!(h1.palette.as_deref(), Some("blues"));
    assert_eq!(
        (h0.label.as_deref(), h1.label.as_deref()),
        (None, Some("latency"))
    );
}

#[test]
fn unknown_parameters_and_axes_are_ignored_and_first_value_wins() {
    let p = ok(&[
        ("callback", "x"),
        ("u.7", "junk"),
        ("format", "csv"),
        ("format", "gif"),
        ("w", "300"),
        ("w", "x"),
    ]);
    assert_eq!(p.format, OutputFormat::Csv);
    assert_eq!(p.width, 300);
    assert_eq!(p.axes.len(), 5);
}

#[test]
fn round_keeps_primary_steps_over_a_day() {
    // Deviation: Atlas would round the 1m request to 1d, below the 2d primary step.
    assert_eq!(StepSizes::default().round(2 * DAY, MINUTE), 2 * DAY);
}

proptest::proptest! {
    /// The invariants of the `graph_params` fuzz target, on generated values: whatever
    /// `s`, `e`, `step` and `w` say, an accepted window is one the server can afford.
    #[test]
    fn accepted_windows_are_affordable(
        s in proptest::sample::select(vec!["e-1h", "e-1d", "e-1w", "e-10000y", "e-2000y", "0", "-1", "now-5m", "e-1ms"]),
        e in proptest::sample::select(vec!["now", "now+1y", "now+10000y", "9223372036854775807", "0"]),
        step in proptest::option::of(proptest::sample::select(vec!["1ms", "1s", "1m", "7m", "1h", "1d", "1w", "10000y"])),
        w in proptest::option::of(0u32..100_000),
    ) {
        let mut kv = vec![("q", "a"), ("s", s), ("e", e)];
        if let Some(step) = step {
            kv.push(("step", step));
        }
        let w = w.map(|w| w.to_string());
        if let Some(w) = &w {
            kv.push(("w", w.as_str()));
        }
        let settings = GraphSettings::default();
        if let Ok(p) = GraphParams::parse(&pairs(&kv), &settings, now()) {
            let win = p.window;
            proptest::prop_assert!(win.step >= settings.primary_step);
            proptest::prop_assert!(win.start < win.end);
            proptest::prop_assert_eq!(win.start.rem_euclid(win.step), 0);
            let cap = (p.width.min(settings.max_datapoints) as usize).max(1) + 1;
            proptest::prop_assert!(win.len() <= cap, "{} points for width {}", win.len(), p.width);
        }
    }
}

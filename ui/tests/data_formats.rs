//! Data output formats. The first tests reproduce the bodies in atlas-docs
//! `api/graph/outputs.md` for
//! `/api/v1/graph?e=2012-01-01T09:00&q=hourOfDay,:time,minuteOfHour,:time,NaN&s=e-5m&tz=UTC`,
//! with the `:time` lines written out by hand (hour and minute of each datapoint).

use sextant_query::{
    GraphLine, GraphParams, GraphSettings, OutputFormat, Style, TagMap, TimeSeries, TimeWindow,
};
use sextant_ui::{render_data, GraphData, SummaryStats};

/// The lines as evaluated lines with no style.
fn graph_lines(series: &[TimeSeries]) -> Vec<GraphLine> {
    series
        .iter()
        .map(|s| GraphLine {
            series: s.clone(),
            style: Style::default(),
            expr_index: 0,
        })
        .collect()
}

const START: i64 = 1_325_408_160_000; // 2012-01-01T08:56Z
const STEP: i64 = 60_000;

fn line(name: &str, values: &[f64]) -> TimeSeries {
    let tags: TagMap = [("atlas.offset", "0w"), ("name", name)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    TimeSeries {
        tags,
        label: name.to_string(),
        start: START,
        step: STEP,
        values: values.to_vec(),
    }
}

fn time_lines() -> Vec<TimeSeries> {
    let nan = f64::NAN;
    vec![
        line("hourOfDay", &[8.0, 8.0, 8.0, 8.0, 9.0]),
        line("minuteOfHour", &[56.0, 57.0, 58.0, 59.0, 0.0]),
        line("NaN", &[nan; 5]),
    ]
}

fn window() -> TimeWindow {
    TimeWindow {
        start: START,
        end: START + 5 * STEP,
        step: STEP,
    }
}

fn render(
    format: OutputFormat,
    lines: &[TimeSeries],
    notices: &[String],
) -> (&'static str, String) {
    let data = GraphData {
        lines: &graph_lines(lines),
        window: window(),
        timezone: chrono_tz::UTC,
        notices,
        partial: None,
    };
    render_data(format, &data).expect("data format")
}

#[test]
fn csv_matches_outputs_md() {
    let (ct, body) = render(OutputFormat::Csv, &time_lines(), &[]);
    assert_eq!(ct, "text/csv");
    assert_eq!(
        body,
        "\"timestamp\",\"hourOfDay\",\"minuteOfHour\",\"NaN\"\n\
         2012-01-01T08:56:00Z,8.000000,56.000000,NaN\n\
         2012-01-01T08:57:00Z,8.000000,57.000000,NaN\n\
         2012-01-01T08:58:00Z,8.000000,58.000000,NaN\n\
         2012-01-01T08:59:00Z,8.000000,59.000000,NaN\n\
         2012-01-01T09:00:00Z,9.000000,0.000000,NaN\n"
    );
}

#[test]
fn txt_matches_outputs_md() {
    let (ct, body) = render(OutputFormat::Txt, &time_lines(), &[]);
    assert_eq!(ct, "text/plain");
    assert_eq!(
        body,
        "\"timestamp\"\t\"hourOfDay\"\t\"minuteOfHour\"\t\"NaN\"\n\
         2012-01-01T08:56:00Z\t8.000000\t56.000000\tNaN\n\
         2012-01-01T08:57:00Z\t8.000000\t57.000000\tNaN\n\
         2012-01-01T08:58:00Z\t8.000000\t58.000000\tNaN\n\
         2012-01-01T08:59:00Z\t8.000000\t59.000000\tNaN\n\
         2012-01-01T09:00:00Z\t9.000000\t0.000000\tNaN\n"
    );
}

const METRICS: &str = "\"metrics\":[{\"atlas.offset\":\"0w\",\"name\":\"hourOfDay\"},\
     {\"atlas.offset\":\"0w\",\"name\":\"minuteOfHour\"},{\"atlas.offset\":\"0w\",\"name\":\"NaN\"}]";

#[test]
fn json_matches_outputs_md_with_bare_nan() {
    let (ct, body) = render(OutputFormat::Json, &time_lines(), &[]);
    assert_eq!(ct, "application/json");
    let expected = format!(
        "{{\"start\":1325408160000,\"step\":60000,\
         \"legend\":[\"hourOfDay\",\"minuteOfHour\",\"NaN\"],{METRICS},\
         \"values\":[[8.0,56.0,NaN],[8.0,57.0,NaN],[8.0,58.0,NaN],[8.0,59.0,NaN],[9.0,0.0,NaN]],\
         \"notices\":[]}}"
    );
    assert_eq!(body, expected);
}

#[test]
fn std_json_matches_outputs_md_and_is_valid_json() {
    let (ct, body) = render(OutputFormat::StdJson, &time_lines(), &[]);
    assert_eq!(ct, "application/json");
    let expected = format!(
        "{{\"start\":1325408160000,\"step\":60000,\
         \"legend\":[\"hourOfDay\",\"minuteOfHour\",\"NaN\"],{METRICS},\
         \"values\":[[8.0,56.0,\"NaN\"],[8.0,57.0,\"NaN\"],[8.0,58.0,\"NaN\"],[8.0,59.0,\"NaN\"],\
         [9.0,0.0,\"NaN\"]],\"notices\":[]}}"
    );
    assert_eq!(body, expected);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["values"][4][0], 9.0);
}

#[test]
fn stats_json_matches_outputs_md() {
    let (ct, body) = render(OutputFormat::StatsJson, &time_lines(), &[]);
    assert_eq!(ct, "application/json");
    let expected = format!(
        "{{\"start\":1325408160000,\"end\":1325408460000,\"step\":60000,\
         \"legend\":[\"hourOfDay\",\"minuteOfHour\",\"NaN\"],{METRICS},\"stats\":[\
         {{\"count\":5,\"avg\":8.2,\"total\":41.0,\"max\":9.0,\"min\":8.0,\"last\":9.0}},\
         {{\"count\":5,\"avg\":46.0,\"total\":230.0,\"max\":59.0,\"min\":0.0,\"last\":0.0}},\
         {{\"count\":0,\"avg\":NaN,\"total\":NaN,\"max\":NaN,\"min\":NaN,\"last\":NaN}}],\
         \"notices\":[]}}"
    );
    assert_eq!(body, expected);
}

#[test]
fn params_and_formats_agree_on_the_outputs_md_window() {
    let pairs: Vec<(String, String)> = [
        ("q", "hourOfDay,:time,minuteOfHour,:time,NaN"),
        ("e", "2012-01-01T09:00"),
        ("s", "e-5m"),
        ("tz", "UTC"),
        ("format", "csv"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let p = GraphParams::parse(&pairs, &GraphSettings::default(), 0).unwrap();
    assert_eq!(p.window, window());
    let lines = time_lines();
    let data = GraphData {
        lines: &graph_lines(&lines),
        window: p.window,
        timezone: p.primary_timezone(),
        notices: &p.warnings,
        partial: None,
    };
    let (_, body) = render_data(p.format, &data).unwrap();
    assert!(body.starts_with("\"timestamp\",\"hourOfDay\""));
    assert_eq!(body.lines().count(), 6);
}

#[test]
fn image_formats_are_not_data_formats() {
    let lines = time_lines();
    let data = GraphData {
        lines: &graph_lines(&lines),
        window: window(),
        timezone: chrono_tz::UTC,
        notices: &[],
        partial: None,
    };
    assert_eq!(render_data(OutputFormat::Png, &data), None);
    assert_eq!(render_data(OutputFormat::Svg, &data), None);
}

#[test]
fn notices_are_printed_in_json_formats() {
    let notices = vec![
        "Restricted graph width to 2000.".to_string(),
        "say \"hi\"".to_string(),
    ];
    for f in [
        OutputFormat::Json,
        OutputFormat::StdJson,
        OutputFormat::StatsJson,
    ] {
        let (_, body) = render(f, &time_lines(), &notices);
        assert!(
            body.ends_with("\"notices\":[\"Restricted graph width to 2000.\",\"say \\\"hi\\\"\"]}"),
            "{f:?}: {body}"
        );
    }
}

#[test]
fn csv_times_use_the_primary_zone() {
    let lines = time_lines();
    let data = GraphData {
        lines: &graph_lines(&lines[..1]),
        window: window(),
        timezone: chrono_tz::US::Pacific,
        notices: &[],
        partial: None,
    };
    let (_, body) = render_data(OutputFormat::Csv, &data).unwrap();
    assert_eq!(
        body.lines().nth(1),
        Some("2012-01-01T00:56:00-08:00,8.000000")
    );
}

#[test]
fn labels_and_tags_are_escaped() {
    let mut l = line("a\"b", &[1.0; 5]);
    l.tags.insert("k".to_string(), "tab\there\u{1}".to_string());
    let (_, csv) = render(OutputFormat::Csv, std::slice::from_ref(&l), &[]);
    assert!(csv.starts_with("\"timestamp\",\"a\"\"b\"\n"));
    let (_, json) = render(OutputFormat::StdJson, &[l], &[]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["legend"][0], "a\"b");
    assert_eq!(v["metrics"][0]["k"], "tab\there\u{1}");
}

#[test]
fn non_finite_values() {
    let l = line("x", &[f64::INFINITY, f64::NEG_INFINITY, 1e7, 1.5e-4, -0.0]);
    let (_, json) = render(OutputFormat::Json, std::slice::from_ref(&l), &[]);
    assert!(
        json.contains("\"values\":[[Infinity],[-Infinity],[1.0E7],[1.5E-4],[-0.0]]"),
        "{json}"
    );
    let (_, std) = render(OutputFormat::StdJson, std::slice::from_ref(&l), &[]);
    assert!(std.contains("\"values\":[[\"Infinity\"],[\"-Infinity\"],[1.0E7],[1.5E-4],[-0.0]]"));
    let (_, csv) = render(OutputFormat::Csv, &[l], &[]);
    let values: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|r| r.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(
        values,
        [
            "Infinity",
            "-Infinity",
            "10000000.000000",
            "0.000150",
            "-0.000000"
        ]
    );
}

#[test]
fn lines_are_sampled_at_the_window_timestamps() {
    // Starts two steps late and is one value short: NaN where it has no data.
    let mut l = line("late", &[1.0, 2.0]);
    l.start = START + 2 * STEP;
    let (_, csv) = render(OutputFormat::Csv, std::slice::from_ref(&l), &[]);
    let values: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|r| r.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(values, ["NaN", "NaN", "1.000000", "2.000000", "NaN"]);
    let stats = SummaryStats::of(&l, &window());
    assert_eq!(
        (stats.count, stats.total, stats.last, stats.min, stats.max),
        (2, 3.0, 2.0, 1.0, 2.0)
    );
    assert_eq!(stats.avg, 1.5);
}

#[test]
fn no_lines_and_empty_window() {
    let (_, csv) = render(OutputFormat::Csv, &[], &[]);
    assert_eq!(csv.lines().count(), 6);
    assert_eq!(csv.lines().nth(1), Some("2012-01-01T08:56:00Z"));
    let (_, json) = render(OutputFormat::StatsJson, &[], &[]);
    assert!(json.contains("\"legend\":[],\"metrics\":[],\"stats\":[]"));
    let empty = TimeWindow {
        start: START,
        end: START,
        step: STEP,
    };
    let lines = time_lines();
    let data = GraphData {
        lines: &graph_lines(&lines),
        window: empty,
        timezone: chrono_tz::UTC,
        notices: &[],
        partial: None,
    };
    let (_, json) = render_data(OutputFormat::Json, &data).unwrap();
    assert!(json.contains("\"values\":[]"));
}

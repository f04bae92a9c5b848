//! The data outputs of `/api/v1/graph`: `csv`, `txt`, `json`, `std.json` and `stats.json`,
//! after Atlas's `CsvGraphEngine`, `JsonGraphEngine` and `StatsJsonGraphEngine` and the bodies
//! in atlas-docs `api/graph/outputs.md`.
//!
//! Each line is sampled at the window's timestamps, so lines with a different start or length
//! than the window print `NaN` where they have no value.

use std::fmt::Write as _;
use std::ops::ControlFlow;

use chrono::{Datelike, Offset, TimeZone, Timelike};
use chrono_tz::Tz;

use sextant_query::{GraphLine, OutputFormat, TimeSeries, TimeWindow};

/// A graph's lines and what the data formats print around them.
#[derive(Debug, Clone, Copy)]
pub struct GraphData<'a> {
    /// The lines, in legend order.
    pub lines: &'a [GraphLine],
    /// The datapoints to print.
    pub window: TimeWindow,
    /// Zone of the `csv`/`txt` timestamps (the primary `tz`).
    pub timezone: Tz,
    /// Messages for the caller, printed as `notices` by the JSON formats.
    pub notices: &'a [String],
    /// What the answer lacks, printed as `partial` by the JSON formats when set.
    pub partial: Option<sextant_query::Partial>,
}

impl GraphData<'_> {
    /// The lines' series, in legend order.
    fn series(&self) -> impl Iterator<Item = &TimeSeries> + '_ {
        self.lines.iter().map(|l| &l.series)
    }
}

/// Renders `data` in a data format and returns `(content type, body)`, or `None` for the image
/// formats, which the chart renderer produces.
///
/// ```
/// use sextant_query::{GraphLine, OutputFormat, Style, TimeSeries, TimeWindow};
/// use sextant_ui::{render_data, GraphData};
/// let series = TimeSeries {
///     tags: [("name".to_string(), "cpu".to_string())].into(),
///     label: "cpu".to_string(),
///     start: 60_000,
///     step: 60_000,
///     values: vec![1.0, f64::NAN],
/// };
/// let line = GraphLine { series, style: Style::default(), expr_index: 0 };
/// let window = TimeWindow { start: 60_000, end: 180_000, step: 60_000 };
/// let data = GraphData { lines: &[line], window, timezone: chrono_tz::UTC, notices: &[], partial: None };
/// let (content_type, body) = render_data(OutputFormat::Csv, &data).ok_or("image format")?;
/// assert_eq!(content_type, "text/csv");
/// assert_eq!(body, "\"timestamp\",\"cpu\"\n\
///                   1970-01-01T00:01:00Z,1.000000\n\
///                   1970-01-01T00:02:00Z,NaN\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render_data(format: OutputFormat, data: &GraphData<'_>) -> Option<(&'static str, String)> {
    let body = match format {
        OutputFormat::Png | OutputFormat::Svg => return None,
        OutputFormat::Csv => separated(data, ','),
        OutputFormat::Txt => separated(data, '\t'),
        OutputFormat::Json => json(data, NonFinite::Bare),
        OutputFormat::StdJson => json(data, NonFinite::Quoted),
        OutputFormat::StatsJson => stats_json(data),
    };
    Some((format.content_type(), body))
}

/// Value of `line` for the interval ending at `t`; NaN outside the line.
fn value_at(line: &TimeSeries, t: i64) -> f64 {
    if line.step <= 0 || t < line.start {
        return f64::NAN;
    }
    usize::try_from((t - line.start) / line.step)
        .ok()
        .and_then(|i| line.values.get(i).copied())
        .unwrap_or(f64::NAN)
}

fn separated(data: &GraphData<'_>, sep: char) -> String {
    let mut out = String::from("\"timestamp\"");
    for line in data.series() {
        // Atlas writes labels verbatim; doubling quotes keeps the CSV parseable.
        let _ = write!(out, "{sep}\"{}\"", line.label.replace('"', "\"\""));
    }
    out.push('\n');
    for t in data.window.timestamps() {
        out.push_str(&iso_offset_time(t, data.timezone));
        for line in data.series() {
            out.push(sep);
            out.push_str(&format_fixed6(value_at(line, t)));
        }
        out.push('\n');
    }
    out
}

#[derive(Clone, Copy)]
enum NonFinite {
    /// `NaN`, `Infinity`: what Atlas's `json` has always written (not valid JSON).
    Bare,
    /// `"NaN"`, `"Infinity"`: valid JSON.
    Quoted,
}

fn push_number(out: &mut String, v: f64, mode: NonFinite) {
    let text = java_double(v);
    if v.is_finite() || matches!(mode, NonFinite::Bare) {
        out.push_str(&text);
    } else {
        let _ = write!(out, "\"{text}\"");
    }
}

fn push_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

fn push_head(out: &mut String, data: &GraphData<'_>) {
    out.push_str("\"legend\":[");
    for (i, line) in data.series().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string(out, &line.label);
    }
    out.push_str("],\"metrics\":[");
    for (i, line) in data.series().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        // TagMap is a BTreeMap, so keys come out sorted as Atlas sorts them.
        for (j, (k, v)) in line.tags.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_string(out, k);
            out.push(':');
            push_string(out, v);
        }
        out.push('}');
    }
    out.push_str("],");
}

/// `,"partial":{...}` when the answer lacks partitions; nothing otherwise, so a complete
/// answer reads exactly as Atlas's.
fn push_partial(out: &mut String, partial: Option<sextant_query::Partial>) {
    if let Some(p) = partial {
        let _ = write!(
            out,
            ",\"partial\":{{\"missingPartitions\":{},\"partitions\":{}}}",
            p.missing_partitions, p.partitions
        );
    }
}

fn push_notices(out: &mut String, notices: &[String]) {
    out.push_str("\"notices\":[");
    for (i, n) in notices.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string(out, n);
    }
    out.push(']');
}

fn json(data: &GraphData<'_>, mode: NonFinite) -> String {
    let w = &data.window;
    let mut out = format!("{{\"start\":{},\"step\":{},", w.start, w.step);
    push_head(&mut out, data);
    out.push_str("\"values\":[");
    for (i, t) in w.timestamps().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        for (j, line) in data.series().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_number(&mut out, value_at(line, t), mode);
        }
        out.push(']');
    }
    out.push_str("],");
    push_notices(&mut out, data.notices);
    push_partial(&mut out, data.partial);
    out.push('}');
    out
}

/// Summary of one line over the window, as Atlas's `SummaryStats`: NaN values are skipped,
/// and a line without values has count 0 and NaN for the rest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryStats {
    /// Number of non-NaN values.
    pub count: usize,
    /// `total / count`.
    pub avg: f64,
    /// Sum of the values.
    pub total: f64,
    /// Largest value.
    pub max: f64,
    /// Smallest value.
    pub min: f64,
    /// Last non-NaN value.
    pub last: f64,
}

impl SummaryStats {
    /// Stats of `line` over the datapoints of `window`.
    pub fn of(line: &TimeSeries, window: &TimeWindow) -> Self {
        let (mut count, mut total) = (0usize, 0.0);
        let (mut max, mut min, mut last) = (f64::NEG_INFINITY, f64::INFINITY, f64::NAN);
        for v in window
            .timestamps()
            .map(|t| value_at(line, t))
            .filter(|v| !v.is_nan())
        {
            count += 1;
            total += v;
            max = max.max(v);
            min = min.min(v);
            last = v;
        }
        if count == 0 {
            let nan = f64::NAN;
            return Self {
                count,
                avg: nan,
                total: nan,
                max: nan,
                min: nan,
                last: nan,
            };
        }
        Self {
            count,
            avg: total / count as f64,
            total,
            max,
            min,
            last,
        }
    }
}

fn stats_json(data: &GraphData<'_>) -> String {
    let w = &data.window;
    let mut out = format!(
        "{{\"start\":{},\"end\":{},\"step\":{},",
        w.start, w.end, w.step
    );
    push_head(&mut out, data);
    out.push_str("\"stats\":[");
    for (i, line) in data.series().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let s = SummaryStats::of(line, w);
        let _ = write!(out, "{{\"count\":{}", s.count);
        for (name, v) in [
            ("avg", s.avg),
            ("total", s.total),
            ("max", s.max),
            ("min", s.min),
            ("last", s.last),
        ] {
            let _ = write!(out, ",\"{name}\":");
            // The documented body has bare NaN here too.
            push_number(&mut out, v, NonFinite::Bare);
        }
        out.push('}');
    }
    out.push_str("],");
    push_notices(&mut out, data.notices);
    push_partial(&mut out, data.partial);
    out.push('}');
    out
}

/// Java's `ISO_OFFSET_DATE_TIME`: `2012-01-01T08:56:00Z`, `2012-01-01T00:56:00-08:00`; the
/// fraction only when non-zero and offset seconds only when non-zero.
pub(crate) fn iso_offset_time(ms: i64, tz: Tz) -> String {
    let Some(t) = tz.timestamp_millis_opt(ms).single() else {
        // Times come from `TimeWindow`, whose ends were range-checked; print the raw value
        // rather than fail if one slips through.
        return ms.to_string();
    };
    let mut out = String::with_capacity(25);
    let year = t.year();
    if year > 9999 {
        let _ = write!(out, "+{year}");
    } else if year < 0 {
        let _ = write!(out, "-{:04}", -i64::from(year));
    } else {
        let _ = write!(out, "{year:04}");
    }
    let _ = write!(
        out,
        "-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        let _ = write!(out, ".{}", frac.trim_end_matches('0'));
    }
    let offset = t.offset().fix().local_minus_utc();
    if offset == 0 {
        out.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let abs = offset.unsigned_abs();
        let _ = write!(out, "{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60);
        if abs % 60 != 0 {
            let _ = write!(out, ":{:02}", abs % 60);
        }
    }
    out
}

/// Shortest round-trip digits of a finite, non-zero `v` and its decimal exponent:
/// `v = 0.d1d2d3... × 10^exp`.
fn shortest_digits(v: f64) -> (String, i32) {
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp + 1)
}

/// What Java's `Double.toString` and `%f` share: `NaN` and `Infinity` spelled as Java does and
/// a signed zero as `zero`, all final (`Break`); otherwise the sign of `v` and its
/// [`shortest_digits`] for the caller to lay out (`Continue`).
fn java_parts(v: f64, zero: &str) -> ControlFlow<String, (&'static str, String, i32)> {
    if v.is_nan() {
        return ControlFlow::Break("NaN".to_string());
    }
    if v.is_infinite() {
        return ControlFlow::Break(if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string());
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return ControlFlow::Break(format!("{sign}{zero}"));
    }
    let (digits, exp) = shortest_digits(v);
    ControlFlow::Continue((sign, digits, exp))
}

/// Java's `Double.toString`, which Jackson uses for JSON numbers: `8.0`, `8.2`, `1.0E7`,
/// `1.5E-4`, `NaN`, `Infinity`.
pub(crate) fn java_double(v: f64) -> String {
    let (sign, digits, exp) = match java_parts(v, "0.0") {
        ControlFlow::Break(text) => return text,
        ControlFlow::Continue(parts) => parts,
    };
    let abs = v.abs();
    if (1e-3..1e7).contains(&abs) {
        let exp = exp as isize;
        let (int, frac) = if exp <= 0 {
            (
                "0".to_string(),
                format!("{}{digits}", "0".repeat(exp.unsigned_abs())),
            )
        } else if exp as usize >= digits.len() {
            (
                format!("{digits}{}", "0".repeat(exp as usize - digits.len())),
                String::new(),
            )
        } else {
            (
                digits[..exp as usize].to_string(),
                digits[exp as usize..].to_string(),
            )
        };
        let frac = if frac.is_empty() {
            "0".to_string()
        } else {
            frac
        };
        format!("{sign}{int}.{frac}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{}", exp - 1)
    }
}

/// Java's `String.format("%f", v)`: six decimals, rounded half-up from the shortest decimal
/// form of the double (not from its exact binary value), `NaN`, `Infinity`.
pub(crate) fn format_fixed6(v: f64) -> String {
    let (sign, digits, exp) = match java_parts(v, "0.000000") {
        ControlFlow::Break(text) => return text,
        ControlFlow::Continue(parts) => parts,
    };
    // Digits as a decimal integer scaled by 10^6, rounded half-up on the first dropped digit.
    let keep = exp + 6;
    let mut kept: Vec<u8> = if keep <= 0 {
        Vec::new()
    } else {
        let mut d: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
        d.resize(d.len().max(keep as usize), 0);
        d.truncate(keep as usize);
        d
    };
    let dropped = if keep < 0 {
        0
    } else {
        digits.as_bytes().get(keep as usize).map_or(0, |b| b - b'0')
    };
    if dropped >= 5 {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, 1);
                break;
            }
            i -= 1;
            if kept[i] == 9 {
                kept[i] = 0;
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    if kept.len() < 7 {
        let mut padded = vec![0; 7 - kept.len()];
        padded.extend(kept);
        kept = padded;
    }
    let split = kept.len() - 6;
    let text: String = kept.iter().map(|d| char::from(b'0' + d)).collect();
    format!("{sign}{}.{}", &text[..split], &text[split..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_double_matches_double_to_string() {
        let cases: &[(f64, &str)] = &[
            (8.0, "8.0"),
            (8.2, "8.2"),
            (41.0, "41.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1234567.0, "1234567.0"),
            (1e7, "1.0E7"),
            (123456789.0, "1.23456789E8"),
            (1e21, "1.0E21"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1.5e-4, "1.5E-4"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::MAX, "1.7976931348623157E308"),
            (f64::MIN_POSITIVE, "2.2250738585072014E-308"),
        ];
        for (v, s) in cases {
            assert_eq!(java_double(*v), *s, "{v:e}");
        }
    }

    #[test]
    fn fixed6_matches_java_percent_f() {
        let cases: &[(f64, &str)] = &[
            (8.0, "8.000000"),
            (56.0, "56.000000"),
            (0.0, "0.000000"),
            (-0.0, "-0.000000"),
            (123.456, "123.456000"),
            (-2.5, "-2.500000"),
            // Half-up on the shortest decimal form, as Java does.
            (0.0078125, "0.007813"),
            (1.0000005, "1.000001"),
            (9.9999995, "10.000000"),
            (5e-7, "0.000001"),
            (4e-7, "0.000000"),
            (-1e-9, "-0.000000"),
            (1e20, "100000000000000000000.000000"),
            (1.0 / 3.0, "0.333333"),
            (2.0 / 3.0, "0.666667"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (v, s) in cases {
            assert_eq!(format_fixed6(*v), *s, "{v:e}");
        }
    }

    #[test]
    fn iso_offset_time_like_java() {
        let pacific = chrono_tz::US::Pacific;
        assert_eq!(
            iso_offset_time(1_325_408_160_000, chrono_tz::UTC),
            "2012-01-01T08:56:00Z"
        );
        assert_eq!(
            iso_offset_time(1_325_408_160_000, pacific),
            "2012-01-01T00:56:00-08:00"
        );
        assert_eq!(
            iso_offset_time(1_325_408_160_500, chrono_tz::UTC),
            "2012-01-01T08:56:00.5Z"
        );
        let kolkata = chrono_tz::Asia::Kolkata;
        assert_eq!(iso_offset_time(0, kolkata), "1970-01-01T05:30:00+05:30");
        // Local mean time before zones were standardised has offset seconds.
        assert_eq!(
            iso_offset_time(-3_000_000_000_000, pacific),
            "1874-12-07T10:47:02-07:52:58"
        );
        assert_eq!(
            iso_offset_time(253_402_300_800_000, chrono_tz::UTC),
            "+10000-01-01T00:00:00Z"
        );
    }

    #[test]
    fn value_at_samples_the_line() {
        let line = TimeSeries {
            tags: Default::default(),
            label: String::new(),
            start: 120,
            step: 60,
            values: vec![1.0, 2.0],
        };
        assert!(value_at(&line, 60).is_nan());
        assert_eq!(value_at(&line, 120), 1.0);
        assert_eq!(value_at(&line, 150), 1.0);
        assert_eq!(value_at(&line, 180), 2.0);
        assert!(value_at(&line, 240).is_nan());
    }
}

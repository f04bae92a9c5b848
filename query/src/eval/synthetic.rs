//! Lines computed from time alone: `:const`, `:random`, `:srandom`, `:time`, `:time-span`.
//!
//! Atlas reference: `MathExpr.Constant`, `Random`, `SeededRandom`, `Time`, `TimeSpan`;
//! `util/Hash.scala` for the noise function. Time fields are read in UTC, as Atlas does.

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::Env;
use crate::error::Result;
use crate::model::{fmt_num, Expr};
use crate::time::duration_millis;
use crate::{TagMap, TimeSeries};

fn name_tags(name: &str) -> TagMap {
    TagMap::from([("name".to_string(), name.to_string())])
}

/// Atlas's `Hash.lowbias32`: Chris Wellons' 32-bit integer mixer.
fn lowbias32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^= h >> 16;
    h
}

/// Atlas's `Hash.lowbias64`: the two 32-bit halves mixed apart and XORed, a Java `Int`.
fn lowbias64(v: u64) -> i32 {
    (lowbias32((v >> 32) as u32) ^ lowbias32(v as u32)) as i32
}

/// Deterministic noise in [0, 1) for a timestamp, as Atlas's `Random.rand`:
/// `(math.abs(lowbias64(t)) % 1000) / 1000.0`.
pub(crate) fn random(t: i64) -> f64 {
    // Java's Math.abs(Integer.MIN_VALUE) stays negative and `%` keeps the sign;
    // wrapping_abs and Rust's `%` do the same.
    (lowbias64(t as u64).wrapping_abs() % 1000) as f64 / 1000.0
}

/// The value of a `:time` mode at `t` (epoch ms), or `None` for an unknown mode.
pub(crate) fn time_value(mode: &str, t: i64) -> Option<f64> {
    let dt: DateTime<Utc> = DateTime::from_timestamp_millis(t)?;
    let v = match mode {
        "secondOfMinute" | "SECOND_OF_MINUTE" => dt.second() as f64,
        "secondOfDay" | "SECOND_OF_DAY" => dt.num_seconds_from_midnight() as f64,
        "minuteOfHour" | "MINUTE_OF_HOUR" => dt.minute() as f64,
        "minuteOfDay" | "MINUTE_OF_DAY" => (dt.hour() * 60 + dt.minute()) as f64,
        "hourOfDay" | "HOUR_OF_DAY" => dt.hour() as f64,
        "HOUR_OF_AMPM" => (dt.hour() % 12) as f64,
        "dayOfWeek" | "DAY_OF_WEEK" => dt.weekday().number_from_monday() as f64,
        "dayOfMonth" | "DAY_OF_MONTH" => dt.day() as f64,
        "dayOfYear" | "DAY_OF_YEAR" => dt.ordinal() as f64,
        "monthOfYear" | "MONTH_OF_YEAR" => dt.month() as f64,
        // Atlas maps yearOfCentury to ChronoField.YEAR.
        "yearOfCentury" | "yearOfEra" | "YEAR" | "YEAR_OF_ERA" => dt.year() as f64,
        "MILLI_OF_SECOND" => (t.rem_euclid(1000)) as f64,
        "EPOCH_DAY" => t.div_euclid(86_400_000) as f64,
        "seconds" => t as f64 / 1e3,
        "minutes" => t as f64 / 6e4,
        "hours" => t as f64 / 3.6e6,
        "days" => t as f64 / 8.64e7,
        "weeks" => t as f64 / 6.048e8,
        _ => return None,
    };
    Some(v)
}

/// A `:time-span` reference: `gs`, `ge`, `s`, `e`, epoch ms, or an ISO date-time, with an
/// optional `+dur`/`-dur`. `other` is the opposite end (for `s` and `e`).
fn time_ref(s: &str, gs: i64, ge: i64, other: Option<i64>, is_end: bool) -> Option<i64> {
    let (base, delta) = match s.rfind(['+', '-']).filter(|&i| i > 0) {
        Some(i) if s[..i].chars().all(|c| c.is_ascii_alphabetic()) => {
            let d = duration_millis(&s[i + 1..])?;
            (&s[..i], if &s[i..=i] == "-" { -d } else { d })
        }
        _ => (s, 0),
    };
    let t = match base {
        "gs" => gs,
        "ge" => ge,
        "s" if is_end => other?,
        "e" if !is_end => other?,
        "now" => ge,
        _ => {
            if let Ok(v) = base.parse::<i64>() {
                v
            } else {
                DateTime::parse_from_rfc3339(base)
                    .map(|d| d.timestamp_millis())
                    .or_else(|_| {
                        chrono::NaiveDateTime::parse_from_str(base, "%Y-%m-%dT%H:%M")
                            .or_else(|_| {
                                chrono::NaiveDateTime::parse_from_str(base, "%Y-%m-%dT%H:%M:%S")
                            })
                            .map(|d| d.and_utc().timestamp_millis())
                    })
                    .ok()?
            }
        }
    };
    t.checked_add(delta)
}

fn span(s: &str, e: &str, gs: i64, ge: i64) -> Option<(i64, i64)> {
    // `e` may refer to the start and `s` to the end, but not both.
    if s.starts_with('e') && !s.starts_with("e2") && e.starts_with('s') {
        return None;
    }
    if s.starts_with('e') {
        let end = time_ref(e, gs, ge, None, true)?;
        let start = time_ref(s, gs, ge, Some(end), false)?;
        Some((start, end))
    } else {
        let start = time_ref(s, gs, ge, None, false)?;
        let end = time_ref(e, gs, ge, Some(start), true)?;
        Some((start, end))
    }
}

/// Checks a `:time-span` at parse time.
pub(crate) fn check_time_span(s: &str, e: &str) -> std::result::Result<(), String> {
    match span(s, e, 0, 3_600_000) {
        Some(_) => Ok(()),
        None => Err(format!("invalid time span '{s}' to '{e}'")),
    }
}

pub(crate) fn eval_synthetic(expr: &Expr, env: &Env<'_>) -> Result<Vec<TimeSeries>> {
    let n = env.n;
    let (tags, label, values): (TagMap, String, Vec<f64>) = match expr {
        Expr::Const(v) => (name_tags(&fmt_num(*v)), fmt_num(*v), vec![*v; n]),
        Expr::Random => (
            name_tags("random"),
            "random".into(),
            (0..n).map(|i| random(env.time(i))).collect(),
        ),
        Expr::SeededRandom(seed) => {
            let name = format!("seeded-random({seed})");
            let values = (0..n).map(|i| random(env.time(i) ^ seed)).collect();
            (name_tags(&name), name, values)
        }
        Expr::Time(mode) => (
            name_tags(mode),
            mode.clone(),
            (0..n)
                .map(|i| time_value(mode, env.time(i)).unwrap_or(f64::NAN))
                .collect(),
        ),
        Expr::TimeSpan(s, e) => {
            // Atlas's `gs`/`ge` are the evaluation context's bounds: one step before the
            // first row, and one step past the last.
            let ge = env.end;
            let (a, b) = span(s, e, env.start, ge).unwrap_or((i64::MAX, i64::MIN));
            let values = (0..n)
                .map(|i| {
                    let t = env.time(i);
                    if a <= t && t <= b {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            // Atlas names the line after its bounds: `name=gs to ge`.
            let name = format!("{s} to {e}");
            (name_tags(&name), name, values)
        }
        _ => return Ok(Vec::new()),
    };
    env.charge(1)?;
    Ok(vec![env.line(tags, label, values)])
}

//! Axis arithmetic: value scales (linear, log, log-linear, pow2, sqrt), "nice" tick
//! positions, metric-prefix labels, and time ticks aligned to a zone's local clock.

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;
use sextant_query::{Scale, TickLabelMode};

/// Maps a value into the scale's linear space; the inverse is not needed because ticks are
/// chosen in value space and then projected.
pub fn project(scale: Scale, v: f64) -> f64 {
    let sign = v.signum();
    let a = v.abs();
    match scale {
        Scale::Linear => v,
        // Symmetric around 0 and flat below 1, so counts of 0 and negative rates still plot.
        Scale::Log => {
            if a < 1.0 {
                0.0
            } else {
                sign * a.log10()
            }
        }
        // Linear inside each decade: 1..10 takes as much room as 10..100.
        Scale::LogLinear => {
            if a < 1.0 {
                v
            } else {
                let d = a.log10().floor();
                let m = a / 10f64.powf(d);
                sign * (1.0 + d + (m - 1.0) / 9.0)
            }
        }
        Scale::Pow2 => sign * a * a,
        Scale::Sqrt => sign * a.sqrt(),
    }
}

/// A value axis range with its projection to pixel rows.
#[derive(Debug, Clone, Copy)]
pub struct ValueRange {
    /// Smallest value shown.
    pub min: f64,
    /// Largest value shown.
    pub max: f64,
    /// Scale.
    pub scale: Scale,
}

impl ValueRange {
    /// Row of `v` on a canvas `height` pixels tall (0 = top). May fall outside the canvas.
    pub fn y(&self, v: f64, height: f64) -> f64 {
        let (lo, hi) = (project(self.scale, self.min), project(self.scale, self.max));
        let span = hi - lo;
        if span.abs() < f64::MIN_POSITIVE {
            return height / 2.0;
        }
        height - (project(self.scale, v) - lo) / span * height
    }
}

/// A step of 1, 2 or 5 times a power of ten that gives about `target` intervals.
fn nice_step(span: f64, target: f64) -> f64 {
    let raw = span / target.max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    let r = raw / mag;
    let m = if r <= 1.0 {
        1.0
    } else if r <= 2.0 {
        2.0
    } else if r <= 2.5 {
        2.5
    } else if r <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Major tick values for `range` on an axis `height` pixels tall.
pub fn value_ticks(range: &ValueRange, height: f64) -> Vec<f64> {
    let target = (height / 40.0).clamp(2.0, 10.0);
    let (min, max) = (range.min, range.max);
    if !(min.is_finite() && max.is_finite()) || max <= min {
        return Vec::new();
    }
    if range.scale == Scale::Log && max >= 100.0 {
        let mut ticks = Vec::new();
        let top = max.log10().floor() as i32;
        let bottom = if min < 1.0 {
            0
        } else {
            min.log10().ceil() as i32
        };
        let every = ((top - bottom) as f64 / target).ceil().max(1.0) as i32;
        let mut d = bottom;
        while d <= top {
            ticks.push(10f64.powi(d));
            d += every;
        }
        if min < 0.0 {
            let neg: Vec<f64> = ticks.iter().map(|t| -t).filter(|t| *t >= min).collect();
            ticks.extend(neg);
        }
        return ticks;
    }
    let step = nice_step(max - min, target);
    let first = (min / step).ceil();
    let last = (max / step).floor();
    if !(last - first).is_finite() || last - first > 1000.0 {
        return Vec::new();
    }
    let mut ticks = Vec::new();
    let mut i = first;
    while i <= last {
        // Multiplying, not accumulating, keeps 0.1 * 3 from drifting to 0.30000000000000004.
        let v = i * step;
        ticks.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        i += 1.0;
    }
    // Non-linear scales squeeze some ticks together: keep those at least 14 px apart.
    if range.scale != Scale::Linear {
        let mut kept: Vec<f64> = Vec::new();
        for t in ticks {
            if kept
                .last()
                .is_none_or(|k| (range.y(*k, height) - range.y(t, height)).abs() >= 14.0)
            {
                kept.push(t);
            }
        }
        return kept;
    }
    ticks
}

const DECIMAL: &[(f64, &str)] = &[
    (1e15, "P"),
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
    (1.0, ""),
    (1e-3, "m"),
    (1e-6, "u"),
    (1e-9, "n"),
    (1e-12, "p"),
];
const BINARY: &[(f64, &str)] = &[
    (1_125_899_906_842_624.0, "Pi"),
    (1_099_511_627_776.0, "Ti"),
    (1_073_741_824.0, "Gi"),
    (1_048_576.0, "Mi"),
    (1024.0, "Ki"),
    (1.0, ""),
];

fn prefix_for(mag: f64, table: &'static [(f64, &'static str)]) -> (f64, &'static str) {
    table
        .iter()
        .copied()
        .find(|(f, _)| mag >= *f)
        .or_else(|| table.last().copied())
        .unwrap_or((1.0, ""))
}

/// Labels for a set of ticks: one prefix for the whole axis (chosen by its largest value)
/// and as many decimals as the spacing needs, so labels of one axis line up.
pub fn tick_labels(ticks: &[f64], mode: TickLabelMode, scale: Scale) -> Vec<String> {
    if mode == TickLabelMode::Off {
        return ticks.iter().map(|_| String::new()).collect();
    }
    if mode == TickLabelMode::Duration {
        return ticks.iter().map(|t| duration_label(*t)).collect();
    }
    // Ticks of non-linear scales span magnitudes: each gets its own prefix.
    if scale != Scale::Linear && mode == TickLabelMode::Decimal {
        return ticks.iter().map(|t| compact(*t)).collect();
    }
    let table = if mode == TickLabelMode::Binary {
        BINARY
    } else {
        DECIMAL
    };
    let mag = ticks.iter().fold(0.0f64, |m, t| m.max(t.abs()));
    if mag == 0.0 {
        return ticks.iter().map(|_| "0".to_string()).collect();
    }
    let (factor, prefix) = prefix_for(mag, table);
    let spacing = ticks
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .filter(|d| *d > 0.0)
        .fold(f64::INFINITY, f64::min);
    let decimals = if spacing.is_finite() {
        (-(spacing / factor).log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        0
    };
    ticks
        .iter()
        .map(|t| {
            if *t == 0.0 {
                "0".to_string()
            } else {
                format!("{:.*}{prefix}", decimals, t / factor)
            }
        })
        .collect()
}

/// A legend value: three significant digits with a metric prefix, e.g. `12.3k`.
pub fn short_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Inf" } else { "-Inf" }.to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let (factor, prefix) = prefix_for(v.abs(), DECIMAL);
    let x = v / factor;
    let decimals = if x.abs() >= 100.0 {
        0
    } else if x.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{x:.decimals$}{prefix}")
}

/// Up to three significant digits with a prefix and no trailing zeros: `1k`, `2.5M`.
fn compact(v: f64) -> String {
    let s = short_value(v);
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(s.len());
    let (num, prefix) = s.split_at(digits_end);
    let num = if num.contains('.') {
        num.trim_end_matches('0').trim_end_matches('.')
    } else {
        num
    };
    format!("{num}{prefix}")
}

fn duration_label(seconds: f64) -> String {
    let a = seconds.abs();
    let sign = if seconds < 0.0 { "-" } else { "" };
    let (v, unit) = if a == 0.0 {
        return "0".to_string();
    } else if a < 1e-6 {
        (a * 1e9, "ns")
    } else if a < 1e-3 {
        (a * 1e6, "us")
    } else if a < 1.0 {
        (a * 1e3, "ms")
    } else if a < 60.0 {
        (a, "s")
    } else if a < 3600.0 {
        (a / 60.0, "min")
    } else if a < 86_400.0 {
        (a / 3600.0, "h")
    } else {
        (a / 86_400.0, "d")
    };
    let text = format!("{v:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{sign}{text}{unit}")
}

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const TIME_STEPS: &[i64] = &[
    1000,
    2000,
    5000,
    10_000,
    15_000,
    30_000,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    20 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    8 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
    28 * DAY,
];

fn offset_ms(tz: &Tz, t: i64) -> i64 {
    match tz.timestamp_millis_opt(t) {
        chrono::LocalResult::Single(d) | chrono::LocalResult::Ambiguous(d, _) => {
            i64::from(d.offset().fix().local_minus_utc()) * 1000
        }
        chrono::LocalResult::None => 0,
    }
}

/// A tick on a time axis: its time and label.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeTick {
    /// Epoch ms.
    pub time: i64,
    /// Label in the axis zone.
    pub label: String,
}

/// Ticks for `[start, end)` on an axis `width` pixels wide, at round local times of `tz`
/// (so a US/Pacific axis ticks at local midnight, not UTC midnight).
pub fn time_ticks(start: i64, end: i64, width: f64, tz: &Tz) -> Vec<TimeTick> {
    if end <= start || width <= 0.0 {
        return Vec::new();
    }
    // About one label per 90 px keeps `HH:MM` labels well apart.
    let target = (width / 90.0).max(1.0);
    let span = end - start;
    let step = TIME_STEPS
        .iter()
        .copied()
        .find(|s| span as f64 / *s as f64 <= target)
        .unwrap_or(span.max(1));
    let mut out = Vec::new();
    let off = offset_ms(tz, start);
    let mut local = (start + off).div_euclid(step) * step;
    // Weeks start on Monday: epoch day 0 was a Thursday.
    if step % (7 * DAY) == 0 {
        local -= 3 * DAY;
    }
    let mut guard = 0;
    while guard < 400 {
        guard += 1;
        let t = local - offset_ms(tz, local - off);
        local += step;
        if t < start {
            continue;
        }
        if t >= end {
            break;
        }
        out.push(TimeTick {
            time: t,
            label: time_label(t, step, tz),
        });
    }
    out
}

fn time_label(t: i64, step: i64, tz: &Tz) -> String {
    let Some(d) = tz.timestamp_millis_opt(t).earliest() else {
        return String::new();
    };
    let midnight = d.format("%H:%M:%S").to_string() == "00:00:00";
    if step < MINUTE {
        d.format("%H:%M:%S").to_string()
    } else if step >= DAY || (midnight && step >= HOUR) {
        d.format("%b %d").to_string()
    } else {
        d.format("%H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round() {
        let r = ValueRange {
            min: 0.0,
            max: 1000.0,
            scale: Scale::Linear,
        };
        let t = value_ticks(&r, 300.0);
        assert_eq!(t.first(), Some(&0.0));
        assert!(t.contains(&400.0), "{t:?}");
        assert_eq!(
            tick_labels(&[0.0, 500.0, 1000.0], TickLabelMode::Decimal, Scale::Linear),
            ["0", "0.5k", "1.0k"]
        );
        assert_eq!(
            tick_labels(
                &[1500.0, 2000.0, 2500.0],
                TickLabelMode::Decimal,
                Scale::Linear
            ),
            ["1.5k", "2.0k", "2.5k"]
        );
        assert_eq!(
            tick_labels(&[0.001, 0.002], TickLabelMode::Decimal, Scale::Linear),
            ["1m", "2m"]
        );
        assert_eq!(
            tick_labels(&[1024.0, 2048.0], TickLabelMode::Binary, Scale::Linear),
            ["1Ki", "2Ki"]
        );
        assert_eq!(short_value(12_345.0), "12.3k");
        assert_eq!(
            tick_labels(&[1.0, 10.0, 1e4], TickLabelMode::Decimal, Scale::Log),
            ["1", "10", "10k"]
        );
        assert_eq!(short_value(0.5), "500m");
        assert_eq!(short_value(f64::NAN), "NaN");
        assert_eq!(duration_label(90.0), "1.5min");
    }

    #[test]
    fn log_ticks_are_decades() {
        let r = ValueRange {
            min: 1.0,
            max: 1e6,
            scale: Scale::Log,
        };
        assert_eq!(value_ticks(&r, 300.0)[..2], [1.0, 10.0]);
        assert!(r.y(1e6, 100.0).abs() < 1e-9);
        assert!((r.y(1e3, 100.0) - 50.0).abs() < 1e-9);
    }

    #[test]
    fn time_ticks_follow_local_clock() {
        let start = 1_325_376_000_000; // 2012-01-01T00:00Z
        let ticks = time_ticks(start, start + 3 * HOUR, 700.0, &chrono_tz::UTC);
        assert_eq!(ticks[0].time, start);
        assert_eq!(ticks[0].label, "00:00");
        assert_eq!(ticks[1].label, "00:30");
        let la = time_ticks(start, start + 2 * DAY, 700.0, &chrono_tz::US::Pacific);
        assert!(la.iter().any(|t| t.label == "Jan 01"), "{la:?}");
        assert!(la.iter().all(|t| t.time >= start));
    }
}

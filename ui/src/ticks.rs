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
    /// Pixels kept free above `max` and below `min`, so a line at an automatic bound is
    /// drawn inside the canvas rather than on its frame.
    pub pad: (f64, f64),
}

impl ValueRange {
    /// Row of `v` on a canvas `height` pixels tall (0 = top). May fall outside the canvas.
    pub fn y(&self, v: f64, height: f64) -> f64 {
        let (lo, hi) = (project(self.scale, self.min), project(self.scale, self.max));
        let span = hi - lo;
        if span.abs() < f64::MIN_POSITIVE {
            return height / 2.0;
        }
        // A canvas too short for the padding keeps its full height.
        let (top, bottom) = if height - self.pad.0 - self.pad.1 >= height / 2.0 {
            self.pad
        } else {
            (0.0, 0.0)
        };
        height - bottom - (project(self.scale, v) - lo) / span * (height - top - bottom)
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

/// Decimal prefixes, largest first: `Y` (1e24) down to `y` (1e-24), as Atlas's
/// `UnitPrefix`. Values outside that span are written in scientific notation.
const DECIMAL: &[(f64, &str)] = &[
    (1e24, "Y"),
    (1e21, "Z"),
    (1e18, "E"),
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
    (1e-15, "f"),
    (1e-18, "a"),
    (1e-21, "z"),
    (1e-24, "y"),
];
/// Binary prefixes for values of 1 and more (`Ki` .. `Yi`); smaller values fall back to
/// the decimal ones, as in Atlas (a fraction of a byte has no binary prefix).
const BINARY: &[(f64, &str)] = &[
    (1_208_925_819_614_629_174_706_176.0, "Yi"),
    (1_180_591_620_717_411_303_424.0, "Zi"),
    (1_152_921_504_606_846_976.0, "Ei"),
    (1_125_899_906_842_624.0, "Pi"),
    (1_099_511_627_776.0, "Ti"),
    (1_073_741_824.0, "Gi"),
    (1_048_576.0, "Mi"),
    (1024.0, "Ki"),
    (1.0, ""),
];
/// Duration units in seconds, largest first.
const DURATION: &[(f64, &str)] = &[
    (365.0 * 86_400.0, "y"),
    (86_400.0, "d"),
    (3600.0, "h"),
    (60.0, "min"),
    (1.0, "s"),
    (1e-3, "ms"),
    (1e-6, "us"),
    (1e-9, "ns"),
    (1e-12, "ps"),
];

/// The unit for magnitude `mag` (> 0) in `mode`: its factor and suffix, or `None` when
/// the magnitude is past the last unit at either end (then scientific notation is used).
fn unit_for(mag: f64, mode: TickLabelMode) -> Option<(f64, &'static str)> {
    let table = match mode {
        TickLabelMode::Binary if mag >= 1.0 => BINARY,
        TickLabelMode::Duration => DURATION,
        _ => DECIMAL,
    };
    let (largest, _) = table[0];
    let (smallest, _) = table[table.len() - 1];
    // Up to 1000 of the largest unit (`999Y`, `999y` years), no smaller than the smallest.
    if !mag.is_finite() || mag >= largest * 1000.0 || mag < smallest {
        return None;
    }
    table.iter().copied().find(|(f, _)| mag >= *f)
}

/// Suffix written after scientific notation: durations stay in seconds.
fn sci_suffix(mode: TickLabelMode) -> &'static str {
    if mode == TickLabelMode::Duration {
        "s"
    } else {
        ""
    }
}

/// Labels for a set of ticks. Linear axes share one unit for the whole axis (chosen by
/// its largest value) with as many decimals (at most 3) as the spacing needs, so labels
/// line up; log-like axes and durations label each tick on its own. Past the units at
/// either end (`Y`/`y`) labels are in scientific notation, so none is ever long.
pub fn tick_labels(ticks: &[f64], mode: TickLabelMode, scale: Scale) -> Vec<String> {
    if mode == TickLabelMode::Off {
        return ticks.iter().map(|_| String::new()).collect();
    }
    if mode == TickLabelMode::Duration || scale != Scale::Linear {
        return ticks.iter().map(|t| compact(*t, mode)).collect();
    }
    let mag = ticks.iter().fold(0.0f64, |m, t| m.max(t.abs()));
    if mag == 0.0 || !mag.is_finite() {
        return ticks.iter().map(|t| compact(*t, mode)).collect();
    }
    let spacing = ticks
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .filter(|d| *d > 0.0)
        .fold(f64::INFINITY, f64::min);
    let decimals_for = |factor: f64| -> usize {
        if spacing.is_finite() {
            (-(spacing / factor).log10().floor()).clamp(0.0, 3.0) as usize
        } else {
            0
        }
    };
    match unit_for(mag, mode) {
        Some((factor, prefix)) => {
            let decimals = decimals_for(factor);
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
        None => {
            // Each tick with the mantissa digits the spacing needs: `1.5e300`, `2.0e300`.
            let suffix = sci_suffix(mode);
            ticks
                .iter()
                .map(|t| {
                    if *t == 0.0 {
                        return "0".to_string();
                    }
                    let digits = if spacing.is_finite() {
                        (t.abs().log10().floor() - spacing.log10().floor()).clamp(0.0, 3.0) as usize
                    } else {
                        0
                    };
                    format!("{t:.digits$e}{suffix}")
                })
                .collect()
        }
    }
}

/// A value as the legend, the tick labels of a log axis and the web UI's table write it:
/// three significant digits and the unit of `mode` (`12.3k`, `1.50Mi`, `41.9ms`), or
/// scientific notation past the last unit (`1.23e300`). `Off` writes decimal.
///
/// ```
/// use sextant_ui::{format_value, TickLabelMode};
/// assert_eq!(format_value(0.0419, TickLabelMode::Duration), "41.9ms");
/// assert_eq!(format_value(12_345.0, TickLabelMode::Decimal), "12.3k");
/// assert_eq!(format_value(3.0 * 1024.0 * 1024.0, TickLabelMode::Binary), "3.00Mi");
/// assert_eq!(format_value(1.225e21, TickLabelMode::Decimal), "1.23Z");
/// assert_eq!(format_value(-1.5e300, TickLabelMode::Decimal), "-1.50e300");
/// ```
pub fn format_value(v: f64, mode: TickLabelMode) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Inf" } else { "-Inf" }.to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let Some((factor, unit)) = unit_for(v.abs(), mode) else {
        return format!("{v:.2e}{}", sci_suffix(mode));
    };
    let x = v / factor;
    let decimals = if x.abs() >= 99.95 {
        0
    } else if x.abs() >= 9.995 {
        1
    } else {
        2
    };
    format!("{x:.decimals$}{unit}")
}

/// A legend value in decimal units: [`format_value`] with [`TickLabelMode::Decimal`].
pub fn short_value(v: f64) -> String {
    format_value(v, TickLabelMode::Decimal)
}

/// [`format_value`] without trailing zeros: `1k`, `2.5M`, `250ms`, `1e300`.
fn compact(v: f64, mode: TickLabelMode) -> String {
    let s = format_value(v, mode);
    let (num, rest) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')) {
        Some(i) => s.split_at(i),
        None => (s.as_str(), ""),
    };
    let num = if num.contains('.') {
        num.trim_end_matches('0').trim_end_matches('.')
    } else {
        num
    };
    format!("{num}{rest}")
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
            pad: (0.0, 0.0),
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
        assert_eq!(compact(90.0, TickLabelMode::Duration), "1.5min");
    }

    #[test]
    fn prefixes_reach_yotta_and_yocto_then_scientific() {
        let d = TickLabelMode::Decimal;
        assert_eq!(format_value(1.225e21, d), "1.23Z");
        assert_eq!(format_value(4.5e18, d), "4.50E");
        assert_eq!(format_value(999e24, d), "999Y");
        assert_eq!(format_value(1.5e300, d), "1.50e300");
        assert_eq!(format_value(-1e-20, d), "-10.0z");
        assert_eq!(format_value(2e-18, d), "2.00a");
        assert_eq!(format_value(-3e-30, d), "-3.00e-30");
        assert_eq!(format_value(f64::MIN_POSITIVE, d), "2.23e-308");
        assert_eq!(format_value(0.0419, TickLabelMode::Duration), "41.9ms");
        assert_eq!(format_value(5400.0, TickLabelMode::Duration), "1.50h");
        assert_eq!(format_value(1e300, TickLabelMode::Duration), "1.00e300s");
        assert_eq!(
            format_value(3.0 * 1024.0 * 1024.0, TickLabelMode::Binary),
            "3.00Mi"
        );
        assert_eq!(format_value(0.5, TickLabelMode::Binary), "500m");
        // Log axes label each decade on its own, short at any magnitude.
        let log = tick_labels(&[1.0, 1e25, 1e50, 1e300], d, Scale::Log);
        assert_eq!(log, ["1", "10Y", "1e50", "1e300"]);
        // A linear axis of huge values shares the digits the spacing needs.
        let lin = tick_labels(&[1.0e300, 1.5e300, 2.0e300], d, Scale::Linear);
        assert_eq!(lin, ["1.0e300", "1.5e300", "2.0e300"]);
        let tiny = tick_labels(&[-2e-20, -1e-20, 0.0], d, Scale::Linear);
        assert_eq!(tiny, ["-20z", "-10z", "0"]);
        for l in tick_labels(&[0.0, 1e-30, 2e-30], d, Scale::Linear) {
            assert!(l.len() <= 7, "{l}");
        }
    }

    #[test]
    fn log_ticks_are_decades() {
        let r = ValueRange {
            min: 1.0,
            max: 1e6,
            scale: Scale::Log,
            pad: (0.0, 0.0),
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

//! Atlas time syntax: named times, `<ref>(+|-)<duration>`, durations, ISO 8601 and Unix times.
//!
//! Follows `Strings.parseDate`, `timeRange` and `parseDuration` of Atlas
//! (`atlas-core/.../util/Strings.scala`, `IsoDateTimeParser.scala`; user docs in atlas-docs
//! `api/time-parameters.md`). Deliberate differences are listed in `docs/time.md`; the main one
//! is that an unknown lowercase word is an error here, where Atlas silently reads it as `now`.
//!
//! Times are epoch milliseconds. Arithmetic runs in `i128` nanoseconds so that `ns`/`us`
//! durations and Unix micro/nano timestamps lose nothing before the final floor to
//! milliseconds, and so that no input can overflow it; range checks turn the rest into errors.
//! The clock is never read: callers pass `now`.

use std::str::FromStr;

use chrono::{
    DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone,
};
use chrono_tz::Tz;

/// Errors from parsing times, durations and time ranges.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The input matches none of the time forms.
    #[error(
        "invalid time '{0}': expected now, epoch, s, e, <ref>(+|-)<duration>, an ISO 8601 date \
         such as 2012-01-01T09:00, or a Unix timestamp"
    )]
    InvalidTime(String),
    /// An ISO 8601 time had the right shape but a field out of range (month 13, Feb 30, ...).
    #[error("invalid time '{input}': {reason}")]
    InvalidDate {
        /// The whole time string.
        input: String,
        /// Which field was wrong.
        reason: String,
    },
    /// The input matches neither `<n><unit>` nor an ISO 8601 duration.
    #[error(
        "invalid duration '{0}': expected <n><unit> such as 5m, 1h or 3d, or ISO 8601 such as \
         PT5M or P1DT12H"
    )]
    InvalidDuration(String),
    /// `<n><unit>` with a unit Atlas does not know.
    #[error(
        "unknown duration unit '{unit}' in '{input}': expected ns, us, ms, s, second(s), m, min, \
         minute(s), h, hour(s), d, day(s), w, wk, week(s), month(s), y, year(s)"
    )]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole duration string.
        input: String,
    },
    /// A lowercase word that names no reference point (Atlas would read it as `now`).
    #[error(
        "unknown time reference '{name}' in '{input}': expected now, epoch, s, start, e or end"
    )]
    UnknownReference {
        /// The word.
        name: String,
        /// The whole time string.
        input: String,
    },
    /// A known reference that has no value here, e.g. `s` inside the start time itself.
    #[error("time reference '{name}' cannot be used in '{input}'")]
    UnavailableReference {
        /// The reference name.
        name: String,
        /// The whole time string.
        input: String,
    },
    /// A number, duration or resulting time does not fit the supported range.
    #[error("time or duration out of range: '{0}'")]
    Overflow(String),
    /// The `tz` value is not an IANA zone name.
    #[error("unknown time zone '{0}': expected an IANA zone name such as UTC or US/Pacific")]
    UnknownTimeZone(String),
    /// `time_range`: each of start and end is relative to the other.
    #[error("start and end are both relative")]
    BothRelative,
    /// `time_range`: the resolved end is earlier than the resolved start.
    #[error("end time is before start time")]
    EndBeforeStart,
}

/// Result alias for this module.
pub type Result<T, E = TimeError> = std::result::Result<T, E>;

const NANOS_PER_MILLI: i128 = 1_000_000;
const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// Values the named reference points of a time expression resolve to.
///
/// `now` and `epoch` are always available. `s`/`start` and `e`/`end` name the other end of a
/// time range and `gs`/`ge` the graph window (used by `:time-span`); each is an error while
/// unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRefs {
    /// What `now` means, epoch ms.
    pub now: i64,
    /// What `s` and `start` mean, epoch ms.
    pub start: Option<i64>,
    /// What `e` and `end` mean, epoch ms.
    pub end: Option<i64>,
    /// What `gs` (graph start) means, epoch ms.
    pub graph_start: Option<i64>,
    /// What `ge` (graph end) means, epoch ms.
    pub graph_end: Option<i64>,
}

impl TimeRefs {
    /// References with only `now` (and `epoch`) set.
    pub fn new(now: i64) -> Self {
        Self {
            now,
            start: None,
            end: None,
            graph_start: None,
            graph_end: None,
        }
    }
}

/// The reference point a relative or named time is anchored to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ref {
    Now,
    Epoch,
    Start,
    End,
    GraphStart,
    GraphEnd,
}

impl Ref {
    fn from_name(name: &str) -> Option<Ref> {
        Some(match name {
            "now" => Ref::Now,
            "epoch" => Ref::Epoch,
            "s" | "start" => Ref::Start,
            "e" | "end" => Ref::End,
            "gs" => Ref::GraphStart,
            "ge" => Ref::GraphEnd,
            _ => return None,
        })
    }

    /// Start, end and the graph ends are "custom" references in Atlas's sense: they tie a time
    /// to another one being resolved, unlike the fixed `now` and `epoch`.
    fn is_custom(self) -> bool {
        !matches!(self, Ref::Now | Ref::Epoch)
    }

    fn resolve(self, name: &str, input: &str, refs: &TimeRefs) -> Result<i64> {
        let v = match self {
            Ref::Now => Some(refs.now),
            Ref::Epoch => Some(0),
            Ref::Start => refs.start,
            Ref::End => refs.end,
            Ref::GraphStart => refs.graph_start,
            Ref::GraphEnd => refs.graph_end,
        };
        v.ok_or_else(|| TimeError::UnavailableReference {
            name: name.to_string(),
            input: input.to_string(),
        })
    }
}

/// The syntactic shape of a time string, before any value is resolved.
enum Shape<'a> {
    Named(&'a str),
    Relative {
        name: &'a str,
        negative: bool,
        duration: &'a str,
    },
    Unix(&'a str),
    UnixRelative {
        digits: &'a str,
        negative: bool,
        duration: &'a str,
    },
    Iso,
}

/// Splits `<head>(+|-)<tail>` where the tail has no further sign, as Atlas's
/// `^([a-z]+)([\-+])([^\-+]+)$` and its Unix twin do. `None` when the shape does not fit.
fn split_op(s: &str, head_len: usize) -> Option<(&str, bool, &str)> {
    let (head, rest) = s.split_at(head_len);
    let negative = match rest.as_bytes().first()? {
        b'-' => true,
        b'+' => false,
        _ => return None,
    };
    let tail = &rest[1..];
    if tail.is_empty() || tail.contains(['+', '-']) {
        return None;
    }
    Some((head, negative, tail))
}

fn shape(s: &str) -> Shape<'_> {
    let letters = s.bytes().take_while(u8::is_ascii_lowercase).count();
    if letters > 0 {
        if letters == s.len() {
            return Shape::Named(s);
        }
        if let Some((name, negative, duration)) = split_op(s, letters) {
            return Shape::Relative {
                name,
                negative,
                duration,
            };
        }
        return Shape::Iso;
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        if digits == s.len() {
            return Shape::Unix(s);
        }
        if let Some((digits, negative, duration)) = split_op(s, digits) {
            return Shape::UnixRelative {
                digits,
                negative,
                duration,
            };
        }
    }
    Shape::Iso
}

/// Returns the reference a time string is anchored to, if it is named or relative.
fn reference_of(s: &str) -> Option<Result<Ref>> {
    let name = match shape(s) {
        Shape::Named(name) | Shape::Relative { name, .. } => name,
        _ => return None,
    };
    Some(
        Ref::from_name(name).ok_or_else(|| TimeError::UnknownReference {
            name: name.to_string(),
            input: s.to_string(),
        }),
    )
}

/// Parses one time, resolving `now`, `s`, `e`, ... from `refs` and zone-less ISO times in `tz`.
///
/// ```
/// use sextant_query::{parse_time, TimeRefs};
/// let now = 1_325_408_400_000; // 2012-01-01T09:00Z
/// let refs = TimeRefs::new(now);
/// assert_eq!(parse_time("now-1h", chrono_tz::UTC, &refs)?, now - 3_600_000);
/// assert_eq!(parse_time("2012-01-01T09:00", chrono_tz::UTC, &refs)?, now);
/// assert_eq!(parse_time("1325408400", chrono_tz::UTC, &refs)?, now);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_time(input: &str, tz: Tz, refs: &TimeRefs) -> Result<i64> {
    let nanos = match shape(input) {
        Shape::Named(name) => {
            let r = named_ref(name, input)?;
            i128::from(r.resolve(name, input, refs)?) * NANOS_PER_MILLI
        }
        Shape::Relative {
            name,
            negative,
            duration,
        } => {
            let r = named_ref(name, input)?;
            let base = i128::from(r.resolve(name, input, refs)?) * NANOS_PER_MILLI;
            apply_offset(base, negative, duration)?
        }
        Shape::Unix(digits) => unix_nanos(digits, input)?,
        Shape::UnixRelative {
            digits,
            negative,
            duration,
        } => apply_offset(unix_nanos(digits, input)?, negative, duration)?,
        Shape::Iso => parse_iso(input, tz)?,
    };
    to_millis(nanos, input)
}

fn named_ref(name: &str, input: &str) -> Result<Ref> {
    Ref::from_name(name).ok_or_else(|| TimeError::UnknownReference {
        name: name.to_string(),
        input: input.to_string(),
    })
}

fn apply_offset(base: i128, negative: bool, duration: &str) -> Result<i128> {
    let d = delta_nanos(parse_duration(duration)?);
    // i128 nanoseconds cannot overflow here: both operands are far below 2^100.
    Ok(if negative { base - d } else { base + d })
}

fn delta_nanos(d: TimeDelta) -> i128 {
    i128::from(d.num_seconds()) * NANOS_PER_SECOND + i128::from(d.subsec_nanos())
}

/// Floors to milliseconds and keeps the result inside what chrono can format, so every time
/// this module returns can later be printed as a date.
fn to_millis(nanos: i128, input: &str) -> Result<i64> {
    let ms = nanos.div_euclid(NANOS_PER_MILLI);
    i64::try_from(ms)
        .ok()
        .filter(|ms| DateTime::from_timestamp_millis(*ms).is_some())
        .ok_or_else(|| TimeError::Overflow(input.to_string()))
}

/// 2147483647 is the largest value read as seconds (Atlas's `Integer.MAX_VALUE` cutoff).
const SECONDS_CUTOFF: i128 = i32::MAX as i128;
/// 2400-01-01T00:00Z in ms: above it a value is read as microseconds, and at 1000x that as nanos.
const MILLIS_CUTOFF: i128 = 13_569_465_600_000;

fn unix_nanos(digits: &str, input: &str) -> Result<i128> {
    let v: i128 = digits
        .parse::<i64>()
        .map_err(|_| TimeError::Overflow(input.to_string()))?
        .into();
    Ok(if v <= SECONDS_CUTOFF {
        v * NANOS_PER_SECOND
    } else if v <= MILLIS_CUTOFF {
        v * NANOS_PER_MILLI
    } else if v <= MILLIS_CUTOFF * 1000 {
        v * 1000
    } else {
        v
    })
}

/// Parses a duration: `<n><unit>` (Unix `at` style, e.g. `5m`, `3days`) or ISO 8601
/// `PnDTnHnMn.nS`.
///
/// Months are 30 days and years 365 days, as in Atlas. The `:offset` and `:rolling-*` words
/// share this parser.
///
/// ```
/// use sextant_query::parse_duration;
/// assert_eq!(parse_duration("5m")?.num_milliseconds(), 300_000);
/// assert_eq!(parse_duration("P1DT5M42S")?.num_seconds(), 86_400 + 342);
/// assert!(parse_duration("5fortnights").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_duration(input: &str) -> Result<TimeDelta> {
    if input.starts_with('P') {
        return parse_iso_duration(input);
    }
    let digits = input.bytes().take_while(u8::is_ascii_digit).count();
    let (amount, unit) = input.split_at(digits);
    // Same shape as Atlas's `^(\d+)([a-zμ]+)$`.
    if digits == 0 || unit.is_empty() || !unit.chars().all(|c| c.is_ascii_lowercase() || c == 'μ')
    {
        return Err(TimeError::InvalidDuration(input.to_string()));
    }
    let overflow = || TimeError::Overflow(input.to_string());
    let v: i64 = amount.parse().map_err(|_| overflow())?;
    // Sub-second units count nanoseconds, the rest seconds, so every unit is exact.
    let (factor, nanos) = match unit {
        "ns" => (1, true),
        "us" | "μs" => (1_000, true),
        "ms" => (1_000_000, true),
        "s" | "second" | "seconds" => (1, false),
        "m" | "min" | "minute" | "minutes" => (60, false),
        "h" | "hour" | "hours" => (3_600, false),
        "d" | "day" | "days" => (86_400, false),
        "w" | "wk" | "week" | "weeks" => (7 * 86_400, false),
        "month" | "months" => (30 * 86_400, false),
        "y" | "year" | "years" => (365 * 86_400, false),
        _ => {
            return Err(TimeError::UnknownUnit {
                unit: unit.to_string(),
                input: input.to_string(),
            })
        }
    };
    let amount = v.checked_mul(factor);
    let delta = if nanos {
        amount.map(TimeDelta::nanoseconds)
    } else {
        amount.and_then(TimeDelta::try_seconds)
    };
    delta.ok_or_else(overflow)
}

/// [`parse_duration`] as the stack words (`:offset`, `:trend`, `:consolidate`, `:time-span`)
/// take it: whole milliseconds, `None` if malformed or negative. Negative amounts (possible
/// in ISO form, `PT-1H`) are refused because these words shift and divide by the value and
/// never accepted one; sub-millisecond parts are truncated as the model counts ms.
pub(crate) fn duration_millis(input: &str) -> Option<i64> {
    parse_duration(input)
        .ok()
        .map(|d| d.num_milliseconds())
        .filter(|ms| *ms >= 0)
}

/// Java's `Duration.parse` grammar, `P[nD][T[nH][nM][n[.f]S]]`, each amount optionally signed;
/// letters after the `P` are case-insensitive as in Java.
fn parse_iso_duration(input: &str) -> Result<TimeDelta> {
    let invalid = || TimeError::InvalidDuration(input.to_string());
    let overflow = || TimeError::Overflow(input.to_string());
    let mut rest = &input[1..];
    let mut total: i128 = 0;
    let mut any = false;
    let mut in_time = false;
    // Units must appear in this order, each at most once.
    let mut next_unit = 0;
    while !rest.is_empty() {
        if !in_time && (rest.starts_with('T') || rest.starts_with('t')) {
            in_time = true;
            rest = &rest[1..];
            if rest.is_empty() {
                return Err(invalid());
            }
            continue;
        }
        let sign_len = usize::from(rest.starts_with(['+', '-']));
        let int_len = rest[sign_len..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if int_len == 0 {
            return Err(invalid());
        }
        let int_end = sign_len + int_len;
        let negative = rest.starts_with('-');
        let whole: i128 = rest[sign_len..int_end]
            .parse::<i64>()
            .map_err(|_| overflow())?
            .into();
        let mut frac_nanos: i128 = 0;
        let mut end = int_end;
        if in_time && rest[end..].starts_with(['.', ',']) {
            let frac_len = rest[end + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            if frac_len > 9 {
                return Err(invalid());
            }
            let frac = &rest[end + 1..end + 1 + frac_len];
            if !frac.is_empty() {
                let digits: i128 = frac.parse::<i64>().map_err(|_| invalid())?.into();
                frac_nanos = digits * 10_i128.pow(9 - frac_len as u32);
            }
            end += 1 + frac_len;
            if !rest[end..].starts_with(['S', 's']) {
                return Err(invalid());
            }
        }
        let unit = rest[end..]
            .chars()
            .next()
            .ok_or_else(invalid)?
            .to_ascii_uppercase();
        let (rank, seconds) = match (in_time, unit) {
            (false, 'D') => (1, 86_400),
            (true, 'H') => (2, 3_600),
            (true, 'M') => (3, 60),
            (true, 'S') => (4, 1),
            _ => return Err(invalid()),
        };
        if rank <= next_unit {
            return Err(invalid());
        }
        next_unit = rank;
        let mut nanos = whole * seconds * NANOS_PER_SECOND + frac_nanos;
        if negative {
            nanos = -nanos;
        }
        total += nanos;
        any = true;
        rest = &rest[end + 1..];
    }
    if !any {
        return Err(invalid());
    }
    let secs = i64::try_from(total.div_euclid(NANOS_PER_SECOND)).map_err(|_| overflow())?;
    let sub = total.rem_euclid(NANOS_PER_SECOND) as i64;
    TimeDelta::try_seconds(secs)
        .and_then(|d| d.checked_add(&TimeDelta::nanoseconds(sub)))
        .ok_or_else(overflow)
}

/// Formats a duration the way Atlas prints offsets and legends (`Strings.toString`): whole
/// weeks, days, hours, minutes or seconds as `1w`, `3d`, `2h`, `5m`, `30s`, anything else in
/// ISO 8601 (`PT0.5S`). Zero prints as `0w`, as in the `atlas.offset=0w` tag.
pub fn format_duration(d: TimeDelta) -> String {
    // Atlas tests whole units on the millisecond value, so sub-millisecond parts are ignored
    // there and only show in the ISO fallback.
    let ms = d.num_milliseconds();
    let units = [
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ];
    for (unit, len) in units {
        if ms % len == 0 {
            return format!("{}{unit}", ms / len);
        }
    }
    iso_duration(d)
}

/// Java's `Duration.toString`, reached only for durations that are not whole seconds.
fn iso_duration(d: TimeDelta) -> String {
    let total = delta_nanos(d);
    let negative = total < 0;
    let abs = total.unsigned_abs();
    let secs = abs / NANOS_PER_SECOND as u128;
    let nanos = abs % NANOS_PER_SECOND as u128;
    let sign = if negative { "-" } else { "" };
    let mut out = String::from("PT");
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h != 0 {
        out.push_str(&format!("{sign}{h}H"));
    }
    if m != 0 {
        out.push_str(&format!("{sign}{m}M"));
    }
    let frac = format!("{nanos:09}");
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        out.push_str(&format!("{sign}{s}S"));
    } else {
        out.push_str(&format!("{sign}{s}.{frac}S"));
    }
    out
}

/// Looks up an IANA time zone name such as `UTC` or `US/Pacific`.
pub fn parse_time_zone(name: &str) -> Result<Tz> {
    Tz::from_str(name).map_err(|_| TimeError::UnknownTimeZone(name.to_string()))
}

/// Resolves a start and end time that may refer to each other, as Atlas's `timeRange`.
///
/// When `s` is anchored to the end (`e-3h`, or just `e`) the end is parsed first and the
/// start from it; otherwise the start is parsed first and `e` may use `s`. Returns
/// `(start, end)` in epoch ms, with `start <= end`.
///
/// ```
/// use sextant_query::time_range;
/// let now = 1_325_408_400_000;
/// assert_eq!(time_range("e-3h", "now", chrono_tz::UTC, now)?, (now - 10_800_000, now));
/// assert_eq!(time_range("e-5m", "s+5m", chrono_tz::UTC, now).unwrap_err().to_string(),
///            "start and end are both relative");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn time_range(s: &str, e: &str, tz: Tz, now: i64) -> Result<(i64, i64)> {
    let s_ref = reference_of(s).transpose()?;
    let e_ref = reference_of(e).transpose()?;
    let base = TimeRefs::new(now);
    let (start, end) = if s_ref == Some(Ref::End) {
        // Atlas's check: `e` may not in turn be relative to a custom reference.
        let e_relative = matches!(shape(e), Shape::Relative { .. });
        if e_relative && e_ref.is_some_and(Ref::is_custom) {
            return Err(TimeError::BothRelative);
        }
        let end = parse_time(e, tz, &base)?;
        let start = parse_time(
            s,
            tz,
            &TimeRefs {
                end: Some(end),
                ..base
            },
        )?;
        (start, end)
    } else {
        let start = parse_time(s, tz, &base)?;
        let end = parse_time(
            e,
            tz,
            &TimeRefs {
                start: Some(start),
                ..base
            },
        )?;
        (start, end)
    };
    if end < start {
        return Err(TimeError::EndBeforeStart);
    }
    Ok((start, end))
}

/// Parses the ISO 8601 forms Atlas accepts: `YYYY-MM-DD`, then optionally `THH:MM`, `:SS` and a
/// fraction, then optionally `Z` or an offset `±HH`, `±HHMM`, `±HH:MM`, `±HHMMSS`, `±HH:MM:SS`.
/// Without an offset the local time is read in `tz`.
fn parse_iso(input: &str, tz: Tz) -> Result<i128> {
    let invalid = || TimeError::InvalidTime(input.to_string());
    let bad = |reason: &str| TimeError::InvalidDate {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let mut cur = Cursor {
        s: input.as_bytes(),
        pos: 0,
    };
    let year = cur.number(4).ok_or_else(invalid)?;
    cur.expect(b'-').ok_or_else(invalid)?;
    let month = cur.number(2).ok_or_else(invalid)?;
    cur.expect(b'-').ok_or_else(invalid)?;
    let day = cur.number(2).ok_or_else(invalid)?;
    let (mut hour, mut minute, mut second, mut nano) = (0, 0, 0, 0);
    if cur.eat(b'T') || cur.eat(b't') {
        hour = cur.number(2).ok_or_else(invalid)?;
        cur.expect(b':').ok_or_else(invalid)?;
        minute = cur.number(2).ok_or_else(invalid)?;
        if cur.eat(b':') {
            second = cur.number(2).ok_or_else(invalid)?;
            if cur.eat(b'.') {
                let start = cur.pos;
                while cur.peek().is_some_and(|b| b.is_ascii_digit()) {
                    cur.pos += 1;
                }
                let len = cur.pos - start;
                if len == 0 || len > 9 {
                    return Err(invalid());
                }
                let digits = std::str::from_utf8(&cur.s[start..cur.pos]).map_err(|_| invalid())?;
                let v: u32 = digits.parse().map_err(|_| invalid())?;
                nano = v * 10_u32.pow(9 - len as u32);
            }
        }
    }
    let offset = if cur.at_end() {
        None
    } else if cur.eat(b'Z') || cur.eat(b'z') {
        Some(0)
    } else {
        Some(parse_offset(&mut cur).ok_or_else(invalid)?)
    };
    if !cur.at_end() {
        return Err(invalid());
    }
    let date =
        NaiveDate::from_ymd_opt(year as i32, month, day).ok_or_else(|| bad("no such date"))?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nano)
        .ok_or_else(|| bad("no such time of day"))?;
    let local = NaiveDateTime::new(date, time);
    let offset_secs = match offset {
        Some(secs) => {
            if secs.abs() > 18 * 3600 {
                return Err(bad("offset beyond ±18:00"));
            }
            secs
        }
        None => zone_offset(tz, &local),
    };
    let local_nanos = i128::from(local.and_utc().timestamp()) * NANOS_PER_SECOND + i128::from(nano);
    Ok(local_nanos - i128::from(offset_secs) * NANOS_PER_SECOND)
}

/// UTC offset in seconds of `local` in `tz`. Like Java's `ZonedDateTime`: in an overlap the
/// earlier offset wins, and in a gap the offset from before the gap applies, which moves the
/// time forward by the length of the gap.
fn zone_offset(tz: Tz, local: &NaiveDateTime) -> i32 {
    match tz.offset_from_local_datetime(local) {
        LocalResult::Single(o) | LocalResult::Ambiguous(o, _) => o.fix().local_minus_utc(),
        LocalResult::None => {
            // Gaps are at most a few hours; a day earlier is safely before the transition.
            let before = *local - TimeDelta::days(1);
            tz.offset_from_utc_datetime(&before).fix().local_minus_utc()
        }
    }
}

fn parse_offset(cur: &mut Cursor<'_>) -> Option<i32> {
    let sign = match cur.peek()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    cur.pos += 1;
    let h = cur.number(2)?;
    let (mut m, mut s) = (0, 0);
    if !cur.at_end() {
        let colon = cur.eat(b':');
        m = cur.number(2)?;
        if !cur.at_end() {
            // Java's `+HH:MM:SS` / `+HHMMSS`: the separators must agree.
            if colon {
                cur.expect(b':')?;
            }
            s = cur.number(2)?;
        }
    }
    if m > 59 || s > 59 {
        return None;
    }
    let secs = (h * 3600 + m * 60 + s) as i32;
    FixedOffset::east_opt(secs)?;
    Some(sign * secs)
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    /// Exactly `n` ASCII digits.
    fn number(&mut self, n: usize) -> Option<u32> {
        let digits = self.s.get(self.pos..self.pos + n)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.pos += n;
        Some(
            digits
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::duration_millis;

    #[test]
    fn stack_word_durations() {
        assert_eq!(duration_millis("5m"), Some(300_000));
        assert_eq!(duration_millis("1h"), Some(3_600_000));
        assert_eq!(duration_millis("1w"), Some(604_800_000));
        assert_eq!(duration_millis("100ms"), Some(100));
        assert_eq!(duration_millis("PT30S"), Some(30_000));
        assert_eq!(duration_millis("P1DT1H"), Some(90_000_000));
        assert_eq!(duration_millis("PT1.5S"), Some(1500));
        assert_eq!(duration_millis("PT-1H"), None);
        assert_eq!(duration_millis("5"), None);
        assert_eq!(duration_millis("m"), None);
        assert_eq!(duration_millis("P"), None);
        assert_eq!(duration_millis("99999999999999999999d"), None);
    }
}

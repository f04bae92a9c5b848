//! The time parser: arbitrary start/end strings never panic `parse_time`, `time_range`,
//! `parse_duration` or `parse_time_zone`; every time returned can be printed as a date;
//! ranges come out ordered; and a non-negative whole-millisecond duration survives
//! `format_duration` → `parse_duration`.
//!
//! Input: a time-zone selector byte, then `start` and `end` separated by a newline.
#![no_main]

use chrono::DateTime;
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;
use sextant_query::{
    format_duration, parse_duration, parse_time, parse_time_zone, time_range, TimeRefs,
};

/// 2012-01-01T09:00Z, Atlas's test clock.
const NOW: i64 = 1_325_408_400_000;

/// Zones with DST gaps, half-hour and 45-minute offsets, and the date line.
const ZONES: [Tz; 6] = [
    chrono_tz::UTC,
    chrono_tz::US::Pacific,
    chrono_tz::Europe::London,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Pacific::Chatham,
    chrono_tz::Pacific::Apia,
];

fuzz_target!(|data: &[u8]| {
    let Some((&zone, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let tz = ZONES[zone as usize % ZONES.len()];
    let (s, e) = text.split_once('\n').unwrap_or((text, "now"));

    let printable = |t: i64, what: &str| {
        assert!(
            DateTime::from_timestamp_millis(t).is_some(),
            "{what} {s:?} gave {t}, which is not a date"
        );
    };
    if let Ok(t) = parse_time(s, tz, &TimeRefs::new(NOW)) {
        printable(t, "parse_time");
    }
    let refs = TimeRefs {
        now: NOW,
        start: Some(NOW - 3_600_000),
        end: Some(NOW),
        graph_start: Some(NOW - 7_200_000),
        graph_end: Some(NOW - 60_000),
    };
    if let Ok(t) = parse_time(s, tz, &refs) {
        printable(t, "parse_time with every reference");
    }
    if let Ok((start, end)) = time_range(s, e, tz, NOW) {
        printable(start, "time_range start");
        printable(end, "time_range end");
        assert!(start <= end, "time_range({s:?}, {e:?}) = ({start}, {end})");
    }
    if let Ok(d) = parse_duration(s) {
        if d >= chrono::TimeDelta::zero() && d.subsec_nanos() % 1_000_000 == 0 {
            let printed = format_duration(d);
            match parse_duration(&printed) {
                Ok(again) => assert_eq!(again, d, "{s:?} printed as {printed:?}"),
                Err(err) => panic!("{s:?} printed as {printed:?}, which fails: {err}"),
            }
        }
    }
    let _ = parse_time_zone(s);
});

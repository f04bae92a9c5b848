//! Time syntax: ports of Atlas's `StringsSuite` (parseDuration, parseDate, timeRange, toString)
//! plus the places we differ on purpose.

use chrono::{TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use sextant_query::{
    format_duration, parse_duration, parse_time, parse_time_zone, time_range, TimeError, TimeRefs,
};

const UTC: Tz = chrono_tz::UTC;

fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .timestamp_millis()
}

fn parse(s: &str) -> Result<i64, TimeError> {
    parse_time(s, UTC, &TimeRefs::new(0))
}

/// `parseDate(ref, str, UTC)` in the old Atlas API: `s`/`start` and `e`/`end` all mean `r`.
fn parse_ref(r: i64, s: &str) -> Result<i64, TimeError> {
    let refs = TimeRefs {
        start: Some(r),
        end: Some(r),
        ..TimeRefs::new(0)
    };
    parse_time(s, UTC, &refs)
}

fn secs(d: TimeDelta) -> i64 {
    d.num_seconds()
}

#[test]
fn duration_units_seconds_minutes_hours() {
    for s in ["42seconds", "42second", "42s"] {
        assert_eq!(secs(parse_duration(s).unwrap()), 42, "{s}");
    }
    for s in ["42minutes", "42minute", "42min", "42m"] {
        assert_eq!(secs(parse_duration(s).unwrap()), 42 * 60, "{s}");
    }
    for s in ["42hours", "42hour", "42h"] {
        assert_eq!(secs(parse_duration(s).unwrap()), 42 * 3600, "{s}");
    }
}

#[test]
fn duration_units_days_weeks_months_years() {
    let day = 86_400;
    for s in ["42days", "42day", "42d"] {
        assert_eq!(secs(parse_duration(s).unwrap()), 42 * day, "{s}");
    }
    for s in ["42weeks", "42week", "42wk", "42w"] {
        assert_eq!(secs(parse_duration(s).unwrap()), 42 * 7 * day, "{s}");
    }
    for s in ["42months", "42month"] {
        assert_eq!(secs(parse_duration(s).unwrap()), 42 * 30 * day, "{s}");
    }
    for s in ["42years", "42year", "42y"] {
        assert_eq!(secs(parse_duration(s).unwrap()), 42 * 365 * day, "{s}");
    }
}

#[test]
fn duration_sub_second_units() {
    assert_eq!(parse_duration("42ns").unwrap(), TimeDelta::nanoseconds(42));
    assert_eq!(parse_duration("42us").unwrap(), TimeDelta::microseconds(42));
    assert_eq!(parse_duration("42μs").unwrap(), TimeDelta::microseconds(42));
    assert_eq!(parse_duration("42ms").unwrap(), TimeDelta::milliseconds(42));
}

#[test]
fn duration_unknown_unit() {
    let e = parse_duration("42fubars").unwrap_err();
    assert_eq!(
        e,
        TimeError::UnknownUnit {
            unit: "fubars".into(),
            input: "42fubars".into()
        }
    );
    assert!(e
        .to_string()
        .starts_with("unknown duration unit 'fubars' in '42fubars'"));
}

#[test]
fn duration_invalid_shapes() {
    for s in [
        "", "m", "5", "5M", "-5m", "5 m", "5m5s", "1.5h", "PT", "P", "PT5X", "P1H", "PT1D",
    ] {
        assert!(
            matches!(parse_duration(s), Err(TimeError::InvalidDuration(_))),
            "{s}: {:?}",
            parse_duration(s)
        );
    }
}

#[test]
fn duration_iso() {
    assert_eq!(secs(parse_duration("PT42M").unwrap()), 42 * 60);
    assert_eq!(
        secs(parse_duration("P1DT5M42S").unwrap()),
        86_400 + 5 * 60 + 42
    );
    assert_eq!(secs(parse_duration("P2D").unwrap()), 2 * 86_400);
    assert_eq!(
        parse_duration("PT0.5S").unwrap(),
        TimeDelta::milliseconds(500)
    );
    assert_eq!(
        parse_duration("PT1.000000001S").unwrap(),
        TimeDelta::nanoseconds(1_000_000_001)
    );
    assert_eq!(secs(parse_duration("PT1H-30M").unwrap()), 1800);
    // Java accepts lowercase letters after the `P`.
    assert_eq!(secs(parse_duration("Pt2h").unwrap()), 7200);
    // Units out of order or repeated are rejected, as in Java.
    assert!(parse_duration("PT5M1H").is_err());
    assert!(parse_duration("PT5M5M").is_err());
}

#[test]
fn duration_overflow_is_an_error() {
    for s in [
        "99999999999999999999s",
        "9223372036854775807y",
        "9223372036854775807ms",
        "P9223372036854775807D",
    ] {
        assert!(
            matches!(parse_duration(s), Err(TimeError::Overflow(_))),
            "{s}"
        );
    }
}

#[test]
fn format_duration_like_atlas_to_string() {
    let d = |s: &str| parse_duration(s).unwrap();
    assert_eq!(format_duration(d("5w")), "5w");
    // Atlas's comment: P5WT10H does not parse in Java, so this falls back to hours.
    assert_eq!(format_duration(d("5w") + d("10h")), "850h");
    assert_eq!(format_duration(d("5d")), "5d");
    assert_eq!(format_duration(d("5h")), "5h");
    assert_eq!(format_duration(d("5m")), "5m");
    assert_eq!(format_duration(d("5s")), "5s");
    assert_eq!(format_duration(TimeDelta::zero()), "0w");
    assert_eq!(format_duration(d("500ms")), "PT0.5S");
    assert_eq!(format_duration(d("90500ms")), "PT1M30.5S");
    assert_eq!(format_duration(-d("1w")), "-1w");
}

#[test]
fn iso_date_only() {
    assert_eq!(parse("2012-02-01").unwrap(), ms(2012, 2, 1, 0, 0, 0));
}

#[test]
fn iso_date_with_time_no_seconds() {
    let expected = ms(2012, 2, 1, 4, 5, 0);
    assert_eq!(parse("2012-02-01T04:05").unwrap(), expected);
    assert_eq!(parse("2012-02-01T04:05Z").unwrap(), expected);
    assert_eq!(parse("2012-02-01T12:05+08:00").unwrap(), expected);
}

#[test]
fn iso_date_with_time_and_zone() {
    assert_eq!(
        parse("2012-02-01T04:05:06").unwrap(),
        ms(2012, 2, 1, 4, 5, 6)
    );
    assert_eq!(
        parse("2012-02-01T04:05:06+08:00").unwrap(),
        ms(2012, 1, 31, 20, 5, 6)
    );
}

#[test]
fn iso_with_millis_and_zone_forms() {
    let expected = ms(2012, 2, 1, 4, 5, 6) + 123;
    for s in [
        "2012-02-01T04:05:06.123",
        "2012-02-01T04:05:06.123Z",
        "2012-02-01T04:05:06.123+00:00",
        "2012-02-01T04:05:06.123+0000",
        "2012-02-01T04:05:06.123+00",
    ] {
        assert_eq!(parse(s).unwrap(), expected, "{s}");
    }
    assert_eq!(
        parse("2012-02-01T04:05:06.123-03:00").unwrap(),
        ms(2012, 2, 1, 7, 5, 6) + 123
    );
}

#[test]
fn iso_formats_every_offset_form() {
    // (offset text, offset seconds east of UTC)
    let offsets = [
        ("", 0),
        ("Z", 0),
        ("+00", 0),
        ("+0000", 0),
        ("+000000", 0),
        ("+00:00", 0),
        ("+00:00:00", 0),
        ("-04", -4 * 3600),
        ("-0402", -(4 * 3600 + 2 * 60)),
        ("-040231", -(4 * 3600 + 2 * 60 + 31)),
        ("-04:02", -(4 * 3600 + 2 * 60)),
        ("-04:02:31", -(4 * 3600 + 2 * 60 + 31)),
    ];
    let times = [
        ("2020-07-28", ms(2020, 7, 28, 0, 0, 0)),
        ("2020-07-28T05:43", ms(2020, 7, 28, 5, 43, 0)),
        ("2020-07-28T05:43:02", ms(2020, 7, 28, 5, 43, 2)),
        ("2020-07-28T05:43:02.143", ms(2020, 7, 28, 5, 43, 2) + 143),
    ];
    for (t, local) in times {
        for (o, east) in offsets {
            let s = format!("{t}{o}");
            assert_eq!(parse(&s).unwrap(), local - east * 1000, "{s}");
        }
    }
}

#[test]
fn iso_fraction_lengths() {
    let base = ms(2012, 2, 1, 4, 5, 6);
    assert_eq!(parse("2012-02-01T04:05:06.1Z").unwrap(), base + 100);
    assert_eq!(parse("2012-02-01T04:05:06.123456789Z").unwrap(), base + 123);
    assert!(parse("2012-02-01T04:05:06.1234567890Z").is_err());
    assert!(parse("2012-02-01T04:05:06.Z").is_err());
}

#[test]
fn iso_invalid() {
    for s in [
        "2012-02-",
        "2012-2-01",
        "12-02-01",
        "2012-02-01T4:05",
        "2012-02-01T04",
        "2012-02-01 04:05",
        "2012-02-01T04:05+8",
        "2012-02-01T04:05+08:0",
        "2012-02-01T04:05+08:00:",
        "2012-02-01T04:05+0800:00",
        "+2012-02-01",
    ] {
        assert!(
            matches!(parse(s), Err(TimeError::InvalidTime(_))),
            "{s}: {:?}",
            parse(s)
        );
    }
}

#[test]
fn iso_fields_out_of_range() {
    for s in [
        "2012-13-01",
        "2012-02-30",
        "2012-02-01T24:00",
        "2012-02-01T23:60",
        "2012-02-01T23:59:60",
        "2012-02-01T00:00+19:00",
    ] {
        assert!(
            matches!(
                parse(s),
                Err(TimeError::InvalidDate { .. }) | Err(TimeError::InvalidTime(_))
            ),
            "{s}"
        );
    }
    let e = parse("2012-02-30").unwrap_err();
    assert_eq!(e.to_string(), "invalid time '2012-02-30': no such date");
}

#[test]
fn zone_less_times_use_tz() {
    let pacific = parse_time_zone("US/Pacific").unwrap();
    let refs = TimeRefs::new(0);
    assert_eq!(
        parse_time("2012-01-01T00:00", pacific, &refs).unwrap(),
        ms(2012, 1, 1, 8, 0, 0)
    );
    // An explicit offset wins over tz.
    assert_eq!(
        parse_time("2012-01-01T00:00Z", pacific, &refs).unwrap(),
        ms(2012, 1, 1, 0, 0, 0)
    );
    // Spring forward gap: 02:30 does not exist, Java moves it forward by the gap (03:30 PDT).
    assert_eq!(
        parse_time("2012-03-11T02:30", pacific, &refs).unwrap(),
        ms(2012, 3, 11, 10, 30, 0)
    );
    // Fall back overlap: the earlier offset (PDT, -07:00) wins.
    assert_eq!(
        parse_time("2012-11-04T01:30", pacific, &refs).unwrap(),
        ms(2012, 11, 4, 8, 30, 0)
    );
}

#[test]
fn relative_minus_plus_iso_and_epoch() {
    let r = ms(2012, 2, 1, 3, 0, 0);
    assert_eq!(parse_ref(r, "e-3h").unwrap(), ms(2012, 2, 1, 0, 0, 0));
    assert_eq!(parse_ref(r, "start+42s").unwrap(), ms(2012, 2, 1, 3, 0, 42));
    let r2 = ms(2012, 2, 2, 3, 0, 0);
    assert_eq!(
        parse_ref(r2, "start-P1DT5M42S").unwrap(),
        ms(2012, 2, 1, 2, 54, 18)
    );
    assert_eq!(parse_ref(r2, "epoch+4h").unwrap(), ms(1970, 1, 1, 4, 0, 0));
    assert_eq!(parse_ref(r, "e-0h").unwrap(), r);
    assert_eq!(parse_ref(r, "e").unwrap(), r);
    assert_eq!(parse_ref(r, "end-1d").unwrap(), r - 86_400_000);
}

#[test]
fn relative_invalid_op() {
    assert_eq!(
        parse("e*42h").unwrap_err(),
        TimeError::InvalidTime("e*42h".into())
    );
    // Exactly one operator, as in Atlas.
    assert!(parse("now-1h-5m").is_err());
    assert!(parse("now-").is_err());
}

#[test]
fn named_now_and_epoch() {
    let now = ms(2020, 1, 2, 3, 4, 5);
    assert_eq!(parse_time("now", UTC, &TimeRefs::new(now)).unwrap(), now);
    assert_eq!(
        parse_time("now-5m", UTC, &TimeRefs::new(now)).unwrap(),
        now - 300_000
    );
    assert_eq!(parse_time("epoch", UTC, &TimeRefs::new(now)).unwrap(), 0);
}

#[test]
fn sub_millisecond_offsets_floor_to_millis() {
    assert_eq!(
        parse_time("now-1ns", UTC, &TimeRefs::new(1000)).unwrap(),
        999
    );
    assert_eq!(
        parse_time("now+999us", UTC, &TimeRefs::new(1000)).unwrap(),
        1000
    );
}

#[test]
fn unknown_words_are_errors_not_now() {
    // Deviation: Atlas resolves any other lowercase word to now.
    for s in ["yesterday", "foo-5m", "today"] {
        let e = parse(s).unwrap_err();
        assert!(matches!(e, TimeError::UnknownReference { .. }), "{s}");
    }
    assert_eq!(
        parse("foo-5m").unwrap_err().to_string(),
        "unknown time reference 'foo' in 'foo-5m': expected now, epoch, s, start, e or end"
    );
}

#[test]
fn unset_references_are_errors() {
    assert!(matches!(
        parse("s-1h"),
        Err(TimeError::UnavailableReference { .. })
    ));
    assert!(matches!(
        parse("ge"),
        Err(TimeError::UnavailableReference { .. })
    ));
    let refs = TimeRefs {
        graph_start: Some(5000),
        graph_end: Some(9000),
        ..TimeRefs::new(0)
    };
    assert_eq!(parse_time("gs+1s", UTC, &refs).unwrap(), 6000);
    assert_eq!(parse_time("ge", UTC, &refs).unwrap(), 9000);
}

#[test]
fn unix_seconds_millis_micros_nanos() {
    let r = ms(2012, 2, 1, 3, 0, 0);
    assert_eq!(parse(&(r / 1000).to_string()).unwrap(), r);
    assert_eq!(parse(&r.to_string()).unwrap(), r);
    assert_eq!(parse(&(r * 1000).to_string()).unwrap(), r);
    assert_eq!(parse(&(r * 1_000_000).to_string()).unwrap(), r);
    // The cutoffs: 2^31-1 is still seconds, one more is millis.
    assert_eq!(parse("2147483647").unwrap(), 2_147_483_647_000);
    assert_eq!(parse("2147483648").unwrap(), 2_147_483_648);
    // 2400-01-01 in ms is still millis; one more is micros.
    assert_eq!(parse("13569465600000").unwrap(), 13_569_465_600_000);
    assert_eq!(parse("13569465600001").unwrap(), 13_569_465_600);
    assert_eq!(parse("0").unwrap(), 0);
}

#[test]
fn unix_with_offset() {
    assert_eq!(parse("1325376000+1h").unwrap(), ms(2012, 1, 1, 1, 0, 0));
    assert_eq!(parse("1325376000-P1D").unwrap(), ms(2011, 12, 31, 0, 0, 0));
}

#[test]
fn overflow_is_an_error() {
    for s in [
        "99999999999999999999",
        "now+100000000y",
        "epoch-100000000y",
        "now-9223372036854775807ms",
    ] {
        assert!(
            matches!(parse(s), Err(TimeError::Overflow(_))),
            "{s}: {:?}",
            parse(s)
        );
    }
}

#[test]
fn time_zones() {
    assert_eq!(parse_time_zone("UTC").unwrap(), chrono_tz::UTC);
    assert_eq!(
        parse_time_zone("US/Pacific").unwrap(),
        chrono_tz::US::Pacific
    );
    assert_eq!(
        parse_time_zone("Europe/Berlin").unwrap(),
        chrono_tz::Europe::Berlin
    );
    let e = parse_time_zone("Mars/Olympus").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown time zone 'Mars/Olympus': expected an IANA zone name such as UTC or US/Pacific"
    );
}

#[test]
fn range_both_absolute() {
    let (s, e) = time_range("2018-07-24", "2018-07-24T00:05", UTC, 0).unwrap();
    assert_eq!((s, e), (ms(2018, 7, 24, 0, 0, 0), ms(2018, 7, 24, 0, 5, 0)));
}

#[test]
fn range_end_before_start() {
    let err = time_range("2018-07-24T00:05", "2018-07-24", UTC, 0).unwrap_err();
    assert_eq!(err, TimeError::EndBeforeStart);
    assert_eq!(err.to_string(), "end time is before start time");
}

#[test]
fn range_start_same_as_end() {
    let (s, e) = time_range("2018-07-24", "2018-07-24", UTC, 0).unwrap();
    assert_eq!(s, e);
}

#[test]
fn range_both_relative() {
    let err = time_range("e-5m", "s+5m", UTC, 0).unwrap_err();
    assert_eq!(err, TimeError::BothRelative);
    assert_eq!(err.to_string(), "start and end are both relative");
    assert_eq!(
        time_range("e-5m", "e+5m", UTC, 0).unwrap_err(),
        TimeError::BothRelative
    );
}

#[test]
fn range_start_relative_to_end() {
    let (s, e) = time_range("e-5m", "2018-07-24T00:05", UTC, 0).unwrap();
    assert_eq!((s, e), (ms(2018, 7, 24, 0, 0, 0), ms(2018, 7, 24, 0, 5, 0)));
    let (s, e) = time_range("end-5m", "2018-07-24T00:05", UTC, 0).unwrap();
    assert_eq!((s, e), (ms(2018, 7, 24, 0, 0, 0), ms(2018, 7, 24, 0, 5, 0)));
    // `s=e` is a zero-length window at the end.
    assert_eq!(
        time_range("e", "2018-07-24", UTC, 0).unwrap().0,
        ms(2018, 7, 24, 0, 0, 0)
    );
}

#[test]
fn range_end_relative_to_start() {
    let (s, e) = time_range("2018-07-24", "s+5m", UTC, 0).unwrap();
    assert_eq!((s, e), (ms(2018, 7, 24, 0, 0, 0), ms(2018, 7, 24, 0, 5, 0)));
    let (s, e) = time_range("2018-07-24", "start+5m", UTC, 0).unwrap();
    assert_eq!((s, e), (ms(2018, 7, 24, 0, 0, 0), ms(2018, 7, 24, 0, 5, 0)));
}

#[test]
fn range_defaults_relative_to_now() {
    let now = ms(2012, 1, 1, 9, 0, 0);
    assert_eq!(
        time_range("e-3h", "now", UTC, now).unwrap(),
        (now - 3 * 3_600_000, now)
    );
    assert_eq!(
        time_range("now-1d", "now-1h", UTC, now).unwrap(),
        (now - 86_400_000, now - 3_600_000)
    );
    assert_eq!(
        time_range("now-1d", "e", UTC, now).unwrap_err(),
        TimeError::UnavailableReference {
            name: "e".into(),
            input: "e".into()
        }
    );
}

#[test]
fn range_zone_less_ends_use_tz() {
    let pacific = parse_time_zone("US/Pacific").unwrap();
    let (s, e) = time_range("2012-01-01", "s+1d", pacific, 0).unwrap();
    assert_eq!((s, e), (ms(2012, 1, 1, 8, 0, 0), ms(2012, 1, 2, 8, 0, 0)));
}

proptest! {
    #[test]
    fn parse_time_never_panics(s in any::<String>()) {
        let _ = parse_time(&s, UTC, &TimeRefs::new(0));
        let _ = parse_duration(&s);
    }

    #[test]
    fn parse_time_never_panics_on_time_like_input(s in "[0-9a-zPTZ:.+\\-μ]{0,30}") {
        let refs = TimeRefs { start: Some(i64::MAX), end: Some(i64::MIN), ..TimeRefs::new(i64::MAX) };
        let _ = parse_time(&s, chrono_tz::US::Pacific, &refs);
        let _ = time_range(&s, "now", UTC, 0);
        let _ = time_range("e-1h", &s, UTC, i64::MIN);
    }

    #[test]
    fn durations_round_trip_through_atlas_units(n in 0i64..1_000_000, unit in prop::sample::select(vec!["s", "m", "h", "d", "w"])) {
        let d = parse_duration(&format!("{n}{unit}")).unwrap();
        let back = parse_duration(&format_duration(d)).unwrap();
        prop_assert_eq!(d, back);
    }
}

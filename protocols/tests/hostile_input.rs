//! Bad input never panics: arbitrary bytes into every decoder, arbitrary text into the
//! PromQL front end, each answering an error or a result.

use proptest::prelude::*;
use sextant_protocols::otlp::{self, Format};
use sextant_protocols::promql::{self, Limits};
use sextant_protocols::remote_write;
use sextant_query::testing::StaticDatabase;

fn db() -> StaticDatabase {
    let mut db = StaticDatabase::new(60_000);
    db.push_fn([("name", "up"), ("job", "a~3A1")], |_| 1.0);
    db.push_fn([("name", "x_bucket"), ("le", "~2BInf")], |_| 2.0);
    db
}

/// Fragments PromQL is built from, so generated queries get past the lexer often.
const WORDS: &[&str] = &[
    "up",
    "x_bucket",
    "rate(",
    "sum",
    " by ",
    "(job)",
    "without",
    "[5m]",
    "[1s]",
    ")",
    "(",
    "{",
    "}",
    "job=\"a:1\"",
    "le=~\".*\"",
    ",",
    " + ",
    " / ",
    " > ",
    " bool ",
    "on(job)",
    "ignoring(le)",
    "offset 1m",
    "histogram_quantile(0.5,",
    "topk(2,",
    "absent(",
    "time()",
    "1",
    "-",
    "0.5",
    "max_over_time(",
    "delta(",
    "clamp(",
    "vector(",
    "__name__",
    "==",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn remote_write_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        for r in [
            remote_write::decode(&body, remote_write::Limits::default()),
            remote_write::decode_uncompressed(&body, remote_write::Limits::default()),
        ] {
            match r {
                // Whatever decodes holds no more points than samples.
                Ok(d) => prop_assert!(d.points.len() <= d.source_points),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn otlp_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        for format in [Format::Protobuf, Format::Json] {
            match otlp::decode(&body, format, 60_000, 10_000) {
                Ok(d) => prop_assert!(d.points.len() <= 10_000),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn promql_never_panics(parts in proptest::collection::vec(0..WORDS.len(), 1..12)) {
        let q: String = parts.iter().map(|&i| WORDS[i]).collect();
        for r in [
            promql::query_instant(&db(), &q, 6_000_000, Limits::default()),
            promql::query_range(&db(), &q, 5_000_000, 6_000_000, 60_000, Limits::default()),
        ] {
            if let Err(e) = r {
                // A client's mistake, named: never a fault of ours.
                prop_assert!(matches!(e.status(), 400 | 422), "{q}: {e}");
                prop_assert!(!e.message.is_empty());
            }
        }
    }

    #[test]
    fn promql_text_never_panics(q in "\\PC{0,40}") {
        if let Err(e) = promql::query_instant(&db(), &q, 6_000_000, Limits::default()) {
            prop_assert!(matches!(e.status(), 400 | 422), "{q}: {e}");
        }
    }
}

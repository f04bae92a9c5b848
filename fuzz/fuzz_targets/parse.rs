//! The stack-language parser: arbitrary text never panics `interpret`, `parse` or
//! `normalize`, and every expression that parses prints to a form that parses back to
//! the same printed form (and, NaN aside, the same expression), as the property tests in
//! query/tests/properties.rs claim for generated programs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_query::{interpret, normalize, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let interpreted = interpret(src);
    let parsed = parse(src);
    if interpreted.is_err() {
        assert!(
            parsed.is_err(),
            "interpret failed but parse succeeded: {src:?}"
        );
    }
    let normalized = normalize(src);
    assert_eq!(
        parsed.is_ok(),
        normalized.is_ok(),
        "parse and normalize disagree on {src:?}: {normalized:?}"
    );
    let Ok(exprs) = parsed else {
        return;
    };
    for e in &exprs {
        let printed = e.to_string();
        let again = parse(&printed)
            .unwrap_or_else(|err| panic!("{src:?} printed as {printed:?}, which fails: {err}"));
        assert_eq!(again.len(), 1, "{src:?} printed as {printed:?}");
        assert_eq!(
            again[0].to_string(),
            printed,
            "printing of {src:?} is not stable"
        );
        if !printed.contains("NaN") {
            assert_eq!(
                &again[0], e,
                "{src:?} -> {printed:?} reads back differently"
            );
        }
    }
    for n in normalized.unwrap_or_default() {
        if let Err(err) = parse(&n) {
            panic!("{src:?} normalized to {n:?}, which fails: {err}");
        }
    }
});

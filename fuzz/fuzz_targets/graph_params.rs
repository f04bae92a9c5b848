//! The graph parameters: arbitrary `s`, `e`, `step`, `w`, `h` and `tz` never panic
//! `GraphParams::parse`, and what it accepts is a window the server can afford: start before
//! end, both on the step, a step no finer than the primary step, at most `max_datapoints`
//! (and one per pixel of the clamped width) datapoints per line, sizes within the maxima.
//!
//! Input: the six values separated by newlines, in that order (missing ones are absent).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_query::{GraphParams, GraphSettings};

/// 2012-01-01T09:00Z, Atlas's test clock.
const NOW: i64 = 1_325_408_400_000;

const NAMES: [&str; 6] = ["s", "e", "step", "w", "h", "tz"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut pairs = vec![("q".to_string(), "name,cpu,:eq,:sum".to_string())];
    for (name, value) in NAMES.iter().zip(text.split('\n')) {
        pairs.push((name.to_string(), value.to_string()));
    }
    let settings = GraphSettings::default();
    let Ok(params) = GraphParams::parse(&pairs, &settings, NOW) else {
        return;
    };
    let w = params.window;
    assert!(
        w.step >= settings.primary_step,
        "step {} below the primary",
        w.step
    );
    assert_eq!(w.step % settings.primary_step, 0);
    assert!(w.start < w.end, "{w:?}");
    assert_eq!(w.start.rem_euclid(w.step), 0, "{w:?}");
    assert_eq!(w.end.rem_euclid(w.step), 0, "{w:?}");
    let cap = (params.width.min(settings.max_datapoints) as usize).max(1) + 1;
    assert!(
        w.len() <= cap,
        "{} datapoints for width {}",
        w.len(),
        params.width
    );
    assert!(params.width <= settings.max_width && params.height <= settings.max_height);
});

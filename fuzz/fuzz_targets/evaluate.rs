//! The evaluator: whatever parses evaluates over ten one-minute steps against Atlas's
//! constant fixture without panicking, and every line it returns is on the context's grid,
//! within the line limit and in expression order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_query::testing::StaticDatabase;
use sextant_query::{evaluate, parse, EvalContext};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(exprs) = parse(src) else {
        return;
    };
    let ctx = EvalContext::new(0, 600_000, 60_000);
    let db = StaticDatabase::constants();
    let Ok(lines) = evaluate(&exprs, &ctx, &db) else {
        return;
    };
    assert!(
        lines.len() <= ctx.limits.max_lines,
        "{src:?}: {} lines",
        lines.len()
    );
    let mut last_index = 0;
    for line in &lines {
        let s = &line.series;
        assert_eq!(
            s.values.len(),
            10,
            "{src:?}: line {:?} has {} values",
            s.label,
            s.values.len()
        );
        assert_eq!(
            (s.start, s.step),
            (0, 60_000),
            "{src:?}: line {:?} is off the grid",
            s.label
        );
        assert!(
            line.expr_index < exprs.len(),
            "{src:?}: expr_index {}",
            line.expr_index
        );
        assert!(
            line.expr_index >= last_index,
            "{src:?}: lines out of expression order"
        );
        last_index = line.expr_index;
    }
});

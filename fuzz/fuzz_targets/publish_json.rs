//! The publish decoders (Atlas batch object and Spectator op-code array) and the
//! validation behind them: arbitrary bodies never panic, decoded tags come sorted by key,
//! op-code datapoints carry `now` and exactly one `atlas.dstype`, and storing accounts for
//! every datapoint (accepted + refused = decoded + undecodable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

use sextant_server::decode_publish;
use sextant_store::{Ingest, NoLog, Store, StoreConfig};

/// Small, so that the fuzzer's small numbers are timestamps the store accepts.
const NOW: i64 = 3_600_000;
const STEP: i64 = 60_000;

fuzz_target!(|body: &[u8]| {
    check(body);
});

fn check(body: &[u8]) {
    let Ok(decoded) = decode_publish(body, NOW, STEP) else {
        return;
    };
    assert!(
        !decoded.points.is_empty() || !decoded.errors.is_empty(),
        "an empty decode must be PublishError::Empty"
    );
    let opcode = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    for p in &decoded.points {
        assert!(
            p.tags.windows(2).all(|w| w[0].0 <= w[1].0),
            "tags not sorted: {:?}",
            p.tags
        );
        if opcode {
            assert_eq!(p.timestamp, NOW);
            assert!(p.tags.windows(2).all(|w| w[0].0 != w[1].0), "{:?}", p.tags);
            let dstype = p.tags.iter().filter(|(k, _)| k == "atlas.dstype").count();
            assert_eq!(dstype, 1, "{:?}", p.tags);
        }
    }
    let total = decoded.points.len() + decoded.errors.len();
    let store = Arc::new(Store::new(StoreConfig {
        step_ms: STEP,
        max_age_ms: NOW,
        ..StoreConfig::default()
    }));
    let ingest = Ingest::new(store.clone(), Arc::new(NoLog));
    let Ok(pending) = ingest.apply(decoded, NOW) else {
        panic!("NoLog never refuses a batch");
    };
    let outcome = pending.outcome().clone();
    assert_eq!(outcome.accepted + outcome.error_count, total, "{outcome:?}");
    assert!(
        outcome.messages.len() <= outcome.error_count.min(5),
        "{outcome:?}"
    );
    assert!(
        store.len() <= outcome.accepted,
        "{} series from {outcome:?}",
        store.len()
    );
}

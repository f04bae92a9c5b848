//! `Store::remove_where`: a cluster node drops every series of a partition it no longer
//! owns (issue 14); what stays is untouched, what goes leaves the index, and freed ids
//! are reused.

use std::sync::atomic::Ordering;

use sextant_query::{Database, Query, ScanRequest};
use sextant_store::{identity, Store, StoreConfig};

const STEP: i64 = 1000;

#[test]
fn remove_where_drops_exactly_the_selected_series() {
    let store = Store::new(StoreConfig {
        step_ms: STEP,
        ..StoreConfig::default()
    });
    let now = 1_700_000_000_000;
    let names: Vec<String> = (0..50).map(|i| format!("s{i}")).collect();
    let tags = |n: &str| {
        [
            ("atlas.dstype", "gauge".to_string()),
            ("name", n.to_string()),
        ]
    };
    for (i, n) in names.iter().enumerate() {
        assert!(store.write(&tags(n), now, i as f64).is_ok());
    }
    let in_partition = |n: &str| identity(&tags(n)) % 4 == 1;
    let dropped: Vec<&String> = names.iter().filter(|n| in_partition(n)).collect();
    assert!(!dropped.is_empty() && dropped.len() < names.len());

    let removed = store.remove_where(|id| id % 4 == 1);

    assert_eq!(removed, dropped.len());
    assert_eq!(store.len(), names.len() - dropped.len());
    assert_eq!(
        store.counters().series_dropped.load(Ordering::Relaxed),
        dropped.len() as u64
    );
    for n in &names {
        let found = store.find(&Query::eq("name", n)).len();
        assert_eq!(found, u64::from(!in_partition(n)), "series {n}");
    }
    // What stays kept its data.
    let mut seen = 0;
    let request = ScanRequest {
        query: &Query::True,
        start: now - STEP,
        end: now + 2 * STEP,
    };
    let scanned = store.scan(&request, &mut |tags, values| {
        let name = tags.iter().find(|(k, _)| *k == "name").map(|(_, v)| *v);
        let i = names.iter().position(|n| Some(n.as_str()) == name);
        let value = values.iter().copied().find(|v| !v.is_nan());
        assert_eq!(i.map(|i| i as f64), value);
        seen += 1;
        Ok(())
    });
    assert!(scanned.is_ok());
    assert_eq!(seen, names.len() - dropped.len());
    // Nothing left to select: nothing removed; the freed ids serve new series.
    assert_eq!(store.remove_where(|id| id % 4 == 1), 0);
    assert!(store.write(&tags("new"), now, 1.0).is_ok());
    let new_id = store.find(&Query::eq("name", "new")).min();
    assert!(
        new_id.is_some_and(|id| (id as usize) < names.len()),
        "{new_id:?}"
    );
}

//! Arrival order does not change what the store keeps: any permutation of a series'
//! samples stores what in-order arrival of the samples it accepted stores, and the
//! refused ones are refused with a reason, for every dstype. Also: a counter published in
//! real time, one sample per step, stores the same rates as a backfill.

use std::sync::atomic::Ordering;

use proptest::prelude::*;
use sextant_query::{Database, Query, ScanRequest};
use sextant_store::{Reject, Store, StoreConfig};

const STEP: i64 = 60_000;
/// Far from zero, on a block boundary of [`config`]'s layout.
const BASE: i64 = 1_700_000_000_000 / (STEP * 60) * (STEP * 60);
const DSTYPES: [&str; 4] = ["rate", "counter", "gauge", "sum"];

fn config(step: i64) -> StoreConfig {
    StoreConfig {
        step_ms: step,
        block_len: 60,
        retention_ms: 1000 * step,
        max_age_ms: 30 * step,
        ..StoreConfig::default()
    }
}

fn tags(dstype: &str) -> [(&str, &str); 2] {
    [("atlas.dstype", dstype), ("name", "x")]
}

/// The stored values of the only series from `start` for `n` steps.
fn read(store: &Store, start: i64, n: i64) -> Vec<f64> {
    let mut out = Vec::new();
    let req = ScanRequest {
        query: &Query::True,
        start,
        end: start + n * store.step(),
    };
    let r = store.scan(&req, &mut |_, values| {
        out = values.to_vec();
        Ok(())
    });
    assert!(r.is_ok());
    out
}

/// Values equal bit for bit, except that sums may differ in rounding (addition
/// commutes only up to it).
fn same(dstype: &str, got: &[f64], want: &[f64]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| {
            if dstype == "sum" {
                (g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-9 * w.abs().max(1.0)
            } else {
                g.to_bits() == w.to_bits()
            }
        })
}

/// Samples of one dstype: times strictly increasing (rate, counter) or not (gauge, sum,
/// which may repeat a time), some on step boundaries and some between; a counter's values
/// mostly grow and sometimes reset.
fn samples(dstype: &'static str) -> impl Strategy<Value = Vec<(i64, f64)>> {
    let one = (0i64..3, prop_oneof![Just(0i64), 1i64..STEP], -50i32..200);
    prop::collection::vec(one, 2..12).prop_map(move |raw| {
        let mut t = BASE;
        let mut counter = 1000.0;
        let strict = matches!(dstype, "rate" | "counter");
        raw.into_iter()
            .map(|(gap, offset, v)| {
                t = (t / STEP + gap + i64::from(strict)) * STEP + offset;
                let v = if dstype == "counter" {
                    counter = if v < -40 {
                        0.0
                    } else {
                        counter + f64::from(v.abs())
                    };
                    counter
                } else {
                    f64::from(v) / 4.0
                };
                (t, v)
            })
            .collect()
    })
}

fn with_order(dstype: &'static str) -> impl Strategy<Value = (Vec<(i64, f64)>, Vec<usize>)> {
    samples(dstype).prop_flat_map(|s| {
        let order: Vec<usize> = (0..s.len()).collect();
        (Just(s), Just(order).prop_shuffle())
    })
}

/// Writes `samples` in `order`; returns the store and the indices it accepted.
fn publish(dstype: &str, samples: &[(i64, f64)], order: &[usize]) -> (Store, Vec<usize>) {
    let store = Store::new(config(STEP));
    let mut accepted = Vec::new();
    for &i in order {
        let (t, v) = samples[i];
        match store.write(&tags(dstype), t, v) {
            Ok(()) => accepted.push(i),
            Err(r) => assert!(r.is_arrival(), "{r}"),
        }
    }
    (store, accepted)
}

/// Publishes in `order` and in time order the samples that took; both must store the
/// same. Returns the indices taken.
fn check(dstype: &'static str, samples: &[(i64, f64)], order: &[usize]) -> Vec<usize> {
    let (shuffled, mut accepted) = publish(dstype, samples, order);
    accepted.sort_unstable();
    let (in_order, all) = publish(dstype, samples, &accepted);
    assert_eq!(all, accepted, "in-order arrival takes every sample");
    let n = 40;
    let (got, want) = (read(&shuffled, BASE, n), read(&in_order, BASE, n));
    assert!(
        same(dstype, &got, &want),
        "{dstype} {samples:?} in order {order:?}: {got:?} != {want:?}"
    );
    accepted
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_order_stores_what_in_order_arrival_of_the_accepted_samples_stores(
        (s, order) in with_order("rate"),
        (c, corder) in with_order("counter"),
        (g, gorder) in with_order("gauge"),
        (m, morder) in with_order("sum"),
    ) {
        check("rate", &s, &order);
        check("counter", &c, &corder);
        // Max and sums commute: nothing is ever refused.
        prop_assert_eq!(check("gauge", &g, &gorder).len(), g.len());
        prop_assert_eq!(check("sum", &m, &morder).len(), m.len());
    }

    /// The case: bodies of two consecutive steps, and pairs of bodies applied in
    /// either order. On step boundaries nothing is refused, whatever the dstype.
    #[test]
    fn bodies_of_two_steps_swapped_in_pairs_are_all_taken(
        values in prop::collection::vec(0u16..500, 8..24),
        swaps in prop::collection::vec(any::<bool>(), 6),
    ) {
        for dstype in DSTYPES {
            let mut counter = 0.0;
            let samples: Vec<(i64, f64)> = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    counter += f64::from(*v);
                    let v = if dstype == "counter" { counter } else { f64::from(*v) };
                    (BASE + i as i64 * STEP, v)
                })
                .collect();
            let index: Vec<usize> = (0..samples.len()).collect();
            let bodies: Vec<&[usize]> = index.chunks(2).collect();
            let mut order = Vec::new();
            for (k, pair) in bodies.chunks(2).enumerate() {
                if pair.len() == 2 && swaps[k % swaps.len()] {
                    order.extend(pair[1]);
                    order.extend(pair[0]);
                } else {
                    pair.iter().for_each(|b| order.extend(*b));
                }
            }
            prop_assert_eq!(check(dstype, &samples, &order).len(), samples.len(), "{}", dstype);
        }
    }
}

#[test]
fn refusals_say_why() {
    let store = Store::new(config(STEP));
    let t = tags("counter");
    for i in 1..=6 {
        assert_eq!(store.write(&t, BASE + i * STEP, i as f64), Ok(()));
    }
    assert_eq!(
        store.write(&t, BASE + 6 * STEP, 9.0),
        Err(Reject::Duplicate {
            timestamp: BASE + 6 * STEP
        })
    );
    let old = store.write(&t, BASE + STEP + 1, 1.0);
    assert_eq!(
        old,
        Err(Reject::OutOfOrder {
            timestamp: BASE + STEP + 1
        })
    );
    assert!(old
        .map_err(|e| e.to_string())
        .is_err_and(|m| m.starts_with("outOfOrder: ")));
    let c = store.counters();
    assert_eq!(c.primed.load(Ordering::Relaxed), 1);
    assert_eq!(c.accepted.load(Ordering::Relaxed), 5);
    assert_eq!(c.duplicate.load(Ordering::Relaxed), 1);
    assert_eq!(c.out_of_order.load(Ordering::Relaxed), 1);
}

/// One counter sample per step, each just after its boundary, with the store's
/// maintenance run every step as the server does: the same rates as a backfill, and the
/// series is never expired in between.
fn real_time_counter_matches_backfill(step: i64) {
    let n = 12;
    let sample = |i: i64| (BASE + i * step, 100.0 + 10.0 * i as f64);
    let live = Store::new(config(step));
    for i in 0..n {
        let (t, v) = sample(i);
        let now = t + step / 10;
        live.maintain(now);
        assert_eq!(live.ingest(&tags("counter"), t, v, now), Ok(()));
        live.maintain(now + step / 2);
    }
    let backfill = Store::new(config(step));
    for i in 0..n {
        let (t, v) = sample(i);
        assert_eq!(backfill.write(&tags("counter"), t, v), Ok(()));
    }
    let got = read(&live, BASE + step, n - 1);
    assert_eq!(got, read(&backfill, BASE + step, n - 1));
    let rate = 10.0 / (step as f64 / 1000.0);
    assert_eq!(got, vec![rate; n as usize - 1]);
    assert_eq!(live.counters().series_expired.load(Ordering::Relaxed), 0);
    assert_eq!(live.counters().series_created.load(Ordering::Relaxed), 1);
}

#[test]
fn a_counter_published_in_real_time_stores_the_backfilled_rates_at_1s() {
    real_time_counter_matches_backfill(1000);
}

#[test]
fn a_counter_published_in_real_time_stores_the_backfilled_rates_at_60s() {
    real_time_counter_matches_backfill(60_000);
}

//! Store benchmarks: in-process ingest into existing series, index lookups over a million
//! series, and `:sum` / group-by evaluation decoding sealed blocks.
//!
//! `cargo bench -p sextant-benches --bench store -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sextant_benches::dataset::{filled_store, tags};
use sextant_query::{EvalContext, Pattern, Query};
use sextant_store::{Store, StoreConfig};

/// A whole hour, so blocks line up with the data.
const END: i64 = 1_800_000_000_000;

fn ingest(c: &mut Criterion) {
    const SERIES: usize = 100_000;
    let store = Store::new(StoreConfig {
        step_ms: 60_000,
        retention_ms: 1_000 * 3_600_000,
        max_series: SERIES + 1,
        ..StoreConfig::default()
    });
    let all: Vec<Vec<(String, String)>> = (0..SERIES).map(tags).collect();
    for t in &all {
        let _ = store.write(t, END, 1.0);
    }
    let clock = AtomicI64::new(END);
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.bench_function("existing_series_100k", |b| {
        b.iter(|| {
            let t = clock.fetch_add(60_000, Ordering::Relaxed) + 60_000;
            for (i, tags) in all.iter().enumerate() {
                let _ = store.write(tags, t, i as f64 * 0.25);
            }
        })
    });
    g.finish();
}

fn index(c: &mut Criterion) {
    const SERIES: usize = 1_000_000;
    let store = Store::new(StoreConfig {
        step_ms: 60_000,
        max_series: SERIES + 1,
        ..StoreConfig::default()
    });
    for i in 0..SERIES {
        let _ = store.write(&tags(i), END, 1.0);
    }
    let prefix = Pattern::try_new("i-00012", false).ok();
    let general = Pattern::try_new(".*12$", false).ok();
    let mut g = c.benchmark_group("index_1m");
    let cases: Vec<(&str, Query)> = vec![
        ("eq_node_10_ids", Query::eq("nf.node", "i-0012345")),
        ("eq_app_50k_ids", Query::eq("nf.app", "app07")),
        (
            "and_app_id_5k_ids",
            Query::eq("nf.app", "app07").and(Query::eq("id", "user")),
        ),
        (
            "re_with_prefix",
            prefix
                .map(|p| Query::Re("nf.node".into(), p))
                .unwrap_or(Query::False),
        ),
        (
            "re_without_prefix",
            general
                .map(|p| Query::Re("nf.node".into(), p))
                .unwrap_or(Query::False),
        ),
    ];
    for (name, q) in cases {
        g.bench_function(name, |b| b.iter(|| black_box(store.find(&q)).len()));
    }
    g.finish();
}

fn query(c: &mut Criterion) {
    const STEPS: usize = 180;
    let mut g = c.benchmark_group("query");
    g.sample_size(10);
    for series in [10_000usize, 100_000] {
        let store = filled_store(series, STEPS, END);
        let ctx = EvalContext::new(END - (STEPS as i64 - 1) * 60_000, END + 60_000, 60_000);
        g.throughput(Throughput::Elements((series * STEPS) as u64));
        for (name, q) in [
            ("sum", "name,cpu.utilization,:eq,:sum"),
            ("sum_by_node", "name,cpu.utilization,:eq,(,nf.node,),:by"),
        ] {
            let exprs = sextant_query::parse(q).unwrap_or_default();
            let ctx = ctx.with_limits(sextant_query::Limits {
                max_lines: 1_000_000,
                max_datapoints: usize::MAX,
            });
            g.bench_function(format!("{name}_{series}x{STEPS}"), |b| {
                b.iter_batched(
                    || (),
                    |_| black_box(sextant_query::evaluate(&exprs, &ctx, &store)).map(|l| l.len()),
                    BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, ingest, index, query);
criterion_main!(benches);

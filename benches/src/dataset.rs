//! Atlas-flavoured series sets for the store benchmarks: `cpu.utilization` per node, with
//! the tags perf.md §3.1 gives (app, cluster, region, zone, node, id).

use sextant_store::{Store, StoreConfig};

/// Tags of series `i` of a set of `hosts * 10` series, sorted by key.
pub fn tags(i: usize) -> Vec<(String, String)> {
    let host = i / 10;
    let field = [
        "user",
        "system",
        "idle",
        "nice",
        "iowait",
        "irq",
        "softirq",
        "steal",
        "guest",
        "guest_nice",
    ][i % 10];
    let mut t = vec![
        ("id".to_string(), field.to_string()),
        ("name".to_string(), "cpu.utilization".to_string()),
        ("nf.app".to_string(), format!("app{:02}", host % 20)),
        (
            "nf.cluster".to_string(),
            format!("app{:02}-c{}", host % 20, host % 3),
        ),
        ("nf.node".to_string(), format!("i-{host:07}")),
        ("nf.region".to_string(), format!("region-{}", host % 9)),
        (
            "nf.zone".to_string(),
            format!("region-{}{}", host % 9, ["a", "b", "c"][host % 3]),
        ),
    ];
    t.sort();
    t
}

/// The settings [`filled_store`] uses: a one-minute step and room for every series.
pub fn store_config(series: usize, steps: usize) -> StoreConfig {
    let step = 60_000;
    StoreConfig {
        step_ms: step,
        retention_ms: (steps as i64 + 120) * step,
        max_series: series + 1,
        max_series_per_name: series + 1,
        max_series_per_query: series + 1,
        ..StoreConfig::default()
    }
}

/// A store of `series` series with `steps` values each (a 2-decimal walk per series), at a
/// one-minute step, every block sealed, ending at `end` (epoch ms, a multiple of a minute).
pub fn filled_store(series: usize, steps: usize, end: i64) -> Store {
    let step = 60_000;
    let store = Store::new(store_config(series, steps));
    let start = end - (steps as i64 - 1) * step;
    for i in 0..series {
        let tags = tags(i);
        let mut v = 50.0;
        for s in 0..steps {
            // A cheap deterministic walk rounded to 2 decimals, like a CPU percent gauge.
            let r = ((i as u64)
                .wrapping_mul(6364136223846793005)
                .wrapping_add(s as u64 * 1442695040888963407)
                >> 33)
                % 201;
            v = ((v + (r as f64 - 100.0) / 100.0).clamp(0.0, 100.0) * 100.0).round() / 100.0;
            let _ = store.write(&tags, start + s as i64 * step, v);
        }
    }
    store.maintain(end + 10 * step);
    store
}

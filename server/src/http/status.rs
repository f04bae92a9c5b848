//! Handlers of `GET /healthcheck` and `GET /api/v1/stats`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

/// Liveness: answers 200 while the server serves.
pub async fn health_show(State(state): State<AppState>) -> Json<Value> {
    match &state.cluster {
        None => Json(json!({"status": "ok"})),
        // Still 200: a node catching up serves what it has; the body says how far it is.
        Some(c) => Json(json!({
            "status": if c.caught_up() { "ok" } else { "catching-up" },
            "cluster": c.to_json(),
        })),
    }
}

/// Series count, memory estimate and ingest counters.
pub async fn stats_show(State(state): State<AppState>) -> Json<Value> {
    let store = state.store.clone();
    // Walking every series takes a while on a big store: keep it off the async workers.
    let (stats, points) =
        match tokio::task::spawn_blocking(move || (store.stats(), store.datapoint_stats())).await {
            Ok((stats, points)) => (Some(stats), Some(points)),
            Err(_) => (None, None),
        };
    let c = state.store.counters();
    let m = state.ingest.counters();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    Json(json!({
        "series": stats.as_ref().map(|s| s.series),
        "sealedBlocks": stats.as_ref().map(|s| s.sealed_blocks),
        "sealedBytes": stats.as_ref().map(|s| s.sealed_bytes),
        "memoryBytes": stats.as_ref().map(|s| s.memory_bytes),
        // Values that are not NaN: sealedBytes / sealedDatapoints is exact bytes per point.
        "sealedDatapoints": points.map(|p| p.sealed),
        "openDatapoints": points.map(|p| p.open),
        "openBytes": points.map(|p| p.open_bytes),
        "stepMs": state.store.config().step_ms,
        "ingest": {
            "publishes": load(&m.batches),
            "datapointsAccepted": load(&m.datapoints_accepted),
            "datapointsRejected": load(&m.datapoints_rejected),
            "stored": load(&c.accepted),
            "counterPrimed": load(&c.primed),
            "duplicate": load(&c.duplicate),
            "outOfOrder": load(&c.out_of_order),
            "late": load(&c.late),
            "tooOld": load(&c.too_old),
            "fromFuture": load(&c.from_future),
            "seriesLimit": load(&c.series_limit),
            "seriesPerNameLimit": load(&c.series_per_name_limit),
            "seriesCreated": load(&c.series_created),
            "seriesExpired": load(&c.series_expired),
            "seriesDropped": load(&c.series_dropped),
            "blocksSealed": load(&c.blocks_sealed),
        },
        // Absent with --no-persist.
        "wal": state.wal.as_ref().map(|w| {
            let c = w.counters();
            json!({
                "records": load(&c.records),
                "bytes": load(&c.bytes),
                "failures": load(&c.failures),
                "syncs": load(&c.syncs),
            })
        }),
        "checkpoint": (state.wal.is_some() || state.checkpoints_enabled)
            .then(|| state.checkpoint.lock().clone()),
        // Absent on a single node.
        "cluster": state.cluster.as_ref().map(|c| c.to_json()),
    }))
}

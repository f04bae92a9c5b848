//! Handlers of `GET /healthcheck` and `GET /api/v1/stats`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

/// Liveness: answers 200 while the server serves.
pub async fn health_show() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Series count, memory estimate and ingest counters.
pub async fn stats_show(State(state): State<AppState>) -> Json<Value> {
    let store = state.store.clone();
    // Walking every series takes a while on a big store: keep it off the async workers.
    let stats = tokio::task::spawn_blocking(move || store.stats())
        .await
        .ok();
    let c = state.store.counters();
    let m = &state.meters;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    Json(json!({
        "series": stats.as_ref().map(|s| s.series),
        "sealedBlocks": stats.as_ref().map(|s| s.sealed_blocks),
        "sealedBytes": stats.as_ref().map(|s| s.sealed_bytes),
        "memoryBytes": stats.as_ref().map(|s| s.memory_bytes),
        "stepMs": state.store.config().step_ms,
        "ingest": {
            "publishes": load(&m.publishes),
            "datapointsAccepted": load(&m.datapoints_accepted),
            "datapointsRejected": load(&m.datapoints_rejected),
            "stored": load(&c.accepted),
            "ignored": load(&c.ignored),
            "late": load(&c.late),
            "tooOld": load(&c.too_old),
            "fromFuture": load(&c.from_future),
            "seriesLimit": load(&c.series_limit),
            "seriesPerNameLimit": load(&c.series_per_name_limit),
            "seriesCreated": load(&c.series_created),
            "seriesExpired": load(&c.series_expired),
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
        "checkpoint": state.wal.as_ref().map(|_| state.checkpoint.lock().clone()),
    }))
}

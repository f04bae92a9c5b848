//! Handlers of the alerting API: rules (list, reload), alerts, delivery stats and
//! silences (create, list, expire).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::alert::eval::AlertState;
use crate::alert::notify::Status;
use crate::alert::rules::RulesError;
use crate::alert::silence::{format_time, silence_state, Silence, SilenceError, SilenceRequest};

/// The alerting routes.
pub fn alerts_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rules", get(rules_list))
        .route("/api/v1/rules/reload", post(rules_reload))
        .route("/api/v1/alerts", get(alerts_list))
        .route("/api/v1/alerts/stats", get(alerts_stats))
        .route("/api/v1/silences", get(silences_list).post(silences_create))
        .route("/api/v1/silences/{id}", delete(silences_expire))
}

impl From<RulesError> for ApiError {
    fn from(e: RulesError) -> Self {
        match e {
            RulesError::Invalid { .. } | RulesError::NoFile | RulesError::Io { .. } => {
                ApiError::BadRequest(e.to_string())
            }
            RulesError::Shared(_) => ApiError::Unavailable {
                message: e.to_string(),
                retry_after: 1,
            },
        }
    }
}

impl From<SilenceError> for ApiError {
    fn from(e: SilenceError) -> Self {
        match e {
            SilenceError::Invalid { .. } => ApiError::BadRequest(e.to_string()),
            SilenceError::NotFound(_) => ApiError::NotFound(e.to_string()),
            SilenceError::Unavailable(_) => ApiError::Unavailable {
                message: e.to_string(),
                retry_after: 1,
            },
        }
    }
}

fn time(ms: Option<i64>) -> Value {
    ms.map(|t| Value::String(format_time(t)))
        .unwrap_or(Value::Null)
}

/// Every rule with its definition, state, last evaluation and instances; on a cluster
/// node every rule's, with the node that evaluated it (`evaluatedBy`).
pub async fn rules_list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let alerting = &state.alerting;
    alerting.refresh();
    let set = alerting.rules();
    let view = alerting.cluster_view();
    let states = match &view {
        Some(v) => v
            .iter()
            .map(|(n, r)| (n.clone(), r.state.clone()))
            .collect(),
        None => alerting.states(),
    };
    let rules: Vec<Value> = set
        .rules
        .iter()
        .map(|rule| {
            let st = states.get(&rule.name).cloned().unwrap_or_default();
            let mut v = serde_json::to_value(rule).unwrap_or_else(|_| json!({}));
            if let Value::Object(m) = &mut v {
                m.insert("state".into(), json!(st.state()));
                m.insert("health".into(), json!(st.health));
                m.insert("lastEvaluation".into(), time(st.last_eval_ms));
                m.insert("lastEvaluationMs".into(), json!(st.last_eval_ms));
                m.insert("evaluationDurationMs".into(), json!(st.last_duration_ms));
                m.insert("lastError".into(), json!(st.last_error));
                m.insert("graphURL".into(), json!(alerting.graph_url(rule)));
                let alerts: Vec<Value> = st
                    .instances
                    .values()
                    .map(|i| {
                        json!({"state": i.state, "labels": i.labels, "value": i.value,
                               "activeAt": time(Some(i.active_at))})
                    })
                    .collect();
                m.insert("alerts".into(), Value::Array(alerts));
                if let Some(v) = &view {
                    m.insert(
                        "evaluatedBy".into(),
                        json!(v.get(&rule.name).map(|r| &r.node)),
                    );
                }
            }
            v
        })
        .collect();
    let (stats, _, _) = alerting.stats();
    let receivers: Vec<Value> = set
        .receivers
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_else(|_| json!({}));
            if let Value::Object(m) = &mut v {
                m.insert(
                    "stats".into(),
                    json!(stats.get(&r.name).cloned().unwrap_or_default()),
                );
            }
            v
        })
        .collect();
    Ok(Json(json!({"rules": rules, "receivers": receivers})))
}

/// Re-reads the rules file; a bad file is a 400 naming the line, and the old rules stay.
/// A cluster node then hands the rules to every node (503 if NATS does not take them).
pub async fn rules_reload(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let alerting = state.alerting.clone();
    let n = tokio::task::spawn_blocking(move || alerting.reload())
        .await
        .map_err(|e| ApiError::Internal(format!("reload panicked: {e}")))??;
    state.alerting.publish_rules().await?;
    Ok(Json(json!({"status": "reloaded", "rules": n})))
}

/// Every pending, firing and resolved instance of every rule; on a cluster node with the
/// node that evaluates it (`evaluatedBy`) and what each receiver was told (`notified`).
pub async fn alerts_list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let alerting = &state.alerting;
    alerting.refresh();
    let set = alerting.rules();
    let view = alerting.cluster_view();
    let states = match &view {
        Some(v) => v
            .iter()
            .map(|(n, r)| (n.clone(), r.state.clone()))
            .collect(),
        None => alerting.states(),
    };
    let mut alerts = Vec::new();
    for (name, st) in states {
        let url = set
            .rules
            .iter()
            .find(|r| r.name == name)
            .map(|r| alerting.graph_url(r));
        let shared = view.as_ref().and_then(|v| v.get(&name));
        for i in st.instances.values() {
            let silenced_by = alerting.silenced_by(&i.labels);
            let mut alert = json!({
                "rule": name,
                "state": i.state,
                "labels": i.labels,
                "annotations": i.annotations,
                "tags": i.tags,
                "value": i.value,
                "activeAt": time(Some(i.active_at)),
                "firedAt": time(i.fired_at),
                "resolvedAt": time(i.resolved_at),
                "fingerprint": i.fingerprint,
                "silenced": !silenced_by.is_empty() && i.state != AlertState::Pending,
                "silencedBy": silenced_by,
                "generatorURL": url,
            });
            if let Some(r) = shared {
                let notified: BTreeMap<&str, Status> = r
                    .groups
                    .values()
                    .filter_map(|g| Some((g.receiver.as_str(), *g.sent.get(&i.fingerprint)?)))
                    .collect();
                alert["evaluatedBy"] = json!(r.node);
                alert["notified"] = json!(notified);
            }
            alerts.push(alert);
        }
    }
    Ok(Json(json!({"alerts": alerts})))
}

/// Delivery counters by receiver and evaluation counters.
pub async fn alerts_stats(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (receivers, evaluations, failures) = state.alerting.stats();
    Ok(Json(json!({
        "receivers": receivers,
        "evaluations": evaluations,
        "evaluationFailures": failures,
    })))
}

fn silence_json(s: &Silence, now: i64) -> Value {
    json!({
        "id": s.id,
        "matchers": s.matchers,
        "startsAt": format_time(s.starts_at),
        "endsAt": format_time(s.ends_at),
        "updatedAt": format_time(s.updated_at),
        "comment": s.comment,
        "createdBy": s.created_by,
        "status": {"state": silence_state(s, now)},
    })
}

/// Creates a silence from an Alertmanager-style body.
pub async fn silences_create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: SilenceRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid silence: {e}")))?;
    let s = state.alerting.silence_create(req).await?;
    let mut v = silence_json(&s, state.alerting.now_ms());
    if let Value::Object(m) = &mut v {
        m.insert("silenceID".into(), json!(s.id));
    }
    Ok(Json(v))
}

/// Every silence, active, pending or recently expired.
pub async fn silences_list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = state.alerting.now_ms();
    let list: Vec<Value> = state
        .alerting
        .silences()
        .iter()
        .map(|s| silence_json(s, now))
        .collect();
    Ok(Json(Value::Array(list)))
}

/// Expires a silence now.
pub async fn silences_expire(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = state.alerting.silence_expire(&id).await?;
    Ok(Json(silence_json(&s, state.alerting.now_ms())))
}

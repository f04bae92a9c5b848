//! Notifications: grouping alerts per receiver (group_wait, group_interval,
//! repeat_interval), the webhook-v4 and Alertmanager payloads, and delivery with retries.
//!
//! [`Groups::plan`] is pure bookkeeping (what to send now, and why) so the timing rules are
//! unit-tested with plain numbers; [`deliver`] does the HTTP.
//!
//! Delivery uses `ureq` (blocking) inside `spawn_blocking`: it is already a workspace
//! dependency, notifications are rare (one request per group flush), and each attempt is
//! bounded by the receiver's timeout, so a blocking thread is never held for long. The
//! backoff between attempts sleeps on the async runtime, not on a blocking thread.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::eval::millis;
use super::rules::{Receiver, ReceiverKind, MAX_BACKOFF};
use super::silence::format_time;

/// Firing or resolved, as receivers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The alert fires.
    Firing,
    /// The alert fired and stopped.
    Resolved,
}

/// One alert as handed to receivers.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Firing or resolved.
    pub status: Status,
    /// Labels (identity).
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing, epoch ms.
    pub starts_at: i64,
    /// When it resolved, epoch ms.
    pub ends_at: Option<i64>,
    /// Link to the chart of the rule's expression.
    pub generator_url: String,
    /// Hash of the labels.
    pub fingerprint: String,
    /// The last value.
    pub value: Option<f64>,
}

/// What one receiver last heard about one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// Receiver name.
    pub receiver: String,
    /// The group key, Alertmanager style: `{}:{alertname="X"}`.
    pub group_key: String,
    /// When the group was first seen.
    pub created_at: i64,
    /// When a notification was last attempted.
    pub last_flush_at: Option<i64>,
    /// Fingerprint → status of the last successful notification.
    pub sent: BTreeMap<String, Status>,
    /// A notification is being delivered; nothing else is planned until it ends.
    #[serde(skip)]
    pub in_flight: bool,
}

/// A notification to deliver.
#[derive(Debug, Clone)]
pub struct Flush {
    /// Id of the group in [`Groups`].
    pub id: String,
    /// The receiver.
    pub receiver: Receiver,
    /// The group key.
    pub group_key: String,
    /// The labels the group is keyed on.
    pub group_labels: BTreeMap<String, String>,
    /// The alerts to send.
    pub alerts: Vec<Notice>,
    /// Alertmanager's `notification_reason`.
    pub reason: &'static str,
    /// When it was planned, epoch ms.
    pub at: i64,
}

impl Flush {
    /// What the receiver will have heard once this is delivered.
    pub fn sent(&self) -> BTreeMap<String, Status> {
        self.alerts
            .iter()
            .map(|a| (a.fingerprint.clone(), a.status))
            .collect()
    }
}

/// Every group of every receiver. Guarded by the caller's lock.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Groups {
    /// By `receiver:groupKey`.
    pub groups: BTreeMap<String, GroupState>,
}

fn fmt_labels(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

impl Groups {
    /// Decides which of `receiver`'s groups to notify at `now`. `alerts` are the firing
    /// and resolved alerts routed to this receiver, silenced ones already removed.
    pub fn plan(&mut self, receiver: &Receiver, alerts: &[Notice], now: i64) -> Vec<Flush> {
        let mut buckets: BTreeMap<String, (BTreeMap<String, String>, Vec<&Notice>)> =
            BTreeMap::new();
        for a in alerts {
            let group_labels: BTreeMap<String, String> = if receiver.groups_by_all() {
                a.labels.clone()
            } else {
                receiver
                    .group_by
                    .iter()
                    .filter_map(|l| a.labels.get(l).map(|v| (l.clone(), v.clone())))
                    .collect()
            };
            let key = format!("{{}}:{}", fmt_labels(&group_labels));
            buckets
                .entry(key)
                .or_insert_with(|| (group_labels, Vec::new()))
                .1
                .push(a);
        }
        let prefix = format!("{}:", receiver.name);
        // Groups whose alerts are all gone (aged out, silenced) are forgotten.
        self.groups.retain(|id, g| {
            !id.starts_with(&prefix) || g.in_flight || buckets.contains_key(&g.group_key)
        });
        let mut out = Vec::new();
        for (key, (group_labels, members)) in buckets {
            let id = format!("{prefix}{key}");
            let g = self.groups.entry(id.clone()).or_insert_with(|| GroupState {
                receiver: receiver.name.clone(),
                group_key: key.clone(),
                created_at: now,
                ..GroupState::default()
            });
            if g.in_flight {
                continue;
            }
            let firing: Vec<&Notice> = members
                .iter()
                .copied()
                .filter(|a| a.status == Status::Firing)
                .collect();
            // Only alerts the receiver heard firing are worth a resolved notification.
            let resolved: Vec<&Notice> = members
                .iter()
                .copied()
                .filter(|a| {
                    a.status == Status::Resolved
                        && g.sent.get(&a.fingerprint) == Some(&Status::Firing)
                })
                .collect();
            let reason = match g.last_flush_at {
                None => {
                    if firing.is_empty() {
                        // Resolved inside group_wait: never notified.
                        self.groups.remove(&id);
                        continue;
                    }
                    if now - g.created_at < millis(receiver.group_wait) {
                        continue;
                    }
                    "first notification"
                }
                Some(last) => {
                    if now - last < millis(receiver.group_interval) {
                        continue;
                    }
                    let new_firing = firing
                        .iter()
                        .any(|a| g.sent.get(&a.fingerprint) != Some(&Status::Firing));
                    if new_firing {
                        "new alerts added"
                    } else if !resolved.is_empty() {
                        if !receiver.send_resolved {
                            // Remember the resolution without telling anyone.
                            for a in &resolved {
                                g.sent.insert(a.fingerprint.clone(), Status::Resolved);
                            }
                            continue;
                        }
                        if firing.is_empty() {
                            "all alerts resolved"
                        } else {
                            "some alerts resolved"
                        }
                    } else if !firing.is_empty() && now - last >= millis(receiver.repeat_interval) {
                        "repeat interval elapsed"
                    } else {
                        continue;
                    }
                }
            };
            let mut alerts: Vec<Notice> = firing.into_iter().cloned().collect();
            if receiver.send_resolved {
                alerts.extend(resolved.into_iter().cloned());
            }
            g.in_flight = true;
            out.push(Flush {
                id,
                receiver: receiver.clone(),
                group_key: key,
                group_labels,
                alerts,
                reason,
                at: now,
            });
        }
        out
    }

    /// Records the end of a delivery. A failure leaves `sent` as it was, so the change is
    /// tried again after the group interval.
    pub fn finish(&mut self, flush: &Flush, ok: bool) {
        let Some(g) = self.groups.get_mut(&flush.id) else {
            return;
        };
        g.in_flight = false;
        g.last_flush_at = Some(flush.at);
        if ok {
            g.sent = flush.sent();
        }
    }
}

/// The Alertmanager webhook (version 4) document of a flush.
pub fn webhook_body(flush: &Flush, external_url: &str) -> Value {
    let status = if flush.alerts.iter().any(|a| a.status == Status::Firing) {
        "firing"
    } else {
        "resolved"
    };
    let common = |pick: fn(&Notice) -> &BTreeMap<String, String>| {
        let mut iter = flush.alerts.iter();
        let mut common = iter.next().map(|a| pick(a).clone()).unwrap_or_default();
        for a in iter {
            common.retain(|k, v| pick(a).get(k) == Some(v));
        }
        common
    };
    let alerts: Vec<Value> = flush
        .alerts
        .iter()
        .map(|a| {
            json!({
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": format_time(a.starts_at),
                // Alertmanager sends the zero time for alerts still firing.
                "endsAt": a.ends_at.map(format_time).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                "generatorURL": a.generator_url,
                "fingerprint": a.fingerprint,
                "value": a.value,
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": flush.group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": flush.receiver.name,
        "groupLabels": flush.group_labels,
        "commonLabels": common(|a| &a.labels),
        "commonAnnotations": common(|a| &a.annotations),
        "externalURL": external_url,
        "notification_reason": flush.reason,
        "alerts": alerts,
    })
}

/// Alertmanager's label names are `[a-zA-Z_][a-zA-Z0-9_]*`; Atlas tags such as `nf.app`
/// become `nf_app`.
pub fn am_label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The `POST /api/v2/alerts` body of a flush. Firing alerts end four group intervals from
/// now unless re-sent, so Alertmanager resolves them by itself if we go away.
pub fn alertmanager_body(flush: &Flush) -> Value {
    let ttl = 4 * millis(
        flush
            .receiver
            .group_interval
            .max(flush.receiver.repeat_interval),
    );
    let fix = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.iter()
            .map(|(k, v)| (am_label_name(k), v.clone()))
            .collect()
    };
    Value::Array(
        flush
            .alerts
            .iter()
            .map(|a| {
                json!({
                    "labels": fix(&a.labels),
                    "annotations": fix(&a.annotations),
                    "startsAt": format_time(a.starts_at),
                    "endsAt": format_time(a.ends_at.unwrap_or(flush.at + ttl)),
                    "generatorURL": a.generator_url,
                })
            })
            .collect(),
    )
}

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AttemptError {
    /// The receiver answered with a non-2xx status.
    #[error("receiver answered {0}")]
    Status(u16),
    /// No answer: connection refused, reset, timed out.
    #[error("cannot reach receiver: {0}")]
    Transport(String),
}

impl AttemptError {
    /// Worth another try: 5xx and transport errors; 4xx means the request is wrong.
    pub fn retryable(&self) -> bool {
        match self {
            AttemptError::Status(code) => *code >= 500,
            AttemptError::Transport(_) => true,
        }
    }
}

fn attempt(url: &str, body: &[u8], timeout: Duration) -> Result<(), AttemptError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into();
    let response = agent
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "sextant-alerting")
        .send(body)
        .map_err(|e| AttemptError::Transport(e.to_string()))?;
    let code = response.status().as_u16();
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(AttemptError::Status(code))
    }
}

/// Delivery counters of one receiver.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReceiverStats {
    /// Notifications delivered.
    pub delivered: u64,
    /// Notifications given up on.
    pub failed: u64,
    /// HTTP attempts made.
    pub attempts: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the last notification was delivered, epoch ms.
    pub last_success_ms: Option<i64>,
}

/// Sends `flush`, retrying 5xx and transport errors with exponential backoff until the
/// receiver's attempts or its group interval run out. `record` sees every attempt.
pub async fn deliver(
    flush: &Flush,
    external_url: &str,
    mut record: impl FnMut(Result<(), &AttemptError>, bool),
) -> Result<(), AttemptError> {
    let r = &flush.receiver;
    let (url, body) = match r.kind {
        ReceiverKind::Webhook => (r.url.clone(), webhook_body(flush, external_url)),
        ReceiverKind::Alertmanager => {
            (format!("{}/api/v2/alerts", r.url), alertmanager_body(flush))
        }
    };
    let body = body.to_string().into_bytes();
    let deadline = Instant::now() + r.group_interval.max(r.timeout);
    let mut backoff = r.backoff;
    let mut tries = 0;
    loop {
        tries += 1;
        let (u, b, t) = (url.clone(), body.clone(), r.timeout);
        let result = tokio::task::spawn_blocking(move || attempt(&u, &b, t))
            .await
            .unwrap_or_else(|e| {
                Err(AttemptError::Transport(format!(
                    "delivery task failed: {e}"
                )))
            });
        record(result.as_ref().map(|_| ()), tries > 1);
        match result {
            Ok(()) => return Ok(()),
            Err(e) if !e.retryable() => return Err(e),
            Err(e) if tries >= r.max_attempts || Instant::now() + backoff > deadline => {
                return Err(e)
            }
            Err(e) => {
                tracing::debug!(receiver = %r.name, error = %e, "notification failed, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::rules::RuleSet;

    fn receiver(extra: &str) -> Receiver {
        let src = format!(
            "[[receivers]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9\"\n\
             group_wait = \"30s\"\ngroup_interval = \"5m\"\nrepeat_interval = \"1h\"\n{extra}"
        );
        RuleSet::parse(&src).unwrap().receivers.remove(0)
    }

    fn notice(name: &str, node: &str, status: Status) -> Notice {
        let labels: BTreeMap<String, String> = [("alertname", name), ("node", node)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Notice {
            status,
            fingerprint: super::super::eval::fingerprint(&labels),
            annotations: BTreeMap::from([("summary".to_string(), format!("{node} hot"))]),
            labels,
            starts_at: 0,
            ends_at: (status == Status::Resolved).then_some(1),
            generator_url: "http://g".into(),
            value: Some(1.0),
        }
    }

    /// Sees `alerts` first at time 0 and plans once group_wait is over.
    fn first(g: &mut Groups, r: &Receiver, alerts: &[Notice]) -> Vec<Flush> {
        assert!(tick(g, r, alerts, 0).is_empty());
        tick(g, r, alerts, 30 * S)
    }

    /// Plans and immediately records a successful delivery.
    fn tick(g: &mut Groups, r: &Receiver, alerts: &[Notice], now: i64) -> Vec<Flush> {
        let flushes = g.plan(r, alerts, now);
        for f in &flushes {
            g.finish(f, true);
        }
        flushes
    }

    const S: i64 = 1000;

    #[test]
    fn group_wait_then_group_interval_then_repeat() {
        let r = receiver("");
        let mut g = Groups::default();
        let a = notice("A", "n1", Status::Firing);
        assert!(
            tick(&mut g, &r, std::slice::from_ref(&a), 0).is_empty(),
            "waits group_wait"
        );
        let f = tick(&mut g, &r, std::slice::from_ref(&a), 30 * S);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].reason, "first notification");
        assert_eq!(f[0].group_key, "{}:{alertname=\"A\"}");
        // A second alert joins the group: sent after group_interval, with both.
        let b = notice("A", "n2", Status::Firing);
        assert!(tick(&mut g, &r, &[a.clone(), b.clone()], 60 * S).is_empty());
        let f = tick(&mut g, &r, &[a.clone(), b.clone()], 330 * S);
        assert_eq!(f[0].reason, "new alerts added");
        assert_eq!(f[0].alerts.len(), 2);
        // Nothing changes: quiet until repeat_interval.
        assert!(tick(&mut g, &r, &[a.clone(), b.clone()], 630 * S).is_empty());
        let f = tick(&mut g, &r, &[a.clone(), b.clone()], 3930 * S);
        assert_eq!(f[0].reason, "repeat interval elapsed");
    }

    #[test]
    fn resolved_notifications_and_group_cleanup() {
        let r = receiver("");
        let mut g = Groups::default();
        let fire = notice("A", "n1", Status::Firing);
        let done = notice("A", "n1", Status::Resolved);
        first(&mut g, &r, &[fire]);
        let f = tick(&mut g, &r, std::slice::from_ref(&done), 330 * S);
        assert_eq!(f[0].reason, "all alerts resolved");
        assert_eq!(f[0].alerts[0].status, Status::Resolved);
        assert_eq!(webhook_body(&f[0], "http://x")["status"], "resolved");
        // Said once: the group is done.
        assert!(tick(&mut g, &r, std::slice::from_ref(&done), 9000 * S).is_empty());
    }

    #[test]
    fn resolved_within_group_wait_is_never_sent() {
        let r = receiver("");
        let mut g = Groups::default();
        tick(&mut g, &r, &[notice("A", "n1", Status::Firing)], 0);
        let f = tick(&mut g, &r, &[notice("A", "n1", Status::Resolved)], 40 * S);
        assert!(f.is_empty());
        assert!(g.groups.is_empty());
    }

    #[test]
    fn send_resolved_false_stays_quiet() {
        let r = receiver("send_resolved = false");
        let mut g = Groups::default();
        first(&mut g, &r, &[notice("A", "n1", Status::Firing)]);
        let done = notice("A", "n1", Status::Resolved);
        assert!(tick(&mut g, &r, std::slice::from_ref(&done), 330 * S).is_empty());
        assert!(tick(&mut g, &r, &[done], 9000 * S).is_empty());
    }

    #[test]
    fn a_failed_delivery_is_tried_again_after_group_interval() {
        let r = receiver("");
        let mut g = Groups::default();
        let a = notice("A", "n1", Status::Firing);
        assert!(g.plan(&r, std::slice::from_ref(&a), 0).is_empty());
        let f = g.plan(&r, std::slice::from_ref(&a), 30 * S);
        assert!(
            g.plan(&r, std::slice::from_ref(&a), 31 * S).is_empty(),
            "nothing while in flight"
        );
        g.finish(&f[0], false);
        assert!(tick(&mut g, &r, std::slice::from_ref(&a), 60 * S).is_empty());
        let f = tick(&mut g, &r, std::slice::from_ref(&a), 330 * S);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].reason, "new alerts added");
    }

    #[test]
    fn grouping_by_labels_and_by_everything() {
        let r = receiver("group_by = [\"node\"]");
        let mut g = Groups::default();
        let alerts = [
            notice("A", "n1", Status::Firing),
            notice("B", "n1", Status::Firing),
            notice("A", "n2", Status::Firing),
        ];
        let f = first(&mut g, &r, &alerts);
        let sizes: Vec<usize> = f.iter().map(|f| f.alerts.len()).collect();
        assert_eq!(sizes, [2, 1]);
        let r = receiver("group_by = [\"...\"]");
        let f = first(&mut Groups::default(), &r, &alerts);
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn webhook_v4_payload_shape() {
        let r = receiver("");
        let mut g = Groups::default();
        let mut a = notice("A", "n1", Status::Firing);
        a.labels.insert("nf.app".into(), "www".into());
        let mut b = notice("A", "n2", Status::Firing);
        b.labels.insert("nf.app".into(), "www".into());
        let f = first(&mut g, &r, &[a, b]);
        let body = webhook_body(&f[0], "http://sextant");
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["receiver"], "ops");
        assert_eq!(body["groupLabels"], json!({"alertname": "A"}));
        assert_eq!(
            body["commonLabels"],
            json!({"alertname": "A", "nf.app": "www"})
        );
        assert_eq!(body["commonAnnotations"], json!({}));
        assert_eq!(body["externalURL"], "http://sextant");
        let alert = &body["alerts"][0];
        assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(alert["startsAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(alert["fingerprint"].as_str().map(str::len), Some(16));
        assert_eq!(alert["value"], 1.0);
    }

    #[test]
    fn alertmanager_payload_sanitises_label_names() {
        assert_eq!(am_label_name("nf.app"), "nf_app");
        assert_eq!(am_label_name("9x"), "_9x");
        let r = receiver("");
        let mut a = notice("A", "n1", Status::Firing);
        a.labels.insert("nf.app".into(), "www".into());
        let f = first(&mut Groups::default(), &r, &[a]);
        let body = alertmanager_body(&f[0]);
        assert_eq!(body[0]["labels"]["nf_app"], "www");
        assert!(body[0]["endsAt"].as_str().is_some());
    }

    #[test]
    fn only_5xx_and_transport_errors_are_retried() {
        assert!(AttemptError::Status(500).retryable());
        assert!(AttemptError::Status(503).retryable());
        assert!(!AttemptError::Status(400).retryable());
        assert!(!AttemptError::Status(404).retryable());
        assert!(AttemptError::Transport("refused".into()).retryable());
    }
}

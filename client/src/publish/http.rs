//! Sending one batch: bounded retries on connect errors, 429 and 503, and accounting for what
//! the server accepted, rejected or never saw.

use sextant_meters::Id;

use super::state::{self_metrics, Batch, PublishState};
use crate::config::Config;

pub(crate) fn agent(config: &Config) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(config.publish_timeout()))
        .timeout_connect(Some(config.connect_timeout()))
        // Statuses are answers we account for, not errors.
        .http_status_as_error(false)
        .user_agent(concat!("sextant-client/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

enum Attempt {
    Status(u16, String),
    Connect(String),
    Timeout(String),
    Other(String),
}

fn post(agent: &ureq::Agent, uri: &str, body: &[u8]) -> Attempt {
    let res = agent
        .post(uri)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .send(body);
    match res {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            // Answers are small JSON; a body we cannot read still leaves the status usable.
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            Attempt::Status(status, text)
        }
        Err(e) => classify(e),
    }
}

fn classify(e: ureq::Error) -> Attempt {
    use std::io::ErrorKind as K;
    let msg = e.to_string();
    match e {
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => Attempt::Connect(msg),
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            Attempt::Connect(msg)
        }
        ureq::Error::Timeout(_) => Attempt::Timeout(msg),
        ureq::Error::Io(io)
            if matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::AddrNotAvailable
                    | K::NetworkUnreachable
                    | K::HostUnreachable
            ) =>
        {
            Attempt::Connect(msg)
        }
        _ => Attempt::Other(msg),
    }
}

/// How a failure answer (`FailureMessage`: `{"type":..,"errorCount":n,"message":[..]}`) is read.
fn parse_failure(body: &str) -> Option<(u64, Vec<String>)> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let n = v.get("errorCount")?.as_u64()?;
    let msgs = match v.get("message") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
            .collect(),
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    Some((n, msgs))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn ipc_status(status: u16) -> &'static str {
    match status {
        200..=299 => "success",
        429 => "throttled",
        503 => "unavailable",
        400..=499 => "bad_request",
        _ => "unexpected_error",
    }
}

fn record_call(ps: &PublishState, attempt: u32, result: &Attempt, elapsed_ns: i64) {
    let (ok, status, http) = match result {
        Attempt::Status(s, _) => ((200..300).contains(s), ipc_status(*s), Some(*s)),
        Attempt::Connect(_) => (false, "connection_error", None),
        Attempt::Timeout(_) => (false, "timeout", None),
        Attempt::Other(_) => (false, "unexpected_error", None),
    };
    let attempt = match attempt {
        1 => "initial",
        2 => "second",
        _ => "third_up",
    };
    let mut id = Id::new("ipc.client.call").with_tags([
        ("owner", "sextant-client"),
        ("ipc.result", if ok { "success" } else { "failure" }),
        ("ipc.status", status),
        ("ipc.attempt", attempt),
    ]);
    if let Some(code) = http {
        id = id.with_tag("http.status", code.to_string());
    }
    ps.registry.timer(id).record_nanos(elapsed_ns);
    ps.stats.requests.add(1);
    if !ok {
        ps.stats.failed_requests.add(1);
    }
}

/// Sends one batch, retrying connect errors, 429 and 503 with doubling backoff unless the
/// registry is shutting down, and accounts for every datapoint in it exactly once.
pub(crate) fn send_batch(ps: &PublishState, batch: &Batch) {
    let cfg = &ps.config;
    let uri = cfg.uri();
    let n = batch.count as u64;
    let max_attempts = cfg.max_attempts();
    let mut attempt = 1u32;
    loop {
        let clock = ps.registry.clock();
        let start = clock.monotonic_time();
        let result = post(&ps.agent, uri, &batch.body);
        let elapsed = clock.monotonic_time().saturating_sub(start);
        record_call(ps, attempt, &result, elapsed);
        let retryable = match &result {
            Attempt::Status(429 | 503, _) | Attempt::Connect(_) => true,
            Attempt::Status(..) | Attempt::Timeout(_) | Attempt::Other(_) => false,
        };
        if retryable && attempt < max_attempts && !ps.is_closing() {
            let backoff = cfg
                .retry_backoff()
                .saturating_mul(1u32 << (attempt - 1).min(16));
            // A shutdown cuts the wait short; the batch then counts as dropped.
            if !ps.wait_stop(backoff) {
                attempt += 1;
                continue;
            }
        }
        account(ps, uri, n, result);
        return;
    }
}

fn account(ps: &PublishState, uri: &str, n: u64, result: Attempt) {
    let sm = self_metrics(ps);
    match result {
        Attempt::Status(200, _) => {
            ps.stats.sent.add(n);
            sm.sent.increment_by(n);
        }
        Attempt::Status(s, body) if s < 500 && s != 429 => match parse_failure(&body) {
            Some((errors, msgs)) => {
                let errors = errors.min(n);
                ps.stats.sent.add(n - errors);
                sm.sent.increment_by(n - errors);
                ps.stats.dropped_validation.add(errors);
                sm.dropped_validation.increment_by(errors);
                if errors > 0 || s >= 300 {
                    ps.registry.note_error(format!(
                        "publish to {uri}: HTTP {s}, {errors} of {n} datapoints rejected: {}",
                        msgs.join("; ")
                    ));
                }
            }
            None if (200..300).contains(&s) => {
                ps.stats.sent.add(n);
                sm.sent.increment_by(n);
            }
            None => {
                ps.stats.dropped_other.add(n);
                sm.dropped_other.increment_by(n);
                ps.registry.note_error(format!(
                    "publish to {uri}: HTTP {s}, {n} datapoints dropped: {}",
                    truncate(&body, 500)
                ));
            }
        },
        Attempt::Status(s, body) => {
            ps.stats.dropped_http.add(n);
            sm.dropped_http.increment_by(n);
            ps.registry.note_error(format!(
                "publish to {uri}: HTTP {s}, {n} datapoints dropped: {}",
                truncate(&body, 500)
            ));
        }
        Attempt::Connect(e) | Attempt::Timeout(e) | Attempt::Other(e) => {
            ps.stats.dropped_http.add(n);
            sm.dropped_http.increment_by(n);
            ps.registry
                .note_error(format!("publish to {uri}: {e}; {n} datapoints dropped"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_messages_parse() {
        let (n, m) =
            parse_failure(r#"{"type":"partial","errorCount":2,"message":["a","b"]}"#).unwrap();
        assert_eq!(n, 2);
        assert_eq!(m, ["a", "b"]);
        assert!(parse_failure(r#"{"type":"error","message":"empty payload"}"#).is_none());
        assert!(parse_failure("not json").is_none());
    }

    #[test]
    fn truncation_respects_chars() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("hi", 5), "hi");
    }
}

//! `POST /api/v1/publish`: decoding both payload formats, validating tags and storing the
//! datapoints, with Atlas's answers (200, 202 partial, 400).

mod batch;
mod opcode;
mod validate;

use std::borrow::Cow;
use std::io::Read;

use crate::store::Store;
use crate::wal::{Durability, Encoder, Wal, WalError};

/// At most this many error messages are returned; the count covers them all.
const MAX_MESSAGES: usize = 5;

/// One decoded sample with its tags sorted by key.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint<'a> {
    /// Tags, sorted by key, unique.
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Epoch milliseconds.
    pub timestamp: i64,
    /// The value.
    pub value: f64,
}

/// What a body decoded to: datapoints, and per-datapoint errors.
#[derive(Debug, Default)]
pub struct Decoded<'a> {
    /// Datapoints ready to validate.
    pub points: Vec<Datapoint<'a>>,
    /// Datapoints that could not be decoded, with the reason.
    pub errors: Vec<String>,
}

/// A body that cannot be taken at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PublishError {
    /// Not JSON of either format, or an unknown field; says what and where.
    #[error("{0}")]
    Malformed(String),
    /// No datapoints at all.
    #[error("empty payload")]
    Empty,
    /// The gzip stream is broken.
    #[error("invalid gzip body: {0}")]
    Gzip(String),
    /// The body inflates beyond the limit (a gzip bomb, or just too much).
    #[error("decompressed body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// What a publish did: how many datapoints were stored and why the others were not.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishOutcome {
    /// Datapoints stored.
    pub accepted: usize,
    /// Datapoints refused.
    pub error_count: usize,
    /// Reasons of the first few refusals, each with the datapoint's tags.
    pub messages: Vec<String>,
}

/// Appends the tags to a reason the way Atlas does: `reason (tags={"k":"v"})`.
fn with_tags(reason: &str, tags: &[(Cow<'_, str>, Cow<'_, str>)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = tags
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    format!("{reason} (tags={})", serde_json::Value::Object(map))
}

/// Inflates a gzip body, refusing to produce more than `limit` bytes.
pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, PublishError> {
    let mut out = Vec::new();
    let mut reader = flate2::read::GzDecoder::new(body).take(limit as u64 + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|e| PublishError::Gzip(e.to_string()))?;
    if out.len() > limit {
        return Err(PublishError::TooLarge { limit });
    }
    Ok(out)
}

/// Decodes either format: a body starting with `[` is the op-code array of Spectator
/// clients, anything else the Atlas batch object.
pub fn decode(body: &[u8], now: i64, step_ms: i64) -> Result<Decoded<'_>, PublishError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let decoded = match first {
        None => return Err(PublishError::Empty),
        Some(b'[') => opcode::decode(body, now, step_ms)?,
        Some(_) => batch::decode(body)?,
    };
    if decoded.points.is_empty() && decoded.errors.is_empty() {
        return Err(PublishError::Empty);
    }
    Ok(decoded)
}

/// Validates and stores every decoded datapoint.
pub fn store(store: &Store, decoded: Decoded<'_>, now: i64) -> PublishOutcome {
    let mut accepted = 0;
    let mut error_count = decoded.errors.len();
    let mut messages: Vec<String> = decoded.errors.into_iter().take(MAX_MESSAGES).collect();
    let mut refuse = |reason: String, tags: &[(Cow<'_, str>, Cow<'_, str>)]| {
        error_count += 1;
        if messages.len() < MAX_MESSAGES {
            messages.push(with_tags(&reason, tags));
        }
    };
    for mut p in decoded.points {
        dedup_tags(&mut p.tags);
        if let Err(reason) = validate::validate(&p.tags) {
            refuse(reason, &p.tags);
            continue;
        }
        match store.ingest(&p.tags, p.timestamp, p.value, now) {
            Ok(()) => accepted += 1,
            Err(reject) => refuse(reject.to_string(), &p.tags),
        }
    }
    PublishOutcome {
        accepted,
        error_count,
        messages,
    }
}

/// Duplicate keys within one metric's own tags (sorted stably by key): the last one wins.
fn dedup_tags(tags: &mut Vec<(Cow<'_, str>, Cow<'_, str>)>) {
    tags.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            std::mem::swap(&mut later.1, &mut earlier.1);
            true
        } else {
            false
        }
    });
}

/// Like [`store`], with the write-ahead log: validates and age-checks every datapoint,
/// appends the survivors as one record, and only then stores them, under the log's lock
/// so the log's order is the store's order. When the append fails nothing is stored.
/// The caller answers only after waiting on the returned [`Durability`].
pub fn store_logged(
    store: &Store,
    wal: &Wal,
    decoded: Decoded<'_>,
    now: i64,
) -> Result<(PublishOutcome, Durability), WalError> {
    let mut error_count = decoded.errors.len();
    let mut messages: Vec<String> = decoded.errors.into_iter().take(MAX_MESSAGES).collect();
    let mut refuse = |reason: String, tags: &[(Cow<'_, str>, Cow<'_, str>)]| {
        error_count += 1;
        if messages.len() < MAX_MESSAGES {
            messages.push(with_tags(&reason, tags));
        }
    };
    let mut kept = Vec::with_capacity(decoded.points.len());
    let mut record = Encoder::with_capacity(decoded.points.len());
    for mut p in decoded.points {
        dedup_tags(&mut p.tags);
        if let Err(reason) = validate::validate(&p.tags) {
            refuse(reason, &p.tags);
            continue;
        }
        if let Err(reject) = store.check_age(p.timestamp, now) {
            refuse(reject.to_string(), &p.tags);
            continue;
        }
        record.push(&p.tags, p.timestamp, p.value);
        kept.push(p);
    }
    let mut accepted = 0;
    let mut durability = Durability::Done;
    if !kept.is_empty() {
        let max_ts = record.max_ts();
        let bytes = record.finish();
        let (refused, d) = wal.append(&bytes, max_ts, || {
            let mut refused = Vec::new();
            for p in &kept {
                if let Err(reject) = store.write(&p.tags, p.timestamp, p.value) {
                    refused.push((reject, p));
                }
            }
            refused
        })?;
        durability = d;
        accepted = kept.len() - refused.len();
        for (reject, p) in refused {
            refuse(reject.to_string(), &p.tags);
        }
    }
    Ok((
        PublishOutcome {
            accepted,
            error_count,
            messages,
        },
        durability,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;
    use std::io::Write;

    #[test]
    fn gzip_bomb_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![b' '; 1 << 20])?;
        let gz = enc.finish()?;
        assert_eq!(
            gunzip(&gz, 1000),
            Err(PublishError::TooLarge { limit: 1000 })
        );
        assert!(matches!(
            gunzip(b"not gzip", 1000),
            Err(PublishError::Gzip(_))
        ));
        Ok(())
    }

    #[test]
    fn partial_failure_counts_every_error() -> Result<(), PublishError> {
        let s = Store::new(StoreConfig::default());
        let now = 1_700_000_000_000;
        let body = format!(
            r#"{{"metrics":[
                {{"tags":{{"name":"ok"}},"timestamp":{now},"value":1}},
                {{"tags":{{"name":"bad name"}},"timestamp":{now},"value":1}},
                {{"tags":{{"app":"x"}},"timestamp":{now},"value":1}}]}}"#
        );
        let d = decode(body.as_bytes(), now, 60_000)?;
        let out = store(&s, d, now);
        assert_eq!(out.accepted, 1);
        assert_eq!(out.error_count, 2);
        assert!(out.messages[0].contains("invalid characters in value: name = [bad name]"));
        assert!(out.messages[1].contains(r#"missing key 'name' (tags={"app":"x"})"#));
        Ok(())
    }

    #[test]
    fn empty_bodies_are_errors() {
        assert_eq!(decode(b"  ", 0, 1000).err(), Some(PublishError::Empty));
        assert_eq!(decode(b"{}", 0, 1000).err(), Some(PublishError::Empty));
        assert_eq!(
            decode(br#"{"metrics":[]}"#, 0, 1000).err(),
            Some(PublishError::Empty)
        );
    }
}

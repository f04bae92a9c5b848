//! The ingest service: a publish body in, Atlas's answer out. Decodes both payload formats
//! of `POST /api/v1/publish` (the batch object and the op-code array of Spectator clients,
//! gzipped or not) and hands the datapoints to the store's one write path
//! ([`sextant_store::Ingest`]: validate → log → apply).

mod batch;
mod opcode;

use std::io::Read;
use std::sync::Arc;

use sextant_store::{Decoded, Ingest, IngestCounters, Log, LogError, Outcome, Store};

use crate::clock::Clock;

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

/// Why a publish was not taken.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is wrong; nothing was stored.
    #[error(transparent)]
    Body(#[from] PublishError),
    /// The log could not take the batch; nothing was stored, the client should retry.
    #[error("{0}; nothing was stored, retry later")]
    Unavailable(#[from] LogError),
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

/// Publishes into one store: decoding here, validation, logging and applying in
/// [`sextant_store::Ingest`].
pub struct IngestService {
    core: Ingest,
    clock: Arc<dyn Clock>,
    max_decompressed_bytes: usize,
}

impl IngestService {
    /// Publishes into `store` through `log`, with "now" from `clock`; gzip bodies may
    /// inflate to at most `max_decompressed_bytes`.
    pub fn new(
        store: Arc<Store>,
        log: Arc<dyn Log>,
        clock: Arc<dyn Clock>,
        max_decompressed_bytes: usize,
    ) -> IngestService {
        IngestService {
            core: Ingest::new(store, log),
            clock,
            max_decompressed_bytes,
        }
    }

    /// What the write path has done so far.
    pub fn counters(&self) -> &IngestCounters {
        self.core.counters()
    }

    /// Takes one publish body (`gzip` when its `Content-Encoding` says so) and answers once
    /// what was stored is as durable as the log promises.
    pub async fn publish(&self, body: &[u8], gzip: bool) -> Result<Outcome, IngestError> {
        let inflated;
        let raw: &[u8] = if gzip {
            inflated = gunzip(body, self.max_decompressed_bytes)?;
            &inflated
        } else {
            body
        };
        let now = self.clock.now_ms();
        let step_ms = self.core.store().config().step_ms;
        let pending = self.core.apply(decode(raw, now, step_ms)?, now)?;
        Ok(pending.durable().await?)
    }

    /// Takes datapoints another decoder produced (Prometheus remote write, OTLP) through
    /// the same validate → log → apply path, answering once they are durable.
    pub async fn apply(&self, decoded: Decoded<'_>) -> Result<Outcome, IngestError> {
        let now = self.clock.now_ms();
        let pending = self.core.apply(decoded, now)?;
        Ok(pending.durable().await?)
    }

    /// The primary step of the store, ms.
    pub fn step_ms(&self) -> i64 {
        self.core.store().config().step_ms
    }

    /// How far a gzip body may inflate, bytes.
    pub fn max_decompressed_bytes(&self) -> usize {
        self.max_decompressed_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_store::{NoLog, StoreConfig};
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
    fn partial_failure_counts_every_error() -> Result<(), Box<dyn std::error::Error>> {
        let s = Arc::new(Store::new(StoreConfig::default()));
        let now = 1_700_000_000_000;
        let body = format!(
            r#"{{"metrics":[
                {{"tags":{{"name":"ok"}},"timestamp":{now},"value":1}},
                {{"tags":{{"name":"bad name"}},"timestamp":{now},"value":1}},
                {{"tags":{{"app":"x"}},"timestamp":{now},"value":1}}]}}"#
        );
        let d = decode(body.as_bytes(), now, 60_000)?;
        let pending = Ingest::new(s, Arc::new(NoLog)).apply(d, now)?;
        let out = pending.outcome();
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

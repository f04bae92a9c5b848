//! The bytes of one stream message: the datapoints of one request for one partition, as
//! one write-ahead log record (varint packed, CRC-32 checked), compressed with Snappy.
//!
//! ```text
//! message = "SXS1" | snappy raw block of the record
//!         | the record alone            (messages written before compression)
//! ```
//!
//! A record repeats every tag key and value for every point; Snappy folds the repeats
//! (benchmarked in docs/benchmarks.md, "Cluster ingest"), and every byte saved is a byte
//! each of the R nats-servers does not store, replicate and deliver. A record starts with
//! its length (u32 LE), and "SXS1" read as a length is 827 MB, above any NATS payload, so
//! the two forms cannot be confused.

use std::borrow::Cow;

/// First bytes of a compressed message.
pub const MAGIC: &[u8; 4] = b"SXS1";

/// Largest record a message may expand to: a publish body is capped far below, so a
/// larger claim is damage and must not size an allocation.
const MAX_RECORD: usize = 256 << 20;

/// The message carrying `record`.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = vec![0; MAGIC.len() + snap::raw::max_compress_len(record.len())];
    out[..MAGIC.len()].copy_from_slice(MAGIC);
    match snap::raw::Encoder::new().compress(record, &mut out[MAGIC.len()..]) {
        Ok(n) => {
            out.truncate(MAGIC.len() + n);
            out
        }
        // Only a record beyond Snappy's 4 GiB limit, which a request never makes.
        Err(_) => record.to_vec(),
    }
}

/// The record a message carries.
pub fn decode(message: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    let Some(body) = message.strip_prefix(MAGIC) else {
        return Ok(Cow::Borrowed(message));
    };
    let len = snap::raw::decompress_len(body).map_err(|e| e.to_string())?;
    if len > MAX_RECORD {
        return Err(format!("a message claims a record of {len} bytes"));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map(Cow::Owned)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_store::wal_record::{decode_points, read_record, Encoder};

    #[test]
    fn a_record_round_trips_smaller() -> Result<(), String> {
        let mut record = Encoder::with_capacity(100);
        for i in 0..100 {
            let node = format!("i-{i:07}");
            let tags = [
                ("atlas.dstype", "gauge"),
                ("name", "load.requests"),
                ("nf.node", &node),
            ];
            record.push(&tags, 1_700_000_000_000, i as f64);
        }
        let record = record.finish();
        let message = encode(&record);
        assert!(
            message.len() * 3 < record.len(),
            "{} vs {}",
            message.len(),
            record.len()
        );
        let back = decode(&message)?;
        assert_eq!(back.as_ref(), record.as_slice());
        let (payload, _) = read_record(&back).map_err(|e| format!("{e:?}"))?;
        let points = decode_points(payload).map_err(|e| format!("{e:?}"))?;
        assert_eq!(points.len(), 100);
        // A message of the first form is its record.
        assert_eq!(decode(&record)?.as_ref(), record.as_slice());
        Ok(())
    }

    #[test]
    fn damaged_messages_are_errors_not_panics_or_huge_allocations() {
        let message = encode(b"some record bytes, repeated, repeated, repeated");
        for cut in MAGIC.len()..message.len() {
            let _ = decode(&message[..cut]);
        }
        // A varint length of 2^32 - 1 and nothing after it.
        let bomb = [&MAGIC[..], &[0xff, 0xff, 0xff, 0xff, 0x0f]].concat();
        assert!(decode(&bomb).is_err());
    }
}

//! Raw blocks: eight little-endian bytes per value. Chosen only when every other encoding is
//! larger (random bit patterns), which caps a block at 8 bytes per value plus its header.

use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::payload::Codec;

pub(crate) struct Raw;

impl Codec for Raw {
    const ENCODING: Encoding = Encoding::Raw;

    fn encode(values: &[f64], out: &mut Vec<u8>) -> Option<u8> {
        out.reserve(8 * values.len());
        for v in values {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        Some(0)
    }

    fn validate(flags: u8, payload: &[u8], len: usize) -> Result<()> {
        if flags != 0 {
            return Err(Error::Corrupt {
                kind: Self::ENCODING,
                reason: "unknown flags",
            });
        }
        let want = 8 * len;
        if payload.len() < want {
            return Err(Error::Truncated {
                field: "raw values",
                len: payload.len(),
            });
        }
        if payload.len() > want {
            return Err(Error::TrailingBytes {
                kind: Self::ENCODING,
                extra: payload.len() - want,
            });
        }
        Ok(())
    }

    fn decode(flags: u8, payload: &[u8], out: &mut [f64]) -> Result<()> {
        Self::validate(flags, payload, out.len())?;
        for (o, chunk) in out.iter_mut().zip(payload.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            *o = f64::from_bits(u64::from_le_bytes(w));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_bit_patterns() {
        let values: Vec<f64> = [0x7ff8_0000_0000_0001u64, 0x8000_0000_0000_0000, 1, 42]
            .into_iter()
            .map(f64::from_bits)
            .collect();
        let mut payload = Vec::new();
        let flags = Raw::encode(&values, &mut payload).expect("raw takes anything");
        assert_eq!(payload.len(), 32);
        let mut out = vec![0.0; 4];
        Raw::decode(flags, &payload, &mut out).expect("decodes");
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&out), bits(&values));
    }

    #[test]
    fn rejects_wrong_lengths() {
        assert!(Raw::validate(0, &[0; 15], 2).is_err());
        assert!(Raw::validate(0, &[0; 17], 2).is_err());
        assert!(Raw::validate(0, &[0; 16], 2).is_ok());
    }
}

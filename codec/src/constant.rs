//! Constant blocks: every value has the same bit pattern, so the pattern is stored once.
//!
//! The pattern is written big-endian with its trailing zero bytes dropped: "round" values
//! such as 0.0, 1.0, 100.0 or the canonical NaN have all-zero low mantissa bytes, so the
//! commonest constants cost 0–2 bytes. The payload length says how many bytes were kept.

use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::payload::Codec;

pub(crate) struct Constant;

/// Width of an `f64` bit pattern in bytes.
const VALUE_BYTES: usize = 8;

/// Appends `bits` big-endian without trailing zero bytes.
pub(crate) fn put_trimmed(out: &mut Vec<u8>, bits: u64) {
    let keep = VALUE_BYTES - (bits.trailing_zeros() as usize / 8).min(VALUE_BYTES);
    out.extend_from_slice(&bits.to_be_bytes()[..keep]);
}

/// Inverse of [`put_trimmed`]; `None` if `bytes` is longer than a value.
pub(crate) fn get_trimmed(bytes: &[u8]) -> Option<u64> {
    if bytes.len() > VALUE_BYTES {
        return None;
    }
    let mut full = [0u8; VALUE_BYTES];
    full[..bytes.len()].copy_from_slice(bytes);
    Some(u64::from_be_bytes(full))
}

impl Codec for Constant {
    const ENCODING: Encoding = Encoding::Constant;

    fn encode(values: &[f64], out: &mut Vec<u8>) -> Option<u8> {
        let Some(first) = values.first() else {
            return Some(0);
        };
        let bits = first.to_bits();
        if values.iter().any(|v| v.to_bits() != bits) {
            return None;
        }
        put_trimmed(out, bits);
        Some(0)
    }

    fn validate(flags: u8, payload: &[u8], _len: usize) -> Result<()> {
        if flags != 0 {
            return Err(Error::Corrupt {
                kind: Self::ENCODING,
                reason: "unknown flags",
            });
        }
        if payload.len() > VALUE_BYTES {
            return Err(Error::TrailingBytes {
                kind: Self::ENCODING,
                extra: payload.len() - VALUE_BYTES,
            });
        }
        Ok(())
    }

    fn decode(flags: u8, payload: &[u8], out: &mut [f64]) -> Result<()> {
        Self::validate(flags, payload, out.len())?;
        let bits = get_trimmed(payload).ok_or(Error::Corrupt {
            kind: Self::ENCODING,
            reason: "value longer than 8 bytes",
        })?;
        out.fill(f64::from_bits(bits));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: &[f64]) -> (Vec<u8>, Vec<f64>) {
        let mut payload = Vec::new();
        let flags = Constant::encode(values, &mut payload).expect("constant input");
        Constant::validate(flags, &payload, values.len()).expect("valid");
        let mut out = vec![1.5; values.len()];
        Constant::decode(flags, &payload, &mut out).expect("decodes");
        (payload, out)
    }

    #[test]
    fn round_values_take_few_bytes() {
        assert_eq!(round_trip(&[0.0; 60]).0.len(), 0);
        assert_eq!(round_trip(&[1.0; 60]).0.len(), 2);
        assert_eq!(round_trip(&[f64::NAN; 60]).0.len(), 2);
        assert_eq!(round_trip(&[0.1; 60]).0.len(), 8);
    }

    #[test]
    fn keeps_exact_bit_patterns() {
        for bits in [
            0x7ff8_0000_dead_beef,
            0x8000_0000_0000_0000,
            1,
            0xfff0_0000_0000_0000,
        ] {
            let v = f64::from_bits(bits);
            let (_, out) = round_trip(&[v; 7]);
            assert!(out.iter().all(|o| o.to_bits() == bits));
        }
    }

    #[test]
    fn refuses_differing_values() {
        assert_eq!(Constant::encode(&[0.0, -0.0], &mut Vec::new()), None);
        let nan2 = f64::from_bits(0x7ff8_0000_0000_0001);
        assert_eq!(Constant::encode(&[f64::NAN, nan2], &mut Vec::new()), None);
    }

    #[test]
    fn rejects_long_payload_and_flags() {
        assert!(Constant::validate(0, &[1; 9], 3).is_err());
        assert!(Constant::validate(1, &[], 3).is_err());
    }
}

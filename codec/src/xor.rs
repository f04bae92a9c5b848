//! XOR blocks, after Gorilla (Pelkonen et al., VLDB 2015 §4.1.2): each value is XORed with
//! the previous one and only the window of changed bits is written. This is the fallback for
//! float noise that has no decimal or binary scale, where it beats raw by a byte or so.
//!
//! Bit stream, least significant bit first (see `docs/block-format.md`):
//! - the first value, 64 bits;
//! - per further value a control code, low bit first:
//!   - `0`: same bit pattern as the previous value;
//!   - `1,0`: the XOR fits the current window: `window_len` bits follow;
//!   - `1,1`: a new window: 5 bits of leading zeros (capped at 31), 6 bits of length - 1,
//!     then that many bits.
//!
//! Unlike Gorilla the encoder takes a new window when that is shorter than reusing a much
//! wider old one, and the reader pulls whole 64-bit words rather than single bits.

use crate::bits::{BitReader, BitWriter};
use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::payload::Codec;

pub(crate) struct Xor;

/// Largest leading-zero count the 5-bit field can hold; longer runs of leading zeros are
/// written as part of the window.
const MAX_LEADING: u32 = 31;
/// Bits of the new-window header: 5 for leading zeros and 6 for the length.
const WINDOW_HEADER_BITS: u32 = 11;

impl Codec for Xor {
    const ENCODING: Encoding = Encoding::Xor;

    fn encode(values: &[f64], out: &mut Vec<u8>) -> Option<u8> {
        let (first, rest) = values.split_first()?;
        let mut w = BitWriter::new(out);
        let mut prev = first.to_bits();
        w.write(prev, 64);
        // No window yet: an impossible width makes the first change open one.
        let (mut win_shift, mut win_len) = (0u32, 65u32);
        for v in rest {
            let bits = v.to_bits();
            let x = bits ^ prev;
            prev = bits;
            if x == 0 {
                w.write(0, 1);
                continue;
            }
            let top = 64 - x.leading_zeros();
            let lead = x.leading_zeros().min(MAX_LEADING);
            let trail = x.trailing_zeros();
            let len = 64 - lead - trail;
            let fits = win_len <= 64 && trail >= win_shift && top <= win_shift + win_len;
            if fits && win_len <= len + WINDOW_HEADER_BITS {
                w.write(0b01, 2);
                w.write(x >> win_shift, win_len);
            } else {
                w.write(0b11, 2);
                w.write(
                    u64::from(lead) | (u64::from(len - 1) << 5),
                    WINDOW_HEADER_BITS,
                );
                w.write(x >> trail, len);
                win_shift = trail;
                win_len = len;
            }
        }
        w.finish();
        Some(0)
    }

    fn validate(flags: u8, payload: &[u8], len: usize) -> Result<()> {
        check_flags(flags)?;
        walk(payload, len, |_, _| {})
    }

    fn decode(flags: u8, payload: &[u8], out: &mut [f64]) -> Result<()> {
        check_flags(flags)?;
        let len = out.len();
        walk(payload, len, |i, bits| {
            if let Some(o) = out.get_mut(i) {
                *o = f64::from_bits(bits);
            }
        })
    }
}

fn check_flags(flags: u8) -> Result<()> {
    if flags == 0 {
        Ok(())
    } else {
        Err(Error::Corrupt {
            kind: Encoding::Xor,
            reason: "unknown flags",
        })
    }
}

/// Decodes `len` values, handing each bit pattern to `emit`, and checks that the stream
/// ends exactly at the last byte.
#[inline(always)]
fn walk(payload: &[u8], len: usize, mut emit: impl FnMut(usize, u64)) -> Result<()> {
    if len == 0 {
        return if payload.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes {
                kind: Encoding::Xor,
                extra: payload.len(),
            })
        };
    }
    let mut r = BitReader::new(payload);
    let mut prev = r.read(64);
    emit(0, prev);
    // Before any window, a reuse code means a full-width window: deterministic, harmless.
    let (mut win_shift, mut win_len) = (0u32, 64u32);
    for i in 1..len {
        let control = r.peek(2);
        if control & 1 == 0 {
            r.skip(1);
        } else if control & 2 == 0 {
            r.skip(2);
            prev ^= r.read(win_len) << win_shift;
        } else {
            r.skip(2);
            let header = r.read_short(WINDOW_HEADER_BITS) as u32;
            let lead = header & 31;
            let wlen = (header >> 5) + 1;
            if lead + wlen > 64 {
                return Err(Error::Corrupt {
                    kind: Encoding::Xor,
                    reason: "window wider than 64 bits",
                });
            }
            win_len = wlen;
            win_shift = 64 - lead - wlen;
            prev ^= r.read(win_len) << win_shift;
        }
        emit(i, prev);
    }
    if r.overran() {
        return Err(Error::Truncated {
            field: "xor bit stream",
            len: payload.len(),
        });
    }
    let used = r.consumed().div_ceil(8) as usize;
    if used != payload.len() {
        return Err(Error::TrailingBytes {
            kind: Encoding::Xor,
            extra: payload.len() - used,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: &[f64]) -> usize {
        let mut payload = Vec::new();
        let flags = Xor::encode(values, &mut payload).expect("xor takes any non-empty input");
        Xor::validate(flags, &payload, values.len()).expect("valid");
        let mut out = vec![0.0; values.len()];
        Xor::decode(flags, &payload, &mut out).expect("decodes");
        for (a, b) in values.iter().zip(&out) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        payload.len()
    }

    #[test]
    fn repeated_values_cost_one_bit() {
        let bytes = round_trip(&[3.25; 65]);
        assert_eq!(bytes, 8 + 8);
    }

    #[test]
    fn round_trips_special_values() {
        let specials = [
            f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001),
            f64::from_bits(0xfff8_dead_beef_0000),
            -0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE / 3.0,
            f64::MAX,
            1.0,
            -1.0,
        ];
        round_trip(&specials);
    }

    #[test]
    fn round_trips_float_noise() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let values: Vec<f64> = (0..500)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                50.0 + (x >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect();
        let bytes = round_trip(&values);
        assert!(bytes < 8 * values.len());
    }

    #[test]
    fn rejects_truncated_and_padded_streams() {
        let values = [1.0, 2.5, 2.5, -7.0];
        let mut payload = Vec::new();
        Xor::encode(&values, &mut payload);
        assert!(Xor::validate(0, &payload[..payload.len() - 1], 4).is_err());
        let mut longer = payload.clone();
        longer.push(0);
        assert!(Xor::validate(0, &longer, 4).is_err());
        assert!(Xor::validate(0, &payload, 100).is_err());
    }
}

//! The trait each encoding implements for its payload; the block header is `block.rs`'s.

use crate::encoding::Encoding;
use crate::error::Result;

/// One encoding's payload layout. Each lives in its own module; the block header (kind byte
/// and count) is handled here, so an encoding only sees its payload and its 4 flag bits.
pub(crate) trait Codec {
    /// The encoding this implements.
    const ENCODING: Encoding;

    /// Appends the payload for `values` (non-empty) to `out` and returns the flag bits
    /// (0..=15) for the kind byte, or `None` if this encoding cannot represent `values`.
    fn encode(values: &[f64], out: &mut Vec<u8>) -> Option<u8>;

    /// Checks that `payload` is a well-formed payload of `len` values: every field in range
    /// and no bytes missing or left over. After this, `decode` cannot fail.
    fn validate(flags: u8, payload: &[u8], len: usize) -> Result<()>;

    /// Decodes `payload` into `out`, whose length is the block's count. On error `out` holds
    /// unspecified values.
    fn decode(flags: u8, payload: &[u8], out: &mut [f64]) -> Result<()>;
}

//! The one error type of the crate.

use crate::encoding::Encoding;

/// Why a sealed block could not be parsed or decoded.
///
/// Every variant comes from [`SealedBlock::from_bytes`](crate::SealedBlock::from_bytes) on
/// corrupt input, except [`Error::OutputLength`], which is a caller mistake in
/// [`SealedBlock::decode_into`](crate::SealedBlock::decode_into).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input ended before a field that the layout requires.
    #[error("block truncated: {field} needs more bytes than the {len} given")]
    Truncated {
        /// The field that could not be read.
        field: &'static str,
        /// Length of the input in bytes.
        len: usize,
    },
    /// The kind byte names no known encoding.
    #[error("unknown block kind byte {0:#04x}")]
    UnknownKind(u8),
    /// The header claims more values than a block may hold.
    #[error("block claims {len} values, the maximum is {max}")]
    TooManyValues {
        /// The claimed number of values.
        len: u64,
        /// [`MAX_BLOCK_LEN`](crate::MAX_BLOCK_LEN).
        max: usize,
    },
    /// A field holds a value the layout does not allow.
    #[error("corrupt {kind} block: {reason}")]
    Corrupt {
        /// The encoding whose payload is corrupt.
        kind: Encoding,
        /// What is wrong, in a few words.
        reason: &'static str,
    },
    /// Bytes remain after the last field of the layout.
    #[error("{extra} unexpected bytes after the end of a {kind} block")]
    TrailingBytes {
        /// The encoding of the block.
        kind: Encoding,
        /// How many bytes are left over.
        extra: usize,
    },
    /// `decode_into` was given an output slice of the wrong length.
    #[error("output holds {got} values but the block has {expected}")]
    OutputLength {
        /// The block's number of values.
        expected: usize,
        /// The length of the output slice.
        got: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

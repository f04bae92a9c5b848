//! Compression of Sextant's sealed blocks: a fixed run of one series' values on an implicit
//! step, squeezed bit-exactly into a single boxed byte slice that decodes fast.
//!
//! # Overview
//! - [`SealedBlock`]: the compressed block. [`SealedBlock::encode`] picks the smallest
//!   encoding for the values; [`SealedBlock::decode_into`] fills a slice;
//!   [`SealedBlock::as_bytes`] / [`SealedBlock::from_bytes`] serialise and validate.
//! - [`BlockRef`]: a serialised block borrowed from a larger buffer, decoded without a copy.
//! - [`Encoding`]: which layout a block uses: constant, packed scaled integers (decimal
//!   gauges, per-second rates, counts), Gorilla-style XOR (float noise), or raw.
//! - [`Error`]: why bytes are not a valid block.
//!
//! Timestamps are never stored: the caller knows each block's start and step.
//!
//! ```
//! use sextant_codec::{Encoding, SealedBlock};
//!
//! // A per-second rate from per-minute counts: 743/60 has no short decimal form, but it is
//! // an integer once multiplied by 60, so it packs into a few bits per value.
//! let values: Vec<f64> = (0..60).map(|i| f64::from(740 + i % 7) / 60.0).collect();
//! let block = SealedBlock::encode(&values);
//! assert_eq!(block.kind(), Encoding::Packed);
//! assert!(block.encoded_len() < 40);
//!
//! let mut out = vec![0.0; block.len()];
//! block.decode_into(&mut out)?;
//! assert_eq!(out, values);
//!
//! let copy = SealedBlock::from_bytes(block.as_bytes())?;
//! assert_eq!(copy, block);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod bits;
mod block;
mod constant;
mod encoding;
mod error;
mod packed;
mod payload;
mod raw;
mod scale;
mod xor;

pub use bits::{put_varint, unzigzag, varint_len, zigzag};
pub use block::{BlockRef, SealedBlock, MAX_BLOCK_LEN};
pub use encoding::Encoding;
pub use error::{Error, Result};

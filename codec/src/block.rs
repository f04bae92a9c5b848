//! The public sealed block: one boxed byte slice holding a kind byte, the value count and the
//! payload of whichever encoding was smallest for the block.

use std::fmt;

use crate::bits::{put_varint, ByteReader};
use crate::constant::Constant;
use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::packed::Packed;
use crate::payload::Codec;
use crate::raw::Raw;
use crate::xor::Xor;

/// Most values a block may hold.
///
/// Sextant seals blocks of 60 to 1440 values; the cap exists so that `from_bytes` never sizes
/// work from an attacker-sized count, so bit offsets inside a block (at most 64 bits per
/// value) fit comfortably in `u32`, and so the count's varint never exceeds 3 bytes.
pub const MAX_BLOCK_LEN: usize = 65_535;

/// An immutable, compressed block of values on an implicit fixed step.
///
/// It is a single boxed byte slice (16 bytes inline plus the encoded bytes on the heap): the
/// kind byte, the value count as a varint, then the payload. [`as_bytes`](Self::as_bytes) is
/// the serialised form and [`from_bytes`](Self::from_bytes) reads it back.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedBlock {
    bytes: Box<[u8]>,
}

/// Parsed fixed header of a block.
#[derive(Clone, Copy)]
struct Header<'a> {
    encoding: Encoding,
    flags: u8,
    len: usize,
    payload: &'a [u8],
}

fn parse_header(bytes: &[u8]) -> Result<Header<'_>> {
    let mut r = ByteReader::new(bytes);
    let kind = r.u8().ok_or(Error::Truncated {
        field: "kind byte",
        len: bytes.len(),
    })?;
    let encoding = Encoding::from_id(kind & 0x0f).ok_or(Error::UnknownKind(kind))?;
    let len = r.varint().ok_or(Error::Truncated {
        field: "value count",
        len: bytes.len(),
    })?;
    if len > MAX_BLOCK_LEN as u64 {
        return Err(Error::TooManyValues {
            len,
            max: MAX_BLOCK_LEN,
        });
    }
    Ok(Header {
        encoding,
        flags: kind >> 4,
        len: len as usize,
        payload: r.rest(),
    })
}

impl SealedBlock {
    /// Compresses `values`, choosing the smallest encoding for them. The round trip through
    /// [`decode_into`](Self::decode_into) is bit-exact for every `f64`, NaN payloads included.
    ///
    /// # Panics
    /// If `values` holds more than [`MAX_BLOCK_LEN`] values: blocks are cut by the caller at
    /// a fixed size far below it, so a longer slice is a bug in the caller.
    pub fn encode(values: &[f64]) -> SealedBlock {
        assert!(
            values.len() <= MAX_BLOCK_LEN,
            "a sealed block holds at most {MAX_BLOCK_LEN} values, got {}",
            values.len()
        );
        let mut best = Vec::with_capacity(16 + values.len());
        if let Some(flags) = try_encode::<Constant>(values, &mut best) {
            return SealedBlock::assemble(Encoding::Constant, flags, values.len(), &best);
        }
        let mut best_kind = (Encoding::Raw, 0);
        best.clear();
        if let Some(flags) = try_encode::<Packed>(values, &mut best) {
            best_kind = (Encoding::Packed, flags);
        } else {
            best.clear();
        }
        // XOR spends at least the first value and a bit per further value; skip encoding it
        // when packing already beat that floor.
        let xor_floor = 8 + (values.len() - 1).div_ceil(8);
        if best_kind.0 != Encoding::Packed || best.len() > xor_floor {
            let mut xor = Vec::with_capacity(8 * values.len());
            if let Some(flags) = try_encode::<Xor>(values, &mut xor) {
                if best_kind.0 != Encoding::Packed || xor.len() < best.len() {
                    best = xor;
                    best_kind = (Encoding::Xor, flags);
                }
            }
        }
        if best_kind.0 == Encoding::Raw || best.len() > 8 * values.len() {
            best.clear();
            let flags = try_encode::<Raw>(values, &mut best).unwrap_or(0);
            best_kind = (Encoding::Raw, flags);
        }
        SealedBlock::assemble(best_kind.0, best_kind.1, values.len(), &best)
    }

    fn assemble(encoding: Encoding, flags: u8, len: usize, payload: &[u8]) -> SealedBlock {
        let mut bytes = Vec::with_capacity(4 + payload.len());
        bytes.push(encoding.id() | (flags << 4));
        put_varint(&mut bytes, len as u64);
        bytes.extend_from_slice(payload);
        SealedBlock {
            bytes: bytes.into_boxed_slice(),
        }
    }

    fn header(&self) -> Header<'_> {
        // The bytes were produced by `encode` or checked by `from_bytes`.
        match parse_header(&self.bytes) {
            Ok(h) => h,
            Err(_) => Header {
                encoding: Encoding::Raw,
                flags: 0,
                len: 0,
                payload: &[],
            },
        }
    }

    /// The block as a [`BlockRef`], for code that handles stored and borrowed blocks alike.
    pub fn as_block_ref(&self) -> BlockRef<'_> {
        BlockRef {
            header: self.header(),
        }
    }

    /// Number of values in the block.
    pub fn len(&self) -> usize {
        self.header().len
    }

    /// True if the block holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decodes every value into `out`, which must be exactly [`len`](Self::len) long.
    pub fn decode_into(&self, out: &mut [f64]) -> Result<()> {
        self.as_block_ref().decode_into(out)
    }

    /// Bytes of encoded data, header included: what the block costs besides its 16-byte
    /// handle.
    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    /// The serialised form, readable by [`from_bytes`](Self::from_bytes).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Parses and fully validates a serialised block. Corrupt input is an error, never a
    /// panic, and nothing is allocated beyond a copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<SealedBlock> {
        let h = parse_header(bytes)?;
        match h.encoding {
            Encoding::Constant => Constant::validate(h.flags, h.payload, h.len),
            Encoding::Packed => Packed::validate(h.flags, h.payload, h.len),
            Encoding::Xor => Xor::validate(h.flags, h.payload, h.len),
            Encoding::Raw => Raw::validate(h.flags, h.payload, h.len),
        }?;
        Ok(SealedBlock {
            bytes: bytes.into(),
        })
    }

    /// The encoding chosen for this block.
    pub fn kind(&self) -> Encoding {
        self.header().encoding
    }
}

/// A serialised block borrowed from someone else's buffer (as written by
/// [`SealedBlock::as_bytes`]), decoded in place without copying or allocating.
///
/// [`new`](Self::new) reads only the header, so it is cheap enough for every read; the
/// payload is checked as it is decoded, so corrupt bytes make
/// [`decode_into`](Self::decode_into) fail, never panic.
#[derive(Clone, Copy)]
pub struct BlockRef<'a> {
    header: Header<'a>,
}

impl<'a> BlockRef<'a> {
    /// Reads the header of the block serialised in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Result<BlockRef<'a>> {
        Ok(BlockRef {
            header: parse_header(bytes)?,
        })
    }

    /// Number of values in the block.
    pub fn len(&self) -> usize {
        self.header.len
    }

    /// True if the block holds no values.
    pub fn is_empty(&self) -> bool {
        self.header.len == 0
    }

    /// The encoding the block uses.
    pub fn kind(&self) -> Encoding {
        self.header.encoding
    }

    /// Decodes every value into `out`, which must be exactly [`len`](Self::len) long.
    pub fn decode_into(&self, out: &mut [f64]) -> Result<()> {
        let h = &self.header;
        if out.len() != h.len {
            return Err(Error::OutputLength {
                expected: h.len,
                got: out.len(),
            });
        }
        match h.encoding {
            Encoding::Constant => Constant::decode(h.flags, h.payload, out),
            Encoding::Packed => Packed::decode(h.flags, h.payload, out),
            Encoding::Xor => Xor::decode(h.flags, h.payload, out),
            Encoding::Raw => Raw::decode(h.flags, h.payload, out),
        }
    }
}

impl fmt::Debug for BlockRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockRef")
            .field("kind", &self.kind())
            .field("len", &self.len())
            .finish()
    }
}

fn try_encode<C: Codec>(values: &[f64], out: &mut Vec<u8>) -> Option<u8> {
    C::encode(values, out)
}

impl fmt::Debug for SealedBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedBlock")
            .field("kind", &self.kind())
            .field("len", &self.len())
            .field("encoded_len", &self.encoded_len())
            .finish()
    }
}

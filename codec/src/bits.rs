//! Byte and bit plumbing shared by the encodings: LEB128 varints, zigzag, and an LSB-first
//! bit writer and reader that move whole 64-bit words rather than single bits.

/// Longest LEB128 encoding of a `u64`.
const MAX_VARINT_LEN: usize = 10;

/// Appends `v` as LEB128.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes `put_varint` would write for `v`.
pub fn varint_len(v: u64) -> usize {
    // Each byte carries 7 bits; zero still takes one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Maps signed to unsigned so that small magnitudes of either sign get short varints.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Bits needed to hold `v` (0 for 0).
pub(crate) fn bit_width(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Mask of the low `width` bits; `width` may be 64.
pub(crate) fn low_mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// A forward-only reader over a byte slice. Every read is checked: running off the end is a
/// `None`, never a panic, because the bytes may come from disk.
pub(crate) struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        ByteReader { bytes, pos: 0 }
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Option<u64> {
        // Gaps, run lengths and small integers are almost always one byte.
        let first = *self.bytes.get(self.pos)?;
        if first < 0x80 {
            self.pos += 1;
            return Some(u64::from(first));
        }
        self.varint_slow()
    }

    fn varint_slow(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..MAX_VARINT_LEN {
            let b = self.u8()?;
            let chunk = u64::from(b & 0x7f);
            // The tenth byte may only contribute the top bit of a u64.
            if i == MAX_VARINT_LEN - 1 && chunk > 1 {
                return None;
            }
            v |= chunk << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// Everything not yet read.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or(&[])
    }
}

/// Writes values of 0..=64 bits, least significant bit first, into a byte vector.
pub(crate) struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    filled: u32,
}

impl<'a> BitWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter {
            out,
            acc: 0,
            filled: 0,
        }
    }

    /// Appends the low `width` bits of `v`; higher bits of `v` must be zero.
    pub(crate) fn write(&mut self, v: u64, width: u32) {
        debug_assert!(width <= 64 && v & !low_mask(width) == 0);
        if width == 0 {
            return;
        }
        self.acc |= v << self.filled;
        let total = self.filled + width;
        if total >= 64 {
            self.out.extend_from_slice(&self.acc.to_le_bytes());
            // The bits of `v` that did not fit; a shift by 64 would overflow, hence the guard.
            self.acc = if self.filled == 0 {
                0
            } else {
                v >> (64 - self.filled)
            };
            self.filled = total - 64;
        } else {
            self.filled = total;
        }
    }

    /// Flushes the partial word; the stream is padded with zero bits to a whole byte.
    pub(crate) fn finish(self) {
        let bytes = self.filled.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
    }
}

/// Loads 8 bytes little-endian at `at`, with zeros past the end of `bytes`.
#[inline]
pub(crate) fn load_u64(bytes: &[u8], at: usize) -> u64 {
    match bytes.get(at..at + 8) {
        Some(s) => {
            let mut w = [0u8; 8];
            w.copy_from_slice(s);
            u64::from_le_bytes(w)
        }
        None => {
            let mut w = [0u8; 8];
            let tail = bytes.get(at..).unwrap_or(&[]);
            w[..tail.len()].copy_from_slice(tail);
            u64::from_le_bytes(w)
        }
    }
}

/// Reads an LSB-first bit stream a word at a time. Reading past the end yields zero bits and
/// is detected afterwards with [`BitReader::overran`], which keeps the hot loop free of
/// per-read error branches.
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Byte offset of the next refill.
    next: usize,
    buf: u64,
    avail: u32,
    /// Bits consumed so far.
    consumed: u64,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        BitReader {
            bytes,
            next: 0,
            buf: 0,
            avail: 0,
            consumed: 0,
        }
    }

    /// Tops the buffer up to at least 56 bits.
    #[inline]
    fn refill(&mut self) {
        let word = load_u64(self.bytes, self.next);
        self.buf |= word << self.avail;
        let take = (63 - self.avail) / 8;
        self.next += take as usize;
        self.avail += take * 8;
    }

    /// Reads `width` (0..=56) bits.
    #[inline]
    pub(crate) fn read_short(&mut self, width: u32) -> u64 {
        debug_assert!(width <= 56);
        if self.avail < width {
            self.refill();
        }
        let v = self.buf & low_mask(width);
        // `width` may equal `avail` == 64 only when width > 56, which is excluded.
        self.buf = self.buf.checked_shr(width).unwrap_or(0);
        self.avail -= width;
        self.consumed += u64::from(width);
        v
    }

    /// Reads `width` (0..=64) bits.
    #[inline]
    pub(crate) fn read(&mut self, width: u32) -> u64 {
        if width <= 56 {
            self.read_short(width)
        } else {
            let lo = self.read_short(32);
            let hi = self.read_short(width - 32);
            lo | (hi << 32)
        }
    }

    /// Peeks at the next `width` (0..=56) bits without consuming them.
    #[inline]
    pub(crate) fn peek(&mut self, width: u32) -> u64 {
        if self.avail < width {
            self.refill();
        }
        self.buf & low_mask(width)
    }

    /// Discards `width` bits already peeked.
    #[inline]
    pub(crate) fn skip(&mut self, width: u32) {
        self.buf = self.buf.checked_shr(width).unwrap_or(0);
        self.avail -= width;
        self.consumed += u64::from(width);
    }

    /// Bits consumed so far.
    pub(crate) fn consumed(&self) -> u64 {
        self.consumed
    }

    /// True if more bits were consumed than the slice holds.
    pub(crate) fn overran(&self) -> bool {
        self.consumed > 8 * self.bytes.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_and_predicts_its_length() {
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut r = ByteReader::new(&out);
            assert_eq!(r.varint(), Some(v));
            assert!(r.rest().is_empty());
        }
    }

    #[test]
    fn varint_rejects_overlong_and_truncated_input() {
        assert_eq!(ByteReader::new(&[0x80; 11]).varint(), None);
        assert_eq!(ByteReader::new(&[0xff; 9]).varint(), None);
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert_eq!(ByteReader::new(&too_big).varint(), None);
    }

    #[test]
    fn zigzag_round_trips() {
        for v in [0, 1, -1, 2, -2, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn bit_writer_and_reader_agree_on_every_width() {
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        let mut expected = Vec::new();
        for width in 0..=64u32 {
            for k in 0..3u64 {
                let v = (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(k + u64::from(width) + 1))
                    & low_mask(width);
                w.write(v, width);
                expected.push((v, width));
            }
        }
        w.finish();
        let mut r = BitReader::new(&out);
        for (v, width) in expected {
            assert_eq!(r.read(width), v, "width {width}");
        }
        assert!(!r.overran());
        assert_eq!(r.consumed().div_ceil(8), out.len() as u64);
        r.read(8);
        assert!(r.overran());
    }
}

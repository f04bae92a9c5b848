//! The sealed blocks of one series, kept in a single exact-size allocation.
//!
//! ```text
//! buffer = entry*                       oldest first, numbers strictly increasing
//! entry  = number delta: zigzag varint | len: varint | block bytes (SealedBlock::as_bytes)
//! ```
//!
//! The first entry's delta is from 0, so it is the block number itself. A million series
//! hold several million sealed blocks: one boxed slice each plus a deque of handles cost
//! an allocation header, size-class rounding and a 24-byte handle per block, more than the
//! compressed bytes themselves. A series seals or expires at most one block per block
//! duration, so rebuilding the buffer on each change copies a few hundred bytes an hour.

use sextant_codec::BlockRef;

use sextant_codec::{put_varint, unzigzag, varint_len, zigzag};

/// Sealed blocks of one series, oldest first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SealedBlocks {
    bytes: Box<[u8]>,
}

impl SealedBlocks {
    /// No blocks; allocates nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the buffer from `(number, block bytes)` in increasing number order.
    pub fn from_blocks<'a>(blocks: impl IntoIterator<Item = (i64, &'a [u8])>) -> Self {
        let blocks: Vec<(i64, &[u8])> = blocks.into_iter().collect();
        let mut size = 0;
        let mut previous = 0;
        for (number, bytes) in &blocks {
            size += entry_len(number.wrapping_sub(previous), bytes.len());
            previous = *number;
        }
        let mut out = Vec::with_capacity(size);
        let mut previous = 0;
        for (number, bytes) in blocks {
            put_varint(&mut out, zigzag(number.wrapping_sub(previous)));
            put_varint(&mut out, bytes.len() as u64);
            out.extend_from_slice(bytes);
            previous = number;
        }
        SealedBlocks {
            bytes: out.into_boxed_slice(),
        }
    }

    /// Appends block `number`, which the caller guarantees is above every held one.
    pub fn push(&mut self, number: i64, block: &[u8]) {
        let previous = self.last_number().unwrap_or(0);
        let mut out = Vec::with_capacity(
            self.bytes.len() + entry_len(number.wrapping_sub(previous), block.len()),
        );
        out.extend_from_slice(&self.bytes);
        put_varint(&mut out, zigzag(number.wrapping_sub(previous)));
        put_varint(&mut out, block.len() as u64);
        out.extend_from_slice(block);
        self.bytes = out.into_boxed_slice();
    }

    /// Drops blocks numbered below `number`.
    pub fn expire_before(&mut self, number: i64) {
        if self.iter().next().is_some_and(|(n, _)| n < number) {
            let kept: Vec<(i64, &[u8])> = self.iter().filter(|(n, _)| *n >= number).collect();
            *self = SealedBlocks::from_blocks(kept);
        }
    }

    /// `(number, block bytes)`, oldest first.
    pub fn iter(&self) -> Entries<'_> {
        Entries {
            rest: &self.bytes,
            previous: 0,
        }
    }

    /// Number of the newest block, if any.
    pub fn last_number(&self) -> Option<i64> {
        self.iter().last().map(|(n, _)| n)
    }

    /// True when no block is held.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Number of blocks held.
    pub fn count(&self) -> usize {
        self.iter().count()
    }

    /// Encoded bytes of the blocks alone, without the numbers and lengths.
    pub fn block_bytes(&self) -> usize {
        self.iter().map(|(_, b)| b.len()).sum()
    }

    /// Heap bytes of the buffer.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Decodes the blocks numbered `first..=last` into `scratch`, handing each to `visit`
    /// with its number. A block that fails to decode is skipped (it reads as NaN); blocks
    /// are only ever written from `SealedBlock::as_bytes`, so that does not happen.
    pub fn decode_range(
        &self,
        first: i64,
        last: i64,
        scratch: &mut [f64],
        mut visit: impl FnMut(i64, &[f64]),
    ) {
        for (number, bytes) in self.iter() {
            if number < first {
                continue;
            }
            if number > last {
                break;
            }
            let Ok(block) = BlockRef::new(bytes) else {
                continue;
            };
            let len = block.len();
            if let Some(out) = scratch.get_mut(..len) {
                if block.decode_into(out).is_ok() {
                    visit(number, out);
                }
            }
        }
    }
}

/// Iterator over a [`SealedBlocks`] buffer.
#[derive(Debug)]
pub struct Entries<'a> {
    rest: &'a [u8],
    previous: i64,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (i64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let mut r = self.rest;
        let delta = unzigzag(take_varint(&mut r)?);
        let len = usize::try_from(take_varint(&mut r)?).ok()?;
        let block = r.get(..len)?;
        self.rest = r.get(len..)?;
        self.previous = self.previous.wrapping_add(delta);
        Some((self.previous, block))
    }
}

fn entry_len(delta: i64, len: usize) -> usize {
    varint_len(zigzag(delta)) + varint_len(len as u64) + len
}

/// Reads a varint from the front of `r`; `None` when it is cut short or too long, which
/// only a bug could cause since the buffer is written by this module alone.
fn take_varint(r: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, b) in r.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *r = &r[i + 1..];
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_codec::SealedBlock;

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn decoded(s: &SealedBlocks, first: i64, last: i64) -> Vec<(i64, Vec<u64>)> {
        let mut scratch = vec![0.0; 8];
        let mut out = Vec::new();
        s.decode_range(first, last, &mut scratch, |n, v| out.push((n, bits(v))));
        out
    }

    #[test]
    fn blocks_round_trip_bit_exact() {
        let a = [f64::from_bits(0x7ff8_0000_dead_beef), -0.0, 1.5, f64::NAN];
        let b = [0.1, 0.2, f64::NEG_INFINITY, 5e-324];
        let c = [-0.0; 4];
        let mut s = SealedBlocks::new();
        assert!(s.is_empty());
        assert_eq!(s.last_number(), None);
        // Block numbers of real data are around 500 000 (hours since 1970); include a
        // negative one and a large jump so deltas of every size are exercised.
        for (n, v) in [(-3, &a), (500_000, &b), (i64::MAX, &c)] {
            s.push(n, SealedBlock::encode(v).as_bytes());
        }
        assert_eq!(s.count(), 3);
        assert_eq!(s.last_number(), Some(i64::MAX));
        assert_eq!(
            decoded(&s, i64::MIN, i64::MAX),
            [(-3, bits(&a)), (500_000, bits(&b)), (i64::MAX, bits(&c))]
        );
        assert_eq!(decoded(&s, 0, 500_000), [(500_000, bits(&b))]);
    }

    #[test]
    fn expiry_drops_from_the_front_and_keeps_the_rest_exact() {
        let mut s = SealedBlocks::new();
        let blocks: Vec<SealedBlock> = (0..5)
            .map(|i| SealedBlock::encode(&[f64::from(i) + 0.25, -0.0, f64::NAN, 7.0]))
            .collect();
        for (i, b) in blocks.iter().enumerate() {
            s.push(100 + i as i64 * 2, b.as_bytes());
        }
        s.expire_before(100);
        assert_eq!(s.count(), 5, "nothing below 100");
        s.expire_before(103);
        let left: Vec<(i64, Vec<u8>)> = s.iter().map(|(n, b)| (n, b.to_vec())).collect();
        assert_eq!(
            left,
            (2..5)
                .map(|i| (100 + i as i64 * 2, blocks[i].as_bytes().to_vec()))
                .collect::<Vec<_>>()
        );
        let exact = left.iter().map(|(_, b)| 2 + b.len()).sum::<usize>();
        assert_eq!(
            s.heap_bytes(),
            exact + 1,
            "only the first delta takes two bytes"
        );
        s.expire_before(i64::MAX);
        assert!(s.is_empty());
        assert_eq!(s.heap_bytes(), 0);
    }

    #[test]
    fn from_blocks_matches_pushes() {
        let block = SealedBlock::encode(&[1.0, 2.0]);
        let mut pushed = SealedBlocks::new();
        pushed.push(7, block.as_bytes());
        pushed.push(9, block.as_bytes());
        let built = SealedBlocks::from_blocks([(7, block.as_bytes()), (9, block.as_bytes())]);
        assert_eq!(pushed, built);
        assert_eq!(built.block_bytes(), 2 * block.encoded_len());
    }

    #[test]
    fn undecodable_bytes_are_skipped_not_a_panic() {
        let s = SealedBlocks::from_blocks([(1, &[0xff, 3][..]), (2, &[][..])]);
        assert_eq!(decoded(&s, 0, 10), []);
        // A buffer cut in the middle of an entry ends the walk.
        let cut = SealedBlocks {
            bytes: vec![2, 10, 1].into_boxed_slice(),
        };
        assert_eq!(cut.iter().count(), 0);
    }
}

//! The data of one series: up to two open blocks (plain arrays, as long as their highest
//! written slot) and its sealed, compressed blocks in one buffer.
//!
//! Time is cut into intervals of one step; the interval ending at `T` has step number
//! `n = T / step`. Block `b` holds step numbers `b*len + 1 ..= b*len + len`, so, as in Atlas,
//! the first timestamp of a block is the end of its first interval.
//!
//! Two blocks may be open at once so a late sample for the end of the previous block still
//! lands after the clock has crossed into the next one; a block is sealed when no accepted
//! sample can reach it any more.

use std::borrow::Cow;

use sextant_codec::{BlockRef, SealedBlock};

use crate::index::Tag;
use crate::normalize::{accumulate, Normalizer, Refusal, Reorder, Step};
use crate::sealed::SealedBlocks;

/// The first open block of a series starts at this many values, so a series that is
/// written a few times and then stops does not carry a whole block (480 bytes at 60
/// steps); past it the block takes its full length at once. Later blocks reuse the full
/// array of the block before them, which is compressed when they open: growing every
/// block in steps instead cost round-robin ingest 20% (the reallocated arrays land
/// scattered in memory, where each write misses the cache) and saved no resident memory,
/// since every series holds a full block at the end of each block anyway.
const OPEN_CHUNK: usize = 8;

/// Fixed geometry of the store's blocks.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Primary step, ms.
    pub step: i64,
    /// Steps per block.
    pub block_len: usize,
}

impl Layout {
    /// The block that holds the interval ending at `t` (a multiple of the step), and the
    /// position inside it.
    pub fn locate(&self, t: i64) -> (i64, usize) {
        let n = t.div_euclid(self.step) - 1;
        let len = self.block_len as i64;
        (n.div_euclid(len), n.rem_euclid(len) as usize)
    }

    /// End timestamp of the first interval of `block`.
    pub fn block_start(&self, block: i64) -> i64 {
        (block * self.block_len as i64 + 1) * self.step
    }

    /// End timestamp of the last interval of `block`.
    #[cfg(test)]
    pub fn block_end(&self, block: i64) -> i64 {
        self.block_start(block) + (self.block_len as i64 - 1) * self.step
    }
}

#[derive(Debug)]
struct OpenBlock {
    number: i64,
    values: OpenValues,
}

#[derive(Debug)]
enum OpenValues {
    /// Slots from the block's start up to at least its highest written one; slots past
    /// the end read as NaN. Its length is also its capacity, so it costs exactly that.
    Plain(Box<[f64]>),
    /// The block compressed when a newer one opened: from then on only late samples
    /// reach it, so it waits for sealing at a fraction of the size (and is sealed without
    /// encoding it again). A late sample turns it back into plain values.
    Packed(SealedBlock),
}

impl OpenBlock {
    /// An empty block that writes into `values` (whose contents are discarded).
    fn new(number: i64, mut values: Box<[f64]>) -> Self {
        values.fill(f64::NAN);
        OpenBlock {
            number,
            values: OpenValues::Plain(values),
        }
    }

    /// The slot at `pos`, growing the block to reach it.
    fn slot(&mut self, pos: usize, block_len: usize) -> Option<&mut f64> {
        if let OpenValues::Packed(block) = &self.values {
            let mut values = vec![f64::NAN; block.len()];
            // Cannot fail: the block was encoded here. If it did, refuse the sample
            // rather than lose what the block holds.
            block.decode_into(&mut values).ok()?;
            self.values = OpenValues::Plain(values.into_boxed_slice());
        }
        let OpenValues::Plain(values) = &mut self.values else {
            return None;
        };
        if pos >= values.len() && pos < block_len {
            let len = if pos < OPEN_CHUNK {
                OPEN_CHUNK.min(block_len)
            } else {
                block_len
            };
            let mut grown = std::mem::take(values).into_vec();
            grown.reserve_exact(len - grown.len());
            grown.resize(len, f64::NAN);
            *values = grown.into_boxed_slice();
        }
        values.get_mut(pos)
    }

    /// Compresses plain values (see [`OpenValues::Packed`]) and hands back their array
    /// for the next block to reuse.
    fn pack(&mut self) -> Option<Box<[f64]>> {
        let OpenValues::Plain(values) = &mut self.values else {
            return None;
        };
        let values = std::mem::take(values);
        if let Some(block) = encode_written(&values) {
            self.values = OpenValues::Packed(block);
        }
        Some(values)
    }

    /// The block as sealed, or `None` when it holds no data.
    fn into_sealed(self) -> Option<SealedBlock> {
        match self.values {
            OpenValues::Plain(values) => encode_written(&values),
            OpenValues::Packed(block) => Some(block),
        }
    }

    /// The values up to the last stored one, decoding into `scratch` (a block long) if
    /// the block is packed.
    fn values<'a>(&'a self, scratch: &'a mut [f64]) -> &'a [f64] {
        match &self.values {
            OpenValues::Plain(values) => values,
            OpenValues::Packed(block) => {
                let Some(out) = scratch.get_mut(..block.len()) else {
                    return &[];
                };
                match block.decode_into(out) {
                    Ok(()) => out,
                    Err(_) => &[],
                }
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        match &self.values {
            OpenValues::Plain(values) => values.len() * 8,
            OpenValues::Packed(block) => block.encoded_len(),
        }
    }
}

/// Encodes `values` up to the last one that is not NaN, or `None` when all are. A block
/// with no data costs nothing to keep (reads see NaN where no block exists), and the
/// slots after the last value read as NaN anyway, so a shorter block says the same in
/// fewer bytes and encodes faster.
fn encode_written(values: &[f64]) -> Option<SealedBlock> {
    let used = values.iter().rposition(|v| !v.is_nan())?;
    Some(SealedBlock::encode(&values[..=used]))
}

/// Datapoints a series holds, from [`SeriesData::datapoint_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatapointStats {
    /// Values that are not NaN in sealed blocks.
    pub sealed: u64,
    /// Values that are not NaN in open blocks, plain or packed.
    pub open: u64,
    /// Heap bytes of the open blocks: 8 per slot while plain, the encoded size once packed.
    pub open_bytes: u64,
}

fn count_values(values: &[f64]) -> u64 {
    values.iter().filter(|v| !v.is_nan()).count() as u64
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored.
    Stored,
    /// Taken into the normalisation state, nothing to store yet: a counter's first sample.
    Primed,
    /// A rate or counter sample with the timestamp of one already taken; not applied.
    Duplicate,
    /// A rate or counter sample older than the samples the series keeps to reorder; not
    /// applied.
    OutOfOrder,
    /// Aimed at a block that is already sealed.
    Sealed,
}

/// All stored data of one series. Guarded by the series' mutex in the store.
#[derive(Debug)]
pub struct SeriesData {
    normalizer: Normalizer,
    /// Open blocks, oldest first: the second is only ever set when the first is, and then
    /// the first is usually packed. Inline rather than a `Vec`, which would cost every
    /// series an allocation.
    open: [Option<OpenBlock>; 2],
    /// Sealed blocks, oldest first; all numbered below the open ones.
    sealed: SealedBlocks,
}

impl SeriesData {
    /// Empty data normalised by `normalizer`.
    pub fn new(normalizer: Normalizer) -> Self {
        SeriesData {
            normalizer,
            open: [None, None],
            sealed: SealedBlocks::new(),
        }
    }

    /// Rebuilds data saved by a checkpoint. Blocks must be numbered in increasing order,
    /// sealed ones before open ones, at most two open, each open block at most `block_len`
    /// long (slots past its end are empty); anything else is refused with the reason.
    pub fn restore(
        layout: &Layout,
        normalizer: Normalizer,
        open: Vec<(i64, Vec<f64>)>,
        sealed: Vec<(i64, SealedBlock)>,
    ) -> Result<Self, String> {
        if open.len() > 2 {
            return Err(format!("{} open blocks, at most 2", open.len()));
        }
        let numbers = sealed
            .iter()
            .map(|(n, _)| *n)
            .chain(open.iter().map(|(n, _)| *n));
        let mut previous = None;
        for n in numbers {
            if previous.is_some_and(|p| p >= n) {
                return Err(format!("block {n} out of order"));
            }
            previous = Some(n);
        }
        if let Some((n, values)) = open.iter().find(|(_, v)| v.len() > layout.block_len) {
            return Err(format!(
                "open block {n} holds {} values, the block length is {}",
                values.len(),
                layout.block_len
            ));
        }
        if let Some((n, block)) = sealed.iter().find(|(_, b)| b.len() > layout.block_len) {
            return Err(format!(
                "sealed block {n} holds {} values, the block length is {}",
                block.len(),
                layout.block_len
            ));
        }
        let mut blocks = open.into_iter().map(|(number, values)| OpenBlock {
            number,
            values: OpenValues::Plain(values.into_boxed_slice()),
        });
        Ok(SeriesData {
            normalizer,
            open: [blocks.next(), blocks.next()],
            sealed: SealedBlocks::from_blocks(sealed.iter().map(|(n, b)| (*n, b.as_bytes()))),
        })
    }

    /// The normalisation state, for checkpoints.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// Open blocks, oldest first: number and values, which may stop short of the block
    /// length (missing slots are empty, NaN). A packed block is decoded.
    pub fn open_blocks(&self) -> impl Iterator<Item = (i64, Cow<'_, [f64]>)> {
        self.open.iter().flatten().map(|b| {
            let values = match &b.values {
                OpenValues::Plain(values) => Cow::Borrowed(&values[..]),
                OpenValues::Packed(block) => {
                    let mut values = vec![f64::NAN; block.len()];
                    // Cannot fail (encoded here); if it did, the block would read as empty.
                    if block.decode_into(&mut values).is_err() {
                        values.clear();
                    }
                    Cow::Owned(values)
                }
            };
            (b.number, values)
        })
    }

    /// Sealed blocks, oldest first: number and the block's bytes
    /// ([`SealedBlock::as_bytes`]).
    pub fn sealed_blocks(&self) -> impl Iterator<Item = (i64, &[u8])> {
        self.sealed.iter()
    }

    /// Normalises one sample and stores what it contributes.
    pub fn write(&mut self, layout: &Layout, t: i64, v: f64) -> WriteOutcome {
        match self.normalizer.sample(t, v, layout.step) {
            Step::Max(end, value) => self.put(layout, end, value, f64::max),
            Step::Add(end, value) => self.put(layout, end, value, accumulate),
            Step::Spread(span) => {
                let mut outcome = WriteOutcome::Stored;
                span.spread(layout.step, |end, c| {
                    if self.put(layout, end, c, accumulate) == WriteOutcome::Sealed {
                        outcome = WriteOutcome::Sealed;
                    }
                });
                outcome
            }
            Step::Kept if self.normalizer.dstype() == crate::normalize::DsType::Counter => {
                WriteOutcome::Primed
            }
            Step::Kept => WriteOutcome::Stored,
            Step::Duplicate => WriteOutcome::Duplicate,
            Step::Late => match self.normalizer.reorder(t, v, layout.step) {
                Ok(plan) => self.apply_reorder(layout, &plan),
                Err(Refusal::Duplicate) => WriteOutcome::Duplicate,
                Err(Refusal::OutOfOrder) => WriteOutcome::OutOfOrder,
            },
        }
    }

    /// Combines `value` into the interval ending at `end` (`combine(old, value)` unless
    /// the slot is empty).
    fn put(
        &mut self,
        layout: &Layout,
        end: i64,
        value: f64,
        combine: fn(f64, f64) -> f64,
    ) -> WriteOutcome {
        match self.slot(layout, end) {
            Some(slot) => {
                *slot = if slot.is_nan() {
                    value
                } else {
                    combine(*slot, value)
                };
                WriteOutcome::Stored
            }
            None => WriteOutcome::Sealed,
        }
    }

    /// Whether every interval of `plan` that holds a value can be written without sealing
    /// a block it also writes: checked before anything is written. The blocks it needs
    /// that are not open must fit in the free open slots above the sealed ones, or be one
    /// block newer than every open one (which seals the oldest, as in-order arrival
    /// would; the intervals come oldest first, so the sealed one is already written).
    fn can_open(&self, layout: &Layout, plan: &Reorder) -> bool {
        let open: Vec<i64> = self.open.iter().flatten().map(|b| b.number).collect();
        let mut new: Vec<i64> = plan
            .intervals
            .iter()
            .filter(|(_, v)| !v.is_nan())
            .map(|(end, _)| layout.locate(*end).0)
            .filter(|n| !open.contains(n))
            .collect();
        new.dedup();
        let above_sealed = |n: &i64| self.sealed.last_number().is_none_or(|s| s < *n);
        new.is_empty()
            || (new.iter().all(above_sealed) && open.len() + new.len() <= 2)
            || (new.len() == 1 && open.iter().all(|o| *o < new[0]))
    }

    /// Stores the intervals a late sample changes, all or none, then keeps its samples.
    fn apply_reorder(&mut self, layout: &Layout, plan: &Reorder) -> WriteOutcome {
        if !self.can_open(layout, plan) {
            return WriteOutcome::Sealed;
        }
        for (end, value) in &plan.intervals {
            let (number, _) = layout.locate(*end);
            if value.is_nan() && !self.open.iter().flatten().any(|b| b.number == number) {
                continue;
            }
            if let Some(slot) = self.slot(layout, *end) {
                *slot = *value;
            }
        }
        self.normalizer.commit(plan);
        WriteOutcome::Stored
    }

    /// The open slot for the interval ending at `end`, opening its block if needed.
    fn slot(&mut self, layout: &Layout, end: i64) -> Option<&mut f64> {
        let (number, pos) = layout.locate(end);
        let idx = match &self.open {
            [Some(b), _] if b.number == number => 0,
            [_, Some(b)] if b.number == number => 1,
            // An older block than the only open one, never opened (samples of two blocks
            // arriving newest first): it goes before it while it fits in the two slots.
            [Some(b), None]
                if number < b.number && self.sealed.last_number().is_none_or(|n| n < number) =>
            {
                self.open[1] = self.open[0].take();
                self.open[0] = Some(OpenBlock::new(number, Box::default()));
                0
            }
            // Sealed blocks are all below the oldest open one.
            [Some(b), _] if number < b.number => return None,
            [None, _] if self.sealed.last_number().is_some_and(|n| n >= number) => return None,
            _ => {
                if self.open[1].is_some() {
                    // A third block: the oldest can no longer be written.
                    self.seal_oldest();
                }
                let spare = self.open[0].as_mut().and_then(OpenBlock::pack);
                let idx = usize::from(self.open[0].is_some());
                self.open[idx] = Some(OpenBlock::new(number, spare.unwrap_or_default()));
                idx
            }
        };
        self.open[idx].as_mut()?.slot(pos, layout.block_len)
    }

    fn seal_oldest(&mut self) {
        let Some(block) = self.open[0].take() else {
            return;
        };
        self.open.swap(0, 1);
        let number = block.number;
        if let Some(sealed) = block.into_sealed() {
            self.sealed.push(number, sealed.as_bytes());
        }
    }

    /// Seals open blocks numbered below `number`; returns how many were sealed.
    pub fn seal_before(&mut self, number: i64) -> usize {
        let mut n = 0;
        while self.open[0].as_ref().is_some_and(|b| b.number < number) {
            self.seal_oldest();
            n += 1;
        }
        n
    }

    /// Time of the last sample the normaliser took (`i64::MIN` before any), so a counter
    /// primed by its first sample, which has no value yet, is not expired as empty.
    pub fn last_sample_time(&self) -> i64 {
        self.normalizer.state().0
    }

    /// Drops sealed blocks numbered below `number`; returns true when nothing is left.
    pub fn expire_before(&mut self, number: i64) -> bool {
        self.sealed.expire_before(number);
        self.sealed.is_empty() && self.open[0].is_none()
    }

    /// Copies the values of the intervals ending at `start, start + step, ...` into `out`
    /// (one per element); intervals with no data are NaN. `scratch` must hold a block.
    pub fn read_into(&self, layout: &Layout, start: i64, out: &mut [f64], scratch: &mut [f64]) {
        out.fill(f64::NAN);
        if out.is_empty() {
            return;
        }
        let end = start + (out.len() as i64 - 1) * layout.step;
        let (first, _) = layout.locate(start);
        let (last, _) = layout.locate(end);
        let mut copy = |number: i64, values: &[f64]| {
            let block_start = layout.block_start(number);
            // Offsets of the overlap in both arrays, in steps.
            let from = ((start.max(block_start) - start) / layout.step) as usize;
            let src_from = ((start.max(block_start) - block_start) / layout.step) as usize;
            let n =
                (values.len() - src_from.min(values.len())).min(out.len() - from.min(out.len()));
            if n > 0 {
                out[from..from + n].copy_from_slice(&values[src_from..src_from + n]);
            }
        };
        self.sealed.decode_range(first, last, scratch, &mut copy);
        for b in self
            .open
            .iter()
            .flatten()
            .filter(|b| b.number >= first && b.number <= last)
        {
            copy(b.number, b.values(scratch));
        }
    }

    /// Number of sealed blocks and their encoded bytes.
    pub fn sealed_stats(&self) -> (usize, usize) {
        (self.sealed.count(), self.sealed.block_bytes())
    }

    /// Datapoints (values that are not NaN) held by the sealed and by the open blocks,
    /// and the heap bytes of the open blocks; with [`sealed_stats`](Self::sealed_stats) this
    /// gives exact bytes per point. Decodes every block into `scratch` (grown as needed),
    /// so it is for `/api/v1/stats`, not for hot paths.
    pub fn datapoint_stats(&self, scratch: &mut Vec<f64>) -> DatapointStats {
        let mut stats = DatapointStats::default();
        for (_, bytes) in self.sealed.iter() {
            // Blocks are only ever written from `SealedBlock::as_bytes`; one that failed to
            // decode would read as NaN, so it holds no datapoints either.
            let Ok(block) = BlockRef::new(bytes) else {
                continue;
            };
            if scratch.len() < block.len() {
                scratch.resize(block.len(), f64::NAN);
            }
            let out = &mut scratch[..block.len()];
            if block.decode_into(out).is_ok() {
                stats.sealed += count_values(out);
            }
        }
        for block in self.open.iter().flatten() {
            let len = match &block.values {
                OpenValues::Plain(values) => values.len(),
                OpenValues::Packed(packed) => packed.len(),
            };
            if scratch.len() < len {
                scratch.resize(len, f64::NAN);
            }
            stats.open += count_values(block.values(scratch));
            stats.open_bytes += block.heap_bytes() as u64;
        }
        stats
    }

    /// Heap bytes of this series' data, besides the struct itself.
    pub fn heap_bytes(&self) -> usize {
        let open: usize = self.open.iter().flatten().map(OpenBlock::heap_bytes).sum();
        open + self.sealed.heap_bytes()
    }
}

/// A series: immutable identity and tags, and its data behind a mutex.
#[derive(Debug)]
pub struct Series {
    /// Dense id used by the index.
    pub id: u32,
    /// Tags sorted by key; each pair is shared with the index.
    pub tags: Box<[Tag]>,
    /// The stored data; locked briefly by writers and by readers copying values out.
    pub data: parking_lot::Mutex<SeriesData>,
}

impl Series {
    /// The tags as string pairs, sorted by key.
    pub fn tag_pairs(&self) -> Vec<(&str, &str)> {
        self.tags.iter().map(|t| (&*t.0, &*t.1)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::DsType;

    const STEP: i64 = 1000;

    fn layout() -> Layout {
        Layout {
            step: STEP,
            block_len: 4,
        }
    }

    fn read(d: &SeriesData, start: i64, n: usize) -> Vec<f64> {
        let mut out = vec![0.0; n];
        let mut scratch = vec![0.0; 4];
        d.read_into(&layout(), start, &mut out, &mut scratch);
        out
    }

    #[test]
    fn locate_follows_atlas_block_starts() {
        let l = layout();
        assert_eq!(l.locate(STEP), (0, 0));
        assert_eq!(l.locate(4 * STEP), (0, 3));
        assert_eq!(l.locate(5 * STEP), (1, 0));
        assert_eq!(l.block_start(1), 5 * STEP);
        assert_eq!(l.block_end(1), 8 * STEP);
    }

    #[test]
    fn values_survive_sealing_bit_exact() {
        let mut d = SeriesData::new(Normalizer::new(DsType::Gauge));
        let values = [1.5, -0.0, f64::INFINITY, 3.0, 4.25, 5e-310, 7.0, 8.0, 9.0];
        for (i, v) in values.iter().enumerate() {
            assert_eq!(
                d.write(&layout(), (i as i64 + 1) * STEP, *v),
                WriteOutcome::Stored
            );
        }
        // 9 values over blocks of 4: blocks 0 and 1 are full, block 2 open.
        assert_eq!(
            d.seal_before(2),
            1,
            "block 0 was sealed when block 2 opened"
        );
        let got = read(&d, STEP, 10);
        for (g, v) in got.iter().zip(values.iter()) {
            assert_eq!(g.to_bits(), v.to_bits());
        }
        assert!(got[9].is_nan());
        assert_eq!(d.sealed_stats().0, 2);
    }

    #[test]
    fn writes_to_sealed_blocks_are_refused() {
        let mut d = SeriesData::new(Normalizer::new(DsType::Gauge));
        d.write(&layout(), STEP, 1.0);
        d.write(&layout(), 5 * STEP, 1.0);
        d.seal_before(1);
        assert_eq!(d.write(&layout(), 2 * STEP, 1.0), WriteOutcome::Sealed);
        assert_eq!(read(&d, STEP, 2)[1].to_bits(), f64::NAN.to_bits());
    }

    #[test]
    fn expiry_empties_the_series() {
        let mut d = SeriesData::new(Normalizer::new(DsType::Sum));
        d.write(&layout(), STEP, 1.0);
        d.write(&layout(), STEP, 2.0);
        assert_eq!(read(&d, STEP, 1), [3.0]);
        d.seal_before(10);
        assert!(!d.expire_before(0));
        assert!(d.expire_before(10));
    }

    #[test]
    fn all_nan_blocks_are_not_kept() {
        let mut d = SeriesData::new(Normalizer::new(DsType::Gauge));
        d.write(&layout(), STEP, f64::NAN);
        d.write(&layout(), 5 * STEP, 2.0);
        d.seal_before(5);
        assert_eq!(d.sealed_stats().0, 1);
    }

    #[test]
    fn a_first_block_starts_small_and_later_blocks_reuse_the_full_array() {
        let l = Layout {
            step: STEP,
            block_len: 60,
        };
        let mut d = SeriesData::new(Normalizer::new(DsType::Gauge));
        d.write(&l, STEP, 1.0);
        let lens = |d: &SeriesData| d.open_blocks().map(|(_, v)| v.len()).collect::<Vec<_>>();
        assert_eq!(lens(&d), [OPEN_CHUNK]);
        assert_eq!(d.heap_bytes(), 8 * OPEN_CHUNK);
        d.write(&l, 10 * STEP, 5.0);
        assert_eq!(lens(&d), [60]);
        d.write(&l, 20 * STEP, -0.0);
        d.write(&l, 60 * STEP, 2.0);
        assert_eq!(lens(&d), [60]);
        // The next block takes over the array, and the full block is packed.
        d.write(&l, 61 * STEP, 3.0);
        assert_eq!(lens(&d), [60, 60]);
        assert!(d.heap_bytes() < 480 + 100, "{}", d.heap_bytes());
        let mut out = vec![0.0; 62];
        let mut scratch = vec![0.0; 60];
        d.read_into(&l, STEP, &mut out, &mut scratch);
        assert_eq!(out[0], 1.0);
        assert_eq!(out[19].to_bits(), (-0.0f64).to_bits());
        assert_eq!((out[59], out[60]), (2.0, 3.0));
        assert_eq!(out[9], 5.0);
        assert_eq!(out.iter().filter(|v| v.is_nan()).count(), 62 - 5);
    }

    #[test]
    fn a_partly_written_block_seals_and_reads_back_exact() {
        let mut d = SeriesData::new(Normalizer::new(DsType::Gauge));
        // Normalisation drops NaN samples, so payload NaNs are covered in `sealed`.
        let tiny = 5e-324;
        d.write(&layout(), STEP, tiny);
        d.write(&layout(), 2 * STEP, -0.0);
        d.seal_before(1);
        assert_eq!(d.sealed_stats().0, 1);
        let got = read(&d, STEP, 4);
        assert_eq!(got[0].to_bits(), tiny.to_bits());
        assert_eq!(got[1].to_bits(), (-0.0f64).to_bits());
        assert_eq!(got[2].to_bits(), f64::NAN.to_bits());
        assert_eq!(got[3].to_bits(), f64::NAN.to_bits());
        assert_eq!(d.write(&layout(), 3 * STEP, 1.0), WriteOutcome::Sealed);
    }

    #[test]
    fn reads_span_sealed_and_open_blocks_and_expire_from_the_front() {
        let mut d = SeriesData::new(Normalizer::new(DsType::Gauge));
        for i in 1..=14 {
            d.write(&layout(), i * STEP, i as f64 + 0.5);
        }
        // Blocks 0..=1 sealed by the writes that opened blocks 2 and 3.
        assert_eq!(d.sealed_stats().0, 2);
        let want = |from: i64, n: usize| {
            (from..from + n as i64)
                .map(|i| if i <= 14 { i as f64 + 0.5 } else { f64::NAN })
                .map(f64::to_bits)
                .collect::<Vec<_>>()
        };
        let bits = |v: Vec<f64>| v.into_iter().map(f64::to_bits).collect::<Vec<_>>();
        assert_eq!(bits(read(&d, 3 * STEP, 13)), want(3, 13));
        assert!(!d.expire_before(1));
        assert_eq!(bits(read(&d, 5 * STEP, 4)), want(5, 4));
        assert!(read(&d, STEP, 4).iter().all(|v| v.is_nan()));
        assert_eq!(d.sealed_stats().0, 1);
        assert_eq!(d.seal_before(4), 2);
        assert!(!d.expire_before(3));
        assert!(read(&d, 9 * STEP, 4).iter().all(|v| v.is_nan()));
        assert_eq!(bits(read(&d, 13 * STEP, 4)), want(13, 4));
        assert!(d.expire_before(4));
    }

    #[test]
    fn late_samples_reach_a_packed_block_bit_exact() {
        let mut d = SeriesData::new(Normalizer::new(DsType::Sum));
        d.write(&layout(), STEP, -0.0);
        d.write(&layout(), 3 * STEP, 0.1);
        // Opening block 1 packs block 0; a late sample unpacks it and adds.
        d.write(&layout(), 5 * STEP, 7.0);
        assert_eq!(d.write(&layout(), 3 * STEP, 0.2), WriteOutcome::Stored);
        assert_eq!(d.write(&layout(), 4 * STEP, 1e300), WriteOutcome::Stored);
        let want = [-0.0, f64::NAN, 0.1 + 0.2, 1e300, 7.0, f64::NAN];
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&read(&d, STEP, 6)), bits(&want));
        // Block 2 packs block 1 and seals block 0 as it stands.
        d.write(&layout(), 9 * STEP, 9.0);
        assert_eq!(d.sealed_stats().0, 1);
        assert_eq!(d.write(&layout(), 2 * STEP, 1.0), WriteOutcome::Sealed);
        assert_eq!(d.seal_before(3), 2);
        let mut want = want.to_vec();
        want.extend([f64::NAN, f64::NAN, 9.0]);
        assert_eq!(bits(&read(&d, STEP, 9)), bits(&want));
    }

    #[test]
    fn restore_takes_short_open_blocks_and_refuses_long_ones() -> Result<(), String> {
        let l = layout();
        let sealed = vec![(1, SealedBlock::encode(&[1.0, 2.0, 3.0, 4.0]))];
        let d = SeriesData::restore(
            &l,
            Normalizer::new(DsType::Gauge),
            vec![(2, vec![5.0])],
            sealed.clone(),
        )?;
        let got = read(&d, 5 * STEP, 6);
        assert_eq!(&got[..5], [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(got[5].is_nan());
        let long = SeriesData::restore(
            &l,
            Normalizer::new(DsType::Gauge),
            vec![(2, vec![0.0; 5])],
            sealed,
        );
        assert!(long.is_err());
        Ok(())
    }

    #[test]
    fn datapoint_stats_count_values_not_slots_in_sealed_packed_and_plain_blocks() {
        let mut d = SeriesData::new(Normalizer::new(DsType::Gauge));
        let mut scratch = Vec::new();
        assert_eq!(d.datapoint_stats(&mut scratch), DatapointStats::default());
        // Block 0: slots 1, 2 and 4 (a gap at 3); block 1: slots 5 and 6; block 2: slot 9.
        for i in [1, 2, 4, 5, 6, 9] {
            d.write(&layout(), i * STEP, i as f64);
        }
        // Opening block 2 sealed block 0 and packed block 1.
        assert_eq!(d.sealed_stats().0, 1);
        let stats = d.datapoint_stats(&mut scratch);
        assert_eq!((stats.sealed, stats.open), (3, 3));
        assert_eq!(
            stats.open_bytes as usize + d.sealed.heap_bytes(),
            d.heap_bytes()
        );
        // Sealing the rest moves every datapoint, and no byte is left open.
        d.seal_before(10);
        let stats = d.datapoint_stats(&mut scratch);
        assert_eq!(
            stats,
            DatapointStats {
                sealed: 6,
                open: 0,
                open_bytes: 0
            }
        );
    }

    #[test]
    fn read_before_and_after_data_is_nan() {
        let mut d = SeriesData::new(Normalizer::new(DsType::Gauge));
        d.write(&layout(), 6 * STEP, 6.0);
        let got = read(&d, 0, 10);
        assert_eq!(got.iter().filter(|v| !v.is_nan()).count(), 1);
        assert_eq!(got[6], 6.0);
    }
}

//! The data of one series: up to two open blocks (plain arrays) and a ring of sealed,
//! compressed blocks.
//!
//! Time is cut into intervals of one step; the interval ending at `T` has step number
//! `n = T / step`. Block `b` holds step numbers `b*len + 1 ..= b*len + len`, so, as in Atlas,
//! the first timestamp of a block is the end of its first interval.
//!
//! Two blocks may be open at once so a late sample for the end of the previous block still
//! lands after the clock has crossed into the next one; a block is sealed when no accepted
//! sample can reach it any more.

use std::collections::VecDeque;
use std::sync::Arc;

use sextant_codec::SealedBlock;

use crate::normalize::{Normalizer, Update};

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
    values: Box<[f64]>,
}

#[derive(Debug)]
struct SealedEntry {
    number: i64,
    block: SealedBlock,
}

/// Why a write did not land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored.
    Stored,
    /// Out of order or duplicate for a rate/counter, or a counter's first sample.
    Ignored,
    /// Aimed at a block that is already sealed.
    Sealed,
}

/// All stored data of one series. Guarded by the series' mutex in the store.
#[derive(Debug)]
pub struct SeriesData {
    normalizer: Normalizer,
    /// Open blocks, oldest first; at most two.
    open: Vec<OpenBlock>,
    /// Sealed blocks, oldest first.
    sealed: VecDeque<SealedEntry>,
}

impl SeriesData {
    /// Empty data normalised by `normalizer`.
    pub fn new(normalizer: Normalizer) -> Self {
        SeriesData {
            normalizer,
            open: Vec::new(),
            sealed: VecDeque::new(),
        }
    }

    /// Rebuilds data saved by a checkpoint. Blocks must be numbered in increasing order,
    /// sealed ones before open ones, at most two open, each open block `block_len` long;
    /// anything else is refused with the reason.
    pub fn restore(
        layout: &Layout,
        normalizer: Normalizer,
        open: Vec<(i64, Box<[f64]>)>,
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
        if let Some((n, values)) = open.iter().find(|(_, v)| v.len() != layout.block_len) {
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
        Ok(SeriesData {
            normalizer,
            open: open
                .into_iter()
                .map(|(number, values)| OpenBlock { number, values })
                .collect(),
            sealed: sealed
                .into_iter()
                .map(|(number, block)| SealedEntry { number, block })
                .collect(),
        })
    }

    /// The normalisation state, for checkpoints.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// Open blocks, oldest first: number and values.
    pub fn open_blocks(&self) -> impl Iterator<Item = (i64, &[f64])> {
        self.open.iter().map(|b| (b.number, &b.values[..]))
    }

    /// Sealed blocks, oldest first: number and block.
    pub fn sealed_blocks(&self) -> impl Iterator<Item = (i64, &SealedBlock)> {
        self.sealed.iter().map(|s| (s.number, &s.block))
    }

    /// Normalises one sample and stores what it contributes.
    pub fn write(&mut self, layout: &Layout, t: i64, v: f64) -> WriteOutcome {
        let mut updates = [Update::Add(0, 0.0); 4];
        let mut count = 0;
        let accepted = self.normalizer.sample(t, v, layout.step, |u| {
            // A span reaches back at most a heartbeat (2 steps or 2 minutes): a handful
            // of intervals. Beyond the buffer the sample is dropped, not the process.
            if count < updates.len() {
                updates[count] = u;
                count += 1;
            }
        });
        if !accepted {
            return WriteOutcome::Ignored;
        }
        let mut outcome = WriteOutcome::Stored;
        for u in &updates[..count] {
            let (end, value, max) = match *u {
                Update::Add(e, v) => (e, v, false),
                Update::Max(e, v) => (e, v, true),
            };
            match self.slot(layout, end) {
                Some(slot) => {
                    *slot = if slot.is_nan() {
                        value
                    } else if max {
                        slot.max(value)
                    } else {
                        *slot + value
                    };
                }
                None => outcome = WriteOutcome::Sealed,
            }
        }
        outcome
    }

    /// The open slot for the interval ending at `end`, opening its block if needed.
    fn slot(&mut self, layout: &Layout, end: i64) -> Option<&mut f64> {
        let (number, pos) = layout.locate(end);
        if self.sealed.back().is_some_and(|s| s.number >= number) {
            return None;
        }
        let idx = match self.open.iter().position(|b| b.number == number) {
            Some(i) => i,
            None => {
                if self.open.first().is_some_and(|b| number < b.number) {
                    return None;
                }
                if self.open.len() == 2 {
                    // A third block: the oldest can no longer be written.
                    self.seal_oldest();
                }
                self.open.push(OpenBlock {
                    number,
                    values: vec![f64::NAN; layout.block_len].into_boxed_slice(),
                });
                self.open.len() - 1
            }
        };
        self.open[idx].values.get_mut(pos)
    }

    fn seal_oldest(&mut self) {
        if self.open.is_empty() {
            return;
        }
        let block = self.open.remove(0);
        // A block with no data at all costs nothing to keep: reads see NaN where no
        // block exists.
        if block.values.iter().all(|v| v.is_nan()) {
            return;
        }
        self.sealed.push_back(SealedEntry {
            number: block.number,
            block: SealedBlock::encode(&block.values),
        });
    }

    /// Seals open blocks numbered below `number`; returns how many were sealed.
    pub fn seal_before(&mut self, number: i64) -> usize {
        let mut n = 0;
        while self.open.first().is_some_and(|b| b.number < number) {
            self.seal_oldest();
            n += 1;
        }
        n
    }

    /// Drops sealed blocks numbered below `number`; returns true when nothing is left.
    pub fn expire_before(&mut self, number: i64) -> bool {
        while self.sealed.front().is_some_and(|s| s.number < number) {
            self.sealed.pop_front();
        }
        self.sealed.is_empty() && self.open.is_empty()
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
        for s in self
            .sealed
            .iter()
            .filter(|s| s.number >= first && s.number <= last)
        {
            let len = s.block.len();
            if len <= scratch.len() && s.block.decode_into(&mut scratch[..len]).is_ok() {
                copy(s.number, &scratch[..len]);
            }
        }
        for b in self
            .open
            .iter()
            .filter(|b| b.number >= first && b.number <= last)
        {
            copy(b.number, &b.values);
        }
    }

    /// Number of sealed blocks and their encoded bytes.
    pub fn sealed_stats(&self) -> (usize, usize) {
        let bytes = self.sealed.iter().map(|s| s.block.encoded_len()).sum();
        (self.sealed.len(), bytes)
    }

    /// Approximate heap bytes used by this series' data.
    pub fn heap_bytes(&self) -> usize {
        let open: usize = self.open.iter().map(|b| b.values.len() * 8 + 16).sum();
        let sealed: usize = self
            .sealed
            .iter()
            .map(|s| s.block.encoded_len() + std::mem::size_of::<SealedEntry>())
            .sum();
        open + sealed + self.open.capacity() * std::mem::size_of::<OpenBlock>()
    }
}

/// A series: immutable identity and tags, and its data behind a mutex.
#[derive(Debug)]
pub struct Series {
    /// Dense id used by the index.
    pub id: u32,
    /// Tags sorted by key; the strings are shared with the index.
    pub tags: Box<[(Arc<str>, Arc<str>)]>,
    /// The stored data; locked briefly by writers and by readers copying values out.
    pub data: parking_lot::Mutex<SeriesData>,
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
    fn read_before_and_after_data_is_nan() {
        let mut d = SeriesData::new(Normalizer::new(DsType::Gauge));
        d.write(&layout(), 6 * STEP, 6.0);
        let got = read(&d, 0, 10);
        assert_eq!(got.iter().filter(|v| !v.is_nan()).count(), 1);
        assert_eq!(got[6], 6.0);
    }
}

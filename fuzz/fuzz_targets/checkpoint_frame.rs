//! The checkpoint frame parser: arbitrary bytes, as if their checksum matched, never panic
//! `parse_frame`, and what parses respects the block length it was given (neither open nor
//! sealed blocks hold more values), and a cluster node's positions name partitions below
//! their count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_store::checkpoint_format::{parse_frame, Frame};

const BLOCK_LEN: usize = 8;

fuzz_target!(|data: &[u8]| {
    match parse_frame(data, BLOCK_LEN) {
        // A cluster node's chunks hold series the same way.
        Ok(Frame::Chunk { series, .. }) | Ok(Frame::PartitionChunk { series, .. }) => {
            for s in &series {
                assert!(s.open.iter().all(|(_, v)| v.len() <= BLOCK_LEN));
                assert!(s.sealed.iter().all(|(_, b)| b.len() <= BLOCK_LEN));
            }
        }
        // Every start position names a partition below the count.
        Ok(Frame::Positions(p)) => {
            assert!(p
                .starts
                .iter()
                .all(|(partition, _)| *partition < p.partitions));
        }
        _ => {}
    }
});

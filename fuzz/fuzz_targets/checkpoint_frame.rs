//! The checkpoint frame parser: arbitrary bytes, as if their checksum matched, never panic
//! `parse_frame`, and what parses respects the block length it was given (neither open nor
//! sealed blocks hold more values).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_server::checkpoint_format::{parse_frame, Frame};

const BLOCK_LEN: usize = 8;

fuzz_target!(|data: &[u8]| {
    if let Ok(Frame::Chunk { series, .. }) = parse_frame(data, BLOCK_LEN) {
        for s in &series {
            assert!(s.open.iter().all(|(_, v)| v.len() <= BLOCK_LEN));
            assert!(s.sealed.iter().all(|(_, b)| b.len() <= BLOCK_LEN));
        }
    }
});

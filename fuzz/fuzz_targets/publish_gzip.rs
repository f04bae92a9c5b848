//! The gzip layer of publish: arbitrary bytes never panic `gunzip` and never inflate past
//! the limit; and (first byte odd) the rest of the input, gzipped here, inflates back to
//! itself exactly when it fits the limit and is refused as too large otherwise, then
//! decodes as a publish body without panicking.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use sextant_server::{decode_publish, gunzip, PublishError};

/// Small, so that both sides of the limit are reached.
const LIMIT: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let inflated = if mode & 1 == 0 {
        // The input is the gzip stream itself.
        match gunzip(rest, LIMIT) {
            Ok(out) => out,
            Err(_) => return,
        }
    } else {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(rest).expect("write to a Vec");
        let gz = enc.finish().expect("finish to a Vec");
        match gunzip(&gz, LIMIT) {
            Ok(out) => {
                assert_eq!(out, rest, "gzip round trip changed the body");
                out
            }
            Err(PublishError::TooLarge { limit }) => {
                assert_eq!(limit, LIMIT);
                assert!(
                    rest.len() > LIMIT,
                    "{} bytes refused as too large",
                    rest.len()
                );
                return;
            }
            Err(e) => panic!("valid gzip of {} bytes refused: {e}", rest.len()),
        }
    };
    assert!(
        inflated.len() <= LIMIT,
        "inflated to {} bytes",
        inflated.len()
    );
    let _ = decode_publish(&inflated, 3_600_000, 60_000);
});

//! `from_bytes` on damaged input returns an error or a block that decodes; it never panics,
//! and neither does decoding the same bytes borrowed through `BlockRef`.

use proptest::prelude::*;
use sextant_codec::{BlockRef, Error, SealedBlock};

/// Parses `bytes`; if they are accepted, the block must decode without error, and the
/// borrowed [`BlockRef`] must decode the same bits. Either way nothing panics.
fn check(bytes: &[u8]) -> bool {
    let borrowed = BlockRef::new(bytes).ok().map(|b| {
        let mut out = vec![0.0; b.len()];
        b.decode_into(&mut out)
            .map(|()| out.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
    });
    match SealedBlock::from_bytes(bytes) {
        Ok(block) => {
            let mut out = vec![0.0; block.len()];
            block
                .decode_into(&mut out)
                .expect("a validated block decodes");
            assert_eq!(block.as_bytes(), bytes);
            let bits: Vec<u64> = out.iter().map(|v| v.to_bits()).collect();
            assert_eq!(borrowed, Some(Ok(bits)));
            true
        }
        Err(_) => false,
    }
}

fn sample_blocks() -> Vec<SealedBlock> {
    let mut blocks = Vec::new();
    let noise: Vec<f64> = (0..60).map(|i| (f64::from(i) * 1.3).sin() * 77.7).collect();
    let gauge: Vec<f64> = (0..60)
        .map(|i| f64::from(5000 + i * 13 % 97) / 100.0)
        .collect();
    let sparse: Vec<f64> = (0..60)
        .map(|i| {
            if i % 11 == 0 {
                f64::from(i) / 60.0
            } else {
                0.0
            }
        })
        .collect();
    let mut gappy = gauge.clone();
    gappy[5..9].fill(f64::NAN);
    gappy[30] = f64::INFINITY;
    let raw: Vec<f64> = (0..20u64)
        .map(|i| f64::from_bits(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
        .collect();
    for v in [noise, gauge, sparse, gappy, raw, vec![3.5; 60], vec![]] {
        blocks.push(SealedBlock::encode(&v));
    }
    blocks
}

#[test]
fn every_truncation_is_rejected() {
    for block in sample_blocks() {
        let bytes = block.as_bytes();
        for cut in 0..bytes.len() {
            let accepted = check(&bytes[..cut]);
            // A constant block may lose trailing value bytes and still parse (as another
            // value); every other encoding knows its exact length.
            if block.kind() != sextant_codec::Encoding::Constant {
                assert!(!accepted, "{:?} cut at {cut} accepted", block.kind());
            }
        }
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    for block in sample_blocks() {
        let mut bytes = block.as_bytes().to_vec();
        bytes.extend_from_slice(&[0; 9]);
        assert!(!check(&bytes), "{:?}", block.kind());
    }
}

#[test]
fn specific_errors() {
    assert!(matches!(
        SealedBlock::from_bytes(&[]),
        Err(Error::Truncated { .. })
    ));
    assert_eq!(
        SealedBlock::from_bytes(&[0x00, 1]),
        Err(Error::UnknownKind(0))
    );
    assert!(matches!(
        SealedBlock::from_bytes(&[0x01, 0xff, 0xff, 0x04]),
        Err(Error::TooManyValues { .. })
    ));
}

#[test]
fn huge_claimed_lengths_are_rejected_without_work() {
    // Raw, XOR and packed blocks claiming 65 535 values with a few bytes of payload.
    for kind in [0x02u8, 0x03, 0x04, 0x12, 0x42, 0x82] {
        // Packed: decimal scale, width 5, zero bases: needs 40 KB of residuals.
        let bytes = [kind, 0xff, 0xff, 0x03, 0x03, 5, 0, 0, 0];
        assert!(
            !check(&bytes),
            "kind {kind:#x}: {:?}",
            SealedBlock::from_bytes(&bytes)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        check(&bytes);
    }

    #[test]
    fn random_bytes_with_valid_kind(kind in 0u8..=255, len in 0u8..100, rest in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut bytes = vec![kind, len];
        bytes.extend(rest);
        check(&bytes);
    }

    #[test]
    fn flipped_bytes(which in 0usize..7, at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let blocks = sample_blocks();
        let mut bytes = blocks[which].as_bytes().to_vec();
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
            check(&bytes);
        }
    }
}

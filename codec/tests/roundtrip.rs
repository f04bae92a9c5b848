//! Property tests: every block round-trips bit for bit, through `decode_into` and through
//! the serialised form, whatever the values.

use proptest::prelude::*;
use sextant_codec::{Encoding, SealedBlock, MAX_BLOCK_LEN};

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn assert_round_trip(values: &[f64]) -> SealedBlock {
    let block = SealedBlock::encode(values);
    assert_eq!(block.len(), values.len());
    assert_eq!(block.is_empty(), values.is_empty());
    let mut out = vec![0.0; values.len()];
    block.decode_into(&mut out).expect("a fresh block decodes");
    assert_eq!(bits(&out), bits(values), "{:?}", block.kind());
    let copy = SealedBlock::from_bytes(block.as_bytes()).expect("own bytes are valid");
    assert_eq!(copy, block);
    // Raw is the fallback, so no block is larger than raw plus the header.
    assert!(block.encoded_len() <= 8 * values.len() + 4);
    block
}

/// Bit patterns the encoders must not normalise away.
const SPECIALS: [u64; 12] = [
    0x7ff8_0000_0000_0000, // canonical quiet NaN
    0xfff8_0000_0000_0000, // negative NaN
    0x7ff0_0000_0000_0001, // signalling NaN
    0x7ff8_dead_beef_cafe, // NaN with payload
    0x7ff0_0000_0000_0000, // +inf
    0xfff0_0000_0000_0000, // -inf
    0x8000_0000_0000_0000, // -0.0
    0x0000_0000_0000_0000, // +0.0
    0x0000_0000_0000_0001, // smallest subnormal
    0x000f_ffff_ffff_ffff, // largest subnormal
    0x7fef_ffff_ffff_ffff, // f64::MAX
    0x3ff0_0000_0000_0000, // 1.0
];

fn special() -> impl Strategy<Value = f64> {
    prop::sample::select(SPECIALS.to_vec()).prop_map(f64::from_bits)
}

/// Integers with `decimals` digits after the point, walking or jumping.
fn decimal_block() -> impl Strategy<Value = Vec<f64>> {
    (
        0u32..8,
        -1_000_000i64..1_000_000,
        prop::collection::vec(-500i64..500, 1..200),
        any::<bool>(),
    )
        .prop_map(|(decimals, start, steps, walk)| {
            let div = 10f64.powi(decimals as i32);
            let mut x = start;
            steps
                .into_iter()
                .map(|s| {
                    x = if walk { x + s } else { start + s };
                    x as f64 / div
                })
                .collect()
        })
}

/// Counts per step divided by the step in seconds, as Atlas stores counter rates.
fn rate_block() -> impl Strategy<Value = Vec<f64>> {
    (
        prop::sample::select(vec![1.0, 10.0, 15.0, 30.0, 60.0, 300.0, 3600.0]),
        prop::collection::vec(0u32..100_000, 1..200),
    )
        .prop_map(|(step, counts)| counts.into_iter().map(|c| f64::from(c) / step).collect())
}

/// A realistic block with some values replaced by specials (gaps, resets, odd payloads).
fn with_specials(base: impl Strategy<Value = Vec<f64>>) -> impl Strategy<Value = Vec<f64>> {
    base.prop_flat_map(|v| {
        let n = v.len();
        (
            Just(v),
            prop::collection::vec((0..n, special(), 1usize..20), 0..4),
        )
    })
    .prop_map(|(mut v, patches)| {
        let n = v.len();
        for (at, s, run) in patches {
            v[at..(at + run).min(n)].fill(s);
        }
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bit_patterns(raw in prop::collection::vec(any::<u64>(), 0..300)) {
        let values: Vec<f64> = raw.into_iter().map(f64::from_bits).collect();
        assert_round_trip(&values);
    }

    #[test]
    fn arbitrary_finite_floats(values in prop::collection::vec(any::<f64>(), 0..300)) {
        assert_round_trip(&values);
    }

    #[test]
    fn specials_only(values in prop::collection::vec(special(), 0..100)) {
        assert_round_trip(&values);
    }

    #[test]
    fn decimals(values in with_specials(decimal_block())) {
        let block = assert_round_trip(&values);
        // Raw wins only for a handful of values, where headers dominate.
        prop_assert!(block.kind() != Encoding::Raw || values.len() <= 3);
    }

    #[test]
    fn decimals_with_float_artefacts(
        values in decimal_block(),
        nudges in prop::collection::vec((any::<prop::sample::Index>(), -300i64..300), 0..30),
    ) {
        // Publishers' float arithmetic leaves values a few ulps off their decimal.
        let mut values = values;
        for (at, ulps) in nudges {
            let i = at.index(values.len());
            values[i] = f64::from_bits((values[i].to_bits() as i64).wrapping_add(ulps) as u64);
        }
        let block = assert_round_trip(&values);
        prop_assert!(block.kind() != Encoding::Raw || values.len() <= 3);
    }

    #[test]
    fn rates(values in with_specials(rate_block())) {
        let block = assert_round_trip(&values);
        prop_assert!(block.kind() != Encoding::Raw || values.len() <= 3);
    }

    #[test]
    fn clean_rates_pack(values in rate_block()) {
        let block = assert_round_trip(&values);
        if values.len() > 8 && block.kind() != Encoding::Constant {
            prop_assert_eq!(block.kind(), Encoding::Packed);
            // Counts are below 2^17; a 15 s step needs m = 30 (no factor gives 15), so the
            // integers are 2c: at most 18 bits each, plus the header.
            prop_assert!(block.encoded_len() <= values.len() * 18 / 8 + 16);
        }
    }

    #[test]
    fn constants_are_stored_once(v in any::<u64>(), n in 1usize..2000) {
        let values = vec![f64::from_bits(v); n];
        let block = assert_round_trip(&values);
        prop_assert_eq!(block.kind(), Encoding::Constant);
        prop_assert!(block.encoded_len() <= 1 + 2 + 8);
    }
}

#[test]
fn all_nan_block_is_one_value() {
    let block = assert_round_trip(&[f64::NAN; 60]);
    assert_eq!(block.kind(), Encoding::Constant);
    assert_eq!(block.encoded_len(), 4);
}

#[test]
fn empty_block() {
    let block = assert_round_trip(&[]);
    assert!(block.is_empty());
    assert_eq!(block.encoded_len(), 2);
}

#[test]
fn largest_block() {
    let values: Vec<f64> = (0..MAX_BLOCK_LEN)
        .map(|i| (i % 1000) as f64 / 100.0)
        .collect();
    let block = assert_round_trip(&values);
    assert_eq!(block.kind(), Encoding::Packed);
}

#[test]
#[should_panic(expected = "at most")]
fn oversized_block_is_a_caller_bug() {
    let _ = SealedBlock::encode(&vec![0.0; MAX_BLOCK_LEN + 1]);
}

#[test]
fn wrong_output_length_is_an_error() {
    let block = SealedBlock::encode(&[1.0, 2.0, 3.0]);
    assert!(block.decode_into(&mut [0.0; 2]).is_err());
    assert!(block.decode_into(&mut [0.0; 4]).is_err());
}

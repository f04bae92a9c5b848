//! Finding a multiplier `m` for a block such that its values are integers in disguise:
//! `v == (n as f64) / m` bit for bit, with `n` an `i64`.
//!
//! Decimal gauges (`12.34`), counter rates that Atlas stores per second (`743 / 60`) and
//! integer counts all have such an `m`, and their integers are small and slowly changing,
//! which is what bit packing wants. Decoding is one correctly rounded division of two exact
//! numbers, and the encoder checks every value through that same expression, so the round
//! trip is exact even when `m` itself is not exactly `f * 10^e`.

/// Multipliers are `FACTORS[i] * 10^e` or `2^k`. The factors turn per-second rates back
/// into counts for the usual steps: 60 s (6·10), 300 s and 30 s (3·10^e), 3600 s (36·100);
/// 1, 5 and 10 s steps are plain decimals already.
const FACTORS: [f64; 4] = [1.0, 6.0, 3.0, 36.0];

/// Largest decimal exponent: 10^22 is the largest power of ten that is exact in `f64`.
const MAX_DECIMAL_EXP: u8 = 22;

/// Largest binary exponent the 7-bit field holds. Values needing more are subnormal-scale
/// and go to the exception list.
const MAX_BINARY_EXP: u8 = 127;

/// Largest |n|. 2^60 keeps first and second differences, and the range between their
/// extremes, inside 64 bits, so delta coding never overflows.
pub(crate) const MAX_SCALED: i64 = 1 << 60;

/// Relative distance from an integer beyond which `v * m` cannot be an exactly decoding `n`:
/// `v` and the product each carry at most half an ulp (2^-53) of error, so 2^-50 leaves
/// a wide margin while rejecting almost every wrong exponent without a division.
const NEAR_INTEGER: f64 = 1.0 / (1u64 << 50) as f64;

/// Decimal exponents 10^0 ..= 10^22, all exact.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Flag in the scale byte for a binary multiplier `2^k`.
const BINARY_FLAG: u8 = 0x80;

/// A multiplier, stored in one byte: `1kkkkkkk` for `2^k`, or `0ffeeeee` for
/// `FACTORS[f] * 10^e`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scale(u8);

impl Scale {
    pub(crate) fn decimal(factor: usize, exp: u8) -> Scale {
        debug_assert!(factor < FACTORS.len() && exp <= MAX_DECIMAL_EXP);
        Scale(((factor as u8) << 5) | exp)
    }

    pub(crate) fn binary(exp: u8) -> Scale {
        debug_assert!(exp <= MAX_BINARY_EXP);
        Scale(BINARY_FLAG | exp)
    }

    /// The byte as written to a block.
    pub(crate) fn code(self) -> u8 {
        self.0
    }

    /// Parses a scale byte; `None` for codes that name no multiplier.
    pub(crate) fn from_code(code: u8) -> Option<Scale> {
        if code & BINARY_FLAG != 0 {
            return Some(Scale(code));
        }
        let exp = code & 0x1f;
        let factor = usize::from(code >> 5);
        (exp <= MAX_DECIMAL_EXP && factor < FACTORS.len()).then_some(Scale(code))
    }

    /// The multiplier `m`.
    pub(crate) fn multiplier(self) -> f64 {
        if self.0 & BINARY_FLAG != 0 {
            // 2^k for k <= 127 is exact; built from its bit pattern to stay const-simple.
            f64::from_bits((1023 + u64::from(self.0 & !BINARY_FLAG)) << 52)
        } else {
            FACTORS[usize::from(self.0 >> 5) % FACTORS.len()]
                * POW10[usize::from(self.0 & 0x1f) % POW10.len()]
        }
    }
}

/// Nearest integer to `x`, for |x| <= [`MAX_SCALED`]. `f64::round` is a libm call on
/// baseline x86-64 (no SSE4.1 `roundsd`); truncating and correcting inlines to a few
/// instructions. Both operations below are exact in this range.
#[inline(always)]
pub(crate) fn round_to_int(x: f64) -> i64 {
    let t = x as i64;
    let frac = x - t as f64;
    t + i64::from(frac >= 0.5) - i64::from(frac <= -0.5)
}

/// The decode expression. Every scaled value goes through exactly this.
#[inline(always)]
pub(crate) fn unscale(n: i64, m: f64) -> f64 {
    n as f64 / m
}

/// Why a value does not scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    /// `v * m` is beyond [`MAX_SCALED`] (or not finite): larger `m` will not help.
    Range,
    /// `v * m` is in range but not the integer that decodes to `v`.
    Inexact,
}

/// The integer `n` with `unscale(n, m)` bit-identical to `v`, if there is one in range.
#[inline]
pub(crate) fn scale(v: f64, m: f64) -> Result<i64, Miss> {
    let x = v * m;
    // NaN and infinities fail this too.
    if x.is_nan() || x.abs() > MAX_SCALED as f64 {
        return Err(Miss::Range);
    }
    let n = round_to_int(x);
    // Cheap filter before the division: a value that decodes exactly from `n` sits within a
    // few ulps of it after scaling, so anything further off cannot pass the exact check.
    if (x - n as f64).abs() > x.abs() * NEAR_INTEGER {
        return Err(Miss::Inexact);
    }
    if unscale(n, m).to_bits() == v.to_bits() {
        Ok(n)
    } else {
        Err(Miss::Inexact)
    }
}

/// Smallest decimal exponent that makes `v` an integer under factor `FACTORS[factor]`.
///
/// Exponents that need integers beyond 2^53 do not count: any double is some 17-digit
/// decimal, so such an exponent only says "float noise", which the binary scale and XOR
/// serve better. Stopping there also keeps the search short for noise.
pub(crate) fn min_decimal_exp(v: f64, factor: usize) -> Option<u8> {
    let f = FACTORS[factor];
    for exp in 0..=MAX_DECIMAL_EXP {
        let m = f * POW10[usize::from(exp)];
        if (v * m).abs() > MAX_EXACT_INT {
            return None;
        }
        match scale(v, m) {
            Ok(_) => return Some(exp),
            Err(Miss::Range) => return None,
            Err(Miss::Inexact) => {}
        }
    }
    None
}

/// 2^53: the largest integer below which every integer is exact in `f64`.
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// Smallest `k` with `v * 2^k` an integer, from the bit pattern; `None` for -0.0,
/// non-finite values and values that need more than [`MAX_BINARY_EXP`].
pub(crate) fn min_binary_exp(v: f64) -> Option<u8> {
    if !v.is_finite() || v.to_bits() == (-0.0f64).to_bits() {
        return None;
    }
    if v == 0.0 {
        return Some(0);
    }
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    // v = mantissa * 2^(exp2); subnormals have no implicit bit and exponent -1074.
    let (mantissa, exp2) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    let k = -(exp2 + i64::from(mantissa.trailing_zeros()));
    let k = k.max(0);
    (k <= i64::from(MAX_BINARY_EXP)).then_some(k as u8)
}

/// How many decimal factors there are, for candidate loops.
pub(crate) const FACTOR_COUNT: usize = FACTORS.len();

/// Index of the plain decimal factor 1 in `FACTORS`.
pub(crate) const PLAIN_DECIMAL: usize = 0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_find_their_exponent() {
        assert_eq!(min_decimal_exp(12.34, 0), Some(2));
        assert_eq!(min_decimal_exp(7.0, 0), Some(0));
        assert_eq!(min_decimal_exp(0.1 + 0.2, 0), None);
        assert_eq!(min_decimal_exp(f64::NAN, 0), None);
        assert_eq!(min_decimal_exp(-0.0, 0), None);
        assert_eq!(min_decimal_exp(1e300, 0), None);
    }

    #[test]
    fn per_second_rates_become_counts() {
        let v = 743.0 / 60.0;
        // 17 significant digits: not a decimal.
        assert_eq!(min_decimal_exp(v, 0), None);
        assert_eq!(min_decimal_exp(v, 1), Some(1));
        let m = Scale::decimal(1, 1).multiplier();
        assert_eq!(scale(v, m), Ok(743));
    }

    #[test]
    fn rounds_to_nearest_with_halves_away_from_zero() {
        for (x, n) in [
            (0.0, 0),
            (0.49, 0),
            (0.5, 1),
            (-0.5, -1),
            (2.5, 3),
            (-7.6, -8),
            (1e17, 100_000_000_000_000_000),
        ] {
            assert_eq!(round_to_int(x), n, "{x}");
        }
        assert_eq!(round_to_int(MAX_SCALED as f64), MAX_SCALED);
    }

    #[test]
    fn binary_exponents() {
        assert_eq!(min_binary_exp(3.0), Some(0));
        assert_eq!(min_binary_exp(0.75), Some(2));
        assert_eq!(min_binary_exp(-1024.0), Some(0));
        assert_eq!(min_binary_exp(0.0), Some(0));
        assert_eq!(min_binary_exp(-0.0), None);
        assert_eq!(min_binary_exp(f64::MIN_POSITIVE), None);
        let v = 37.123_456_789_012_34;
        let k = min_binary_exp(v).expect("normal value");
        assert_eq!(
            scale(v, Scale::binary(k).multiplier()).map(|n| n as f64 / 2f64.powi(i32::from(k))),
            Ok(v)
        );
    }

    #[test]
    fn scale_codes_round_trip_and_reject_unknown() {
        for s in [
            Scale::decimal(0, 0),
            Scale::decimal(3, 22),
            Scale::binary(0),
            Scale::binary(127),
        ] {
            assert_eq!(Scale::from_code(s.code()), Some(s));
        }
        assert_eq!(Scale::from_code(23), None);
        assert_eq!(Scale::binary(10).multiplier(), 1024.0);
        assert_eq!(Scale::decimal(1, 1).multiplier(), 60.0);
    }
}

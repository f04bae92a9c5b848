//! Packed blocks: values that are integers under one multiplier per block (see
//! [`scale`](crate::scale)), differenced 0, 1 or 2 times, then frame-of-reference bit packed
//! at one width per block. Values that do not fit the multiplier (NaN, ±inf, -0.0, a stray
//! long decimal) are patched in from an exception list of runs.
//!
//! Two layouts for the residuals (the integers after differencing):
//! - *dense*: every residual minus the block minimum, `width` bits each;
//! - *sparse*: a bitmap of non-zero residuals, then only those, minus their minimum. This is
//!   the one for gauges that rarely change and for error counts that are mostly zero.
//!
//! The encoder prices every scale candidate × order × layout exactly and keeps the smallest.
//! Decoding unpacks 64 residuals at a time from whole 64-bit loads, then integrates and
//! scales them in a tight loop. Byte layout: `docs/block-format.md`.

mod read;

use read::Layout;

use crate::bits::{bit_width, put_varint, varint_len, zigzag, BitWriter};
use crate::constant::put_trimmed;
use crate::encoding::Encoding;
use crate::error::Result;
use crate::payload::Codec;
use crate::scale::{
    min_binary_exp, min_decimal_exp, round_to_int, scale, unscale, Scale, FACTOR_COUNT, MAX_SCALED,
    PLAIN_DECIMAL,
};

pub(crate) struct Packed;

/// Residuals are unpacked this many at a time: 64 residuals of `w` bits are exactly `8·w`
/// bytes, so every group starts on a byte boundary.
const GROUP: usize = 64;
/// Unpack buffer: the largest group (`8 · 64` bytes) plus room for a 16-byte load at its end.
const GROUP_BUF: usize = 8 * GROUP + 16;
/// Values sampled to guess a block's multiplier before pricing it on every value.
const SAMPLES: usize = 8;
/// Decimal exponents up to this count as "short" (a few decimals, as gauges are written):
/// such blocks skip pricing the rate factors, which would only make the integers bigger.
/// Rates such as 743/60 only look decimal at exponents of 15 and more.
const SHORT_DECIMAL_EXP: u8 = 6;
/// Highest differencing order: 2 turns steady ramps (counters) into constants.
const MAX_ORDER: usize = 2;

// Flag bits in the kind byte's high nibble.
const ORDER_MASK: u8 = 0b0011;
const SPARSE_FLAG: u8 = 0b0100;
const EXCEPTIONS_FLAG: u8 = 0b1000;

/// Largest correction, in units in the last place, stored as a one-byte patch. Values one
/// or two ulps off a short decimal (`1.7619999999999998` for 1.762) are the residue of float
/// arithmetic in the publisher; they are common in real metrics and deserve 3 bytes, not 11.
const MAX_ULP_FIX: i64 = 119;
/// Patch tags: 0..=8 is the byte count of a raw bit pattern that follows; `ULP_TAG + zigzag(d)`
/// says "the scaled value, moved by `d` ulps".
const ULP_TAG: u8 = 16;

/// How the values of an exception run are restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Patch {
    /// This exact bit pattern (NaN, ±inf, -0.0, anything far from the scale).
    Bits(u64),
    /// The decoded scaled value with this many ulps added to its bit pattern.
    Ulps(i64),
}

/// Consecutive values patched the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    start: usize,
    len: usize,
    patch: Patch,
}

impl Run {
    fn encoded_len(&self, prev_end: usize) -> usize {
        let value_bytes = match self.patch {
            Patch::Bits(bits) => 8 - (bits.trailing_zeros() as usize / 8).min(8),
            Patch::Ulps(_) => 0,
        };
        varint_len((self.start - prev_end) as u64)
            + varint_len(self.len as u64 - 1)
            + 1
            + value_bytes
    }

    /// A finite value the scale could not express: a hint that another scale might.
    fn is_odd_finite(&self) -> bool {
        matches!(self.patch, Patch::Bits(b) if f64::from_bits(b).is_finite())
    }
}

/// The patch for `v` under multiplier `m`, and the integer to put in its slot (`None`: repeat
/// the previous one).
fn patch_for(v: f64, m: f64) -> (Patch, Option<i64>) {
    let x = v * m;
    if v.is_finite() && x.abs() <= MAX_SCALED as f64 {
        let n = round_to_int(x);
        let d = (v.to_bits() as i64).wrapping_sub(unscale(n, m).to_bits() as i64);
        if (-MAX_ULP_FIX..=MAX_ULP_FIX).contains(&d) {
            return (Patch::Ulps(d), Some(n));
        }
    }
    (Patch::Bits(v.to_bits()), None)
}

/// Statistics of one order's residuals, enough to price both layouts.
#[derive(Debug, Clone, Copy)]
struct Residuals {
    count: usize,
    min: i64,
    max: i64,
    nonzero: usize,
    min_nz: i64,
    max_nz: i64,
}

impl Residuals {
    fn new() -> Self {
        Residuals {
            count: 0,
            min: i64::MAX,
            max: i64::MIN,
            nonzero: 0,
            min_nz: i64::MAX,
            max_nz: i64::MIN,
        }
    }

    #[inline]
    fn add(&mut self, r: i64) {
        self.count += 1;
        self.min = self.min.min(r);
        self.max = self.max.max(r);
        if r != 0 {
            self.nonzero += 1;
            self.min_nz = self.min_nz.min(r);
            self.max_nz = self.max_nz.max(r);
        }
    }

    /// (width, frame minimum, bytes of residual data) for the layout.
    fn layout(&self, sparse: bool) -> (u32, i64, usize) {
        if sparse {
            if self.nonzero == 0 {
                return (0, 0, self.count.div_ceil(8));
            }
            let w = bit_width(self.max_nz.wrapping_sub(self.min_nz) as u64);
            (
                w,
                self.min_nz,
                self.count.div_ceil(8) + (w as usize * self.nonzero).div_ceil(8),
            )
        } else {
            let w = bit_width(self.max.wrapping_sub(self.min) as u64);
            (w, self.min, (w as usize * self.count).div_ceil(8))
        }
    }
}

/// The cheapest way found to pack a block under one scale.
#[derive(Debug, Clone)]
struct Plan {
    scale: Scale,
    order: usize,
    sparse: bool,
    width: u32,
    frame_min: i64,
    /// Payload bytes.
    cost: usize,
}

/// Scratch for pricing candidates: the integers and the exception runs of the last one.
struct Work {
    ints: Vec<i64>,
    runs: Vec<Run>,
}

/// Computes the integers of `values` under `s` into `work`, exceptions as runs (a bit-pattern
/// slot repeats the previous integer, which costs nothing after differencing), and prices the
/// best order and layout. Gives up with `None` once the exceptions alone cost `budget` bytes:
/// a cheaper plan is already known.
fn price(values: &[f64], s: Scale, work: &mut Work, budget: usize) -> Option<Plan> {
    let m = s.multiplier();
    work.ints.clear();
    work.runs.clear();
    let mut last: Option<i64> = None;
    let mut spent = 0usize;
    for (i, &v) in values.iter().enumerate() {
        match scale(v, m) {
            Ok(n) => {
                if last.is_none() {
                    // Leading exceptions take the first good integer so order 0 stays flat.
                    work.ints.iter_mut().for_each(|x| *x = n);
                }
                last = Some(n);
                work.ints.push(n);
            }
            Err(_) => {
                let (patch, n) = patch_for(v, m);
                match n {
                    Some(n) => {
                        if last.is_none() {
                            work.ints.iter_mut().for_each(|x| *x = n);
                        }
                        last = Some(n);
                        work.ints.push(n);
                    }
                    None => work.ints.push(last.unwrap_or(0)),
                }
                match work.runs.last_mut() {
                    Some(r) if r.start + r.len == i && r.patch == patch => r.len += 1,
                    _ => {
                        let run = Run {
                            start: i,
                            len: 1,
                            patch,
                        };
                        // A lower bound: the gap may take more than one byte.
                        spent += run.encoded_len(i);
                        if spent >= budget {
                            return None;
                        }
                        work.runs.push(run);
                    }
                }
            }
        }
    }

    let mut stats = [Residuals::new(); MAX_ORDER + 1];
    let ints = &work.ints;
    let mut prev_delta = 0i64;
    for (i, &n) in ints.iter().enumerate() {
        stats[0].add(n);
        if i >= 1 {
            let d = n - ints[i - 1];
            stats[1].add(d);
            if i >= 2 {
                stats[2].add(d - prev_delta);
            }
            prev_delta = d;
        }
    }

    let mut exceptions = 0;
    if !work.runs.is_empty() {
        exceptions = varint_len(work.runs.len() as u64);
        let mut prev_end = 0;
        for r in &work.runs {
            exceptions += r.encoded_len(prev_end);
            prev_end = r.start + r.len;
        }
    }
    let mut best: Option<Plan> = None;
    for (order, st) in stats.iter().enumerate() {
        if order >= values.len() {
            break;
        }
        let bases = match order {
            0 => 0,
            1 => varint_len(zigzag(ints[0])),
            _ => varint_len(zigzag(ints[0])) + varint_len(zigzag(ints[1].wrapping_sub(ints[0]))),
        };
        for sparse in [false, true] {
            let (width, frame_min, data) = st.layout(sparse);
            let cost = 2 + bases + varint_len(zigzag(frame_min)) + exceptions + data;
            if best.as_ref().is_none_or(|b| cost < b.cost) {
                best = Some(Plan {
                    scale: s,
                    order,
                    sparse,
                    width,
                    frame_min,
                    cost,
                });
            }
        }
    }
    best
}

/// Up to [`SAMPLES`] finite values spread over the block, into `out`.
fn spread_samples(values: &[f64], out: &mut Vec<f64>) {
    let n = values.len();
    out.extend((0..SAMPLES).filter_map(move |k| {
        let from = k * (n - 1) / (SAMPLES - 1);
        values[from..].iter().copied().find(|v| v.is_finite())
    }));
}

/// Up to [`SAMPLES`] finite values that the last scale could not express.
fn odd_samples(runs: &[Run], out: &mut Vec<f64>) {
    out.extend(
        runs.iter()
            .filter(|r| r.is_odd_finite())
            .filter_map(|r| match r.patch {
                Patch::Bits(b) => Some(f64::from_bits(b)),
                Patch::Ulps(_) => None,
            })
            .take(SAMPLES),
    );
}

/// Pushes `make(e)` for the median and the largest of the sampled exponents `exps`: the
/// largest covers every sampled value, the median leaves a stray long decimal (a float
/// artefact such as `1.7619999999999998` among 3-decimal values) to the exception list.
fn push_exponents(exps: &mut [u8], out: &mut Vec<Scale>, make: impl Fn(u8) -> Scale) {
    exps.sort_unstable();
    let (Some(&median), Some(&max)) = (exps.get(exps.len() / 2), exps.last()) else {
        return;
    };
    for e in [max, median] {
        let s = make(e);
        // Integers are binary and decimal with exponent 0 alike: price them once.
        if !out.iter().any(|c| c.multiplier() == s.multiplier()) {
            out.push(s);
        }
    }
}

/// Multipliers worth pricing for a block, guessed from a few of its values. Unless
/// `all_factors`, the rate factors are skipped when the samples are short decimals; returns
/// whether they were.
fn candidates(samples: &[f64], all_factors: bool, out: &mut Vec<Scale>) -> bool {
    let mut skipped = false;
    let mut exps = [0u8; SAMPLES];
    for factor in 0..FACTOR_COUNT {
        let (mut found, mut missed) = (0, 0);
        for &v in samples {
            if let Some(e) = min_decimal_exp(v, factor) {
                exps[found] = e;
                found += 1;
            } else {
                missed += 1;
                if missed * 2 > samples.len() {
                    break;
                }
            }
        }
        // Most samples miss: this factor would turn the block into exceptions.
        if found == 0 || found * 2 < samples.len() {
            continue;
        }
        let exps = &mut exps[..found];
        push_exponents(exps, out, |e| Scale::decimal(factor, e));
        // Integers and short decimals need no factor: it would only make them bigger.
        let short = exps.iter().all(|&e| e <= SHORT_DECIMAL_EXP);
        if factor == PLAIN_DECIMAL && found == samples.len() && short && !all_factors {
            skipped = true;
            break;
        }
    }
    let mut found = 0;
    for &v in samples {
        if let Some(k) = min_binary_exp(v) {
            exps[found] = k;
            found += 1;
        }
    }
    push_exponents(&mut exps[..found], out, Scale::binary);
    skipped
}

/// Exception runs examined for a wider exponent: bounds the encoder's work on blocks full of
/// odd values.
const WIDEN_RUNS: usize = 8;

/// If exceptions include finite values that a larger decimal exponent would cover, the
/// smallest and the largest such scale, to be priced as a second chance (samples cannot see
/// every value).
fn widened(s: Scale, runs: &[Run], out: &mut Vec<Scale>) {
    let code = s.code();
    if code & 0x80 != 0 {
        return;
    }
    let factor = usize::from(code >> 5);
    let current = code & 0x1f;
    let mut exps = [0u8; WIDEN_RUNS];
    let mut found = 0;
    for r in runs.iter().take(WIDEN_RUNS) {
        let Patch::Bits(bits) = r.patch else { continue };
        let v = f64::from_bits(bits);
        if let Some(e) = v.is_finite().then(|| min_decimal_exp(v, factor)).flatten() {
            if e > current {
                exps[found] = e;
                found += 1;
            }
        }
    }
    let exps = &mut exps[..found];
    exps.sort_unstable();
    for &e in [exps.first(), exps.last()].into_iter().flatten() {
        let wider = Scale::decimal(factor, e);
        if !out.contains(&wider) {
            out.push(wider);
        }
    }
}

impl Codec for Packed {
    const ENCODING: Encoding = Encoding::Packed;

    fn encode(values: &[f64], out: &mut Vec<u8>) -> Option<u8> {
        if values.is_empty() {
            return None;
        }
        let mut scales = Vec::with_capacity(2 * FACTOR_COUNT + 2);
        let mut samples = Vec::with_capacity(SAMPLES);
        spread_samples(values, &mut samples);
        let mut skipped_factors = candidates(&samples, false, &mut scales);
        let mut work = Work {
            ints: Vec::with_capacity(values.len()),
            runs: Vec::new(),
        };
        let mut best_work = Work {
            ints: Vec::with_capacity(values.len()),
            runs: Vec::new(),
        };
        let mut best: Option<Plan> = None;
        let mut i = 0;
        while i < scales.len() {
            // Smallest multiplier first: once one expresses every value, a larger one can
            // only make the same integers bigger, so the rest are skipped.
            scales[i..].sort_unstable_by(|a, b| a.multiplier().total_cmp(&b.multiplier()));
            if let Some(b) = &best {
                if best_work.runs.is_empty() && scales[i].multiplier() > b.scale.multiplier() {
                    break;
                }
            }
            let budget = best.as_ref().map_or(8 * values.len(), |b| b.cost);
            let plan = price(values, scales[i], &mut work, budget);
            // The runs are complete, or a prefix if pricing gave up: either way they show
            // values this scale misses.
            widened(scales[i], &work.runs, &mut scales);
            // The samples looked like short decimals but some value is not: it may be a
            // rate (1/15 among 3133.4s, or among zeros), so price scales for the odd values.
            if skipped_factors && work.runs.iter().any(Run::is_odd_finite) {
                skipped_factors = false;
                samples.clear();
                odd_samples(&work.runs, &mut samples);
                let mut more = Vec::new();
                candidates(&samples, true, &mut more);
                for s in more {
                    if !scales.contains(&s) {
                        scales.push(s);
                    }
                }
            }
            if let Some(plan) = plan {
                if best.as_ref().is_none_or(|b| plan.cost < b.cost) {
                    best = Some(plan);
                    std::mem::swap(&mut work, &mut best_work);
                }
            }
            i += 1;
        }
        let plan = best?;
        // Nothing scaled: leave the block to XOR.
        if plan.cost >= 8 * values.len() {
            return None;
        }
        write(&plan, &best_work, out);
        let mut flags = plan.order as u8;
        if plan.sparse {
            flags |= SPARSE_FLAG;
        }
        if !best_work.runs.is_empty() {
            flags |= EXCEPTIONS_FLAG;
        }
        Some(flags)
    }

    fn validate(flags: u8, payload: &[u8], len: usize) -> Result<()> {
        Layout::parse(flags, payload, len).map(|_| ())
    }

    fn decode(flags: u8, payload: &[u8], out: &mut [f64]) -> Result<()> {
        let layout = Layout::parse(flags, payload, out.len())?;
        layout.decode(out);
        Ok(())
    }
}

fn write(plan: &Plan, work: &Work, out: &mut Vec<u8>) {
    let start = out.len();
    let ints = &work.ints;
    out.push(plan.scale.code());
    out.push(plan.width as u8);
    if plan.order >= 1 {
        put_varint(out, zigzag(ints[0]));
    }
    if plan.order == 2 {
        put_varint(out, zigzag(ints[1].wrapping_sub(ints[0])));
    }
    put_varint(out, zigzag(plan.frame_min));
    if !work.runs.is_empty() {
        put_varint(out, work.runs.len() as u64);
        let mut prev_end = 0;
        for r in &work.runs {
            put_varint(out, (r.start - prev_end) as u64);
            put_varint(out, r.len as u64 - 1);
            match r.patch {
                Patch::Bits(bits) => {
                    let before = out.len();
                    out.push(0);
                    put_trimmed(out, bits);
                    out[before] = (out.len() - before - 1) as u8;
                }
                // In range by construction: |d| <= MAX_ULP_FIX.
                Patch::Ulps(d) => out.push(ULP_TAG + zigzag(d) as u8),
            }
            prev_end = r.start + r.len;
        }
    }
    let residuals = residuals(ints, plan.order);
    if plan.sparse {
        let count = ints.len() - plan.order;
        let bitmap_at = out.len();
        out.resize(bitmap_at + count.div_ceil(8), 0);
        for (j, r) in residuals.clone().enumerate() {
            if r != 0 {
                out[bitmap_at + j / 8] |= 1 << (j % 8);
            }
        }
        let mut w = BitWriter::new(out);
        for r in residuals.filter(|&r| r != 0) {
            w.write(r.wrapping_sub(plan.frame_min) as u64, plan.width);
        }
        w.finish();
    } else {
        let mut w = BitWriter::new(out);
        for r in residuals {
            w.write(r.wrapping_sub(plan.frame_min) as u64, plan.width);
        }
        w.finish();
    }
    debug_assert_eq!(out.len() - start, plan.cost);
}

/// The residuals of order 0, 1 or 2, excluding the bases the order stores up front.
fn residuals(ints: &[i64], order: usize) -> impl Iterator<Item = i64> + Clone + '_ {
    (order..ints.len()).map(move |i| match order {
        0 => ints[i],
        1 => ints[i] - ints[i - 1],
        _ => (ints[i] - ints[i - 1]) - (ints[i - 1] - ints[i - 2]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: &[f64]) -> (u8, usize) {
        let mut payload = Vec::new();
        let flags = Packed::encode(values, &mut payload).expect("packable");
        Packed::validate(flags, &payload, values.len()).expect("valid");
        let mut out = vec![0.5; values.len()];
        Packed::decode(flags, &payload, &mut out).expect("decodes");
        for (i, (a, b)) in values.iter().zip(&out).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "value {i}: {a} != {b}");
        }
        (flags, payload.len())
    }

    #[test]
    fn two_decimal_walk_packs_to_about_a_byte() {
        let mut x = 5000i64;
        let mut seed = 12345u64;
        let values: Vec<f64> = (0..60)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                x += (seed >> 33) as i64 % 400 - 190;
                x as f64 / 100.0
            })
            .collect();
        let (flags, bytes) = round_trip(&values);
        assert_eq!(flags & ORDER_MASK, 1, "a walk is delta coded");
        assert!(bytes <= 75, "{bytes} bytes");
    }

    #[test]
    fn per_second_rates_pack_as_counts() {
        let values: Vec<f64> = (0..60)
            .map(|i| f64::from(600 + (i * 7919) % 50) / 60.0)
            .collect();
        let (flags, bytes) = round_trip(&values);
        assert_eq!(flags & ORDER_MASK, 0);
        assert!(bytes <= 50, "{bytes} bytes");
    }

    #[test]
    fn rarely_changing_gauge_uses_the_sparse_layout() {
        let values: Vec<f64> = (0..120).map(|i| f64::from(100 + 3 * (i / 25))).collect();
        let (flags, bytes) = round_trip(&values);
        assert_ne!(flags & SPARSE_FLAG, 0);
        assert!(bytes <= 24, "{bytes} bytes");
    }

    #[test]
    fn mostly_zero_errors_use_the_sparse_layout() {
        let values: Vec<f64> = (0..60)
            .map(|i| {
                if i % 17 == 3 {
                    f64::from(i % 5 + 1) / 60.0
                } else {
                    0.0
                }
            })
            .collect();
        let (flags, _) = round_trip(&values);
        assert_ne!(flags & SPARSE_FLAG, 0);
    }

    #[test]
    fn steady_counter_uses_second_differences() {
        let values: Vec<f64> = (0..60)
            .map(|i| f64::from(1_000_000 + 250 * i + 3 * i * i))
            .collect();
        let (flags, bytes) = round_trip(&values);
        assert_eq!(flags & ORDER_MASK, 2);
        assert!(bytes <= 10, "{bytes} bytes");
    }

    #[test]
    fn specials_become_exception_runs() {
        let mut values: Vec<f64> = (0..60).map(|i| f64::from(i % 4) * 0.25).collect();
        values[0] = f64::NAN;
        values[10..20].fill(f64::NAN);
        values[30] = f64::INFINITY;
        values[31] = -0.0;
        values[40] = f64::from_bits(0x7ff8_0000_0000_0042);
        values[59] = 0.1 + 0.2;
        let (flags, _) = round_trip(&values);
        assert_ne!(flags & EXCEPTIONS_FLAG, 0);
    }

    #[test]
    fn float_artefacts_cost_a_few_bytes() {
        // 3-decimal values, some of them an ulp or two off as float arithmetic leaves them.
        let mut values: Vec<f64> = (0..60)
            .map(|i| f64::from(1700 + (i * 37) % 90) / 1000.0)
            .collect();
        for i in (0..60).step_by(5) {
            values[i] = f64::from_bits(values[i].to_bits() - 1 - (i as u64 % 3));
        }
        let (flags, bytes) = round_trip(&values);
        assert_ne!(flags & EXCEPTIONS_FLAG, 0);
        // 60 values of 7 bits plus 12 patches of 3 bytes.
        assert!(bytes <= 53 + 36 + 8, "{bytes} bytes");
    }

    #[test]
    fn leading_exceptions_and_single_values() {
        round_trip(&[f64::NAN, f64::NAN, 1.5, 2.0]);
        round_trip(&[7.25]);
        round_trip(&[-3.0, 4.0]);
    }

    #[test]
    fn every_width_and_group_boundary_round_trips() {
        for width in [1u32, 7, 8, 13, 31, 32, 33, 55, 56, 57, 60] {
            let span = 1i64 << (width - 1);
            let values: Vec<f64> = (0..200)
                .map(|i: i64| {
                    let n = if i % 2 == 0 { span } else { -span + i };
                    n as f64
                })
                .collect();
            round_trip(&values);
        }
    }

    #[test]
    fn float_noise_is_refused() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let values: Vec<f64> = (0..60)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                f64::from_bits(x >> 2)
            })
            .collect();
        assert_eq!(Packed::encode(&values, &mut Vec::new()), None);
    }

    #[test]
    fn corrupt_headers_are_errors() {
        let values: Vec<f64> = (0..60).map(|i| f64::from((i * 7919) % 101)).collect();
        let mut payload = Vec::new();
        let flags = Packed::encode(&values, &mut payload).expect("packable");
        assert!(Packed::validate(flags, &payload, 61).is_err());
        assert!(Packed::validate(flags, &payload[..payload.len() - 1], 60).is_err());
        let mut bad_width = payload.clone();
        bad_width[1] = 65;
        assert!(Packed::validate(flags, &bad_width, 60).is_err());
        let mut bad_scale = payload.clone();
        bad_scale[0] = 0x1f;
        assert!(Packed::validate(flags, &bad_scale, 60).is_err());
        assert!(Packed::validate(3, &payload, 60).is_err());
    }
}

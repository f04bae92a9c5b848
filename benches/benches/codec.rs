//! Encode and decode speed of `sextant-codec` against the `tsz` Gorilla crate, per value
//! family, on 60-value blocks (the server's block size).
//!
//! ```sh
//! cargo bench -p sextant-benches --bench codec -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sextant_benches::families::Family;
use sextant_codec::SealedBlock;
use tsz::decode::Error as TszError;
use tsz::stream::{BufferedReader, BufferedWriter};
use tsz::{DataPoint, Decode, Encode, StdDecoder, StdEncoder};

/// Values per block, as the server seals them.
const BLOCK: usize = 60;
/// Series per family and points per series: 20 days' worth of blocks, small enough to stay
/// in L2 so that the codec, not memory, is measured.
const SERIES: u64 = 20;
const POINTS: usize = 1440;
/// tsz needs timestamps; a 60 s step from an arbitrary aligned start.
const EPOCH: u64 = 1_700_000_040;
const STEP_SECS: u64 = 60;

fn blocks(family: Family) -> Vec<Vec<f64>> {
    (0..SERIES)
        .flat_map(|s| {
            let values = family.generate(s, POINTS);
            values
                .chunks(BLOCK)
                .map(<[f64]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn tsz_encode(values: &[f64]) -> Box<[u8]> {
    let mut enc = StdEncoder::new(EPOCH, BufferedWriter::new());
    for (i, v) in values.iter().enumerate() {
        enc.encode(DataPoint::new(EPOCH + STEP_SECS * i as u64, *v));
    }
    enc.close()
}

fn tsz_decode_into(bytes: &[u8], out: &mut [f64]) {
    let mut dec = StdDecoder::new(BufferedReader::new(bytes.into()));
    for o in out.iter_mut() {
        match dec.next() {
            Ok(dp) => *o = dp.get_value(),
            Err(TszError::EndOfStream) => break,
            Err(e) => panic!("tsz failed on its own block: {e:?}"),
        }
    }
}

fn codec(c: &mut Criterion) {
    for family in Family::all() {
        let input = blocks(family);
        let points: usize = input.iter().map(Vec::len).sum();
        let ours: Vec<SealedBlock> = input.iter().map(|b| SealedBlock::encode(b)).collect();
        let theirs: Vec<Box<[u8]>> = input.iter().map(|b| tsz_encode(b)).collect();
        let mut scratch = vec![0.0; BLOCK];

        let mut group = c.benchmark_group(format!("codec/{}", family.name()));
        group.throughput(Throughput::Elements(points as u64));
        group.bench_function(BenchmarkId::new("encode", "sextant"), |b| {
            b.iter(|| {
                input
                    .iter()
                    .map(|v| SealedBlock::encode(black_box(v)).encoded_len())
                    .sum::<usize>()
            })
        });
        group.bench_function(BenchmarkId::new("encode", "tsz"), |b| {
            b.iter(|| {
                input
                    .iter()
                    .map(|v| tsz_encode(black_box(v)).len())
                    .sum::<usize>()
            })
        });
        group.bench_function(BenchmarkId::new("decode", "sextant"), |b| {
            b.iter(|| {
                for block in &ours {
                    let out = &mut scratch[..block.len()];
                    black_box(block)
                        .decode_into(out)
                        .expect("own block decodes");
                    black_box(&out);
                }
            })
        });
        group.bench_function(BenchmarkId::new("decode", "tsz"), |b| {
            b.iter(|| {
                for (block, v) in theirs.iter().zip(&input) {
                    let out = &mut scratch[..v.len()];
                    tsz_decode_into(black_box(block), out);
                    black_box(&out);
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);

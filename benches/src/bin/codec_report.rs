//! Prints a markdown table of block compression (bytes per point) and decode speed for the
//! seeded value families and the NAB real-metric files: raw, the `tsz` Gorilla crate, and
//! `sextant-codec`.
//!
//! ```sh
//! cargo run --release -p sextant-benches --bin codec_report [NAB_DIR]
//! ```
//! `NAB_DIR` defaults to `../shared/data/nab` relative to the workspace root.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sextant_benches::families::{Family, PRODUCTION_MIX};
use sextant_codec::{Encoding, SealedBlock};
use tsz::decode::Error as TszError;
use tsz::stream::{BufferedReader, BufferedWriter};
use tsz::{DataPoint, Decode, Encode, StdDecoder, StdEncoder};

/// Series per family: enough for stable averages, few enough to run in seconds.
const SERIES: u64 = 200;
/// Points per series: one day at a 1-minute step.
const POINTS: usize = 1440;
/// The server's block size, and a 6-hour block for comparison.
const BLOCK: usize = 60;
const LONG_BLOCK: usize = 360;
/// tsz needs timestamps; Atlas's step.
const STEP_SECS: u64 = 60;
/// An arbitrary minute-aligned start time for tsz blocks.
const EPOCH: u64 = 1_700_000_040;
/// Minimum wall time per speed measurement.
const MIN_TIME: Duration = Duration::from_millis(300);

/// Figures for one data set.
struct Row {
    name: String,
    points: usize,
    tsz: usize,
    ours: usize,
    ours_long: usize,
    kinds: BTreeMap<&'static str, usize>,
    blocks: usize,
    decode_mps: f64,
    tsz_decode_mps: f64,
}

fn tsz_encode(values: &[f64]) -> Box<[u8]> {
    let mut enc = StdEncoder::new(EPOCH, BufferedWriter::new());
    for (i, v) in values.iter().enumerate() {
        enc.encode(DataPoint::new(EPOCH + STEP_SECS * i as u64, *v));
    }
    enc.close()
}

fn tsz_decode_sum(bytes: &[u8]) -> f64 {
    let mut dec = StdDecoder::new(BufferedReader::new(bytes.into()));
    let mut sum = 0.0;
    loop {
        match dec.next() {
            Ok(dp) => sum += dp.get_value(),
            Err(TszError::EndOfStream) => return sum,
            Err(e) => panic!("tsz failed to decode its own block: {e:?}"),
        }
    }
}

/// Calls `f` repeatedly for at least [`MIN_TIME`]; returns points per second in millions.
fn speed(points: usize, mut f: impl FnMut() -> f64) -> f64 {
    let start = Instant::now();
    let mut rounds = 0u32;
    while start.elapsed() < MIN_TIME {
        black_box(f());
        rounds += 1;
    }
    points as f64 * f64::from(rounds) / start.elapsed().as_secs_f64() / 1e6
}

fn measure(name: String, series: &[Vec<f64>]) -> Row {
    let points = series.iter().map(Vec::len).sum();
    let mut row = Row {
        name,
        points,
        tsz: 0,
        ours: 0,
        ours_long: 0,
        kinds: BTreeMap::new(),
        blocks: 0,
        decode_mps: 0.0,
        tsz_decode_mps: 0.0,
    };
    let mut blocks = Vec::new();
    let mut tsz_blocks = Vec::new();
    for s in series {
        for chunk in s.chunks(BLOCK) {
            let b = SealedBlock::encode(chunk);
            let mut check = vec![0.0; chunk.len()];
            b.decode_into(&mut check).expect("own block decodes");
            assert!(
                check
                    .iter()
                    .zip(chunk)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "round trip failed in {}",
                row.name
            );
            row.ours += b.encoded_len();
            *row.kinds.entry(b.kind().name()).or_default() += 1;
            blocks.push(b);
            let t = tsz_encode(chunk);
            row.tsz += t.len();
            tsz_blocks.push(t);
        }
        for chunk in s.chunks(LONG_BLOCK) {
            row.ours_long += SealedBlock::encode(chunk).encoded_len();
        }
    }
    row.blocks = blocks.len();
    let mut scratch = vec![0.0; BLOCK];
    row.decode_mps = speed(points, || {
        let mut sum = 0.0;
        for b in &blocks {
            let out = &mut scratch[..b.len()];
            if b.decode_into(out).is_ok() {
                sum += out.iter().sum::<f64>();
            }
        }
        sum
    });
    row.tsz_decode_mps = speed(points, || {
        tsz_blocks.iter().map(|b| tsz_decode_sum(b)).sum()
    });
    row
}

fn per_point(bytes: usize, points: usize) -> f64 {
    bytes as f64 / points.max(1) as f64
}

fn kinds_cell(row: &Row) -> String {
    Encoding::ALL
        .iter()
        .filter_map(|k| {
            let n = *row.kinds.get(k.name())?;
            Some(format!(
                "{} {:.0}%",
                k.name(),
                100.0 * n as f64 / row.blocks as f64
            ))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_header(first: &str) {
    println!(
        "| {first} | points | raw | tsz B=60 | ours B=60 | ours B=360 | ours vs tsz | encodings (B=60) | decode+sum ours, M pts/s | decode+sum tsz, M pts/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|");
}

fn print_row(row: &Row) {
    let tsz = per_point(row.tsz, row.points);
    let ours = per_point(row.ours, row.points);
    println!(
        "| {} | {} | 8.00 | {:.2} | **{:.2}** | {:.2} | {:.1}x | {} | {:.0} | {:.0} |",
        row.name,
        row.points,
        tsz,
        ours,
        per_point(row.ours_long, row.points),
        tsz / ours,
        kinds_cell(row),
        row.decode_mps,
        row.tsz_decode_mps,
    );
}

/// Reads the `value` column of a NAB `timestamp,value` CSV.
fn read_nab(path: &Path) -> Result<Vec<f64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v = l.rsplit(',').next().unwrap_or("");
            v.trim()
                .parse::<f64>()
                .with_context(|| format!("{}: bad value {v:?}", path.display()))
        })
        .collect()
}

fn nab_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for category in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let category = category?.path();
        if !category.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&category)? {
            let f = f?.path();
            if f.extension().is_some_and(|e| e == "csv") {
                files.push(f);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn main() -> Result<()> {
    let nab_dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/nab"));

    println!(
        "### Synthetic families ({SERIES} series x {POINTS} points each, seeds 0..{SERIES})\n"
    );
    print_header("family");
    let mut family_rows = Vec::new();
    for family in Family::all() {
        let series: Vec<Vec<f64>> = (0..SERIES).map(|s| family.generate(s, POINTS)).collect();
        let row = measure(family.name().to_string(), &series);
        print_row(&row);
        family_rows.push((family, row));
    }
    let mix = |f: fn(&Row) -> f64| -> f64 {
        PRODUCTION_MIX
            .iter()
            .map(|(fam, w)| {
                let row = family_rows.iter().find(|(f, _)| f == fam).map(|(_, r)| r);
                w * row.map_or(0.0, f)
            })
            .sum()
    };
    println!(
        "| *production mix (assumption: 30% RatePerSec, 10% TsbsCpu, 10% Gauge2dp, 20% IntGauge, 15% SparseErr, 15% Constant)* | | 8.00 | {:.2} | **{:.2}** | {:.2} | {:.1}x | | | |",
        mix(|r| per_point(r.tsz, r.points)),
        mix(|r| per_point(r.ours, r.points)),
        mix(|r| per_point(r.ours_long, r.points)),
        mix(|r| per_point(r.tsz, r.points)) / mix(|r| per_point(r.ours, r.points)),
    );

    println!("\n### NAB real metrics ({})\n", nab_dir.display());
    print_header("file");
    let mut totals: BTreeMap<String, (Vec<Vec<f64>>, usize)> = BTreeMap::new();
    let mut all = Vec::new();
    for path in nab_files(&nab_dir)? {
        let values = read_nab(&path)?;
        let category = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        print_row(&measure(
            format!("{category}/{stem}"),
            std::slice::from_ref(&values),
        ));
        let entry = totals.entry(category).or_default();
        entry.1 += values.len();
        entry.0.push(values.clone());
        all.push(values);
    }
    for (category, (series, _)) in &totals {
        print_row(&measure(format!("**{category} (all files)**"), series));
    }
    print_row(&measure("**all NAB**".to_string(), &all));
    Ok(())
}

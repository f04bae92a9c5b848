//! Stack language speed: parsing a 200-token expression, and `:percentiles` over 276
//! buckets × 50 groups on the in-memory store. Figures go to docs/benchmarks.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sextant_query::testing::StaticDatabase;
use sextant_query::{evaluate, parse, EvalContext, Limits};

/// A realistic dashboard expression of about 200 tokens.
fn expression() -> String {
    let mut parts = Vec::new();
    for i in 0..8 {
        parts.push(format!(
            "name,requests,:eq,nf.app,app{i},:eq,:and,statistic,count,:eq,:and,(,nf.zone,),:by,\
             name,errors,:eq,nf.app,app{i},:eq,:and,(,nf.zone,),:by,:div,100,:mul,5,:rolling-mean-x"
        ));
    }
    parts
        .join(",")
        .replace(",:rolling-mean-x", ",5,2,:rolling-mean,$nf.zone,:legend")
}

fn bench_parse(c: &mut Criterion) {
    let src = expression();
    let tokens = src.split(',').count();
    assert!(tokens >= 200, "{tokens} tokens");
    c.bench_function(&format!("parse {tokens} tokens"), |b| {
        b.iter(|| parse(black_box(&src)).map(|e| e.len()).unwrap_or(0))
    });
}

fn bench_percentiles(c: &mut Criterion) {
    let mut db = StaticDatabase::new(60_000);
    for g in 0..50 {
        let app = format!("app{g}");
        for b in 0..276usize {
            let tag = format!("T{b:04X}");
            let v = ((b * 7 + g) % 13) as f64;
            db.push_fn(
                [
                    ("name", "latency"),
                    ("nf.app", app.as_str()),
                    ("statistic", "percentile"),
                    ("percentile", tag.as_str()),
                ],
                move |t| v + (t / 60_000 % 3) as f64,
            );
        }
    }
    let exprs = match parse("name,latency,:eq,(,nf.app,),:by,(,50,90,99,),:percentiles") {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    };
    // One hour at one minute: 60 points per line.
    let ctx = EvalContext::new(0, 3_600_000, 60_000).with_limits(Limits {
        max_lines: 1024,
        max_datapoints: 10_000_000,
    });
    c.bench_function("percentiles 276 buckets x 50 groups x 60 points", |b| {
        b.iter(|| {
            evaluate(black_box(&exprs), &ctx, &db)
                .map(|l| l.len())
                .unwrap_or(0)
        })
    });
}

criterion_group!(benches, bench_parse, bench_percentiles);
criterion_main!(benches);

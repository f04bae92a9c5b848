//! Ingest throughput by wire format, in one run against one server: the same synthetic
//! gauges published as Atlas JSON (`/api/v1/publish`, plain and gzip), as the op-code
//! array real Spectator clients send (same route, plain and gzip), as Prometheus remote
//! write (`/api/v1/write`, snappy protobuf) and as OTLP/HTTP protobuf (`/v1/metrics`),
//! each for `--seconds`, one after the other; prints datapoints per second for each.
//!
//! ```sh
//! cargo build --release -p sextant-server --bin sextant
//! target/release/sextant serve --listen 127.0.0.1:7101 &
//! cargo run --release -p sextant-benches --bin ingest_formats -- --series 100000 --seconds 20
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use sextant_protocols::remote_write::{self, Label, Sample, TimeSeries, WriteRequest};

#[derive(Parser)]
#[command(about = "Compare ingest throughput of Atlas JSON, Prometheus remote write and OTLP")]
struct Args {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:7101")]
    url: String,
    /// Distinct series to publish to.
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// How long each format runs.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Datapoints per request.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The wire formats compared.
#[derive(Debug, Clone, Copy)]
enum Format {
    AtlasJson,
    AtlasJsonGzip,
    /// Spectator's `[N, strings.., K, k,v.., OP, VALUE, ..]`, op 10 (max: a gauge); no
    /// timestamps, the server's clock assigns the step.
    OpCodes,
    OpCodesGzip,
    RemoteWrite,
    Otlp,
}

/// Every format, in the order they run.
const FORMATS: [Format; 6] = [
    Format::AtlasJson,
    Format::AtlasJsonGzip,
    Format::OpCodes,
    Format::OpCodesGzip,
    Format::RemoteWrite,
    Format::Otlp,
];

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into memory cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

impl Format {
    fn path(self) -> &'static str {
        match self {
            Format::AtlasJson | Format::AtlasJsonGzip | Format::OpCodes | Format::OpCodesGzip => {
                "/api/v1/publish"
            }
            Format::RemoteWrite => "/api/v1/write",
            Format::Otlp => "/v1/metrics",
        }
    }

    fn headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Format::AtlasJson | Format::OpCodes => &[("content-type", "application/json")],
            Format::AtlasJsonGzip | Format::OpCodesGzip => &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            Format::RemoteWrite => &[
                ("content-type", "application/x-protobuf"),
                ("content-encoding", "snappy"),
                ("x-prometheus-remote-write-version", "0.1.0"),
            ],
            Format::Otlp => &[("content-type", "application/x-protobuf")],
        }
    }

    /// One request of `batch` gauges starting at series `first`: node and id tags, the
    /// same series in every format.
    fn body(self, first: usize, batch: usize, series: usize, ts: i64) -> Vec<u8> {
        let point = |k: usize| {
            let i = (first + k) % series;
            (
                format!("i-{:07}", i / 10),
                (i % 10).to_string(),
                (i * 7 + k) as f64 / 100.0,
            )
        };
        match self {
            Format::AtlasJsonGzip => gzip(&Format::AtlasJson.body(first, batch, series, ts)),
            Format::OpCodesGzip => gzip(&Format::OpCodes.body(first, batch, series, ts)),
            Format::OpCodes => {
                // The string table: fixed names first, then each node and id once.
                let mut strings: Vec<String> = ["name", "load_requests", "nf.node", "id"]
                    .map(String::from)
                    .to_vec();
                let mut index = std::collections::HashMap::new();
                let mut ops = Vec::with_capacity(batch);
                for k in 0..batch {
                    let (node, id, v) = point(k);
                    let mut at = |s: String| {
                        *index.entry(s.clone()).or_insert_with(|| {
                            strings.push(s);
                            strings.len() - 1
                        })
                    };
                    ops.push((at(node), at(id), v));
                }
                let mut out = String::with_capacity(batch * 40);
                out.push_str(&format!("[{}", strings.len()));
                for s in &strings {
                    out.push_str(&format!(",\"{s}\""));
                }
                for (node, id, v) in ops {
                    out.push_str(&format!(",3,0,1,2,{node},3,{id},10,{v}"));
                }
                out.push(']');
                out.into_bytes()
            }
            Format::AtlasJson => {
                let mut out = String::with_capacity(batch * 130);
                out.push_str(r#"{"tags":{"nf.app":"loadgen"},"metrics":["#);
                for k in 0..batch {
                    let (node, id, v) = point(k);
                    if k > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!(
                        r#"{{"tags":{{"name":"load_requests","nf.node":"{node}","id":"{id}","atlas.dstype":"gauge"}},"timestamp":{ts},"value":{v}}}"#
                    ));
                }
                out.push_str("]}");
                out.into_bytes()
            }
            Format::RemoteWrite => {
                let label = |n: &str, v: &str| Label {
                    name: n.to_string(),
                    value: v.to_string(),
                };
                let timeseries = (0..batch)
                    .map(|k| {
                        let (node, id, value) = point(k);
                        TimeSeries {
                            labels: vec![
                                label("__name__", "load_requests"),
                                label("id", &id),
                                label("nf_app", "loadgen"),
                                label("node", &node),
                            ],
                            samples: vec![Sample {
                                value,
                                timestamp: ts,
                            }],
                            histograms: Vec::new(),
                        }
                    })
                    .collect();
                remote_write::encode(&WriteRequest { timeseries })
            }
            Format::Otlp => {
                let attr = |k: &str, v: &str| KeyValue {
                    key: k.to_string(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(v.to_string())),
                    }),
                    ..Default::default()
                };
                let data_points = (0..batch)
                    .map(|k| {
                        let (node, id, value) = point(k);
                        NumberDataPoint {
                            attributes: vec![attr("nf.node", &node), attr("id", &id)],
                            time_unix_nano: ts as u64 * 1_000_000,
                            value: Some(number_data_point::Value::AsDouble(value)),
                            ..Default::default()
                        }
                    })
                    .collect();
                let req = ExportMetricsServiceRequest {
                    resource_metrics: vec![ResourceMetrics {
                        resource: Some(Resource {
                            attributes: vec![attr("service.name", "loadgen")],
                            ..Default::default()
                        }),
                        scope_metrics: vec![ScopeMetrics {
                            metrics: vec![Metric {
                                name: "load_requests".to_string(),
                                data: Some(metric::Data::Gauge(Gauge { data_points })),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                };
                prost::Message::encode_to_vec(&req)
            }
        }
    }
}

/// Publishes in `format` for `seconds` over `connections`; datapoints stored per second
/// and datapoints in failed requests.
fn run(args: &Args, format: Format) -> (f64, u64) {
    let url = format!("{}{}", args.url.trim_end_matches('/'), format.path());
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let (series, batch) = (args.series.max(1), args.batch.max(1));
    let workers: Vec<_> = (0..args.connections.max(1))
        .map(|w| {
            let (sent, failed, url) = (sent.clone(), failed.clone(), url.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut first = w * batch;
                while Instant::now() < deadline {
                    let payload = format.body(first, batch, series, now_ms());
                    first = (first + batch * 4) % series;
                    let mut req = agent.post(&url);
                    for (k, v) in format.headers() {
                        req = req.header(*k, *v);
                    }
                    match req.send(&payload[..]) {
                        Ok(r) if r.status().is_success() => {
                            sent.fetch_add(batch as u64, Ordering::Relaxed);
                        }
                        _ => {
                            failed.fetch_add(batch as u64, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let secs = start.elapsed().as_secs_f64();
    (
        sent.load(Ordering::Relaxed) as f64 / secs,
        failed.load(Ordering::Relaxed),
    )
}

fn main() {
    let args = Args::parse();
    println!("| format | route | datapoints/s | failed datapoints |");
    println!("|---|---|---:|---:|");
    for format in FORMATS {
        let (rate, failed) = run(&args, format);
        println!(
            "| {format:?} | `{}` | {rate:.0} | {failed} |",
            format.path()
        );
    }
}

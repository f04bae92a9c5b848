//! OTLP/HTTP metrics: an `ExportMetricsServiceRequest` in protobuf or JSON, decoded into
//! [`Datapoint`]s, and the `ExportMetricsServiceResponse` with partial success.
//!
//! Mapping (docs/api.md has the table):
//! - the metric name is `name` (characters outside Atlas's set become `_`); data point
//!   attributes are tags (keys as [`crate::labels::key_to_atlas`], values escaped as
//!   [`crate::labels::value_to_atlas`]);
//! - resource attributes are tags too, with `service.name` as `nf.app`,
//!   `service.instance.id` as `nf.node`, `cloud.region` as `nf.region` and `cloud.availability_zone` as `nf.zone`;
//!   `telemetry.sdk.*` and `telemetry.auto.version` are dropped (they describe the SDK,
//!   not the data, and would use up the tag budget);
//! - gauges are `atlas.dstype=gauge`; sums: cumulative monotonic are `counter` (stored as
//!   per-second rates), delta are `sum` of the delta per second of step (so they read as
//!   rates too, like Spectator counters), cumulative non-monotonic are `gauge`;
//! - histograms are Prometheus-style series: `<name>_bucket` with a cumulative `le` tag,
//!   `<name>_count` and `<name>_sum`, so `histogram_quantile` works as in Prometheus;
//! - exponential histograms map onto Spectator's percentile buckets (`statistic=percentile`,
//!   `percentile=T00XX` for time units, `D00XX` otherwise) plus `statistic=count` and
//!   `statistic=totalTime`/`totalAmount`, so `:percentiles` works on them;
//! - summaries are `<name>{quantile=..}` gauges plus `<name>_count` and `<name>_sum`.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint,
    SummaryDataPoint,
};
use sextant_query::{bucket_index, BUCKET_COUNT};

use crate::labels::{key_to_atlas, sanitize_name, value_to_atlas};
use crate::{sort_tags, Datapoint, DecodeError, Decoded};

/// The two encodings OTLP/HTTP allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-protobuf`
    Protobuf,
    /// `application/json`
    Json,
}

impl Format {
    /// The format a `Content-Type` names, if it is one of OTLP's.
    pub fn from_content_type(ct: &str) -> Option<Format> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/x-protobuf" | "application/protobuf" => Some(Format::Protobuf),
            "application/json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The `Content-Type` of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

/// `AGGREGATION_TEMPORALITY_DELTA`.
const DELTA: i32 = 1;
/// `DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK`: the point says "no value", not an error.
const NO_RECORDED_VALUE: u32 = 1;

/// Parses the request body.
pub fn parse(body: &[u8], format: Format) -> Result<ExportMetricsServiceRequest, DecodeError> {
    match format {
        Format::Protobuf => {
            <ExportMetricsServiceRequest as prost::Message>::decode(body).map_err(|e| {
                DecodeError::Malformed {
                    format: "protobuf",
                    reason: e.to_string(),
                }
            })
        }
        Format::Json => serde_json::from_slice(body).map_err(|e| DecodeError::Malformed {
            format: "JSON",
            reason: e.to_string(),
        }),
    }
}

/// Decodes a request body; `step_ms` is the store's step (delta sums are divided by it).
/// At most `max_points` datapoints are produced, counted before any is built.
pub fn decode(
    body: &[u8],
    format: Format,
    step_ms: i64,
    max_points: usize,
) -> Result<Decoded, DecodeError> {
    let req = parse(body, format)?;
    convert(&req, step_ms, max_points)
}

/// How many datapoints a request expands to (histograms expand to several).
fn expansion(req: &ExportMetricsServiceRequest) -> (usize, usize) {
    let mut points = 0usize;
    let mut sources = 0usize;
    for rm in &req.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let (n, s) = match &m.data {
                    Some(metric::Data::Gauge(g)) => (g.data_points.len(), g.data_points.len()),
                    Some(metric::Data::Sum(g)) => (g.data_points.len(), g.data_points.len()),
                    Some(metric::Data::Histogram(h)) => (
                        h.data_points
                            .iter()
                            .map(|p| p.bucket_counts.len().saturating_add(2))
                            .fold(0usize, usize::saturating_add),
                        h.data_points.len(),
                    ),
                    Some(metric::Data::ExponentialHistogram(h)) => (
                        h.data_points.len().saturating_mul(BUCKET_COUNT + 2),
                        h.data_points.len(),
                    ),
                    Some(metric::Data::Summary(h)) => (
                        h.data_points
                            .iter()
                            .map(|p| p.quantile_values.len().saturating_add(2))
                            .fold(0usize, usize::saturating_add),
                        h.data_points.len(),
                    ),
                    None => (0, 1),
                };
                points = points.saturating_add(n);
                sources = sources.saturating_add(s);
            }
        }
    }
    (points, sources)
}

/// The text of an attribute value; arrays, maps and bytes are not tags.
fn attr_text(kv: &KeyValue) -> Option<String> {
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

/// Tags from resource attributes, with the documented renames.
fn resource_tags(attrs: &[KeyValue]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for kv in attrs {
        let key = match kv.key.as_str() {
            "service.name" => "nf.app".to_string(),
            "service.instance.id" => "nf.node".to_string(),
            "cloud.region" => "nf.region".to_string(),
            "cloud.availability_zone" => "nf.zone".to_string(),
            k if k.starts_with("telemetry.sdk.") || k == "telemetry.auto.version" => continue,
            k => key_to_atlas(&sanitize_name(k)).into_owned(),
        };
        if let Some(v) = attr_text(kv).filter(|v| !v.is_empty()) {
            out.push((key, value_to_atlas(&v).into_owned()));
        }
    }
    out
}

/// Adds point attributes to the resource tags.
fn point_tags(base: &[(String, String)], attrs: &[KeyValue]) -> Vec<(String, String)> {
    let mut tags = base.to_vec();
    for kv in attrs {
        if let Some(v) = attr_text(kv).filter(|v| !v.is_empty()) {
            tags.push((
                key_to_atlas(&sanitize_name(&kv.key)).into_owned(),
                value_to_atlas(&v).into_owned(),
            ));
        }
    }
    tags
}

/// Builds datapoints for one source point.
struct Emitter<'a> {
    out: &'a mut Decoded,
    origin: usize,
    timestamp: i64,
}

impl Emitter<'_> {
    fn emit(&mut self, mut tags: Vec<(String, String)>, name: &str, dstype: &str, value: f64) {
        tags.push(("name".to_string(), name.to_string()));
        tags.push(("atlas.dstype".to_string(), dstype.to_string()));
        sort_tags(&mut tags);
        self.out.points.push(Datapoint {
            tags,
            timestamp: self.timestamp,
            value,
            origin: self.origin,
        });
    }
}

/// How a cumulative or delta count is stored: the dstype and the value to store.
fn counted(temporality: i32, value: f64, step_ms: i64) -> (&'static str, f64) {
    if temporality == DELTA {
        ("sum", value / (step_ms.max(1) as f64 / 1000.0))
    } else {
        ("counter", value)
    }
}

/// Converts a parsed request.
pub fn convert(
    req: &ExportMetricsServiceRequest,
    step_ms: i64,
    max_points: usize,
) -> Result<Decoded, DecodeError> {
    let (points, sources) = expansion(req);
    if points > max_points {
        return Err(DecodeError::TooManyPoints { limit: max_points });
    }
    let mut out = Decoded {
        points: Vec::with_capacity(points),
        errors: Vec::new(),
        source_points: sources,
    };
    let mut origin = 0usize;
    for rm in &req.resource_metrics {
        let base = rm
            .resource
            .as_ref()
            .map(|r| resource_tags(&r.attributes))
            .unwrap_or_default();
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let name = sanitize_name(&m.name).into_owned();
                match &m.data {
                    None => {
                        out.errors.push(format!(
                            "metric {name} has no data (no gauge, sum or histogram)"
                        ));
                        origin += 1;
                    }
                    Some(metric::Data::Gauge(g)) => {
                        for p in &g.data_points {
                            number(&mut out, &mut origin, &base, &name, p, |v| ("gauge", v));
                        }
                    }
                    Some(metric::Data::Sum(s)) => {
                        let t = s.aggregation_temporality;
                        let mono = s.is_monotonic;
                        for p in &s.data_points {
                            number(&mut out, &mut origin, &base, &name, p, |v| {
                                if t == DELTA {
                                    counted(t, v, step_ms)
                                } else if mono {
                                    ("counter", v)
                                } else {
                                    ("gauge", v)
                                }
                            });
                        }
                    }
                    Some(metric::Data::Histogram(h)) => {
                        for p in &h.data_points {
                            histogram(&mut out, &mut origin, &base, &name, p, |v| {
                                counted(h.aggregation_temporality, v, step_ms)
                            });
                        }
                    }
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        for p in &h.data_points {
                            exponential(&mut out, &mut origin, &base, &name, &m.unit, p, |v| {
                                counted(h.aggregation_temporality, v, step_ms)
                            });
                        }
                    }
                    Some(metric::Data::Summary(s)) => {
                        for p in &s.data_points {
                            summary(&mut out, &mut origin, &base, &name, p);
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The timestamp of a point in ms, or an error naming the metric.
fn millis(nanos: u64, name: &str) -> Result<i64, String> {
    if nanos == 0 {
        return Err(format!("data point of {name} has no timeUnixNano"));
    }
    i64::try_from(nanos / 1_000_000).map_err(|_| format!("data point of {name}: time out of range"))
}

/// Starts a source point: its emitter, or `None` after recording why it is refused.
fn start<'a>(
    out: &'a mut Decoded,
    origin: &mut usize,
    name: &str,
    nanos: u64,
    flags: u32,
) -> Option<Emitter<'a>> {
    let this = *origin;
    *origin += 1;
    if flags & NO_RECORDED_VALUE != 0 {
        return None;
    }
    match millis(nanos, name) {
        Ok(timestamp) => Some(Emitter {
            out,
            origin: this,
            timestamp,
        }),
        Err(e) => {
            out.errors.push(e);
            None
        }
    }
}

fn number(
    out: &mut Decoded,
    origin: &mut usize,
    base: &[(String, String)],
    name: &str,
    p: &NumberDataPoint,
    kind: impl Fn(f64) -> (&'static str, f64),
) {
    let value = match p.value {
        Some(number_data_point::Value::AsDouble(d)) => Some(d),
        Some(number_data_point::Value::AsInt(i)) => Some(i as f64),
        None => None,
    };
    let Some(mut e) = start(out, origin, name, p.time_unix_nano, p.flags) else {
        return;
    };
    let Some(value) = value else {
        e.out
            .errors
            .push(format!("data point of {name} has no value"));
        return;
    };
    let (dstype, v) = kind(value);
    e.emit(point_tags(base, &p.attributes), name, dstype, v);
}

/// Formats a bucket bound as Prometheus writes `le`.
fn le_text(bound: f64) -> String {
    if bound == f64::INFINITY {
        "+Inf".to_string()
    } else {
        bound.to_string()
    }
}

fn histogram(
    out: &mut Decoded,
    origin: &mut usize,
    base: &[(String, String)],
    name: &str,
    p: &HistogramDataPoint,
    kind: impl Fn(f64) -> (&'static str, f64),
) {
    let Some(mut e) = start(out, origin, name, p.time_unix_nano, p.flags) else {
        return;
    };
    if !p.bucket_counts.is_empty() && p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
        e.out.errors.push(format!(
            "histogram {name}: {} bucket counts for {} bounds (expected bounds + 1)",
            p.bucket_counts.len(),
            p.explicit_bounds.len()
        ));
        return;
    }
    let tags = point_tags(base, &p.attributes);
    let mut cumulative = 0u64;
    let bucket_name = format!("{name}_bucket");
    for (i, c) in p.bucket_counts.iter().enumerate() {
        cumulative = cumulative.saturating_add(*c);
        let bound = p.explicit_bounds.get(i).copied().unwrap_or(f64::INFINITY);
        let mut t = tags.clone();
        t.push((
            "le".to_string(),
            value_to_atlas(&le_text(bound)).into_owned(),
        ));
        let (dstype, v) = kind(cumulative as f64);
        e.emit(t, &bucket_name, dstype, v);
    }
    let (dstype, v) = kind(p.count as f64);
    e.emit(tags.clone(), &format!("{name}_count"), dstype, v);
    if let Some(sum) = p.sum {
        let (dstype, v) = kind(sum);
        e.emit(tags, &format!("{name}_sum"), dstype, v);
    }
}

/// Nanoseconds per unit for the time units OTel uses; `None` for other units.
fn nanos_per_unit(unit: &str) -> Option<f64> {
    Some(match unit {
        "s" => 1e9,
        "ms" => 1e6,
        "us" => 1e3,
        "ns" => 1.0,
        "min" => 6e10,
        _ => return None,
    })
}

/// Spectator bucket counts from an exponential histogram point. Each OTLP bucket lands in
/// the Spectator bucket of its geometric midpoint; zero and negative counts in bucket 0.
pub fn spectator_buckets(
    p: &ExponentialHistogramDataPoint,
    scale_to_bucket_unit: f64,
) -> BTreeMap<usize, u64> {
    let mut counts: BTreeMap<usize, u64> = BTreeMap::new();
    let mut add = |idx: usize, c: u64| {
        if c > 0 {
            let e = counts.entry(idx).or_insert(0);
            *e = e.saturating_add(c);
        }
    };
    add(0, p.zero_count);
    if let Some(neg) = &p.negative {
        add(
            0,
            neg.bucket_counts
                .iter()
                .fold(0u64, |a, c| a.saturating_add(*c)),
        );
    }
    if let Some(pos) = &p.positive {
        // base = 2^(2^-scale); bucket i covers (base^i, base^(i+1)].
        let scale = p.scale.clamp(-10, 20);
        let log2_base = (2f64).powi(-scale);
        for (j, c) in pos.bucket_counts.iter().enumerate() {
            let i = pos.offset as f64 + j as f64;
            let mid = (2f64).powf((i + 0.5) * log2_base) * scale_to_bucket_unit;
            let v = if mid.is_finite() && mid < i64::MAX as f64 {
                mid.round().max(0.0) as i64
            } else {
                i64::MAX
            };
            add(bucket_index(v), *c);
        }
    }
    counts
}

fn exponential(
    out: &mut Decoded,
    origin: &mut usize,
    base: &[(String, String)],
    name: &str,
    unit: &str,
    p: &ExponentialHistogramDataPoint,
    kind: impl Fn(f64) -> (&'static str, f64),
) {
    let Some(mut e) = start(out, origin, name, p.time_unix_nano, p.flags) else {
        return;
    };
    let tags = point_tags(base, &p.attributes);
    let (prefix, scale, total_stat, sum_scale) = match nanos_per_unit(unit) {
        Some(ns) => ("T", ns, "totalTime", ns / 1e9),
        None => ("D", 1.0, "totalAmount", 1.0),
    };
    for (idx, c) in spectator_buckets(p, scale) {
        let mut t = tags.clone();
        t.push(("statistic".to_string(), "percentile".to_string()));
        t.push(("percentile".to_string(), format!("{prefix}{idx:04X}")));
        let (dstype, v) = kind(c as f64);
        e.emit(t, name, dstype, v);
    }
    let mut t = tags.clone();
    t.push(("statistic".to_string(), "count".to_string()));
    let (dstype, v) = kind(p.count as f64);
    e.emit(t, name, dstype, v);
    if let Some(sum) = p.sum {
        let mut t = tags;
        t.push(("statistic".to_string(), total_stat.to_string()));
        let (dstype, v) = kind(sum * sum_scale);
        e.emit(t, name, dstype, v);
    }
}

fn summary(
    out: &mut Decoded,
    origin: &mut usize,
    base: &[(String, String)],
    name: &str,
    p: &SummaryDataPoint,
) {
    let Some(mut e) = start(out, origin, name, p.time_unix_nano, p.flags) else {
        return;
    };
    let tags = point_tags(base, &p.attributes);
    for q in &p.quantile_values {
        let mut t = tags.clone();
        t.push((
            "quantile".to_string(),
            value_to_atlas(&q.quantile.to_string()).into_owned(),
        ));
        e.emit(t, name, "gauge", q.value);
    }
    e.emit(
        tags.clone(),
        &format!("{name}_count"),
        "counter",
        p.count as f64,
    );
    e.emit(tags, &format!("{name}_sum"), "counter", p.sum);
}

/// The answer to an export: empty on full success, else `partial_success` with the number
/// of OTLP data points refused and the first reasons.
pub fn response(format: Format, rejected: usize, message: &str) -> Vec<u8> {
    let resp = ExportMetricsServiceResponse {
        partial_success: (rejected > 0 || !message.is_empty()).then(|| {
            ExportMetricsPartialSuccess {
                rejected_data_points: i64::try_from(rejected).unwrap_or(i64::MAX),
                error_message: message.to_string(),
            }
        }),
    };
    match format {
        Format::Protobuf => prost::Message::encode_to_vec(&resp),
        Format::Json => serde_json::to_vec(&resp).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

#[cfg(test)]
mod tests;

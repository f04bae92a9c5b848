//! Prometheus remote write 1.0: a snappy-compressed (block format) protobuf
//! `WriteRequest`, decoded into [`Datapoint`]s.
//!
//! Mapping: `__name__` is the `name` tag, other labels are tags by the rule of
//! [`crate::labels`]. Series whose name ends in `_total`, `_count`, `_sum` or `_bucket`
//! are cumulative counters in Prometheus and are tagged `atlas.dstype=counter`, so Sextant
//! stores them as per-second rates like every Atlas counter; everything else is a gauge.
//! Prometheus's staleness markers are skipped. Native histograms are refused per series.
//!
//! The messages are the four of `prompb/types.proto` the decoder reads, written out with
//! prost's derive rather than generated at build time (no `protoc` in the build); unknown
//! fields (exemplars, metadata) are skipped by prost.

use crate::labels::{key_to_atlas, value_to_atlas};
use crate::{sort_tags, Datapoint, DecodeError, Decoded};

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series with their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name; `__name__` holds the metric name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples in time order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histograms (field 4): only counted, so they can be refused by name.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub histograms: Vec<Vec<u8>>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Epoch milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Bit pattern of Prometheus's staleness marker (a NaN it writes when a series goes away).
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Suffixes of the series Prometheus exposes as cumulative counters.
const COUNTER_SUFFIXES: [&str; 4] = ["_total", "_count", "_sum", "_bucket"];

/// True when a metric name reads as a cumulative counter.
pub fn is_counter_name(name: &str) -> bool {
    COUNTER_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Limits on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest decompressed body, bytes.
    pub max_decompressed: usize,
    /// Most samples in one request.
    pub max_points: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decompressed: 32 << 20,
            max_points: 1_000_000,
        }
    }
}

/// Inflates a snappy block, checking the length it announces before allocating.
pub fn decompress(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let len = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if len > limit {
        return Err(DecodeError::TooLarge { limit, actual: len });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Snappy(e.to_string()))
}

/// Decodes a snappy-compressed `WriteRequest` into datapoints.
pub fn decode(body: &[u8], limits: Limits) -> Result<Decoded, DecodeError> {
    let raw = decompress(body, limits.max_decompressed)?;
    decode_uncompressed(&raw, limits)
}

/// Decodes an uncompressed `WriteRequest`.
pub fn decode_uncompressed(raw: &[u8], limits: Limits) -> Result<Decoded, DecodeError> {
    let req =
        <WriteRequest as prost::Message>::decode(raw).map_err(|e| DecodeError::Malformed {
            format: "protobuf",
            reason: e.to_string(),
        })?;
    let total: usize = req
        .timeseries
        .iter()
        .map(|t| t.samples.len().saturating_add(t.histograms.len()))
        .fold(0usize, usize::saturating_add);
    if total > limits.max_points {
        return Err(DecodeError::TooManyPoints {
            limit: limits.max_points,
        });
    }
    let mut out = Decoded {
        points: Vec::with_capacity(total),
        errors: Vec::new(),
        source_points: total,
    };
    let mut origin = 0;
    for ts in req.timeseries {
        let mut tags: Vec<(String, String)> = Vec::with_capacity(ts.labels.len() + 1);
        let mut name = None;
        for l in &ts.labels {
            // Prometheus treats an empty value as an absent label.
            if l.value.is_empty() {
                continue;
            }
            if l.name == "__name__" {
                name = Some(l.value.clone());
            }
            tags.push((
                key_to_atlas(&l.name).into_owned(),
                value_to_atlas(&l.value).into_owned(),
            ));
        }
        let dstype = if name.as_deref().is_some_and(is_counter_name) {
            "counter"
        } else {
            "gauge"
        };
        tags.push(("atlas.dstype".to_string(), dstype.to_string()));
        sort_tags(&mut tags);
        if !ts.histograms.is_empty() {
            out.errors.push(format!(
                "native histograms are not supported ({} in series {})",
                ts.histograms.len(),
                name.as_deref().unwrap_or("without a name")
            ));
            origin += ts.histograms.len();
        }
        for s in ts.samples {
            let this = origin;
            origin += 1;
            if s.value.to_bits() == STALE_NAN {
                continue;
            }
            out.points.push(Datapoint {
                tags: tags.clone(),
                timestamp: s.timestamp,
                value: s.value,
                origin: this,
            });
        }
    }
    Ok(out)
}

/// Encodes a `WriteRequest` with snappy, as Prometheus sends it (for tests and the
/// benchmark).
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(req);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| Label {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
            histograms: Vec::new(),
        }
    }

    #[test]
    fn samples_become_tagged_datapoints() -> Result<(), DecodeError> {
        let req = WriteRequest {
            timeseries: vec![
                series(
                    &[
                        ("__name__", "http_requests_total"),
                        ("instance", "localhost:9090"),
                        ("job", "prometheus"),
                        ("name", "x"),
                    ],
                    &[(1000, 1.0), (2000, 3.0)],
                ),
                series(
                    &[("__name__", "go_goroutines"), ("a", "1"), ("empty", "")],
                    &[(1000, 7.0), (2000, f64::from_bits(STALE_NAN))],
                ),
            ],
        };
        let d = decode(&encode(&req), Limits::default())?;
        assert_eq!(d.source_points, 4);
        assert_eq!(d.points.len(), 3);
        let tags = |i: usize| -> Vec<(&str, &str)> {
            d.points[i]
                .tags
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        };
        assert_eq!(
            tags(0),
            [
                ("atlas.dstype", "counter"),
                ("instance", "localhost~3A9090"),
                ("job", "prometheus"),
                ("name", "http_requests_total"),
                ("prom.name", "x"),
            ]
        );
        assert_eq!((d.points[1].timestamp, d.points[1].value), (2000, 3.0));
        assert_eq!(
            tags(2),
            [
                ("atlas.dstype", "gauge"),
                ("name", "go_goroutines"),
                ("prom.a", "1")
            ]
        );
        assert_eq!(d.points[2].origin, 2);
        Ok(())
    }

    #[test]
    fn counter_names() {
        for n in ["a_total", "h_bucket", "h_count", "s_sum"] {
            assert!(is_counter_name(n));
        }
        assert!(!is_counter_name("go_goroutines"));
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        let l = Limits::default();
        assert!(matches!(decode(b"", l), Err(DecodeError::Snappy(_))));
        assert!(matches!(
            decode(b"\xff\xff\xff\xff\x7fjunk", l),
            Err(DecodeError::TooLarge { .. } | DecodeError::Snappy(_))
        ));
        let junk = snap::raw::Encoder::new()
            .compress_vec(b"\x0a\xff\xff\xff")
            .unwrap_or_default();
        assert!(matches!(
            decode(&junk, l),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn limits_are_checked_before_allocating() {
        let big = vec![0u8; 4096];
        let body = snap::raw::Encoder::new()
            .compress_vec(&big)
            .unwrap_or_default();
        let tight = Limits {
            max_decompressed: 1024,
            max_points: 10,
        };
        assert_eq!(
            decode(&body, tight),
            Err(DecodeError::TooLarge {
                limit: 1024,
                actual: 4096
            })
        );
        let req = WriteRequest {
            timeseries: vec![series(&[("__name__", "x")], &[(1, 1.0); 11])],
        };
        assert_eq!(
            decode(&encode(&req), tight),
            Err(DecodeError::TooManyPoints { limit: 10 })
        );
    }
}

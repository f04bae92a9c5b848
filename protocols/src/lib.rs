//! The ecosystem's protocols for Sextant, kept outside the server so they can be tested
//! alone: Prometheus remote write and OTLP/HTTP metrics decode into plain datapoints, and
//! PromQL translates onto `sextant_query`'s expression model.
//!
//! - [`remote_write`]: Prometheus remote write 1.0 (snappy-compressed protobuf).
//! - [`otlp`]: OTLP/HTTP `ExportMetricsServiceRequest` in protobuf or JSON.
//! - [`promql`]: PromQL queries evaluated by the Atlas evaluator, and the Prometheus
//!   HTTP API's JSON answers.
//! - [`labels`]: the reversible rule between Prometheus/OTel names and Atlas tags.
//!
//! Nothing here does I/O or knows the server: decoders return [`Decoded`], which the
//! server validates and stores like any publish; queries run on any
//! [`sextant_query::Database`].
#![deny(missing_docs)]

pub mod labels;
pub mod otlp;
pub mod promql;
pub mod remote_write;

/// One decoded sample: tags sorted by key (unique), epoch milliseconds and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    /// Tags, sorted by key, unique; `name` holds the metric name.
    pub tags: Vec<(String, String)>,
    /// Epoch milliseconds.
    pub timestamp: i64,
    /// The value.
    pub value: f64,
    /// Index of the sample (remote write) or data point (OTLP) in the request it came
    /// from, so a refusal can be counted once per source point.
    pub origin: usize,
}

/// What a request decoded to: datapoints, and the source points that could not be taken
/// with the reason.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decoded {
    /// Datapoints ready to validate and store.
    pub points: Vec<Datapoint>,
    /// Points refused while decoding, each with its reason.
    pub errors: Vec<String>,
    /// Number of source points (samples or OTLP data points) in the request.
    pub source_points: usize,
}

/// A request body that cannot be taken at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The compression framing is broken.
    #[error("invalid snappy body: {0}")]
    Snappy(String),
    /// The body or its decompressed form exceeds the limit.
    #[error("body exceeds the limit of {limit} bytes ({actual} bytes)")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
        /// The size found (or announced by the compressed stream).
        actual: usize,
    },
    /// Not a valid protobuf or JSON message of the expected type.
    #[error("malformed {format} body: {reason}")]
    Malformed {
        /// `protobuf` or `JSON`.
        format: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// The request holds more points than one request may carry.
    #[error("too many datapoints in one request: more than {limit}")]
    TooManyPoints {
        /// The limit.
        limit: usize,
    },
}

/// Sorts tags by key and keeps the last value of a repeated key.
pub(crate) fn sort_tags(tags: &mut Vec<(String, String)>) {
    tags.reverse();
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    tags.dedup_by(|later, earlier| later.0 == earlier.0);
}

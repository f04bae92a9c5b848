//! The JSON shapes of the Prometheus HTTP API (`web/api/v1/api.go`): the `success`
//! envelope, `matrix`/`vector`/`scalar` results and the error body.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// A query error with Prometheus's `errorType` and HTTP status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error_type}: {message}")]
pub struct PromError {
    /// `bad_data`, `execution`, `internal`, ...
    pub error_type: &'static str,
    /// What went wrong.
    pub message: String,
}

impl PromError {
    /// A malformed or unsupported query (400).
    pub fn bad_data(message: String) -> PromError {
        PromError {
            error_type: "bad_data",
            message,
        }
    }

    /// A query that failed while running, e.g. over a limit (422).
    pub fn execution(message: String) -> PromError {
        PromError {
            error_type: "execution",
            message,
        }
    }

    /// The HTTP status Prometheus answers with for this error type.
    pub fn status(&self) -> u16 {
        match self.error_type {
            "bad_data" => 400,
            "execution" => 422,
            "timeout" | "unavailable" => 503,
            _ => 500,
        }
    }

    /// `{"status":"error","errorType":...,"error":...}`.
    pub fn body(&self) -> Value {
        json!({"status": "error", "errorType": self.error_type, "error": self.message})
    }
}

/// One series of a matrix: labels and `(time ms, value)` pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesResult {
    /// Labels in Prometheus form.
    pub metric: BTreeMap<String, String>,
    /// Points, ascending.
    pub values: Vec<(i64, f64)>,
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Labels in Prometheus form.
    pub metric: BTreeMap<String, String>,
    /// Epoch ms.
    pub time: i64,
    /// The value.
    pub value: f64,
}

/// The `data` of a query answer.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryData {
    /// A range query's answer.
    Matrix(Vec<SeriesResult>),
    /// An instant query's answer.
    Vector(Vec<Sample>),
    /// An instant query of a scalar expression: time ms and value.
    Scalar(i64, f64),
}

/// A value as Prometheus writes it: Go's shortest `'f'` form, `NaN`, `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// A timestamp in seconds as a JSON number (integral when whole seconds).
pub fn format_time(ms: i64) -> Value {
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

fn point(t: i64, v: f64) -> Value {
    json!([format_time(t), format_value(v)])
}

impl QueryData {
    /// The `data` object.
    pub fn to_json(&self) -> Value {
        match self {
            QueryData::Matrix(series) => json!({
                "resultType": "matrix",
                "result": series.iter().map(|s| json!({
                    "metric": s.metric,
                    "values": s.values.iter().map(|&(t, v)| point(t, v)).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            }),
            QueryData::Vector(samples) => json!({
                "resultType": "vector",
                "result": samples.iter().map(|s| json!({
                    "metric": s.metric,
                    "value": point(s.time, s.value),
                })).collect::<Vec<_>>(),
            }),
            QueryData::Scalar(t, v) => json!({"resultType": "scalar", "result": point(*t, *v)}),
        }
    }
}

/// `{"status":"success","data":...}`.
pub fn success(data: Value) -> Value {
    json!({"status": "success", "data": data})
}

/// Parses a Prometheus time parameter: RFC 3339 or (fractional) epoch seconds, to ms.
pub fn parse_time(s: &str) -> Result<i64, PromError> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs.abs() < 1e13 {
            return Ok((secs * 1000.0).round() as i64);
        }
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .map_err(|_| PromError::bad_data(format!("cannot parse {s:?} to a valid timestamp")))
}

/// Parses a Prometheus duration parameter (`15`, `1.5`, `30s`, `5m`, `1h30m`) to ms.
pub fn parse_duration(s: &str) -> Result<i64, PromError> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs.abs() < 1e13 {
            return Ok((secs * 1000.0).round() as i64);
        }
    }
    promql_parser::util::parse_duration(s)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(|| PromError::bad_data(format!("cannot parse {s:?} to a valid duration")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_prometheus() {
        let m = QueryData::Matrix(vec![SeriesResult {
            metric: BTreeMap::from([("__name__".into(), "up".into())]),
            values: vec![(1_000, 1.0), (1_500, f64::INFINITY)],
        }]);
        assert_eq!(
            success(m.to_json()).to_string(),
            r#"{"data":{"result":[{"metric":{"__name__":"up"},"values":[[1,"1"],[1.5,"+Inf"]]}],"resultType":"matrix"},"status":"success"}"#
        );
        assert_eq!(
            QueryData::Scalar(2_000, 0.25).to_json().to_string(),
            r#"{"result":[2,"0.25"],"resultType":"scalar"}"#
        );
        let e = PromError::bad_data("x".into());
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.body().to_string(),
            r#"{"error":"x","errorType":"bad_data","status":"error"}"#
        );
        assert_eq!(format_value(1e21), "1000000000000000000000");
    }

    #[test]
    fn times_and_durations() -> Result<(), PromError> {
        assert_eq!(parse_time("1700000000.5")?, 1_700_000_000_500);
        assert_eq!(parse_time("2023-11-14T22:13:20Z")?, 1_700_000_000_000);
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration("15")?, 15_000);
        assert_eq!(parse_duration("1m30s")?, 90_000);
        assert!(parse_duration("soon").is_err());
        Ok(())
    }
}

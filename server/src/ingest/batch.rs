//! Decoder of Atlas's publish batch: `{"tags":{common},"metrics":[{"tags","timestamp","value"}]}`.
//!
//! Strings are borrowed from the request body where JSON escapes allow, so decoding a
//! datapoint of an existing series allocates only its tag list.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::PublishError;
use sextant_store::{with_tags, Datapoint, Decoded};

/// A string that borrows from the input when it can.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A tag map; a `null` value drops the tag, as in Atlas.
#[derive(Default)]
struct Tags<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Tags<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tags<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string tags")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                // Most series carry a handful of tags: one allocation, no regrowth.
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8).min(32));
                while let Some(Text(k)) = map.next_key::<Text<'de>>()? {
                    if let Some(Text(v)) = map.next_value::<Option<Text<'de>>>()? {
                        out.push((k, v));
                    }
                }
                Ok(Tags(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A value: a JSON number, or a string such as `"NaN"`.
struct Value(f64);

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a numeric string")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(Value(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                parse_number(v)
                    .map(Value)
                    .ok_or_else(|| E::custom(format!("invalid number '{v}'")))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                // The legacy `values` array: the first element is the value.
                let first = seq
                    .next_element::<Value>()?
                    .ok_or_else(|| de::Error::custom("empty values array"))?;
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(first)
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses numbers the way Java's `Double.valueOf` accepts the common spellings.
fn parse_number(s: &str) -> Option<f64> {
    match s.trim() {
        "NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        t => t.parse().ok(),
    }
}

#[derive(Deserialize)]
struct Metric<'a> {
    #[serde(borrow, default)]
    tags: Tags<'a>,
    timestamp: Option<i64>,
    /// Legacy synonym of `timestamp`.
    start: Option<i64>,
    value: Option<Value>,
    /// Legacy: an array (first element), a number or a string.
    values: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch<'a> {
    #[serde(borrow, default)]
    tags: Tags<'a>,
    #[serde(borrow, default)]
    metrics: Vec<Metric<'a>>,
}

/// Decodes a batch body. A malformed body fails as a whole; a datapoint missing its
/// timestamp or value is one error among the others.
pub fn decode(body: &[u8]) -> Result<Decoded<'_>, PublishError> {
    // Checked as UTF-8 once, whole: parsing a `str` then borrows every string without
    // checking each again (per-string checks were 13% of decoding's instructions).
    let text = std::str::from_utf8(body).map_err(|e| {
        PublishError::Malformed(format!(
            "invalid JSON: the body is not UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })?;
    let batch: Batch<'_> = serde_json::from_str(text)
        .map_err(|e| PublishError::Malformed(format!("invalid JSON: {e}")))?;
    let mut out = Decoded {
        points: Vec::with_capacity(batch.metrics.len()),
        errors: Vec::new(),
    };
    let common = &batch.tags.0;
    for m in batch.metrics {
        let mut tags = if common.is_empty() {
            // No common tags: the metric's own list is the datapoint's, as decoded.
            m.tags.0
        } else {
            let mut tags = Vec::with_capacity(common.len() + m.tags.0.len());
            tags.extend(common.iter().cloned());
            // Metric tags win over common tags.
            for (k, v) in m.tags.0 {
                match tags.iter_mut().find(|(ck, _)| *ck == k) {
                    Some(slot) => slot.1 = v,
                    None => tags.push((k, v)),
                }
            }
            tags
        };
        // Stable, so of duplicate keys the later one stays later and wins.
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        let Some(timestamp) = m.timestamp.or(m.start) else {
            out.errors.push(with_tags("missing timestamp", &tags));
            continue;
        };
        let Some(Value(value)) = m.value.or(m.values) else {
            out.errors.push(with_tags("missing value", &tags));
            continue;
        };
        out.points.push(Datapoint {
            tags,
            timestamp,
            value,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_is_not_utf8_is_refused_with_where() {
        let body = b"{\"metrics\":[{\"tags\":{\"name\":\"a\xffb\"},\"timestamp\":5,\"value\":1}]}";
        match decode(body) {
            Err(PublishError::Malformed(m)) => {
                assert_eq!(m, "invalid JSON: the body is not UTF-8 (byte 30)")
            }
            other => panic!("{:?}", other.map(|d| d.points.len())),
        }
    }

    #[test]
    fn common_tags_merge_and_metric_tags_win() -> Result<(), PublishError> {
        let body = br#"{"metrics":[{"tags":{"name":"cpu","app":"api"},"timestamp":5,"value":1.5}],
                        "tags":{"app":"www","node":"i-1"}}"#;
        let d = decode(body)?;
        assert!(d.errors.is_empty());
        let tags: Vec<_> = d.points[0]
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(tags, ["app=api", "name=cpu", "node=i-1"]);
        assert_eq!(d.points[0].value, 1.5);
        Ok(())
    }

    #[test]
    fn legacy_fields_and_null_tags() -> Result<(), PublishError> {
        let body = br#"{"metrics":[
            {"tags":{"name":"a","x":null},"start":1,"values":["NaN", 2]},
            {"tags":{"name":"b"},"timestamp":1,"values":"3.5"},
            {"tags":{"name":"c"},"timestamp":1},
            {"tags":{"name":"d"},"value":1, "extra": true}]}"#;
        let d = decode(body)?;
        assert_eq!(d.points.len(), 2);
        assert!(d.points[0].value.is_nan());
        assert_eq!(d.points[0].tags.len(), 1);
        assert_eq!(d.points[1].value, 3.5);
        assert_eq!(d.errors.len(), 2);
        assert!(d.errors[0].starts_with("missing value"));
        assert!(d.errors[1].starts_with("missing timestamp"));
        Ok(())
    }

    #[test]
    fn unknown_top_level_field_and_garbage_fail_whole() {
        let e = decode(br#"{"foo":"bar"}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("unknown field `foo`"), "{e}");
        assert!(decode(b"fubar").is_err());
        assert!(decode(br#"{"metrics":[{"tags":{"name":1}}]}"#).is_err());
    }
}

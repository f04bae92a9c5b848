//! The Atlas batch body: `{"tags":{common},"metrics":[{"tags":{..,"name":..},"timestamp":ms,"value":v}]}`, gzipped.

use std::io::{self, Write};

use flate2::write::GzEncoder;
use flate2::Compression;

use sextant_meters::Measurement;

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    // Ids are sanitised to `-._A-Za-z0-9~^`, so escaping is only a guard for the common tags
    // of a hand-made config and never costs more than this scan.
    if s.bytes().all(|b| b != b'"' && b != b'\\' && b >= 0x20) {
        out.extend_from_slice(s.as_bytes());
    } else {
        for c in s.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }
    out.push(b'"');
}

/// Writes the JSON body for one batch.
pub(crate) fn batch_json(common: &[(String, String)], metrics: &[Measurement]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + metrics.len() * 160);
    out.extend_from_slice(b"{\"tags\":{");
    for (i, (k, v)) in common.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(&mut out, k);
        out.push(b':');
        push_str(&mut out, v);
    }
    out.extend_from_slice(b"},\"metrics\":[");
    for (i, m) in metrics.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"tags\":{\"name\":");
        push_str(&mut out, m.id.name());
        for (k, v) in m.id.tags() {
            out.push(b',');
            push_str(&mut out, k);
            out.push(b':');
            push_str(&mut out, v);
        }
        let _ = write!(out, "}},\"timestamp\":{},\"value\":", m.timestamp);
        // serde_json prints the shortest round-trip form (ryu); callers drop non-finite values,
        // which JSON cannot carry.
        if serde_json::to_writer(&mut out, &m.value).is_err() {
            out.extend_from_slice(b"0");
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

/// Gzips a body. The fastest level: the payload is repetitive JSON that compresses well
/// anyway, and the CPU belongs to the service.
pub(crate) fn gzip(body: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 6), Compression::fast());
    enc.write_all(body)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use sextant_meters::Id;
    use std::io::Read;

    #[test]
    fn body_has_atlas_batch_shape() {
        let ms = vec![
            Measurement {
                id: Id::new("server.requests")
                    .with_tag("statistic", "count")
                    .with_tag("atlas.dstype", "rate"),
                timestamp: 1_700_000_040_000,
                value: 0.05,
            },
            Measurement {
                id: Id::new("q"),
                timestamp: 1_700_000_040_000,
                value: 7.0,
            },
        ];
        let common = vec![("nf.app".to_string(), "demo \"x\"".to_string())];
        let gz = gzip(&batch_json(&common, &ms)).unwrap();
        let mut s = String::new();
        GzDecoder::new(&gz[..]).read_to_string(&mut s).unwrap();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["tags"]["nf.app"], "demo \"x\"");
        let m = &v["metrics"][0];
        assert_eq!(m["tags"]["name"], "server.requests");
        assert_eq!(m["tags"]["statistic"], "count");
        assert_eq!(m["tags"]["atlas.dstype"], "rate");
        assert_eq!(m["timestamp"], 1_700_000_040_000i64);
        assert_eq!(m["value"], 0.05);
        assert_eq!(v["metrics"][1]["value"], 7.0);
        assert_eq!(v["metrics"].as_array().unwrap().len(), 2);
    }
}

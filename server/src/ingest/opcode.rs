//! Decoder of the compact op-code array that real Spectator clients send
//! (nflx-spectator 1.x, netflix-spectator-py 0.1.x):
//!
//! ```text
//! [ N, s0 .. sN-1,                       string table
//!   K, k1,v1 .. kK,vK, OP, VALUE, ... ]  measurements: tag index pairs, op, value
//! ```
//!
//! There are no timestamps: the server's clock assigns the step. `OP = 0` adds a delta
//! (stored as `atlas.dstype=sum` of the delta per second of step, so it reads as a rate
//! like every counter), `OP = 10` keeps the max (`atlas.dstype=gauge`). This is what
//! Atlas's aggregator does before it republishes to Atlas; Sextant takes the payload
//! directly on `/api/v1/publish`.

use std::borrow::Cow;

use serde_json::Value;

use super::PublishError;
use sextant_store::sanitize;
use sextant_store::{Datapoint, Decoded};

/// Op of a counter delta.
const OP_ADD: u64 = 0;
/// Op of a max gauge.
const OP_MAX: u64 = 10;
/// The op-code format has no count of measurements; this bounds what one body may ask
/// the server to store.
const MAX_STRINGS: u64 = 1_000_000;

fn malformed(at: usize, what: &str, found: Option<&Value>) -> PublishError {
    let found = match found {
        Some(v) => v.to_string(),
        None => "the end of the array".to_string(),
    };
    PublishError::Malformed(format!(
        "op-code payload: at element {at}: expected {what}, found {found}"
    ))
}

/// Decodes an op-code array. `step_ms` converts deltas to rates; `now` is the timestamp
/// every measurement gets.
pub fn decode(body: &[u8], now: i64, step_ms: i64) -> Result<Decoded<'static>, PublishError> {
    let items: Vec<Value> = serde_json::from_slice(body)
        .map_err(|e| PublishError::Malformed(format!("invalid JSON: {e}")))?;
    let count = |i: usize, what: &str| -> Result<usize, PublishError> {
        items
            .get(i)
            .and_then(Value::as_u64)
            .filter(|n| *n <= MAX_STRINGS)
            .map(|n| n as usize)
            .ok_or_else(|| malformed(i, what, items.get(i)))
    };
    let n = count(0, "the size of the string table")?;
    let mut table = Vec::with_capacity(n.min(items.len()));
    for i in 1..=n {
        match items.get(i).and_then(Value::as_str) {
            Some(s) => table.push(sanitize(s).into_owned()),
            None => return Err(malformed(i, "a string of the table", items.get(i))),
        }
    }
    let lookup = |i: usize| -> Result<String, PublishError> {
        items
            .get(i)
            .and_then(Value::as_u64)
            .and_then(|idx| table.get(idx as usize))
            .cloned()
            .ok_or_else(|| {
                malformed(
                    i,
                    &format!("an index into the table of {n} strings"),
                    items.get(i),
                )
            })
    };
    let seconds = step_ms as f64 / 1000.0;
    let mut out = Decoded::default();
    let mut i = n + 1;
    while i < items.len() {
        let k = count(i, "a tag count")?;
        i += 1;
        let mut tags: Vec<(Cow<'static, str>, Cow<'static, str>)> = Vec::with_capacity(k + 1);
        for _ in 0..k {
            let key = lookup(i)?;
            let value = lookup(i + 1)?;
            tags.push((Cow::Owned(key), Cow::Owned(value)));
            i += 2;
        }
        let op = items
            .get(i)
            .and_then(Value::as_u64)
            .filter(|op| *op == OP_ADD || *op == OP_MAX)
            .ok_or_else(|| malformed(i, "op 0 (add) or 10 (max)", items.get(i)))?;
        let value = items
            .get(i + 1)
            .and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .ok_or_else(|| malformed(i + 1, "a numeric value", items.get(i + 1)))?;
        i += 2;
        let (dstype, value) = if op == OP_ADD {
            ("sum", value / seconds)
        } else {
            ("gauge", value)
        };
        tags.retain(|(k, _)| k != "atlas.dstype");
        tags.push((Cow::Borrowed("atlas.dstype"), Cow::Borrowed(dstype)));
        tags.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        tags.dedup_by(|a, b| a.0 == b.0);
        out.points.push(Datapoint {
            tags,
            timestamp: now,
            value,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_add_and_max() -> Result<(), PublishError> {
        let body = br#"[4,"count","name","requests","statistic", 2,1,2,3,0,0,6, 1,1,2,10,7.5]"#;
        let d = decode(body, 60_000, 60_000)?;
        assert_eq!(d.points.len(), 2);
        let tags: Vec<_> = d.points[0]
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            tags,
            ["atlas.dstype=sum", "name=requests", "statistic=count"]
        );
        assert_eq!(d.points[0].value, 0.1);
        assert_eq!(d.points[1].value, 7.5);
        assert_eq!(d.points[1].timestamp, 60_000);
        Ok(())
    }

    #[test]
    fn errors_say_where() {
        let cases: [(&[u8], &str); 4] = [
            (
                br#"[2,"a"]"#,
                "at element 2: expected a string of the table",
            ),
            (
                br#"[1,"name",1,0,5,0,1]"#,
                "at element 4: expected an index into the table",
            ),
            (
                br#"[1,"name",1,0,0,3,1]"#,
                "at element 5: expected op 0 (add) or 10 (max)",
            ),
            (
                br#"["x"]"#,
                "at element 0: expected the size of the string table",
            ),
        ];
        for (body, want) in cases {
            let e = decode(body, 0, 1000)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(want), "{e} should contain {want}");
        }
    }
}

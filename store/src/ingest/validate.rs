//! Atlas's validation rules for published tags, applied in order; the first failure is the
//! reason a datapoint is refused (`atlas.webapi.publish.rules` in Atlas's reference.conf).

use std::borrow::Cow;

/// Characters allowed in keys and values.
pub fn is_valid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '^' | '~')
}

/// Key lengths Atlas accepts.
const KEY_LENGTH: std::ops::RangeInclusive<usize> = 2..=60;
/// Lengths of the `name` value.
const NAME_LENGTH: std::ops::RangeInclusive<usize> = 2..=255;
/// Lengths of any other value.
const VALUE_LENGTH: std::ops::RangeInclusive<usize> = 1..=120;
/// Keys outside `nf.` and `atlas.` a series may carry.
pub const MAX_USER_TAGS: usize = 20;
/// All keys a series may carry; bounds the work and memory one datapoint can cause.
pub const MAX_TAGS: usize = 30;

const ATLAS_KEYS: [&str; 4] = ["aggr", "dstype", "offset", "legacy"];
const NF_KEYS: [&str; 20] = [
    "account",
    "ami",
    "app",
    "asg",
    "cluster",
    "container",
    "country",
    "country.rollup",
    "job",
    "node",
    "process",
    "region",
    "shard1",
    "shard2",
    "stack",
    "subnet",
    "task",
    "vmtype",
    "vpc",
    "zone",
];

/// True for the bytes [`is_valid_char`] allows (all ASCII), by table: the check runs on
/// every byte of every published tag.
const VALID_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'^' | b'~');
        b += 1;
    }
    table
};

/// True when every byte of `s` is an allowed character; then its length in characters is
/// its length in bytes.
fn all_valid_bytes(s: &str) -> bool {
    s.bytes().all(|b| VALID_BYTE[b as usize])
}

/// Checks `tags` (sorted by key) and returns why they are refused, if they are.
pub fn validate(tags: &[(Cow<'_, str>, Cow<'_, str>)]) -> Result<(), String> {
    // The common case: every key and value is made of allowed (ASCII) characters and has an
    // allowed length. Checked by bytes without building any message; anything else takes
    // the full path below, which finds the first failure in Atlas's order.
    let fast = tags.len() <= MAX_TAGS
        && tags.iter().all(|(k, v)| {
            let value_length = if k == "name" {
                &NAME_LENGTH
            } else {
                &VALUE_LENGTH
            };
            KEY_LENGTH.contains(&k.len())
                && value_length.contains(&v.len())
                && all_valid_bytes(k)
                && all_valid_bytes(v)
        });
    if fast {
        return reserved_and_counts(tags);
    }
    if !tags.iter().any(|(k, _)| k == "name") {
        return Err("missing key 'name'".to_string());
    }
    if tags.len() > MAX_TAGS {
        return Err(format!("too many tags: {} > {MAX_TAGS}", tags.len()));
    }
    for (k, v) in tags {
        let klen = k.chars().count();
        if klen < *KEY_LENGTH.start() {
            return Err(format!(
                "key too short: [{k}] ({klen} < {})",
                KEY_LENGTH.start(),
                k = crate::ingest::shown(k)
            ));
        }
        if klen > *KEY_LENGTH.end() {
            return Err(format!(
                "key too long: [{k}] ({klen} > {})",
                KEY_LENGTH.end(),
                k = crate::ingest::shown(k)
            ));
        }
        let range = if k == "name" {
            &NAME_LENGTH
        } else {
            &VALUE_LENGTH
        };
        let vlen = v.chars().count();
        if vlen < *range.start() {
            return Err(format!(
                "value too short: {k} = [{v}] ({vlen} < {})",
                range.start(),
                k = crate::ingest::shown(k),
                v = crate::ingest::shown(v)
            ));
        }
        if vlen > *range.end() {
            return Err(format!(
                "value too long: {k} = [{v}] ({vlen} > {})",
                range.end(),
                k = crate::ingest::shown(k),
                v = crate::ingest::shown(v)
            ));
        }
    }
    for (k, v) in tags {
        if !k.chars().all(is_valid_char) {
            return Err(format!(
                "invalid characters in key: [{k}] ([-._A-Za-z0-9^~] are allowed)",
                k = crate::ingest::shown(k)
            ));
        }
        if !v.chars().all(is_valid_char) {
            return Err(format!(
                "invalid characters in value: {k} = [{v}] ([-._A-Za-z0-9^~] are allowed)",
                k = crate::ingest::shown(k),
                v = crate::ingest::shown(v)
            ));
        }
    }
    reserved_and_counts(tags)
}

/// The checks after lengths and characters: `name` present, user tags counted, reserved
/// prefixes.
fn reserved_and_counts(tags: &[(Cow<'_, str>, Cow<'_, str>)]) -> Result<(), String> {
    if !tags.iter().any(|(k, _)| k == "name") {
        return Err("missing key 'name'".to_string());
    }
    let user = tags
        .iter()
        .filter(|(k, _)| !k.starts_with("nf.") && !k.starts_with("atlas."))
        .count();
    if user > MAX_USER_TAGS {
        return Err(format!("too many user tags: {user} > {MAX_USER_TAGS}"));
    }
    for (k, _) in tags {
        if let Some(rest) = k.strip_prefix("atlas.") {
            if !ATLAS_KEYS.contains(&rest) {
                return Err(format!("invalid key for reserved prefix 'atlas.': {k}"));
            }
        }
        if let Some(rest) = k.strip_prefix("nf.") {
            if !NF_KEYS.contains(&rest) {
                return Err(format!("invalid key for reserved prefix 'nf.': {k}"));
            }
        }
    }
    Ok(())
}

/// Replaces every character outside the allowed set with `_`, as Atlas's aggregator does
/// for the op-code payloads of Spectator clients (which do not sanitise themselves).
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if s.chars().all(is_valid_char) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(
            s.chars()
                .map(|c| if is_valid_char(c) { c } else { '_' })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&'static str, &'static str)]) -> Vec<(Cow<'static, str>, Cow<'static, str>)> {
        let mut v: Vec<_> = pairs
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(*v)))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rules_in_order() {
        assert_eq!(
            validate(&tags(&[("app", "x")])),
            Err("missing key 'name'".into())
        );
        assert!(validate(&tags(&[("name", "cpu"), ("a", "x")]))
            .is_err_and(|e| e.starts_with("key too short")));
        assert!(validate(&tags(&[("name", "c")])).is_err_and(|e| e.starts_with("value too short")));
        assert!(validate(&tags(&[("name", "cpu"), ("app", "")]))
            .is_err_and(|e| e.starts_with("value too short")));
        assert!(validate(&tags(&[("name", "cpu usage")]))
            .is_err_and(|e| e.contains("invalid characters in value")));
        assert!(validate(&tags(&[("name", "cpu"), ("nf.foo", "x")]))
            .is_err_and(|e| e.contains("'nf.'")));
        assert!(validate(&tags(&[
            ("name", "cpu"),
            ("atlas.dstype", "gauge"),
            ("nf.app", "www")
        ]))
        .is_ok());
    }

    #[test]
    fn user_tag_limit_ignores_reserved_prefixes() {
        let keys: Vec<String> = (0..21).map(|i| format!("k{i:02}")).collect();
        let mut t: Vec<(Cow<'_, str>, Cow<'_, str>)> = keys
            .iter()
            .map(|k| (Cow::Borrowed(k.as_str()), Cow::Borrowed("v")))
            .collect();
        t.push((Cow::Borrowed("name"), Cow::Borrowed("cpu")));
        t.sort();
        assert_eq!(validate(&t), Err("too many user tags: 22 > 20".into()));
    }

    #[test]
    fn sanitize_replaces_invalid_chars() {
        assert_eq!(sanitize("a b/c"), "a_b_c");
        assert!(matches!(sanitize("ok.1"), Cow::Borrowed(_)));
    }
}

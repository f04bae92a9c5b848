//! The reversible rule between Prometheus label names and values (or OTel attributes) and
//! Atlas tags, so a series written by Prometheus reads back with its own labels.
//!
//! Keys: `__name__` is Atlas's `name`. A label name that is not a usable Atlas key (one
//! character long, or `name` itself, which Atlas reserves for the metric name) is stored as
//! `prom.<label>`; Prometheus label names never contain a dot, so `prom.` can only come from
//! this rule and is removed on the way back. Names longer than 60 characters are refused by
//! the publish rules.
//!
//! Values: Atlas allows `[-._A-Za-z0-9^~]`. Any other byte of the UTF-8 text, and `~`
//! itself, is written `~XX` (two upper-case hex digits), e.g. `localhost:9090` is stored as
//! `localhost~3A9090` and `+Inf` as `~2BInf`. Reading decodes the escapes back; a value
//! with no valid escape reads as written.

use std::borrow::Cow;

/// Prefix of the keys of labels that are not usable Atlas keys as they are.
pub const PREFIX: &str = "prom.";

/// Characters Atlas allows in tag keys and values.
pub fn is_atlas_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '^')
}

/// The Atlas key for a Prometheus label name.
pub fn key_to_atlas(label: &str) -> Cow<'_, str> {
    if label == "__name__" {
        Cow::Borrowed("name")
    } else if label == "name" || label.chars().count() < 2 {
        Cow::Owned(format!("{PREFIX}{label}"))
    } else {
        Cow::Borrowed(label)
    }
}

/// The Prometheus label name for an Atlas key (the inverse of [`key_to_atlas`]).
pub fn key_from_atlas(key: &str) -> Cow<'_, str> {
    if key == "name" {
        Cow::Borrowed("__name__")
    } else if let Some(rest) = key.strip_prefix(PREFIX) {
        Cow::Borrowed(rest)
    } else {
        Cow::Borrowed(key)
    }
}

/// The Atlas form of a label value: every byte outside the allowed set becomes `~XX`.
pub fn value_to_atlas(value: &str) -> Cow<'_, str> {
    if value.chars().all(is_atlas_char) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if is_atlas_char(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push('~');
                out.push_str(&format!("{b:02X}"));
            }
        }
    }
    Cow::Owned(out)
}

/// The label value for an Atlas tag value (the inverse of [`value_to_atlas`]). Text that
/// is not a valid escape is kept as written.
pub fn value_from_atlas(value: &str) -> Cow<'_, str> {
    if !value.contains('~') {
        return Cow::Borrowed(value);
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'~', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(_) => Cow::Borrowed(value),
    }
}

/// An OTel attribute or metric name made usable as an Atlas key or name: characters
/// outside the allowed set become `_` (not reversible; OTel's semantic conventions use
/// only `[a-z0-9._]`).
pub fn sanitize_name(name: &str) -> Cow<'_, str> {
    if name.chars().all(is_atlas_char) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(
            name.chars()
                .map(|c| if is_atlas_char(c) { c } else { '_' })
                .collect(),
        )
    }
}

/// Rewrites a Prometheus regular expression so it matches the Atlas form of the values it
/// matched: literal characters outside the allowed set become their `~XX` escapes.
/// Character classes and `.` still see the stored form (documented in docs/promql.md).
pub fn regex_to_atlas(pattern: &str) -> Result<String, String> {
    use regex_syntax::hir::{Hir, HirKind};
    fn walk(h: &Hir) -> Hir {
        match h.kind() {
            HirKind::Literal(lit) => {
                let text = String::from_utf8_lossy(&lit.0);
                let enc = value_to_atlas(&text);
                Hir::literal(enc.as_bytes().to_vec())
            }
            HirKind::Repetition(r) => {
                let mut r = r.clone();
                r.sub = Box::new(walk(&r.sub));
                Hir::repetition(r)
            }
            HirKind::Capture(c) => {
                let mut c = c.clone();
                c.sub = Box::new(walk(&c.sub));
                Hir::capture(c)
            }
            HirKind::Concat(v) => Hir::concat(v.iter().map(walk).collect()),
            HirKind::Alternation(v) => Hir::alternation(v.iter().map(walk).collect()),
            _ => h.clone(),
        }
    }
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())?;
    Ok(walk(&hir).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for label in ["__name__", "name", "x", "le", "instance", "job", "a_b"] {
            assert_eq!(key_from_atlas(&key_to_atlas(label)), label);
        }
        assert_eq!(key_to_atlas("__name__"), "name");
        assert_eq!(key_to_atlas("name"), "prom.name");
        assert_eq!(key_to_atlas("x"), "prom.x");
        assert_eq!(key_to_atlas("job"), "job");
    }

    #[test]
    fn values_round_trip_and_are_valid_atlas_text() {
        for v in [
            "localhost:9090",
            "+Inf",
            "0.005",
            "a~b",
            "GET /api/v1/query",
            "ünïcode",
            "~",
            "plain",
        ] {
            let enc = value_to_atlas(v);
            assert!(enc.chars().all(|c| is_atlas_char(c) || c == '~'), "{enc}");
            assert_eq!(value_from_atlas(&enc), v);
        }
        assert_eq!(value_to_atlas("localhost:9090"), "localhost~3A9090");
        assert_eq!(value_to_atlas("+Inf"), "~2BInf");
        assert_eq!(value_from_atlas("not~escape~"), "not~escape~");
    }

    #[test]
    fn regexes_match_the_stored_form() -> Result<(), String> {
        let re = regex::Regex::new(&format!("^(?:{})$", regex_to_atlas("localhost:90.*|b")?))
            .map_err(|e| e.to_string())?;
        assert!(re.is_match("localhost~3A9090"));
        assert!(re.is_match("b"));
        assert!(!re.is_match("localhost:9090"));
        assert!(regex_to_atlas("(").is_err());
        Ok(())
    }
}

//! Tag queries: the `query` vocabulary of the stack language as a value.
//!
//! Semantics follow Atlas (`Query.scala`): every comparison is lexical, a clause on a key
//! the series lacks never matches, and regular expressions are anchored at the start.

use std::fmt;

use regex::Regex;

/// A regular expression of `:re`/`:reic`, anchored at the start as Atlas anchors it.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    ignore_case: bool,
    regex: Regex,
}

/// A pattern that does not compile.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid regular expression '{source_text}': {reason}")]
pub struct PatternError {
    /// The pattern as written.
    pub source_text: String,
    /// What the regex engine said.
    pub reason: String,
}

/// Patterns larger than this are refused: a query must not make the server compile
/// an unbounded automaton.
const MAX_PATTERN_SIZE: usize = 1 << 20;

impl Pattern {
    /// Compiles `source`, anchored at the start; `ignore_case` for `:reic`.
    pub fn try_new(source: &str, ignore_case: bool) -> Result<Self, PatternError> {
        let anchored = format!("^(?:{source})");
        let regex = regex::RegexBuilder::new(&anchored)
            .case_insensitive(ignore_case)
            .size_limit(MAX_PATTERN_SIZE)
            .build()
            .map_err(|e| PatternError {
                source_text: source.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Pattern {
            source: source.to_string(),
            ignore_case,
            regex,
        })
    }

    /// The pattern as written by the user.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True for `:reic`.
    pub fn ignore_case(&self) -> bool {
        self.ignore_case
    }

    /// True when `value` matches from its start.
    pub fn is_match(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }

    /// The literal text every match must start with, if any, so an index can scan only
    /// the range of values with that prefix. Empty when the pattern has no such prefix.
    pub fn literal_prefix(&self) -> &str {
        if self.ignore_case || self.source.contains('|') {
            return "";
        }
        let s = self.source.strip_prefix('^').unwrap_or(&self.source);
        let meta = |c: char| ".^$*+?()[]{}|\\".contains(c);
        let end = s.find(meta).unwrap_or(s.len());
        let mut prefix = &s[..end];
        // A quantifier after the literal applies to its last character only.
        if s[end..].starts_with(['*', '?', '{']) {
            let cut = prefix.char_indices().last().map(|(i, _)| i).unwrap_or(0);
            prefix = &prefix[..cut];
        }
        prefix
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.ignore_case == other.ignore_case
    }
}

/// A tag query: selects series by their tags.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Matches every series (`:true`).
    True,
    /// Matches no series (`:false`).
    False,
    /// The key is present (`:has`).
    Has(String),
    /// The key has exactly this value (`:eq`).
    Eq(String, String),
    /// The key has one of these values (`:in`).
    In(String, Vec<String>),
    /// The value is lexically less than (`:lt`).
    Lt(String, String),
    /// The value is lexically less than or equal (`:le`).
    Le(String, String),
    /// The value is lexically greater than (`:gt`).
    Gt(String, String),
    /// The value is lexically greater than or equal (`:ge`).
    Ge(String, String),
    /// The value matches a pattern anchored at the start (`:re`, `:reic`).
    Re(String, Pattern),
    /// Both match (`:and`).
    And(Box<Query>, Box<Query>),
    /// Either matches (`:or`).
    Or(Box<Query>, Box<Query>),
    /// The inner query does not match (`:not`).
    Not(Box<Query>),
}

impl Query {
    /// `k,v,:eq`.
    pub fn eq(key: &str, value: &str) -> Query {
        Query::Eq(key.to_string(), value.to_string())
    }

    /// `k,:has`.
    pub fn has(key: &str) -> Query {
        Query::Has(key.to_string())
    }

    /// `a,b,:and`, simplified with `:true`/`:false` as Atlas does.
    pub fn and(self, other: Query) -> Query {
        match (self, other) {
            (Query::True, q) | (q, Query::True) => q,
            (Query::False, _) | (_, Query::False) => Query::False,
            (a, b) => Query::And(Box::new(a), Box::new(b)),
        }
    }

    /// `a,b,:or`, simplified with `:true`/`:false` as Atlas does.
    pub fn or(self, other: Query) -> Query {
        match (self, other) {
            (Query::True, _) | (_, Query::True) => Query::True,
            (Query::False, q) | (q, Query::False) => q,
            (a, b) => Query::Or(Box::new(a), Box::new(b)),
        }
    }

    /// `q,:not`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Query {
        Query::Not(Box::new(self))
    }

    /// True when a series with these tags is selected. `tags` need not be sorted.
    pub fn matches<K: AsRef<str>, V: AsRef<str>>(&self, tags: &[(K, V)]) -> bool {
        let get = |key: &str| {
            tags.iter()
                .find(|(k, _)| k.as_ref() == key)
                .map(|(_, v)| v.as_ref())
        };
        self.matches_with(&get)
    }

    /// Like [`Query::matches`], with tags looked up through `get`.
    pub fn matches_with<'a>(&self, get: &dyn Fn(&str) -> Option<&'a str>) -> bool {
        match self {
            Query::True => true,
            Query::False => false,
            Query::Has(k) => get(k).is_some(),
            Query::Eq(k, v) => get(k) == Some(v.as_str()),
            Query::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Query::Lt(k, v) => get(k).is_some_and(|x| x < v.as_str()),
            Query::Le(k, v) => get(k).is_some_and(|x| x <= v.as_str()),
            Query::Gt(k, v) => get(k).is_some_and(|x| x > v.as_str()),
            Query::Ge(k, v) => get(k).is_some_and(|x| x >= v.as_str()),
            Query::Re(k, p) => get(k).is_some_and(|x| p.is_match(x)),
            Query::And(a, b) => a.matches_with(get) && b.matches_with(get),
            Query::Or(a, b) => a.matches_with(get) || b.matches_with(get),
            Query::Not(q) => !q.matches_with(get),
        }
    }

    /// Keys fixed by `:eq` clauses combined only with `:and`. Aggregated output keeps
    /// exactly these tags (plus group-by keys).
    pub fn exact_keys(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        self.collect_exact(&mut out);
        out.sort();
        out.dedup();
        out
    }

    fn collect_exact<'a>(&'a self, out: &mut Vec<(&'a str, &'a str)>) {
        match self {
            Query::Eq(k, v) => out.push((k, v)),
            Query::And(a, b) => {
                a.collect_exact(out);
                b.collect_exact(out);
            }
            _ => {}
        }
    }
}

/// Escapes a literal so it reads back as one token: `,` `:` `(` `)`, `\`, edge spaces
/// and a `/` next to `*` (a comment marker) become `\uXXXX` as Atlas writes them.
pub(crate) fn escape_token(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let last = s.chars().count().saturating_sub(1);
    for (i, (at, c)) in s.char_indices().enumerate() {
        let edge_space = c.is_whitespace() && (i == 0 || i == last);
        let marker = crate::lexer::slash_in_marker(s, at);
        if matches!(c, ',' | ':' | '(' | ')' | '\\') || edge_space || marker || c.is_control() {
            out.push_str(&format!("\\u{:04X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

impl fmt::Display for Query {
    /// Prints canonical stack language, e.g. `name,cpu,:eq,nf.app,:has,:and`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kv = |f: &mut fmt::Formatter<'_>, k: &str, v: &str, w: &str| {
            write!(f, "{},{},:{w}", escape_token(k), escape_token(v))
        };
        match self {
            Query::True => f.write_str(":true"),
            Query::False => f.write_str(":false"),
            Query::Has(k) => write!(f, "{},:has", escape_token(k)),
            Query::Eq(k, v) => kv(f, k, v, "eq"),
            Query::Lt(k, v) => kv(f, k, v, "lt"),
            Query::Le(k, v) => kv(f, k, v, "le"),
            Query::Gt(k, v) => kv(f, k, v, "gt"),
            Query::Ge(k, v) => kv(f, k, v, "ge"),
            Query::Re(k, p) => {
                let w = if p.ignore_case() { "reic" } else { "re" };
                kv(f, k, p.source(), w)
            }
            Query::In(k, vs) => {
                write!(f, "{},(", escape_token(k))?;
                for v in vs {
                    write!(f, ",{}", escape_token(v))?;
                }
                f.write_str(",),:in")
            }
            Query::And(a, b) => write!(f, "{a},{b},:and"),
            Query::Or(a, b) => write!(f, "{a},{b},:or"),
            Query::Not(q) => write!(f, "{q},:not"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored_at_start() -> Result<(), PatternError> {
        let p = Pattern::try_new("foo", false)?;
        assert!(p.is_match("foobar"));
        assert!(!p.is_match("xfoo"));
        let p = Pattern::try_new("FOO", true)?;
        assert!(p.is_match("foo-1"));
        Ok(())
    }

    #[test]
    fn literal_prefix_stops_at_meta_and_quantifiers() -> Result<(), PatternError> {
        assert_eq!(Pattern::try_new("^abc.*", false)?.literal_prefix(), "abc");
        assert_eq!(Pattern::try_new("abcd*", false)?.literal_prefix(), "abc");
        assert_eq!(Pattern::try_new("ab|cd", false)?.literal_prefix(), "");
        assert_eq!(Pattern::try_new("abc", true)?.literal_prefix(), "");
        assert_eq!(Pattern::try_new(".*x", false)?.literal_prefix(), "");
        Ok(())
    }

    #[test]
    fn missing_key_never_matches_and_not_inverts() {
        let tags = [("name", "cpu")];
        assert!(!Query::eq("app", "www").matches(&tags));
        assert!(Query::eq("app", "www").not().matches(&tags));
        assert!(Query::Lt("name".into(), "d".into()).matches(&tags));
    }

    #[test]
    fn and_or_simplify_with_constants() {
        let q = Query::eq("a", "b");
        assert_eq!(q.clone().and(Query::True), q);
        assert_eq!(q.clone().or(Query::True), Query::True);
        assert_eq!(q.clone().and(Query::False), Query::False);
    }

    #[test]
    fn display_escapes_separators() {
        let q = Query::eq("name", "a,b:c");
        assert_eq!(q.to_string(), "name,a\\u002Cb\\u003Ac,:eq");
    }

    /// Found by the `parse` fuzz target: `:contains` of a value starting with `/` printed
    /// as the regex `.*/...`, whose `*/` the parser read as a comment close.
    #[test]
    fn printed_queries_never_contain_comment_markers() {
        let src = "\u{4}txNang,/\0\0\0xNaa:lt-:color\0\0\0\0\0\0],,,,,:contains";
        let parsed = crate::parse(src).unwrap_or_default();
        assert_eq!(parsed.len(), 1);
        let printed = parsed[0].to_string();
        assert!(
            !printed.contains("*/") && !printed.contains("/*"),
            "{printed}"
        );
        let again = crate::parse(&printed).unwrap_or_default();
        assert_eq!(again.len(), 1, "{printed}");
        assert_eq!(again[0].to_string(), printed);
        for value in ["/*x", "a*/", "*/*", "/"] {
            let printed = Query::eq("k", value).to_string();
            let back = crate::parse(&printed).unwrap_or_default();
            assert_eq!(back.len(), 1, "{printed}");
        }
        assert_eq!(Query::eq("path", "/api/v1").to_string(), "path,/api/v1,:eq");
    }
}

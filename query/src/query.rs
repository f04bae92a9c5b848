//! Tag queries: the `query` vocabulary of the stack language as a value.
//!
//! Semantics follow Atlas (`Query.scala`): every comparison is lexical, a clause on a key
//! the series lacks never matches, and regular expressions are anchored at the start.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use regex::Regex;

/// A regular expression of `:re`/`:reic`, anchored at the start as Atlas anchors it.
///
/// Atlas takes Java regexes. Patterns the linear-time `regex` engine accepts run there;
/// the others (look-around, backreferences, atomic groups) run on `fancy-regex`, a
/// backtracking engine, with a bound of [`BACKTRACK_LIMIT`] steps per value. A value that
/// needs more makes the pattern fail: it stops matching, and [`Pattern::check`] (called
/// once the scan is over) reports it, so the request fails with a 400 instead of holding
/// a core.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    ignore_case: bool,
    engine: Engine,
    /// Set once a value needed more than the backtracking bound; shared by clones.
    exhausted: Arc<AtomicBool>,
}

#[derive(Debug, Clone)]
enum Engine {
    Linear(Regex),
    Backtracking(fancy_regex::Regex),
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

/// Most backtracking steps one value may take on a pattern that needs the backtracking
/// engine (about a millisecond); fancy-regex's default is ten times that.
pub const BACKTRACK_LIMIT: usize = 100_000;

impl Pattern {
    /// Compiles `source`, anchored at the start; `ignore_case` for `:reic`.
    pub fn try_new(source: &str, ignore_case: bool) -> Result<Self, PatternError> {
        let anchored = format!("^(?:{source})");
        let refuse = |reason: String| PatternError {
            source_text: source.to_string(),
            reason,
        };
        let engine = match regex::RegexBuilder::new(&anchored)
            .case_insensitive(ignore_case)
            .size_limit(MAX_PATTERN_SIZE)
            .build()
        {
            Ok(re) => Engine::Linear(re),
            // Too big stays too big: the backtracking engine delegates the same parts.
            Err(e @ regex::Error::CompiledTooBig(_)) => return Err(refuse(e.to_string())),
            Err(linear) => Engine::Backtracking(
                fancy_regex::RegexBuilder::new(&anchored)
                    .case_insensitive(ignore_case)
                    .delegate_size_limit(MAX_PATTERN_SIZE)
                    .backtrack_limit(BACKTRACK_LIMIT)
                    .build()
                    .map_err(|e| match e {
                        // A part the backtracking engine hands to `regex` failed there: that
                        // engine's own message says what (e.g. an unknown `\p{..}` class).
                        fancy_regex::Error::CompileError(c)
                            if matches!(*c, fancy_regex::CompileError::InnerError(_)) =>
                        {
                            refuse(linear.to_string())
                        }
                        e => refuse(e.to_string()),
                    })?,
            ),
        };
        Ok(Pattern {
            source: source.to_string(),
            ignore_case,
            engine,
            exhausted: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Fails when some value needed more than [`BACKTRACK_LIMIT`] steps: the pattern
    /// stopped matching then, so an answer built with it would be incomplete.
    pub fn check(&self) -> Result<(), PatternError> {
        if self.exhausted.load(Ordering::Relaxed) {
            return Err(PatternError {
                source_text: self.source.clone(),
                reason: format!(
                    "a value needed more than {BACKTRACK_LIMIT} backtracking steps; \
                     simplify the pattern (nested repetition around look-around or \
                     backreferences)"
                ),
            });
        }
        Ok(())
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
        match &self.engine {
            Engine::Linear(re) => re.is_match(value),
            Engine::Backtracking(re) => {
                // Once over the bound, stop trying: the request fails anyway.
                if self.exhausted.load(Ordering::Relaxed) {
                    return false;
                }
                re.is_match(value).unwrap_or_else(|_| {
                    self.exhausted.store(true, Ordering::Relaxed);
                    false
                })
            }
        }
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

    /// Fails when a regular expression of the query gave up on a value (see
    /// [`Pattern::check`]); call it after matching, before trusting the result.
    pub fn check_patterns(&self) -> Result<(), PatternError> {
        match self {
            Query::Re(_, p) => p.check(),
            Query::And(a, b) | Query::Or(a, b) => {
                a.check_patterns()?;
                b.check_patterns()
            }
            Query::Not(q) => q.check_patterns(),
            _ => Ok(()),
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

    /// Java regex features the linear engine lacks run on the backtracking one.
    #[test]
    fn look_around_and_backreferences_are_supported() -> Result<(), PatternError> {
        let p = Pattern::try_new("4(?!04)", false)?;
        assert!(p.is_match("400") && p.is_match("429") && !p.is_match("404"));
        let p = Pattern::try_new("(?<=x)", false)?;
        assert!(!p.is_match("x"));
        let p = Pattern::try_new(r"(a)\1", true)?;
        assert!(p.is_match("AA") && !p.is_match("ab"));
        assert!(p.check().is_ok());
        // Java syntax neither engine knows is refused, naming what is wrong.
        let e = Pattern::try_new(r"\p{javaLowerCase}", false).err();
        assert!(e.is_some_and(|e| e.reason.contains("Unicode property not found")));
        Ok(())
    }

    /// Catastrophic backtracking stops at the bound: no match, and `check` names it.
    #[test]
    fn backtracking_is_bounded() -> Result<(), PatternError> {
        let p = Pattern::try_new("(?:(?=a)a|a)*b", false)?;
        let q = Query::Re("k".into(), p.clone());
        assert!(!q.matches(&[("k", "a".repeat(40))]));
        let e = q
            .check_patterns()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("backtracking steps"), "{e}");
        // Clones share the state: the pattern in the parsed expression sees it.
        assert!(p.check().is_err());
        // Nested repetition without look-around runs on the linear engine: no bound needed.
        let p = Pattern::try_new("(.*a){25}", false)?;
        assert!(p.is_match(&"a".repeat(1000)) && p.check().is_ok());
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

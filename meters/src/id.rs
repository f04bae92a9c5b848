//! Meter identity: a name plus a set of tags sorted by key.

use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

/// Identity of a meter: a name and tags sorted by key, immutable and cheap to clone.
///
/// Names, keys and values are sanitised on construction as Spectator's Atlas registry does:
/// every character outside `-._A-Za-z0-9~^` becomes `_` (one `_` per UTF-16 unit, so a
/// character outside the Basic Multilingual Plane becomes `__`). Keys are unique; setting an
/// existing key replaces its value, and the key `name` sets the name.
///
/// ```
/// use sextant_meters::Id;
/// let id = Id::new("server.requests").with_tag("status", "200").with_tag("path", "/api v1");
/// assert_eq!(id.tag("path"), Some("_api_v1"));
/// assert_eq!(id.tags().map(|(k, _)| k).collect::<Vec<_>>(), ["path", "status"]);
/// ```
#[derive(Clone)]
pub struct Id(Arc<IdInner>);

struct IdInner {
    name: Box<str>,
    tags: Box<[(Box<str>, Box<str>)]>,
    // Cached so registry lookups hash eight bytes instead of every string.
    hash: u64,
}

impl Id {
    /// An id with the given name and no tags.
    #[must_use]
    pub fn new(name: impl AsRef<str>) -> Self {
        Self::from_parts(sanitize(name.as_ref()).into(), Vec::new())
    }

    /// A new id with `key=value` added, replacing any existing value for `key`.
    #[must_use]
    pub fn with_tag(&self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.with_tags([(key, value)])
    }

    /// A new id with all the given tags added; for a repeated key the last value wins.
    #[must_use]
    pub fn with_tags<I, K, V>(&self, tags: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut name: Box<str> = self.0.name.clone();
        let mut out: Vec<(Box<str>, Box<str>)> = self.0.tags.to_vec();
        for (k, v) in tags {
            let k = sanitize(k.as_ref());
            let v: Box<str> = sanitize(v.as_ref()).into();
            if k == "name" {
                name = v;
                continue;
            }
            match out.binary_search_by(|(ek, _)| (**ek).cmp(&*k)) {
                Ok(i) => out[i].1 = v,
                Err(i) => out.insert(i, (k.into(), v)),
            }
        }
        Self::from_parts(name, out)
    }

    /// Adds `key=value` only if `key` is absent, as Spectator's `addIfMissing` does.
    pub(crate) fn with_tag_if_missing(&self, key: &str, value: &str) -> Self {
        if self.tag(key).is_some() {
            self.clone()
        } else {
            self.with_tag(key, value)
        }
    }

    fn from_parts(name: Box<str>, tags: Vec<(Box<str>, Box<str>)>) -> Self {
        let mut h = IdContentHasher::default();
        name.hash(&mut h);
        tags.hash(&mut h);
        Self(Arc::new(IdInner {
            name,
            tags: tags.into_boxed_slice(),
            hash: h.finish(),
        }))
    }

    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The tags, sorted by key.
    pub fn tags(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.0.tags.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The value of tag `key`, if present.
    #[must_use]
    pub fn tag(&self, key: &str) -> Option<&str> {
        let tags = &self.0.tags;
        tags.binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*tags[i].1)
    }

    pub(crate) fn cached_hash(&self) -> u64 {
        self.0.hash
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.hash == other.0.hash
                && self.0.name == other.0.name
                && self.0.tags == other.0.tags)
    }
}

impl Eq for Id {}

impl Hash for Id {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `name:k1=v1,k2=v2`
impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.name)?;
        for (i, (k, v)) in self.tags().enumerate() {
            f.write_str(if i == 0 { ":" } else { "," })?;
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl From<&str> for Id {
    fn from(name: &str) -> Self {
        Id::new(name)
    }
}

impl From<String> for Id {
    fn from(name: String) -> Self {
        Id::new(name)
    }
}

impl From<&Id> for Id {
    fn from(id: &Id) -> Self {
        id.clone()
    }
}

// SipHash with fixed keys: ids hash the same in every process, and the cost is paid once.
type IdContentHasher = std::collections::hash_map::DefaultHasher;

/// Hasher for maps keyed by [`Id`]: passes the cached hash through.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only reached if something other than an Id is hashed; fold it in rather than panic.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type IdBuildHasher = BuildHasherDefault<IdHasher>;

/// Whether `c` is in Atlas's default valid set `-._A-Za-z0-9~^`.
#[must_use]
pub fn is_valid_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '^')
}

/// Replaces each character outside `-._A-Za-z0-9~^` with `_` (one per UTF-16 unit, as
/// Spectator's `AsciiSet.replaceNonMembers` works on Java chars).
///
/// ```
/// assert_eq!(sextant_meters::sanitize("a b/c~d"), "a_b_c~d");
/// assert_eq!(sextant_meters::sanitize("é😀"), "___");
/// ```
#[must_use]
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if s.chars().all(is_valid_tag_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_valid_tag_char(c) {
            out.push(c);
        } else {
            for _ in 0..c.len_utf16() {
                out.push('_');
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn tags_are_sorted_and_last_wins() {
        let id = Id::new("n").with_tags([("b", "1"), ("a", "2"), ("b", "3")]);
        let tags: Vec<_> = id.tags().collect();
        assert_eq!(tags, [("a", "2"), ("b", "3")]);
    }

    #[test]
    fn with_tag_returns_new_id_and_leaves_original() {
        let a = Id::new("n");
        let b = a.with_tag("k", "v");
        assert_eq!(a.tags().len(), 0);
        assert_eq!(b.tag("k"), Some("v"));
        assert_ne!(a, b);
    }

    #[test]
    fn equal_ids_built_differently_hash_equal() {
        let a = Id::new("n").with_tag("x", "1").with_tag("y", "2");
        let b = Id::new("n").with_tag("y", "2").with_tag("x", "1");
        assert_eq!(a, b);
        let mut m: HashMap<Id, i32, IdBuildHasher> = HashMap::default();
        m.insert(a, 1);
        assert_eq!(m.get(&b), Some(&1));
    }

    #[test]
    fn sanitising_follows_spectator() {
        assert_eq!(sanitize("abc-._~^XYZ019"), "abc-._~^XYZ019");
        assert!(matches!(sanitize("ok"), Cow::Borrowed(_)));
        assert_eq!(sanitize("a b"), "a_b");
        assert_eq!(sanitize("a=b,c:d"), "a_b_c_d");
        assert_eq!(sanitize("é"), "_");
        // Non-BMP: two UTF-16 units, two underscores.
        assert_eq!(sanitize("x😀y"), "x__y");
        let id = Id::new("my name").with_tag("k y", "v/1");
        assert_eq!(id.name(), "my_name");
        assert_eq!(id.tag("k_y"), Some("v_1"));
    }

    #[test]
    fn keys_colliding_after_sanitising_dedup_last_wins() {
        let id = Id::new("n").with_tags([("a b", "1"), ("a/b", "2")]);
        assert_eq!(id.tags().collect::<Vec<_>>(), [("a_b", "2")]);
    }

    #[test]
    fn name_tag_sets_the_name() {
        let id = Id::new("old").with_tag("name", "new");
        assert_eq!(id.name(), "new");
        assert_eq!(id.tags().len(), 0);
    }

    #[test]
    fn display_lists_name_and_tags() {
        let id = Id::new("n").with_tag("b", "2").with_tag("a", "1");
        assert_eq!(id.to_string(), "n:a=1,b=2");
    }
}

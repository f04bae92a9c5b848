//! The inverted tag index: `key=value → series ids` and `key → series ids` as roaring
//! bitmaps over sorted key and value dictionaries.
//!
//! Unlike Atlas, which rebuilds its index every 40 s, this index is updated in place when a
//! series is created, so a series is queryable as soon as its publish request returns.
//! The dictionaries are `BTreeMap`s so the lexical clauses (`:lt`, `:ge`, ...) and regexes
//! with a literal prefix scan only the range of values they can match.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::{Bound, Deref};
use std::sync::Arc;

use roaring::RoaringBitmap;
use sextant_query::Query;

/// One `key=value` pair, shared by every series that carries it: a series holds one
/// pointer per tag (8 bytes) rather than two string pointers (32), which at seven tags
/// is 168 bytes per series.
pub type Tag = Arc<(Arc<str>, Arc<str>)>;

/// A value in a key's dictionary: the shared pair, ordered and looked up by its value.
#[derive(Debug)]
struct ValueKey(Tag);

impl Deref for ValueKey {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0 .1
    }
}

impl Borrow<str> for ValueKey {
    fn borrow(&self) -> &str {
        self
    }
}

impl PartialEq for ValueKey {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for ValueKey {}

impl PartialOrd for ValueKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ValueKey {
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

/// The values of one tag key and who has them.
#[derive(Debug, Default)]
struct KeyPostings {
    /// Every series that has the key.
    all: RoaringBitmap,
    /// Series per value, sorted by value.
    values: BTreeMap<ValueKey, RoaringBitmap>,
}

/// A key or value with the number of matching series that carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCount {
    /// The key or value.
    pub name: String,
    /// How many of the matching series carry it.
    pub count: u64,
}

/// The inverted index. Not internally synchronised: the store guards it with one lock,
/// taken for writing only when a series is created or removed.
#[derive(Debug, Default)]
pub struct TagIndex {
    all: RoaringBitmap,
    keys: BTreeMap<Arc<str>, KeyPostings>,
}

impl TagIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of indexed series.
    pub fn len(&self) -> u64 {
        self.all.len()
    }

    /// True when no series is indexed.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Returns the shared pair for `key=value`, reusing the index's own so every series
    /// that carries a tag points at one allocation.
    pub fn intern(&self, key: &str, value: &str) -> Tag {
        match self.keys.get_key_value(key) {
            Some((k, postings)) => match postings.values.get_key_value(value) {
                Some((v, _)) => v.0.clone(),
                None => Arc::new((k.clone(), Arc::from(value))),
            },
            None => Arc::new((Arc::from(key), Arc::from(value))),
        }
    }

    /// Adds series `id` with `tags`.
    pub fn insert(&mut self, id: u32, tags: &[Tag]) {
        self.all.insert(id);
        for tag in tags {
            let postings = self.keys.entry(tag.0.clone()).or_default();
            postings.all.insert(id);
            postings
                .values
                .entry(ValueKey(tag.clone()))
                .or_default()
                .insert(id);
        }
    }

    /// Removes series `id`; keys and values no series carries any more are dropped.
    pub fn remove(&mut self, id: u32, tags: &[Tag]) {
        self.all.remove(id);
        for tag in tags {
            let (k, v) = &**tag;
            let Some(postings) = self.keys.get_mut(k.as_ref()) else {
                continue;
            };
            postings.all.remove(id);
            if let Some(ids) = postings.values.get_mut(v.as_ref()) {
                ids.remove(id);
                if ids.is_empty() {
                    postings.values.remove(v.as_ref());
                }
            }
            if postings.all.is_empty() {
                self.keys.remove(k.as_ref());
            }
        }
    }

    /// The ids of the series `query` selects.
    pub fn find(&self, query: &Query) -> RoaringBitmap {
        match query {
            Query::True => self.all.clone(),
            Query::False => RoaringBitmap::new(),
            Query::Has(k) => self
                .keys
                .get(k.as_str())
                .map(|p| p.all.clone())
                .unwrap_or_default(),
            Query::Eq(k, v) => self.value_ids(k, v).cloned().unwrap_or_default(),
            Query::In(k, vs) => {
                let mut out = RoaringBitmap::new();
                for v in vs {
                    if let Some(ids) = self.value_ids(k, v) {
                        out |= ids;
                    }
                }
                out
            }
            Query::Lt(k, v) => self.range(k, Bound::Unbounded, Bound::Excluded(v.as_str())),
            Query::Le(k, v) => self.range(k, Bound::Unbounded, Bound::Included(v.as_str())),
            Query::Gt(k, v) => self.range(k, Bound::Excluded(v), Bound::Unbounded),
            Query::Ge(k, v) => self.range(k, Bound::Included(v), Bound::Unbounded),
            Query::Re(k, pattern) => {
                let mut out = RoaringBitmap::new();
                let Some(postings) = self.keys.get(k.as_str()) else {
                    return out;
                };
                let prefix = pattern.literal_prefix();
                let candidates = postings
                    .values
                    .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
                    .take_while(|(v, _)| v.starts_with(prefix));
                for (v, ids) in candidates {
                    if pattern.is_match(v) {
                        out |= ids;
                    }
                }
                out
            }
            Query::And(a, b) => match (a.as_ref(), b.as_ref()) {
                // `x AND NOT y` is a difference: no need to build the complement of y.
                (q, Query::Not(n)) | (Query::Not(n), q) => {
                    let mut ids = self.find(q);
                    if !ids.is_empty() {
                        ids -= self.find(n);
                    }
                    ids
                }
                _ => {
                    let mut ids = self.find(a);
                    if !ids.is_empty() {
                        ids &= self.find(b);
                    }
                    ids
                }
            },
            Query::Or(a, b) => self.find(a) | self.find(b),
            Query::Not(q) => &self.all - self.find(q),
        }
    }

    /// Number of series carrying `key=value`.
    pub fn count(&self, key: &str, value: &str) -> u64 {
        self.value_ids(key, value).map_or(0, RoaringBitmap::len)
    }

    fn value_ids(&self, key: &str, value: &str) -> Option<&RoaringBitmap> {
        self.keys.get(key)?.values.get(value)
    }

    fn range(&self, key: &str, lo: Bound<&str>, hi: Bound<&str>) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        let Some(postings) = self.keys.get(key) else {
            return out;
        };
        if let (Bound::Excluded(a) | Bound::Included(a), Bound::Excluded(b) | Bound::Included(b)) =
            (lo, hi)
        {
            if a > b {
                return out;
            }
        }
        for (_, ids) in postings.values.range::<str, _>((lo, hi)) {
            out |= ids;
        }
        out
    }

    /// Keys carried by at least one series in `ids`, sorted, strictly after `after`, at
    /// most `limit` of them, each with the number of series in `ids` that carry it.
    pub fn keys(&self, ids: &RoaringBitmap, after: Option<&str>, limit: usize) -> Vec<TagCount> {
        let lo = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.keys
            .range::<str, _>((lo, Bound::Unbounded))
            .filter_map(|(k, p)| {
                let count = p.all.intersection_len(ids);
                (count > 0).then(|| TagCount {
                    name: k.to_string(),
                    count,
                })
            })
            .take(limit)
            .collect()
    }

    /// Values of `key` carried by at least one series in `ids`, sorted, strictly after
    /// `after`, at most `limit`, each with its number of series in `ids`.
    pub fn values(
        &self,
        key: &str,
        ids: &RoaringBitmap,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<TagCount> {
        let Some(postings) = self.keys.get(key) else {
            return Vec::new();
        };
        let lo = after.map_or(Bound::Unbounded, Bound::Excluded);
        postings
            .values
            .range::<str, _>((lo, Bound::Unbounded))
            .filter_map(|(v, p)| {
                let count = p.intersection_len(ids);
                (count > 0).then(|| TagCount {
                    name: v.to_string(),
                    count,
                })
            })
            .take(limit)
            .collect()
    }

    /// Approximate heap bytes held by the index (bitmaps and dictionaries).
    pub fn heap_bytes(&self) -> usize {
        // A BTreeMap entry costs about its key and value plus node overhead; the
        // serialized size of a bitmap is a close estimate of its in-memory size.
        const ENTRY_OVERHEAD: usize = 48;
        let mut total = self.all.serialized_size();
        for (k, p) in &self.keys {
            total += k.len() + ENTRY_OVERHEAD + p.all.serialized_size();
            for (v, ids) in &p.values {
                total += v.len() + ENTRY_OVERHEAD + ids.serialized_size();
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sextant_query::Pattern;

    fn tags(pairs: &[(&str, &str)]) -> Vec<Tag> {
        pairs
            .iter()
            .map(|(k, v)| Arc::new((Arc::from(*k), Arc::from(*v))))
            .collect()
    }

    fn ids(b: &RoaringBitmap) -> Vec<u32> {
        b.iter().collect()
    }

    fn sample() -> TagIndex {
        let mut idx = TagIndex::new();
        idx.insert(
            0,
            &tags(&[("name", "cpu"), ("app", "www"), ("node", "i-1")]),
        );
        idx.insert(
            1,
            &tags(&[("name", "cpu"), ("app", "api"), ("node", "i-2")]),
        );
        idx.insert(2, &tags(&[("name", "mem"), ("app", "www")]));
        idx
    }

    #[test]
    fn series_with_a_tag_share_one_pair() {
        let idx = sample();
        let a = idx.intern("app", "www");
        assert!(Arc::ptr_eq(&a, &idx.intern("app", "www")));
        assert_eq!((&*a.0, &*a.1), ("app", "www"));
        // A new value of a known key shares the key's string.
        let b = idx.intern("app", "new");
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert!(
            !Arc::ptr_eq(&b, &idx.intern("app", "new")),
            "not indexed yet"
        );
    }

    #[test]
    fn clauses_map_to_bitmaps() -> Result<(), Box<dyn std::error::Error>> {
        let idx = sample();
        assert_eq!(ids(&idx.find(&Query::eq("name", "cpu"))), [0, 1]);
        assert_eq!(ids(&idx.find(&Query::has("node"))), [0, 1]);
        assert_eq!(ids(&idx.find(&Query::has("node").not())), [2]);
        let re = Query::Re("app".into(), Pattern::try_new("w.*", false)?);
        assert_eq!(ids(&idx.find(&re)), [0, 2]);
        let q = Query::eq("name", "cpu").and(Query::eq("app", "www").not());
        assert_eq!(ids(&idx.find(&q)), [1]);
        assert_eq!(ids(&idx.find(&Query::Lt("app".into(), "b".into()))), [1]);
        assert_eq!(ids(&idx.find(&Query::Gt("app".into(), "b".into()))), [0, 2]);
        Ok(())
    }

    #[test]
    fn remove_drops_empty_values_and_keys() {
        let mut idx = sample();
        idx.remove(2, &tags(&[("name", "mem"), ("app", "www")]));
        let all = idx.find(&Query::True);
        let names: Vec<_> = idx.values("name", &all, None, 10);
        assert_eq!(names.len(), 1);
        assert_eq!(idx.len(), 2);
    }

    #[test]
    fn keys_and_values_page_after_cursor() {
        let idx = sample();
        let all = idx.find(&Query::True);
        let keys: Vec<_> = idx
            .keys(&all, None, 2)
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(keys, ["app", "name"]);
        let keys: Vec<_> = idx
            .keys(&all, Some("name"), 10)
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(keys, ["node"]);
        let www = idx.find(&Query::eq("app", "www"));
        let vals = idx.values("name", &www, None, 10);
        assert_eq!(vals.len(), 2);
        assert!(vals.iter().all(|t| t.count == 1));
    }

    const KEYS: [&str; 3] = ["a", "b", "c"];
    const VALUES: [&str; 4] = ["1", "10", "2", "x"];

    fn arb_query() -> impl Strategy<Value = Query> {
        let key = prop::sample::select(KEYS.to_vec());
        let value = prop::sample::select(VALUES.to_vec());
        let leaf = prop_oneof![
            Just(Query::True),
            Just(Query::False),
            key.clone().prop_map(Query::has),
            (key.clone(), value.clone()).prop_map(|(k, v)| Query::eq(k, v)),
            (key.clone(), value.clone()).prop_map(|(k, v)| Query::Lt(k.into(), v.into())),
            (key.clone(), value.clone()).prop_map(|(k, v)| Query::Ge(k.into(), v.into())),
            (key.clone(), value.clone(), value.clone())
                .prop_map(|(k, a, b)| Query::In(k.into(), vec![a.into(), b.into()])),
            (key, value).prop_filter_map("pattern", |(k, v)| {
                Pattern::try_new(&format!("{v}.*"), false)
                    .ok()
                    .map(|p| Query::Re(k.into(), p))
            }),
        ];
        leaf.prop_recursive(3, 16, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Query::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Query::Or(Box::new(a), Box::new(b))),
                inner.prop_map(|q| Query::Not(Box::new(q))),
            ]
        })
    }

    fn arb_series() -> impl Strategy<Value = Vec<Vec<(String, String)>>> {
        let tag = (
            prop::sample::select(KEYS.to_vec()),
            prop::sample::select(VALUES.to_vec()),
        );
        prop::collection::vec(prop::collection::btree_map(tag.0, tag.1, 0..3), 0..12).prop_map(
            |series| {
                series
                    .into_iter()
                    .map(|m| {
                        m.into_iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect()
                    })
                    .collect()
            },
        )
    }

    proptest! {
        /// The bitmap evaluation agrees with checking every series one by one.
        #[test]
        fn index_agrees_with_naive_scan(series in arb_series(), q in arb_query()) {
            let mut idx = TagIndex::new();
            for (id, t) in series.iter().enumerate() {
                let t: Vec<Tag> = t.iter().map(|(k, v)| idx.intern(k, v)).collect();
                idx.insert(id as u32, &t);
            }
            let expected: Vec<u32> = series
                .iter()
                .enumerate()
                .filter(|(_, t)| q.matches(t))
                .map(|(id, _)| id as u32)
                .collect();
            prop_assert_eq!(ids(&idx.find(&q)), expected);
        }
    }
}

//! Tag listings over a subset of the series a query selects (a cluster node lists the
//! partitions it was asked for, not every series it holds).

use sextant_query::Query;

use super::Store;
use crate::index::TagCount;

impl Store {
    /// Tag keys (`key` = `None`) or the values of `key` among the series `query` selects
    /// whose tags `keep` accepts, after `after`, at most `limit`; see
    /// [`crate::TagIndex::keys`]. Walks the selected series' tags: for cluster listings.
    pub fn tag_names_where(
        &self,
        query: &Query,
        key: Option<&str>,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&[(&str, &str)]) -> bool,
    ) -> Vec<TagCount> {
        let mut ids = self.find(query);
        let dropped: Vec<u32> = ids
            .iter()
            .filter(|&id| {
                self.series(id)
                    .is_none_or(|series| !keep(&series.tag_pairs()))
            })
            .collect();
        for id in dropped {
            ids.remove(id);
        }
        let index = self.index.read();
        match key {
            None => index.keys(&ids, after, limit),
            Some(key) => index.values(key, &ids, after, limit),
        }
    }
}

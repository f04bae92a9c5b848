//! Scans and tag listings over a subset of the series a query selects: a cluster node
//! answers for the partitions it was asked for, not every series it holds.

use sextant_query::{DatabaseError, Query, ScanRequest, SeriesVisitor};

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

impl Store {
    /// [`Database::scan`] of only the series whose tags `keep` accepts: the others are
    /// never decoded (a cluster node asked for some of its partitions skips the rest at
    /// the cost of a look at their tags). The series limit counts every match, as `scan`.
    pub fn scan_where(
        &self,
        request: &ScanRequest<'_>,
        keep: impl Fn(&[(&str, &str)]) -> bool,
        visit: &mut SeriesVisitor<'_>,
    ) -> Result<(), DatabaseError> {
        let ids = self.find(request.query);
        let limit = self.config.max_series_per_query;
        if ids.len() > limit as u64 {
            return Err(DatabaseError::TooManySeries {
                limit,
                matched: ids.len() as usize,
            });
        }
        let start = request.start - request.start.rem_euclid(self.layout.step);
        let mut values = vec![f64::NAN; request.len(self.layout.step)];
        let mut scratch = vec![0.0; self.layout.block_len];
        for id in &ids {
            let Some(series) = self.series(id) else {
                continue;
            };
            let tags = series.tag_pairs();
            if !keep(&tags) {
                continue;
            }
            series
                .data
                .lock()
                .read_into(&self.layout, start, &mut values, &mut scratch);
            visit(&tags, &values)?;
        }
        Ok(())
    }
}

//! The store: every series, its data and the tag index, safe for many publishers and
//! readers at once.
//!
//! Locks, and what each guards:
//! - `by_identity` (dashmap, sharded): identity hash → series. Publishing to an existing
//!   series takes one shard read lock and the series' own mutex: no global lock.
//! - `slots` (sharded `RwLock`s): id → series, for readers walking index results.
//! - `index` (`RwLock`): the tag index; written only when a series is created or removed.
//! - `Series::data` (`Mutex`): one series' blocks.
//!
//! Order when several are held: identity shard → index → slot shard. Readers take the index
//! read lock only to compute the matching ids, then release it.

use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
use roaring::RoaringBitmap;
use rustc_hash::FxHasher;
use sextant_query::{Database, DatabaseError, Query, ScanRequest, SeriesVisitor};

use crate::index::{Tag, TagCount, TagIndex};
use crate::normalize::{DsType, Normalizer};
use crate::series::{Layout, Series, SeriesData, WriteOutcome};

/// Number of slot shards; a power of two so the shard is a mask of the id.
const SLOT_SHARDS: usize = 64;

/// Settings of the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Primary step, ms.
    pub step_ms: i64,
    /// Steps per block.
    pub block_len: usize,
    /// How long data is kept, ms.
    pub retention_ms: i64,
    /// Samples further than this from now (past or future) are refused, ms.
    pub max_age_ms: i64,
    /// Most series one query may match.
    pub max_series_per_query: usize,
    /// Most series the store holds; publishing a new series beyond it is refused.
    pub max_series: usize,
    /// Most series with one `name`, so one runaway metric cannot take the whole store;
    /// 0 turns the check off.
    pub max_series_per_name: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            step_ms: 60_000,
            block_len: 60,
            retention_ms: 6 * 3_600_000,
            max_age_ms: 60_000,
            max_series_per_query: 2_000_000,
            max_series: 5_000_000,
            max_series_per_name: 1_000_000,
        }
    }
}

/// Why a datapoint was not stored. The messages are returned to the publisher.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Reject {
    /// The sample is older than the open window.
    #[error("data is too old: timestamp {timestamp} is {age_ms} ms before now, the limit is {max_age_ms} ms")]
    TooOld {
        /// The sample's timestamp.
        timestamp: i64,
        /// How far before now it is.
        age_ms: i64,
        /// The configured window.
        max_age_ms: i64,
    },
    /// The sample is too far ahead of the server's clock.
    #[error("data is from the future: timestamp {timestamp} is {ahead_ms} ms after now, the limit is {max_age_ms} ms")]
    FromFuture {
        /// The sample's timestamp.
        timestamp: i64,
        /// How far after now it is.
        ahead_ms: i64,
        /// The configured window.
        max_age_ms: i64,
    },
    /// The store holds as many series as it may.
    #[error("series limit reached: the store holds {limit} series and cannot add another")]
    SeriesLimit {
        /// The configured limit.
        limit: usize,
    },
    /// As many series as allowed already carry this datapoint's `name`.
    #[error("series limit for name \"{name}\" reached: {limit} series have this name and no new one is added")]
    SeriesPerNameLimit {
        /// The `name` tag of the refused datapoint.
        name: String,
        /// The configured limit.
        limit: usize,
    },
}

/// Counters of what the store did, for `/api/v1/stats`.
#[derive(Debug, Default)]
pub struct StoreCounters {
    /// Samples stored.
    pub accepted: AtomicU64,
    /// Samples refused as too old.
    pub too_old: AtomicU64,
    /// Samples refused as from the future.
    pub from_future: AtomicU64,
    /// Samples refused by the series limit.
    pub series_limit: AtomicU64,
    /// Samples refused by the per-name series limit.
    pub series_per_name_limit: AtomicU64,
    /// Samples ignored by normalisation (duplicates, out of order, a counter's first).
    pub ignored: AtomicU64,
    /// Samples that aimed at a sealed block.
    pub late: AtomicU64,
    /// Series created.
    pub series_created: AtomicU64,
    /// Series expired.
    pub series_expired: AtomicU64,
    /// Blocks sealed.
    pub blocks_sealed: AtomicU64,
}

/// A point-in-time summary of the store.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoreStats {
    /// Live series.
    pub series: u64,
    /// Sealed blocks.
    pub sealed_blocks: u64,
    /// Bytes of encoded sealed blocks.
    pub sealed_bytes: u64,
    /// Estimated heap bytes of series data, tags and index.
    pub memory_bytes: u64,
}

/// One shard of the id → series table; a freed id leaves `None` until reused.
type SlotShard = Vec<Option<Arc<Series>>>;

/// The in-memory time-series store.
pub struct Store {
    config: StoreConfig,
    layout: Layout,
    by_identity: DashMap<u128, Arc<Series>, BuildHasherDefault<FxHasher>>,
    slots: Box<[RwLock<SlotShard>]>,
    index: RwLock<TagIndex>,
    free_ids: Mutex<Vec<u32>>,
    next_id: AtomicU32,
    counters: StoreCounters,
}

/// The identity of a series: a 128-bit hash of its sorted tags. Atlas identifies series
/// by the SHA-1 of the same text; at a million series a collision has a probability
/// around 1e-27.
pub fn identity<K: AsRef<str>, V: AsRef<str>>(tags: &[(K, V)]) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (k, v) in tags {
        // 0xFF never occurs in UTF-8, so no two tag lists hash the same bytes.
        h.update(k.as_ref().as_bytes());
        h.update(&[0xFF]);
        h.update(v.as_ref().as_bytes());
        h.update(&[0xFF, 0xFF]);
    }
    h.digest128()
}

impl Store {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Self {
        let layout = Layout {
            step: config.step_ms.max(1),
            // The codec refuses longer blocks; a bad setting must not panic at sealing.
            block_len: config.block_len.clamp(1, sextant_codec::MAX_BLOCK_LEN),
        };
        Store {
            layout,
            config,
            by_identity: DashMap::default(),
            slots: (0..SLOT_SHARDS).map(|_| RwLock::new(Vec::new())).collect(),
            index: RwLock::new(TagIndex::new()),
            free_ids: Mutex::new(Vec::new()),
            next_id: AtomicU32::new(0),
            counters: StoreCounters::default(),
        }
    }

    /// The store's settings.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// What the store has done so far.
    pub fn counters(&self) -> &StoreCounters {
        &self.counters
    }

    /// Stores one sample of the series with `tags` (sorted by key, unique keys, already
    /// validated) taken at `timestamp` (epoch ms), checking its age against `now`.
    pub fn ingest<K: AsRef<str>, V: AsRef<str>>(
        &self,
        tags: &[(K, V)],
        timestamp: i64,
        value: f64,
        now: i64,
    ) -> Result<(), Reject> {
        self.check_age(timestamp, now)?;
        self.write(tags, timestamp, value)
    }

    /// The age check of [`Store::ingest`] alone, counting refusals the same way: the
    /// write-ahead path checks before logging, then applies with [`Store::write`].
    pub fn check_age(&self, timestamp: i64, now: i64) -> Result<(), Reject> {
        let max_age_ms = self.config.max_age_ms;
        let age = now.saturating_sub(timestamp);
        if age > max_age_ms {
            self.counters.too_old.fetch_add(1, Ordering::Relaxed);
            return Err(Reject::TooOld {
                timestamp,
                age_ms: age,
                max_age_ms,
            });
        }
        if -age > max_age_ms {
            self.counters.from_future.fetch_add(1, Ordering::Relaxed);
            return Err(Reject::FromFuture {
                timestamp,
                ahead_ms: -age,
                max_age_ms,
            });
        }
        Ok(())
    }

    /// Stores one sample without the age check: for backfilling and replay.
    pub fn write<K: AsRef<str>, V: AsRef<str>>(
        &self,
        tags: &[(K, V)],
        timestamp: i64,
        value: f64,
    ) -> Result<(), Reject> {
        self.write_keyed(identity(tags), tags, timestamp, value)
    }

    /// [`Store::write`] for a caller that already has the series' [`identity`] (replay).
    pub fn write_keyed<K: AsRef<str>, V: AsRef<str>>(
        &self,
        key: u128,
        tags: &[(K, V)],
        timestamp: i64,
        value: f64,
    ) -> Result<(), Reject> {
        let outcome = match self.by_identity.get(&key) {
            Some(series) => series.data.lock().write(&self.layout, timestamp, value),
            None => {
                let series = self.create(key, tags)?;
                let outcome = series.data.lock().write(&self.layout, timestamp, value);
                outcome
            }
        };
        let counter = match outcome {
            WriteOutcome::Stored => &self.counters.accepted,
            WriteOutcome::Ignored => &self.counters.ignored,
            WriteOutcome::Sealed => &self.counters.late,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn create<K: AsRef<str>, V: AsRef<str>>(
        &self,
        key: u128,
        tags: &[(K, V)],
    ) -> Result<Arc<Series>, Reject> {
        // Checked before taking the entry: counting the map's length needs every shard,
        // including the one the entry would hold. Concurrent creators may overshoot the
        // limit by at most their number.
        if self.by_identity.len() >= self.config.max_series {
            self.counters.series_limit.fetch_add(1, Ordering::Relaxed);
            return Err(Reject::SeriesLimit {
                limit: self.config.max_series,
            });
        }
        // The entry holds the identity shard's write lock, so two publishers of a new
        // series cannot both create it.
        let entry = self.by_identity.entry(key);
        if let dashmap::Entry::Occupied(e) = &entry {
            return Ok(e.get().clone());
        }
        let dstype = DsType::from_tag(
            tags.iter()
                .find(|(k, _)| k.as_ref() == "atlas.dstype")
                .map(|(_, v)| v.as_ref()),
        );
        let mut index = self.index.write();
        // Under the index lock, which every creator takes, so unlike the store-wide limit
        // this one is exact; the count is one bitmap's length.
        let limit = self.config.max_series_per_name;
        if let Some((_, name)) = tags.iter().find(|(k, _)| k.as_ref() == "name") {
            if limit > 0 && index.count("name", name.as_ref()) >= limit as u64 {
                self.counters
                    .series_per_name_limit
                    .fetch_add(1, Ordering::Relaxed);
                return Err(Reject::SeriesPerNameLimit {
                    name: name.as_ref().to_string(),
                    limit,
                });
            }
        }
        let id = self
            .free_ids
            .lock()
            .pop()
            .unwrap_or_else(|| self.next_id.fetch_add(1, Ordering::Relaxed));
        let data = SeriesData::new(Normalizer::new(dstype));
        let series = self.install(&mut index, id, tags, data);
        drop(index);
        entry.or_insert(series.clone());
        self.counters.series_created.fetch_add(1, Ordering::Relaxed);
        Ok(series)
    }

    /// Adds a series read back from a checkpoint under its saved `id`. Refuses (with the
    /// reason) an id or a tag set that is already present: the checkpoint is then damaged.
    /// Call [`Store::finish_restore`] once every series is in.
    pub fn restore<K: AsRef<str>, V: AsRef<str>>(
        &self,
        id: u32,
        tags: &[(K, V)],
        data: SeriesData,
    ) -> Result<(), String> {
        let key = identity(tags);
        let entry = self.by_identity.entry(key);
        if let dashmap::Entry::Occupied(_) = &entry {
            return Err(format!("series {id} is saved twice"));
        }
        let mut index = self.index.write();
        if self.series(id).is_some() {
            return Err(format!("series id {id} is used twice"));
        }
        let series = self.install(&mut index, id, tags, data);
        drop(index);
        entry.or_insert(series);
        self.next_id
            .fetch_max(id.saturating_add(1), Ordering::Relaxed);
        Ok(())
    }

    /// Makes a new series `id` reachable by id and by tags; the caller holds the index's
    /// write lock (`index`) and the identity entry, and adds the series to the map.
    fn install<K: AsRef<str>, V: AsRef<str>>(
        &self,
        index: &mut TagIndex,
        id: u32,
        tags: &[(K, V)],
        data: SeriesData,
    ) -> Arc<Series> {
        let shared: Box<[Tag]> = tags
            .iter()
            .map(|(k, v)| index.intern(k.as_ref(), v.as_ref()))
            .collect();
        let series = Arc::new(Series {
            id,
            tags: shared,
            data: Mutex::new(data),
        });
        {
            let (shard, pos) = slot_of(id);
            let mut slots = self.slots[shard].write();
            if slots.len() <= pos {
                slots.resize(pos + 1, None);
            }
            slots[pos] = Some(series.clone());
        }
        index.insert(id, &series.tags);
        series
    }

    /// After [`Store::restore`]: the ids below the highest restored one that no series
    /// holds become free for new series.
    pub fn finish_restore(&self) {
        let next = self.next_id.load(Ordering::Relaxed);
        let mut free = self.free_ids.lock();
        free.clear();
        // Reused from the top of the stack: push high ids first so low ones go first.
        for id in (0..next).rev() {
            if self.series(id).is_none() {
                free.push(id);
            }
        }
    }

    /// The block geometry.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Number of shards [`Store::shard_series`] walks.
    pub fn shard_count(&self) -> usize {
        self.slots.len()
    }

    /// The series of one shard, for walks that must not hold the shard's lock (checkpoints).
    pub fn shard_series(&self, shard: usize) -> Vec<Arc<Series>> {
        self.slots
            .get(shard)
            .map(|s| s.read().iter().flatten().cloned().collect())
            .unwrap_or_default()
    }

    /// The number of the oldest block that is still open at `now`: every block below it
    /// is sealed by [`Store::maintain`].
    pub fn seal_horizon(&self, now: i64) -> i64 {
        let layout = self.layout;
        // A sample within max-age can spread back one heartbeat (at most two steps or two
        // minutes) before its timestamp.
        let reach = self.config.max_age_ms + (2 * layout.step).max(120_000) + layout.step;
        layout
            .locate(crate::normalize::interval_end(now - reach, layout.step))
            .0
    }

    fn series(&self, id: u32) -> Option<Arc<Series>> {
        let (shard, pos) = slot_of(id);
        self.slots[shard].read().get(pos).and_then(|s| s.clone())
    }

    /// Seals blocks no sample can reach any more and drops data older than the retention;
    /// series left with no data leave the index. Run once per step or more often.
    pub fn maintain(&self, now: i64) {
        let layout = self.layout;
        let seal_below = self.seal_horizon(now);
        let (expire_below, _) = layout.locate(crate::normalize::interval_end(
            now - self.config.retention_ms,
            layout.step,
        ));
        let mut empty = Vec::new();
        for shard in self.slots.iter() {
            let slots = shard.read();
            for series in slots.iter().flatten() {
                let mut data = series.data.lock();
                let sealed = data.seal_before(seal_below);
                if sealed > 0 {
                    self.counters
                        .blocks_sealed
                        .fetch_add(sealed as u64, Ordering::Relaxed);
                }
                if data.expire_before(expire_below) {
                    empty.push(series.clone());
                }
            }
        }
        for series in empty {
            self.remove(&series, expire_below);
        }
    }

    fn remove(&self, series: &Arc<Series>, expire_below: i64) {
        let key = identity(&series.tag_pairs());
        let removed = self.by_identity.remove_if(&key, |_, s| {
            // A publish may have written to it since the scan: keep it then.
            Arc::ptr_eq(s, series) && s.data.lock().expire_before(expire_below)
        });
        if removed.is_none() {
            return;
        }
        self.index.write().remove(series.id, &series.tags);
        let (shard, pos) = slot_of(series.id);
        if let Some(slot) = self.slots[shard].write().get_mut(pos) {
            *slot = None;
        }
        self.free_ids.lock().push(series.id);
        self.counters.series_expired.fetch_add(1, Ordering::Relaxed);
    }

    /// Ids of the series `query` selects.
    pub fn find(&self, query: &Query) -> RoaringBitmap {
        self.index.read().find(query)
    }

    /// Tag keys of the series `query` selects; see [`TagIndex::keys`].
    pub fn tag_keys(&self, query: &Query, after: Option<&str>, limit: usize) -> Vec<TagCount> {
        let index = self.index.read();
        let ids = index.find(query);
        index.keys(&ids, after, limit)
    }

    /// Values of `key` among the series `query` selects; see [`TagIndex::values`].
    pub fn tag_values(
        &self,
        key: &str,
        query: &Query,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<TagCount> {
        let index = self.index.read();
        let ids = index.find(query);
        index.values(key, &ids, after, limit)
    }

    /// Number of live series.
    pub fn len(&self) -> usize {
        self.by_identity.len()
    }

    /// True when the store holds no series.
    pub fn is_empty(&self) -> bool {
        self.by_identity.is_empty()
    }

    /// A summary for `/api/v1/stats`. Walks every series: not for hot paths.
    pub fn stats(&self) -> StoreStats {
        let mut sealed_blocks = 0u64;
        let mut sealed_bytes = 0u64;
        let mut memory = 0usize;
        for shard in self.slots.iter() {
            let slots = shard.read();
            memory += slots.capacity() * std::mem::size_of::<Option<Arc<Series>>>();
            for series in slots.iter().flatten() {
                let data = series.data.lock();
                let (n, b) = data.sealed_stats();
                sealed_blocks += n as u64;
                sealed_bytes += b as u64;
                memory += data.heap_bytes()
                    + std::mem::size_of::<Series>()
                    + series.tags.len() * std::mem::size_of::<Tag>();
            }
        }
        // Identity map: key, pointer and the map's own slack.
        memory += self.by_identity.len() * 48;
        memory += self.index.read().heap_bytes();
        StoreStats {
            series: self.by_identity.len() as u64,
            sealed_blocks,
            sealed_bytes,
            memory_bytes: memory as u64,
        }
    }
}

fn slot_of(id: u32) -> (usize, usize) {
    (id as usize & (SLOT_SHARDS - 1), id as usize / SLOT_SHARDS)
}

impl Database for Store {
    fn step(&self) -> i64 {
        self.layout.step
    }

    fn scan(
        &self,
        request: &ScanRequest<'_>,
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
            series
                .data
                .lock()
                .read_into(&self.layout, start, &mut values, &mut scratch);
            let tags = series.tag_pairs();
            visit(&tags, &values)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: i64 = 1000;

    type Tags = Vec<(String, String)>;

    fn store() -> Store {
        Store::new(StoreConfig {
            step_ms: STEP,
            block_len: 4,
            retention_ms: 20 * STEP,
            max_age_ms: 5 * STEP,
            ..StoreConfig::default()
        })
    }

    fn scan_all(s: &Store, q: &Query, start: i64, end: i64) -> Vec<(Tags, Vec<f64>)> {
        let mut out = Vec::new();
        let req = ScanRequest {
            query: q,
            start,
            end,
        };
        let r = s.scan(&req, &mut |tags, values| {
            let t = tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            out.push((t, values.to_vec()));
            Ok(())
        });
        assert!(r.is_ok());
        out
    }

    #[test]
    fn new_series_is_queryable_at_once() {
        let s = store();
        let now = 100 * STEP;
        let tags = [("atlas.dstype", "gauge"), ("name", "cpu")];
        assert!(s.ingest(&tags, now, 42.0, now).is_ok());
        let got = scan_all(&s, &Query::eq("name", "cpu"), now - STEP, now + STEP);
        assert_eq!(got.len(), 1);
        assert!(got[0].1[0].is_nan());
        assert_eq!(got[0].1[1], 42.0);
    }

    #[test]
    fn old_and_future_samples_are_refused_with_reason() {
        let s = store();
        let now = 100 * STEP;
        let tags = [("name", "cpu")];
        let old = s.ingest(&tags, now - 6 * STEP, 1.0, now);
        assert!(matches!(old, Err(Reject::TooOld { .. })));
        let future = s.ingest(&tags, now + 6 * STEP, 1.0, now);
        assert!(matches!(future, Err(Reject::FromFuture { .. })));
        assert!(s.is_empty(), "a rejected sample creates no series");
    }

    #[test]
    fn expired_series_leave_the_index_and_ids_are_reused() {
        let s = store();
        let tags = [("atlas.dstype", "gauge"), ("name", "old")];
        s.write(&tags, 10 * STEP, 1.0).ok();
        s.maintain(10 * STEP);
        assert_eq!(s.len(), 1);
        s.maintain(400 * STEP);
        assert_eq!(s.len(), 0);
        assert!(s.find(&Query::True).is_empty());
        s.write(&[("name", "new")], 400 * STEP, 1.0).ok();
        assert_eq!(s.find(&Query::True).iter().collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn maintain_seals_old_blocks_and_reads_still_see_them() {
        let s = Store::new(StoreConfig {
            step_ms: STEP,
            block_len: 4,
            retention_ms: 1000 * STEP,
            max_age_ms: 5 * STEP,
            ..StoreConfig::default()
        });
        let tags = [("atlas.dstype", "gauge"), ("name", "x")];
        for i in 1..=8 {
            s.write(&tags, i * STEP, i as f64).ok();
        }
        // Past max-age plus the longest heartbeat: both blocks can no longer be written.
        s.maintain(8 * STEP + 200 * STEP);
        let stats = s.stats();
        assert_eq!(stats.sealed_blocks, 2);
        let got = scan_all(&s, &Query::True, STEP, 9 * STEP);
        assert_eq!(got[0].1, (1..=8).map(|i| i as f64).collect::<Vec<_>>());
    }

    #[test]
    fn series_limit_refuses_new_series_only() {
        let s = Store::new(StoreConfig {
            max_series: 1,
            step_ms: STEP,
            ..StoreConfig::default()
        });
        let now = 100 * STEP;
        assert!(s.ingest(&[("name", "a")], now, 1.0, now).is_ok());
        assert!(matches!(
            s.ingest(&[("name", "b")], now, 1.0, now),
            Err(Reject::SeriesLimit { limit: 1 })
        ));
        assert!(s.ingest(&[("name", "a")], now + STEP, 1.0, now).is_ok());
    }

    #[test]
    fn series_per_name_limit_counts_live_series_of_that_name() {
        let s = Store::new(StoreConfig {
            max_series_per_name: 2,
            step_ms: STEP,
            retention_ms: 20 * STEP,
            ..StoreConfig::default()
        });
        let now = 100 * STEP;
        let tags = |name: &'static str, node: &'static str| [("name", name), ("node", node)];
        assert!(s.ingest(&tags("a", "1"), now, 1.0, now).is_ok());
        assert!(s.ingest(&tags("a", "2"), now, 1.0, now).is_ok());
        let refused = s.ingest(&tags("a", "3"), now, 1.0, now);
        assert_eq!(
            refused.as_ref().map_err(|e| e.to_string()),
            Err(
                "series limit for name \"a\" reached: 2 series have this name and no new one is added"
                    .to_string()
            )
        );
        assert_eq!(
            s.counters().series_per_name_limit.load(Ordering::Relaxed),
            1
        );
        // Known series of the name and new series of other names are still stored.
        assert!(s
            .ingest(&tags("a", "1"), now + STEP, 2.0, now + STEP)
            .is_ok());
        assert!(s.ingest(&tags("b", "3"), now, 1.0, now).is_ok());
        // Once the old series expire the name has room again.
        let later = now + 500 * STEP;
        s.maintain(later);
        assert!(s.is_empty());
        assert!(s.ingest(&tags("a", "3"), later, 1.0, later).is_ok());
    }

    #[test]
    fn scan_enforces_series_limit() {
        let s = Store::new(StoreConfig {
            max_series_per_query: 1,
            step_ms: STEP,
            ..StoreConfig::default()
        });
        s.write(&[("name", "a")], STEP, 1.0).ok();
        s.write(&[("name", "b")], STEP, 1.0).ok();
        let req = ScanRequest {
            query: &Query::True,
            start: 0,
            end: STEP,
        };
        let r = s.scan(&req, &mut |_, _| Ok(()));
        assert_eq!(
            r,
            Err(DatabaseError::TooManySeries {
                limit: 1,
                matched: 2
            })
        );
    }
}

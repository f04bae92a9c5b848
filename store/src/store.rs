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
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
use roaring::RoaringBitmap;
use rustc_hash::FxHasher;
use sextant_query::{Database, DatabaseError, Query, ScanRequest, SeriesVisitor};

use crate::identity::identity;
use crate::index::{Tag, TagCount, TagIndex};
use crate::normalize::{DsType, Normalizer};
pub use crate::series::DatapointStats;
use crate::series::{Layout, Series, SeriesData, WriteOutcome};

mod subsets;

/// Shards of the identity map (a power of two, as dashmap requires).
const IDENTITY_SHARDS: usize = 256;

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
    /// A rate or counter sample at the time of one the series already took.
    #[error("duplicate: the series already took a sample at {timestamp}; the first one is kept")]
    Duplicate {
        /// The sample's timestamp.
        timestamp: i64,
    },
    /// A late rate or counter sample whose neighbours the series no longer keeps.
    #[error("outOfOrder: timestamp {timestamp} is older than the samples the series keeps to place late ones; its rate cannot be computed as in-order arrival would")]
    OutOfOrder {
        /// The sample's timestamp.
        timestamp: i64,
    },
    /// A sample for an interval whose block is already sealed.
    #[error("late: timestamp {timestamp} falls in a block that is already sealed")]
    Late {
        /// The sample's timestamp.
        timestamp: i64,
    },
}

impl Reject {
    /// The reason as a short code, as a publish answer counts refusals by reason.
    pub fn code(&self) -> &'static str {
        match self {
            Reject::TooOld { .. } => "tooOld",
            Reject::FromFuture { .. } => "fromFuture",
            Reject::SeriesLimit { .. } => "seriesLimit",
            Reject::SeriesPerNameLimit { .. } => "seriesPerNameLimit",
            Reject::Duplicate { .. } => "duplicate",
            Reject::OutOfOrder { .. } => "outOfOrder",
            Reject::Late { .. } => "late",
        }
    }

    /// True when the datapoint was valid and logged but the store did not apply it
    /// because of when it arrived (duplicate, out of order, late): the publish is then
    /// answered as partial, not as a bad request.
    pub fn is_arrival(&self) -> bool {
        matches!(
            self,
            Reject::Duplicate { .. } | Reject::OutOfOrder { .. } | Reject::Late { .. }
        )
    }
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
    /// A counter's first samples: taken as the base of the next rate, nothing stored.
    pub primed: AtomicU64,
    /// Rate or counter samples refused as duplicates.
    pub duplicate: AtomicU64,
    /// Rate or counter samples refused as older than the samples kept to reorder.
    pub out_of_order: AtomicU64,
    /// Samples refused because they aimed at a sealed block.
    pub late: AtomicU64,
    /// Series created.
    pub series_created: AtomicU64,
    /// Series expired.
    pub series_expired: AtomicU64,
    /// Series removed by [`Store::remove_where`] (a cluster node dropping a partition it
    /// no longer owns).
    pub series_dropped: AtomicU64,
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
    /// Series in `by_identity`, kept apart because counting the map takes every shard's
    /// lock.
    live: AtomicUsize,
    counters: StoreCounters,
    /// Lowest and highest block numbers ever written or restored, and the block below
    /// which [`Store::maintain`] dropped everything: what [`Database::extent`] reports.
    oldest_block: AtomicI64,
    newest_block: AtomicI64,
    expired_below: AtomicI64,
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
            // Many more shards than dashmap's default (4 per core): every publish takes a
            // shard's read lock, an atomic write to a cache line that the other cores'
            // publishes then have to fetch back (perf: the lookup was 15% of HTTP ingest).
            by_identity: DashMap::with_hasher_and_shard_amount(
                BuildHasherDefault::default(),
                IDENTITY_SHARDS,
            ),
            slots: (0..SLOT_SHARDS).map(|_| RwLock::new(Vec::new())).collect(),
            index: RwLock::new(TagIndex::new()),
            free_ids: Mutex::new(Vec::new()),
            next_id: AtomicU32::new(0),
            live: AtomicUsize::new(0),
            counters: StoreCounters::default(),
            oldest_block: AtomicI64::new(i64::MAX),
            newest_block: AtomicI64::new(i64::MIN),
            expired_below: AtomicI64::new(i64::MIN),
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
        self.note_block(self.layout.locate(timestamp).0);
        let (counter, result) = match outcome {
            WriteOutcome::Stored => (&self.counters.accepted, Ok(())),
            WriteOutcome::Primed => (&self.counters.primed, Ok(())),
            WriteOutcome::Duplicate => (
                &self.counters.duplicate,
                Err(Reject::Duplicate { timestamp }),
            ),
            WriteOutcome::OutOfOrder => (
                &self.counters.out_of_order,
                Err(Reject::OutOfOrder { timestamp }),
            ),
            WriteOutcome::Sealed => (&self.counters.late, Err(Reject::Late { timestamp })),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// Widens the span of blocks holding data to `block`. Reads first: the span rarely
    /// changes, and a load does not contend between publishers as a write would.
    fn note_block(&self, block: i64) {
        if block < self.oldest_block.load(Ordering::Relaxed) {
            self.oldest_block.fetch_min(block, Ordering::Relaxed);
        }
        if block > self.newest_block.load(Ordering::Relaxed) {
            self.newest_block.fetch_max(block, Ordering::Relaxed);
        }
    }

    fn create<K: AsRef<str>, V: AsRef<str>>(
        &self,
        key: u128,
        tags: &[(K, V)],
    ) -> Result<Arc<Series>, Reject> {
        // Checked before taking the entry, on a count kept beside the map (counting the
        // map takes every shard's lock). Concurrent creators may overshoot the limit by at
        // most their number.
        if self.live.load(Ordering::Relaxed) >= self.config.max_series {
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
        self.live.fetch_add(1, Ordering::Relaxed);
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
        for block in data
            .sealed_blocks()
            .map(|(n, _)| n)
            .chain(data.open_blocks().map(|(n, _)| n))
        {
            self.note_block(block);
        }
        let series = self.install(&mut index, id, tags, data);
        drop(index);
        entry.or_insert(series);
        self.live.fetch_add(1, Ordering::Relaxed);
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
        layout
            .locate(crate::normalize::interval_end(
                now - self.reach(),
                layout.step,
            ))
            .0
    }

    /// How far before now an accepted sample can still change data or use a series'
    /// normalisation state: max-age, plus the longest heartbeat a span reaches back (two
    /// steps or two minutes), plus a step.
    fn reach(&self) -> i64 {
        let step = self.layout.step;
        self.config.max_age_ms + (2 * step).max(120_000) + step
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
        let horizon = now - self.config.retention_ms;
        let (expire_below, _) = layout.locate(crate::normalize::interval_end(horizon, layout.step));
        self.expired_below
            .fetch_max(expire_below, Ordering::Relaxed);
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
                if data.expire_before(expire_below) && data.last_sample_time() < horizon {
                    empty.push(series.clone());
                }
            }
        }
        for series in empty {
            self.remove(&series, expire_below, horizon);
        }
    }

    fn remove(&self, series: &Arc<Series>, expire_below: i64, horizon: i64) {
        let key = identity(&series.tag_pairs());
        let removed = self.by_identity.remove_if(&key, |_, s| {
            // A publish may have written to it since the scan: keep it then.
            let mut data = s.data.lock();
            Arc::ptr_eq(s, series)
                && data.expire_before(expire_below)
                && data.last_sample_time() < horizon
        });
        if removed.is_none() {
            return;
        }
        self.unlink(series);
        self.counters.series_expired.fetch_add(1, Ordering::Relaxed);
    }

    /// Removes every series whose [`identity`] `select` accepts; returns how many. Walks
    /// every series and hashes its tags: meant for rare bulk removals, such as a cluster
    /// node dropping a partition it no longer owns. The caller makes sure nothing writes
    /// to the selected series meanwhile (a sample written during the walk may be lost
    /// with its series).
    pub fn remove_where(&self, mut select: impl FnMut(u128) -> bool) -> usize {
        let mut chosen = Vec::new();
        for shard in self.slots.iter() {
            for series in shard.read().iter().flatten() {
                let key = identity(&series.tag_pairs());
                if select(key) {
                    chosen.push((key, series.clone()));
                }
            }
        }
        let mut removed = 0;
        for (key, series) in chosen {
            // Only the series we listed: the map may hold a new one by now.
            if self
                .by_identity
                .remove_if(&key, |_, s| Arc::ptr_eq(s, &series))
                .is_some()
            {
                self.unlink(&series);
                removed += 1;
            }
        }
        self.counters
            .series_dropped
            .fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Takes a series just removed from the identity map out of the index and its slot,
    /// and frees its id.
    fn unlink(&self, series: &Arc<Series>) {
        self.live.fetch_sub(1, Ordering::Relaxed);
        self.index.write().remove(series.id, &series.tags);
        let (shard, pos) = slot_of(series.id);
        if let Some(slot) = self.slots[shard].write().get_mut(pos) {
            *slot = None;
        }
        self.free_ids.lock().push(series.id);
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
        self.live.load(Ordering::Relaxed)
    }

    /// True when the store holds no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        memory += self.len() * 48;
        memory += self.index.read().heap_bytes();
        StoreStats {
            series: self.len() as u64,
            sealed_blocks,
            sealed_bytes,
            memory_bytes: memory as u64,
        }
    }

    /// Datapoints held by sealed and by open blocks and the heap bytes of the open blocks,
    /// summed over every series, so `/api/v1/stats` gives exact bytes per point. Decodes
    /// every block (a second or more at millions of series), which is why it is not part of
    /// [`stats`](Self::stats): self-monitoring calls that one every step.
    pub fn datapoint_stats(&self) -> DatapointStats {
        let mut total = DatapointStats::default();
        let mut scratch = vec![f64::NAN; self.layout.block_len];
        for shard in self.slots.iter() {
            for series in shard.read().iter().flatten() {
                let s = series.data.lock().datapoint_stats(&mut scratch);
                total.sealed += s.sealed;
                total.open += s.open;
                total.open_bytes += s.open_bytes;
            }
        }
        total
    }
}

fn slot_of(id: u32) -> (usize, usize) {
    (id as usize & (SLOT_SHARDS - 1), id as usize / SLOT_SHARDS)
}

impl Database for Store {
    fn step(&self) -> i64 {
        self.layout.step
    }

    /// From the first block that may still hold data to the end of the newest block
    /// written; empty before anything was written.
    fn extent(&self) -> Option<(i64, i64)> {
        let newest = self.newest_block.load(Ordering::Relaxed);
        if newest == i64::MIN {
            return Some((0, 0));
        }
        let oldest = self
            .oldest_block
            .load(Ordering::Relaxed)
            .max(self.expired_below.load(Ordering::Relaxed));
        // A block on each side to spare: a sample lands in the interval its timestamp
        // rounds up to, and a counter spreads back over a heartbeat, either of which can
        // cross into the neighbouring block.
        let from = self
            .layout
            .block_start(oldest.min(newest).saturating_sub(1));
        Some((from, self.layout.block_start(newest.saturating_add(2))))
    }

    fn scan(
        &self,
        request: &ScanRequest<'_>,
        visit: &mut SeriesVisitor<'_>,
    ) -> Result<(), DatabaseError> {
        self.scan_where(request, |_| true, visit)
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
    fn a_counter_primed_by_its_first_sample_survives_maintenance() {
        let s = store();
        let tags = [("atlas.dstype", "counter"), ("name", "requests")];
        let now = 100 * STEP;
        assert!(s.ingest(&tags, now, 10.0, now).is_ok());
        s.maintain(now);
        assert_eq!(
            s.len(),
            1,
            "the first sample only primes; the series must stay"
        );
        let second = 10.0 + 2.0 * STEP as f64 / 1000.0;
        assert!(s.ingest(&tags, now + STEP, second, now + STEP).is_ok());
        let got = scan_all(
            &s,
            &Query::eq("name", "requests"),
            now + STEP,
            now + 2 * STEP,
        );
        assert_eq!(got[0].1, [2.0]);
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
        let points = s.datapoint_stats();
        assert_eq!((points.sealed, points.open, points.open_bytes), (8, 0, 0));
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

    #[test]
    fn scan_where_visits_only_the_series_kept_with_their_values() {
        let s = store();
        let now = 100 * STEP;
        for (name, v) in [("a", 1.0), ("b", 2.0), ("c", 3.0)] {
            let tags = [("atlas.dstype", "gauge"), ("name", name)];
            assert!(s.ingest(&tags, now, v, now).is_ok());
        }
        let req = ScanRequest {
            query: &Query::True,
            start: now,
            end: now + STEP,
        };
        let mut seen = Vec::new();
        let r = s.scan_where(
            &req,
            |tags| !tags.contains(&("name", "b")),
            &mut |tags, values| {
                let name = tags.iter().find(|(k, _)| *k == "name").map(|t| t.1);
                seen.push((name.unwrap_or_default().to_string(), values.to_vec()));
                Ok(())
            },
        );
        assert!(r.is_ok());
        seen.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            seen,
            [("a".to_string(), vec![1.0]), ("c".to_string(), vec![3.0])]
        );
    }
}

#[cfg(test)]
mod extent_tests {
    use super::*;
    use sextant_query::{evaluate, parse, EvalContext};

    const STEP: i64 = 1000;

    /// A window of ten thousand times the retention reads only the blocks the store holds:
    /// the answer is the same as over the recent end alone.
    #[test]
    fn a_huge_window_is_clipped_to_what_the_store_holds() {
        let s = Store::new(StoreConfig {
            step_ms: STEP,
            block_len: 4,
            retention_ms: 20 * STEP,
            max_age_ms: 5 * STEP,
            ..StoreConfig::default()
        });
        assert_eq!(s.extent(), Some((0, 0)));
        let now = 1_000_000 * STEP;
        let tags = [("atlas.dstype", "gauge"), ("name", "cpu")];
        for i in 0..10 {
            s.ingest(&tags, now - i * STEP, 2.0, now).ok();
        }
        s.maintain(now);
        let (from, to) = s.extent().unwrap_or_default();
        assert!(from <= now - 9 * STEP && to > now, "{from}..{to}");
        let exprs = parse("name,cpu,:eq,:sum").unwrap_or_default();
        // 10 000 points of 100 primary steps each: a million primary points per series,
        // over the 500 000 limit unless clipped.
        let step = 100 * STEP;
        let end = now + step;
        let ctx = EvalContext::new(end - 10_000 * step, end, step);
        let lines = evaluate(&exprs, &ctx, &s).map_err(|e| e.to_string());
        let lines = lines.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lines.len(), 1);
        let values = &lines[0].series.values;
        assert_eq!(values.len(), 10_000);
        assert_eq!(values.iter().filter(|v| !v.is_nan()).count(), 1);
        // A gauge consolidates to the average of the points present.
        assert_eq!(values[9_999], 2.0);
    }
}

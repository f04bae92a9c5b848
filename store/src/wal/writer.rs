//! Appending to the log: numbered segment files, rotation by size, and the sync modes.
//!
//! Every append runs under one mutex that also covers applying the request to the store,
//! so the order of records in the log is the order the store saw them: replay then
//! reproduces order-sensitive normalisation (rates, counters) exactly.
//!
//! Group commit: the appender registers a waiter and a dedicated thread fsyncs the active
//! segment once for every waiter that arrived since its previous fsync, so concurrent
//! publishers share one fsync while each still answers only after its bytes are synced.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use super::record::MAGIC;

/// When appended bytes reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Each request fsyncs its own append before it is answered.
    Always,
    /// Requests wait for an fsync shared with the requests appended at the same time.
    Group,
    /// A background fsync every interval; requests do not wait for it.
    Interval(Duration),
    /// Never fsync: the kernel writes back when it likes.
    Off,
}

impl std::str::FromStr for SyncMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(SyncMode::Always),
            "group" => Ok(SyncMode::Group),
            "off" => Ok(SyncMode::Off),
            other => match humantime::parse_duration(other) {
                Ok(d) if !d.is_zero() => Ok(SyncMode::Interval(d)),
                _ => Err(format!(
                    "expected always, group, off or an interval such as 100ms, got {other:?}"
                )),
            },
        }
    }
}

/// Settings of the log.
#[derive(Debug, Clone)]
pub struct WalConfig {
    /// The directory of the segments (`<data-dir>/wal`).
    pub dir: PathBuf,
    /// When appends are synced.
    pub sync: SyncMode,
    /// A segment is closed and a new one started once it would exceed this size.
    pub segment_bytes: u64,
}

impl WalConfig {
    /// Defaults: group commit, 64 MiB segments.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WalConfig {
            dir: dir.into(),
            sync: SyncMode::Group,
            segment_bytes: 64 << 20,
        }
    }
}

/// An append or sync that failed; the request it carried must not be acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
#[error("write-ahead log unavailable: {0}")]
pub struct WalError(pub String);

/// A closed (or, at start, recovered) segment and the newest timestamp it holds.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Its number; segments replay in this order.
    pub seq: u64,
    /// Its file.
    pub path: PathBuf,
    /// Newest datapoint timestamp in it; `i64::MIN` when it holds none.
    pub max_ts: i64,
}

/// A position in the log: the segment and the byte offset where a record starts. Records
/// are applied to the store in this order, so a checkpoint can say "everything before
/// here is in me" per series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn {
    /// Segment number.
    pub seq: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

/// The message of a failed append. A full disk is the common failure in operation and
/// its fix (free space under the log) differs from other I/O errors, so it is named in
/// words rather than left to the OS error text.
fn append_failure(path: &Path, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::StorageFull {
        format!(
            "append to {} failed: no space left on the device holding the log ({e})",
            path.display()
        )
    } else {
        format!("append to {} failed: {e}", path.display())
    }
}

/// The file name of segment `seq`.
pub fn segment_name(seq: u64) -> String {
    format!("{seq:016}.wal")
}

/// What the caller must still do before answering.
#[must_use]
pub enum Durability {
    /// Nothing: the sync mode does not wait.
    Done,
    /// Wait for the group commit covering this append.
    Group(oneshot::Receiver<Result<(), String>>),
    /// Fsync this file ourselves.
    Sync(Arc<File>),
}

impl Durability {
    /// Waits until the append is as durable as the sync mode promises.
    pub async fn wait(self) -> Result<(), WalError> {
        match self {
            Durability::Done => Ok(()),
            Durability::Group(rx) => match rx.await {
                Ok(r) => r.map_err(WalError),
                Err(_) => Err(WalError("the sync thread stopped".to_string())),
            },
            Durability::Sync(file) => {
                match tokio::task::spawn_blocking(move || file.sync_data()).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(WalError(format!("fsync failed: {e}"))),
                    Err(e) => Err(WalError(format!("fsync task failed: {e}"))),
                }
            }
        }
    }
}

struct Active {
    file: Arc<File>,
    seq: u64,
    path: PathBuf,
    len: u64,
    max_ts: i64,
}

struct Inner {
    active: Option<Active>,
    next_seq: u64,
    sealed: Vec<Segment>,
    appended: u64,
}

#[derive(Default)]
struct SyncState {
    file: Option<Arc<File>>,
    requested: u64,
    synced: u64,
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    stop: bool,
}

struct Syncer {
    state: Mutex<SyncState>,
    wake: Condvar,
    /// Set when an fsync failed: the kernel may have dropped the dirty pages, so the
    /// segment is closed and appends continue in a fresh one.
    failed: AtomicBool,
}

/// Counters for `/api/v1/stats` and the benchmarks.
#[derive(Debug, Default)]
pub struct WalCounters {
    /// Records appended.
    pub records: AtomicU64,
    /// Bytes appended.
    pub bytes: AtomicU64,
    /// Appends or syncs that failed (each answered 503).
    pub failures: AtomicU64,
    /// Fsyncs done by the sync thread or by requests.
    pub syncs: AtomicU64,
}

/// The write-ahead log.
pub struct Wal {
    config: WalConfig,
    inner: Mutex<Inner>,
    syncer: Arc<Syncer>,
    counters: Arc<WalCounters>,
    /// False when the sync thread could not be started.
    shared_sync: bool,
}

impl Wal {
    /// Opens the log in `config.dir`, after the `recovered` segments (which stay until
    /// truncation removes them); the next append starts segment `next_seq`.
    pub fn open(config: WalConfig, recovered: Vec<Segment>, next_seq: u64) -> Wal {
        let syncer = Arc::new(Syncer {
            state: Mutex::new(SyncState::default()),
            wake: Condvar::new(),
            failed: AtomicBool::new(false),
        });
        let counters = Arc::new(WalCounters::default());
        let mut shared_sync = true;
        let thread = match config.sync {
            SyncMode::Group => Some((syncer.clone(), None)),
            SyncMode::Interval(every) => Some((syncer.clone(), Some(every))),
            SyncMode::Always | SyncMode::Off => None,
        };
        if let Some((syncer, every)) = thread {
            let counters = counters.clone();
            let spawned = std::thread::Builder::new()
                .name("wal-sync".to_string())
                .spawn(move || sync_loop(&syncer, every, &counters));
            if let Err(e) = spawned {
                // Without the thread nobody would answer group waiters: each request then
                // fsyncs for itself, as with `always`.
                tracing::error!(error = %e, "cannot start the write-ahead log sync thread; every publish will fsync alone");
                shared_sync = false;
            }
        }
        Wal {
            config,
            inner: Mutex::new(Inner {
                active: None,
                next_seq,
                sealed: recovered,
                appended: 0,
            }),
            syncer,
            counters,
            shared_sync,
        }
    }

    /// The settings.
    pub fn config(&self) -> &WalConfig {
        &self.config
    }

    /// What the log has done.
    pub fn counters(&self) -> &WalCounters {
        &self.counters
    }

    /// Appends `record` (whose newest datapoint is `max_ts`) and, only if that worked,
    /// runs `apply` before any other append can happen. On error nothing was applied and
    /// the log holds no part of the record.
    pub fn append<T>(
        &self,
        record: &[u8],
        max_ts: i64,
        apply: impl FnOnce() -> T,
    ) -> Result<(T, Durability), WalError> {
        let mut inner = self.inner.lock();
        let result = self.append_locked(&mut inner, record, max_ts);
        let file = match result {
            Ok(file) => file,
            Err(e) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        inner.appended += 1;
        let seq = inner.appended;
        let applied = apply();
        self.counters.records.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes
            .fetch_add(record.len() as u64, Ordering::Relaxed);
        let durability = match self.config.sync {
            SyncMode::Off => Durability::Done,
            SyncMode::Always => Durability::Sync(file),
            SyncMode::Group if !self.shared_sync => Durability::Sync(file),
            SyncMode::Interval(_) => {
                let mut s = self.syncer.state.lock();
                s.file = Some(file);
                s.requested = seq;
                Durability::Done
            }
            SyncMode::Group => {
                let (tx, rx) = oneshot::channel();
                let mut s = self.syncer.state.lock();
                s.file = Some(file);
                s.requested = seq;
                s.waiters.push(tx);
                drop(s);
                self.syncer.wake.notify_one();
                Durability::Group(rx)
            }
        };
        Ok((applied, durability))
    }

    fn append_locked(
        &self,
        inner: &mut Inner,
        record: &[u8],
        max_ts: i64,
    ) -> Result<Arc<File>, WalError> {
        if self.syncer.failed.swap(false, Ordering::Relaxed) {
            self.seal_active(inner, false)?;
        }
        if let Some(a) = &inner.active {
            let full = a.len + record.len() as u64 > self.config.segment_bytes;
            if full && a.len > MAGIC.len() as u64 {
                self.seal_active(inner, self.config.sync != SyncMode::Off)?;
            }
        }
        if inner.active.is_none() {
            inner.active = Some(self.create_segment(inner)?);
        }
        let Some(active) = inner.active.as_mut() else {
            return Err(WalError("no active segment".to_string()));
        };
        if let Err(e) = (&*active.file).write_all(record) {
            // Cut whatever part was written, so the next record does not follow a torn
            // one (replay stops at the first bad record). If even that fails, close the
            // segment: replay keeps its intact prefix and appends go to a new file.
            let message = append_failure(&active.path, &e);
            let cut = active.file.set_len(active.len);
            if cut.is_err() {
                let _ = self.seal_active(inner, false);
            }
            tracing::warn!(error = %e, "write-ahead log append failed; answering 503");
            return Err(WalError(message));
        }
        active.len += record.len() as u64;
        active.max_ts = active.max_ts.max(max_ts);
        Ok(active.file.clone())
    }

    /// Closes the active segment, first syncing it if `sync` (a failed sync leaves it
    /// active and fails the append).
    fn seal_active(&self, inner: &mut Inner, sync: bool) -> Result<(), WalError> {
        if let Some(a) = &inner.active {
            if sync {
                a.file
                    .sync_data()
                    .map_err(|e| WalError(format!("fsync of {} failed: {e}", a.path.display())))?;
                self.counters.syncs.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(a) = inner.active.take() {
            inner.sealed.push(Segment {
                seq: a.seq,
                path: a.path,
                max_ts: a.max_ts,
            });
        }
        Ok(())
    }

    fn create_segment(&self, inner: &mut Inner) -> Result<Active, WalError> {
        let seq = inner.next_seq;
        // Skip the number even on failure: a half-made file must not be reused.
        inner.next_seq += 1;
        let dir = &self.config.dir;
        let path = dir.join(segment_name(seq));
        let fail = |what: &str, e: std::io::Error| {
            WalError(format!("cannot {what} {}: {e}", path.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| fail("create the directory of", e))?;
        let mut file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| fail("create", e))?;
        if let Err(e) = file.write_all(MAGIC) {
            let _ = std::fs::remove_file(&path);
            return Err(fail("write the header of", e));
        }
        if self.config.sync != SyncMode::Off {
            // The new name must survive a crash too, or its records vanish with it.
            let synced = file.sync_all().and_then(|()| sync_dir(dir));
            if let Err(e) = synced {
                let _ = std::fs::remove_file(&path);
                return Err(fail("sync", e));
            }
        }
        tracing::debug!(segment = %path.display(), "write-ahead log segment started");
        Ok(Active {
            file: Arc::new(file),
            seq,
            path,
            len: MAGIC.len() as u64,
            max_ts: i64::MIN,
        })
    }

    /// Runs `capture` while no record can be appended (nor applied), giving it the
    /// position the next record will start at or after: the store then holds exactly the
    /// records before that position. Keep `capture` short: publishes wait for it.
    pub fn quiesce<T>(&self, capture: impl FnOnce(Lsn) -> T) -> T {
        let inner = self.inner.lock();
        let at = match &inner.active {
            Some(a) => Lsn {
                seq: a.seq,
                offset: a.len,
            },
            None => Lsn {
                seq: inner.next_seq,
                offset: 0,
            },
        };
        capture(at)
    }

    /// Closes the active segment so the records that follow go to a new one, and returns
    /// that segment's number: a checkpoint started now needs the log from there on, plus
    /// whatever it captures later. The closed segment is synced first unless the mode is
    /// `off`.
    pub fn rotate(&self) -> Result<u64, WalError> {
        let mut inner = self.inner.lock();
        self.seal_active(&mut inner, self.config.sync != SyncMode::Off)?;
        Ok(inner.next_seq)
    }

    /// Deletes the closed segments numbered below `seq`: a checkpoint holds what they
    /// held. Returns how many were deleted.
    pub fn drop_segments_before(&self, seq: u64) -> usize {
        self.delete_closed(
            |s| s.seq < seq,
            "write-ahead log segment covered by a checkpoint deleted",
        )
    }

    /// Deletes the closed segments whose newest datapoint is older than `before`: the
    /// store no longer keeps anything they hold. Returns how many were deleted.
    pub fn truncate(&self, before: i64) -> usize {
        self.delete_closed(
            |s| s.max_ts < before,
            "write-ahead log segment past retention deleted",
        )
    }

    fn delete_closed(&self, doomed: impl Fn(&Segment) -> bool, why: &'static str) -> usize {
        let mut inner = self.inner.lock();
        let mut deleted = 0;
        inner.sealed.retain(|s| {
            if !doomed(s) {
                return true;
            }
            match std::fs::remove_file(&s.path) {
                Ok(()) => {
                    deleted += 1;
                    tracing::info!(segment = %s.path.display(), "{why}");
                    false
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => {
                    tracing::warn!(segment = %s.path.display(), error = %e, "cannot delete an old write-ahead log segment; will retry");
                    true
                }
            }
        });
        deleted
    }

    /// Numbers of the segments on disk (closed ones, then the active one).
    pub fn segments(&self) -> Vec<u64> {
        let inner = self.inner.lock();
        let mut out: Vec<u64> = inner.sealed.iter().map(|s| s.seq).collect();
        out.extend(inner.active.as_ref().map(|a| a.seq));
        out
    }

    /// Fsyncs the active segment now: at shutdown, whatever the sync mode.
    pub fn sync_now(&self) -> Result<(), WalError> {
        let inner = self.inner.lock();
        if let Some(a) = &inner.active {
            a.file
                .sync_data()
                .map_err(|e| WalError(format!("fsync failed: {e}")))?;
        }
        Ok(())
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.syncer.state.lock().stop = true;
        self.syncer.wake.notify_all();
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The sync thread: group commit when `every` is `None`, else a periodic fsync.
fn sync_loop(syncer: &Syncer, every: Option<Duration>, counters: &WalCounters) {
    loop {
        let (target, file, waiters) = {
            let mut s = syncer.state.lock();
            match every {
                None => {
                    while s.requested <= s.synced && !s.stop {
                        syncer.wake.wait(&mut s);
                    }
                }
                Some(every) => {
                    if !s.stop {
                        syncer.wake.wait_for(&mut s, every);
                    }
                }
            }
            if s.stop && s.requested <= s.synced {
                return;
            }
            if s.requested <= s.synced {
                continue;
            }
            (s.requested, s.file.clone(), std::mem::take(&mut s.waiters))
        };
        let result = match file {
            Some(f) => f.sync_data().map_err(|e| format!("fsync failed: {e}")),
            None => Ok(()),
        };
        counters.syncs.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = &result {
            tracing::error!(error = %e, "write-ahead log fsync failed; starting a new segment");
            syncer.failed.store(true, Ordering::Relaxed);
            counters
                .failures
                .fetch_add(waiters.len() as u64, Ordering::Relaxed);
        }
        syncer.state.lock().synced = target;
        for w in waiters {
            // A waiter that went away (client hung up) needs no answer.
            let _ = w.send(result.clone());
        }
    }
}

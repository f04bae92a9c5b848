//! The Sextant storage engine: every series in memory with a roaring-bitmap tag index,
//! compressed sealed blocks, ingest normalisation, the write-ahead log and checkpoints.
//! A library with no HTTP, the way Prometheus keeps `tsdb/` apart from its web layer.
//!
//! # Overview
//! - [`Store`]: series, their blocks and the tag index; implements
//!   [`sextant_query::Database`] so stack-language expressions run on it.
//! - [`Wal`]: the write-ahead log; [`recover_store`] loads the newest checkpoint and
//!   replays the log after it; [`write_checkpoint`] saves the whole store.
//! - [`StreamPositions`]: a cluster node's last applied stream sequence per partition;
//!   [`write_partitioned_checkpoint`] saves them with the store,
//!   [`recover_partitioned_store`] loads both.
//! - [`DataDirLock`]: one process per data directory.
//!
//! ```
//! use sextant_store::{Store, StoreConfig};
//! let store = Store::new(StoreConfig { step_ms: 1000, ..StoreConfig::default() });
//! let now = 1_700_000_000_000;
//! store.ingest(&[("atlas.dstype", "gauge"), ("name", "cpu")], now, 42.0, now)?;
//! assert_eq!(store.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod checkpoint;
mod datadir;
mod identity;
mod index;
mod ingest;
mod normalize;
mod positions;
mod sealed;
mod series;
mod store;
mod wal;

pub use checkpoint::format as checkpoint_format;
pub use checkpoint::stream::{
    recover as recover_partitioned_store, write as write_partitioned_checkpoint,
};
pub use checkpoint::{recover as recover_store, write as write_checkpoint, Written};
pub use datadir::DataDirLock;
pub use identity::identity;
pub use index::{TagCount, TagIndex};
pub use ingest::{
    is_valid_char, sanitize, validate, with_tags, Datapoint, Decoded, Ingest, IngestCounters, Log,
    LogError, NoLog, Outcome, Pending, MAX_MESSAGES, MAX_TAGS, MAX_USER_TAGS,
};
pub use normalize::DsType;
pub use positions::{Applied, StreamPositions};
pub use store::{DatapointStats, Reject, Store, StoreConfig, StoreCounters, StoreStats};
pub use wal::record as wal_record;
pub use wal::recover as recover_wal;
pub use wal::{Durability, Lsn, Recovery, SyncMode, Wal, WalConfig, WalCounters, WalError};

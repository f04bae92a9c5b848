//! The Sextant server: an in-memory time-series store with a roaring-bitmap tag index,
//! and the HTTP API that publishes into it and queries it.
//!
//! # Overview
//! - [`Store`]: series, their blocks and the tag index; implements
//!   [`sextant_query::Database`] so stack-language expressions run on it.
//! - [`app`] / [`AppState`]: the HTTP API as an axum router over a store.
//! - [`Tokens`]: optional bearer tokens per role, checked by a middleware of [`app`].
//! - [`Server`]: locks the data directory ([`DataDirLock`]), binds a listener, serves the
//!   API over HTTP or HTTPS ([`TlsFiles`]) with its own accept loop, runs the background
//!   maintenance, and stops cleanly.
//!
//! ```
//! use sextant_server::{Store, StoreConfig};
//! let store = Store::new(StoreConfig { step_ms: 1000, ..StoreConfig::default() });
//! let now = 1_700_000_000_000;
//! store.ingest(&[("atlas.dstype", "gauge"), ("name", "cpu")], now, 42.0, now)?;
//! assert_eq!(store.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod alert;
mod auth;
mod checkpoint;
mod clock;
mod dashboard;
mod datadir;
mod demo;
mod graph;
mod http;
mod index;
mod listen;
mod normalize;
mod publish;
mod sealed;
mod selfmon;
mod series;
mod server;
mod store;
mod wal;

pub use alert::{Alerting, AlertingConfig};
pub use auth::{Denied, Role, Tokens, TokensError};
pub use checkpoint::format as checkpoint_format;
pub use checkpoint::{recover as recover_store, write as write_checkpoint, Written};
pub use clock::{Clock, ManualClock, SystemClock};
pub use dashboard::{DashboardError, DashboardStore};
pub use datadir::DataDirLock;
pub use demo::Demo;
pub use graph::{evaluate, Graph, GraphError, QueryLimits};
pub use graph::{QueriesBusy, QuerySlots};
pub use http::{app, ApiError, AppState, HttpCounters, Limits};
pub use http::{
    default_max_concurrent_publishes, default_query_concurrency, PUBLISH_SLOT_WAIT, QUERY_SLOT_WAIT,
};
pub use index::{TagCount, TagIndex};
pub use listen::{TlsFiles, SHUTDOWN_GRACE};
pub use normalize::DsType;
pub use publish::{decode as decode_publish, gunzip, store as store_publish, Decoded};
pub use publish::{Datapoint, PublishError, PublishOutcome};
pub use selfmon::SelfMetrics;
pub use server::{Server, ServerConfig};
pub use store::{identity, Reject, Store, StoreConfig, StoreStats};
pub use wal::record as wal_record;
pub use wal::{Lsn, Recovery, SyncMode, Wal, WalConfig, WalCounters, WalError};

//! The Sextant server: the HTTP API over a [`sextant_store::Store`], alerting, dashboards,
//! demo data and self-monitoring. The storage engine itself is the `sextant-store` crate.
//!
//! # Overview
//! - [`IngestService`]: the one write path of every publish format (decode, then the
//!   store's validate → log → apply).
//! - [`app`] / [`AppState`]: the HTTP API as an axum router over a store.
//! - [`Tokens`]: optional bearer tokens per role, checked by a middleware of [`app`].
//! - [`Server`]: locks the data directory, binds a listener, serves the API over HTTP or
//!   HTTPS ([`TlsFiles`]) with its own accept loop, runs the background maintenance, and
//!   stops cleanly.
//!
//! ```
//! use std::sync::Arc;
//! use sextant_server::{IngestService, ManualClock};
//! use sextant_store::{NoLog, Store, StoreConfig};
//! let store = Arc::new(Store::new(StoreConfig::default()));
//! let clock = Arc::new(ManualClock::new(1_700_000_000_000));
//! let ingest = IngestService::new(store.clone(), Arc::new(NoLog), clock, 1 << 20);
//! let body = br#"{"metrics":[{"tags":{"name":"cpu"},"timestamp":1700000000000,"value":1}]}"#;
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! let outcome = runtime.block_on(ingest.publish(body, false))?;
//! assert_eq!(outcome.accepted, 1);
//! assert_eq!(store.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod alert;
mod auth;
mod clock;
pub mod cluster;
mod dashboard;
mod demo;
mod error;
mod grapher;
mod http;
mod ingest;
mod listen;
mod message;
mod selfmon;
mod server;
mod slots;

pub use alert::{Alerting, AlertingConfig, SilenceLimits};
pub use auth::{Denied, Role, Tokens, TokensError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use dashboard::{DashboardError, DashboardStore};
pub use demo::Demo;
pub use grapher::{GraphError, GraphOutput, GraphRequest, Grapher, QueryLimits};
pub use http::{app, ApiError, AppState, Limits};
pub use http::{
    default_max_concurrent_publishes, default_query_concurrency, PUBLISH_SLOT_WAIT, QUERY_SLOT_WAIT,
};
pub use ingest::{decode as decode_publish, gunzip, IngestError, IngestService, PublishError};
pub use listen::{TlsFiles, SHUTDOWN_GRACE};
pub use selfmon::SelfMetrics;
pub use server::{Server, ServerConfig};
pub use slots::{Busy, SlotKind, Slots};

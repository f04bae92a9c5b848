//! The crate's error type.

use std::time::Duration;

/// Errors from building a configuration or starting a registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The step is shorter than a millisecond or not a whole number of milliseconds.
    #[error("step must be a whole number of milliseconds, at least 1 ms, got {0:?}")]
    InvalidStep(Duration),
    /// The batch size is zero.
    #[error("batch size must be at least 1")]
    ZeroBatchSize,
    /// The number of publish attempts is zero.
    #[error("max attempts must be at least 1")]
    ZeroAttempts,
    /// The publish URI is not an http(s) URI.
    #[error("publish uri {0:?} must start with http:// or https://")]
    InvalidUri(String),
    /// The operating system refused to start a background thread.
    #[error("could not start the publisher thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

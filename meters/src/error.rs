//! The crate's error type.

use std::time::Duration;

/// Errors from building a [`RegistryConfig`](crate::RegistryConfig).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The step is shorter than a millisecond or not a whole number of milliseconds.
    #[error("step must be a whole number of milliseconds, at least 1 ms, got {0:?}")]
    InvalidStep(Duration),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

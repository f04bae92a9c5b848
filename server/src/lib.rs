//! The Sextant server: an in-memory time-series store with a roaring-bitmap tag index,
//! and the HTTP API that publishes into it and queries it.
#![deny(missing_docs)]

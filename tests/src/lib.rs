//! End-to-end tests live in `tests/tests/`; this crate holds only their shared harness.

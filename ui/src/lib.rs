//! Chart rendering (PNG, SVG) and the web UI of Sextant.
//!
//! Rendering arrives with the charts issue; until then this crate only fixes its place in
//! the dependency graph: `sextant-query` ← `sextant-ui` ← `sextant-server`.
#![deny(missing_docs)]

//! Sextant's charts and web UI: renders evaluated graph lines as PNG or SVG images the way
//! Atlas's `/api/v1/graph` draws them, and holds the static pages the server shows at `/`.
//!
//! # Overview
//! - [`render_png`] / [`render_svg`]: a chart from [`GraphParams`] (size, theme, axes,
//!   legend flags, time zones) and [`GraphLine`]s (series plus `:color`, `:lw`, `:ls`,
//!   `:axis` ...): title, up to five Y axes, one time axis per zone, legend with stats,
//!   warnings, and "NO DATA" when nothing matched. Lines styled `heatmap` (and
//!   `:percentiles-heatmap`) are drawn as a grid of shaded cells per axis.
//! - [`render_error_png`] / [`render_error_svg`]: an image that explains a failed request,
//!   so a dashboard `<img>` shows why instead of a broken icon.
//! - [`line_colors`]: the axis and color each line is drawn with, and [`named_palette`]
//!   the colors of a palette, for a page that draws its own legend in the same colors.
//! - [`format_value`]: a value as the legend writes it, in an axis' `tick_labels` units
//!   (`41.9ms`, `1.50Mi`, `1.23e300`), for tables that must agree with the chart.
//! - [`web`]: the HTML, JavaScript and CSS of the web UI, compiled in.
//! - [`Error`]: why rendering failed.
//!
//! Text is drawn with DejaVu Sans embedded in the crate (plotters' `ab_glyph` mode), so
//! output never depends on the fonts of the machine.
//!
//! ```
//! use sextant_query::{evaluate, parse, testing::StaticDatabase, EvalContext, GraphParams, GraphSettings};
//! let mut db = StaticDatabase::new(60_000);
//! db.push([("name", "cpu")], 0, vec![1.0, 3.0, 2.0, f64::NAN, 5.0]);
//! let pairs = [("q", "name,cpu,:eq,:sum"), ("s", "0"), ("e", "300000"), ("tz", "UTC")]
//!     .map(|(k, v)| (k.to_string(), v.to_string()));
//! let params = GraphParams::parse(&pairs, &GraphSettings::default(), 300_000)?;
//! let w = params.window;
//! let lines = evaluate(&parse(&params.q)?, &EvalContext::new(w.start, w.end, w.step), &db)?;
//! let png = sextant_ui::render_png(&params, &lines)?;
//! assert!(png.starts_with(b"\x89PNG"));
//! let svg = sextant_ui::render_svg(&params, &lines)?;
//! assert!(svg.contains("<svg"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod chart;
mod color;
mod data;
mod draw;
mod error;
mod fonts;
mod glyphs;
mod heatmap;
#[cfg(test)]
mod layout_tests;
mod output;
mod render;
mod ticks;
pub mod web;

pub use chart::line_colors;
pub use color::{named_palette, Rgba};
pub use data::{render_data, GraphData, SummaryStats};
pub use error::{Error, Result};
pub use output::{render, render_error, Rendered};
pub use render::{render_error_png, render_error_svg, render_png, render_svg, MAX_SIDE};
pub use sextant_query::{GraphLine, GraphParams, TickLabelMode};
pub use ticks::format_value;

//! The `/api/v1/graph` request model: parameters, step selection and the data output formats.
//!
//! [`GraphParams::parse`] turns the query parameters into a resolved [`TimeWindow`] and the
//! visual settings; [`render_data`] prints evaluated lines as csv/txt/json/std.json/stats.json.
//! See `docs/time.md` for the parameters and where they differ from Atlas.

mod format;
mod params;
mod step;

pub use format::{render_data, GraphData, SummaryStats};
pub use params::{
    AxisParams, Features, GraphParams, GraphSettings, HeatmapParams, Layout, OutputFormat,
    ParamError, PlotBound, Scale, SortBy, SortOrder, Theme, TickLabelMode, VisionType, MAX_Y_AXES,
};
pub use step::{round_to_step_boundary, StepSizes, TimeWindow};

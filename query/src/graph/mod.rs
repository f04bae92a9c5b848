//! The `/api/v1/graph` request model: parameters, step selection and the data output formats.
//!
//! [`GraphParams::parse`] turns the query parameters into a resolved [`TimeWindow`] and the
//! visual settings; `sextant-ui` renders the evaluated lines in every output format.
//! See `docs/time.md` for the parameters and where they differ from Atlas.

mod params;
mod step;

pub use params::{
    AxisParams, ErrorView, Features, GraphParams, GraphSettings, HeatmapParams, Layout,
    OutputFormat, ParamError, PlotBound, Scale, SortBy, SortOrder, Theme, TickLabelMode,
    VisionType, MAX_Y_AXES,
};
pub use step::{round_to_step_boundary, StepSizes, TimeWindow};

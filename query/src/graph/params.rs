//! Query parameters of `/api/v1/graph`, after Atlas's `Grapher.toGraphConfig`, `ImageFlags`
//! and `Axis`. Visual parameters are parsed and checked here even though only the chart
//! renderer uses them, so a bad value fails the same way for every output format.

use std::collections::BTreeSet;

use chrono_tz::Tz;

use super::step::{StepSizes, TimeWindow};
use crate::time::{self, TimeError};

/// Errors from reading graph parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// A required parameter is absent.
    #[error("missing required parameter '{0}'")]
    Missing(&'static str),
    /// A parameter has a value outside what it allows.
    #[error("invalid value '{value}' for parameter '{param}': expected {expected}")]
    Invalid {
        /// The parameter name as given, e.g. `scale.1`.
        param: String,
        /// The value as given.
        value: String,
        /// What the parameter allows.
        expected: String,
    },
    /// `s`/`e` could not be resolved to a time range.
    #[error("invalid time range s='{start}', e='{end}': {source}")]
    TimeRange {
        /// The start as given (or the default).
        start: String,
        /// The end as given (or the default).
        end: String,
        /// Why.
        source: TimeError,
    },
    /// The explicit `step`, after rounding, is not a whole multiple of the stored step.
    #[error(
        "invalid value '{value}' for parameter 'step': rounds to {rounded_ms}ms, which is not a \
         multiple of the primary step {primary_ms}ms"
    )]
    StepNotMultiple {
        /// The value as given.
        value: String,
        /// The step after rounding, ms.
        rounded_ms: i64,
        /// The primary (storage) step, ms.
        primary_ms: i64,
    },
    /// The explicit `step` is finer than the server will draw: below the primary step, or
    /// more datapoints over the window than the graph has pixels (or `max_datapoints`).
    #[error(
        "invalid value '{value}' for parameter 'step': {reason}; the smallest step allowed here is {smallest}"
    )]
    StepTooSmall {
        /// The value as given.
        value: String,
        /// Why it cannot be honoured.
        reason: String,
        /// The smallest step the server would honour for this window, as a duration.
        smallest: String,
    },
    /// The window cannot be aligned to the step without overflowing.
    #[error("time range cannot be aligned to a step of {step_ms}ms")]
    Alignment {
        /// The chosen step, ms.
        step_ms: i64,
    },
}

/// Server-side defaults and limits for graphs (Atlas's `atlas.eval.graph` and
/// `atlas.chart.limits` settings).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphSettings {
    /// Step the data is stored with, ms. Default 60 000.
    pub primary_step: i64,
    /// Storage block duration, ms; steps must divide it or be multiples of it. Default 1 h.
    pub block_step: i64,
    /// Most datapoints per line; with the width it drives the step. Default 1440.
    pub max_datapoints: u32,
    /// Start when `s` is absent. Default `e-3h`.
    pub start: String,
    /// End when `e` is absent. Default `now`.
    pub end: String,
    /// Zone when `tz` is absent. Default UTC (Atlas: US/Pacific).
    pub timezone: Tz,
    /// Width when `w` is absent. Default 700.
    pub width: u32,
    /// Height when `h` is absent. Default 300.
    pub height: u32,
    /// Larger widths are clamped, with a notice. Default 2000.
    pub max_width: u32,
    /// Larger heights are clamped, with a notice. Default 1000.
    pub max_height: u32,
    /// Larger zooms are clamped, with a notice. Default 2.0.
    pub max_zoom: f64,
}

impl Default for GraphSettings {
    fn default() -> Self {
        Self {
            primary_step: 60_000,
            block_step: 3_600_000,
            max_datapoints: 1440,
            start: "e-3h".to_string(),
            end: "now".to_string(),
            timezone: chrono_tz::UTC,
            width: 700,
            height: 300,
            max_width: 2000,
            max_height: 1000,
            max_zoom: 2.0,
        }
    }
}

/// Number of Y axes a graph may have; per-axis parameters use suffixes `.0` to `.4`.
pub const MAX_Y_AXES: usize = 5;

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            const NAMES: &'static [&'static str] = &[$($text),+];

            /// The name used in URLs.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            fn from_name(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

named_enum! {
    /// `format`: what `/api/v1/graph` returns.
    OutputFormat {
        /// PNG image (default).
        Png = "png",
        /// SVG image.
        Svg = "svg",
        /// Comma separated values.
        Csv = "csv",
        /// Tab separated values, served as text/plain.
        Txt = "txt",
        /// Atlas JSON with bare `NaN`.
        Json = "json",
        /// JSON with non-finite numbers as strings.
        StdJson = "std.json",
        /// Summary statistics per line.
        StatsJson = "stats.json",
    }
}

impl OutputFormat {
    /// MIME type of the body.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Png => "image/png",
            OutputFormat::Svg => "image/svg+xml",
            OutputFormat::Csv => "text/csv",
            OutputFormat::Txt => "text/plain",
            OutputFormat::Json | OutputFormat::StdJson | OutputFormat::StatsJson => {
                "application/json"
            }
        }
    }

    /// True for the formats the chart renderer draws.
    pub fn is_image(self) -> bool {
        matches!(self, OutputFormat::Png | OutputFormat::Svg)
    }
}

named_enum! {
    /// `layout`: which element `w`/`h` size.
    Layout {
        /// `w`/`h` size the data canvas; the image grows around it (default).
        Canvas = "canvas",
        /// `w`/`h` size the whole image.
        Image = "image",
        /// `w` is the image width, `h` the canvas height.
        ImageWidth = "iw",
        /// `w` is the canvas width, `h` the image height.
        ImageHeight = "ih",
    }
}

named_enum! {
    /// `theme`.
    Theme {
        /// Dark lines on white (default).
        Light = "light",
        /// Light lines on dark.
        Dark = "dark",
    }
}

impl Theme {
    /// Palette used when `palette` is absent.
    pub fn default_palette(self) -> &'static str {
        match self {
            Theme::Light => "armytage",
            Theme::Dark => "light24",
        }
    }

    /// Palette for `:offset` lines that set no color.
    pub fn offset_palette(self) -> &'static str {
        match self {
            Theme::Light => "bw",
            Theme::Dark => "lightgray",
        }
    }
}

named_enum! {
    /// `vision`: colour-vision simulation for the rendered image.
    VisionType {
        /// No simulation (default).
        Normal = "normal",
        /// Red-blind.
        Protanopia = "protanopia",
        /// Red-weak.
        Protanomaly = "protanomaly",
        /// Green-blind.
        Deuteranopia = "deuteranopia",
        /// Green-weak.
        Deuteranomaly = "deuteranomaly",
        /// Blue-blind.
        Tritanopia = "tritanopia",
        /// Blue-weak.
        Tritanomaly = "tritanomaly",
        /// No colour.
        Achromatopsia = "achromatopsia",
        /// Weak colour.
        Achromatomaly = "achromatomaly",
    }
}

named_enum! {
    /// `features`: whether unstable stack-language words are enabled.
    Features {
        /// Stable words only (default).
        Stable = "stable",
        /// Also unstable words.
        Unstable = "unstable",
    }
}

named_enum! {
    /// `scale[.N]`: Y axis scale.
    Scale {
        /// Linear (default).
        Linear = "linear",
        /// Logarithmic (also legacy `o=1`).
        Log = "log",
        /// Linear near zero, logarithmic beyond.
        LogLinear = "log-linear",
        /// Power of 2.
        Pow2 = "pow2",
        /// Square root.
        Sqrt = "sqrt",
    }
}

named_enum! {
    /// `tick_labels[.N]`: how Y tick labels are written.
    TickLabelMode {
        /// Decimal metric prefixes (default).
        Decimal = "decimal",
        /// Binary prefixes.
        Binary = "binary",
        /// Values as durations.
        Duration = "duration",
        /// No labels.
        Off = "off",
    }
}

named_enum! {
    /// `sort[.N]`: what the lines of an axis are sorted by.
    SortBy {
        /// The legend text.
        Legend = "legend",
        /// Minimum value.
        Min = "min",
        /// Maximum value.
        Max = "max",
        /// Average value.
        Avg = "avg",
        /// Number of non-NaN values.
        Count = "count",
        /// Sum of values.
        Total = "total",
        /// Last non-NaN value.
        Last = "last",
    }
}

named_enum! {
    /// `order[.N]`: sort direction.
    SortOrder {
        /// Ascending (default).
        Asc = "asc",
        /// Descending.
        Desc = "desc",
    }
}

/// `l[.N]`/`u[.N]` (and the heatmap bounds): an axis bound.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum PlotBound {
    /// From the data, but pinned to 0 when the axis has an area or stack line (default).
    #[default]
    AutoStyle,
    /// From the data.
    AutoData,
    /// This value.
    Explicit(f64),
}

/// Heatmap settings of one axis (`heatmap_scale`, `heatmap_u`, `heatmap_l`, `heatmap_palette`,
/// `heatmap_label`, each with an optional `.N`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeatmapParams {
    /// Colour scale; `None` means linear.
    pub scale: Option<Scale>,
    /// Upper bound of the colour scale.
    pub upper: PlotBound,
    /// Lower bound of the colour scale.
    pub lower: PlotBound,
    /// Palette name.
    pub palette: Option<String>,
    /// Label for the colour scale.
    pub label: Option<String>,
}

/// Settings of one Y axis. `name.N` applies to axis N and a bare `name` to every axis without
/// its own value (`palette` is the exception: bare `palette` is the graph palette).
#[derive(Debug, Clone, PartialEq)]
pub struct AxisParams {
    /// `u`: upper bound.
    pub upper: PlotBound,
    /// `l`: lower bound.
    pub lower: PlotBound,
    /// `scale`, or `log` for legacy `o=1`.
    pub scale: Scale,
    /// `stack=1`: lines default to the stack style.
    pub stack: bool,
    /// `ylabel`; may contain `$key` placeholders.
    pub ylabel: Option<String>,
    /// `tick_labels`.
    pub tick_labels: TickLabelMode,
    /// `palette.N` only.
    pub palette: Option<String>,
    /// `sort`; `None` keeps expression order unless `order=desc`.
    pub sort: Option<SortBy>,
    /// `order`.
    pub order: SortOrder,
    /// Heatmap settings.
    pub heatmap: HeatmapParams,
}

impl Default for AxisParams {
    fn default() -> Self {
        Self {
            upper: PlotBound::AutoStyle,
            lower: PlotBound::AutoStyle,
            scale: Scale::Linear,
            stack: false,
            ylabel: None,
            tick_labels: TickLabelMode::Decimal,
            palette: None,
            sort: None,
            order: SortOrder::Asc,
            heatmap: HeatmapParams::default(),
        }
    }
}

/// The parsed and resolved parameters of one `/api/v1/graph` request.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphParams {
    /// `q`: the stack-language expression.
    pub q: String,
    /// `cq`: common query ANDed into every query of `q`.
    pub cq: Option<String>,
    /// `format`.
    pub format: OutputFormat,
    /// `tz`, in request order; never empty, and the first is the primary zone.
    pub timezones: Vec<Tz>,
    /// The aligned datapoints the evaluator must produce (`s`, `e`, `step`, `w`).
    pub window: TimeWindow,
    /// `w` after clamping.
    pub width: u32,
    /// `h` after clamping.
    pub height: u32,
    /// `zoom` after clamping.
    pub zoom: f64,
    /// `layout`.
    pub layout: Layout,
    /// `title`; may contain `$key` placeholders. Empty means none.
    pub title: Option<String>,
    /// `no_legend=1` clears it.
    pub show_legend: bool,
    /// `no_legend_stats=1` clears it.
    pub show_legend_stats: bool,
    /// `only_graph=1`.
    pub only_graph: bool,
    /// `axis_per_line=1`.
    pub axis_per_line: bool,
    /// `theme`.
    pub theme: Theme,
    /// `palette`, or the theme's default palette.
    pub palette: String,
    /// `vision`.
    pub vision: VisionType,
    /// Per-axis settings, index = axis number.
    pub axes: [AxisParams; MAX_Y_AXES],
    /// `hints`: comma separated rendering hints, trimmed, empties dropped.
    pub hints: BTreeSet<String>,
    /// `features`.
    pub features: Features,
    /// `id`: caller id, `default` when absent.
    pub id: String,
    /// Things the caller should know that are not errors (clamped sizes, a rounded `step`).
    /// Output formats print them as notices.
    pub warnings: Vec<String>,
    /// Set after evaluation when the data came from a cluster that could not reach every
    /// partition: the JSON formats carry it as `partial`, and a legend line says so.
    pub partial: Option<crate::Partial>,
}

impl GraphParams {
    /// Parses the query parameters of a graph request, in request order (keys may repeat; only
    /// `tz` uses more than the first value). Unknown parameters are ignored. `now` is the
    /// request time in epoch ms, for `now`-relative times.
    ///
    /// ```
    /// use sextant_query::{GraphParams, GraphSettings, OutputFormat};
    /// let pairs = [("q", "name,cpu,:eq,:sum"), ("s", "e-1d"), ("format", "csv")]
    ///     .map(|(k, v)| (k.to_string(), v.to_string()));
    /// let now = 1_325_408_400_000;
    /// let params = GraphParams::parse(&pairs, &GraphSettings::default(), now)?;
    /// assert_eq!(params.format, OutputFormat::Csv);
    /// assert_eq!(params.window.step, 180_000); // 1 day on 700 pixels → 3m
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(
        pairs: &[(String, String)],
        settings: &GraphSettings,
        now: i64,
    ) -> Result<Self, ParamError> {
        let p = Params(pairs);
        let mut warnings = Vec::new();

        let q = p.get("q").ok_or(ParamError::Missing("q"))?.to_string();
        let format = p.parse_enum("format", OutputFormat::from_name, OutputFormat::NAMES)?;

        let mut timezones = Vec::new();
        for name in p.all("tz") {
            let tz = time::parse_time_zone(name).map_err(|_| {
                invalid(
                    "tz",
                    name,
                    "an IANA time zone name such as UTC or US/Pacific",
                )
            })?;
            timezones.push(tz);
        }
        if timezones.is_empty() {
            timezones.push(settings.timezone);
        }

        let width = p.positive("w", settings.width)?;
        let height = p.positive("h", settings.height)?;
        let width = clamp_u32(width, settings.max_width, "width", &mut warnings);
        let height = clamp_u32(height, settings.max_height, "height", &mut warnings);
        let zoom = match p.get("zoom") {
            None => 1.0,
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|z| z.is_finite() && *z > 0.0)
                .ok_or_else(|| invalid("zoom", v, "a positive number"))?,
        };
        let zoom = if zoom > settings.max_zoom {
            warnings.push(format!("Restricted zoom to {:?}.", settings.max_zoom));
            settings.max_zoom
        } else {
            zoom
        };

        let window = resolve_window(&p, settings, timezones[0], width, now, &mut warnings)?;

        let theme = p
            .parse_enum("theme", Theme::from_name, Theme::NAMES)?
            .unwrap_or(Theme::Light);
        let mut axes: [AxisParams; MAX_Y_AXES] = Default::default();
        for (i, axis) in axes.iter_mut().enumerate() {
            *axis = parse_axis(&p, i)?;
        }
        let hints = p
            .get("hints")
            .into_iter()
            .flat_map(|h| h.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect();

        Ok(Self {
            q,
            cq: p.get("cq").map(str::to_string),
            format: format.unwrap_or(OutputFormat::Png),
            timezones,
            window,
            width,
            height,
            zoom,
            layout: p
                .parse_enum("layout", Layout::from_name, Layout::NAMES)?
                .unwrap_or(Layout::Canvas),
            title: p.get("title").filter(|t| !t.is_empty()).map(str::to_string),
            show_legend: !p.flag("no_legend")?,
            show_legend_stats: !p.flag("no_legend_stats")?,
            only_graph: p.flag("only_graph")?,
            axis_per_line: p.flag("axis_per_line")?,
            theme,
            palette: p
                .non_empty("palette")?
                .unwrap_or(theme.default_palette())
                .to_string(),
            vision: p
                .parse_enum("vision", VisionType::from_name, VisionType::NAMES)?
                .unwrap_or(VisionType::Normal),
            axes,
            hints,
            features: p
                .parse_enum("features", Features::from_name, Features::NAMES)?
                .unwrap_or(Features::Stable),
            id: p
                .get("id")
                .filter(|v| !v.is_empty())
                .unwrap_or("default")
                .to_string(),
            warnings,
            partial: None,
        })
    }

    /// The first `tz`: the zone times are printed in and zone-less times are read in.
    pub fn primary_timezone(&self) -> Tz {
        self.timezones.first().copied().unwrap_or(chrono_tz::UTC)
    }
}

/// How to show a failed graph request, read from the same parameters as
/// [`GraphParams::parse`] but leniently: a bad value falls back to its default, since
/// parsing the parameters may be what failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorView {
    /// `Some(Png)` or `Some(Svg)`: draw the message as an image, so an `<img>` shows it;
    /// `None`: a JSON error body.
    pub image: Option<OutputFormat>,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Image colours.
    pub theme: Theme,
}

impl ErrorView {
    /// The view for a request with these parameters. As in Atlas, a request without
    /// `format` gets an image only from a web browser (`browser`, judged by its
    /// User-Agent) and a JSON error otherwise; `format=png|svg` always gets the image.
    ///
    /// ```
    /// use sextant_query::{ErrorView, GraphSettings, OutputFormat};
    /// let pairs = [("q", ":foo"), ("w", "oops")].map(|(k, v)| (k.to_string(), v.to_string()));
    /// let view = ErrorView::for_request(&pairs, &GraphSettings::default(), true);
    /// assert_eq!(view.image, Some(OutputFormat::Png));
    /// assert_eq!(view.width, GraphSettings::default().width);
    /// assert_eq!(ErrorView::for_request(&pairs, &GraphSettings::default(), false).image, None);
    /// ```
    pub fn for_request(
        pairs: &[(String, String)],
        settings: &GraphSettings,
        browser: bool,
    ) -> Self {
        let p = Params(pairs);
        let image = match p.parse_enum("format", OutputFormat::from_name, OutputFormat::NAMES) {
            Ok(None) => browser.then_some(OutputFormat::Png),
            Ok(Some(f)) if f.is_image() => Some(f),
            Ok(Some(_)) | Err(_) => None,
        };
        let side =
            |key, default: u32, max: u32| p.positive(key, default).unwrap_or(default).min(max);
        ErrorView {
            image,
            width: side("w", settings.width, settings.max_width),
            height: side("h", settings.height, settings.max_height),
            theme: p
                .parse_enum("theme", Theme::from_name, Theme::NAMES)
                .ok()
                .flatten()
                .unwrap_or(Theme::Light),
        }
    }
}

fn clamp_u32(v: u32, max: u32, what: &str, warnings: &mut Vec<String>) -> u32 {
    if v > max {
        // Atlas's wording, so clients that match on notices keep working.
        warnings.push(format!("Restricted graph {what} to {max}."));
        max
    } else {
        v
    }
}

/// Resolves `s`/`e` in the primary zone, picks the step and aligns the window to it.
fn resolve_window(
    p: &Params<'_>,
    settings: &GraphSettings,
    tz: Tz,
    width: u32,
    now: i64,
    warnings: &mut Vec<String>,
) -> Result<TimeWindow, ParamError> {
    let s = p.get("s").unwrap_or(&settings.start);
    let e = p.get("e").unwrap_or(&settings.end);
    let (start, end) = time::time_range(s, e, tz, now).map_err(|source| ParamError::TimeRange {
        start: s.to_string(),
        end: e.to_string(),
        source,
    })?;

    let sizes = StepSizes::for_block_step(settings.block_step);
    let primary = settings.primary_step.max(1);
    let requested = match p.get("step") {
        None => primary,
        Some(v) => {
            let ms = time::parse_duration(v)
                .map_err(|_| invalid("step", v, "a duration such as 1m, 5m or PT1H"))?
                .num_milliseconds();
            if ms <= 0 {
                return Err(invalid("step", v, "a duration of at least 1ms"));
            }
            let rounded = sizes.round(primary, ms);
            if rounded % primary != 0 {
                return Err(ParamError::StepNotMultiple {
                    value: v.to_string(),
                    rounded_ms: rounded,
                    primary_ms: primary,
                });
            }
            if rounded != ms {
                // Atlas rounds silently (Netflix/atlas#356); say so instead.
                let shown = time::format_duration(chrono::TimeDelta::milliseconds(rounded));
                warnings.push(format!("Step {v} was rounded to {shown}."));
            }
            rounded
        }
    };
    let pixels = width.min(settings.max_datapoints);
    let step = sizes.compute(requested, pixels, start, end);
    if let Some(v) = p.get("step") {
        // Honoured or refused, never silently replaced by a coarser one.
        let shown = |ms: i64| time::format_duration(chrono::TimeDelta::milliseconds(ms));
        let ms = time::parse_duration(v).map_or(0, |d| d.num_milliseconds());
        if ms < primary {
            return Err(ParamError::StepTooSmall {
                value: crate::shown(v),
                reason: format!("it is finer than the stored step {}", shown(primary)),
                smallest: shown(primary),
            });
        }
        if step > requested {
            return Err(ParamError::StepTooSmall {
                value: crate::shown(v),
                reason: format!(
                    "the window would need {} datapoints per line, more than the {pixels} the \
                     graph draws",
                    end.saturating_sub(start) / requested.max(1)
                ),
                smallest: shown(step),
            });
        }
    }
    TimeWindow::align(start, end, step).ok_or(ParamError::Alignment { step_ms: step })
}

fn parse_axis(p: &Params<'_>, i: usize) -> Result<AxisParams, ParamError> {
    let bound = |name: &str| -> Result<PlotBound, ParamError> {
        p.axis(name, i)
            .map_or(Ok(PlotBound::AutoStyle), |(k, v)| parse_bound(&k, v))
    };
    let scale = match p.axis_enum("scale", i, Scale::from_name, Scale::NAMES)? {
        Some(scale) => scale,
        None => match p.axis("o", i) {
            Some((k, v)) => match v {
                "1" => Scale::Log,
                "0" => Scale::Linear,
                _ => return Err(invalid(&k, v, "1 or 0")),
            },
            None => Scale::Linear,
        },
    };
    let heatmap_scale = p.axis_enum("heatmap_scale", i, Scale::from_name, Scale::NAMES)?;
    let text = |name: &str| {
        p.axis(name, i)
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(AxisParams {
        upper: bound("u")?,
        lower: bound("l")?,
        scale,
        stack: match p.axis("stack", i) {
            Some((k, v)) => parse_flag(&k, v)?,
            None => false,
        },
        ylabel: text("ylabel"),
        tick_labels: p
            .axis_enum(
                "tick_labels",
                i,
                // Atlas reads this one case-insensitively.
                |v| TickLabelMode::from_name(&v.to_ascii_lowercase()),
                TickLabelMode::NAMES,
            )?
            .unwrap_or(TickLabelMode::Decimal),
        palette: p
            .get(&format!("palette.{i}"))
            .filter(|v| !v.is_empty())
            .map(str::to_string),
        sort: p.axis_enum("sort", i, SortBy::from_name, SortBy::NAMES)?,
        order: p
            .axis_enum("order", i, SortOrder::from_name, SortOrder::NAMES)?
            .unwrap_or(SortOrder::Asc),
        heatmap: HeatmapParams {
            scale: heatmap_scale,
            upper: bound("heatmap_u")?,
            lower: bound("heatmap_l")?,
            palette: text("heatmap_palette"),
            label: text("heatmap_label"),
        },
    })
}

fn parse_bound(param: &str, v: &str) -> Result<PlotBound, ParamError> {
    match v {
        "auto-style" => Ok(PlotBound::AutoStyle),
        "auto-data" => Ok(PlotBound::AutoData),
        _ => v
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(PlotBound::Explicit)
            .ok_or_else(|| invalid(param, v, "auto-style, auto-data or a finite number")),
    }
}

fn parse_flag(param: &str, v: &str) -> Result<bool, ParamError> {
    match v {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(invalid(param, v, "1 or 0")),
    }
}

fn invalid(param: &str, value: &str, expected: &str) -> ParamError {
    ParamError::Invalid {
        param: crate::shown(param),
        value: crate::shown(value),
        expected: expected.to_string(),
    }
}

fn one_of(param: &str, value: &str, names: &[&str]) -> ParamError {
    invalid(param, value, &format!("one of {}", names.join(", ")))
}

/// A looked-up `(key, value)` read with `from_name`; an unknown name is an error listing `names`.
fn enum_value<T>(
    found: Option<(String, &str)>,
    from_name: fn(&str) -> Option<T>,
    names: &[&str],
) -> Result<Option<T>, ParamError> {
    match found {
        None => Ok(None),
        Some((k, v)) => from_name(v).map(Some).ok_or_else(|| one_of(&k, v, names)),
    }
}

/// Lookups over the raw pairs; the first occurrence of a key wins, as in Atlas.
struct Params<'a>(&'a [(String, String)]);

impl<'a> Params<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all<'k>(&self, key: &'k str) -> impl Iterator<Item = &'a str> + 'k
    where
        'a: 'k,
    {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `name.i` if present, else `name`; returns the key actually used, for error messages.
    fn axis(&self, name: &str, i: usize) -> Option<(String, &'a str)> {
        let indexed = format!("{name}.{i}");
        match self.get(&indexed) {
            Some(v) => Some((indexed, v)),
            None => self.get(name).map(|v| (name.to_string(), v)),
        }
    }

    fn parse_enum<T>(
        &self,
        key: &str,
        from_name: fn(&str) -> Option<T>,
        names: &[&str],
    ) -> Result<Option<T>, ParamError> {
        let found = self.get(key).map(|v| (key.to_string(), v));
        enum_value(found, from_name, names)
    }

    /// [`Params::parse_enum`] for a per-axis parameter, read as [`Params::axis`] does.
    fn axis_enum<T>(
        &self,
        name: &str,
        i: usize,
        from_name: fn(&str) -> Option<T>,
        names: &[&str],
    ) -> Result<Option<T>, ParamError> {
        enum_value(self.axis(name, i), from_name, names)
    }

    fn flag(&self, key: &str) -> Result<bool, ParamError> {
        self.get(key).map_or(Ok(false), |v| parse_flag(key, v))
    }

    fn positive(&self, key: &str, default: u32) -> Result<u32, ParamError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(key, v, "a positive integer")),
        }
    }

    fn non_empty(&self, key: &str) -> Result<Option<&'a str>, ParamError> {
        match self.get(key) {
            Some("") => Err(invalid(key, "", "a palette name")),
            other => Ok(other),
        }
    }
}

//! The chart model: which line goes on which axis in which color, the value range and
//! ticks of each axis, and where every element sits. Drawing (in `draw.rs`) only reads
//! this, so PNG and SVG share one layout.

use sextant_query::{
    GraphLine, GraphParams, Layout as SizeLayout, LineStyle, PlotBound, SortBy, SortOrder, Theme,
    TickLabelMode, TimeSeries, MAX_Y_AXES,
};

use crate::color::{ColorCycle, Rgba};
use crate::data::SummaryStats;
use crate::fonts;
use crate::heatmap::Heatmap;
use crate::ticks::{self, TimeTick, ValueRange};

/// Lines listed in the legend; more are summarised in one row, as Atlas does.
const MAX_LEGEND_LINES: usize = 50;
/// The smallest canvas side, as Atlas's `min-canvas-width/height`.
const MIN_CANVAS: f64 = 64.0;

/// Colors of a theme (after Atlas's `atlas-chart` reference.conf).
#[derive(Debug, Clone, Copy)]
pub struct Palette {
    pub background: Rgba,
    pub canvas: Rgba,
    pub text: Rgba,
    pub grid: Rgba,
    pub axis: Rgba,
    pub warning_bg: Rgba,
    pub warning_text: Rgba,
}

impl Palette {
    pub fn of(theme: Theme) -> Palette {
        match theme {
            Theme::Light => Palette {
                background: Rgba::rgb(0xf5f5f5),
                canvas: Rgba::rgb(0xffffff),
                text: Rgba::rgb(0x000000),
                grid: Rgba::rgb(0xababab).with_alpha(0x7f),
                axis: Rgba::rgb(0x000000),
                warning_bg: Rgba::rgb(0xffc800),
                warning_text: Rgba::rgb(0x000000),
            },
            Theme::Dark => Palette {
                background: Rgba::rgb(0x0a0a0a),
                canvas: Rgba::rgb(0x000000),
                text: Rgba::rgb(0xffffff),
                grid: Rgba::rgb(0x6b6b6b).with_alpha(0x7f),
                axis: Rgba::rgb(0xffffff),
                warning_bg: Rgba::rgb(0xffc800),
                warning_text: Rgba::rgb(0x000000),
            },
        }
    }
}

/// Font sizes and spacing, already multiplied by `zoom`.
#[derive(Debug, Clone, Copy)]
pub struct Metrics {
    pub text: f64,
    pub title: f64,
    pub line: f64,
    pub pad: f64,
    pub tick: f64,
    pub zoom: f64,
}

impl Metrics {
    pub fn from_zoom(zoom: f64) -> Metrics {
        let z = if zoom.is_finite() && zoom > 0.0 {
            zoom
        } else {
            1.0
        };
        Metrics {
            text: 11.0 * z,
            title: 14.0 * z,
            line: 15.0 * z,
            pad: 5.0 * z,
            tick: 4.0 * z,
            zoom: z,
        }
    }
}

/// Width of `text` in pixels at `size`.
pub fn text_width(text: &str, size: f64) -> f64 {
    match fonts::face() {
        Some(font) => crate::glyphs::width(font, text, size),
        // Only reached if the font is missing, which `fonts::ensure` reports first.
        None => text.chars().count() as f64 * size * 0.6,
    }
}

/// Cuts `text` so it fits in `width` pixels, marking the cut with an ellipsis.
pub fn fit(text: &str, size: f64, width: f64) -> String {
    // No glyph of DejaVu Sans advances less than 0.25 em but zero-width marks, so more
    // characters than this never fit: a long label is cut there before it is measured,
    // rather than measured whole and then once per character.
    let most = (width / (size * 0.25)).max(0.0).ceil() as usize + 1;
    let mut chars: Vec<char> = text.chars().take(most + 1).collect();
    if chars.len() <= most && text_width(text, size) <= width {
        return text.to_string();
    }
    while !chars.is_empty() {
        chars.pop();
        let s: String = chars.iter().collect::<String>() + "…";
        if text_width(&s, size) <= width {
            return s;
        }
    }
    String::new()
}

/// One line as drawn.
pub struct PlotLine<'a> {
    pub series: &'a TimeSeries,
    pub color: Rgba,
    pub style: LineStyle,
    pub width: f64,
    pub axis: usize,
    pub stats: SummaryStats,
    /// For stacked lines: the (bottom, top) of the band at each datapoint.
    pub band: Option<Vec<(f64, f64)>>,
}

/// One Y axis.
pub struct Axis {
    pub index: usize,
    pub range: ValueRange,
    pub ticks: Vec<f64>,
    pub labels: Vec<String>,
    pub ylabel: Option<String>,
    pub color: Rgba,
    /// Pixels the axis takes beside the canvas.
    pub width: f64,
    /// Pixels a tick label may take; longer ones are cut.
    pub label_width: f64,
    /// Left of the canvas (axis 0) or right (the others).
    pub left: bool,
    /// Distance from the canvas edge, pixels.
    pub offset: f64,
}

/// One time axis.
pub struct TimeAxis {
    pub zone: String,
    pub ticks: Vec<TimeTick>,
}

/// A row of the legend area.
pub enum LegendRow {
    Header(String),
    Entry {
        color: Rgba,
        label: String,
    },
    /// The color scale of an axis' heatmap; filled in once the heatmap is counted.
    Heatmap {
        axis: usize,
        colors: Vec<Rgba>,
        label: String,
    },
    /// A line's stats, written in its axis' tick label units.
    Stats(SummaryStats, TickLabelMode),
    Note(String),
    Warning(String),
}

/// Everything needed to draw a chart.
pub struct Chart<'a> {
    pub palette: Palette,
    pub m: Metrics,
    pub width: u32,
    pub height: u32,
    pub title: Option<String>,
    /// Canvas rectangle: x, y, width, height.
    pub canvas: (f64, f64, f64, f64),
    pub lines: Vec<PlotLine<'a>>,
    /// One per axis that has heatmap lines.
    pub heatmaps: Vec<Heatmap>,
    pub axes: Vec<Axis>,
    pub time_axes: Vec<TimeAxis>,
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub legend: Vec<LegendRow>,
    pub legend_top: f64,
    pub stat_column: f64,
    pub only_graph: bool,
    pub no_data: bool,
}

impl Chart<'_> {
    /// Column of time `t` on the canvas, absolute pixels.
    pub fn x(&self, t: i64) -> f64 {
        let (cx, _, cw, _) = self.canvas;
        let span = (self.end - self.start).max(1) as f64;
        cx + (t - self.start) as f64 / span * cw
    }

    /// Row of `v` on axis `axis`, absolute pixels.
    pub fn y(&self, axis: usize, v: f64) -> f64 {
        let (_, cy, _, ch) = self.canvas;
        let range = self
            .axes
            .iter()
            .find(|a| a.index == axis)
            .map(|a| a.range)
            .unwrap_or(ValueRange {
                min: 0.0,
                max: 1.0,
                scale: sextant_query::Scale::Linear,
                pad: (0.0, 0.0),
            });
        cy + range.y(v, ch)
    }
}

/// The axis and color of each line, in `lines` order, as the chart draws them.
///
/// Colors follow Atlas's Grapher: one palette shared by all axes, so lines on different
/// axes never start over at the same color; an axis with its own `palette.N`, and an
/// expression with its own `:palette`, draw from their own. Only lines without an
/// explicit `:color` take a palette color, and all heatmap lines of an axis share one.
///
/// ```
/// use sextant_query::{evaluate, parse, testing::StaticDatabase, EvalContext, GraphParams, GraphSettings};
/// let mut db = StaticDatabase::new(60_000);
/// db.push([("name", "a")], 0, vec![1.0; 5]);
/// db.push([("name", "b")], 0, vec![2.0; 5]);
/// let q = "name,a,:eq,name,b,:eq,1,:axis";
/// let pairs = [("q", q), ("s", "0"), ("e", "300000"), ("tz", "UTC")]
///     .map(|(k, v)| (k.to_string(), v.to_string()));
/// let params = GraphParams::parse(&pairs, &GraphSettings::default(), 300_000)?;
/// let w = params.window;
/// let lines = evaluate(&parse(&params.q)?, &EvalContext::new(w.start, w.end, w.step), &db)?;
/// let colors = sextant_ui::line_colors(&params, &lines);
/// // One palette across the axes: the line on axis 1 takes the palette's second color.
/// let armytage = sextant_ui::named_palette("armytage").unwrap_or_default();
/// assert_eq!(colors[0], (0, sextant_ui::Rgba::rgb(armytage[0])));
/// assert_eq!(colors[1], (1, sextant_ui::Rgba::rgb(armytage[1])));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn line_colors(params: &GraphParams, lines: &[GraphLine]) -> Vec<(usize, Rgba)> {
    let fallback = params.theme.default_palette();
    let shared = ColorCycle::named(&params.palette, fallback);
    let own: Vec<Option<ColorCycle>> = params
        .axes
        .iter()
        .map(|a| a.palette.as_deref().map(|p| ColorCycle::named(p, fallback)))
        .collect();
    let mut shared_next = 0usize;
    let mut own_next = [0usize; MAX_Y_AXES];
    let mut expr_next: Vec<usize> = Vec::new();
    let mut heatmap_color: [Option<Rgba>; MAX_Y_AXES] = [None; MAX_Y_AXES];
    let mut out = Vec::with_capacity(lines.len());
    for (n, line) in lines.iter().enumerate() {
        // `axis_per_line` gives each line its own axis; past the last axis they share it.
        let axis = if params.axis_per_line {
            n
        } else {
            line.style.axis.map(usize::from).unwrap_or(0)
        }
        .min(MAX_Y_AXES - 1);
        if expr_next.len() <= line.expr_index {
            expr_next.resize(line.expr_index + 1, 0);
        }
        let heatmap = line.style.line_style == Some(LineStyle::Heatmap);
        let explicit = line.style.color.as_deref().and_then(Rgba::parse);
        let color = match (explicit, heatmap.then_some(heatmap_color[axis]).flatten()) {
            (Some(c), _) | (None, Some(c)) => c,
            (None, None) => {
                let take = |next: &mut usize| {
                    *next += 1;
                    *next - 1
                };
                let c = if let Some(p) = &line.style.palette {
                    ColorCycle::of(p, fallback)
                        .pick(take(&mut expr_next[line.expr_index]), &line.series.label)
                } else if let Some(cycle) = &own[axis] {
                    cycle.pick(take(&mut own_next[axis]), &line.series.label)
                } else {
                    shared.pick(take(&mut shared_next), &line.series.label)
                };
                if heatmap {
                    heatmap_color[axis] = Some(c);
                }
                c
            }
        };
        let color = match line
            .style
            .alpha
            .as_deref()
            .and_then(|a| u8::from_str_radix(a, 16).ok())
        {
            Some(a) => color.with_alpha(a),
            None => color,
        };
        out.push((axis, color));
    }
    out
}

fn value_at(s: &TimeSeries, t: i64) -> f64 {
    if s.step <= 0 || t < s.start {
        return f64::NAN;
    }
    let i = (t - s.start) / s.step;
    usize::try_from(i)
        .ok()
        .and_then(|i| s.values.get(i).copied())
        .unwrap_or(f64::NAN)
}

/// Applies the axis-level `sort`/`order` URL parameters: lines of an axis are re-sorted
/// across expressions (after colors are picked, so colors stay with their lines), stably,
/// with NaN stats last in either order. Axes without them keep expression order.
fn sort_lines(plot: &mut [PlotLine<'_>], params: &GraphParams) {
    let sorted = |axis: usize| {
        let a = &params.axes[axis];
        a.sort.is_some() || a.order == SortOrder::Desc
    };
    if !plot.iter().any(|l| sorted(l.axis)) {
        return;
    }
    let stat = |l: &PlotLine<'_>, by: SortBy| -> f64 {
        let s = &l.stats;
        match by {
            SortBy::Min => s.min,
            SortBy::Max => s.max,
            SortBy::Avg => s.avg,
            SortBy::Count => s.count as f64,
            SortBy::Total => s.total,
            SortBy::Last => s.last,
            SortBy::Legend => f64::NAN,
        }
    };
    plot.sort_by(|x, y| {
        if x.axis != y.axis {
            return x.axis.cmp(&y.axis);
        }
        let a = &params.axes[x.axis];
        if !sorted(x.axis) {
            return std::cmp::Ordering::Equal;
        }
        let by = a.sort.unwrap_or(SortBy::Legend);
        let ord = if by == SortBy::Legend {
            x.series.label.cmp(&y.series.label)
        } else {
            let (u, v) = (stat(x, by), stat(y, by));
            match (u.is_nan(), v.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                // NaN last whatever the order: decided before the direction flips.
                (true, false) => return std::cmp::Ordering::Greater,
                (false, true) => return std::cmp::Ordering::Less,
                (false, false) => u.total_cmp(&v),
            }
        };
        if a.order == SortOrder::Desc {
            ord.reverse()
        } else {
            ord
        }
    });
}

/// Computes the stacked bands of the stack lines of each axis: positive values stack
/// upwards from 0 and negative ones downwards, so mixed signs never overlap.
fn stack_bands(lines: &mut [PlotLine<'_>], times: &[i64]) {
    for axis in 0..MAX_Y_AXES {
        let mut pos = vec![0.0f64; times.len()];
        let mut neg = vec![0.0f64; times.len()];
        for line in lines
            .iter_mut()
            .filter(|l| l.axis == axis && l.style == LineStyle::Stack)
        {
            let band = times
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let v = value_at(line.series, *t);
                    if v.is_nan() {
                        (f64::NAN, f64::NAN)
                    } else if v >= 0.0 {
                        let b = pos[i];
                        pos[i] += v;
                        (b, pos[i])
                    } else {
                        let b = neg[i];
                        neg[i] += v;
                        (b, neg[i])
                    }
                })
                .collect();
            line.band = Some(band);
        }
    }
}

fn axis_range(
    lines: &[PlotLine<'_>],
    axis: usize,
    params: &GraphParams,
    times: &[i64],
    pad: f64,
) -> ValueRange {
    let ap = &params.axes[axis];
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut filled = false;
    for line in lines.iter().filter(|l| l.axis == axis) {
        match line.style {
            LineStyle::VSpan => continue,
            LineStyle::Area | LineStyle::Stack => filled = true,
            LineStyle::Line | LineStyle::Heatmap => {}
        }
        // A percentile bucket's value is a count; what it places on the axis is its range.
        let bucket = (line.style == LineStyle::Heatmap)
            .then(|| crate::heatmap::percentile_range(line.series))
            .flatten();
        if let Some((a, b)) = bucket {
            if times.iter().any(|t| value_at(line.series, *t) > 0.0) {
                lo = lo.min(a);
                hi = hi.max(b);
            }
            continue;
        }
        if let Some(band) = &line.band {
            for (b, t) in band.iter().filter(|(b, _)| b.is_finite()) {
                lo = lo.min(b.min(*t));
                hi = hi.max(b.max(*t));
            }
        } else {
            for v in times
                .iter()
                .map(|t| value_at(line.series, *t))
                .filter(|v| v.is_finite())
            {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    match ap.lower {
        PlotBound::Explicit(v) => lo = v,
        PlotBound::AutoStyle if filled => lo = lo.min(0.0),
        _ => {}
    }
    match ap.upper {
        PlotBound::Explicit(v) => hi = v,
        PlotBound::AutoStyle if filled => hi = hi.max(0.0),
        _ => {}
    }
    if hi <= lo {
        // A flat line: give it room rather than divide by zero, keeping an explicit bound.
        let room = lo.abs().max(1.0);
        if matches!(ap.upper, PlotBound::Explicit(_)) {
            lo = hi - room;
        } else {
            hi = lo + room;
        }
    }
    // Atlas maps the bounds onto the canvas' edge rows, where a line at the minimum or
    // maximum merges with the frame (a p50 at its lowest vanished into the time axis).
    // An automatic bound gets `pad` free pixels instead; an explicit bound, and the 0 an
    // area or stack is filled to, stay on the frame.
    let free = |bound: &PlotBound, at: f64| {
        let pinned = matches!(bound, PlotBound::Explicit(_)) || (filled && at == 0.0);
        !pinned
    };
    ValueRange {
        min: lo,
        max: hi,
        scale: ap.scale,
        pad: (
            if free(&ap.upper, hi) { pad } else { 0.0 },
            if free(&ap.lower, lo) { pad } else { 0.0 },
        ),
    }
}

/// Lays out a chart for `params` and `lines`.
pub fn build<'a>(params: &GraphParams, lines: &'a [GraphLine]) -> Chart<'a> {
    let m = Metrics::from_zoom(params.zoom);
    let palette = Palette::of(params.theme);
    let window = params.window;
    let times: Vec<i64> = window.timestamps().collect();

    let colors = line_colors(params, lines);
    let mut plot: Vec<PlotLine<'a>> = Vec::with_capacity(lines.len());
    for (line, &(axis, color)) in lines.iter().zip(&colors) {
        let style = line.style.line_style.unwrap_or(if params.axes[axis].stack {
            LineStyle::Stack
        } else {
            LineStyle::Line
        });
        plot.push(PlotLine {
            series: &line.series,
            color,
            style,
            width: line.style.line_width.unwrap_or(1.0).clamp(0.5, 20.0) * m.zoom,
            axis,
            stats: SummaryStats::of(&line.series, &window),
            band: None,
        });
    }
    sort_lines(&mut plot, params);
    stack_bands(&mut plot, &times);
    let no_data = plot.iter().all(|l| l.stats.count == 0);

    let mut used: Vec<usize> = plot.iter().map(|l| l.axis).collect();
    used.push(0);
    used.sort_unstable();
    used.dedup();
    let multi = used.len() > 1;

    // Canvas height is needed for tick choice; with `layout=image` it depends on the
    // legend, which does not depend on ticks, so the legend is built first.
    let mut legend = Vec::new();
    if params.show_legend && !params.only_graph {
        for &axis in &used {
            let on_axis: Vec<&PlotLine<'_>> = plot.iter().filter(|l| l.axis == axis).collect();
            if multi {
                let label = params.axes[axis].ylabel.clone().unwrap_or_default();
                legend.push(LegendRow::Header(format!("Axis {axis}: {label}")));
            }
            let heat = on_axis
                .iter()
                .filter(|l| l.style == LineStyle::Heatmap)
                .count();
            if heat > 0 {
                legend.push(LegendRow::Heatmap {
                    axis,
                    colors: Vec::new(),
                    label: String::new(),
                });
            }
            let on_axis: Vec<&PlotLine<'_>> = on_axis
                .into_iter()
                .filter(|l| l.style != LineStyle::Heatmap)
                .collect();
            for line in on_axis.iter().take(MAX_LEGEND_LINES) {
                legend.push(LegendRow::Entry {
                    color: line.color,
                    label: line.series.label.clone(),
                });
                if params.show_legend_stats && line.style != LineStyle::VSpan {
                    legend.push(LegendRow::Stats(line.stats, params.axes[axis].tick_labels));
                }
            }
            if on_axis.len() > MAX_LEGEND_LINES {
                legend.push(LegendRow::Note(format!(
                    "... {} more lines not shown",
                    on_axis.len() - MAX_LEGEND_LINES
                )));
            }
        }
        legend.push(LegendRow::Note(frame_note(params)));
    }
    if !params.only_graph {
        for w in &params.warnings {
            legend.push(LegendRow::Warning(w.clone()));
        }
        if params.axis_per_line && lines.len() > MAX_Y_AXES {
            legend.push(LegendRow::Warning(format!(
                "axis_per_line: {} lines but at most {MAX_Y_AXES} axes; lines {} and later share the last axis",
                lines.len(),
                MAX_Y_AXES
            )));
        }
    }

    let title = params
        .title
        .clone()
        .filter(|t| !t.is_empty() && !params.only_graph);
    let title_h = if title.is_some() {
        m.title * 2.0
    } else {
        m.pad * 2.0
    }
    .round();
    let time_h = params.timezones.len() as f64 * (m.line + m.tick);
    let (w, h) = (f64::from(params.width), f64::from(params.height));
    let z = m.zoom;
    let (asked_w, asked_h) = ((w * z).round(), (h * z).round());
    let fixed_w = matches!(params.layout, SizeLayout::Image | SizeLayout::ImageWidth);
    let fixed_h = matches!(params.layout, SizeLayout::Image | SizeLayout::ImageHeight);
    let min_canvas = (MIN_CANVAS * z).round();
    let below = |legend: &[LegendRow]| -> f64 {
        let legend_h = if legend.is_empty() {
            0.0
        } else {
            legend.len() as f64 * m.line + m.pad * 2.0
        };
        (time_h + m.pad + legend_h).round()
    };
    // A fixed height holds the title, time axes and a canvas of at least `min_canvas`
    // first; legend rows that do not fit after that are cut, never the image made taller.
    if fixed_h && !params.only_graph {
        let room = asked_h - title_h - min_canvas;
        if below(&legend) > room {
            let base = below(&[]);
            let rows = ((room - base - m.pad * 2.0) / m.line).floor();
            let keep = if rows >= 1.0 { rows as usize - 1 } else { 0 };
            let cut = legend.len() - keep;
            legend.truncate(keep);
            if rows >= 1.0 {
                legend.push(LegendRow::Note(format!(
                    "... {cut} legend rows cut to fit the image height"
                )));
            }
        }
    }
    let below_h = below(&legend);
    let canvas_h = if fixed_h {
        asked_h - title_h - below_h
    } else {
        asked_h.max(min_canvas)
    };
    // Fixed width: the value axes have fixed widths (`make_axis`), known before the ticks.
    let left_w = if used.contains(&0) {
        axis_width(0, params, &m)
    } else {
        0.0
    };
    let right_w = used
        .iter()
        .filter(|&&i| i != 0)
        .map(|&i| axis_width(i, params, &m))
        .sum::<f64>();
    let zone_w = params
        .timezones
        .iter()
        .map(|tz| text_width(tz.name(), m.text) + m.pad * 2.0)
        .fold(0.0, f64::max)
        .ceil();
    let left_w = left_w.max(zone_w);
    // Room for the last time label to hang past the canvas.
    let right_w = right_w.max((m.pad * 4.0).round());
    let canvas_w = if fixed_w {
        asked_w - left_w - right_w
    } else {
        asked_w.max(min_canvas)
    };
    // A fixed size too small for the axes, title and legend around a `min_canvas` canvas
    // gets the canvas alone, in the asked size, rather than a bigger image.
    let too_small = (fixed_h && canvas_h < min_canvas) || (fixed_w && canvas_w < min_canvas);

    if params.only_graph || too_small {
        let (cw, ch) = (asked_w.max(1.0), asked_h.max(1.0));
        let axes: Vec<Axis> = used
            .iter()
            .map(|&i| make_axis(i, &plot, params, &times, ch, &m, palette, multi))
            .collect();
        let heatmaps = heatmaps(&plot, &axes, params, &times, &mut legend);
        return Chart {
            palette,
            m,
            width: cw as u32,
            height: ch as u32,
            title: None,
            canvas: (0.0, 0.0, cw, ch),
            lines: plot,
            heatmaps,
            axes,
            time_axes: Vec::new(),
            start: window.start,
            end: window.end,
            step: window.step,
            legend,
            legend_top: ch,
            stat_column: 0.0,
            only_graph: true,
            no_data,
        };
    }

    let mut axes: Vec<Axis> = used
        .iter()
        .map(|&i| make_axis(i, &plot, params, &times, canvas_h, &m, palette, multi))
        .collect();
    // The zone names of the time axes sit under the left axis: make room for them.
    if let Some(first) = axes.iter_mut().find(|a| a.left) {
        first.width = left_w;
    }
    let mut offset = 0.0;
    for a in axes.iter_mut().filter(|a| !a.left) {
        a.offset = offset;
        offset += a.width;
    }
    let heatmaps = heatmaps(&plot, &axes, params, &times, &mut legend);
    let image_w = left_w + canvas_w + right_w;
    let canvas = (left_w, title_h, canvas_w, canvas_h);
    let legend_top = canvas.1 + canvas_h + time_h + m.pad;
    let image_h = title_h + canvas_h + below_h;

    let time_axes = params
        .timezones
        .iter()
        .map(|tz| TimeAxis {
            zone: tz.name().to_string(),
            ticks: ticks::time_ticks(window.start, window.end, canvas_w, tz),
        })
        .collect();
    // Columns as wide as the widest cell, at least as wide as `Last: -000.00M`.
    let stat_column = legend
        .iter()
        .filter_map(|row| match row {
            LegendRow::Stats(s, mode) => Some(stat_cells(s, *mode)),
            _ => None,
        })
        .flatten()
        .chain(std::iter::once("Last: -000.00M".to_string()))
        .map(|cell| text_width(&cell, m.text))
        .fold(0.0, f64::max)
        + m.pad * 2.0;

    Chart {
        palette,
        m,
        width: image_w as u32,
        height: image_h as u32,
        title,
        canvas,
        lines: plot,
        heatmaps,
        axes,
        time_axes,
        start: window.start,
        end: window.end,
        step: window.step,
        legend,
        legend_top,
        stat_column,
        only_graph: false,
        no_data,
    }
}

/// Counts the heatmap of every axis that has heatmap lines, and fills in its legend row.
fn heatmaps(
    plot: &[PlotLine<'_>],
    axes: &[Axis],
    params: &GraphParams,
    times: &[i64],
    legend: &mut [LegendRow],
) -> Vec<Heatmap> {
    let mut out = Vec::new();
    for axis in axes {
        let lines: Vec<&PlotLine<'_>> = plot
            .iter()
            .filter(|l| l.axis == axis.index && l.style == LineStyle::Heatmap)
            .collect();
        let Some(first) = lines.first() else {
            continue;
        };
        let series: Vec<&TimeSeries> = lines.iter().map(|l| l.series).collect();
        let settings = &params.axes[axis.index].heatmap;
        let Some(h) = Heatmap::build(
            axis.index,
            &series,
            first.color.with_alpha(255),
            &axis.range,
            &axis.ticks,
            times,
            settings,
        ) else {
            continue;
        };
        for row in legend.iter_mut() {
            if let LegendRow::Heatmap {
                axis: a,
                colors,
                label,
            } = row
            {
                if *a == axis.index {
                    *colors = h.colors.clone();
                    let name = settings.label.as_deref().unwrap_or("Heatmap");
                    *label = format!(
                        "{name}: {} lines, cell counts {} to {}",
                        lines.len(),
                        crate::ticks::short_value(h.lo),
                        crate::ticks::short_value(h.hi)
                    );
                }
            }
        }
        out.push(h);
    }
    out
}

/// The widest tick label an axis makes room for, as Atlas's 7 characters (`-102.3k`).
/// `ticks::tick_labels` keeps labels about this short at any magnitude.
const TICK_LABEL_ROOM: &str = "-000.00M";

/// Width of value axis `index`: fixed for a given `ylabel` and zoom, never dependent on
/// the data, so the image cannot widen with the values and the canvases of a dashboard's
/// charts line up.
fn axis_width(index: usize, params: &GraphParams, m: &Metrics) -> f64 {
    let ylabel = params.axes[index]
        .ylabel
        .as_deref()
        .is_some_and(|s| !s.is_empty());
    (text_width(TICK_LABEL_ROOM, m.text) + m.tick + m.pad * 2.0 + if ylabel { m.line } else { 0.0 })
        .ceil()
}

#[allow(clippy::too_many_arguments)]
fn make_axis(
    index: usize,
    plot: &[PlotLine<'_>],
    params: &GraphParams,
    times: &[i64],
    canvas_h: f64,
    m: &Metrics,
    palette: Palette,
    multi: bool,
) -> Axis {
    let range = axis_range(plot, index, params, times, m.pad);
    let ticks = ticks::value_ticks(&range, canvas_h);
    let labels = ticks::tick_labels(&ticks, params.axes[index].tick_labels, range.scale);
    let ylabel = params.axes[index].ylabel.clone().filter(|s| !s.is_empty());
    let width = axis_width(index, params, m);
    // With several axes each takes its first line's color so lines can be matched to axes.
    let color = if multi {
        plot.iter()
            .find(|l| l.axis == index)
            .map(|l| l.color.with_alpha(255))
            .unwrap_or(palette.axis)
    } else {
        palette.axis
    };
    Axis {
        index,
        range,
        ticks,
        labels,
        ylabel,
        color,
        width,
        label_width: text_width(TICK_LABEL_ROOM, m.text),
        left: index == 0,
        offset: 0.0,
    }
}

/// The legend cells of a line's stats, in its axis' units.
pub fn stat_cells(s: &SummaryStats, mode: TickLabelMode) -> [String; 4] {
    [
        ("Max", s.max),
        ("Min", s.min),
        ("Avg", s.avg),
        ("Last", s.last),
    ]
    .map(|(k, v)| format!("{k}: {}", ticks::format_value(v, mode)))
}

fn frame_note(params: &GraphParams) -> String {
    let w = params.window;
    let tz = params.timezones.first().copied().unwrap_or(chrono_tz::UTC);
    use chrono::TimeZone;
    let end = tz
        .timestamp_millis_opt(w.end - w.step)
        .earliest()
        .map(|d| d.format("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_default();
    format!(
        "Frame: {}, End: {}, Step: {}",
        sextant_query::format_duration(chrono::TimeDelta::milliseconds(w.end - w.start)),
        end,
        sextant_query::format_duration(chrono::TimeDelta::milliseconds(w.step))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_query::testing::StaticDatabase;
    use sextant_query::{evaluate, parse, EvalContext, GraphSettings};

    /// Lays out `q` over the first two minutes of `db`, with the extra URL parameters.
    fn layout<'a>(
        db: &StaticDatabase,
        q: &str,
        extra: &[(&str, &str)],
        lines: &'a mut Vec<GraphLine>,
    ) -> Chart<'a> {
        let pairs: Vec<(String, String)> = [("q", q), ("s", "0"), ("e", "120000")]
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let Ok(params) = GraphParams::parse(&pairs, &GraphSettings::default(), 120_000) else {
            panic!("parameters")
        };
        let w = params.window;
        let exprs = parse(&params.q).unwrap_or_default();
        *lines =
            evaluate(&exprs, &EvalContext::new(w.start, w.end, w.step), db).unwrap_or_default();
        build(&params, lines)
    }

    fn labels(extra: &[(&str, &str)]) -> Vec<String> {
        let mut db = StaticDatabase::new(60_000);
        db.push([("name", "a")], 0, vec![5.0, 5.0, 5.0]);
        db.push([("name", "b")], 0, vec![9.0, 9.0, 9.0]);
        db.push([("name", "c")], 0, vec![f64::NAN; 3]);
        db.push([("name", "d")], 0, vec![2.0, 2.0, 2.0]);
        let mut lines = Vec::new();
        let q = "name,a,:eq,name,b,:eq,name,c,:eq,name,d,:eq";
        let chart = layout(&db, q, extra, &mut lines);
        chart.lines.iter().map(|l| l.series.label.clone()).collect()
    }

    #[test]
    fn axis_per_line_gives_each_line_an_axis() {
        let mut db = StaticDatabase::new(60_000);
        for (i, name) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
            db.push([("name", *name)], 0, vec![i as f64 * 10.0; 3]);
        }
        let mut lines = Vec::new();
        let q = "name,(,a,b,c,d,e,f,),:in,(,name,),:by";
        let chart = layout(&db, q, &[("axis_per_line", "1")], &mut lines);
        let axes: Vec<usize> = chart.lines.iter().map(|l| l.axis).collect();
        assert_eq!(axes, [0, 1, 2, 3, 4, 4]);
        assert_eq!(chart.axes.len(), 5);
        assert!(chart
            .legend
            .iter()
            .any(|r| matches!(r, LegendRow::Warning(w) if w.contains("share the last axis"))));
    }

    #[test]
    fn axis_sort_and_order_resort_lines_with_nan_last() {
        assert_eq!(labels(&[]).len(), 4);
        let by_max = labels(&[("sort", "max")]);
        assert_eq!(by_max, ["name=d", "name=a", "name=b", "name=c"]);
        let desc = labels(&[("sort", "max"), ("order", "desc")]);
        assert_eq!(desc, ["name=b", "name=a", "name=d", "name=c"]);
        let legend_desc = labels(&[("order", "desc")]);
        assert_eq!(legend_desc, ["name=d", "name=c", "name=b", "name=a"]);
    }
}

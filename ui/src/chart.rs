//! The chart model: which line goes on which axis in which color, the value range and
//! ticks of each axis, and where every element sits. Drawing (in `draw.rs`) only reads
//! this, so PNG and SVG share one layout.

use plotters::style::{FontDesc, FontStyle};
use sextant_query::{
    GraphLine, GraphParams, Layout as SizeLayout, LineStyle, PlotBound, SortBy, SortOrder,
    SummaryStats, Theme, TimeSeries, MAX_Y_AXES,
};

use crate::color::{ColorCycle, Rgba};
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
    FontDesc::new(fonts::family(), size, FontStyle::Normal)
        .box_size(text)
        .map(|(w, _)| f64::from(w))
        // Only reached if the font is missing, which `fonts::ensure` reports first.
        .unwrap_or(text.chars().count() as f64 * size * 0.6)
}

/// Cuts `text` so it fits in `width` pixels, marking the cut with an ellipsis.
pub fn fit(text: &str, size: f64, width: f64) -> String {
    if text_width(text, size) <= width {
        return text.to_string();
    }
    let mut chars: Vec<char> = text.chars().collect();
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
    Stats(SummaryStats),
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
            });
        cy + range.y(v, ch)
    }
}

fn line_color(line: &GraphLine, cycle: &ColorCycle, index: usize, fallback: &str) -> Rgba {
    let style = &line.style;
    let alpha = style
        .alpha
        .as_deref()
        .and_then(|a| u8::from_str_radix(a, 16).ok());
    let base = if let Some(c) = style.color.as_deref().and_then(Rgba::parse) {
        c
    } else if let Some(p) = &style.palette {
        ColorCycle::of(p, fallback).pick(index, &line.series.label)
    } else {
        cycle.pick(index, &line.series.label)
    };
    match alpha {
        Some(a) => base.with_alpha(a),
        None => base,
    }
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
    ValueRange {
        min: lo,
        max: hi,
        scale: ap.scale,
    }
}

/// Lays out a chart for `params` and `lines`.
pub fn build<'a>(params: &GraphParams, lines: &'a [GraphLine]) -> Chart<'a> {
    let m = Metrics::from_zoom(params.zoom);
    let palette = Palette::of(params.theme);
    let window = params.window;
    let times: Vec<i64> = window.timestamps().collect();

    // Colors: one palette cycle per axis, so colors do not change when lines are re-sorted.
    let fallback = params.theme.default_palette();
    let cycles: Vec<ColorCycle> = params
        .axes
        .iter()
        .map(|a| ColorCycle::named(a.palette.as_deref().unwrap_or(&params.palette), fallback))
        .collect();
    let mut counters = [0usize; MAX_Y_AXES];
    let mut expr_counters: Vec<usize> = Vec::new();
    let mut plot: Vec<PlotLine<'a>> = Vec::with_capacity(lines.len());
    for (n, line) in lines.iter().enumerate() {
        // `axis_per_line` gives each line its own axis; past the last axis they share it.
        let axis = if params.axis_per_line {
            n
        } else {
            line.style.axis.map(usize::from).unwrap_or(0)
        }
        .min(MAX_Y_AXES - 1);
        if expr_counters.len() <= line.expr_index {
            expr_counters.resize(line.expr_index + 1, 0);
        }
        let index = if line.style.palette.is_some() {
            let c = &mut expr_counters[line.expr_index];
            *c += 1;
            *c - 1
        } else {
            counters[axis] += 1;
            counters[axis] - 1
        };
        let cycle = &cycles[axis];
        let color = line_color(line, cycle, index, fallback);
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
                    legend.push(LegendRow::Stats(line.stats));
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
    };
    let time_h = params.timezones.len() as f64 * (m.line + m.tick);
    let legend_h = if legend.is_empty() {
        0.0
    } else {
        legend.len() as f64 * m.line + m.pad * 2.0
    };
    let (w, h) = (f64::from(params.width), f64::from(params.height));
    let z = m.zoom;

    if params.only_graph {
        let (cw, ch) = ((w * z).round(), (h * z).round());
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

    let canvas_h = match params.layout {
        SizeLayout::Canvas | SizeLayout::ImageWidth => h * z,
        SizeLayout::Image | SizeLayout::ImageHeight => h * z - title_h - time_h - legend_h,
    }
    .max(MIN_CANVAS * z)
    .round();
    let mut axes: Vec<Axis> = used
        .iter()
        .map(|&i| make_axis(i, &plot, params, &times, canvas_h, &m, palette, multi))
        .collect();
    // The zone names of the time axes sit under the left axis: make room for them.
    let zone_w = params
        .timezones
        .iter()
        .map(|tz| text_width(tz.name(), m.text) + m.pad * 2.0)
        .fold(0.0, f64::max)
        .ceil();
    if let Some(first) = axes.iter_mut().find(|a| a.left) {
        first.width = first.width.max(zone_w);
    }
    let left_w = axes.iter().filter(|a| a.left).map(|a| a.width).sum::<f64>();
    let mut right_w = 0.0;
    for a in axes.iter_mut().filter(|a| !a.left) {
        a.offset = right_w;
        right_w += a.width;
    }
    // Room for the last time label to hang past the canvas.
    let right_w = right_w.max(m.pad * 4.0);
    let canvas_w = match params.layout {
        SizeLayout::Canvas | SizeLayout::ImageHeight => w * z,
        SizeLayout::Image | SizeLayout::ImageWidth => w * z - left_w - right_w,
    }
    .max(MIN_CANVAS * z)
    .round();
    let heatmaps = heatmaps(&plot, &axes, params, &times, &mut legend);
    let image_w = (left_w + canvas_w + right_w).round();
    let canvas = (left_w.round(), title_h.round(), canvas_w, canvas_h);
    let legend_top = canvas.1 + canvas_h + time_h + m.pad;
    let image_h = (legend_top + legend_h).round();

    let time_axes = params
        .timezones
        .iter()
        .map(|tz| TimeAxis {
            zone: tz.name().to_string(),
            ticks: ticks::time_ticks(window.start, window.end, canvas_w, tz),
        })
        .collect();
    let stat_column = ["Max", "Min", "Avg", "Last"]
        .iter()
        .map(|k| text_width(&format!("{k}: -000.00M"), m.text))
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
    let range = axis_range(plot, index, params, times);
    let ticks = ticks::value_ticks(&range, canvas_h);
    let labels = ticks::tick_labels(&ticks, params.axes[index].tick_labels, range.scale);
    let ylabel = params.axes[index].ylabel.clone().filter(|s| !s.is_empty());
    let label_w = labels
        .iter()
        .map(|l| text_width(l, m.text))
        .fold(0.0, f64::max);
    let width = (label_w + m.tick + m.pad * 2.0 + if ylabel.is_some() { m.line } else { 0.0 })
        .max(m.pad * 6.0)
        .ceil();
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
        left: index == 0,
        offset: 0.0,
    }
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

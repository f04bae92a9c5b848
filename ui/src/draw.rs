//! Drawing a laid-out [`Chart`] on any plotters backend (bitmap for PNG, SVG).

use plotters::coord::Shift;
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;
use plotters_backend::{BackendColor, DrawingErrorKind};
use sextant_query::LineStyle;

use crate::chart::{fit, stat_cells, text_width, Chart, LegendRow, PlotLine};
use crate::color::Rgba;
use crate::error::Result;
use crate::fonts;
use crate::glyphs;
use crate::heatmap::Heatmap;

type Area<DB> = DrawingArea<DB, Shift>;

fn rgba(c: Rgba) -> RGBAColor {
    RGBAColor(c.r, c.g, c.b, f64::from(c.a) / 255.0)
}

fn stroke(c: Rgba, width: f64) -> ShapeStyle {
    ShapeStyle {
        color: rgba(c),
        filled: false,
        stroke_width: width.round().max(1.0) as u32,
    }
}

fn fill(c: Rgba) -> ShapeStyle {
    ShapeStyle {
        color: rgba(c),
        filled: true,
        stroke_width: 0,
    }
}

fn px(v: f64) -> i32 {
    v.round().clamp(-1e6, 1e6) as i32
}

/// One piece of text: what, where its anchor is, and how it hangs from it.
pub struct Label {
    text: String,
    /// The anchor: the top of the em box, left, centre or right by `h`.
    at: (i32, i32),
    size: f64,
    color: Rgba,
    h: HPos,
    /// Runs bottom to top (a Y axis label); the anchor is then its left edge and `h`
    /// applies along the rotated text.
    up: bool,
}

impl<'a> PointCollection<'a, (i32, i32)> for &'a Label {
    type Point = &'a (i32, i32);
    type IntoIter = std::iter::Once<&'a (i32, i32)>;
    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<DB: Surface> Drawable<DB> for Label {
    fn draw<I: Iterator<Item = (i32, i32)>>(
        &self,
        mut pos: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> std::result::Result<(), DrawingErrorKind<DB::ErrorType>> {
        match pos.next() {
            Some(at) => backend.label(self, at),
            None => Ok(()),
        }
    }
}

/// A backend our text can be drawn on. Bitmaps rasterise it through `glyphs` (plotters'
/// own bitmap text misplaces punctuation, see `glyphs.rs`); SVG keeps it as `<text>`.
pub trait Surface: DrawingBackend {
    /// Draws `label` with its anchor at `at`.
    fn label(
        &mut self,
        label: &Label,
        at: (i32, i32),
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>>;
}

impl Surface for BitMapBackend<'_> {
    fn label(
        &mut self,
        label: &Label,
        (x, y): (i32, i32),
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        let Some(font) = fonts::face() else {
            return Ok(());
        };
        let w = glyphs::width(font, &label.text, label.size);
        let shift = match label.h {
            HPos::Left => 0.0,
            HPos::Center => w / 2.0,
            HPos::Right => w,
        };
        let (start, top, direction) = if label.up {
            (f64::from(y) + shift, f64::from(x), glyphs::Direction::Up)
        } else {
            (
                f64::from(x) - shift,
                f64::from(y),
                glyphs::Direction::Across,
            )
        };
        let c = label.color;
        let alpha = f64::from(c.a) / 255.0;
        let mut result = Ok(());
        glyphs::rasterise(
            font,
            &label.text,
            label.size,
            (start, top),
            direction,
            |px, py, cov| {
                if result.is_ok() && cov > 0.0 {
                    result = self.draw_pixel(
                        (px, py),
                        BackendColor {
                            alpha: alpha * f64::from(cov.min(1.0)),
                            rgb: (c.r, c.g, c.b),
                        },
                    );
                }
            },
        );
        result
    }
}

impl Surface for SVGBackend<'_> {
    fn label(
        &mut self,
        label: &Label,
        at: (i32, i32),
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = rgba(label.color);
        let mut style = TextStyle::from(FontDesc::new(
            fonts::family(),
            label.size,
            FontStyle::Normal,
        ))
        .color(&color)
        .pos(Pos::new(label.h, VPos::Top));
        if label.up {
            style = style.transform(FontTransform::Rotate270);
        }
        self.draw_text(&label.text, &style, at)
    }
}

/// Draws `text` with the top of its em box at `y` and its left, centre or right (`h`) at
/// `x`.
pub fn text<DB: Surface>(
    area: &Area<DB>,
    s: &str,
    (x, y): (f64, f64),
    size: f64,
    color: Rgba,
    h: HPos,
) -> Result<()> {
    if s.is_empty() {
        return Ok(());
    }
    area.draw(&Label {
        text: s.to_string(),
        at: (px(x), px(y)),
        size,
        color,
        h,
        up: false,
    })?;
    Ok(())
}

/// Draws `text` running upwards, centred on row `y`, the tops of its letters at column `x`.
fn text_up<DB: Surface>(
    area: &Area<DB>,
    s: &str,
    (x, y): (f64, f64),
    size: f64,
    color: Rgba,
) -> Result<()> {
    if s.is_empty() {
        return Ok(());
    }
    area.draw(&Label {
        text: s.to_string(),
        at: (px(x), px(y)),
        size,
        color,
        h: HPos::Center,
        up: true,
    })?;
    Ok(())
}

fn rect<DB: Surface>(area: &Area<DB>, x0: f64, y0: f64, x1: f64, y1: f64, c: Rgba) -> Result<()> {
    area.draw(&Rectangle::new(
        [(px(x0), px(y0)), (px(x1), px(y1))],
        fill(c),
    ))?;
    Ok(())
}

/// A 1-pixel line from `a` to `b`: grid lines, axis lines and ticks.
fn segment<DB: Surface>(area: &Area<DB>, a: (f64, f64), b: (f64, f64), c: Rgba) -> Result<()> {
    area.draw(&PathElement::new(
        vec![(px(a.0), px(a.1)), (px(b.0), px(b.1))],
        stroke(c, 1.0),
    ))?;
    Ok(())
}

fn hline<DB: Surface>(area: &Area<DB>, x0: f64, x1: f64, y: f64, c: Rgba) -> Result<()> {
    segment(area, (x0, y), (x1, y), c)
}

fn vline<DB: Surface>(area: &Area<DB>, x: f64, y0: f64, y1: f64, c: Rgba) -> Result<()> {
    segment(area, (x, y0), (x, y1), c)
}

/// Points of a series on the canvas, split at NaN, with at most a few points per pixel
/// column: a column holding many datapoints keeps its first, lowest, highest and last
/// value, so spikes survive downsampling.
fn segments(
    chart: &Chart<'_>,
    line: &PlotLine<'_>,
    pick: impl Fn(usize, f64) -> f64,
) -> Vec<Vec<(f64, f64)>> {
    let s = line.series;
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let mut column: Option<(i32, f64, f64, f64, f64)> = None; // x, first, min, max, last
    let flush = |cur: &mut Vec<(f64, f64)>, col: (i32, f64, f64, f64, f64)| {
        let (x, first, lo, hi, last) = col;
        let x = f64::from(x);
        cur.push((x, first));
        if lo != first && lo != last {
            cur.push((x, lo));
        }
        if hi != first && hi != last {
            cur.push((x, hi));
        }
        if last != first {
            cur.push((x, last));
        }
    };
    for (i, raw) in s.values.iter().enumerate() {
        let t = s.time_at(i);
        if t < chart.start || t >= chart.end {
            continue;
        }
        let v = pick(i, *raw);
        if !v.is_finite() {
            if let Some(col) = column.take() {
                flush(&mut cur, col);
            }
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let y = chart.y(line.axis, v);
        let x = px(chart.x(t));
        column = match column {
            Some((cx, first, lo, hi, _)) if cx == x => Some((cx, first, lo.min(y), hi.max(y), y)),
            Some(col) => {
                flush(&mut cur, col);
                Some((x, y, y, y, y))
            }
            None => Some((x, y, y, y, y)),
        };
    }
    if let Some(col) = column {
        flush(&mut cur, col);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Cuts a polyline to the rows `[top, bottom]`, interpolating where it crosses.
fn clip(points: &[(f64, f64)], top: f64, bottom: f64) -> Vec<Vec<(i32, i32)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(i32, i32)> = Vec::new();
    let inside = |y: f64| y >= top && y <= bottom;
    let cross = |a: (f64, f64), b: (f64, f64), y: f64| {
        let f = (y - a.1) / (b.1 - a.1);
        (a.0 + (b.0 - a.0) * f, y)
    };
    for (i, &p) in points.iter().enumerate() {
        if i == 0 {
            if inside(p.1) {
                cur.push((px(p.0), px(p.1)));
            }
            continue;
        }
        let a = points[i - 1];
        match (inside(a.1), inside(p.1)) {
            (true, true) => cur.push((px(p.0), px(p.1))),
            (true, false) => {
                let edge = if p.1 < top { top } else { bottom };
                let c = cross(a, p, edge);
                cur.push((px(c.0), px(c.1)));
                out.push(std::mem::take(&mut cur));
            }
            (false, true) => {
                let edge = if a.1 < top { top } else { bottom };
                let c = cross(a, p, edge);
                cur.push((px(c.0), px(c.1)));
                cur.push((px(p.0), px(p.1)));
            }
            (false, false) => {
                // Passing straight through the canvas from above to below, or the reverse.
                if (a.1 < top) != (p.1 < top) {
                    let c0 = cross(a, p, if a.1 < top { top } else { bottom });
                    let c1 = cross(a, p, if p.1 < top { top } else { bottom });
                    out.push(vec![(px(c0.0), px(c0.1)), (px(c1.0), px(c1.1))]);
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn draw_vspan<DB: Surface>(area: &Area<DB>, chart: &Chart<'_>, line: &PlotLine<'_>) -> Result<()> {
    let (cx, cy, cw, ch) = chart.canvas;
    let s = line.series;
    let mut run: Option<i64> = None;
    let step = chart.step.max(1);
    let mut spans = Vec::new();
    for (i, v) in s.values.iter().enumerate() {
        let t = s.time_at(i);
        let on = v.is_finite() && *v != 0.0 && t >= chart.start && t < chart.end;
        match (on, run) {
            (true, None) => run = Some(t),
            (false, Some(b)) => {
                spans.push((b, t));
                run = None;
            }
            _ => {}
        }
    }
    if let Some(b) = run {
        spans.push((b, s.time_at(s.values.len()).min(chart.end)));
    }
    for (b, e) in spans {
        // A datapoint stands for the step that ends at it.
        let x0 = chart.x(b - step).max(cx);
        let x1 = chart.x(e - step).min(cx + cw);
        rect(area, x0, cy, x1, cy + ch, line.color)?;
    }
    Ok(())
}

fn draw_band<DB: Surface>(area: &Area<DB>, chart: &Chart<'_>, line: &PlotLine<'_>) -> Result<()> {
    let (_, cy, _, ch) = chart.canvas;
    let clampy = |y: f64| y.clamp(cy, cy + ch);
    let band = line.band.as_deref();
    let tops = segments(chart, line, |i, v| match band {
        Some(b) => b.get(i).map(|p| p.1).unwrap_or(f64::NAN),
        None => v,
    });
    let s = line.series;
    for seg in &tops {
        let Some(&(x_first, _)) = seg.first() else {
            continue;
        };
        let Some(&(x_last, _)) = seg.last() else {
            continue;
        };
        let mut poly: Vec<(i32, i32)> = seg.iter().map(|&(x, y)| (px(x), px(clampy(y)))).collect();
        // The bottom edge: the previous band's top for a stack, the zero line for an area.
        let mut bottom: Vec<(i32, i32)> = Vec::new();
        match band {
            Some(b) => {
                for (i, (lo, _)) in b.iter().enumerate().rev() {
                    let x = chart.x(s.time_at(i));
                    if x >= x_first - 0.5 && x <= x_last + 0.5 && lo.is_finite() {
                        bottom.push((px(x), px(clampy(chart.y(line.axis, *lo)))));
                    }
                }
            }
            None => {
                let zero = clampy(chart.y(line.axis, 0.0));
                bottom.push((px(x_last), px(zero)));
                bottom.push((px(x_first), px(zero)));
            }
        }
        poly.extend(bottom);
        if seg.len() == 1 {
            // One datapoint: show it as a one-pixel column rather than nothing.
            let (x, y) = seg[0];
            let zero = clampy(chart.y(
                line.axis,
                band.and_then(|b| b.first()).map(|p| p.0).unwrap_or(0.0),
            ));
            rect(area, x, clampy(y), x + 1.0, zero, line.color)?;
            continue;
        }
        area.draw(&Polygon::new(poly, fill(line.color)))?;
    }
    Ok(())
}

fn draw_line<DB: Surface>(area: &Area<DB>, chart: &Chart<'_>, line: &PlotLine<'_>) -> Result<()> {
    let (_, cy, _, ch) = chart.canvas;
    for seg in segments(chart, line, |_, v| v) {
        if seg.len() == 1 {
            let (x, y) = seg[0];
            if y >= cy && y <= cy + ch {
                rect(area, x, y, x + line.width, y + line.width, line.color)?;
            }
            continue;
        }
        for part in clip(&seg, cy, cy + ch) {
            if part.len() > 1 {
                area.draw(&PathElement::new(part, stroke(line.color, line.width)))?;
            }
        }
    }
    Ok(())
}

/// Draws the whole chart.
pub fn chart<DB: Surface>(area: &Area<DB>, chart: &Chart<'_>) -> Result<()> {
    let p = chart.palette;
    let m = chart.m;
    let (cx, cy, cw, ch) = chart.canvas;
    area.fill(&rgba(p.background))?;
    if let Some(title) = &chart.title {
        let t = fit(title, m.title, f64::from(chart.width) - m.pad * 2.0);
        text(
            area,
            &t,
            (
                f64::from(chart.width) / 2.0,
                glyphs::top_for_centre(m.title, m.title),
            ),
            m.title,
            p.text,
            HPos::Center,
        )?;
    }
    rect(area, cx, cy, cx + cw, cy + ch, p.canvas)?;

    // Grid: value ticks of the first axis, time ticks of the primary zone.
    if let Some(axis) = chart.axes.first() {
        for v in &axis.ticks {
            let y = cy + axis.range.y(*v, ch);
            if y > cy + 0.5 && y < cy + ch - 0.5 {
                hline(area, cx, cx + cw, y, p.grid)?;
            }
        }
    }
    if let Some(ta) = chart.time_axes.first() {
        for t in &ta.ticks {
            let x = chart.x(t.time);
            if x > cx + 0.5 {
                vline(area, x, cy, cy + ch, p.grid)?;
            }
        }
    }

    // Spans at the back, then filled styles, then lines on top so none is hidden.
    for l in chart.lines.iter().filter(|l| l.style == LineStyle::VSpan) {
        draw_vspan(area, chart, l)?;
    }
    for h in &chart.heatmaps {
        draw_heatmap(area, chart, h)?;
    }
    for l in chart
        .lines
        .iter()
        .filter(|l| matches!(l.style, LineStyle::Area | LineStyle::Stack))
    {
        draw_band(area, chart, l)?;
    }
    for l in chart.lines.iter().filter(|l| l.style == LineStyle::Line) {
        draw_line(area, chart, l)?;
    }
    if chart.no_data {
        text(
            area,
            "NO DATA",
            (
                cx + cw / 2.0,
                glyphs::top_for_centre(cy + ch / 2.0, m.title),
            ),
            m.title,
            p.text,
            HPos::Center,
        )?;
    }
    if chart.only_graph {
        return Ok(());
    }

    value_axes(area, chart)?;
    time_axes(area, chart)?;
    legend(area, chart)
}

/// Fills each non-empty cell; white first, so the shades (which are partly transparent)
/// look the same on the dark theme's canvas.
fn draw_heatmap<DB: Surface>(area: &Area<DB>, chart: &Chart<'_>, h: &Heatmap) -> Result<()> {
    let (cx, cy, cw, ch) = chart.canvas;
    for (col, t) in h.times.iter().enumerate() {
        let x0 = chart.x(t - chart.step).clamp(cx, cx + cw);
        let x1 = chart.x(*t).clamp(cx, cx + cw);
        if x1 <= x0 {
            continue;
        }
        for row in 0..h.rows() {
            let Some(color) = h.color(col, row) else {
                continue;
            };
            let y0 = chart.y(h.axis, h.edges[row + 1]).clamp(cy, cy + ch);
            let y1 = chart.y(h.axis, h.edges[row]).clamp(cy, cy + ch);
            if y1 <= y0 {
                continue;
            }
            rect(area, x0, y0, x1, y1, Rgba::rgb(0xffffff))?;
            rect(area, x0, y0, x1, y1, color)?;
        }
    }
    Ok(())
}

fn value_axes<DB: Surface>(area: &Area<DB>, chart: &Chart<'_>) -> Result<()> {
    let m = chart.m;
    let (cx, cy, cw, ch) = chart.canvas;
    for axis in &chart.axes {
        let (edge, dir) = if axis.left {
            (cx - axis.offset, -1.0)
        } else {
            (cx + cw + axis.offset, 1.0)
        };
        vline(area, edge, cy, cy + ch, axis.color)?;
        for (v, label) in axis.ticks.iter().zip(&axis.labels) {
            let y = cy + axis.range.y(*v, ch);
            if y < cy - 0.5 || y > cy + ch + 0.5 {
                continue;
            }
            hline(area, edge, edge + dir * m.tick, y, axis.color)?;
            let lx = edge + dir * (m.tick + m.pad / 2.0);
            let h = if axis.left { HPos::Right } else { HPos::Left };
            let label = fit(label, m.text, axis.label_width);
            text(
                area,
                &label,
                (lx, glyphs::top_for_centre(y, m.text)),
                m.text,
                axis.color,
                h,
            )?;
        }
        if let Some(label) = &axis.ylabel {
            let x = if axis.left {
                edge - axis.width + m.pad / 2.0
            } else {
                edge + axis.width - m.line
            };
            let label = fit(label, m.text, ch);
            text_up(area, &label, (x, cy + ch / 2.0), m.text, axis.color)?;
        }
    }
    Ok(())
}

fn time_axes<DB: Surface>(area: &Area<DB>, chart: &Chart<'_>) -> Result<()> {
    let m = chart.m;
    let p = chart.palette;
    let (cx, cy, cw, ch) = chart.canvas;
    let mut y = cy + ch;
    for ta in &chart.time_axes {
        hline(area, cx, cx + cw, y, p.axis)?;
        for t in &ta.ticks {
            let x = chart.x(t.time);
            vline(area, x, y, y + m.tick, p.axis)?;
            text(
                area,
                &t.label,
                (x, y + m.tick),
                m.text,
                p.text,
                HPos::Center,
            )?;
        }
        // The zone name sits left of the axis, under the value labels.
        let zone = fit(&ta.zone, m.text, cx - m.pad);
        text(
            area,
            &zone,
            (cx - m.pad, y + m.tick),
            m.text,
            p.text,
            HPos::Right,
        )?;
        y += m.line + m.tick;
    }
    Ok(())
}

fn legend<DB: Surface>(area: &Area<DB>, chart: &Chart<'_>) -> Result<()> {
    let m = chart.m;
    let p = chart.palette;
    let width = f64::from(chart.width);
    let x0 = m.pad * 2.0;
    let swatch = m.text * 0.9;
    let mut row_top = chart.legend_top;
    for row in &chart.legend {
        // Text and swatches are centred on the middle of their row.
        let middle = row_top + m.line / 2.0;
        let y = glyphs::top_for_centre(middle, m.text);
        let (sw0, sw1) = (middle - swatch / 2.0, middle + swatch / 2.0);
        // A label after a swatch, cut to the image's width.
        let label_at = |tx: f64, label: &str| {
            text(
                area,
                &fit(label, m.text, width - tx - m.pad),
                (tx, y),
                m.text,
                p.text,
                HPos::Left,
            )
        };
        match row {
            LegendRow::Header(s) => {
                text(
                    area,
                    &fit(s, m.text, width - x0 * 2.0),
                    (x0, y),
                    m.text,
                    p.text,
                    HPos::Left,
                )?;
            }
            LegendRow::Entry { color, label } => {
                rect(area, x0, sw0, x0 + swatch, sw1, *color)?;
                label_at(x0 + swatch + m.pad, label)?;
            }
            LegendRow::Heatmap { colors, label, .. } => {
                // The scale as a strip of swatches, lowest count first.
                let cell = swatch * 0.75;
                let mut x = x0;
                for c in colors {
                    rect(area, x, sw0, x + cell, sw1, Rgba::rgb(0xffffff))?;
                    rect(area, x, sw0, x + cell, sw1, *c)?;
                    x += cell;
                }
                label_at(x + m.pad, label)?;
            }
            LegendRow::Stats(s, mode) => {
                let mut x = x0 + swatch + m.pad;
                for cell in stat_cells(s, *mode) {
                    if x + text_width(&cell, m.text) > width {
                        break;
                    }
                    text(area, &cell, (x, y), m.text, p.text, HPos::Left)?;
                    x += chart.stat_column;
                }
            }
            LegendRow::Note(s) => {
                text(
                    area,
                    &fit(s, m.text, width - x0 * 2.0),
                    (x0, y),
                    m.text,
                    p.text,
                    HPos::Left,
                )?;
            }
            LegendRow::Warning(s) => {
                rect(area, 0.0, row_top, width, row_top + m.line, p.warning_bg)?;
                let s = fit(&format!("Warning: {s}"), m.text, width - x0 * 2.0);
                text(area, &s, (x0, y), m.text, p.warning_text, HPos::Left)?;
            }
        }
        row_top += m.line;
    }
    Ok(())
}

//! Entry points: a chart or an error message as PNG bytes or an SVG document.

use plotters::prelude::*;
use plotters::style::text_anchor::HPos;
use sextant_query::{GraphLine, GraphParams, Theme};

use crate::chart::{self, text_width, Metrics, Palette};
use crate::color::Rgba;
use crate::draw;
use crate::error::{Error, Result};
use crate::fonts;
use crate::glyphs;

/// The largest side of any image, pixels: twice Atlas's 2000 px width limit, so a zoomed
/// maximal chart with a long legend still fits, while a bad request cannot allocate GBs.
pub const MAX_SIDE: u32 = 8000;

fn check_size(width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::Size {
            width,
            height,
            max: MAX_SIDE,
        });
    }
    Ok(())
}

/// Renders a chart as PNG.
pub fn render_png(params: &GraphParams, lines: &[GraphLine]) -> Result<Vec<u8>> {
    fonts::ensure()?;
    let chart = chart::build(params, lines);
    check_size(chart.width, chart.height)?;
    bitmap(chart.width, chart.height, |area| draw::chart(area, &chart))
}

/// Renders a chart as an SVG document. Text stays text, drawn by the viewer in
/// DejaVu Sans when it has it (sizes are laid out with the embedded copy).
pub fn render_svg(params: &GraphParams, lines: &[GraphLine]) -> Result<String> {
    fonts::ensure()?;
    let chart = chart::build(params, lines);
    check_size(chart.width, chart.height)?;
    svg(chart.width, chart.height, |area| draw::chart(area, &chart))
}

/// An image that says what went wrong, for `<img>` tags that would otherwise break
/// silently (Atlas's `PngImage.userError`). `width`/`height` are clamped to 64..=2000.
pub fn render_error_png(message: &str, width: u32, height: u32, theme: Theme) -> Result<Vec<u8>> {
    fonts::ensure()?;
    let (w, h) = error_size(width, height);
    bitmap(w, h, |area| error_image(area, message, w, theme))
}

/// [`render_error_png`] as SVG.
pub fn render_error_svg(message: &str, width: u32, height: u32, theme: Theme) -> Result<String> {
    fonts::ensure()?;
    let (w, h) = error_size(width, height);
    svg(w, h, |area| error_image(area, message, w, theme))
}

fn error_size(width: u32, height: u32) -> (u32, u32) {
    (width.clamp(64, 2000), height.clamp(64, 1000))
}

fn bitmap(
    w: u32,
    h: u32,
    paint: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    let mut pixels = vec![0u8; w as usize * h as usize * 3];
    {
        let area = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        paint(&area)?;
        area.present()?;
    }
    encode_png(&pixels, w, h)
}

fn svg(
    w: u32,
    h: u32,
    paint: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<()>,
) -> Result<String> {
    let mut out = String::new();
    {
        let area = SVGBackend::with_string(&mut out, (w, h)).into_drawing_area();
        paint(&area)?;
        area.present()?;
    }
    Ok(out)
}

/// Encodes RGB pixels. Fast compression: charts are mostly flat colour, so the fast
/// setting is within a few percent of the best size at a fraction of the time.
pub(crate) fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc
        .write_header()
        .map_err(|e| Error::Encode(e.to_string()))?;
    writer
        .write_image_data(rgb)
        .map_err(|e| Error::Encode(e.to_string()))?;
    writer.finish().map_err(|e| Error::Encode(e.to_string()))?;
    Ok(out)
}

/// Greedy word wrap to `width` pixels; words longer than a line are cut by characters.
fn wrap(message: &str, size: f64, width: f64) -> Vec<String> {
    let mut lines = Vec::new();
    for para in message.lines() {
        let mut cur = String::new();
        for word in para.split(' ') {
            let candidate = if cur.is_empty() {
                word.to_string()
            } else {
                format!("{cur} {word}")
            };
            if text_width(&candidate, size) <= width || cur.is_empty() && word.is_empty() {
                cur = candidate;
                continue;
            }
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
            }
            for ch in word.chars() {
                cur.push(ch);
                if text_width(&cur, size) > width && cur.chars().count() > 1 {
                    cur.pop();
                    lines.push(std::mem::take(&mut cur));
                    cur.push(ch);
                }
            }
        }
        lines.push(cur);
    }
    lines
}

fn error_image<DB: draw::Surface>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    message: &str,
    w: u32,
    theme: Theme,
) -> Result<()> {
    let p = Palette::of(theme);
    let m = Metrics::from_zoom(1.0);
    area.fill(&RGBAColor(
        p.background.r,
        p.background.g,
        p.background.b,
        1.0,
    ))?;
    let banner = Rgba::rgb(0xffc800);
    area.draw(&Rectangle::new(
        [(0, 0), (w as i32, (m.line * 1.6) as i32)],
        RGBAColor(banner.r, banner.g, banner.b, 1.0).filled(),
    ))?;
    draw::text(
        area,
        "USER ERROR",
        (m.pad * 2.0, glyphs::top_for_centre(m.line * 0.8, m.text)),
        m.text,
        Rgba::rgb(0),
        HPos::Left,
    )?;
    let mut y = m.line * 2.2;
    for line in wrap(message, m.text, f64::from(w) - m.pad * 4.0) {
        let top = glyphs::top_for_centre(y + m.line / 2.0, m.text);
        draw::text(area, &line, (m.pad * 2.0, top), m.text, p.text, HPos::Left)?;
        y += m.line;
    }
    Ok(())
}

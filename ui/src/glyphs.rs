//! Text laid out and rasterised for bitmap output, with every glyph on one baseline.
//!
//! plotters' `ab_glyph` text path places each glyph at `trunc(size / 2 + glyph_top)`
//! pixels below the anchor. `trunc` rounds toward zero, so a glyph whose top is above half
//! the size (digits, letters) moves down while a short glyph (`.`, `:`, `=`, `-`) moves up:
//! at every odd pixel size the punctuation sat a pixel above the digits (`10'00`, `32·8`).
//! Here the baseline is one rounded row for the whole string, and glyphs are drawn
//! relative to it with ab_glyph (the rasteriser plotters uses), so they cannot drift apart.

use ab_glyph::{point, Font, FontRef, ScaleFont};

/// Distance from a top anchor down to the baseline, in em. plotters' SVG backend places
/// top-anchored text with `dy="0.76em"`; using the same here makes PNG and SVG agree.
pub const BASELINE: f64 = 0.76;

/// Height of DejaVu Sans capitals and digits, in em (1493 of 2048 units).
pub const CAP_HEIGHT: f64 = 0.729;

/// Where to put the top anchor of text of `size` so its digits are centred on row `y`.
pub fn top_for_centre(y: f64, size: f64) -> f64 {
    y - (BASELINE - CAP_HEIGHT / 2.0) * size
}

/// Advance width of `text` at `size` pixels, kerning included.
pub fn width(font: &FontRef<'_>, text: &str, size: f64) -> f64 {
    let scaled = font.as_scaled(size as f32);
    let mut w = 0f32;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            w += scaled.kern(p, id);
        }
        w += scaled.h_advance(id);
        prev = Some(id);
    }
    f64::from(w)
}

/// Which way the text runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Left to right.
    Across,
    /// Bottom to top, the tops of the letters facing left (a left Y axis label).
    Up,
}

/// Calls `put(x, y, coverage)` for every pixel the glyphs of `text` touch. `start` is where
/// the text begins along its direction and `top` the top of its em box across it; for
/// [`Direction::Up`] `start` is a row (the text runs to smaller rows) and `top` a column.
pub fn rasterise(
    font: &FontRef<'_>,
    text: &str,
    size: f64,
    (start, top): (f64, f64),
    direction: Direction,
    mut put: impl FnMut(i32, i32, f32),
) {
    let scaled = font.as_scaled(size as f32);
    // One whole-pixel baseline for the string keeps the bottoms of digits crisp and
    // puts every glyph on the same row.
    let baseline = (top + BASELINE * size).round() as f32;
    let mut caret = start.round() as f32;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        prev = Some(id);
        let advance = scaled.h_advance(id);
        // Laid out across at (caret, baseline); turned afterwards, so both directions
        // share one rasterisation.
        let glyph =
            id.with_scale_and_position(scaled.scale(), point(caret - start.round() as f32, 0.0));
        if let Some(outline) = scaled.outline_glyph(glyph) {
            let b = outline.px_bounds();
            let (bx, by) = (b.min.x as i32, b.min.y as i32);
            let origin = start.round() as i32;
            let base = baseline as i32;
            outline.draw(|gx, gy, coverage| {
                let along = bx + gx as i32;
                let across = by + gy as i32;
                match direction {
                    Direction::Across => put(origin + along, base + across, coverage),
                    // Turned a quarter left: "along" goes up the image, "below the
                    // baseline" goes right.
                    Direction::Up => put(base + across, origin - along, coverage),
                }
            });
        }
        caret += advance;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn font() -> FontRef<'static> {
        FontRef::try_from_slice(include_bytes!("../fonts/DejaVuSans.ttf")).expect("font")
    }

    /// Rows inked (coverage over a half) by each character of `text`, drawn alone at the
    /// same anchor as in the string.
    fn bottom_row(font: &FontRef<'_>, c: char, size: f64, top: f64) -> i32 {
        let mut bottom = i32::MIN;
        rasterise(
            font,
            &c.to_string(),
            size,
            (0.0, top),
            Direction::Across,
            |_, y, cov| {
                if cov > 0.5 {
                    bottom = bottom.max(y);
                }
            },
        );
        bottom
    }

    #[test]
    fn punctuation_sits_on_the_digits_baseline_at_every_size() {
        let font = font();
        // Odd, even and fractional sizes (zoom), at whole and fractional anchors.
        for size in [9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 16.5, 22.0, 27.5] {
            for top in [0.0, 3.3, 7.5] {
                let digit = bottom_row(&font, '0', size, top);
                for c in ['.', ':', '1', 'x'] {
                    assert_eq!(
                        bottom_row(&font, c, size, top),
                        digit,
                        "{c:?} at {size}px, top {top}"
                    );
                }
            }
        }
    }

    #[test]
    fn equals_is_centred_on_the_digits() {
        let font = font();
        for size in [11.0, 12.0, 16.5, 22.0] {
            // Coverage-weighted mean row: the bars of `=` are thin enough at small sizes
            // to spread over two half-covered rows.
            let rows = |c: char| {
                let (mut sum, mut weight) = (0.0, 0.0);
                rasterise(
                    &font,
                    &c.to_string(),
                    size,
                    (0.0, 0.0),
                    Direction::Across,
                    |_, y, cov| {
                        sum += f64::from(y) * f64::from(cov);
                        weight += f64::from(cov);
                    },
                );
                sum / weight
            };
            let (digit, equals) = (rows('0'), rows('='));
            assert!(
                (digit - equals).abs() <= 1.0,
                "{size}px: 0 at {digit}, = at {equals}"
            );
        }
    }

    #[test]
    fn width_matches_the_drawn_extent() {
        let font = font();
        let w = width(&font, "10:00", 11.0);
        let mut right = i32::MIN;
        rasterise(
            &font,
            "10:00",
            11.0,
            (0.0, 0.0),
            Direction::Across,
            |x, _, _| {
                right = right.max(x);
            },
        );
        assert!(
            f64::from(right) <= w + 1.0 && f64::from(right) >= w - 3.0,
            "{right} vs {w}"
        );
    }

    #[test]
    fn upward_text_runs_to_smaller_rows() {
        let font = font();
        let (mut rows, mut cols) = ((i32::MAX, i32::MIN), (i32::MAX, i32::MIN));
        rasterise(
            &font,
            "req/s",
            11.0,
            (100.0, 10.0),
            Direction::Up,
            |x, y, _| {
                rows = (rows.0.min(y), rows.1.max(y));
                cols = (cols.0.min(x), cols.1.max(x));
            },
        );
        assert!(rows.1 <= 101 && rows.0 < 80, "{rows:?}");
        assert!(cols.0 >= 10 && cols.1 <= 10 + 12, "{cols:?}");
    }
}

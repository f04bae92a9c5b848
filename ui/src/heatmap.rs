//! Heatmaps: the lines of one axis drawn with the `heatmap` style become a grid of cells,
//! one column per step and five rows per span between the axis' value ticks, shaded by how
//! many lines fall into the cell.
//!
//! A line tagged `percentile=Txxxx` or `Dxxxx` (what `:percentiles-heatmap` groups by) is a
//! count of samples in one of Spectator's 276 percentile buckets: its value is spread over
//! the rows that bucket's range covers, in proportion to the overlap, so a latency
//! distribution reads as a band of color across the value axis (T buckets in seconds, D
//! buckets in raw units). Any other line adds 1 to the row its value falls in.

use sextant_query::{bucket_value, HeatmapParams, PlotBound, Scale, TimeSeries};

use crate::color::{named_palette, Rgba};
use crate::ticks::{project, ValueRange};

/// Rows per span between two major ticks of the value axis.
const ROWS_PER_TICK: usize = 5;

/// Shades of a default heatmap: the axis' first heatmap line's color at rising opacity.
const SHADES: usize = 8;

/// A heatmap ready to draw.
#[derive(Debug, Clone)]
pub struct Heatmap {
    /// The value axis it is drawn on.
    pub axis: usize,
    /// Row boundaries in value space, lowest first.
    pub edges: Vec<f64>,
    /// Step end of each column.
    pub times: Vec<i64>,
    /// Counts, column by column (`times.len()` columns of `rows()` cells).
    counts: Vec<f64>,
    /// Colors from the lowest count to the highest.
    pub colors: Vec<Rgba>,
    /// Count that gets the first color.
    pub lo: f64,
    /// Count that gets the last color.
    pub hi: f64,
    scale: Scale,
}

/// The value range of a percentile bucket line, from its `percentile` tag.
pub fn percentile_range(series: &TimeSeries) -> Option<(f64, f64)> {
    let tag = series.tags.get("percentile")?;
    let (kind, hex) = (tag.get(..1)?, tag.get(1..)?);
    if hex.len() != 4 {
        return None;
    }
    let i = usize::from_str_radix(hex, 16).ok()?;
    let hi = bucket_value(i)? as f64;
    let lo = match i {
        0 => 0.0,
        _ => bucket_value(i - 1)? as f64,
    };
    match kind {
        "T" => Some((lo / 1e9, hi / 1e9)),
        "D" => Some((lo, hi)),
        _ => None,
    }
}

impl Heatmap {
    /// Counts `lines` (value series of the heatmap lines of axis `axis`, with `base` the
    /// first one's color) over the cells the axis' `range` and `ticks` define, at the step
    /// ends `times`. `None` when there are no lines.
    pub fn build(
        axis: usize,
        lines: &[&TimeSeries],
        base: Rgba,
        range: &ValueRange,
        ticks: &[f64],
        times: &[i64],
        params: &HeatmapParams,
    ) -> Option<Heatmap> {
        if lines.is_empty() {
            return None;
        }
        let mut major = vec![range.min];
        major.extend(
            ticks
                .iter()
                .copied()
                .filter(|t| *t > range.min && *t < range.max),
        );
        major.push(range.max);
        // Major ticks alone give a handful of rows, too coarse to show a distribution:
        // each span is cut into the minor steps a reader would interpolate anyway.
        let mut edges = Vec::with_capacity(major.len() * ROWS_PER_TICK);
        for w in major.windows(2) {
            for k in 0..ROWS_PER_TICK {
                edges.push(w[0] + (w[1] - w[0]) * k as f64 / ROWS_PER_TICK as f64);
            }
        }
        edges.push(range.max);
        let rows = edges.len() - 1;
        let mut counts = vec![0.0; times.len() * rows];
        for series in lines {
            let bucket = percentile_range(series);
            for (col, t) in times.iter().enumerate() {
                let v = value_at(series, *t);
                let cells = &mut counts[col * rows..(col + 1) * rows];
                match bucket {
                    Some((a, b)) if v > 0.0 => spread(cells, &edges, a, b, v),
                    Some(_) => {}
                    None => {
                        if let Some(row) = row_of(&edges, v) {
                            cells[row] += 1.0;
                        }
                    }
                }
            }
        }
        let positive = counts.iter().copied().filter(|c| *c > 0.0);
        let (min, max) = positive.fold((f64::INFINITY, 0.0f64), |(lo, hi), c| {
            (lo.min(c), hi.max(c))
        });
        let lo = match params.lower {
            PlotBound::Explicit(v) => v,
            _ if min.is_finite() => min,
            _ => 0.0,
        };
        let hi = match params.upper {
            PlotBound::Explicit(v) => v,
            _ => max,
        };
        Some(Heatmap {
            axis,
            edges,
            times: times.to_vec(),
            counts,
            colors: colors(params.palette.as_deref(), base),
            lo,
            hi,
            scale: params.scale.unwrap_or(Scale::Linear),
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.edges.len().saturating_sub(1)
    }

    /// The count of a cell.
    pub fn count(&self, col: usize, row: usize) -> f64 {
        self.counts
            .get(col * self.rows() + row)
            .copied()
            .unwrap_or(0.0)
    }

    /// The color of a cell; `None` for an empty one.
    pub fn color(&self, col: usize, row: usize) -> Option<Rgba> {
        let c = self.count(col, row);
        (c > 0.0).then(|| self.color_of(c))
    }

    /// The color for a count: its place between `lo` and `hi` on the color scale, clamped.
    pub fn color_of(&self, count: f64) -> Rgba {
        let n = self.colors.len();
        let (lo, hi) = (project(self.scale, self.lo), project(self.scale, self.hi));
        let f = if hi > lo {
            ((project(self.scale, count.clamp(self.lo, self.hi)) - lo) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let i = ((f * n as f64) as usize).min(n.saturating_sub(1));
        self.colors.get(i).copied().unwrap_or(Rgba::rgb(0))
    }
}

fn value_at(s: &TimeSeries, t: i64) -> f64 {
    if s.step <= 0 || t < s.start {
        return f64::NAN;
    }
    usize::try_from((t - s.start) / s.step)
        .ok()
        .and_then(|i| s.values.get(i).copied())
        .unwrap_or(f64::NAN)
}

/// The row whose span holds `v`; the top row includes the axis maximum. Values off the
/// axis (explicit bounds) are not counted.
fn row_of(edges: &[f64], v: f64) -> Option<usize> {
    let (first, last) = (*edges.first()?, *edges.last()?);
    if !(first..=last).contains(&v) {
        return None;
    }
    let row = edges.partition_point(|e| *e <= v).saturating_sub(1);
    Some(row.min(edges.len() - 2))
}

/// Adds `count` to the rows overlapping `[a, b]`, each its share of the overlap.
fn spread(cells: &mut [f64], edges: &[f64], a: f64, b: f64, count: f64) {
    if b <= a {
        if let Some(row) = row_of(edges, a) {
            cells[row] += count;
        }
        return;
    }
    for (row, w) in edges.windows(2).enumerate() {
        let overlap = b.min(w[1]) - a.max(w[0]);
        if overlap > 0.0 {
            cells[row] += count * overlap / (b - a);
        }
    }
}

/// The color scale: a named palette ordered from light to dark, or shades of `base`.
fn colors(palette: Option<&str>, base: Rgba) -> Vec<Rgba> {
    if let Some(list) = palette.and_then(named_palette) {
        let mut colors: Vec<Rgba> = list.iter().map(|v| Rgba::rgb(*v)).collect();
        let luma = |c: &Rgba| 299 * u32::from(c.r) + 587 * u32::from(c.g) + 114 * u32::from(c.b);
        colors.sort_by_key(|c| std::cmp::Reverse(luma(c)));
        return colors;
    }
    (1..=SHADES)
        .map(|i| base.with_alpha((255 * i / SHADES) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_query::TagMap;

    fn series(tags: &[(&str, &str)], values: &[f64]) -> TimeSeries {
        let mut map = TagMap::new();
        for (k, v) in tags {
            map.insert((*k).to_string(), (*v).to_string());
        }
        TimeSeries {
            tags: map,
            label: String::new(),
            start: 1000,
            step: 1000,
            values: values.to_vec(),
        }
    }

    fn range(min: f64, max: f64) -> ValueRange {
        ValueRange {
            min,
            max,
            scale: Scale::Linear,
            pad: (0.0, 0.0),
        }
    }

    #[test]
    fn lines_count_in_the_row_of_their_value() {
        let a = series(&[("name", "a")], &[1.0, 5.0]);
        let b = series(&[("name", "b")], &[1.1, f64::NAN]);
        let h = Heatmap::build(
            0,
            &[&a, &b],
            Rgba::rgb(0xff0000),
            &range(0.0, 10.0),
            &[0.0, 2.0, 4.0, 6.0, 8.0, 10.0],
            &[1000, 2000],
            &HeatmapParams::default(),
        );
        let Some(h) = h else { panic!("no heatmap") };
        // Five major spans of 2, five rows each: rows of 0.4.
        assert_eq!(h.rows(), 25);
        assert_eq!(h.count(0, 2), 2.0);
        assert_eq!(h.count(1, 12), 1.0);
        assert_eq!((h.lo, h.hi), (1.0, 2.0));
        assert!(h.color(0, 1).is_none());
        assert_eq!(h.color(0, 2), h.colors.last().copied());
    }

    #[test]
    fn percentile_buckets_spread_over_the_rows_they_cover() {
        // D buckets are in raw units; their bounds come from Spectator's table.
        let (a, b) = percentile_range(&series(&[("percentile", "D000B")], &[])).unwrap_or_default();
        assert!(b > a && a > 0.0);
        let mid = (a + b) / 2.0;
        let line = series(&[("percentile", "D000B")], &[8.0]);
        let h = Heatmap::build(
            0,
            &[&line],
            Rgba::rgb(0x0000ff),
            &range(0.0, b + 1.0),
            &[mid],
            &[1000],
            &HeatmapParams::default(),
        );
        let Some(h) = h else { panic!("no heatmap") };
        assert_eq!(h.rows(), 2 * ROWS_PER_TICK);
        let below: f64 = (0..ROWS_PER_TICK).map(|r| h.count(0, r)).sum();
        let above: f64 = (ROWS_PER_TICK..h.rows()).map(|r| h.count(0, r)).sum();
        assert!((below - 4.0).abs() < 1e-9, "{below}");
        assert!((above - 4.0).abs() < 1e-9, "{above}");
        assert_eq!(
            percentile_range(&series(&[("percentile", "T0000")], &[])),
            Some((0.0, 1e-9))
        );
        assert_eq!(
            percentile_range(&series(&[("percentile", "X1")], &[])),
            None
        );
        assert_eq!(
            percentile_range(&series(&[("percentile", "TZZZZ")], &[])),
            None
        );
    }

    #[test]
    fn colors_rise_with_the_count_and_respect_bounds() {
        let line = series(&[("name", "x")], &[1.0]);
        let params = HeatmapParams {
            upper: PlotBound::Explicit(4.0),
            palette: Some("blues".to_string()),
            ..HeatmapParams::default()
        };
        let h = Heatmap::build(
            0,
            &[&line],
            Rgba::rgb(0),
            &range(0.0, 2.0),
            &[],
            &[1000],
            &params,
        );
        let Some(h) = h else { panic!("no heatmap") };
        let luma = |c: Rgba| u32::from(c.r) + u32::from(c.g) + u32::from(c.b);
        assert!(luma(h.color_of(1.0)) >= luma(h.color_of(4.0)));
        assert_eq!(h.color_of(100.0), h.color_of(4.0));
        assert_eq!(h.hi, 4.0);
    }
}

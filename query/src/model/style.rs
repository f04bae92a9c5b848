//! Presentation settings (`:legend`, `:color`, `:ls`, ...) attached to an expression.
//!
//! Atlas reference: `StyleExpr.scala`, `StyleVocabulary.scala`. Atlas keeps settings in a
//! string map; we keep them typed but print them in Atlas's order (keys descending).

use super::expr::Expr;

/// How a line is drawn (`:ls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStyle {
    /// `:line` (the default).
    Line,
    /// `:area`
    Area,
    /// `:stack`
    Stack,
    /// `:vspan`
    VSpan,
    /// `:heatmap`
    Heatmap,
}

impl LineStyle {
    /// The style name.
    pub fn name(self) -> &'static str {
        match self {
            LineStyle::Line => "line",
            LineStyle::Area => "area",
            LineStyle::Stack => "stack",
            LineStyle::VSpan => "vspan",
            LineStyle::Heatmap => "heatmap",
        }
    }

    /// Parses a style name.
    pub fn from_name(s: &str) -> Option<LineStyle> {
        Some(match s {
            "line" => LineStyle::Line,
            "area" => LineStyle::Area,
            "stack" => LineStyle::Stack,
            "vspan" => LineStyle::VSpan,
            "heatmap" => LineStyle::Heatmap,
            _ => return None,
        })
    }
}

/// What `:sort` orders the lines of an expression by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortMode {
    /// By legend text (the default).
    Legend,
    /// By smallest value.
    Min,
    /// By largest value.
    Max,
    /// By mean.
    Avg,
    /// By number of values.
    Count,
    /// By sum.
    Total,
    /// By last value.
    Last,
}

impl SortMode {
    /// The mode name.
    pub fn name(self) -> &'static str {
        match self {
            SortMode::Legend => "legend",
            SortMode::Min => "min",
            SortMode::Max => "max",
            SortMode::Avg => "avg",
            SortMode::Count => "count",
            SortMode::Total => "total",
            SortMode::Last => "last",
        }
    }

    /// Parses a mode; Atlas falls back to `legend` for anything else.
    pub fn from_name(s: &str) -> SortMode {
        match s {
            "min" => SortMode::Min,
            "max" => SortMode::Max,
            "avg" => SortMode::Avg,
            "count" => SortMode::Count,
            "total" => SortMode::Total,
            "last" => SortMode::Last,
            _ => SortMode::Legend,
        }
    }
}

/// A legend post-processing step, applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SedOp {
    /// `mode,:decode`: `hex` decodes `_XX` escapes, `none` does nothing.
    Decode(String),
    /// `regex,replacement,:s`: global replace; `$1` or `$name` in the replacement.
    Subst {
        /// Pattern.
        regex: String,
        /// Replacement template.
        replacement: String,
    },
}

/// A palette scoped to one expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Palette {
    /// A palette name, e.g. `blues` or `hash:reds`.
    Named(String),
    /// An explicit list of colors.
    Colors(Vec<String>),
}

/// Presentation settings of one expression. `None`/empty means "not set".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Style {
    /// Legend template (`$key`, `$(key)`).
    pub legend: Option<String>,
    /// Legend post-processing (`:decode`, `:s`).
    pub sed: Vec<SedOp>,
    /// Explicit color: hex (`f00`, `ff0000`, `80ff0000`) or a theme name.
    pub color: Option<String>,
    /// Alpha kept apart from a named color or a palette (two hex digits).
    pub alpha: Option<String>,
    /// Palette.
    pub palette: Option<Palette>,
    /// Line style.
    pub line_style: Option<LineStyle>,
    /// Line width.
    pub line_width: Option<f64>,
    /// Y axis index, 0..=4.
    pub axis: Option<u8>,
    /// Sort mode of the lines of this expression.
    pub sort: Option<SortMode>,
    /// True for descending order.
    pub descending: Option<bool>,
    /// Keep only the first n lines after sorting.
    pub limit: Option<usize>,
    /// Deprecated style offsets: the expression is repeated once per offset (ms).
    pub offsets: Vec<i64>,
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Style {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Style::default()
    }

    /// `:color`: clears alpha and palette, as Atlas does.
    pub fn set_color(&mut self, color: &str) {
        self.color = Some(color.to_string());
        self.alpha = None;
        self.palette = None;
    }

    /// `:alpha`: merged into an explicit hex color, else kept apart.
    pub fn set_alpha(&mut self, alpha: &str) {
        let merged = self.color.as_deref().filter(|c| is_hex(c)).and_then(|c| {
            let rgb = match c.len() {
                3 => c.chars().flat_map(|ch| [ch, ch]).collect::<String>(),
                6 => c.to_string(),
                8 => c.get(2..)?.to_string(),
                _ => return None,
            };
            Some(format!("{alpha}{rgb}"))
        });
        match merged {
            Some(c) => self.color = Some(c),
            None => self.alpha = Some(alpha.to_string()),
        }
    }

    /// `:palette`: clears the color.
    pub fn set_palette(&mut self, palette: Palette) {
        self.palette = Some(palette);
        self.color = None;
    }
}

/// An expression with presentation settings: one item of the final stack.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleExpr {
    /// What to compute.
    pub expr: Expr,
    /// How to present it.
    pub style: Style,
}

impl StyleExpr {
    /// An expression with no settings.
    pub fn new(expr: Expr) -> StyleExpr {
        StyleExpr {
            expr,
            style: Style::default(),
        }
    }
}

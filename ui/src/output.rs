//! One function from evaluated lines to bytes for every output format of `/api/v1/graph`,
//! after Atlas's `Grapher.evalAndRender`: images drawn by the chart renderer, data formats
//! printed by [`crate::data`], and a failed request shown the way its client can read it.

use sextant_query::{ErrorView, GraphLine, GraphParams, OutputFormat};

use crate::data::{render_data, GraphData};
use crate::error::Result;
use crate::render::{render_error_png, render_error_svg, render_png, render_svg};

/// A rendered answer: its MIME type and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `Content-Type` of the body.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

/// Renders `lines` in the format `params` asks for (PNG, SVG, csv, txt, json, std.json,
/// stats.json). CPU-bound: call it off the async workers.
///
/// ```
/// use sextant_query::{GraphParams, GraphSettings};
/// let pairs = [("q", "1"), ("s", "0"), ("e", "300000"), ("format", "csv"), ("tz", "UTC")]
///     .map(|(k, v)| (k.to_string(), v.to_string()));
/// let params = GraphParams::parse(&pairs, &GraphSettings::default(), 300_000)?;
/// let out = sextant_ui::render(&params, &[])?;
/// assert_eq!(out.content_type, "text/csv");
/// assert!(out.body.starts_with(b"\"timestamp\""));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render(params: &GraphParams, lines: &[GraphLine]) -> Result<Rendered> {
    let content_type = params.format.content_type();
    let body = match params.format {
        OutputFormat::Png => render_png(params, lines)?,
        OutputFormat::Svg => render_svg(params, lines)?.into_bytes(),
        format => {
            let data = GraphData {
                lines,
                window: params.window,
                timezone: params.primary_timezone(),
                notices: &params.warnings,
                partial: params.partial,
            };
            // Every non-image format is a data format.
            render_data(format, &data).map_or_else(Vec::new, |(_, body)| body.into_bytes())
        }
    };
    Ok(Rendered { content_type, body })
}

/// Renders the message of a failed request as `view` says: an image for clients that
/// asked for one (or browsers, which show it in an `<img>`), otherwise Atlas's JSON error
/// body `{"type":"error","message":...}`.
///
/// ```
/// use sextant_query::{ErrorView, Theme};
/// let view = ErrorView { image: None, width: 700, height: 300, theme: Theme::Light };
/// let out = sextant_ui::render_error(&view, "bad")?;
/// assert_eq!(out.content_type, "application/json");
/// assert_eq!(out.body, br#"{"message":"bad","type":"error"}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render_error(view: &ErrorView, message: &str) -> Result<Rendered> {
    let body = match view.image {
        Some(OutputFormat::Svg) => {
            render_error_svg(message, view.width, view.height, view.theme)?.into_bytes()
        }
        Some(_) => render_error_png(message, view.width, view.height, view.theme)?,
        None => {
            let json = serde_json::json!({"type": "error", "message": message});
            return Ok(Rendered {
                content_type: "application/json",
                body: json.to_string().into_bytes(),
            });
        }
    };
    let format = view.image.unwrap_or(OutputFormat::Png);
    Ok(Rendered {
        content_type: format.content_type(),
        body,
    })
}

//! The embedded font. plotters is built with `ab_glyph` and without `ttf`, so it never
//! looks for system fonts: text is drawn with DejaVu Sans compiled into the binary, which
//! keeps images identical on every machine (the reason Atlas ships its own fonts too).

use std::sync::OnceLock;

use plotters::style::{FontFamily, FontStyle};

use crate::error::{Error, Result};

/// Family name the font is registered under; SVG output names it in `font-family`.
pub const FAMILY: &str = "DejaVu Sans";

static DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// Registers the font once per process; later calls return the first outcome.
pub fn ensure() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS)
                .map_err(|_| "the embedded DejaVu Sans font is not a valid font".to_string())
        })
        .clone()
        .map_err(Error::Font)
}

/// The parsed font, for laying out and rasterising text ourselves (see `glyphs.rs`).
/// `None` only if the embedded bytes are not a font, which [`ensure`] reports first.
pub fn face() -> Option<&'static ab_glyph::FontRef<'static>> {
    static FACE: OnceLock<Option<ab_glyph::FontRef<'static>>> = OnceLock::new();
    FACE.get_or_init(|| ab_glyph::FontRef::try_from_slice(DEJAVU_SANS).ok())
        .as_ref()
}

/// The font family to draw with.
pub fn family() -> FontFamily<'static> {
    FontFamily::Name(FAMILY)
}

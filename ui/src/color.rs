//! Colors: hex parsing, the theme's named colors and the palettes Atlas names
//! (`armytage`, `light24`, `dark24`, `epic`, `blues`..`reds`, `bw`, `lightgray`,
//! `highcharts`), with the `hash:` mode that picks a stable color per label.

use sextant_query::Palette;

/// An sRGB color with alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgba {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Alpha, 255 = opaque.
    pub a: u8,
}

impl Rgba {
    /// An opaque color from `0xRRGGBB`.
    pub const fn rgb(v: u32) -> Rgba {
        Rgba {
            r: (v >> 16) as u8,
            g: (v >> 8) as u8,
            b: v as u8,
            a: 255,
        }
    }

    /// The same color with alpha `a`.
    pub const fn with_alpha(self, a: u8) -> Rgba {
        Rgba { a, ..self }
    }

    /// Parses `rgb`, `rrggbb` or `aarrggbb` (Atlas's ARGB order), without a `#`.
    pub fn parse_hex(s: &str) -> Option<Rgba> {
        let s = s.strip_prefix('#').unwrap_or(s);
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let v = u32::from_str_radix(s, 16).ok()?;
        match s.len() {
            3 => {
                let (r, g, b) = ((v >> 8) & 0xf, (v >> 4) & 0xf, v & 0xf);
                Some(Rgba::rgb(
                    ((r * 0x11) << 16) | ((g * 0x11) << 8) | (b * 0x11),
                ))
            }
            6 => Some(Rgba::rgb(v)),
            8 => Some(Rgba::rgb(v & 0xff_ffff).with_alpha((v >> 24) as u8)),
            _ => None,
        }
    }

    /// Parses a hex color or a named color.
    pub fn parse(s: &str) -> Option<Rgba> {
        named(s).or_else(|| Rgba::parse_hex(s))
    }
}

/// Named colors accepted by `:color`: the theme names Atlas documents (`blue1..3`, ...,
/// `red1..3`, 1 lightest) plus a few plain names people type anyway.
fn named(name: &str) -> Option<Rgba> {
    let v = match name.to_ascii_lowercase().as_str() {
        "blue1" => 0x9ecae1,
        "blue2" | "blue" => 0x4292c6,
        "blue3" => 0x08519c,
        "gray1" | "grey1" => 0xd9d9d9,
        "gray2" | "grey2" | "gray" | "grey" => 0x969696,
        "gray3" | "grey3" => 0x525252,
        "green1" => 0xa1d99b,
        "green2" | "green" => 0x41ab5d,
        "green3" => 0x006d2c,
        "orange1" => 0xfdae6b,
        "orange2" | "orange" => 0xf16913,
        "orange3" => 0xa63603,
        "purple1" => 0xbcbddc,
        "purple2" | "purple" => 0x807dba,
        "purple3" => 0x54278f,
        "red1" => 0xfc9272,
        "red2" | "red" => 0xef3b2c,
        "red3" => 0xa50f15,
        "black" => 0x000000,
        "white" => 0xffffff,
        "yellow" => 0xffd700,
        "cyan" => 0x00bcd4,
        "magenta" => 0xd81b60,
        _ => return None,
    };
    Some(Rgba::rgb(v))
}

// Green-Armytage's colour alphabet, minus the two colors too pale to see on white.
const ARMYTAGE: &[u32] = &[
    0x0075dc, 0xff0010, 0x2bce48, 0xffa405, 0x740aff, 0x993f00, 0x00998f, 0xc20088, 0x808080,
    0x426600, 0x5ef1f2, 0x4c005c, 0x8f7c00, 0xf0a3ff, 0x003380, 0x9dcc00, 0xffa8bb, 0x005c31,
    0xff5005, 0x94ffb5, 0x191919, 0x990000, 0xffcc99, 0xffe100,
];
const LIGHT24: &[u32] = &[
    0xfd3216, 0x00fe35, 0x6a76fc, 0xfed4c4, 0xfe00ce, 0x0df9ff, 0xf6f926, 0xff9616, 0x479b55,
    0xeea6fb, 0xdc587d, 0xd626ff, 0x6e899c, 0x00b5f7, 0xb68e00, 0xc9fbe5, 0xff0092, 0x22ffa7,
    0xe3ee9e, 0x86ce00, 0xbc7196, 0x7e7dcd, 0xfc6955, 0xe48f72,
];
const DARK24: &[u32] = &[
    0x2e91e5, 0xe15f99, 0x1ca71c, 0xfb0d0d, 0xda16ff, 0x222a2a, 0xb68100, 0x750d86, 0xeb663b,
    0x511cfb, 0x00a08b, 0xfb00d1, 0xfc0080, 0xb2828d, 0x6c7c32, 0x778aae, 0x862a16, 0xa777f1,
    0x620042, 0x1616a7, 0xda60ca, 0x6c4516, 0x0d2a63, 0xaf0038,
];
const EPIC: &[u32] = &[
    0xff0000, 0x00a000, 0x0000ff, 0xff00ff, 0xc0c000, 0x00c0c0, 0x800000, 0x008000, 0x000080,
];
const BLUES: &[u32] = &[
    0x08306b, 0x08519c, 0x2171b5, 0x4292c6, 0x6baed6, 0x9ecae1, 0xc6dbef,
];
const GREENS: &[u32] = &[
    0x00441b, 0x006d2c, 0x238b45, 0x41ab5d, 0x74c476, 0xa1d99b, 0xc7e9c0,
];
const ORANGES: &[u32] = &[
    0x7f2704, 0xa63603, 0xd94801, 0xf16913, 0xfd8d3c, 0xfdae6b, 0xfdd0a2,
];
const PURPLES: &[u32] = &[
    0x3f007d, 0x54278f, 0x6a51a3, 0x807dba, 0x9e9ac8, 0xbcbddc, 0xdadaeb,
];
const REDS: &[u32] = &[
    0x67000d, 0xa50f15, 0xcb181d, 0xef3b2c, 0xfb6a4a, 0xfc9272, 0xfcbba1,
];
const BW: &[u32] = &[0x000000, 0x404040, 0x606060, 0x808080, 0xa0a0a0];
const LIGHTGRAY: &[u32] = &[0xffffff, 0xe0e0e0, 0xc0c0c0, 0xa0a0a0, 0x808080];
const HIGHCHARTS: &[u32] = &[
    0x7cb5ec, 0x434348, 0x90ed7d, 0xf7a35c, 0x8085e9, 0xf15c80, 0xe4d354, 0x2b908f, 0xf45b5b,
    0x91e8e1,
];

/// The colors of a named palette, or `None` for an unknown name.
pub fn named_palette(name: &str) -> Option<&'static [u32]> {
    Some(match name {
        "armytage" => ARMYTAGE,
        "light24" => LIGHT24,
        "dark24" => DARK24,
        "epic" => EPIC,
        "blues" => BLUES,
        "greens" => GREENS,
        "oranges" => ORANGES,
        "purples" => PURPLES,
        "reds" => REDS,
        "bw" => BW,
        "lightgray" => LIGHTGRAY,
        "highcharts" => HIGHCHARTS,
        _ => return None,
    })
}

/// A resolved palette: its colors and whether colors are picked by label hash.
#[derive(Debug, Clone)]
pub struct ColorCycle {
    colors: Vec<Rgba>,
    by_hash: bool,
}

impl ColorCycle {
    /// A palette from its URL or `:palette` name; unknown names fall back to `fallback`.
    pub fn named(name: &str, fallback: &str) -> ColorCycle {
        let (by_hash, base) = match name.strip_prefix("hash:") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        let colors = named_palette(base)
            .or_else(|| named_palette(fallback))
            .unwrap_or(ARMYTAGE)
            .iter()
            .map(|&v| Rgba::rgb(v))
            .collect();
        ColorCycle { colors, by_hash }
    }

    /// The palette of an expression's `:palette` setting.
    pub fn of(palette: &Palette, fallback: &str) -> ColorCycle {
        match palette {
            Palette::Named(name) => ColorCycle::named(name, fallback),
            Palette::Colors(list) => {
                let colors: Vec<Rgba> = list.iter().filter_map(|c| Rgba::parse(c)).collect();
                if colors.is_empty() {
                    ColorCycle::named(fallback, fallback)
                } else {
                    ColorCycle {
                        colors,
                        by_hash: false,
                    }
                }
            }
        }
    }

    /// The color of the `index`-th line, whose label is `label`.
    pub fn pick(&self, index: usize, label: &str) -> Rgba {
        let n = self.colors.len().max(1);
        let i = if self.by_hash {
            // FNV-1a: stable across runs and platforms, unlike the std hasher.
            let h = label.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            (h % n as u64) as usize
        } else {
            index % n
        };
        self.colors.get(i).copied().unwrap_or(Rgba::rgb(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_forms() {
        assert_eq!(Rgba::parse_hex("f00"), Some(Rgba::rgb(0xff0000)));
        assert_eq!(Rgba::parse_hex("00ff00"), Some(Rgba::rgb(0x00ff00)));
        assert_eq!(
            Rgba::parse_hex("40ff0000"),
            Some(Rgba::rgb(0xff0000).with_alpha(0x40))
        );
        assert_eq!(Rgba::parse_hex("ff00"), None);
        assert_eq!(Rgba::parse_hex("zzz"), None);
        assert_eq!(Rgba::parse("blue3"), Some(Rgba::rgb(0x08519c)));
    }

    #[test]
    fn palettes_cycle_and_hash_is_stable() {
        let p = ColorCycle::named("armytage", "armytage");
        assert_eq!(p.pick(0, "a"), p.pick(24, "b"));
        let h = ColorCycle::named("hash:light24", "armytage");
        assert_eq!(h.pick(0, "www"), h.pick(7, "www"));
        let unknown = ColorCycle::named("nope", "light24");
        assert_eq!(unknown.pick(0, ""), Rgba::rgb(0xfd3216));
        let custom = ColorCycle::of(&Palette::Colors(vec!["1a9850".into()]), "armytage");
        assert_eq!(custom.pick(3, ""), Rgba::rgb(0x1a9850));
    }
}

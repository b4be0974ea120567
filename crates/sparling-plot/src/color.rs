//! RGB colours, the series palette and the heatmap colour ramp.

/// An 8-bit RGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Color {
    /// Red channel.
    pub r: u8,
    /// Green channel.
    pub g: u8,
    /// Blue channel.
    pub b: u8,
}

impl Color {
    /// White (255, 255, 255).
    pub const WHITE: Color = Color::rgb(255, 255, 255);
    /// Black (0, 0, 0).
    pub const BLACK: Color = Color::rgb(0, 0, 0);
    /// Dark grey used for axes and secondary text.
    pub const DARK_GRAY: Color = Color::rgb(64, 64, 64);
    /// Mid grey used for reference lines and borders.
    pub const GRAY: Color = Color::rgb(128, 128, 128);
    /// Light grey used for grid lines.
    pub const LIGHT_GRAY: Color = Color::rgb(225, 225, 225);

    /// A colour from its three channels.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Color {
        Color { r, g, b }
    }

    /// Linear interpolation from `self` (at `t = 0`) to `other` (at `t = 1`); `t` is clamped to
    /// `[0, 1]` and NaN counts as 0.
    pub fn lerp(self, other: Color, t: f64) -> Color {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
        Color::rgb(
            mix(self.r, other.r),
            mix(self.g, other.g),
            mix(self.b, other.b),
        )
    }

    /// Relative luminance in `[0, 1]` (Rec. 709 weights on the gamma-encoded channels), used to
    /// pick black or white text on a coloured background.
    pub fn luminance(self) -> f64 {
        (0.2126 * self.r as f64 + 0.7152 * self.g as f64 + 0.0722 * self.b as f64) / 255.0
    }
}

/// The fixed series palette (matplotlib's "tab10"), cycled by series index.
pub const PALETTE: [Color; 10] = [
    Color::rgb(31, 119, 180),
    Color::rgb(255, 127, 14),
    Color::rgb(44, 160, 44),
    Color::rgb(214, 39, 40),
    Color::rgb(148, 103, 189),
    Color::rgb(140, 86, 75),
    Color::rgb(227, 119, 194),
    Color::rgb(127, 127, 127),
    Color::rgb(188, 189, 34),
    Color::rgb(23, 190, 207),
];

/// The palette colour of series number `index` (the palette repeats after 10 series).
pub fn palette(index: usize) -> Color {
    PALETTE[index % PALETTE.len()]
}

/// Stops of the white-to-dark-blue ramp (white, then matplotlib's "Blues" stops).
const RAMP: [Color; 5] = [
    Color::rgb(255, 255, 255),
    Color::rgb(198, 219, 239),
    Color::rgb(107, 174, 214),
    Color::rgb(33, 113, 181),
    Color::rgb(8, 48, 107),
];

/// The heatmap colour at `t` in `[0, 1]`: white at 0, dark blue at 1, piecewise linear between
/// five stops; `t` is clamped and NaN counts as 0.
pub fn blue_ramp(t: f64) -> Color {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let segments = (RAMP.len() - 1) as f64;
    let pos = t * segments;
    let i = (pos.floor() as usize).min(RAMP.len() - 2);
    RAMP[i].lerp(RAMP[i + 1], pos - i as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_lerp_endpoints_and_midpoint() {
        let a = Color::rgb(0, 100, 200);
        let b = Color::rgb(200, 100, 0);
        assert_eq!(a.lerp(b, 0.0), a);
        assert_eq!(a.lerp(b, 1.0), b);
        assert_eq!(a.lerp(b, 0.5), Color::rgb(100, 100, 100));
        assert_eq!(a.lerp(b, -3.0), a);
        assert_eq!(a.lerp(b, f64::NAN), a);
    }

    #[test]
    fn color_blue_ramp_is_white_to_dark_blue_and_darkens_monotonically() {
        assert_eq!(blue_ramp(0.0), Color::WHITE);
        assert_eq!(blue_ramp(1.0), Color::rgb(8, 48, 107));
        let mut prev = f64::INFINITY;
        for i in 0..=100 {
            let l = blue_ramp(i as f64 / 100.0).luminance();
            assert!(l <= prev + 1e-12, "ramp luminance rises at {i}");
            prev = l;
        }
    }

    #[test]
    fn color_palette_cycles_and_is_distinct() {
        assert_eq!(palette(0), palette(10));
        for i in 0..10 {
            for j in 0..i {
                assert_ne!(palette(i), palette(j));
            }
        }
    }
}

//! The RGB raster [`Canvas`] and its drawing primitives.

use std::path::{Path, PathBuf};

use crate::color::Color;
use crate::error::{Error, Result};
use crate::font;

/// An axis-aligned rectangle in pixel coordinates: `x..x + w` by `y..y + h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Left edge (inclusive).
    pub x: i32,
    /// Top edge (inclusive).
    pub y: i32,
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
}

impl Rect {
    /// A rectangle from its top-left corner and size.
    pub const fn new(x: i32, y: i32, w: u32, h: u32) -> Rect {
        Rect { x, y, w, h }
    }

    /// Whether pixel (`x`, `y`) lies inside the rectangle.
    pub fn contains(&self, x: i64, y: i64) -> bool {
        x >= self.x as i64
            && y >= self.y as i64
            && x < self.x as i64 + self.w as i64
            && y < self.y as i64 + self.h as i64
    }

    /// Whether the two rectangles share at least one pixel.
    pub fn intersects(&self, other: &Rect) -> bool {
        let (ax1, ay1) = (self.x as i64 + self.w as i64, self.y as i64 + self.h as i64);
        let (bx1, by1) = (
            other.x as i64 + other.w as i64,
            other.y as i64 + other.h as i64,
        );
        (self.x as i64) < bx1
            && (other.x as i64) < ax1
            && (self.y as i64) < by1
            && (other.y as i64) < ay1
    }
}

/// The shape drawn at each data point of a series (see [`Canvas::marker`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Marker {
    /// A filled disc.
    Circle,
    /// A filled square.
    Square,
    /// A filled upward triangle.
    Triangle,
    /// A filled diamond (square rotated by 45 degrees).
    Diamond,
    /// A diagonal cross (`x`), 2 px thick.
    Cross,
    /// An upright cross (`+`), 2 px thick.
    Plus,
}

impl Marker {
    /// All markers, in the order the line chart assigns them to series.
    pub const ALL: [Marker; 6] = [
        Marker::Circle,
        Marker::Square,
        Marker::Triangle,
        Marker::Diamond,
        Marker::Cross,
        Marker::Plus,
    ];
}

/// An RGB image with simple drawing primitives: pixels, thick and dashed lines, rectangles,
/// circles, markers and text in the embedded bitmap font.
///
/// Coordinates are pixels with the origin at the top-left corner, `x` to the right and `y`
/// down. Drawing outside the image (or outside the clip rectangle set by [`Canvas::set_clip`]) is
/// silently discarded, so callers never need to bound-check.
#[derive(Clone, PartialEq, Eq)]
pub struct Canvas {
    width: u32,
    height: u32,
    /// Row-major RGB bytes, 3 per pixel.
    data: Vec<u8>,
    clip: Option<Rect>,
}

impl std::fmt::Debug for Canvas {
    /// Size and clip only (the pixel bytes would flood test failure messages).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canvas")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("clip", &self.clip)
            .finish_non_exhaustive()
    }
}

impl Canvas {
    /// A `width` x `height` canvas filled with `background`.
    ///
    /// # Panics
    /// If `width` or `height` is 0 (PNG cannot encode an empty image).
    pub fn new(width: u32, height: u32, background: Color) -> Canvas {
        assert!(
            width > 0 && height > 0,
            "Canvas::new: width and height must be positive, got {width}x{height}"
        );
        let n = width as usize * height as usize;
        let mut data = Vec::with_capacity(n * 3);
        for _ in 0..n {
            data.extend_from_slice(&[background.r, background.g, background.b]);
        }
        Canvas {
            width,
            height,
            data,
            clip: None,
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The raw row-major RGB bytes (3 per pixel, `width * height * 3` in all).
    pub fn as_rgb_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The colour of pixel (`x`, `y`), or `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<Color> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        Some(Color::rgb(self.data[i], self.data[i + 1], self.data[i + 2]))
    }

    /// Restricts all later drawing to `clip` (intersected with the image); `None` lifts it.
    pub fn set_clip(&mut self, clip: Option<Rect>) {
        self.clip = clip;
    }

    /// The current clip rectangle, if any.
    pub fn clip(&self) -> Option<Rect> {
        self.clip
    }

    /// Sets pixel (`x`, `y`) to `color`; ignored outside the image or the clip rectangle.
    pub fn set_pixel(&mut self, x: i32, y: i32, color: Color) {
        self.put(x as i64, y as i64, color);
    }

    fn put(&mut self, x: i64, y: i64, color: Color) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        if let Some(c) = self.clip
            && !c.contains(x, y)
        {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.data[i] = color.r;
        self.data[i + 1] = color.g;
        self.data[i + 2] = color.b;
    }

    /// Stamps a `size` x `size` square of `color` centred on (`x`, `y`) (the pen of thick lines).
    fn stamp(&mut self, x: i64, y: i64, size: u32, color: Color) {
        let size = size.max(1) as i64;
        let lo = -(size - 1) / 2;
        for dy in lo..lo + size {
            for dx in lo..lo + size {
                self.put(x + dx, y + dy, color);
            }
        }
    }

    /// A solid straight line from (`x0`, `y0`) to (`x1`, `y1`), both ends included, drawn with
    /// Bresenham's algorithm and a square pen `thickness` pixels wide (0 counts as 1).
    pub fn line(&mut self, x0: i32, y0: i32, x1: i32, y1: i32, color: Color, thickness: u32) {
        let mut phase = 0;
        self.segment(
            (x0 as f64, y0 as f64),
            (x1 as f64, y1 as f64),
            color,
            thickness,
            None,
            &mut phase,
        );
    }

    /// A dashed straight line: `dash` pixels drawn, then `gap` pixels skipped, repeated from the
    /// start point (steps are counted along the line's major axis). `dash == 0` draws nothing.
    pub fn dashed_line(
        &mut self,
        x0: i32,
        y0: i32,
        x1: i32,
        y1: i32,
        color: Color,
        thickness: u32,
        dash: u32,
        gap: u32,
    ) {
        let mut phase = 0;
        self.segment(
            (x0 as f64, y0 as f64),
            (x1 as f64, y1 as f64),
            color,
            thickness,
            Some((dash, gap)),
            &mut phase,
        );
    }

    /// Rasterises a segment with real endpoints: first clipped (Liang-Barsky) to the drawable
    /// area grown by the pen size, so far-away endpoints cost nothing, then Bresenham on the
    /// rounded ends. `phase` carries the dash position across the segments of a polyline.
    pub(crate) fn segment(
        &mut self,
        p0: (f64, f64),
        p1: (f64, f64),
        color: Color,
        thickness: u32,
        dash: Option<(u32, u32)>,
        phase: &mut u32,
    ) {
        if !(p0.0.is_finite() && p0.1.is_finite() && p1.0.is_finite() && p1.1.is_finite()) {
            return;
        }
        let area = self
            .clip
            .unwrap_or(Rect::new(0, 0, self.width, self.height));
        let grow = thickness.max(1) as f64 + 1.0;
        let Some((q0, q1)) = clip_segment(
            p0,
            p1,
            (area.x as f64 - grow, area.y as f64 - grow),
            (
                area.x as f64 + area.w as f64 + grow,
                area.y as f64 + area.h as f64 + grow,
            ),
        ) else {
            return;
        };
        let (mut x, mut y) = (q0.0.round() as i64, q0.1.round() as i64);
        let (x1, y1) = (q1.0.round() as i64, q1.1.round() as i64);
        let dx = (x1 - x).abs();
        let dy = -(y1 - y).abs();
        let sx = if x < x1 { 1 } else { -1 };
        let sy = if y < y1 { 1 } else { -1 };
        let mut err = dx + dy;
        loop {
            let on = match dash {
                None => true,
                Some((d, g)) => d > 0 && *phase % (d + g) < d,
            };
            if on {
                self.stamp(x, y, thickness, color);
            }
            if x == x1 && y == y1 {
                break;
            }
            *phase = phase.wrapping_add(1);
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// The 1-pixel outline of the rectangle `x..x + w` by `y..y + h`.
    pub fn rect(&mut self, x: i32, y: i32, w: u32, h: u32, color: Color) {
        if w == 0 || h == 0 {
            return;
        }
        let (x0, y0) = (x as i64, y as i64);
        let (x1, y1) = (x0 + w as i64 - 1, y0 + h as i64 - 1);
        for xx in x0..=x1 {
            self.put(xx, y0, color);
            self.put(xx, y1, color);
        }
        for yy in y0..=y1 {
            self.put(x0, yy, color);
            self.put(x1, yy, color);
        }
    }

    /// Fills the rectangle `x..x + w` by `y..y + h` with `color`.
    pub fn fill_rect(&mut self, x: i32, y: i32, w: u32, h: u32, color: Color) {
        let xs = (x as i64).max(0);
        let ys = (y as i64).max(0);
        let xe = (x as i64 + w as i64).min(self.width as i64);
        let ye = (y as i64 + h as i64).min(self.height as i64);
        for yy in ys..ye {
            for xx in xs..xe {
                self.put(xx, yy, color);
            }
        }
    }

    /// Copies an RGB image (`width` x `height`, row-major, 3 bytes per pixel) with its top-left
    /// corner at (`x`, `y`); what falls outside the canvas (or the clip) is dropped.
    ///
    /// # Panics
    /// If `rgb` does not hold exactly `width * height * 3` bytes.
    pub fn draw_rgb(&mut self, x: i32, y: i32, width: u32, height: u32, rgb: &[u8]) {
        assert_eq!(
            rgb.len(),
            width as usize * height as usize * 3,
            "Canvas::draw_rgb: {width}x{height} image needs {} bytes, got {}",
            width as usize * height as usize * 3,
            rgb.len()
        );
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            let (dx, dy) = ((i % width as usize) as i64, (i / width as usize) as i64);
            self.put(
                x as i64 + dx,
                y as i64 + dy,
                Color::rgb(px[0], px[1], px[2]),
            );
        }
    }

    /// The 1-pixel outline of a circle of radius `r` centred on (`cx`, `cy`) (midpoint
    /// algorithm; `r == 0` draws the centre pixel).
    pub fn circle(&mut self, cx: i32, cy: i32, r: u32, color: Color) {
        let (cx, cy) = (cx as i64, cy as i64);
        let mut x = r as i64;
        let mut y = 0i64;
        let mut err = 1 - x;
        while x >= y {
            for (px, py) in [
                (x, y),
                (y, x),
                (-y, x),
                (-x, y),
                (-x, -y),
                (-y, -x),
                (y, -x),
                (x, -y),
            ] {
                self.put(cx + px, cy + py, color);
            }
            y += 1;
            if err < 0 {
                err += 2 * y + 1;
            } else {
                x -= 1;
                err += 2 * (y - x) + 1;
            }
        }
    }

    /// A filled disc of radius `r` centred on (`cx`, `cy`): every pixel whose centre is within
    /// `r + 0.5` of the centre.
    pub fn fill_circle(&mut self, cx: i32, cy: i32, r: u32, color: Color) {
        let r = r as i64;
        let limit = (r as f64 + 0.5) * (r as f64 + 0.5);
        for dy in -r..=r {
            for dx in -r..=r {
                if ((dx * dx + dy * dy) as f64) <= limit {
                    self.put(cx as i64 + dx, cy as i64 + dy, color);
                }
            }
        }
    }

    /// Draws `marker` centred on (`cx`, `cy`), fitting in a box `2 * size + 1` pixels wide.
    pub fn marker(&mut self, cx: i32, cy: i32, marker: Marker, size: u32, color: Color) {
        let s = size as i64;
        let (cx64, cy64) = (cx as i64, cy as i64);
        match marker {
            Marker::Circle => self.fill_circle(cx, cy, size, color),
            Marker::Square => {
                let side = (2 * size).saturating_sub(1).max(1);
                let half = (side / 2) as i32;
                self.fill_rect(cx - half, cy - half, side, side, color);
            }
            Marker::Triangle => {
                // Apex at the top, base at the bottom; the half-width grows linearly downwards.
                for dy in -s..=s {
                    let half = ((dy + s) as f64 / 2.0).round() as i64;
                    for dx in -half..=half {
                        self.put(cx64 + dx, cy64 + dy, color);
                    }
                }
            }
            Marker::Diamond => {
                for dy in -s..=s {
                    let half = s - dy.abs();
                    for dx in -half..=half {
                        self.put(cx64 + dx, cy64 + dy, color);
                    }
                }
            }
            Marker::Cross => {
                let d = (s * 4 / 5).max(1) as i32;
                self.line(cx - d, cy - d, cx + d, cy + d, color, 2);
                self.line(cx - d, cy + d, cx + d, cy - d, color, 2);
            }
            Marker::Plus => {
                self.line(cx - size as i32, cy, cx + size as i32, cy, color, 2);
                self.line(cx, cy - size as i32, cx, cy + size as i32, color, 2);
            }
        }
    }

    /// Draws `text` in the embedded font with its top-left corner at (`x`, `y`), each font pixel
    /// a `scale` x `scale` block (0 counts as 1). Characters outside printable ASCII are drawn as
    /// `?`. The text occupies [`Canvas::text_width`] by [`font::text_height`] pixels.
    pub fn text(&mut self, x: i32, y: i32, text: &str, color: Color, scale: u32) {
        let s = scale.max(1) as i64;
        for (i, ch) in text.chars().enumerate() {
            let ox = x as i64 + i as i64 * font::ADVANCE as i64 * s;
            for gy in 0..font::GLYPH_HEIGHT {
                for gx in 0..font::GLYPH_WIDTH {
                    if font::glyph_pixel(ch, gx, gy) {
                        self.block(ox + gx as i64 * s, y as i64 + gy as i64 * s, s, color);
                    }
                }
            }
        }
    }

    /// Draws `text` rotated 90 degrees counter-clockwise (reading bottom to top, as y-axis
    /// labels do). The rotated text occupies a box [`font::text_height`] pixels wide and
    /// [`Canvas::text_width`] pixels tall whose top-left corner is (`x`, `y`).
    pub fn text_vertical(&mut self, x: i32, y: i32, text: &str, color: Color, scale: u32) {
        let s = scale.max(1) as i64;
        let bottom = y as i64 + Canvas::text_width(text, scale) as i64;
        for (i, ch) in text.chars().enumerate() {
            let along = i as i64 * font::ADVANCE as i64 * s;
            for gy in 0..font::GLYPH_HEIGHT {
                for gx in 0..font::GLYPH_WIDTH {
                    if font::glyph_pixel(ch, gx, gy) {
                        // Unrotated offset (u, v) = (along + gx*s, gy*s) maps to (v, -u).
                        let u = along + gx as i64 * s;
                        let v = gy as i64 * s;
                        self.block(x as i64 + v, bottom - u - s, s, color);
                    }
                }
            }
        }
    }

    fn block(&mut self, x: i64, y: i64, s: i64, color: Color) {
        for dy in 0..s {
            for dx in 0..s {
                self.put(x + dx, y + dy, color);
            }
        }
    }

    /// Width in pixels of `text` drawn at `scale` by [`Canvas::text`] (one font cell per
    /// character, no trailing gap).
    pub fn text_width(text: &str, scale: u32) -> u32 {
        font::text_width(text, scale)
    }

    /// Encodes the canvas as an 8-bit RGB PNG.
    pub fn to_png_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder
                .write_header()
                .map_err(|source| Error::Encode { source })?;
            writer
                .write_image_data(&self.data)
                .map_err(|source| Error::Encode { source })?;
            writer.finish().map_err(|source| Error::Encode { source })?;
        }
        Ok(out)
    }

    /// Writes the canvas as a PNG file atomically: the bytes go to `<path>.tmp`, are synced, and
    /// the temporary file is renamed over `path`, so readers never see a half-written image. On
    /// failure the temporary file is removed and the error names `path`.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.to_png_bytes()?;
        let tmp = tmp_path(path);
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let written = (|| {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err(e));
        }
        Ok(())
    }
}

/// `<path>.tmp`: the path with `.tmp` appended to its file name.
fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Liang-Barsky clipping of the segment `p0`-`p1` to the box `lo`..`hi`; `None` when the
/// segment misses the box.
pub(crate) fn clip_segment(
    p0: (f64, f64),
    p1: (f64, f64),
    lo: (f64, f64),
    hi: (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (p1.0 - p0.0, p1.1 - p0.1);
    let mut t0 = 0.0f64;
    let mut t1 = 1.0f64;
    for (p, q) in [
        (-dx, p0.0 - lo.0),
        (dx, hi.0 - p0.0),
        (-dy, p0.1 - lo.1),
        (dy, hi.1 - p0.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                if r > t1 {
                    return None;
                }
                t0 = t0.max(r);
            } else {
                if r < t0 {
                    return None;
                }
                t1 = t1.min(r);
            }
        }
    }
    Some((
        (p0.0 + t0 * dx, p0.1 + t0 * dy),
        (p0.0 + t1 * dx, p0.1 + t1 * dy),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BG: Color = Color::WHITE;
    const INK: Color = Color::rgb(10, 20, 30);

    fn inked(c: &Canvas) -> Vec<(u32, u32)> {
        let mut v = Vec::new();
        for y in 0..c.height() {
            for x in 0..c.width() {
                if c.pixel(x, y) != Some(BG) {
                    v.push((x, y));
                }
            }
        }
        v
    }

    #[test]
    fn canvas_set_pixel_ignores_out_of_bounds_and_clip() {
        let mut c = Canvas::new(4, 3, BG);
        c.set_pixel(-1, 0, INK);
        c.set_pixel(4, 0, INK);
        c.set_pixel(0, 3, INK);
        c.set_pixel(i32::MIN, i32::MAX, INK);
        assert!(inked(&c).is_empty());
        c.set_pixel(3, 2, INK);
        assert_eq!(c.pixel(3, 2), Some(INK));
        assert_eq!(c.pixel(4, 2), None);
        c.set_clip(Some(Rect::new(0, 0, 2, 2)));
        c.set_pixel(2, 0, INK);
        c.set_pixel(1, 1, INK);
        assert_eq!(inked(&c), vec![(1, 1), (3, 2)]);
    }

    #[test]
    #[should_panic(expected = "Canvas::new: width and height must be positive")]
    fn canvas_rejects_zero_size() {
        let _ = Canvas::new(0, 5, BG);
    }

    #[test]
    fn canvas_line_bresenham_literal() {
        // Slope 1/3 (no rounding ties): one pixel per column, nearest to y = x / 3.
        let mut c = Canvas::new(8, 3, BG);
        c.line(0, 0, 6, 2, INK, 1);
        let mut px = inked(&c);
        px.sort();
        assert_eq!(
            px,
            vec![(0, 0), (1, 0), (2, 1), (3, 1), (4, 1), (5, 2), (6, 2)]
        );
        let mut d = Canvas::new(8, 3, BG);
        d.line(6, 2, 0, 0, INK, 1);
        let mut rev = inked(&d);
        rev.sort();
        assert_eq!(rev, px, "the reverse direction draws the same pixels");
        // Steep line: one pixel per row.
        let mut e = Canvas::new(3, 8, BG);
        e.line(0, 0, 2, 6, INK, 1);
        let mut ys: Vec<u32> = inked(&e).into_iter().map(|(_, y)| y).collect();
        ys.sort();
        assert_eq!(ys, (0..=6).collect::<Vec<u32>>());
    }

    #[test]
    fn canvas_thick_line_covers_a_band() {
        let mut c = Canvas::new(10, 7, BG);
        c.line(1, 3, 8, 3, INK, 3);
        let px = inked(&c);
        assert_eq!(px.len(), 10 * 3, "3-px pen on an 8-px horizontal line");
        assert!(px.iter().all(|&(_, y)| (2..=4).contains(&y)));
    }

    #[test]
    fn canvas_dashed_line_alternates() {
        let mut c = Canvas::new(12, 1, BG);
        c.dashed_line(0, 0, 11, 0, INK, 1, 3, 2);
        let xs: Vec<u32> = inked(&c).into_iter().map(|(x, _)| x).collect();
        assert_eq!(xs, vec![0, 1, 2, 5, 6, 7, 10, 11]);
        let mut d = Canvas::new(12, 1, BG);
        d.dashed_line(0, 0, 11, 0, INK, 1, 0, 2);
        assert!(inked(&d).is_empty());
    }

    #[test]
    fn canvas_far_away_line_is_clipped_quickly() {
        let mut c = Canvas::new(20, 20, BG);
        c.line(-2_000_000_000, 10, 2_000_000_000, 10, INK, 1);
        let px = inked(&c);
        assert_eq!(px.len(), 20);
        assert!(px.iter().all(|&(_, y)| y == 10));
        c.line(-2_000_000_000, -5, 2_000_000_000, -5, INK, 1);
        assert_eq!(inked(&c).len(), 20, "a line entirely outside draws nothing");
    }

    #[test]
    fn canvas_rect_outline_and_fill() {
        let mut c = Canvas::new(6, 6, BG);
        c.rect(1, 1, 4, 3, INK);
        // Two 4-pixel rows plus the one middle pixel of each side column.
        assert_eq!(inked(&c).len(), 4 + 4 + 2);
        let mut f = Canvas::new(6, 6, BG);
        f.fill_rect(-2, -2, 4, 4, INK);
        assert_eq!(inked(&f), vec![(0, 0), (1, 0), (0, 1), (1, 1)]);
        f.fill_rect(5, 5, 10, 10, INK);
        assert_eq!(f.pixel(5, 5), Some(INK));
    }

    #[test]
    fn canvas_circle_is_symmetric() {
        let mut c = Canvas::new(11, 11, BG);
        c.circle(5, 5, 4, INK);
        let px = inked(&c);
        assert!(px.contains(&(9, 5)) && px.contains(&(1, 5)) && px.contains(&(5, 1)));
        for &(x, y) in &px {
            assert!(px.contains(&(10 - x, y)) && px.contains(&(y, x)));
        }
        assert!(!px.contains(&(5, 5)));
        let mut f = Canvas::new(11, 11, BG);
        f.fill_circle(5, 5, 2, INK);
        assert_eq!(inked(&f).len(), 21, "radius-2 disc");
    }

    #[test]
    fn canvas_every_marker_draws_inside_its_box() {
        for m in Marker::ALL {
            let mut c = Canvas::new(21, 21, BG);
            c.marker(10, 10, m, 4, INK);
            let px = inked(&c);
            assert!(px.len() >= 9, "{m:?} draws {} pixels", px.len());
            assert!(
                px.iter()
                    .all(|&(x, y)| (5..=15).contains(&x) && (5..=15).contains(&y)),
                "{m:?} leaves its box"
            );
        }
    }

    #[test]
    fn canvas_text_draws_glyph_pixels_scaled() {
        let mut c = Canvas::new(20, 20, BG);
        c.text(1, 2, "L", INK, 2);
        let px = inked(&c);
        // 'L' has 7 + 4 = 11 inked font pixels, each a 2x2 block.
        assert_eq!(px.len(), 11 * 4);
        assert!(px.contains(&(1, 2)) && px.contains(&(2, 3)));
        assert!(
            px.contains(&(10, 15)),
            "bottom-right of the L bar at x=1+4*2+1, y=2+6*2+1"
        );
        assert_eq!(Canvas::text_width("L", 2), 10);
    }

    #[test]
    fn canvas_vertical_text_is_the_rotation_of_horizontal_text() {
        let text = "Ab1";
        let w = Canvas::text_width(text, 1);
        let h = font::text_height(1);
        let mut hz = Canvas::new(w, h, BG);
        hz.text(0, 0, text, INK, 1);
        let mut vt = Canvas::new(h, w, BG);
        vt.text_vertical(0, 0, text, INK, 1);
        for y in 0..h {
            for x in 0..w {
                // Counter-clockwise rotation: (x, y) -> (y, w - 1 - x).
                assert_eq!(hz.pixel(x, y), vt.pixel(y, w - 1 - x), "at ({x}, {y})");
            }
        }
    }

    #[test]
    fn canvas_clip_segment_cases() {
        let lo = (0.0, 0.0);
        let hi = (10.0, 10.0);
        assert_eq!(
            clip_segment((-5.0, 5.0), (15.0, 5.0), lo, hi),
            Some(((0.0, 5.0), (10.0, 5.0)))
        );
        assert_eq!(clip_segment((-5.0, -5.0), (-1.0, 20.0), lo, hi), None);
        assert_eq!(
            clip_segment((1.0, 1.0), (2.0, 2.0), lo, hi),
            Some(((1.0, 1.0), (2.0, 2.0)))
        );
        assert_eq!(
            clip_segment((-1.0, 11.0), (11.0, -1.0), lo, hi),
            Some(((0.0, 10.0), (10.0, 0.0)))
        );
    }

    #[test]
    fn canvas_png_round_trip() {
        let mut c = Canvas::new(7, 5, BG);
        c.set_pixel(3, 2, INK);
        let bytes = c.to_png_bytes().unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (7, 5));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(&buf[..info.buffer_size()], c.as_rgb_bytes());
    }

    #[test]
    fn draw_rgb_copies_and_clips() {
        let mut c = Canvas::new(4, 3, Color::WHITE);
        let img = [10, 20, 30, 40, 50, 60];
        c.draw_rgb(3, 1, 2, 1, &img);
        assert_eq!(c.pixel(3, 1), Some(Color::rgb(10, 20, 30)));
        assert_eq!(c.pixel(2, 1), Some(Color::WHITE));
        c.draw_rgb(-1, 0, 2, 1, &img);
        assert_eq!(c.pixel(0, 0), Some(Color::rgb(40, 50, 60)));
    }

    #[test]
    #[should_panic(expected = "needs 6 bytes")]
    fn draw_rgb_refuses_a_short_buffer() {
        Canvas::new(2, 2, Color::WHITE).draw_rgb(0, 0, 2, 1, &[0; 5]);
    }
}

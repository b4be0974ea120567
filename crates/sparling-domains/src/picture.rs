//! Pictures for reports: a sample as PNG, grids of samples, footprint boxes, and motif-map
//! overlays (one colour per channel) on the input.

use std::path::Path;

use ndarray::ArrayView3;

use crate::error::{Error, Result};
use crate::sample::{Footprint, Input, Motif, Sample};

/// An 8-bit RGB raster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    height: usize,
    width: usize,
    data: Vec<u8>,
}

/// White.
pub const WHITE: [u8; 3] = [255, 255, 255];
/// Black.
pub const BLACK: [u8; 3] = [0, 0, 0];

/// The colour of channel (or class) `c`: the ten "tab10" colours, then evenly spread hues.
pub fn channel_colour(c: usize) -> [u8; 3] {
    const TAB10: [[u8; 3]; 10] = [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ];
    if c < TAB10.len() {
        return TAB10[c];
    }
    // golden-ratio hue walk, full saturation, value 0.85
    let h = ((c as f64) * 0.618_033_988_75).fract() * 6.0;
    let x = 1.0 - ((h % 2.0) - 1.0).abs();
    let (r, g, b) = match h as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    [(r * 217.0) as u8, (g * 217.0) as u8, (b * 217.0) as u8]
}

impl RgbImage {
    /// A `height x width` image filled with `colour`.
    pub fn new(height: usize, width: usize, colour: [u8; 3]) -> Self {
        let mut data = Vec::with_capacity(height * width * 3);
        for _ in 0..height * width {
            data.extend_from_slice(&colour);
        }
        Self {
            height,
            width,
            data,
        }
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The raw row-major RGB bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The colour at (row, col); panics when outside.
    pub fn get(&self, row: usize, col: usize) -> [u8; 3] {
        assert!(
            row < self.height && col < self.width,
            "pixel ({row}, {col}) outside"
        );
        let i = (row * self.width + col) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Sets (row, col); positions outside are ignored (drawing clips).
    pub fn set(&mut self, row: usize, col: usize, colour: [u8; 3]) {
        if row < self.height && col < self.width {
            let i = (row * self.width + col) * 3;
            self.data[i..i + 3].copy_from_slice(&colour);
        }
    }

    /// Blends `colour` over (row, col) with opacity `alpha` in [0, 1]; clips.
    pub fn blend(&mut self, row: usize, col: usize, colour: [u8; 3], alpha: f32) {
        if row < self.height && col < self.width {
            let a = alpha.clamp(0.0, 1.0);
            let old = self.get(row, col);
            let mix = |o: u8, n: u8| (o as f32 * (1.0 - a) + n as f32 * a).round() as u8;
            self.set(
                row,
                col,
                [
                    mix(old[0], colour[0]),
                    mix(old[1], colour[1]),
                    mix(old[2], colour[2]),
                ],
            );
        }
    }

    /// Fills rows `[r0, r1)` x cols `[c0, c1)` (clipped).
    pub fn fill_rect(&mut self, rows: [usize; 2], cols: [usize; 2], colour: [u8; 3]) {
        for r in rows[0]..rows[1].min(self.height) {
            for c in cols[0]..cols[1].min(self.width) {
                self.set(r, c, colour);
            }
        }
    }

    /// Draws the 1-pixel outline of rows `[r0, r1)` x cols `[c0, c1)` (clipped).
    pub fn outline_rect(&mut self, rows: [usize; 2], cols: [usize; 2], colour: [u8; 3]) {
        if rows[0] >= rows[1] || cols[0] >= cols[1] {
            return;
        }
        for c in cols[0]..cols[1] {
            self.set(rows[0], c, colour);
            self.set(rows[1] - 1, c, colour);
        }
        for r in rows[0]..rows[1] {
            self.set(r, cols[0], colour);
            self.set(r, cols[1] - 1, colour);
        }
    }

    /// Nearest-neighbour upscaling by an integer factor (>= 1).
    pub fn scaled(&self, factor: usize) -> RgbImage {
        assert!(factor >= 1, "scale factor must be at least 1");
        let mut out = RgbImage::new(self.height * factor, self.width * factor, WHITE);
        for r in 0..out.height {
            for c in 0..out.width {
                out.set(r, c, self.get(r / factor, c / factor));
            }
        }
        out
    }

    /// Copies `other` with its top-left at (row, col) (clipped).
    pub fn paste(&mut self, other: &RgbImage, row: usize, col: usize) {
        for r in 0..other.height {
            for c in 0..other.width {
                self.set(row + r, col + c, other.get(r, c));
            }
        }
    }

    /// Encodes as an 8-bit RGB PNG.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        if self.height == 0 || self.width == 0 {
            return Err(Error::Picture("cannot encode an empty image".into()));
        }
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header()?;
            writer.write_image_data(&self.data)?;
            writer.finish()?;
        }
        Ok(out)
    }

    /// Writes the PNG to `path`.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.to_png()?;
        std::fs::write(path, bytes).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Renders an input at 1 pixel per position: an image maps 0 to white and 1 to black (values
/// clamped to [0, 1]); a signal (C, L) is shown as C rows, min-max normalised, dark = high.
pub fn render_input(input: &Input) -> RgbImage {
    let a = input.array();
    let (lo, hi) = match input {
        Input::Image(_) => (0.0f32, 1.0f32),
        Input::Signal(_) => {
            let lo = a.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = a.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            if hi > lo { (lo, hi) } else { (lo, lo + 1.0) }
        }
    };
    let mut img = RgbImage::new(a.nrows(), a.ncols(), WHITE);
    for ((r, c), &v) in a.indexed_iter() {
        let t = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
        let g = (255.0 * (1.0 - t)).round() as u8;
        img.set(r, c, [g, g, g]);
    }
    img
}

/// Outlines each motif's footprint (colour of its class) on a picture drawn at `scale` pixels
/// per position. An interval footprint is drawn as a band over the full height.
pub fn draw_footprints(img: &mut RgbImage, motifs: &[Motif], scale: usize) {
    for m in motifs {
        let colour = channel_colour(m.class);
        let (rows, cols) = match m.footprint {
            Footprint::Rect { rows, cols } => (rows, cols),
            Footprint::Interval { span } => ([0, img.height() / scale.max(1)], span),
        };
        img.outline_rect(
            [rows[0] * scale, rows[1] * scale],
            [cols[0] * scale, cols[1] * scale],
            colour,
        );
    }
}

/// A sample as a picture: its input at `scale` pixels per position, optionally with its
/// footprint boxes.
pub fn render_sample(sample: &Sample, scale: usize, boxes: bool) -> RgbImage {
    let mut img = render_input(&sample.input).scaled(scale);
    if boxes {
        draw_footprints(&mut img, &sample.motifs, scale);
    }
    img
}

/// Writes a sample's picture as PNG (see [`render_sample`]).
pub fn save_sample_png(
    sample: &Sample,
    path: impl AsRef<Path>,
    scale: usize,
    boxes: bool,
) -> Result<()> {
    render_sample(sample, scale, boxes).save_png(path)
}

/// Tiles pictures row by row, `cols` per row, separated by `gap` pixels of light grey; cells
/// are as large as the largest picture.
pub fn grid(images: &[RgbImage], cols: usize, gap: usize) -> Result<RgbImage> {
    if images.is_empty() || cols == 0 {
        return Err(Error::Picture(
            "a grid needs at least one picture and one column".into(),
        ));
    }
    let cell_h = images.iter().map(RgbImage::height).max().unwrap_or(0);
    let cell_w = images.iter().map(RgbImage::width).max().unwrap_or(0);
    let ncols = cols.min(images.len());
    let nrows = images.len().div_ceil(ncols);
    let mut out = RgbImage::new(
        nrows * cell_h + (nrows + 1) * gap,
        ncols * cell_w + (ncols + 1) * gap,
        [200, 200, 200],
    );
    for (i, im) in images.iter().enumerate() {
        let (r, c) = (i / ncols, i % ncols);
        out.paste(im, gap + r * (cell_h + gap), gap + c * (cell_w + gap));
    }
    Ok(out)
}

/// A grid of samples (see [`render_sample`] and [`grid`]).
pub fn sample_grid(samples: &[Sample], cols: usize, scale: usize, boxes: bool) -> Result<RgbImage> {
    let pics: Vec<RgbImage> = samples
        .iter()
        .map(|s| render_sample(s, scale, boxes))
        .collect();
    grid(&pics, cols, scale.max(2))
}

/// One nonzero entry of a motif map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activation {
    /// The channel.
    pub channel: usize,
    /// The row (0 for a 1-D signal).
    pub row: usize,
    /// The column (the position for a 1-D signal).
    pub col: usize,
    /// The activation value (> 0).
    pub value: f32,
}

/// A motif map to overlay: a list of activations, or a dense (C, H, W) array ((C, 1, L) for a
/// 1-D signal) whose nonzero entries are the activations.
#[derive(Debug, Clone, Copy)]
pub enum MotifMap<'a> {
    /// Explicit activations.
    Sparse(&'a [Activation]),
    /// A dense map, (C, H, W).
    Dense(ArrayView3<'a, f32>),
}

impl MotifMap<'_> {
    /// The nonzero activations (dense maps are scanned channel by channel, row-major).
    pub fn activations(&self) -> Vec<Activation> {
        match self {
            MotifMap::Sparse(a) => a.iter().copied().filter(|a| a.value != 0.0).collect(),
            MotifMap::Dense(m) => m
                .indexed_iter()
                .filter(|&(_, &v)| v != 0.0)
                .map(|((channel, row, col), &value)| Activation {
                    channel,
                    row,
                    col,
                    value,
                })
                .collect(),
        }
    }
}

/// Options of [`overlay_motifs`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverlayStyle {
    /// Pixels per input position.
    pub scale: usize,
    /// Half-size of the square marker drawn at each activation, in output pixels (0 = one
    /// scaled position).
    pub marker: usize,
    /// Whether to outline the ground-truth footprints as well.
    pub boxes: bool,
}

impl Default for OverlayStyle {
    fn default() -> Self {
        Self {
            scale: 4,
            marker: 4,
            boxes: false,
        }
    }
}

/// Draws a motif map over a sample's input: the input faded to light grey, then each activation
/// as a square marker in its channel's colour ([`channel_colour`]), more opaque for larger
/// values (weakest drawn first). With `style.boxes`, the ground-truth footprints are outlined
/// in their class colour. Errors when an activation lies outside the input.
pub fn overlay_motifs(sample: &Sample, map: MotifMap<'_>, style: OverlayStyle) -> Result<RgbImage> {
    overlay_with(sample, map, style, channel_colour)
}

/// [`overlay_motifs`] with each activation coloured by the class its channel is assigned to
/// (`classes[channel]`, e.g. a confusion matrix's optimal assignment), in the same colours as
/// the footprints of that class, so a correctly identified motif shows a marker of its box's
/// colour. Activations of unassigned channels (or channels beyond `classes`) are black.
pub fn overlay_motifs_by_class(
    sample: &Sample,
    map: MotifMap<'_>,
    style: OverlayStyle,
    classes: &[Option<usize>],
) -> Result<RgbImage> {
    overlay_with(sample, map, style, |c| {
        classes
            .get(c)
            .copied()
            .flatten()
            .map_or(BLACK, channel_colour)
    })
}

fn overlay_with(
    sample: &Sample,
    map: MotifMap<'_>,
    style: OverlayStyle,
    colour_of: impl Fn(usize) -> [u8; 3],
) -> Result<RgbImage> {
    let scale = style.scale.max(1);
    let a = sample.input.array();
    let (h, w) = match sample.input {
        Input::Image(_) => (a.nrows(), a.ncols()),
        Input::Signal(_) => (1, a.ncols()),
    };
    let mut base = render_input(&sample.input);
    // fade: ink becomes light grey so the colours stand out
    for v in base.data.iter_mut() {
        *v = 255 - (255 - *v) / 4;
    }
    let mut img = base.scaled(scale);
    if style.boxes {
        draw_footprints(&mut img, &sample.motifs, scale);
    }
    let mut acts = map.activations();
    if let Some(bad) = acts.iter().find(|x| x.row >= h || x.col >= w) {
        return Err(Error::Picture(format!(
            "activation at ({}, {}) of channel {} lies outside the {h}x{w} input",
            bad.row, bad.col, bad.channel
        )));
    }
    let vmax = acts.iter().map(|x| x.value.abs()).fold(0.0f32, f32::max);
    acts.sort_by(|x, y| x.value.abs().total_cmp(&y.value.abs()));
    let img_rows = img.height();
    for act in acts {
        let alpha = if vmax > 0.0 {
            0.45 + 0.55 * act.value.abs() / vmax
        } else {
            1.0
        };
        let colour = colour_of(act.channel);
        let cr = act.row * scale + scale / 2;
        let cc = act.col * scale + scale / 2;
        let (r0, r1) = match sample.input {
            Input::Image(_) => (cr.saturating_sub(style.marker), cr + style.marker + 1),
            Input::Signal(_) => (0, img_rows),
        };
        let (c0, c1) = (cc.saturating_sub(style.marker), cc + style.marker + 1);
        for r in r0..r1 {
            for c in c0..c1 {
                img.blend(r, c, colour, alpha);
            }
        }
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    fn tiny_sample() -> Sample {
        let mut a = Array2::zeros((4, 5));
        a[[1, 2]] = 1.0;
        Sample {
            input: Input::Image(a),
            tokens: vec![3],
            motifs: vec![Motif {
                class: 3,
                footprint: Footprint::Rect {
                    rows: [0, 3],
                    cols: [1, 4],
                },
                anchor: vec![1, 2],
            }],
        }
    }

    fn decode(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let dec = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    #[test]
    fn picture_sample_png_roundtrips() {
        let s = tiny_sample();
        let img = render_sample(&s, 3, false);
        assert_eq!((img.height(), img.width()), (12, 15));
        assert_eq!(img.get(4, 7), BLACK);
        assert_eq!(img.get(0, 0), WHITE);
        let bytes = img.to_png().unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let (info, buf) = decode(&bytes);
        assert_eq!((info.width, info.height), (15, 12));
        assert_eq!(buf, img.as_bytes());
    }

    #[test]
    fn picture_footprint_boxes_are_outlined_in_class_colour() {
        let s = tiny_sample();
        let img = render_sample(&s, 2, true);
        let col = channel_colour(3);
        // rows [0,3) cols [1,4) at scale 2: outline rows 0 and 5, cols 2 and 7
        assert_eq!(img.get(0, 2), col);
        assert_eq!(img.get(5, 7), col);
        assert_eq!(img.get(3, 2), col);
        assert_eq!(img.get(3, 4), BLACK); // interior untouched: the ink pixel (1, 2)
        assert_eq!(img.get(2, 6), WHITE); // and a blank one
        assert_eq!(img.get(6, 2), WHITE);
    }

    #[test]
    fn picture_grid_layout() {
        let a = RgbImage::new(2, 3, BLACK);
        let g = grid(&[a.clone(), a.clone(), a], 2, 1).unwrap();
        assert_eq!((g.height(), g.width()), (2 * 2 + 3, 2 * 3 + 3));
        assert_eq!(g.get(1, 1), BLACK);
        assert_eq!(g.get(0, 0), [200, 200, 200]);
        assert_eq!(g.get(4, 5), [200, 200, 200]); // empty fourth cell
        assert_eq!(g.get(4, 1), BLACK); // third picture, second row
        assert!(grid(&[], 2, 1).is_err());
    }

    #[test]
    fn picture_overlay_dense_and_sparse_agree() {
        let s = tiny_sample();
        let mut dense = Array3::zeros((4, 4, 5));
        dense[[2, 1, 2]] = 0.5;
        dense[[0, 3, 4]] = 1.0;
        let sparse = [
            Activation {
                channel: 2,
                row: 1,
                col: 2,
                value: 0.5,
            },
            Activation {
                channel: 0,
                row: 3,
                col: 4,
                value: 1.0,
            },
        ];
        let style = OverlayStyle {
            scale: 4,
            marker: 1,
            boxes: false,
        };
        let a = overlay_motifs(&s, MotifMap::Dense(dense.view()), style).unwrap();
        let b = overlay_motifs(&s, MotifMap::Sparse(&sparse), style).unwrap();
        assert_eq!(a, b);
        // the strongest activation is drawn fully opaque in channel 0's colour
        assert_eq!(a.get(3 * 4 + 2, 4 * 4 + 2), channel_colour(0));
        // the weaker one is a blend, tinted toward channel 2's colour
        let p = a.get(4 + 2, 2 * 4 + 2);
        assert_ne!(p, channel_colour(2));
        assert!(p[1] > p[0] && p[1] > p[2], "{p:?} should lean green");
        // far from both: faded background
        assert_eq!(a.get(0, 0), WHITE);
        let bad = [Activation {
            channel: 0,
            row: 4,
            col: 0,
            value: 1.0,
        }];
        assert!(overlay_motifs(&s, MotifMap::Sparse(&bad), style).is_err());
    }

    #[test]
    fn picture_overlay_by_class_uses_the_class_colours() {
        let s = tiny_sample();
        let mut dense = Array3::zeros((4, 4, 5));
        dense[[2, 1, 2]] = 1.0; // channel 2, assigned to class 3 (the footprint's class)
        dense[[0, 3, 4]] = 1.0; // channel 0, unassigned
        let style = OverlayStyle {
            scale: 4,
            marker: 1,
            boxes: true,
        };
        let classes = [None, None, Some(3), Some(1)];
        let a =
            overlay_motifs_by_class(&s, MotifMap::Dense(dense.view()), style, &classes).unwrap();
        // The marker has the colour of its box (class 3), not of its channel (2).
        assert_eq!(a.get(4 + 2, 2 * 4 + 2), channel_colour(3));
        assert_eq!(a.get(0, 4), channel_colour(3), "the footprint outline");
        assert_eq!(a.get(3 * 4 + 2, 4 * 4 + 2), BLACK);
        // With no assignment every marker is black.
        let b = overlay_motifs_by_class(&s, MotifMap::Dense(dense.view()), style, &[]).unwrap();
        assert_eq!(b.get(4 + 2, 2 * 4 + 2), BLACK);
    }

    #[test]
    fn picture_channel_colours_are_distinct() {
        let cols: Vec<[u8; 3]> = (0..32).map(channel_colour).collect();
        for i in 0..cols.len() {
            for j in 0..i {
                assert_ne!(cols[i], cols[j], "channels {i} and {j}");
            }
        }
    }
}

//! A PNG heatmap of a [`Confusion`] with the optimal permutation applied.
//!
//! Layout: one square cell per (row, column) of the table, rows in
//! [`crate::aligned_row_order`] (the channel assigned to class 0, to class 1, ..., then the
//! unassigned channels, then "pred = none" last), columns the classes in order then
//! "true = none" last, so a good model shows a dark diagonal. A cell's colour is its count as
//! a fraction of its row's total, from white (0) to dark blue (1). Cells are separated by
//! 1-pixel grey lines; the lines that set off the "none" row and column are red. The image has
//! no text: read the labels from [`crate::MotifReport::to_markdown`].

use std::io::Write;

use crate::confusion::Confusion;
use crate::error::{Error, Result};
use crate::report::aligned_row_order;

/// Colour of a cell with fraction 0.
const LOW: [u8; 3] = [255, 255, 255];
/// Colour of a cell with fraction 1.
const HIGH: [u8; 3] = [8, 48, 107];
/// Grid lines.
const GRID: [u8; 3] = [170, 170, 170];
/// The lines that set off the "none" row and column.
const NONE_LINE: [u8; 3] = [200, 30, 30];

/// Options of the heatmap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeatmapOptions {
    /// Side of one cell in pixels (default 24).
    pub cell_px: u32,
}

impl Default for HeatmapOptions {
    fn default() -> Self {
        HeatmapOptions { cell_px: 24 }
    }
}

/// The colour of a fraction in `[0, 1]`: linear from white to dark blue.
pub fn heat_colour(fraction: f64) -> [u8; 3] {
    let t = fraction.clamp(0.0, 1.0);
    let mut out = [0u8; 3];
    for i in 0..3 {
        out[i] = (LOW[i] as f64 + (HIGH[i] as f64 - LOW[i] as f64) * t).round() as u8;
    }
    out
}

/// Renders the heatmap as an RGB image: `(width, height, row-major RGB bytes)`.
pub fn render_heatmap(
    confusion: &Confusion,
    options: &HeatmapOptions,
) -> Result<(u32, u32, Vec<u8>)> {
    if options.cell_px == 0 {
        return Err(Error::InvalidParameter {
            name: "cell_px",
            msg: "must be at least 1".into(),
        });
    }
    let rows = aligned_row_order(confusion);
    let cols: Vec<Option<usize>> = (0..confusion.classes()).map(Some).chain([None]).collect();
    let cell = options.cell_px as usize;
    let width = cols.len() * (cell + 1) + 1;
    let height = rows.len() * (cell + 1) + 1;
    let too_big = || Error::InvalidParameter {
        name: "cell_px",
        msg: format!("a {width} x {height} image is too large"),
    };
    let (w32, h32) = (
        u32::try_from(width).map_err(|_| too_big())?,
        u32::try_from(height).map_err(|_| too_big())?,
    );
    if width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(3))
        .is_none_or(|n| n > 1 << 30)
    {
        return Err(too_big());
    }
    let mut img = vec![0u8; width * height * 3];
    let mut put = |x: usize, y: usize, c: [u8; 3]| {
        let i = (y * width + x) * 3;
        img[i..i + 3].copy_from_slice(&c);
    };
    // Grid: line i sits before cell i (and line len after the last cell).
    let none_col_line = cols.len() - 1;
    let none_row_line = rows.len() - 1;
    for y in 0..height {
        for i in 0..=cols.len() {
            let c = if i == none_col_line { NONE_LINE } else { GRID };
            put(i * (cell + 1), y, c);
        }
    }
    for x in 0..width {
        for i in 0..=rows.len() {
            let c = if i == none_row_line { NONE_LINE } else { GRID };
            put(x, i * (cell + 1), c);
        }
    }
    for (ri, &row) in rows.iter().enumerate() {
        let total: u64 = cols
            .iter()
            .map(|&k| {
                if row.is_none() && k.is_none() {
                    0
                } else {
                    confusion.count(row, k)
                }
            })
            .sum();
        for (ci, &k) in cols.iter().enumerate() {
            let n = if row.is_none() && k.is_none() {
                0
            } else {
                confusion.count(row, k)
            };
            let frac = if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            };
            let colour = heat_colour(frac);
            let (x0, y0) = (ci * (cell + 1) + 1, ri * (cell + 1) + 1);
            for y in y0..y0 + cell {
                for x in x0..x0 + cell {
                    put(x, y, colour);
                }
            }
        }
    }
    Ok((w32, h32, img))
}

/// Writes the heatmap as a PNG to `writer`.
pub fn write_heatmap_png<W: Write>(
    confusion: &Confusion,
    writer: W,
    options: &HeatmapOptions,
) -> Result<()> {
    let (width, height, img) = render_heatmap(confusion, options)?;
    let mut encoder = png::Encoder::new(writer, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut w = encoder.write_header()?;
    w.write_image_data(&img)?;
    w.finish()?;
    Ok(())
}

/// The heatmap as PNG bytes.
pub fn heatmap_png(confusion: &Confusion, options: &HeatmapOptions) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_heatmap_png(confusion, &mut out, options)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let dec = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn heatmap_png_has_the_permuted_diagonal() {
        // Channel 1 detects class 0 only, channel 0 detects class 1 only: after the
        // permutation both sit on the diagonal.
        let mut c = Confusion::new(2, 2);
        c.record(Some(1), Some(0), 5).unwrap();
        c.record(Some(0), Some(1), 2).unwrap();
        c.record(Some(0), None, 2).unwrap();
        c.record(None, Some(0), 1).unwrap();
        let opts = HeatmapOptions { cell_px: 4 };
        let (w, h, img) = decode(&heatmap_png(&c, &opts).unwrap());
        // 3 columns (a, b, none) and 3 rows (ch1, ch0, none) of 4 px plus 4 lines each.
        assert_eq!((w, h), (16, 16));
        let px = |row: usize, col: usize| {
            let (x, y) = (col * 5 + 2, row * 5 + 2);
            let i = (y * 16 + x) * 3;
            [img[i], img[i + 1], img[i + 2]]
        };
        assert_eq!(px(0, 0), HIGH, "channel 1 -> class 0: its whole row");
        assert_eq!(px(0, 1), LOW);
        assert_eq!(
            px(1, 1),
            heat_colour(0.5),
            "channel 0 -> class 1: half of its row"
        );
        assert_eq!(px(1, 2), heat_colour(0.5), "channel 0's false positives");
        assert_eq!(px(1, 0), LOW);
        assert_eq!(px(2, 0), HIGH, "the missed motif");
        assert_eq!(px(2, 2), LOW);
        // Grid lines: red before the none column and row, grey elsewhere.
        let at = |x: usize, y: usize| {
            let i = (y * 16 + x) * 3;
            [img[i], img[i + 1], img[i + 2]]
        };
        assert_eq!(at(10, 2), NONE_LINE);
        assert_eq!(at(2, 10), NONE_LINE);
        assert_eq!(at(5, 2), GRID);
        assert_eq!(at(0, 0), GRID);
    }

    #[test]
    fn heatmap_empty_table_and_bad_options() {
        let c = Confusion::new(0, 0);
        let (w, h, img) = decode(&heatmap_png(&c, &HeatmapOptions::default()).unwrap());
        assert_eq!((w, h), (26, 26));
        assert_eq!(&img[(13 * 26 + 13) * 3..(13 * 26 + 13) * 3 + 3], &LOW);
        assert!(heatmap_png(&c, &HeatmapOptions { cell_px: 0 }).is_err());
        assert_eq!(heat_colour(0.0), LOW);
        assert_eq!(heat_colour(1.0), HIGH);
        assert_eq!(heat_colour(2.0), HIGH);
    }
}

//! [`Heatmap`]: a matrix of values (typically counts) drawn as coloured cells.

use crate::canvas::{Canvas, Rect};
use crate::color::{Color, blue_ramp};
use crate::error::{Error, Result};
use crate::font;

/// A heatmap: one square cell per matrix entry, coloured on a white-to-dark-blue ramp from
/// `min(0, smallest value)` to the largest value, with the value printed in the cell when it
/// fits, row labels on the left, column labels underneath, axis labels, a title and a colour
/// bar. Non-finite entries are drawn light grey without a value.
///
/// ```
/// use sparling_plot::Heatmap;
/// let map = Heatmap::from_counts("motif vs digit", &[vec![40, 2], vec![3, 55]])?
///     .row_labels(["motif 0", "motif 1"])?
///     .col_labels(["0", "1"])?
///     .x_label("digit")
///     .y_label("motif");
/// let canvas = map.render();
/// assert!(canvas.width() > 0 && canvas.height() > 0);
/// # Ok::<(), sparling_plot::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    title: String,
    values: Vec<Vec<f64>>,
    cols: usize,
    row_labels: Vec<String>,
    col_labels: Vec<String>,
    x_label: String,
    y_label: String,
    cell_size: Option<u32>,
    font_scale: u32,
    show_values: bool,
    highlighted: Vec<(usize, usize)>,
}

/// Colour of non-finite cells.
const MISSING: Color = Color::rgb(200, 200, 200);
/// Colour of the frames of highlighted cells.
const HIGHLIGHT: Color = Color::rgb(255, 127, 14);

impl Heatmap {
    /// A heatmap of `values` (row-major; every row must have the same length) titled `title`.
    /// Rows and columns are labelled by their index until labels are set.
    ///
    /// # Errors
    /// [`Error::RaggedMatrix`] if the rows differ in length.
    pub fn new(title: impl Into<String>, values: Vec<Vec<f64>>) -> Result<Heatmap> {
        let cols = values.first().map_or(0, Vec::len);
        if let Some((row, r)) = values.iter().enumerate().find(|(_, r)| r.len() != cols) {
            return Err(Error::RaggedMatrix {
                row,
                expected: cols,
                found: r.len(),
            });
        }
        Ok(Heatmap {
            title: title.into(),
            row_labels: (0..values.len()).map(|i| i.to_string()).collect(),
            col_labels: (0..cols).map(|j| j.to_string()).collect(),
            values,
            cols,
            x_label: String::new(),
            y_label: String::new(),
            cell_size: None,
            font_scale: 2,
            highlighted: Vec::new(),
            show_values: true,
        })
    }

    /// A heatmap of integer counts (see [`Heatmap::new`]).
    ///
    /// # Errors
    /// [`Error::RaggedMatrix`] if the rows differ in length.
    pub fn from_counts(title: impl Into<String>, counts: &[Vec<u64>]) -> Result<Heatmap> {
        Heatmap::new(
            title,
            counts
                .iter()
                .map(|r| r.iter().map(|&c| c as f64).collect())
                .collect(),
        )
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.values.len()
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Sets the row labels (drawn right-aligned left of each row).
    ///
    /// # Errors
    /// [`Error::LabelCount`] unless there is exactly one label per row.
    pub fn row_labels<S: Into<String>>(
        mut self,
        labels: impl IntoIterator<Item = S>,
    ) -> Result<Heatmap> {
        let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        if labels.len() != self.rows() {
            return Err(Error::LabelCount {
                axis: "row",
                expected: self.rows(),
                found: labels.len(),
            });
        }
        self.row_labels = labels;
        Ok(self)
    }

    /// Sets the column labels (drawn under each column; rotated to read upwards when wider than
    /// a cell).
    ///
    /// # Errors
    /// [`Error::LabelCount`] unless there is exactly one label per column.
    pub fn col_labels<S: Into<String>>(
        mut self,
        labels: impl IntoIterator<Item = S>,
    ) -> Result<Heatmap> {
        let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        if labels.len() != self.cols {
            return Err(Error::LabelCount {
                axis: "column",
                expected: self.cols,
                found: labels.len(),
            });
        }
        self.col_labels = labels;
        Ok(self)
    }

    /// Sets the label drawn under the column labels.
    pub fn x_label(mut self, label: impl Into<String>) -> Heatmap {
        self.x_label = label.into();
        self
    }

    /// Sets the label drawn rotated left of the row labels.
    pub fn y_label(mut self, label: impl Into<String>) -> Heatmap {
        self.y_label = label.into();
        self
    }

    /// Fixes the cell side in pixels (at least 2). Default: just large enough to print the
    /// widest value.
    pub fn cell_size(mut self, px: u32) -> Heatmap {
        self.cell_size = Some(px.max(2));
        self
    }

    /// Sets the integer text scale (default 2; see [`crate::LineChart::font_scale`]).
    pub fn font_scale(mut self, scale: u32) -> Heatmap {
        self.font_scale = scale.max(1);
        self
    }

    /// Prints (default) or hides the values inside the cells. Values are printed only in cells
    /// large enough to hold them.
    pub fn show_values(mut self, show: bool) -> Heatmap {
        self.show_values = show;
        self
    }

    /// Frames the cells `(row, col)` in orange (for example a confusion matrix's assignment);
    /// cells outside the matrix are ignored.
    pub fn highlight(mut self, cells: impl IntoIterator<Item = (usize, usize)>) -> Heatmap {
        self.highlighted = cells.into_iter().collect();
        self
    }

    /// The colour ramp's range: `(min(0, smallest finite value), largest finite value)`, or
    /// `None` when no entry is finite.
    fn value_range(&self) -> Option<(f64, f64)> {
        let mut it = self
            .values
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite());
        let first = it.next()?;
        let (lo, hi) = it.fold((first, first), |(a, b), v| (a.min(v), b.max(v)));
        Some((lo.min(0.0), hi))
    }

    /// Draws the heatmap on a new white canvas sized to fit it.
    pub fn render(&self) -> Canvas {
        let s = self.font_scale;
        let si = s as i32;
        let th = font::text_height(s) as i32;
        let pad = 5 * si;
        let decimals = value_decimals(&self.values);
        let fmt = |v: f64| format!("{v:.decimals$}");
        let title_w = Canvas::text_width(&self.title, s) as i32;
        let title_h = if self.title.is_empty() {
            0
        } else {
            th + 2 * pad
        };
        let range = self.value_range();

        if self.rows() == 0 || self.cols == 0 {
            let msg = "no data";
            let w = (title_w.max(Canvas::text_width(msg, s) as i32) + 2 * pad).max(20 * si);
            let h = pad + title_h + th + pad;
            let mut c = Canvas::new(w as u32, h as u32, Color::WHITE);
            c.text((w - title_w) / 2, pad, &self.title, Color::BLACK, s);
            let mw = Canvas::text_width(msg, s) as i32;
            c.text((w - mw) / 2, pad + title_h, msg, Color::GRAY, s);
            return c;
        }

        let labels: Vec<Vec<String>> = self
            .values
            .iter()
            .map(|r| {
                r.iter()
                    .map(|&v| if v.is_finite() { fmt(v) } else { String::new() })
                    .collect()
            })
            .collect();
        let value_w = labels
            .iter()
            .flatten()
            .map(|l| Canvas::text_width(l, s) as i32)
            .max()
            .unwrap_or(0);
        let cell = self
            .cell_size
            .map_or((value_w + 8 * si).max(th + 8 * si), |c| c as i32);
        let values_fit = self.show_values && value_w + 2 * si <= cell && th + 2 * si <= cell;

        let row_w = self
            .row_labels
            .iter()
            .map(|l| Canvas::text_width(l, s) as i32)
            .max()
            .unwrap_or(0);
        // A column label that does not fit its cell is written vertically (the others stay
        // horizontal).
        let fits = |l: &str| Canvas::text_width(l, s) as i32 <= cell - 2 * si;
        let col_h = self
            .col_labels
            .iter()
            .map(|l| {
                if fits(l) {
                    th
                } else {
                    Canvas::text_width(l, s) as i32
                }
            })
            .max()
            .unwrap_or(th);
        let ylabel_w = if self.y_label.is_empty() { 0 } else { th + pad };
        let xlabel_h = if self.x_label.is_empty() { 0 } else { th + pad };

        let grid_left = pad + ylabel_w + row_w + pad;
        let grid_top = pad + title_h;
        let grid_w = self.cols as i32 * cell;
        let grid_h = self.rows() as i32 * cell;
        let bar_left = grid_left + grid_w + 3 * pad;
        let bar_w = 2 * th;
        let bar_labels: Vec<String> = match range {
            Some((lo, hi)) => vec![fmt(hi), fmt(lo)],
            None => Vec::new(),
        };
        let bar_label_w = bar_labels
            .iter()
            .map(|l| Canvas::text_width(l, s) as i32)
            .max()
            .unwrap_or(0);
        let content_right = if range.is_some() {
            bar_left + bar_w + pad + bar_label_w
        } else {
            grid_left + grid_w
        };
        // Axis labels longer than the grid are centred on the canvas and make it larger.
        let xlabel_w = Canvas::text_width(&self.x_label, s) as i32;
        let ylabel_len = Canvas::text_width(&self.y_label, s) as i32;
        let width = (content_right + pad)
            .max(title_w + 2 * pad)
            .max(grid_left + xlabel_w + pad);
        let height =
            (grid_top + grid_h + pad + col_h + xlabel_h + pad).max(grid_top + ylabel_len + pad);
        let xlabel_x = (grid_left + (grid_w - xlabel_w) / 2)
            .min(width - pad - xlabel_w)
            .max(grid_left);
        let ylabel_y = (grid_top + (grid_h - ylabel_len) / 2).max(grid_top);
        let mut c = Canvas::new(width as u32, height as u32, Color::WHITE);

        // Cells with their values.
        for (i, row) in self.values.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let (x, y) = (grid_left + j as i32 * cell, grid_top + i as i32 * cell);
                let bg = match range {
                    Some((lo, hi)) if v.is_finite() => {
                        blue_ramp(if hi > lo { (v - lo) / (hi - lo) } else { 0.0 })
                    }
                    _ => MISSING,
                };
                c.fill_rect(x, y, cell as u32, cell as u32, bg);
                if values_fit && v.is_finite() {
                    let text = &labels[i][j];
                    let tw = Canvas::text_width(text, s) as i32;
                    let ink = if bg.luminance() < 0.5 {
                        Color::WHITE
                    } else {
                        Color::BLACK
                    };
                    c.text(x + (cell - tw) / 2, y + (cell - 7 * si) / 2, text, ink, s);
                }
            }
        }
        // Thin separators between cells, then the outer border.
        if cell >= 8 {
            for j in 1..self.cols as i32 {
                let x = grid_left + j * cell;
                c.line(x, grid_top, x, grid_top + grid_h - 1, Color::WHITE, 1);
            }
            for i in 1..self.rows() as i32 {
                let y = grid_top + i * cell;
                c.line(grid_left, y, grid_left + grid_w - 1, y, Color::WHITE, 1);
            }
        }
        c.rect(
            grid_left,
            grid_top,
            grid_w as u32,
            grid_h as u32,
            Color::GRAY,
        );

        for &(i, j) in &self.highlighted {
            if i < self.rows() && j < self.cols {
                let (x, y) = (grid_left + j as i32 * cell, grid_top + i as i32 * cell);
                for k in 0..(2 * si).min(cell / 4).max(1) {
                    c.rect(
                        x + k,
                        y + k,
                        (cell - 2 * k) as u32,
                        (cell - 2 * k) as u32,
                        HIGHLIGHT,
                    );
                }
            }
        }

        // Row labels, column labels, axis labels, title.
        for (i, l) in self.row_labels.iter().enumerate() {
            let w = Canvas::text_width(l, s) as i32;
            let y = grid_top + i as i32 * cell + (cell - 7 * si) / 2;
            c.text(grid_left - pad - w, y, l, Color::BLACK, s);
        }
        for (j, l) in self.col_labels.iter().enumerate() {
            let cx = grid_left + j as i32 * cell + cell / 2;
            if !fits(l) {
                c.text_vertical(cx - 7 * si / 2, grid_top + grid_h + pad, l, Color::BLACK, s);
            } else {
                let w = Canvas::text_width(l, s) as i32;
                c.text(cx - w / 2, grid_top + grid_h + pad, l, Color::BLACK, s);
            }
        }
        if !self.x_label.is_empty() {
            c.text(
                xlabel_x,
                grid_top + grid_h + pad + col_h + pad,
                &self.x_label,
                Color::BLACK,
                s,
            );
        }
        if !self.y_label.is_empty() {
            c.text_vertical(pad, ylabel_y, &self.y_label, Color::BLACK, s);
        }
        if !self.title.is_empty() {
            c.text((width - title_w) / 2, pad, &self.title, Color::BLACK, s);
        }

        // Colour bar: the ramp from the maximum (top) to the minimum (bottom).
        if range.is_some() {
            let bar = Rect::new(bar_left, grid_top, bar_w as u32, grid_h as u32);
            for k in 0..grid_h {
                let t = if grid_h > 1 {
                    1.0 - k as f64 / (grid_h - 1) as f64
                } else {
                    1.0
                };
                c.line(
                    bar.x,
                    bar.y + k,
                    bar.x + bar_w - 1,
                    bar.y + k,
                    blue_ramp(t),
                    1,
                );
            }
            c.rect(bar.x, bar.y, bar.w, bar.h, Color::GRAY);
            let lx = bar_left + bar_w + pad;
            c.text(lx, grid_top, &bar_labels[0], Color::BLACK, s);
            c.text(
                lx,
                grid_top + grid_h - 7 * si,
                &bar_labels[1],
                Color::BLACK,
                s,
            );
        }
        c
    }
}

/// Decimals of the cell labels, shared by the whole matrix: none when every finite value is an
/// integer, else enough for three significant figures of the largest magnitude (0 from 100 up,
/// 1 from 10, 2 from 1, 3 below).
fn value_decimals(values: &[Vec<f64>]) -> usize {
    let finite = || values.iter().flatten().copied().filter(|v| v.is_finite());
    if finite().all(|v| v.fract() == 0.0) {
        return 0;
    }
    let max = finite().fold(0.0f64, |m, v| m.max(v.abs()));
    if max >= 100.0 {
        0
    } else if max >= 10.0 {
        1
    } else if max >= 1.0 {
        2
    } else {
        3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heatmap_rejects_ragged_rows_and_bad_label_counts() {
        let e = Heatmap::new("t", vec![vec![1.0, 2.0], vec![3.0]]).unwrap_err();
        assert!(
            matches!(
                e,
                Error::RaggedMatrix {
                    row: 1,
                    expected: 2,
                    found: 1
                }
            ),
            "{e}"
        );
        let h = Heatmap::new("t", vec![vec![1.0, 2.0]]).unwrap();
        let e = h.clone().row_labels(["a", "b"]).unwrap_err();
        assert!(
            matches!(
                e,
                Error::LabelCount {
                    axis: "row",
                    expected: 1,
                    found: 2
                }
            ),
            "{e}"
        );
        let e = h.col_labels(["a"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "heatmap has 2 columns but 1 column labels were given"
        );
    }

    #[test]
    fn heatmap_value_decimals_are_shared_by_the_matrix() {
        assert_eq!(value_decimals(&[vec![42.0, 0.0, f64::NAN]]), 0);
        assert_eq!(
            value_decimals(&[vec![0.25, 0.0], vec![0.9, f64::INFINITY]]),
            3
        );
        assert_eq!(value_decimals(&[vec![3.25, 0.5]]), 2);
        assert_eq!(value_decimals(&[vec![12.34, -0.5]]), 1);
        assert_eq!(value_decimals(&[vec![1234.5]]), 0);
        assert_eq!(value_decimals(&[]), 0);
    }

    #[test]
    fn heatmap_cell_colours_follow_the_ramp() {
        let h = Heatmap::from_counts("", &[vec![0, 10]])
            .unwrap()
            .cell_size(20)
            .show_values(false);
        let c = h.render();
        let dark = Color::rgb(8, 48, 107);
        // The maximum cell is a 20 px dark square less the separator on its left and the border
        // on its other three sides; the zero cell just left of it is white.
        let dark_px = c
            .as_rgb_bytes()
            .chunks(3)
            .filter(|p| p == &[dark.r, dark.g, dark.b])
            .count();
        assert!(dark_px >= 18 * 18, "{dark_px}");
        let mut white_left_of_dark = false;
        for y in 0..c.height() {
            for x in 0..c.width().saturating_sub(20) {
                white_left_of_dark |=
                    c.pixel(x, y) == Some(Color::WHITE) && c.pixel(x + 20, y) == Some(dark);
            }
        }
        assert!(white_left_of_dark);
    }

    #[test]
    fn heatmap_value_range_includes_zero_and_skips_non_finite() {
        let h = Heatmap::new("", vec![vec![2.0, f64::NAN], vec![5.0, f64::INFINITY]]).unwrap();
        assert_eq!(h.value_range(), Some((0.0, 5.0)));
        let h = Heatmap::new("", vec![vec![-2.0, 1.0]]).unwrap();
        assert_eq!(h.value_range(), Some((-2.0, 1.0)));
        let h = Heatmap::new("", vec![vec![f64::NAN]]).unwrap();
        assert_eq!(h.value_range(), None);
    }

    #[test]
    fn heatmap_highlight_frames_only_the_given_cells() {
        let count = |c: &Canvas| {
            (0..c.height())
                .flat_map(|y| (0..c.width()).map(move |x| (x, y)))
                .filter(|&(x, y)| c.pixel(x, y) == Some(HIGHLIGHT))
                .count()
        };
        let map = Heatmap::from_counts("", &[vec![9, 1], vec![2, 8]]).unwrap();
        assert_eq!(count(&map.clone().render()), 0);
        let one = count(&map.clone().highlight([(0, 0)]).render());
        assert!(one > 0);
        assert_eq!(
            count(&map.clone().highlight([(0, 0), (1, 1)]).render()),
            2 * one
        );
        assert_eq!(
            count(&map.highlight([(5, 5)]).render()),
            0,
            "outside: ignored"
        );
    }

    #[test]
    fn heatmap_axis_labels_longer_than_the_grid_fit_on_the_canvas() {
        let x = "a very long label for the columns of a tiny matrix";
        let y = "an even longer label for the rows of the same tiny matrix";
        let c = Heatmap::from_counts("", &[vec![1, 2]])
            .unwrap()
            .col_labels(["7", "a long column"])
            .unwrap()
            .x_label(x)
            .y_label(y)
            .render();
        assert!(c.width() >= Canvas::text_width(x, 2), "{}", c.width());
        assert!(c.height() >= Canvas::text_width(y, 2), "{}", c.height());
    }
}

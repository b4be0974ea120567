//! [`ReferenceLine`]: a labelled horizontal line of a [`crate::LineChart`], and where its label
//! goes.

use crate::canvas::Rect;
use crate::color::Color;

/// A labelled horizontal line at a fixed y value (for example the paper's figure to compare
/// against), drawn dashed across the plot area with its label above its right end (or wherever along
/// the line it hides the fewest data points).
#[derive(Clone, Debug, PartialEq)]
pub struct ReferenceLine {
    pub(crate) y: f64,
    pub(crate) label: String,
    pub(crate) color: Color,
}

impl ReferenceLine {
    /// A grey dashed reference line at `y` labelled `label` (the label may be empty).
    pub fn new(y: f64, label: impl Into<String>) -> ReferenceLine {
        ReferenceLine {
            y,
            label: label.into(),
            color: Color::rgb(90, 90, 90),
        }
    }

    /// Uses `color` for the line and its label.
    pub fn color(mut self, color: Color) -> ReferenceLine {
        self.color = color;
        self
    }
}

/// Where to draw a reference line's label `(w, th)` for a line at pixel row `py` of a plot
/// spanning `pl..pr` from row `pt` down: above the line at its right end, unless data
/// `points` (pixels) lie there; then the candidate (right or left end, above or below the
/// line) hiding the fewest of them.
pub(crate) fn label_position(
    py: i32,
    (pl, pr, pt): (i32, i32, i32),
    (w, th): (i32, i32),
    pad: i32,
    si: i32,
    points: &[(f64, f64)],
) -> (i32, i32) {
    let above = py - 2 * si - 7 * si;
    let above = if above < pt + si { py + 3 * si } else { above };
    let candidates = [
        (pr - pad - w, above),
        (pl + pad, above),
        (pr - pad - w, py + 3 * si),
        (pl + pad, py + 3 * si),
    ];
    let hidden = |&(lx, ly): &(i32, i32)| {
        let b = Rect::new(
            lx - 2 * si,
            ly - 2 * si,
            (w + 4 * si) as u32,
            (th + 4 * si) as u32,
        );
        points
            .iter()
            .filter(|&&(x, y)| b.contains(x.round() as i64, y.round() as i64))
            .count()
    };
    candidates
        .iter()
        .min_by_key(|c| hidden(c))
        .copied()
        .expect("four candidates")
}

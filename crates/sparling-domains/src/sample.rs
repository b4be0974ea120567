//! What a domain produces: the input, the target tokens and the ground-truth motifs.

use ndarray::{Array2, ArrayD, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::vocab::TokenId;

/// A sample's input.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A one-channel 2-D image, shape (H, W); a model sees it as (1, H, W).
    Image(Array2<f32>),
    /// A multi-channel 1-D signal (e.g. a spectrogram), shape (C, L); motifs live on the L axis.
    Signal(Array2<f32>),
}

impl Input {
    /// The per-sample tensor shape a model sees: `[1, H, W]` for an image, `[C, L]` for a signal.
    pub fn model_shape(&self) -> Vec<usize> {
        match self {
            Input::Image(a) => vec![1, a.nrows(), a.ncols()],
            Input::Signal(a) => vec![a.nrows(), a.ncols()],
        }
    }

    /// The underlying 2-D array (image (H, W) or signal (C, L)).
    pub fn array(&self) -> ArrayView2<'_, f32> {
        match self {
            Input::Image(a) | Input::Signal(a) => a.view(),
        }
    }

    /// The 2-D image, if this is one.
    pub fn as_image(&self) -> Option<&Array2<f32>> {
        match self {
            Input::Image(a) => Some(a),
            Input::Signal(_) => None,
        }
    }

    /// The input as a dynamic array of [`Input::model_shape`].
    pub fn to_model_array(&self) -> ArrayD<f32> {
        let shape = self.model_shape();
        self.array()
            .to_owned()
            .into_shape_with_order(shape)
            .expect("model shape has the same element count")
    }

    /// Number of motif positions (H*W for an image, L for a signal).
    pub fn positions(&self) -> usize {
        match self {
            Input::Image(a) => a.len(),
            Input::Signal(a) => a.ncols(),
        }
    }

    /// Number of values (H*W or C*L).
    pub fn len(&self) -> usize {
        self.array().len()
    }

    /// Whether the input has no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The region a motif occupies (half-open ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Footprint {
    /// A 2-D rectangle: rows `[rows[0], rows[1])`, columns `[cols[0], cols[1])`.
    Rect {
        /// Row range `[r0, r1)`.
        rows: [usize; 2],
        /// Column range `[c0, c1)`.
        cols: [usize; 2],
    },
    /// A 1-D interval `[span[0], span[1])` on the signal's position axis.
    Interval {
        /// Position range `[t0, t1)`.
        span: [usize; 2],
    },
}

impl Footprint {
    /// Number of positions covered.
    pub fn area(&self) -> usize {
        match self {
            Footprint::Rect { rows, cols } => (rows[1] - rows[0]) * (cols[1] - cols[0]),
            Footprint::Interval { span } => span[1] - span[0],
        }
    }

    /// Whether the position (`[row, col]` or `[t]`) lies inside.
    pub fn contains(&self, pos: &[usize]) -> bool {
        match (self, pos) {
            (Footprint::Rect { rows, cols }, [r, c]) => {
                (rows[0]..rows[1]).contains(r) && (cols[0]..cols[1]).contains(c)
            }
            (Footprint::Interval { span }, [t]) => (span[0]..span[1]).contains(t),
            _ => false,
        }
    }

    /// Whether two footprints share a position (false across dimensions).
    pub fn overlaps(&self, other: &Footprint) -> bool {
        fn ov(a: [usize; 2], b: [usize; 2]) -> bool {
            a[0] < b[1] && b[0] < a[1]
        }
        match (self, other) {
            (Footprint::Rect { rows: r1, cols: c1 }, Footprint::Rect { rows: r2, cols: c2 }) => {
                ov(*r1, *r2) && ov(*c1, *c2)
            }
            (Footprint::Interval { span: a }, Footprint::Interval { span: b }) => ov(*a, *b),
            _ => false,
        }
    }

    /// Whether the footprint lies inside positions of the given extent (`[H, W]` or `[L]`).
    pub fn fits_in(&self, extent: &[usize]) -> bool {
        match (self, extent) {
            (Footprint::Rect { rows, cols }, [h, w]) => {
                rows[0] < rows[1] && rows[1] <= *h && cols[0] < cols[1] && cols[1] <= *w
            }
            (Footprint::Interval { span }, [l]) => span[0] < span[1] && span[1] <= *l,
            _ => false,
        }
    }
}

/// One ground-truth motif: which class, where it is drawn, and its anchor point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Motif {
    /// The motif class (for digits: the digit, equal to its token id).
    pub class: usize,
    /// The full region the motif was drawn over (the stamp's rectangle, border included).
    pub footprint: Footprint,
    /// The point the motif was placed at (`[row, col]` or `[t]`): for a stamp, its centre point
    /// after the random shift, from which the top-left is `anchor - (h/2, w/2)`.
    pub anchor: Vec<usize>,
}

/// One generated sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The input x.
    pub input: Input,
    /// The target y as class token ids, without start/end tokens (see
    /// [`Vocab::encode`](crate::Vocab::encode)).
    pub tokens: Vec<TokenId>,
    /// The ground-truth motifs in placement order.
    pub motifs: Vec<Motif>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprint_geometry() {
        let a = Footprint::Rect {
            rows: [2, 5],
            cols: [3, 4],
        };
        assert_eq!(a.area(), 3);
        assert!(a.contains(&[2, 3]) && a.contains(&[4, 3]));
        assert!(!a.contains(&[5, 3]) && !a.contains(&[2, 4]) && !a.contains(&[2]));
        let b = Footprint::Rect {
            rows: [4, 6],
            cols: [3, 9],
        };
        let c = Footprint::Rect {
            rows: [5, 6],
            cols: [0, 9],
        };
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!(a.fits_in(&[5, 4]) && !a.fits_in(&[4, 4]));
        let s = Footprint::Interval { span: [3, 7] };
        assert_eq!(s.area(), 4);
        assert!(s.contains(&[3]) && !s.contains(&[7]));
        assert!(s.overlaps(&Footprint::Interval { span: [6, 8] }));
        assert!(!s.overlaps(&Footprint::Interval { span: [7, 8] }));
        assert!(!s.overlaps(&a));
        assert!(s.fits_in(&[7]) && !s.fits_in(&[6]));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"rect":{"rows":[2,5],"cols":[3,4]}}"#);
    }

    #[test]
    fn input_shapes() {
        let img = Input::Image(Array2::zeros((3, 4)));
        assert_eq!(img.model_shape(), vec![1, 3, 4]);
        assert_eq!(img.positions(), 12);
        assert_eq!(img.to_model_array().shape(), &[1, 3, 4]);
        let sig = Input::Signal(Array2::zeros((5, 7)));
        assert_eq!(sig.model_shape(), vec![5, 7]);
        assert_eq!(sig.positions(), 7);
        assert_eq!(sig.len(), 35);
        assert!(sig.as_image().is_none());
    }
}

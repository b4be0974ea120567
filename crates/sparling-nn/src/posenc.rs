//! Fixed sinusoidal positional encodings (constants, no gradient).
//!
//! **1-D** (Vaswani et al. 2017): for position `pos` and channel pair `i`,
//! `PE[pos, 2i] = sin(pos / 10000^(2i/d))` and `PE[pos, 2i+1] = cos(pos / 10000^(2i/d))`.
//! For odd `d` the last channel is the sine of pair `(d-1)/2`.
//!
//! **2-D** (the DETR-style split, with raw integer coordinates): for a grid of `h x w` cells
//! flattened row-major (cell `r * w + c`), the first `d/2` channels are the 1-D encoding of
//! the *row* `r` with `d/2` channels and the last `d/2` channels the 1-D encoding of the
//! *column* `c` with `d/2` channels. (DETR's `PositionEmbeddingSine` also puts the row half
//! first; unlike its `normalize=True` option, positions here are not rescaled to `[0, 2*pi]`.)
//!
//! Values are computed in f64 and rounded to f32.

use ndarray::Array2;
use sparling_tensor::Tensor;

/// The base of the geometric progression of wavelengths.
pub const BASE: f64 = 10000.0;

/// The 1-D encoding as an array of shape `(len, d)`.
///
/// # Panics
/// If `d == 0`.
pub fn sinusoidal_1d_array(len: usize, d: usize) -> Array2<f32> {
    sparling_tensor::shape_check!(d > 0, "sinusoidal_1d", "needs d > 0");
    Array2::from_shape_fn((len, d), |(pos, ch)| encode(pos as f64, ch, d))
}

/// The 1-D encoding `(len, d)` as a constant tensor (add it to a `(B, len, d)` sequence by
/// broadcasting).
///
/// # Panics
/// If `d == 0`.
pub fn sinusoidal_1d(len: usize, d: usize) -> Tensor {
    Tensor::new(sinusoidal_1d_array(len, d))
}

/// The 2-D encoding of an `h x w` grid as an array of shape `(h * w, d)`; see the module
/// documentation for the channel layout.
///
/// # Panics
/// If `d` is zero or odd.
pub fn sinusoidal_2d_array(h: usize, w: usize, d: usize) -> Array2<f32> {
    sparling_tensor::shape_check!(
        d > 0 && d % 2 == 0,
        "sinusoidal_2d",
        "needs an even, positive d, got {d}"
    );
    let half = d / 2;
    Array2::from_shape_fn((h * w, d), |(cell, ch)| {
        let (r, c) = (cell / w, cell % w);
        if ch < half {
            encode(r as f64, ch, half)
        } else {
            encode(c as f64, ch - half, half)
        }
    })
}

/// The 2-D encoding `(h * w, d)` as a constant tensor.
///
/// # Panics
/// If `d` is zero or odd.
pub fn sinusoidal_2d(h: usize, w: usize, d: usize) -> Tensor {
    Tensor::new(sinusoidal_2d_array(h, w, d))
}

fn encode(pos: f64, ch: usize, d: usize) -> f32 {
    let pair = (ch / 2) as f64;
    let angle = pos / BASE.powf(2.0 * pair / d as f64);
    (if ch % 2 == 0 {
        angle.sin()
    } else {
        angle.cos()
    }) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posenc_1d_literal_values() {
        // d = 4: channel frequencies 1, 1, 1/100, 1/100.
        // pos 0: [0, 1, 0, 1]; pos 1: [sin 1, cos 1, sin 0.01, cos 0.01];
        // pos 2: [sin 2, cos 2, sin 0.02, cos 0.02].
        let pe = sinusoidal_1d(3, 4);
        assert_eq!(pe.shape(), &[3, 4]);
        let expected = [
            0.0f64,
            1.0,
            0.0,
            1.0,
            1f64.sin(),
            1f64.cos(),
            0.01f64.sin(),
            0.01f64.cos(),
            2f64.sin(),
            2f64.cos(),
            0.02f64.sin(),
            0.02f64.cos(),
        ];
        for (got, want) in pe.to_vec().iter().zip(expected) {
            assert!((*got as f64 - want).abs() < 1e-7, "{got} vs {want}");
        }
        assert!(!pe.requires_grad());
    }

    #[test]
    fn posenc_1d_odd_width_ends_with_sine() {
        // d = 3: channels sin(p), cos(p), sin(p / 10000^(2/3)).
        let pe = sinusoidal_1d_array(2, 3);
        let f = 10000f64.powf(-2.0 / 3.0);
        assert!((pe[[1, 2]] as f64 - f.sin()).abs() < 1e-7);
    }

    #[test]
    fn posenc_2d_row_then_column_halves() {
        let (h, w, d) = (3, 5, 8);
        let pe = sinusoidal_2d_array(h, w, d);
        assert_eq!(pe.dim(), (15, 8));
        let one_d = sinusoidal_1d_array(5, 4);
        for r in 0..h {
            for c in 0..w {
                let cell = r * w + c;
                for ch in 0..4 {
                    assert_eq!(pe[[cell, ch]], one_d[[r, ch]]);
                    assert_eq!(pe[[cell, 4 + ch]], one_d[[c, ch]]);
                }
            }
        }
        // Literal: cell (1, 2) = index 7; its first channel is sin(row 1) = sin(1), its
        // channel 4 is sin(col 2) = sin(2), channel 7 is cos(2 / 100).
        assert!((pe[[7, 0]] as f64 - 1f64.sin()).abs() < 1e-7);
        assert!((pe[[7, 4]] as f64 - 2f64.sin()).abs() < 1e-7);
        assert!((pe[[7, 7]] as f64 - 0.02f64.cos()).abs() < 1e-7);
    }

    #[test]
    fn posenc_2d_cells_are_distinct() {
        let pe = sinusoidal_2d_array(4, 4, 16);
        for a in 0..16 {
            for b in (a + 1)..16 {
                let diff: f32 = (0..16).map(|ch| (pe[[a, ch]] - pe[[b, ch]]).abs()).sum();
                assert!(diff > 1e-3, "cells {a} and {b} coincide");
            }
        }
    }

    #[test]
    #[should_panic(expected = "sinusoidal_2d: needs an even, positive d, got 5")]
    fn posenc_2d_rejects_odd_width() {
        let _ = sinusoidal_2d(2, 2, 5);
    }
}

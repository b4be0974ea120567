//! The Sparse op on the autodiff tape: `relu(x - t[c])` with constant thresholds.
//!
//! The thresholds are buffers computed from the batch (a k-th value), not functions of `x` on
//! the tape: in backprop they are constants, so `d out / d x = 1` where `x > t[c]` and `0`
//! elsewhere (the paper's and the reference's choice; the k-th value is piecewise constant in
//! all but one input and its momentum average moves by a tenth of that). The backward keeps
//! only the compact [`Mask`] of the passing positions, never the input.

use std::borrow::Cow;

use ndarray::{ArrayD, IxDyn};
use sparling_tensor::ops::{Backward, GradSink, record};
use sparling_tensor::{Tensor, is_grad_enabled};

use crate::kernel::apply::{MaskMode, apply};
use crate::kernel::backward::mask_grad;
use crate::kernel::{ChannelLayout, Mask};

/// The data of `x` as a contiguous row-major slice (a copy only if `x` is not standard layout).
pub(crate) fn contiguous(x: &Tensor) -> Cow<'_, [f32]> {
    match x.data().as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(x.data().iter().copied().collect()),
    }
}

/// `relu(x - t[c])` for a channels-first `x` `(N, C, ...)` and one threshold per channel
/// (`thresholds.len() == C`) or a single one for all values (`thresholds.len() == 1`). The
/// thresholds are constants for the gradient. `expected_density` (the fraction of values
/// expected to pass) only chooses the mask representation.
///
/// # Panics
/// If `x` has fewer than 2 dimensions or the number of thresholds is neither 1 nor C.
pub fn sparse_relu(x: &Tensor, thresholds: &[f32], expected_density: f64) -> Tensor {
    sparling_tensor::shape_check!(
        x.ndim() >= 2 && (thresholds.len() == 1 || thresholds.len() == x.shape()[1]),
        "sparse_relu",
        "input of shape {:?} with {} thresholds (need (N, C, ...) and 1 or C thresholds)",
        x.shape(),
        thresholds.len()
    );
    let layout = if thresholds.len() == 1 {
        ChannelLayout::single(x.len())
    } else {
        ChannelLayout::of_shape("sparse_relu", x.shape(), None).expect("checked above")
    };
    threshold_op(x, &layout, thresholds, expected_density)
}

/// The op itself on an already validated layout.
pub(crate) fn threshold_op(
    x: &Tensor,
    layout: &ChannelLayout,
    thresholds: &[f32],
    expected_density: f64,
) -> Tensor {
    let mode = mask_mode(x, expected_density, layout.len());
    let data = contiguous(x);
    let (out, mask) = apply(&data, layout, thresholds, None, mode);
    record_sparse(x, out, mask)
}

/// The mask the output pass must build for `x` (none when no gradient will be taken).
pub(crate) fn mask_mode(x: &Tensor, expected_density: f64, len: usize) -> MaskMode {
    MaskMode::for_density(
        is_grad_enabled() && x.requires_grad(),
        expected_density,
        len,
    )
}

/// Wraps an output computed by the kernels (and its mask, present whenever `x` needs a
/// gradient) into a tensor on the tape.
pub(crate) fn record_sparse(x: &Tensor, out: Vec<f32>, mask: Option<Mask>) -> Tensor {
    let out = ArrayD::from_shape_vec(IxDyn(x.shape()), out).expect("output length");
    record(out, &[x], move |_| {
        Box::new(SparseBackward {
            mask: mask.expect("a mask is built whenever a gradient is needed"),
        })
    })
}

#[derive(Debug)]
struct SparseBackward {
    mask: Mask,
}

impl Backward for SparseBackward {
    fn name(&self) -> &'static str {
        "sparse"
    }

    fn backward(&self, mut grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d relu(x - t)/dx = 1 where x > t (t constant), else 0.
        mask_grad(
            grad_out
                .as_slice_mut()
                .expect("gradients are in standard layout"),
            &self.mask,
        );
        grads.put(0, grad_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;
    use sparling_tensor::testing::{GradCheck, gradcheck};

    #[test]
    fn sparse_relu_literal() {
        // x (1, 2, 2) = [[1, 3], [-1, 0.5]], t = [2, 0]: out = [[0, 1], [0, 0.5]].
        // Loss = sum(out * [[1, 2], [3, 4]]): grad = [[0, 2], [0, 4]].
        let x = Tensor::param(Array::from_shape_vec((1, 2, 2), vec![1.0, 3.0, -1.0, 0.5]).unwrap());
        let y = sparse_relu(&x, &[2.0, 0.0], 0.5);
        assert_eq!(y.to_vec(), vec![0.0, 1.0, 0.0, 0.5]);
        let g = y.backward_with(
            Array::from_shape_vec((1, 2, 2), vec![1.0, 2.0, 3.0, 4.0])
                .unwrap()
                .into_dyn(),
        );
        assert_eq!(
            g.get(&x).unwrap().as_slice().unwrap(),
            &[0.0, 2.0, 0.0, 4.0]
        );
    }

    #[test]
    fn sparse_relu_sparse_mask_matches_dense_mask() {
        let x = sparling_tensor::testing::random_array(&[3, 4, 5, 7], 3);
        let t = [0.9, 0.8, 0.95, 0.7];
        let proj = sparling_tensor::testing::random_array(&[3, 4, 5, 7], 4);
        let run = |density| {
            let xp = Tensor::param(x.clone());
            let y = sparse_relu(&xp, &t, density);
            let g = y.backward_with(proj.clone());
            (y.to_vec(), g.get(&xp).unwrap().clone())
        };
        assert_eq!(run(0.5), run(0.001));
    }

    #[test]
    fn sparse_relu_grad_matches_fd() {
        // Thresholds fixed; inputs at least 0.05 away from them so the mask is stable.
        let t = [0.3f32, -0.2, 0.0];
        let mut x = sparling_tensor::testing::random_array(&[2, 3, 5], 11);
        for (i, v) in x.iter_mut().enumerate() {
            let c = (i / 5) % 3;
            if (*v - t[c]).abs() < 0.05 {
                *v = t[c] + 0.1;
            }
        }
        gradcheck(
            |x| sparse_relu(&x[0], &t, 0.5),
            &[x.clone()],
            &GradCheck::default(),
        );
        gradcheck(
            |x| sparse_relu(&x[0], &t, 0.001),
            &[x],
            &GradCheck::default(),
        );
    }

    #[test]
    fn sparse_relu_single_threshold() {
        let x = Tensor::new(Array::from_shape_vec((2, 2), vec![1.0, 2.0, 3.0, 4.0]).unwrap());
        assert_eq!(
            sparse_relu(&x, &[2.5], 0.5).to_vec(),
            vec![0.0, 0.0, 0.5, 1.5]
        );
    }
}

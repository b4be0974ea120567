//! `sum_all` and `sum`: sums over all elements or over chosen axes.

use ndarray::{ArrayD, Axis, IxDyn};

use crate::Tensor;
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// The sum of all elements, as a 0-dimensional tensor. Deterministic for any thread count
    /// (fixed-chunk f64 accumulation).
    pub fn sum_all(&self) -> Tensor {
        let total = match self.data().as_slice() {
            Some(s) => crate::kernels::par::sum_f64(s),
            None => self.data().iter().map(|&v| v as f64).sum(),
        } as f32;
        record(ndarray::arr0(total).into_dyn(), &[self], |_| {
            Box::new(SumBackward {
                in_shape: self.shape().to_vec(),
                axes: (0..self.ndim()).collect(),
            })
        })
    }

    /// Sums over `axes` (any order, no repeats); `keepdim` keeps them with length 1.
    ///
    /// # Panics
    /// If an axis is out of range or repeated.
    pub fn sum(&self, axes: &[usize], keepdim: bool) -> Tensor {
        let axes = checked_axes("sum", axes, self.ndim());
        let mut data = self.data().clone();
        for &ax in axes.iter().rev() {
            data = data.sum_axis(Axis(ax));
        }
        if keepdim {
            data = data
                .into_shape_with_order(IxDyn(&keepdim_shape(self.shape(), &axes)))
                .expect("keepdim reshape");
        }
        record(data, &[self], |_| {
            Box::new(SumBackward {
                in_shape: self.shape().to_vec(),
                axes,
            })
        })
    }
}

/// Sorted, validated copy of `axes`; panics with `op` on a bad axis.
pub(crate) fn checked_axes(op: &str, axes: &[usize], ndim: usize) -> Vec<usize> {
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    for w in sorted.windows(2) {
        crate::shape_check!(w[0] != w[1], op, "axis {} repeated in {:?}", w[0], axes);
    }
    for &a in &sorted {
        crate::shape_check!(a < ndim, op, "axis {a} out of range for {ndim} dimensions");
    }
    sorted
}

/// `shape` with each of `axes` set to 1.
pub(crate) fn keepdim_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    let mut s = shape.to_vec();
    for &a in axes {
        s[a] = 1;
    }
    s
}

#[derive(Debug)]
struct SumBackward {
    in_shape: Vec<usize>,
    axes: Vec<usize>,
}

impl Backward for SumBackward {
    fn name(&self) -> &'static str {
        "sum"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d sum / dx_i = 1: broadcast the output gradient back over the summed axes.
        let kept = keepdim_shape(&self.in_shape, &self.axes);
        let g = grad_out
            .into_shape_with_order(IxDyn(&kept))
            .expect("sum backward reshape");
        let g = g
            .broadcast(IxDyn(&self.in_shape))
            .expect("sum backward broadcast")
            .to_owned();
        grads.put(0, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::arr2;

    #[test]
    fn sum_literal() {
        // sum over axis 1 of [[1,2,3],[4,5,6]] = [6, 15]; gradient of sum(out * [1, 2]) is
        // row i filled with (i + 1).
        let x = Tensor::param(arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]));
        let y = x.sum(&[1], false);
        assert_eq!(y.to_vec(), vec![6.0, 15.0]);
        assert_eq!(x.sum_all().item(), 21.0);
        let g = y.backward_with(ndarray::arr1(&[1.0f32, 2.0]).into_dyn());
        assert_eq!(
            g.get(&x).unwrap().as_slice().unwrap(),
            &[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
        );
    }

    #[test]
    fn sum_grad_matches_fd() {
        let x = random_array(&[3, 4, 5], 3);
        gradcheck(
            |x| x[0].sum(&[0, 2], true),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        gradcheck(|x| x[0].sum_all(), &[x], &GradCheck::default());
    }
}

//! `reshape`, `try_reshape` and `unsqueeze`: the same elements in row-major order under a new
//! shape.

use ndarray::{ArrayD, IxDyn};

use crate::Tensor;
use crate::error::{Error, Result};
use crate::kernels::elementwise::to_standard;
use crate::ops::{Backward, GradSink, record};
use crate::shape::numel;

impl Tensor {
    /// The same elements (row-major order) with shape `shape`.
    ///
    /// # Panics
    /// If `shape` does not hold exactly `self.len()` elements; use [`Tensor::try_reshape`] for
    /// shapes that come from users or configuration.
    pub fn reshape(&self, shape: &[usize]) -> Tensor {
        crate::shape_check!(
            numel(shape) == self.len(),
            "reshape",
            "cannot reshape {:?} ({} elements) to {:?}",
            self.shape(),
            self.len(),
            shape
        );
        let data = reshape_fwd(self.data(), shape);
        record(data, &[self], |_| {
            Box::new(ReshapeBackward {
                in_shape: self.shape().to_vec(),
            })
        })
    }

    /// Like [`Tensor::reshape`], but returns [`Error::ElementCount`] when the element counts
    /// differ.
    pub fn try_reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != self.len() {
            return Err(Error::ElementCount {
                op: "reshape",
                len: self.len(),
                shape: shape.to_vec(),
            });
        }
        Ok(self.reshape(shape))
    }

    /// Inserts an axis of length 1 at position `axis` (`0..=ndim`).
    ///
    /// # Panics
    /// If `axis > ndim`.
    pub fn unsqueeze(&self, axis: usize) -> Tensor {
        crate::shape_check!(
            axis <= self.ndim(),
            "unsqueeze",
            "axis {axis} out of range for shape {:?}",
            self.shape()
        );
        let mut shape = self.shape().to_vec();
        shape.insert(axis, 1);
        self.reshape(&shape)
    }
}

fn reshape_fwd(x: &ArrayD<f32>, shape: &[usize]) -> ArrayD<f32> {
    to_standard(x.view())
        .into_shape_with_order(IxDyn(shape))
        .expect("reshape of a standard-layout array")
}

#[derive(Debug)]
struct ReshapeBackward {
    in_shape: Vec<usize>,
}

impl Backward for ReshapeBackward {
    fn name(&self) -> &'static str {
        "reshape"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // A reshape moves no element: the gradient is reshaped back.
        let g = grad_out
            .into_shape_with_order(IxDyn(&self.in_shape))
            .expect("reshape backward");
        grads.put(0, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::arr2;

    #[test]
    fn reshape_literal() {
        // [[1,2,3],[4,5,6]] -> (3, 2) = [[1,2],[3,4],[5,6]]; upstream [[1,2],[3,4],[5,6]]
        // comes back as [[1,2,3],[4,5,6]].
        let x = Tensor::param(arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]));
        let y = x.reshape(&[3, 2]);
        assert_eq!(y.shape(), &[3, 2]);
        assert_eq!(y.to_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let g = y.backward_with(arr2(&[[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]).into_dyn());
        let g = g.get(&x).unwrap();
        assert_eq!(g.shape(), &[2, 3]);
        assert_eq!(g.as_slice().unwrap(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(x.unsqueeze(0).shape(), &[1, 2, 3]);
        assert_eq!(x.unsqueeze(1).shape(), &[2, 1, 3]);
        assert_eq!(x.unsqueeze(2).shape(), &[2, 3, 1]);
    }

    #[test]
    fn reshape_reads_non_standard_input_in_logical_order() {
        // The transpose of [[1,2],[3,4]] as a column-major array, reshaped: [1,3,2,4].
        let t = Tensor::new(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).reversed_axes());
        assert_eq!(
            t.reshape(&[4]).data().as_slice().unwrap(),
            &[1.0, 3.0, 2.0, 4.0]
        );
    }

    #[test]
    fn try_reshape_reports_element_count() {
        let x = Tensor::zeros(&[2, 3]);
        let err = x.try_reshape(&[4, 2]).unwrap_err();
        assert!(matches!(err, Error::ElementCount { len: 6, .. }), "{err}");
        assert_eq!(x.try_reshape(&[6, 1]).unwrap().shape(), &[6, 1]);
    }

    #[test]
    fn reshape_grad_matches_fd() {
        let x = random_array(&[3, 4], 51);
        gradcheck(
            |x| x[0].reshape(&[2, 3, 2]),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        gradcheck(|x| x[0].unsqueeze(1), &[x], &GradCheck::default());
    }

    #[test]
    #[should_panic(expected = "reshape: cannot reshape [2, 3] (6 elements) to [5]")]
    fn reshape_rejects_bad_count() {
        let _ = Tensor::zeros(&[2, 3]).reshape(&[5]);
    }
}

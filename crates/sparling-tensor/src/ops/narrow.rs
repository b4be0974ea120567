//! `narrow`: the slice `start..start + len` of one axis, as a contiguous copy.

use ndarray::{ArrayD, Axis, IxDyn, Slice};

use crate::Tensor;
use crate::kernels::elementwise::to_standard;
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// The elements with index `start..start + len` along `axis`. The result is contiguous.
    ///
    /// # Panics
    /// If `axis` is out of range or the range exceeds the axis length.
    pub fn narrow(&self, axis: usize, start: usize, len: usize) -> Tensor {
        crate::shape_check!(
            axis < self.ndim(),
            "narrow",
            "axis {axis} out of range for shape {:?}",
            self.shape()
        );
        crate::shape_check!(
            start
                .checked_add(len)
                .is_some_and(|end| end <= self.shape()[axis]),
            "narrow",
            "range {start}..{start}+{len} exceeds axis {axis} of shape {:?}",
            self.shape()
        );
        let data = to_standard(self.data().slice_axis(Axis(axis), range(start, len)));
        record(data, &[self], |_| {
            Box::new(NarrowBackward {
                in_shape: self.shape().to_vec(),
                axis,
                start,
                len,
            })
        })
    }
}

fn range(start: usize, len: usize) -> Slice {
    Slice::from(start..start + len)
}

#[derive(Debug)]
struct NarrowBackward {
    in_shape: Vec<usize>,
    axis: usize,
    start: usize,
    len: usize,
}

impl Backward for NarrowBackward {
    fn name(&self) -> &'static str {
        "narrow"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // The gradient lands on the selected range; the rest of the input gets zero.
        let mut g = ArrayD::zeros(IxDyn(&self.in_shape));
        g.slice_axis_mut(Axis(self.axis), range(self.start, self.len))
            .assign(&grad_out);
        grads.put(0, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::arr2;

    #[test]
    fn narrow_literal() {
        // Columns 1..3 of [[1,2,3,4],[5,6,7,8]] = [[2,3],[6,7]]; upstream [[1,2],[3,4]] lands
        // in those columns: [[0,1,2,0],[0,3,4,0]].
        let x = Tensor::param(arr2(&[[1.0f32, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]));
        let y = x.narrow(1, 1, 2);
        assert!(y.data().is_standard_layout());
        assert_eq!(y.data().as_slice().unwrap(), &[2.0, 3.0, 6.0, 7.0]);
        let g = y.backward_with(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn());
        assert_eq!(
            g.get(&x).unwrap().as_slice().unwrap(),
            &[0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 0.0]
        );
        assert_eq!(x.narrow(0, 2, 0).shape(), &[0, 4]);
    }

    #[test]
    fn narrow_grad_matches_fd() {
        let x = random_array(&[3, 5, 2], 71);
        gradcheck(
            |x| x[0].narrow(1, 2, 3),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        gradcheck(|x| x[0].narrow(0, 0, 1), &[x], &GradCheck::default());
    }

    #[test]
    #[should_panic(expected = "narrow: range 3..3+2 exceeds axis 1 of shape [2, 4]")]
    fn narrow_rejects_out_of_range() {
        let _ = Tensor::zeros(&[2, 4]).narrow(1, 3, 2);
    }
}

//! `Tensor::cat`: concatenation along an existing axis.

use ndarray::{ArrayD, Axis, IxDyn, Slice};

use crate::Tensor;
use crate::kernels::elementwise::to_standard;
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// Concatenates `tensors` along `axis`. All must have the same number of dimensions and the
    /// same lengths on every other axis.
    ///
    /// # Panics
    /// If `tensors` is empty, `axis` is out of range or the shapes disagree off `axis`.
    pub fn cat(tensors: &[&Tensor], axis: usize) -> Tensor {
        crate::shape_check!(!tensors.is_empty(), "cat", "no tensors to concatenate");
        let first = tensors[0].shape();
        crate::shape_check!(
            axis < first.len(),
            "cat",
            "axis {axis} out of range for shape {first:?}"
        );
        for t in tensors {
            let s = t.shape();
            let same = s.len() == first.len()
                && s.iter()
                    .zip(first)
                    .enumerate()
                    .all(|(i, (a, b))| i == axis || a == b);
            crate::shape_check!(
                same,
                "cat",
                "shapes {first:?} and {s:?} differ off axis {axis}"
            );
        }
        let sizes: Vec<usize> = tensors.iter().map(|t| t.shape()[axis]).collect();
        let mut out_shape = first.to_vec();
        out_shape[axis] = sizes.iter().sum();
        let data = cat_fwd(tensors, axis, &out_shape);
        record(data, tensors, |_| Box::new(CatBackward { axis, sizes }))
    }
}

fn cat_fwd(tensors: &[&Tensor], axis: usize, out_shape: &[usize]) -> ArrayD<f32> {
    let mut out = ArrayD::zeros(IxDyn(out_shape));
    let mut start = 0;
    for t in tensors {
        let len = t.shape()[axis];
        out.slice_axis_mut(Axis(axis), Slice::from(start..start + len))
            .assign(t.data());
        start += len;
    }
    out
}

#[derive(Debug)]
struct CatBackward {
    axis: usize,
    /// The length of each input along `axis`.
    sizes: Vec<usize>,
}

impl Backward for CatBackward {
    fn name(&self) -> &'static str {
        "cat"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // Each input gets its own slice of the output gradient.
        let mut start = 0;
        for (i, &len) in self.sizes.iter().enumerate() {
            if grads.needs(i) {
                let part = grad_out.slice_axis(Axis(self.axis), Slice::from(start..start + len));
                grads.put(i, to_standard(part));
            }
            start += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::arr2;

    #[test]
    fn cat_literal() {
        // cat([[1],[2]], [[3,4],[5,6]]) on axis 1 = [[1,3,4],[2,5,6]]; upstream
        // [[1,2,3],[4,5,6]] splits into [[1],[4]] and [[2,3],[5,6]].
        let a = Tensor::param(arr2(&[[1.0f32], [2.0]]));
        let b = Tensor::param(arr2(&[[3.0f32, 4.0], [5.0, 6.0]]));
        let y = Tensor::cat(&[&a, &b], 1);
        assert_eq!(y.shape(), &[2, 3]);
        assert_eq!(y.to_vec(), vec![1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
        let g = y.backward_with(arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]).into_dyn());
        assert_eq!(g.get(&a).unwrap().as_slice().unwrap(), &[1.0, 4.0]);
        assert_eq!(
            g.get(&b).unwrap().as_slice().unwrap(),
            &[2.0, 3.0, 5.0, 6.0]
        );
    }

    #[test]
    fn cat_grad_matches_fd() {
        let a = random_array(&[2, 3, 2], 81);
        let b = random_array(&[2, 1, 2], 82);
        let c = random_array(&[2, 4, 2], 83);
        gradcheck(
            |x| Tensor::cat(&[&x[0], &x[1], &x[2]], 1),
            &[a, b, c],
            &GradCheck::default(),
        );
        // The same tensor twice accumulates both slices.
        let d = random_array(&[3, 2], 84);
        gradcheck(
            |x| Tensor::cat(&[&x[0], &x[0]], 0),
            &[d],
            &GradCheck::default(),
        );
    }

    #[test]
    #[should_panic(expected = "cat: shapes [2, 3] and [3, 3] differ off axis 1")]
    fn cat_rejects_mismatched_shapes() {
        let _ = Tensor::cat(&[&Tensor::zeros(&[2, 3]), &Tensor::zeros(&[3, 3])], 1);
    }
}

//! `Tensor::stack`: joins equally shaped tensors along a new axis.

use ndarray::{ArrayD, Axis, IxDyn};

use crate::Tensor;
use crate::kernels::elementwise::to_standard;
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// Stacks `tensors` (all of the same shape) along a new axis inserted at `axis`
    /// (`0..=ndim`).
    ///
    /// # Panics
    /// If `tensors` is empty, the shapes differ or `axis > ndim`.
    pub fn stack(tensors: &[&Tensor], axis: usize) -> Tensor {
        crate::shape_check!(!tensors.is_empty(), "stack", "no tensors to stack");
        let first = tensors[0].shape();
        for t in tensors {
            crate::shape_check!(
                t.shape() == first,
                "stack",
                "shapes {first:?} and {:?} differ",
                t.shape()
            );
        }
        crate::shape_check!(
            axis <= first.len(),
            "stack",
            "axis {axis} out of range for shape {first:?}"
        );
        let mut out_shape = first.to_vec();
        out_shape.insert(axis, tensors.len());
        let mut data = ArrayD::zeros(IxDyn(&out_shape));
        for (i, t) in tensors.iter().enumerate() {
            data.index_axis_mut(Axis(axis), i).assign(t.data());
        }
        record(data, tensors, |_| {
            Box::new(StackBackward {
                axis,
                count: tensors.len(),
            })
        })
    }
}

#[derive(Debug)]
struct StackBackward {
    axis: usize,
    count: usize,
}

impl Backward for StackBackward {
    fn name(&self) -> &'static str {
        "stack"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // Input i gets the slice i of the new axis.
        for i in 0..self.count {
            if grads.needs(i) {
                grads.put(i, to_standard(grad_out.index_axis(Axis(self.axis), i)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::{arr1, arr2};

    #[test]
    fn stack_literal() {
        // stack([1,2], [3,4]) on axis 1 = [[1,3],[2,4]]; upstream [[1,2],[3,4]] gives the
        // columns: [1,3] to the first input and [2,4] to the second.
        let a = Tensor::param(arr1(&[1.0f32, 2.0]));
        let b = Tensor::param(arr1(&[3.0f32, 4.0]));
        let y = Tensor::stack(&[&a, &b], 1);
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.to_vec(), vec![1.0, 3.0, 2.0, 4.0]);
        assert_eq!(
            Tensor::stack(&[&a, &b], 0).to_vec(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        let g = y.backward_with(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn());
        assert_eq!(g.get(&a).unwrap().as_slice().unwrap(), &[1.0, 3.0]);
        assert_eq!(g.get(&b).unwrap().as_slice().unwrap(), &[2.0, 4.0]);
    }

    #[test]
    fn stack_grad_matches_fd() {
        let a = random_array(&[2, 3], 91);
        let b = random_array(&[2, 3], 92);
        for axis in 0..=2 {
            gradcheck(
                |x| Tensor::stack(&[&x[0], &x[1], &x[0]], axis),
                &[a.clone(), b.clone()],
                &GradCheck::default(),
            );
        }
    }

    #[test]
    #[should_panic(expected = "stack: shapes [2] and [3] differ")]
    fn stack_rejects_mismatched_shapes() {
        let _ = Tensor::stack(&[&Tensor::zeros(&[2]), &Tensor::zeros(&[3])], 0);
    }
}

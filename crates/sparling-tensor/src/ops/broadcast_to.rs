//! `broadcast_to`: NumPy broadcasting to an explicit shape, as a contiguous copy.

use ndarray::{ArrayD, IxDyn};

use crate::Tensor;
use crate::kernels::elementwise::to_standard;
use crate::ops::{Backward, GradSink, record};
use crate::shape::{broadcast_shapes, reduce_to_shape};

impl Tensor {
    /// The tensor broadcast to `shape` (leading axes added, length-1 axes repeated). The result
    /// is contiguous.
    ///
    /// # Panics
    /// If the tensor cannot be broadcast to `shape`.
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor {
        crate::shape_check!(
            broadcast_shapes(self.shape(), shape).as_deref() == Some(shape),
            "broadcast_to",
            "shape {:?} cannot be broadcast to {shape:?}",
            self.shape()
        );
        let view = self
            .data()
            .broadcast(IxDyn(shape))
            .expect("checked broadcast");
        let data = to_standard(view);
        record(data, &[self], |_| {
            Box::new(BroadcastToBackward {
                in_shape: self.shape().to_vec(),
            })
        })
    }
}

#[derive(Debug)]
struct BroadcastToBackward {
    in_shape: Vec<usize>,
}

impl Backward for BroadcastToBackward {
    fn name(&self) -> &'static str {
        "broadcast_to"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // Each input element was copied to several outputs: sum their gradients.
        grads.put(0, reduce_to_shape(grad_out, &self.in_shape));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::{arr1, arr2};

    #[test]
    fn broadcast_to_literal() {
        // [1, 2] to (3, 2) = [[1,2],[1,2],[1,2]]; upstream [[1,2],[3,4],[5,6]] sums per column
        // to [9, 12].
        let x = Tensor::param(arr1(&[1.0f32, 2.0]));
        let y = x.broadcast_to(&[3, 2]);
        assert!(y.data().is_standard_layout());
        assert_eq!(
            y.data().as_slice().unwrap(),
            &[1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
        );
        let g = y.backward_with(arr2(&[[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]).into_dyn());
        assert_eq!(g.get(&x).unwrap().as_slice().unwrap(), &[9.0, 12.0]);
    }

    #[test]
    fn broadcast_to_grad_matches_fd() {
        let x = random_array(&[3, 1], 101);
        gradcheck(
            |x| x[0].broadcast_to(&[2, 3, 4]),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        gradcheck(|x| x[0].broadcast_to(&[3, 1]), &[x], &GradCheck::default());
    }

    #[test]
    #[should_panic(expected = "broadcast_to: shape [2, 3] cannot be broadcast to [3]")]
    fn broadcast_to_rejects_shrinking() {
        let _ = Tensor::zeros(&[2, 3]).broadcast_to(&[3]);
    }
}

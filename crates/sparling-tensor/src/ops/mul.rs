//! `mul`: elementwise product with NumPy broadcasting. The backward saves an operand only if
//! the other side needs a gradient.

use std::sync::Arc;

use ndarray::ArrayD;

use crate::Tensor;
use crate::kernels::elementwise::{zip_inplace, zip_map};
use crate::ops::{Backward, GradSink, record};
use crate::shape::{broadcast_or_panic, reduce_to_shape};

impl Tensor {
    /// `self * rhs` elementwise with broadcasting.
    ///
    /// # Panics
    /// If the shapes cannot be broadcast together.
    pub fn mul(&self, rhs: &Tensor) -> Tensor {
        let shape = broadcast_or_panic("mul", self.shape(), rhs.shape());
        let data = mul_fwd(&shape, self.data(), rhs.data());
        record(data, &[self, rhs], |needs| {
            Box::new(MulBackward {
                // d/dlhs needs rhs and d/drhs needs lhs.
                lhs: needs[1].then(|| self.data_arc()),
                rhs: needs[0].then(|| rhs.data_arc()),
                lhs_shape: self.shape().to_vec(),
                rhs_shape: rhs.shape().to_vec(),
            })
        })
    }
}

impl std::ops::Mul for &Tensor {
    type Output = Tensor;
    fn mul(self, rhs: &Tensor) -> Tensor {
        Tensor::mul(self, rhs)
    }
}

fn mul_fwd(shape: &[usize], a: &ArrayD<f32>, b: &ArrayD<f32>) -> ArrayD<f32> {
    zip_map(shape, a, b, |x, y| x * y)
}

#[derive(Debug)]
struct MulBackward {
    /// Saved only if the rhs needs a gradient.
    lhs: Option<Arc<ArrayD<f32>>>,
    /// Saved only if the lhs needs a gradient.
    rhs: Option<Arc<ArrayD<f32>>>,
    lhs_shape: Vec<usize>,
    rhs_shape: Vec<usize>,
}

impl Backward for MulBackward {
    fn name(&self) -> &'static str {
        "mul"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d(a * b)/da = b, d(a * b)/db = a, summed over broadcast axes.
        if grads.needs(1) {
            let lhs = self
                .lhs
                .as_ref()
                .expect("mul: lhs saved when rhs needs a gradient");
            let mut g = grad_out.clone();
            zip_inplace(&mut g, lhs, |g, a| g * a);
            grads.put(1, reduce_to_shape(g, &self.rhs_shape));
        }
        if grads.needs(0) {
            let rhs = self
                .rhs
                .as_ref()
                .expect("mul: rhs saved when lhs needs a gradient");
            let mut g = grad_out;
            zip_inplace(&mut g, rhs, |g, b| g * b);
            grads.put(0, reduce_to_shape(g, &self.lhs_shape));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::{arr1, arr2};

    #[test]
    fn mul_broadcast_literal() {
        // [[1,2],[3,4]] * [10,20] = [[10,40],[30,80]]; with upstream [[1,2],[3,4]]:
        // d/da = upstream * b = [[10,40],[30,80]], d/db = column sums of upstream * a =
        // [1*1 + 3*3, 2*2 + 4*4] = [10, 20].
        let a = Tensor::param(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]));
        let b = Tensor::param(arr1(&[10.0f32, 20.0]));
        let y = &a * &b;
        assert_eq!(y.to_vec(), vec![10.0, 40.0, 30.0, 80.0]);
        let g = y.backward_with(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn());
        assert_eq!(
            g.get(&a).unwrap().as_slice().unwrap(),
            &[10.0, 40.0, 30.0, 80.0]
        );
        assert_eq!(g.get(&b).unwrap().as_slice().unwrap(), &[10.0, 20.0]);
    }

    #[test]
    fn mul_grad_matches_fd() {
        let a = random_array(&[3, 1, 5], 1);
        let b = random_array(&[4, 1], 2);
        gradcheck(|x| &x[0] * &x[1], &[a, b], &GradCheck::default());
        // x * x: both slots are the same input, d/dx = 2x.
        let c = random_array(&[2, 3], 3);
        gradcheck(|x| &x[0] * &x[0], &[c], &GradCheck::default());
    }

    #[test]
    fn mul_saves_only_what_the_other_side_needs() {
        // Only the constant side is saved when only the parameter needs a gradient.
        let w = Tensor::param(arr1(&[1.0f32, 2.0]));
        let c = Tensor::new(arr1(&[3.0f32, 4.0]));
        let y = w.mul(&c);
        let g = y.sum_all().backward();
        assert_eq!(g.get(&w).unwrap().as_slice().unwrap(), &[3.0, 4.0]);
        assert!(g.get(&c).is_none());
        // The parameter's data is not kept alive by the graph: only `w` itself holds it.
        assert_eq!(Arc::strong_count(&w.data_arc()), 2);
    }

    #[test]
    #[should_panic(expected = "mul: shapes [3] and [2] cannot be broadcast")]
    fn mul_rejects_incompatible_shapes() {
        let _ = Tensor::zeros(&[3]).mul(&Tensor::zeros(&[2]));
    }
}

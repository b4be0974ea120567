//! `div`: elementwise quotient with NumPy broadcasting.

use std::sync::Arc;

use ndarray::ArrayD;

use crate::Tensor;
use crate::kernels::elementwise::{zip_inplace, zip_map, zip3_inplace};
use crate::ops::{Backward, GradSink, record};
use crate::shape::{broadcast_or_panic, reduce_to_shape};

impl Tensor {
    /// `self / rhs` elementwise with broadcasting (IEEE semantics: dividing by zero gives an
    /// infinity or NaN).
    ///
    /// # Panics
    /// If the shapes cannot be broadcast together.
    pub fn div(&self, rhs: &Tensor) -> Tensor {
        let shape = broadcast_or_panic("div", self.shape(), rhs.shape());
        let data = div_fwd(&shape, self.data(), rhs.data());
        record(data, &[self, rhs], |needs| {
            Box::new(DivBackward {
                lhs: needs[1].then(|| self.data_arc()),
                rhs: rhs.data_arc(),
                lhs_shape: self.shape().to_vec(),
                rhs_shape: rhs.shape().to_vec(),
            })
        })
    }
}

impl std::ops::Div for &Tensor {
    type Output = Tensor;
    fn div(self, rhs: &Tensor) -> Tensor {
        Tensor::div(self, rhs)
    }
}

fn div_fwd(shape: &[usize], a: &ArrayD<f32>, b: &ArrayD<f32>) -> ArrayD<f32> {
    zip_map(shape, a, b, |x, y| x / y)
}

#[derive(Debug)]
struct DivBackward {
    /// Saved only if the rhs needs a gradient.
    lhs: Option<Arc<ArrayD<f32>>>,
    /// Needed by both sides.
    rhs: Arc<ArrayD<f32>>,
    lhs_shape: Vec<usize>,
    rhs_shape: Vec<usize>,
}

impl Backward for DivBackward {
    fn name(&self) -> &'static str {
        "div"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d(a / b)/da = 1 / b, d(a / b)/db = -a / b^2, summed over broadcast axes.
        if grads.needs(1) {
            let lhs = self
                .lhs
                .as_ref()
                .expect("div: lhs saved when rhs needs a gradient");
            let mut g = grad_out.clone();
            zip3_inplace(&mut g, lhs, &self.rhs, |g, a, b| -g * a / (b * b));
            grads.put(1, reduce_to_shape(g, &self.rhs_shape));
        }
        if grads.needs(0) {
            let mut g = grad_out;
            zip_inplace(&mut g, &self.rhs, |g, b| g / b);
            grads.put(0, reduce_to_shape(g, &self.lhs_shape));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array, random_uniform};
    use ndarray::{arr1, arr2};

    #[test]
    fn div_broadcast_literal() {
        // [[2,4],[6,8]] / [2,4] = [[1,1],[3,2]]; with upstream ones:
        // d/da = 1/b = [[0.5,0.25],[0.5,0.25]],
        // d/db_j = -sum_i a_ij / b_j^2 = [-(2+6)/4, -(4+8)/16] = [-2, -0.75].
        let a = Tensor::param(arr2(&[[2.0f32, 4.0], [6.0, 8.0]]));
        let b = Tensor::param(arr1(&[2.0f32, 4.0]));
        let y = &a / &b;
        assert_eq!(y.to_vec(), vec![1.0, 1.0, 3.0, 2.0]);
        let g = y.sum_all().backward();
        assert_eq!(
            g.get(&a).unwrap().as_slice().unwrap(),
            &[0.5, 0.25, 0.5, 0.25]
        );
        assert_eq!(g.get(&b).unwrap().as_slice().unwrap(), &[-2.0, -0.75]);
    }

    #[test]
    fn div_grad_matches_fd() {
        // Denominators in [0.5, 1.5), away from the pole at 0.
        let a = random_array(&[3, 1, 5], 1);
        let b = random_uniform(&[4, 1], 2, 0.5, 1.5);
        gradcheck(|x| &x[0] / &x[1], &[a, b], &GradCheck::default());
        let c = random_uniform(&[5], 3, 0.5, 1.5);
        let d = random_array(&[2, 5], 4);
        gradcheck(|x| x[1].div(&x[0]), &[c, d], &GradCheck::default());
    }

    #[test]
    #[should_panic(expected = "div: shapes [2, 2] and [3] cannot be broadcast")]
    fn div_rejects_incompatible_shapes() {
        let _ = Tensor::zeros(&[2, 2]).div(&Tensor::zeros(&[3]));
    }
}

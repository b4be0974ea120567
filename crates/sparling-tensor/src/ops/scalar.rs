//! `add_scalar` and `mul_scalar`: a constant `f32` added to or multiplied with every element.

use ndarray::ArrayD;

use crate::Tensor;
use crate::kernels::elementwise::{map, map_inplace};
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// `self + c` elementwise.
    pub fn add_scalar(&self, c: f32) -> Tensor {
        let data = map(self.data(), |x| x + c);
        record(data, &[self], |_| Box::new(ScalarBackward { factor: 1.0 }))
    }

    /// `self * c` elementwise.
    pub fn mul_scalar(&self, c: f32) -> Tensor {
        let data = map(self.data(), |x| x * c);
        record(data, &[self], |_| Box::new(ScalarBackward { factor: c }))
    }
}

/// Both ops have the gradient `factor * grad_out` (1 for `add_scalar`, `c` for `mul_scalar`).
#[derive(Debug)]
struct ScalarBackward {
    factor: f32,
}

impl Backward for ScalarBackward {
    fn name(&self) -> &'static str {
        if self.factor == 1.0 {
            "add_scalar"
        } else {
            "mul_scalar"
        }
    }

    fn backward(&self, mut grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d(x + c)/dx = 1, d(c x)/dx = c.
        if self.factor != 1.0 {
            let c = self.factor;
            map_inplace(&mut grad_out, |g| g * c);
        }
        grads.put(0, grad_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::arr1;

    #[test]
    fn scalar_ops_literal() {
        // 3 * ([1, -2] + 0.5) = [4.5, -4.5]; with upstream [1, 2] the gradient is [3, 6].
        let x = Tensor::param(arr1(&[1.0f32, -2.0]));
        let y = x.add_scalar(0.5).mul_scalar(3.0);
        assert_eq!(y.to_vec(), vec![4.5, -4.5]);
        let g = y.backward_with(arr1(&[1.0f32, 2.0]).into_dyn());
        assert_eq!(g.get(&x).unwrap().as_slice().unwrap(), &[3.0, 6.0]);
    }

    #[test]
    fn scalar_grad_matches_fd() {
        let x = random_array(&[3, 5], 6);
        gradcheck(
            |x| x[0].add_scalar(-0.7),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        gradcheck(|x| x[0].mul_scalar(-2.5), &[x], &GradCheck::default());
    }
}

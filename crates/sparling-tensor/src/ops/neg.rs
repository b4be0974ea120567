//! `neg`: elementwise negation.

use ndarray::ArrayD;

use crate::Tensor;
use crate::kernels::elementwise::{map, map_inplace};
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// `-self` elementwise.
    pub fn neg(&self) -> Tensor {
        let data = map(self.data(), |x| -x);
        record(data, &[self], |_| Box::new(NegBackward))
    }
}

impl std::ops::Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}

/// Needs nothing: the gradient is the negated output gradient.
#[derive(Debug)]
struct NegBackward;

impl Backward for NegBackward {
    fn name(&self) -> &'static str {
        "neg"
    }

    fn backward(&self, mut grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d(-x)/dx = -1.
        map_inplace(&mut grad_out, |g| -g);
        grads.put(0, grad_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::arr1;

    #[test]
    fn neg_literal() {
        // -[1, -2, 0.5] = [-1, 2, -0.5]; with upstream [1, 2, 3] the gradient is [-1, -2, -3].
        let x = Tensor::param(arr1(&[1.0f32, -2.0, 0.5]));
        let y = -&x;
        assert_eq!(y.to_vec(), vec![-1.0, 2.0, -0.5]);
        let g = y.backward_with(arr1(&[1.0f32, 2.0, 3.0]).into_dyn());
        assert_eq!(g.get(&x).unwrap().as_slice().unwrap(), &[-1.0, -2.0, -3.0]);
    }

    #[test]
    fn neg_grad_matches_fd() {
        let x = random_array(&[3, 5], 5);
        gradcheck(|x| x[0].neg(), &[x], &GradCheck::default());
    }
}

//! `sqrt`: elementwise square root. The backward keeps the output (`d sqrt(x)/dx =
//! 1 / (2 sqrt(x))`).

use std::sync::Arc;

use ndarray::ArrayD;

use crate::Tensor;
use crate::kernels::elementwise::{map, zip_inplace};
use crate::ops::{Backward, GradSink, record};
use crate::tape::is_grad_enabled;

impl Tensor {
    /// `sqrt(self)` elementwise (NaN for negative entries; the gradient at 0 is infinite).
    pub fn sqrt(&self) -> Tensor {
        let data = map(self.data(), f32::sqrt);
        // Keep a copy of the output only when a node will be recorded.
        let saved = (is_grad_enabled() && self.requires_grad()).then(|| Arc::new(data.clone()));
        record(data, &[self], move |_| {
            Box::new(SqrtBackward {
                out: saved.expect("output saved when recording"),
            })
        })
    }
}

#[derive(Debug)]
struct SqrtBackward {
    /// The forward output `sqrt(x)`.
    out: Arc<ArrayD<f32>>,
}

impl Backward for SqrtBackward {
    fn name(&self) -> &'static str {
        "sqrt"
    }

    fn backward(&self, mut grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d sqrt(x)/dx = 1 / (2 sqrt(x)) = 0.5 / y.
        zip_inplace(&mut grad_out, &self.out, |g, y| 0.5 * g / y);
        grads.put(0, grad_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_uniform};
    use ndarray::arr1;

    #[test]
    fn sqrt_literal() {
        // sqrt([4, 9, 0.25]) = [2, 3, 0.5]; the gradient of sum(sqrt(x) * [1, 6, 2]) is
        // [1/(2*2), 6/(2*3), 2/(2*0.5)] = [0.25, 1, 2].
        let x = Tensor::param(arr1(&[4.0f32, 9.0, 0.25]));
        let y = x.sqrt();
        assert_eq!(y.to_vec(), vec![2.0, 3.0, 0.5]);
        let g = y.backward_with(arr1(&[1.0f32, 6.0, 2.0]).into_dyn());
        assert_eq!(g.get(&x).unwrap().as_slice().unwrap(), &[0.25, 1.0, 2.0]);
    }

    #[test]
    fn sqrt_grad_matches_fd() {
        let x = random_uniform(&[3, 5], 10, 0.3, 2.0);
        gradcheck(|x| x[0].sqrt(), &[x], &GradCheck::default());
    }
}

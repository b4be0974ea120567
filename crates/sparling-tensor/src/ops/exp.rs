//! `exp`: elementwise `e^x`. The backward keeps the output (`d e^x/dx = e^x`), not the input.

use std::sync::Arc;

use ndarray::ArrayD;

use crate::Tensor;
use crate::kernels::elementwise::{map, zip_inplace};
use crate::ops::{Backward, GradSink, record};
use crate::tape::is_grad_enabled;

impl Tensor {
    /// `e^self` elementwise.
    pub fn exp(&self) -> Tensor {
        let data = map(self.data(), f32::exp);
        // Keep a copy of the output only when a node will be recorded.
        let saved = (is_grad_enabled() && self.requires_grad()).then(|| Arc::new(data.clone()));
        record(data, &[self], move |_| {
            Box::new(ExpBackward {
                out: saved.expect("output saved when recording"),
            })
        })
    }
}

#[derive(Debug)]
struct ExpBackward {
    /// The forward output `e^x`.
    out: Arc<ArrayD<f32>>,
}

impl Backward for ExpBackward {
    fn name(&self) -> &'static str {
        "exp"
    }

    fn backward(&self, mut grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d e^x/dx = e^x.
        zip_inplace(&mut grad_out, &self.out, |g, y| g * y);
        grads.put(0, grad_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::arr1;

    #[test]
    fn exp_literal() {
        // exp([0, 1, -1]) = [1, e, 1/e]; the gradient of sum(exp(x) * [1, 2, 3]) is
        // [1 * 1, 2 * e, 3 / e].
        let x = Tensor::param(arr1(&[0.0f32, 1.0, -1.0]));
        let y = x.exp();
        let e = std::f32::consts::E;
        assert_eq!(y.to_vec(), vec![1.0, e, 1.0 / e]);
        let g = y.backward_with(arr1(&[1.0f32, 2.0, 3.0]).into_dyn());
        let g = g.get(&x).unwrap();
        assert_eq!(g.as_slice().unwrap(), &[1.0, 2.0 * e, 3.0 / e]);
    }

    #[test]
    fn exp_grad_matches_fd() {
        let x = random_array(&[3, 5], 8);
        gradcheck(|x| x[0].exp(), &[x], &GradCheck::default());
    }
}

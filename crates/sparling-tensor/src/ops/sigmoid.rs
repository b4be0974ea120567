//! `sigmoid`: elementwise logistic function `1 / (1 + e^-x)`, computed without overflow. The
//! backward keeps the output (`d s/dx = s (1 - s)`), not the input.

use std::sync::Arc;

use ndarray::ArrayD;

use crate::Tensor;
use crate::kernels::elementwise::{map, zip_inplace};
use crate::ops::{Backward, GradSink, record};
use crate::tape::is_grad_enabled;

impl Tensor {
    /// `1 / (1 + e^-self)` elementwise.
    pub fn sigmoid(&self) -> Tensor {
        let data = map(self.data(), sigmoid_scalar);
        // Keep a copy of the output only when a node will be recorded.
        let saved = (is_grad_enabled() && self.requires_grad()).then(|| Arc::new(data.clone()));
        record(data, &[self], move |_| {
            Box::new(SigmoidBackward {
                out: saved.expect("output saved when recording"),
            })
        })
    }
}

/// The logistic function; never evaluates `e^t` for a positive `t`, so it cannot overflow.
fn sigmoid_scalar(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[derive(Debug)]
struct SigmoidBackward {
    /// The forward output `s = sigmoid(x)`.
    out: Arc<ArrayD<f32>>,
}

impl Backward for SigmoidBackward {
    fn name(&self) -> &'static str {
        "sigmoid"
    }

    fn backward(&self, mut grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d sigmoid(x)/dx = s (1 - s).
        zip_inplace(&mut grad_out, &self.out, |g, s| g * s * (1.0 - s));
        grads.put(0, grad_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, assert_close, gradcheck, random_uniform};
    use ndarray::arr1;

    #[test]
    fn sigmoid_literal() {
        // sigmoid(0) = 0.5 with slope 0.25; sigmoid(ln 3) = 3/4 with slope 3/16;
        // sigmoid(-ln 3) = 1/4 with slope 3/16. Upstream [1, 2, 4] gives [0.25, 0.375, 0.75].
        let l3 = 3.0f32.ln();
        let x = Tensor::param(arr1(&[0.0f32, l3, -l3]));
        let y = x.sigmoid();
        assert_close(y.data(), &arr1(&[0.5f32, 0.75, 0.25]).into_dyn(), 1e-7, 0.0);
        let g = y.backward_with(arr1(&[1.0f32, 2.0, 4.0]).into_dyn());
        assert_close(
            g.get(&x).unwrap(),
            &arr1(&[0.25f32, 0.375, 0.75]).into_dyn(),
            1e-7,
            0.0,
        );
    }

    #[test]
    fn sigmoid_saturates_without_overflow() {
        // e^100 overflows f32; the stable form never evaluates it. sigmoid(-100) = e^-100 /
        // (1 + e^-100) ~ 3.72e-44 (a subnormal), sigmoid(-1000) underflows to 0.
        let y = Tensor::new(arr1(&[-1000.0f32, -100.0, 100.0, 1000.0]))
            .sigmoid()
            .to_vec();
        assert_eq!(y[0], 0.0);
        assert!((y[1] as f64 - (-100.0f64).exp()).abs() < 1e-45, "{}", y[1]);
        assert_eq!(&y[2..], &[1.0, 1.0]);
    }

    #[test]
    fn sigmoid_grad_matches_fd() {
        let x = random_uniform(&[3, 5], 13, -4.0, 4.0);
        gradcheck(|x| x[0].sigmoid(), &[x], &GradCheck::default());
    }
}

//! `tanh`: elementwise hyperbolic tangent. The backward keeps the output (`d tanh/dx =
//! 1 - tanh^2`), not the input.

use std::sync::Arc;

use ndarray::ArrayD;

use crate::Tensor;
use crate::kernels::elementwise::{map, zip_inplace};
use crate::ops::{Backward, GradSink, record};
use crate::tape::is_grad_enabled;

impl Tensor {
    /// `tanh(self)` elementwise.
    pub fn tanh(&self) -> Tensor {
        let data = map(self.data(), f32::tanh);
        // Keep a copy of the output only when a node will be recorded.
        let saved = (is_grad_enabled() && self.requires_grad()).then(|| Arc::new(data.clone()));
        record(data, &[self], move |_| {
            Box::new(TanhBackward {
                out: saved.expect("output saved when recording"),
            })
        })
    }
}

#[derive(Debug)]
struct TanhBackward {
    /// The forward output `t = tanh(x)`.
    out: Arc<ArrayD<f32>>,
}

impl Backward for TanhBackward {
    fn name(&self) -> &'static str {
        "tanh"
    }

    fn backward(&self, mut grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d tanh(x)/dx = 1 - t^2.
        zip_inplace(&mut grad_out, &self.out, |g, t| g * (1.0 - t * t));
        grads.put(0, grad_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, assert_close, gradcheck, random_uniform};
    use ndarray::arr1;

    #[test]
    fn tanh_literal() {
        // tanh(0) = 0 with slope 1; tanh(ln 3) = (9 - 1)/(9 + 1) = 0.8 with slope 1 - 0.64 =
        // 0.36; tanh is odd, so tanh(-ln 3) = -0.8 with the same slope. Upstream [1, 2, 3].
        let l3 = 3.0f32.ln();
        let x = Tensor::param(arr1(&[0.0f32, l3, -l3]));
        let y = x.tanh();
        assert_close(y.data(), &arr1(&[0.0f32, 0.8, -0.8]).into_dyn(), 1e-6, 0.0);
        let g = y.backward_with(arr1(&[1.0f32, 2.0, 3.0]).into_dyn());
        assert_close(
            g.get(&x).unwrap(),
            &arr1(&[1.0f32, 0.72, 1.08]).into_dyn(),
            1e-6,
            0.0,
        );
    }

    #[test]
    fn tanh_grad_matches_fd() {
        let x = random_uniform(&[3, 5], 14, -2.5, 2.5);
        gradcheck(|x| x[0].tanh(), &[x], &GradCheck::default());
    }
}

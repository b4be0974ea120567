//! `log`: elementwise natural logarithm.

use std::sync::Arc;

use ndarray::ArrayD;

use crate::Tensor;
use crate::kernels::elementwise::{map, zip_inplace};
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// `ln(self)` elementwise (IEEE semantics: `ln 0 = -inf`, `ln` of a negative is NaN).
    pub fn log(&self) -> Tensor {
        let data = map(self.data(), f32::ln);
        record(data, &[self], |_| {
            Box::new(LogBackward {
                input: self.data_arc(),
            })
        })
    }
}

#[derive(Debug)]
struct LogBackward {
    input: Arc<ArrayD<f32>>,
}

impl Backward for LogBackward {
    fn name(&self) -> &'static str {
        "log"
    }

    fn backward(&self, mut grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d ln x/dx = 1 / x.
        zip_inplace(&mut grad_out, &self.input, |g, x| g / x);
        grads.put(0, grad_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_uniform};
    use ndarray::arr1;

    #[test]
    fn log_literal() {
        // ln([1, 4, 0.5]) = [0, ln 4, -ln 2]; the gradient of sum(ln(x) * [1, 2, 3]) is
        // [1/1, 2/4, 3/0.5] = [1, 0.5, 6].
        let x = Tensor::param(arr1(&[1.0f32, 4.0, 0.5]));
        let y = x.log();
        assert_eq!(y.to_vec(), vec![0.0, 4.0f32.ln(), -(2.0f32.ln())]);
        let g = y.backward_with(arr1(&[1.0f32, 2.0, 3.0]).into_dyn());
        assert_eq!(g.get(&x).unwrap().as_slice().unwrap(), &[1.0, 0.5, 6.0]);
    }

    #[test]
    fn log_grad_matches_fd() {
        let x = random_uniform(&[3, 5], 9, 0.5, 2.0);
        gradcheck(|x| x[0].log(), &[x], &GradCheck::default());
    }
}

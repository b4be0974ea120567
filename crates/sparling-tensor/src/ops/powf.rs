//! `powf`: elementwise power `x^p` with a constant real exponent.

use std::sync::Arc;

use ndarray::ArrayD;

use crate::Tensor;
use crate::kernels::elementwise::{map, zip_inplace};
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// `self^p` elementwise, as [`f32::powf`] (NaN for a negative base and a non-integer `p`).
    pub fn powf(&self, p: f32) -> Tensor {
        let data = map(self.data(), |x| x.powf(p));
        record(data, &[self], |_| {
            Box::new(PowfBackward {
                input: self.data_arc(),
                p,
            })
        })
    }
}

#[derive(Debug)]
struct PowfBackward {
    input: Arc<ArrayD<f32>>,
    p: f32,
}

impl Backward for PowfBackward {
    fn name(&self) -> &'static str {
        "powf"
    }

    fn backward(&self, mut grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d x^p/dx = p x^(p-1); for p = 0 it is 0 everywhere (also at x = 0).
        let p = self.p;
        if p == 0.0 {
            grad_out.fill(0.0);
        } else {
            zip_inplace(&mut grad_out, &self.input, |g, x| g * p * x.powf(p - 1.0));
        }
        grads.put(0, grad_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array, random_uniform};
    use ndarray::arr1;

    #[test]
    fn powf_literal() {
        // [2, 3, -1]^2 = [4, 9, 1]; the gradient of sum(x^2 * [1, 1, 2]) is 2x * [1, 1, 2] =
        // [4, 6, -4]. [4]^0.5 = 2 with gradient 0.5 * 4^-0.5 = 0.25.
        let x = Tensor::param(arr1(&[2.0f32, 3.0, -1.0]));
        let y = x.powf(2.0);
        assert_eq!(y.to_vec(), vec![4.0, 9.0, 1.0]);
        let g = y.backward_with(arr1(&[1.0f32, 1.0, 2.0]).into_dyn());
        assert_eq!(g.get(&x).unwrap().as_slice().unwrap(), &[4.0, 6.0, -4.0]);
        let z = Tensor::param(arr1(&[4.0f32]));
        let g = z.powf(0.5).sum_all().backward();
        assert_eq!(g.get(&z).unwrap().as_slice().unwrap(), &[0.25]);
        let g = z.powf(0.0).sum_all().backward();
        assert_eq!(g.get(&z).unwrap().as_slice().unwrap(), &[0.0]);
    }

    #[test]
    fn powf_grad_matches_fd() {
        let pos = random_uniform(&[3, 5], 11, 0.5, 2.0);
        gradcheck(
            |x| x[0].powf(1.7),
            std::slice::from_ref(&pos),
            &GradCheck::default(),
        );
        gradcheck(|x| x[0].powf(-0.5), &[pos], &GradCheck::default());
        // Integer exponents are defined for negative bases too.
        let any = random_array(&[2, 3], 12);
        gradcheck(|x| x[0].powf(3.0), &[any], &GradCheck::default());
    }
}

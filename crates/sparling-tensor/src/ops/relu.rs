//! `relu`: `max(x, 0)`. The backward keeps a compact mask of the positive entries, not the
//! input (dfdx's "keep only what the backward needs").

use ndarray::{ArrayD, Zip};

use crate::Tensor;
use crate::kernels::par::MIN_PAR_ELEMS;
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// `max(self, 0)` elementwise. The gradient at exactly 0 is taken as 0.
    pub fn relu(&self) -> Tensor {
        let mut data = self.data().clone();
        if data.len() >= MIN_PAR_ELEMS {
            Zip::from(&mut data).par_for_each(|v| *v = v.max(0.0));
        } else {
            data.mapv_inplace(|v| v.max(0.0));
        }
        record(data.clone(), &[self], |_| {
            Box::new(ReluBackward {
                mask: self.data().iter().map(|&v| v > 0.0).collect(),
            })
        })
    }
}

#[derive(Debug)]
struct ReluBackward {
    /// One byte per element: the input was strictly positive.
    mask: Vec<bool>,
}

impl Backward for ReluBackward {
    fn name(&self) -> &'static str {
        "relu"
    }

    fn backward(&self, mut grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d relu(x)/dx = 1 if x > 0 else 0.
        let g = grad_out.as_slice_mut().expect("gradients are in standard layout");
        for (v, &m) in g.iter_mut().zip(&self.mask) {
            if !m {
                *v = 0.0;
            }
        }
        grads.put(0, grad_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array_away_from};
    use ndarray::arr1;

    #[test]
    fn relu_literal() {
        // relu([-1, 0, 2]) = [0, 0, 2]; gradient of sum(3 * relu) = [0, 0, 3].
        let x = Tensor::param(arr1(&[-1.0f32, 0.0, 2.0]));
        let y = x.relu();
        assert_eq!(y.to_vec(), vec![0.0, 0.0, 2.0]);
        let g = y.backward_with(arr1(&[3.0f32, 3.0, 3.0]).into_dyn());
        assert_eq!(g.get(&x).unwrap().as_slice().unwrap(), &[0.0, 0.0, 3.0]);
    }

    #[test]
    fn relu_grad_matches_fd() {
        let x = random_array_away_from(&[3, 5], 7, &[0.0], 0.05);
        gradcheck(|x| x[0].relu(), &[x], &GradCheck::default());
    }
}

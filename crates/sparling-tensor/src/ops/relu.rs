//! `relu`: `max(x, 0)`. The backward keeps a compact mask of the positive entries, not the
//! input (dfdx's "keep only what the backward needs").

use ndarray::ArrayD;
use rayon::prelude::*;

use crate::Tensor;
use crate::kernels::elementwise::map;
use crate::kernels::par::{CHUNK, MIN_PAR_ELEMS};
use crate::ops::{Backward, GradSink, record};
use crate::tape::is_grad_enabled;

impl Tensor {
    /// `max(self, 0)` elementwise. The gradient at exactly 0 is taken as 0.
    pub fn relu(&self) -> Tensor {
        let out = map(self.data(), |v| v.max(0.0));
        // out > 0 exactly where the input is > 0: the mask is taken from the output, and only
        // when a node will be recorded.
        let mask = (is_grad_enabled() && self.requires_grad()).then(|| positive_mask(&out));
        record(out, &[self], |_| {
            Box::new(ReluBackward {
                mask: mask.expect("mask is computed whenever a node is recorded"),
            })
        })
    }
}

/// One byte per element: 1 where `x > 0`.
fn positive_mask(x: &ArrayD<f32>) -> Vec<u8> {
    let x = x.as_slice().expect("map returns standard layout");
    let mut mask = vec![0u8; x.len()];
    let fill = |(m, v): (&mut [u8], &[f32])| {
        for (m, &v) in m.iter_mut().zip(v) {
            *m = (v > 0.0) as u8;
        }
    };
    if x.len() >= MIN_PAR_ELEMS {
        mask.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(fill);
    } else {
        mask.chunks_mut(CHUNK).zip(x.chunks(CHUNK)).for_each(fill);
    }
    mask
}

#[derive(Debug)]
struct ReluBackward {
    /// One byte per element: the input was strictly positive.
    mask: Vec<u8>,
}

impl Backward for ReluBackward {
    fn name(&self) -> &'static str {
        "relu"
    }

    fn backward(&self, mut grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d relu(x)/dx = 1 if x > 0 else 0.
        let g = grad_out
            .as_slice_mut()
            .expect("gradients are in standard layout");
        let apply = |(g, m): (&mut [f32], &[u8])| {
            for (g, &m) in g.iter_mut().zip(m) {
                *g = if m != 0 { *g } else { 0.0 };
            }
        };
        if g.len() >= MIN_PAR_ELEMS {
            g.par_chunks_mut(CHUNK)
                .zip(self.mask.par_chunks(CHUNK))
                .for_each(apply);
        } else {
            g.chunks_mut(CHUNK)
                .zip(self.mask.chunks(CHUNK))
                .for_each(apply);
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

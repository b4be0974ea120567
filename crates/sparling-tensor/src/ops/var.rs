//! `var`: population variance (divide by `n`) over chosen axes, by two passes in `f64` (mean,
//! then mean squared deviation) with a fixed summation order.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use crate::Tensor;
use crate::kernels::elementwise::zip3_inplace;
use crate::kernels::par::{CHUNK, MIN_PAR_ELEMS};
use crate::ops::mean::{group_len, mean_f64, reduce_groups};
use crate::ops::sum::{checked_axes, keepdim_shape};
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// The population variance `mean((x - mean(x))^2)` over `axes` (any order, no repeats);
    /// `keepdim` keeps them with length 1.
    ///
    /// # Panics
    /// If an axis is out of range or repeated.
    pub fn var(&self, axes: &[usize], keepdim: bool) -> Tensor {
        let axes = checked_axes("var", axes, self.ndim());
        let kept = keepdim_shape(self.shape(), &axes);
        let count = group_len(self.shape(), &axes);
        let data = reduce_groups(self.data(), &axes, |g| var_f64(g) as f32);
        let data = if keepdim {
            data.into_shape_with_order(IxDyn(&kept))
                .expect("keepdim reshape")
        } else {
            data
        };
        record(data, &[self], |_| {
            let mean = reduce_groups(self.data(), &axes, |g| mean_f64(g) as f32)
                .into_shape_with_order(IxDyn(&kept))
                .expect("keepdim reshape");
            Box::new(VarBackward {
                input: self.data_arc(),
                mean,
                kept,
                count,
            })
        })
    }
}

/// Population variance of a slice in `f64`: mean, then the mean squared deviation, both summed
/// over fixed chunks combined in order.
fn var_f64(g: &[f32]) -> f64 {
    let m = mean_f64(g);
    let sq = |c: &[f32]| {
        c.iter()
            .map(|&v| {
                let d = v as f64 - m;
                d * d
            })
            .sum::<f64>()
    };
    let total: f64 = if g.len() >= MIN_PAR_ELEMS {
        let partials: Vec<f64> = g.par_chunks(CHUNK).map(sq).collect();
        partials.iter().sum()
    } else {
        g.chunks(CHUNK).map(sq).sum()
    };
    total / g.len() as f64
}

#[derive(Debug)]
struct VarBackward {
    input: Arc<ArrayD<f32>>,
    /// The mean over the reduced axes, in keepdim shape.
    mean: ArrayD<f32>,
    /// The output shape with keepdim.
    kept: Vec<usize>,
    count: usize,
}

impl Backward for VarBackward {
    fn name(&self) -> &'static str {
        "var"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d var / dx_i = 2 (x_i - mean) / n (the mean's own dependence on x_i sums to zero).
        let scale = 2.0 / self.count as f32;
        let g = grad_out
            .into_shape_with_order(IxDyn(&self.kept))
            .expect("var backward reshape");
        let mut out = (*self.input).clone();
        zip3_inplace(&mut out, &self.mean, &g, |x, m, g| g * scale * (x - m));
        grads.put(0, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, assert_close, gradcheck, random_array, with_threads};
    use ndarray::{arr1, arr2};

    #[test]
    fn var_literal() {
        // Rows [1, 2, 3, 6] and [2, 2, 2, 2]: means 3 and 2, population variances
        // (4 + 1 + 0 + 9)/4 = 3.5 and 0. Upstream [1, 2]: gradient row i is
        // g_i * 2 (x - mean_i) / 4 = [-1, -0.5, 0, 1.5] and zeros.
        let x = Tensor::param(arr2(&[[1.0f32, 2.0, 3.0, 6.0], [2.0, 2.0, 2.0, 2.0]]));
        let y = x.var(&[1], false);
        assert_eq!(y.to_vec(), vec![3.5, 0.0]);
        assert_eq!(x.var(&[1], true).shape(), &[2, 1]);
        let g = y.backward_with(arr1(&[1.0f32, 2.0]).into_dyn());
        assert_eq!(
            g.get(&x).unwrap().as_slice().unwrap(),
            &[-1.0, -0.5, 0.0, 1.5, 0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn var_matches_naive_on_random_axes() {
        let x = random_array(&[3, 4, 5], 31);
        for axes in [vec![0], vec![2, 1], vec![0, 1, 2]] {
            let got = Tensor::new(x.clone()).var(&axes, true);
            let mut mean = x.clone();
            for &a in &axes {
                mean = mean
                    .mean_axis(ndarray::Axis(a))
                    .unwrap()
                    .insert_axis(ndarray::Axis(a));
            }
            let mut sq = (&x - &mean).mapv(|d| d * d);
            for &a in &axes {
                sq = sq
                    .mean_axis(ndarray::Axis(a))
                    .unwrap()
                    .insert_axis(ndarray::Axis(a));
            }
            assert_close(got.data(), &sq, 1e-6, 1e-5);
        }
    }

    #[test]
    fn var_is_accurate_with_a_large_offset() {
        // Two-pass f64: values 1e4 + {0, 1, 2} have variance 2/3 exactly.
        let x = Tensor::new(arr1(&[1.0e4f32, 1.0e4 + 1.0, 1.0e4 + 2.0]));
        assert!((x.var(&[0], false).item() - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn var_grad_matches_fd() {
        let x = random_array(&[3, 4, 5], 32);
        gradcheck(
            |x| x[0].var(&[2, 0], false),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        gradcheck(|x| x[0].var(&[1], true), &[x], &GradCheck::default());
    }

    #[test]
    fn var_is_thread_count_independent() {
        let x = Tensor::new(random_array(&[40, 1030], 33));
        for axes in [vec![1], vec![0, 1]] {
            let one = with_threads(1, || x.var(&axes, false).to_vec());
            let many = with_threads(4, || x.var(&axes, false).to_vec());
            assert_eq!(one, many);
        }
    }
}

//! `softmax` and `log_softmax` along any axis, numerically stable (the lane maximum is
//! subtracted before exponentiating; sums are accumulated in f64).
//!
//! Both backward states keep the op's *output* only (dfdx's "uses f(x)"):
//! * softmax `y`: `dx = y * (g - sum(g * y))`;
//! * log-softmax `l`: `dx = g - exp(l) * sum(g)`,
//!
//! with the sums taken along the axis.

use ndarray::{ArrayD, ArrayViewMut1, Axis, Zip};

use crate::Tensor;
use crate::kernels::par::MIN_PAR_ELEMS;
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// `exp(x) / sum(exp(x))` along `axis`.
    ///
    /// # Panics
    /// If `axis` is out of range.
    pub fn softmax(&self, axis: usize) -> Tensor {
        check_axis("softmax", axis, self.shape());
        let data = softmax_fwd(self.data(), axis, false);
        record(data.clone(), &[self], |_| {
            Box::new(SoftmaxBackward { output: data, axis })
        })
    }

    /// `x - log(sum(exp(x)))` along `axis`: the logarithm of [`Tensor::softmax`], computed
    /// without forming the softmax (stable for very negative log-probabilities).
    ///
    /// # Panics
    /// If `axis` is out of range.
    pub fn log_softmax(&self, axis: usize) -> Tensor {
        check_axis("log_softmax", axis, self.shape());
        let data = softmax_fwd(self.data(), axis, true);
        record(data.clone(), &[self], |_| {
            Box::new(LogSoftmaxBackward { output: data, axis })
        })
    }
}

fn check_axis(op: &str, axis: usize, shape: &[usize]) {
    crate::shape_check!(
        axis < shape.len(),
        op,
        "axis {axis} out of range for shape {shape:?}"
    );
}

/// Runs `f` on every lane of `a` along `axis`, in parallel when the array is large (each lane
/// is processed by exactly one task, so the result does not depend on the thread count).
fn for_each_lane(a: &mut ArrayD<f32>, axis: usize, f: impl Fn(ArrayViewMut1<f32>) + Sync + Send) {
    let big = a.len() >= MIN_PAR_ELEMS;
    let lanes = Zip::from(a.lanes_mut(Axis(axis)));
    if big {
        lanes.par_for_each(f);
    } else {
        lanes.for_each(f);
    }
}

/// Softmax (or log-softmax when `log`) of `x` along `axis` into a new array.
pub(crate) fn softmax_fwd(x: &ArrayD<f32>, axis: usize, log: bool) -> ArrayD<f32> {
    let mut out = x.as_standard_layout().into_owned();
    if out.is_empty() {
        return out;
    }
    for_each_lane(&mut out, axis, |mut lane| {
        let max = lane.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        // A lane without a finite maximum (all -inf) is shifted by 0 rather than by -inf.
        let shift = if max.is_finite() { max } else { 0.0 };
        if log {
            let sum: f64 = lane.iter().map(|&v| ((v - shift) as f64).exp()).sum();
            // (x - max) - ln(sum) keeps the precision of the shifted values.
            let ln_sum = sum.ln() as f32;
            lane.mapv_inplace(|v| (v - shift) - ln_sum);
        } else {
            let mut sum = 0.0f64;
            lane.mapv_inplace(|v| {
                let e = (v - shift).exp();
                sum += e as f64;
                e
            });
            let inv = (1.0 / sum) as f32;
            lane.mapv_inplace(|v| v * inv);
        }
    });
    out
}

#[derive(Debug)]
struct SoftmaxBackward {
    output: ArrayD<f32>,
    axis: usize,
}

impl Backward for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "softmax"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // y = softmax(x): dy_i/dx_j = y_i (delta_ij - y_j), so dx = y * (g - sum(g * y)).
        let mut g = grad_out.as_standard_layout().into_owned();
        let lanes = Zip::from(g.lanes_mut(Axis(self.axis))).and(self.output.lanes(Axis(self.axis)));
        let f = |mut g: ArrayViewMut1<f32>, y: ndarray::ArrayView1<f32>| {
            let dot: f64 = g
                .iter()
                .zip(y.iter())
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum();
            let dot = dot as f32;
            Zip::from(&mut g)
                .and(&y)
                .for_each(|g, &y| *g = y * (*g - dot));
        };
        if self.output.len() >= MIN_PAR_ELEMS {
            lanes.par_for_each(f);
        } else {
            lanes.for_each(f);
        }
        grads.put(0, g);
    }
}

#[derive(Debug)]
struct LogSoftmaxBackward {
    output: ArrayD<f32>,
    axis: usize,
}

impl Backward for LogSoftmaxBackward {
    fn name(&self) -> &'static str {
        "log_softmax"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // l = x - lse(x): dl_i/dx_j = delta_ij - softmax_j, so dx = g - exp(l) * sum(g).
        let mut g = grad_out.as_standard_layout().into_owned();
        let lanes = Zip::from(g.lanes_mut(Axis(self.axis))).and(self.output.lanes(Axis(self.axis)));
        let f = |mut g: ArrayViewMut1<f32>, l: ndarray::ArrayView1<f32>| {
            let total: f64 = g.iter().map(|&a| a as f64).sum();
            let total = total as f32;
            Zip::from(&mut g)
                .and(&l)
                .for_each(|g, &l| *g -= l.exp() * total);
        };
        if self.output.len() >= MIN_PAR_ELEMS {
            lanes.par_for_each(f);
        } else {
            lanes.for_each(f);
        }
        grads.put(0, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, assert_close, gradcheck, random_array, with_threads};
    use ndarray::{Dimension, IxDyn, arr1, arr2};

    /// Naive reference: softmax along `axis` by explicit index loops, in f64.
    fn naive_softmax(x: &ArrayD<f32>, axis: usize, log: bool) -> ArrayD<f32> {
        let mut out = x.clone();
        let n = x.shape()[axis];
        for mut idx in ndarray::indices(x.shape())
            .into_iter()
            .map(|i| i.slice().to_vec())
        {
            let pos = idx[axis];
            let vals: Vec<f64> = (0..n)
                .map(|k| {
                    idx[axis] = k;
                    x[IxDyn(&idx)] as f64
                })
                .collect();
            idx[axis] = pos;
            let m = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = vals.iter().map(|v| (v - m).exp()).sum();
            let v = x[IxDyn(&idx)] as f64;
            out[IxDyn(&idx)] = if log {
                (v - m - s.ln()) as f32
            } else {
                ((v - m).exp() / s) as f32
            };
        }
        out
    }

    #[test]
    fn softmax_literal() {
        // softmax([0, ln 3]) = [1/4, 3/4]; log_softmax = [ln(1/4), ln(3/4)].
        let x = Tensor::param(arr1(&[0.0f32, 3.0f32.ln()]));
        let y = x.softmax(0);
        assert_close(&y.to_array(), &arr1(&[0.25f32, 0.75]).into_dyn(), 1e-6, 0.0);
        // With upstream g = [1, 0]: dx = y * (g - y.g) = [1/4 * 3/4, 3/4 * (-1/4)] = [3/16, -3/16].
        let g = y.backward_with(arr1(&[1.0f32, 0.0]).into_dyn());
        assert_close(
            g.get(&x).unwrap(),
            &arr1(&[0.1875f32, -0.1875]).into_dyn(),
            1e-6,
            0.0,
        );

        let l = x.log_softmax(0);
        let expect = arr1(&[0.25f32.ln(), 0.75f32.ln()]).into_dyn();
        assert_close(&l.to_array(), &expect, 1e-6, 0.0);
        // With g = [1, 2]: dx = g - softmax * sum(g) = [1 - 3/4, 2 - 9/4] = [1/4, -1/4].
        let g = l.backward_with(arr1(&[1.0f32, 2.0]).into_dyn());
        assert_close(
            g.get(&x).unwrap(),
            &arr1(&[0.25f32, -0.25]).into_dyn(),
            1e-6,
            0.0,
        );
    }

    #[test]
    fn softmax_is_stable_for_large_logits() {
        let x = Tensor::new(arr2(&[[1000.0f32, 1000.0], [-1000.0, 0.0]]));
        let y = x.softmax(1);
        assert_close(
            &y.to_array(),
            &arr2(&[[0.5f32, 0.5], [0.0, 1.0]]).into_dyn(),
            1e-6,
            0.0,
        );
        let l = x.log_softmax(1);
        assert!(l.to_vec().iter().all(|v| v.is_finite()));
        assert_close(
            &l.to_array(),
            &arr2(&[[-2f32.ln(), -2f32.ln()], [-1000.0, 0.0]]).into_dyn(),
            1e-5,
            0.0,
        );
    }

    #[test]
    fn softmax_matches_naive_on_every_axis() {
        for (seed, shape) in [
            (1u64, vec![3usize, 4, 5]),
            (2, vec![1, 7]),
            (3, vec![2, 1, 3, 2]),
        ] {
            let mut x = random_array(&shape, seed).mapv(|v| 4.0 * v);
            // ties: make the first two entries equal
            let s = x.as_slice_mut().unwrap();
            if s.len() > 1 {
                s[1] = s[0];
            }
            for axis in 0..shape.len() {
                let t = Tensor::new(x.clone());
                assert_close(
                    &t.softmax(axis).to_array(),
                    &naive_softmax(&x, axis, false),
                    1e-6,
                    1e-5,
                );
                assert_close(
                    &t.log_softmax(axis).to_array(),
                    &naive_softmax(&x, axis, true),
                    1e-5,
                    1e-5,
                );
            }
        }
    }

    #[test]
    fn softmax_grad_matches_fd() {
        let x = random_array(&[3, 4, 5], 11).mapv(|v| 2.0 * v);
        for axis in 0..3 {
            gradcheck(
                |t| t[0].softmax(axis),
                std::slice::from_ref(&x),
                &GradCheck::default(),
            );
            gradcheck(
                |t| t[0].log_softmax(axis),
                std::slice::from_ref(&x),
                &GradCheck::default(),
            );
        }
    }

    #[test]
    fn softmax_thread_count_independent() {
        let x = random_array(&[64, 9, 70], 5);
        let run = || {
            let t = Tensor::param(x.clone());
            let y = t.softmax(1);
            let l = t.log_softmax(2);
            let proj = random_array(&[64, 9, 70], 6);
            let g1 = y.backward_with(proj.clone());
            let g2 = l.backward_with(proj);
            (
                y.to_vec(),
                l.to_vec(),
                g1.get(&t).unwrap().clone(),
                g2.get(&t).unwrap().clone(),
            )
        };
        let a = with_threads(1, run);
        let b = with_threads(4, run);
        assert_eq!(a, b);
    }

    #[test]
    #[should_panic(expected = "softmax: axis 2 out of range for shape [2, 3]")]
    fn softmax_rejects_bad_axis() {
        let _ = Tensor::zeros(&[2, 3]).softmax(2);
    }
}

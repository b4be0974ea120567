//! `cross_entropy`: the mean negative log-likelihood of integer targets under a row-wise
//! softmax of logits, with an optional ignored (padding) target, fused with its log-softmax.
//!
//! The backward keeps the logits (a shared handle, no copy) and each row's log-sum-exp, and
//! recomputes `softmax = exp(logit - lse)` to form `(softmax - onehot) / count`.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use crate::Tensor;
use crate::kernels::par::MIN_PAR_ELEMS;
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// Cross-entropy of logits `(N, V)` against `targets` (length `N`, values in `0..V`):
    /// the mean over the rows whose target is not `ignore_index` of `-log_softmax(row)[target]`,
    /// as a 0-dimensional tensor. Ignored rows contribute neither to the sum nor to the count
    /// (nor to the gradient); if every row is ignored the loss is 0 with a zero gradient.
    ///
    /// # Panics
    /// If the logits are not 2-D, `targets.len() != N`, or a target that is not the ignore
    /// index is `>= V`.
    pub fn cross_entropy(&self, targets: &[usize], ignore_index: Option<usize>) -> Tensor {
        let shape = self.shape();
        crate::shape_check!(
            shape.len() == 2,
            "cross_entropy",
            "logits must be (N, V), got shape {shape:?}"
        );
        let (n, v) = (shape[0], shape[1]);
        crate::shape_check!(
            targets.len() == n,
            "cross_entropy",
            "{} targets for logits of shape {shape:?}",
            targets.len()
        );
        for (i, &t) in targets.iter().enumerate() {
            crate::shape_check!(
                Some(t) == ignore_index || t < v,
                "cross_entropy",
                "target {t} of row {i} is out of range for {v} classes (logits {shape:?})"
            );
        }
        let logits = match self.data().is_standard_layout() {
            true => self.data_arc(),
            false => Arc::new(self.data().as_standard_layout().into_owned()),
        };
        let x = logits.as_slice().expect("standard layout");
        let lse = row_lse(x, n, v);
        let mut total = 0.0f64;
        let mut count = 0usize;
        for (i, &t) in targets.iter().enumerate() {
            if Some(t) != ignore_index {
                total += lse[i] - x[i * v + t] as f64;
                count += 1;
            }
        }
        let loss = if count == 0 {
            0.0
        } else {
            (total / count as f64) as f32
        };
        record(ndarray::arr0(loss).into_dyn(), &[self], |_| {
            Box::new(CrossEntropyBackward {
                logits,
                lse,
                targets: targets
                    .iter()
                    .map(|&t| {
                        if Some(t) == ignore_index {
                            None
                        } else {
                            Some(t)
                        }
                    })
                    .collect(),
                count,
            })
        })
    }
}

/// Log-sum-exp of each length-`v` row of `x` (max-shifted, f64). One task per row.
fn row_lse(x: &[f32], n: usize, v: usize) -> Vec<f64> {
    let lse = |row: &[f32]| {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let m = if m.is_finite() { m } else { 0.0 } as f64;
        m + row.iter().map(|&a| (a as f64 - m).exp()).sum::<f64>().ln()
    };
    if v == 0 {
        return vec![f64::NEG_INFINITY; n];
    }
    if x.len() >= MIN_PAR_ELEMS {
        x.par_chunks(v).map(lse).collect()
    } else {
        x.chunks(v).map(lse).collect()
    }
}

#[derive(Debug)]
struct CrossEntropyBackward {
    logits: Arc<ArrayD<f32>>,
    /// Log-sum-exp of each row.
    lse: Vec<f64>,
    /// Target of each row, `None` where ignored.
    targets: Vec<Option<usize>>,
    /// Number of rows not ignored.
    count: usize,
}

impl Backward for CrossEntropyBackward {
    fn name(&self) -> &'static str {
        "cross_entropy"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // loss = (1/count) sum_i (lse_i - x_{i,t_i}):
        //   dloss/dx_ij = (softmax_ij - [j == t_i]) / count, 0 on ignored rows.
        let g = grad_out.iter().next().copied().unwrap_or(0.0);
        let shape = self.logits.shape();
        let v = shape[1];
        let x = self.logits.as_slice().expect("standard layout");
        let mut dx = vec![0.0f32; x.len()];
        if self.count > 0 && v > 0 {
            let scale = g as f64 / self.count as f64;
            let body = |(i, (d, row)): (usize, (&mut [f32], &[f32]))| {
                let Some(t) = self.targets[i] else { return };
                let lse = self.lse[i];
                for (d, &a) in d.iter_mut().zip(row) {
                    *d = ((a as f64 - lse).exp() * scale) as f32;
                }
                d[t] -= scale as f32;
            };
            if x.len() >= MIN_PAR_ELEMS {
                dx.par_chunks_mut(v)
                    .zip(x.par_chunks(v))
                    .enumerate()
                    .for_each(body);
            } else {
                dx.chunks_mut(v).zip(x.chunks(v)).enumerate().for_each(body);
            }
        }
        let dx = ArrayD::from_shape_vec(IxDyn(shape), dx).expect("cross_entropy gradient");
        grads.put(0, dx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, assert_close, gradcheck, random_array, with_threads};
    use ndarray::{arr0, arr2};

    #[test]
    fn cross_entropy_literal() {
        // Row 0: logits [0, ln 3], target 1: softmax [1/4, 3/4], loss -ln(3/4).
        // Row 1: logits [0, 0], target 0: softmax [1/2, 1/2], loss ln 2.
        // Row 2: ignored (target 7 = ignore index). Mean over 2 rows.
        let x = Tensor::param(arr2(&[[0.0f32, 3.0f32.ln()], [0.0, 0.0], [5.0, -5.0]]));
        let y = x.cross_entropy(&[1, 0, 7], Some(7));
        let expect = (-(0.75f64.ln()) + 2f64.ln()) / 2.0;
        assert!((y.item() as f64 - expect).abs() < 1e-6, "{}", y.item());
        // Upstream 3: dx = 3 * (softmax - onehot) / 2 = 1.5 * [[1/4, -1/4], [-1/2, 1/2], [0, 0]].
        let g = y.backward_with(arr0(3.0f32).into_dyn());
        let want = arr2(&[[0.375f32, -0.375], [-0.75, 0.75], [0.0, 0.0]]).into_dyn();
        assert_close(g.get(&x).unwrap(), &want, 1e-6, 0.0);
    }

    #[test]
    fn cross_entropy_all_ignored_is_zero() {
        let x = Tensor::param(random_array(&[3, 4], 1));
        let y = x.cross_entropy(&[2, 2, 2], Some(2));
        assert_eq!(y.item(), 0.0);
        let g = y.backward();
        assert!(g.get(&x).unwrap().iter().all(|&v| v == 0.0));
    }

    #[test]
    fn cross_entropy_matches_naive_and_is_stable() {
        let x = random_array(&[6, 5], 3).mapv(|v| 50.0 * v);
        let targets = [0usize, 4, 2, 2, 1, 3];
        let y = Tensor::new(x.clone()).cross_entropy(&targets, Some(1));
        let mut total = 0.0f64;
        let mut count = 0;
        for (i, &t) in targets.iter().enumerate() {
            if t == 1 {
                continue;
            }
            let row: Vec<f64> = (0..5).map(|j| x[[i, j]] as f64).collect();
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            total += lse - row[t];
            count += 1;
        }
        let want = (total / count as f64) as f32;
        assert!(
            (y.item() - want).abs() <= 1e-5 * want.abs().max(1.0),
            "{} vs {want}",
            y.item()
        );
        let big = Tensor::new(arr2(&[[1e4f32, -1e4]]));
        assert!(big.cross_entropy(&[1], None).item().is_finite());
    }

    #[test]
    fn cross_entropy_grad_matches_fd() {
        let x = random_array(&[4, 5], 5).mapv(|v| 2.0 * v);
        gradcheck(
            |t| t[0].cross_entropy(&[3, 0, 4, 1], None),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        gradcheck(
            |t| t[0].cross_entropy(&[3, 9, 4, 9], Some(9)),
            &[x],
            &GradCheck::default(),
        );
    }

    #[test]
    fn cross_entropy_thread_count_independent() {
        let x = random_array(&[200, 300], 7);
        let targets: Vec<usize> = (0..200).map(|i| (i * 37) % 300).collect();
        let run = || {
            let t = Tensor::param(x.clone());
            let y = t.cross_entropy(&targets, Some(0));
            let g = y.backward();
            (y.item().to_bits(), g.get(&t).unwrap().clone())
        };
        assert_eq!(with_threads(1, run), with_threads(4, run));
    }

    #[test]
    #[should_panic(expected = "cross_entropy: target 5 of row 1 is out of range for 5 classes")]
    fn cross_entropy_rejects_bad_target() {
        let _ = Tensor::zeros(&[2, 5]).cross_entropy(&[0, 5], None);
    }

    #[test]
    #[should_panic(expected = "cross_entropy: 3 targets for logits of shape [2, 5]")]
    fn cross_entropy_rejects_wrong_target_count() {
        let _ = Tensor::zeros(&[2, 5]).cross_entropy(&[0, 1, 2], None);
    }
}

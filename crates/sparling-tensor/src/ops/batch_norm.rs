//! `batch_norm`: per-channel normalisation over the batch (and spatial) axes, channel axis 1,
//! as `torch.nn.BatchNorm{1,2}d`.
//!
//! * Training: each channel is normalised with its batch mean and *biased* batch variance; the
//!   running statistics move towards the batch mean and the *unbiased* batch variance:
//!   `running = (1 - momentum) * running + momentum * batch` (PyTorch semantics). The gradient
//!   flows through the batch statistics.
//! * Evaluation: the running statistics are used, so the op is an affine map per channel.
//!
//! Speed: a standard-layout input `(N, C, S)` (`S` = product of the spatial sizes) is `N * C`
//! contiguous blocks of `S` values. Forward and backward each make one reduction pass over the
//! blocks (f64 accumulation with 8 independent lanes, block partials combined per channel in
//! batch order) and one elementwise pass, both parallel over blocks for large inputs. Every
//! block is reduced by one task, so results do not depend on the thread count. The statistics
//! pass accumulates `x - pivot` (the channel's first value) and its square, which keeps the
//! single-pass variance accurate when the mean is large compared with the spread.
//!
//! The backward keeps the input (a shared handle, no copy), the per-channel mean and `1/std`,
//! and the weight values when the input needs a gradient.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Tensor;
use crate::kernels::par::{CHUNK, MIN_PAR_ELEMS};
use crate::ops::{Backward, GradSink, record};

/// Running statistics and settings of a batch-norm layer (one entry per channel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNormStats {
    /// Running mean per channel.
    pub running_mean: Vec<f32>,
    /// Running (unbiased) variance per channel.
    pub running_var: Vec<f32>,
    /// Weight of the current batch in the running update.
    pub momentum: f32,
    /// Added to the variance before the square root.
    pub eps: f32,
}

impl BatchNormStats {
    /// Statistics for `channels` channels: mean 0, variance 1, momentum 0.1, eps 1e-5
    /// (PyTorch's defaults).
    pub fn new(channels: usize) -> BatchNormStats {
        BatchNormStats {
            running_mean: vec![0.0; channels],
            running_var: vec![1.0; channels],
            momentum: 0.1,
            eps: 1e-5,
        }
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.running_mean.len()
    }
}

impl Tensor {
    /// Batch normalisation over channel axis 1 of an `(N, C)`, `(N, C, L)` or `(N, C, H, W)`
    /// input: `y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c`. With `train`, the
    /// batch statistics are used and `stats` is updated (even under [`crate::no_grad`]);
    /// otherwise the running statistics in `stats` are used and `stats` is left unchanged.
    /// `weight` and `bias` (each optional) have shape `(C,)`.
    ///
    /// # Panics
    /// If the input is not 2-, 3- or 4-D, the statistics or `weight`/`bias` do not have `C`
    /// entries, or `train` is set with a single value per channel (`N * L` or `N * H * W` is 1).
    pub fn batch_norm(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        stats: &mut BatchNormStats,
        train: bool,
    ) -> Tensor {
        let shape = self.shape();
        crate::shape_check!(
            (2..=4).contains(&shape.len()),
            "batch_norm",
            "input must be (N, C), (N, C, L) or (N, C, H, W), got shape {shape:?}"
        );
        let c = shape[1];
        crate::shape_check!(
            stats.running_mean.len() == c && stats.running_var.len() == c,
            "batch_norm",
            "statistics for {} / {} channels, input {shape:?} has {c}",
            stats.running_mean.len(),
            stats.running_var.len()
        );
        for (name, p) in [("weight", weight), ("bias", bias)] {
            if let Some(p) = p {
                crate::shape_check!(
                    p.shape() == [c],
                    "batch_norm",
                    "{name} of shape {:?} does not match input {shape:?} (expected [{c}])",
                    p.shape()
                );
            }
        }
        let geo = Geometry {
            c,
            s: shape[2..].iter().product(),
        };
        let m = shape[0] * geo.s;
        crate::shape_check!(
            !train || m > 1,
            "batch_norm",
            "training needs more than one value per channel, input shape {shape:?}"
        );

        let input = standard(self);
        let x = input.as_slice().expect("standard layout");
        let (mean, inv_std) = if train {
            let (mean, var) = batch_stats(x, geo);
            let mom = stats.momentum;
            let unbias = m as f64 / (m as f64 - 1.0);
            for ch in 0..c {
                let rm = &mut stats.running_mean[ch];
                *rm = (1.0 - mom) * *rm + mom * mean[ch] as f32;
                let rv = &mut stats.running_var[ch];
                *rv = (1.0 - mom) * *rv + mom * (var[ch] * unbias) as f32;
            }
            let inv_std: Vec<f32> = var
                .iter()
                .map(|&v| (1.0 / (v + stats.eps as f64).sqrt()) as f32)
                .collect();
            (
                mean.iter().map(|&v| v as f32).collect::<Vec<f32>>(),
                inv_std,
            )
        } else {
            let inv_std = stats
                .running_var
                .iter()
                .map(|&v| (1.0 / (v as f64 + stats.eps as f64).sqrt()) as f32)
                .collect();
            (stats.running_mean.clone(), inv_std)
        };
        let w = weight.map(|w| w.data().iter().copied().collect::<Vec<f32>>());
        let b = bias.map(|b| b.data().iter().copied().collect::<Vec<f32>>());
        // y = x * scale + shift, scale = w / std, shift = b - mean * w / std.
        let scale: Vec<f32> = (0..c)
            .map(|ch| inv_std[ch] * w.as_ref().map_or(1.0, |w| w[ch]))
            .collect();
        let shift: Vec<f32> = (0..c)
            .map(|ch| b.as_ref().map_or(0.0, |b| b[ch]) - mean[ch] * scale[ch])
            .collect();
        let mut out = vec![0.0f32; x.len()];
        let body = |(blk, (o, xs)): (usize, (&mut [f32], &[f32]))| {
            let ch = blk % c;
            let (a, sh) = (scale[ch], shift[ch]);
            for (o, &v) in o.iter_mut().zip(xs) {
                *o = v * a + sh;
            }
        };
        if !x.is_empty() {
            if x.len() >= MIN_PAR_ELEMS {
                out.par_chunks_mut(geo.s)
                    .zip(x.par_chunks(geo.s))
                    .enumerate()
                    .with_min_len(geo.min_blocks_per_task())
                    .for_each(body);
            } else {
                out.chunks_mut(geo.s)
                    .zip(x.chunks(geo.s))
                    .enumerate()
                    .for_each(body);
            }
        }
        let out = ArrayD::from_shape_vec(IxDyn(shape), out).expect("batch_norm output shape");

        let mut parents: Vec<&Tensor> = vec![self];
        let w_idx = weight.map(|w| {
            parents.push(w);
            parents.len() - 1
        });
        let b_idx = bias.map(|b| {
            parents.push(b);
            parents.len() - 1
        });
        record(out, &parents, |needs| {
            let need_x = (train && needs[0]) || w_idx.is_some_and(|i| needs[i]);
            Box::new(BatchNormBackward {
                input: need_x.then_some(input),
                mean,
                inv_std,
                weight: if needs[0] { w } else { None },
                geo,
                m,
                train,
                w_idx,
                b_idx,
            })
        })
    }
}

/// Channels and block length (`S`, the product of the spatial sizes) of an input.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    c: usize,
    s: usize,
}

impl Geometry {
    /// Blocks per rayon task: about [`CHUNK`] values, at least one block.
    fn min_blocks_per_task(&self) -> usize {
        (CHUNK / self.s.max(1)).max(1)
    }
}

/// The input as a shared standard-layout array (no copy when it already is one).
fn standard(t: &Tensor) -> Arc<ArrayD<f32>> {
    if t.data().is_standard_layout() {
        t.data_arc()
    } else {
        Arc::new(t.data().as_standard_layout().into_owned())
    }
}

/// `(sum(a - pa), sum((a - pa) * (b - pb)))` over paired slices in f64 with 8 independent
/// lanes (a fixed order, so deterministic). With `b = a`, `pb = pa` this is the shifted sum
/// and sum of squares.
fn pair_sums(a: &[f32], pa: f64, b: &[f32], pb: f64) -> (f64, f64) {
    let mut s1 = [0.0f64; 8];
    let mut s2 = [0.0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (ca, cb) in ca.zip(cb) {
        for i in 0..8 {
            let da = ca[i] as f64 - pa;
            s1[i] += da;
            s2[i] += da * (cb[i] as f64 - pb);
        }
    }
    let mut t1: f64 = s1.iter().sum();
    let mut t2: f64 = s2.iter().sum();
    for (&x, &y) in ra.iter().zip(rb) {
        let da = x as f64 - pa;
        t1 += da;
        t2 += da * (y as f64 - pb);
    }
    (t1, t2)
}

/// Per-block `pair_sums`, in parallel for large inputs; `pivots_a[c]` / `pivots_b[c]` are the
/// shifts of channel `c`. Returns the per-channel totals combined in batch order.
fn channel_sums(
    a: &[f32],
    pivots_a: &[f64],
    b: &[f32],
    pivots_b: &[f64],
    geo: Geometry,
) -> Vec<(f64, f64)> {
    let c = geo.c;
    let block = |(blk, (xa, xb)): (usize, (&[f32], &[f32]))| {
        let ch = blk % c;
        pair_sums(xa, pivots_a[ch], xb, pivots_b[ch])
    };
    let parts: Vec<(f64, f64)> = if a.is_empty() {
        Vec::new()
    } else if a.len() >= MIN_PAR_ELEMS {
        a.par_chunks(geo.s)
            .zip(b.par_chunks(geo.s))
            .enumerate()
            .with_min_len(geo.min_blocks_per_task())
            .map(block)
            .collect()
    } else {
        a.chunks(geo.s)
            .zip(b.chunks(geo.s))
            .enumerate()
            .map(block)
            .collect()
    };
    let mut totals = vec![(0.0f64, 0.0f64); c];
    for (blk, (p1, p2)) in parts.into_iter().enumerate() {
        let t = &mut totals[blk % c];
        t.0 += p1;
        t.1 += p2;
    }
    totals
}

/// Batch mean and biased variance per channel (f64).
fn batch_stats(x: &[f32], geo: Geometry) -> (Vec<f64>, Vec<f64>) {
    let m = (x.len() / geo.c.max(1)) as f64;
    // Pivot: the channel's first value (block n = 0).
    let pivots: Vec<f64> = (0..geo.c).map(|ch| x[ch * geo.s] as f64).collect();
    let sums = channel_sums(x, &pivots, x, &pivots, geo);
    let mut mean = Vec::with_capacity(geo.c);
    let mut var = Vec::with_capacity(geo.c);
    for (ch, &(s1, s2)) in sums.iter().enumerate() {
        let d = s1 / m;
        mean.push(pivots[ch] + d);
        var.push((s2 / m - d * d).max(0.0));
    }
    (mean, var)
}

#[derive(Debug)]
struct BatchNormBackward {
    /// The input, kept when the input (in training) or the weight needs a gradient.
    input: Option<Arc<ArrayD<f32>>>,
    /// Mean used for normalisation (batch in training, running in evaluation).
    mean: Vec<f32>,
    /// `1 / sqrt(var + eps)` used for normalisation.
    inv_std: Vec<f32>,
    /// Weight values, kept only when the input needs a gradient.
    weight: Option<Vec<f32>>,
    geo: Geometry,
    /// Values per channel (`N * S`).
    m: usize,
    train: bool,
    w_idx: Option<usize>,
    b_idx: Option<usize>,
}

impl Backward for BatchNormBackward {
    fn name(&self) -> &'static str {
        "batch_norm"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // With x_hat = (x - mean) * r (r = 1/std), k = w * r, M values per channel:
        //   dbias = sum g, dweight = sum g * x_hat = r * sum g * (x - mean),
        //   training:   dx = k * (g - sum(g)/M - x_hat * sum(g * x_hat)/M)
        //                  = k * g + beta * x + gamma,  beta = -k * r * sum(g * x_hat)/M,
        //                                               gamma = k * (r * mean * sum(g * x_hat)/M - sum(g)/M);
        //   evaluation: dx = k * g (mean and r are constants).
        let geo = self.geo;
        let c = geo.c;
        let need_x = grads.needs(0);
        let need_w = self.w_idx.is_some_and(|i| grads.needs(i));
        let need_b = self.b_idx.is_some_and(|i| grads.needs(i));
        let mut g = if grad_out.is_standard_layout() {
            grad_out
        } else {
            grad_out.as_standard_layout().into_owned()
        };

        // One reduction pass: per channel sum(g) and sum(g * (x - mean)).
        let sums = if need_w || need_b || (need_x && self.train) {
            let gs = g.as_slice().expect("standard layout");
            let zeros = vec![0.0f64; c];
            match &self.input {
                Some(x) => {
                    let mean: Vec<f64> = self.mean.iter().map(|&v| v as f64).collect();
                    // sum((x - mean) * g) and sum(x - mean); we need sum(g) too, so run with
                    // a = g (pivot 0), b = x (pivot mean): (sum g, sum g * (x - mean)).
                    channel_sums(
                        gs,
                        &zeros,
                        x.as_slice().expect("standard layout"),
                        &mean,
                        geo,
                    )
                }
                None => channel_sums(gs, &zeros, gs, &zeros, geo),
            }
        } else {
            Vec::new()
        };
        let sum_g = |ch: usize| sums[ch].0;
        let sum_gxhat = |ch: usize| sums[ch].1 * self.inv_std[ch] as f64;

        if let (true, Some(i)) = (need_w, self.w_idx) {
            let dw: Vec<f32> = (0..c).map(|ch| sum_gxhat(ch) as f32).collect();
            grads.put(i, ArrayD::from_shape_vec(IxDyn(&[c]), dw).expect("dweight"));
        }
        if let (true, Some(i)) = (need_b, self.b_idx) {
            let db: Vec<f32> = (0..c).map(|ch| sum_g(ch) as f32).collect();
            grads.put(i, ArrayD::from_shape_vec(IxDyn(&[c]), db).expect("dbias"));
        }
        if !need_x {
            return;
        }

        // Per-channel coefficients of dx = alpha * g + beta * x + gamma.
        let m = self.m as f64;
        let coef: Vec<(f32, f32, f32)> = (0..c)
            .map(|ch| {
                let r = self.inv_std[ch] as f64;
                let k = r * self.weight.as_ref().map_or(1.0, |w| w[ch] as f64);
                if self.train {
                    let mg = sum_g(ch) / m;
                    let mgx = sum_gxhat(ch) / m;
                    let beta = -k * r * mgx;
                    let gamma = k * (r * self.mean[ch] as f64 * mgx - mg);
                    (k as f32, beta as f32, gamma as f32)
                } else {
                    (k as f32, 0.0, 0.0)
                }
            })
            .collect();
        let gs = g.as_slice_mut().expect("standard layout");
        if gs.is_empty() {
            grads.put(0, g);
            return;
        }
        let big = gs.len() >= MIN_PAR_ELEMS;
        if self.train {
            let x = self
                .input
                .as_ref()
                .expect("input kept for the training backward");
            let x = x.as_slice().expect("standard layout");
            let body = |(blk, (gb, xb)): (usize, (&mut [f32], &[f32]))| {
                let (a, b, cc) = coef[blk % c];
                for (g, &x) in gb.iter_mut().zip(xb) {
                    *g = a * *g + b * x + cc;
                }
            };
            if big {
                gs.par_chunks_mut(geo.s)
                    .zip(x.par_chunks(geo.s))
                    .enumerate()
                    .with_min_len(geo.min_blocks_per_task())
                    .for_each(body);
            } else {
                gs.chunks_mut(geo.s)
                    .zip(x.chunks(geo.s))
                    .enumerate()
                    .for_each(body);
            }
        } else {
            let body = |(blk, gb): (usize, &mut [f32])| {
                let a = coef[blk % c].0;
                gb.iter_mut().for_each(|g| *g *= a);
            };
            if big {
                gs.par_chunks_mut(geo.s)
                    .enumerate()
                    .with_min_len(geo.min_blocks_per_task())
                    .for_each(body);
            } else {
                gs.chunks_mut(geo.s).enumerate().for_each(body);
            }
        }
        grads.put(0, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, assert_close, gradcheck, random_array, with_threads};
    use ndarray::{arr1, arr2};

    /// Naive reference: per-channel statistics by explicit index loops in f64; returns the
    /// output, the batch mean and the biased batch variance.
    fn naive(
        x: &ArrayD<f32>,
        w: Option<&[f32]>,
        b: Option<&[f32]>,
        mean_var: Option<(&[f32], &[f32])>,
        eps: f64,
    ) -> (ArrayD<f32>, Vec<f64>, Vec<f64>) {
        let c = x.shape()[1];
        let mut sum = vec![0.0f64; c];
        let mut cnt = vec![0.0f64; c];
        for (idx, &v) in x.indexed_iter() {
            sum[idx[1]] += v as f64;
            cnt[idx[1]] += 1.0;
        }
        let bmean: Vec<f64> = (0..c).map(|ch| sum[ch] / cnt[ch]).collect();
        let mut sq = vec![0.0f64; c];
        for (idx, &v) in x.indexed_iter() {
            sq[idx[1]] += (v as f64 - bmean[idx[1]]).powi(2);
        }
        let bvar: Vec<f64> = (0..c).map(|ch| sq[ch] / cnt[ch]).collect();
        let mut out = x.clone();
        for (idx, o) in out.indexed_iter_mut() {
            let ch = idx[1];
            let (mu, var) = match mean_var {
                Some((m, v)) => (m[ch] as f64, v[ch] as f64),
                None => (bmean[ch], bvar[ch]),
            };
            let mut y = (*o as f64 - mu) / (var + eps).sqrt();
            y = y * w.map_or(1.0, |w| w[ch] as f64) + b.map_or(0.0, |b| b[ch] as f64);
            *o = y as f32;
        }
        (out, bmean, bvar)
    }

    #[test]
    fn batch_norm_literal() {
        // Channel 0 values [1, 3]: mean 2, biased var 1, unbiased var 2.
        // Channel 1 values [0, 0]: mean 0, var 0.
        // eps = 0 for channel 0 exactness; channel 1 then has 1/std = 1/sqrt(eps) so keep
        // eps tiny but nonzero: y1 = 0 regardless.
        let x = Tensor::param(arr2(&[[1.0f32, 0.0], [3.0, 0.0]]));
        let w = Tensor::param(arr1(&[2.0f32, 1.0]));
        let b = Tensor::param(arr1(&[0.5f32, 0.25]));
        let mut stats = BatchNormStats::new(2);
        stats.eps = 1e-12;
        let y = x.batch_norm(Some(&w), Some(&b), &mut stats, true);
        // y_0 = [-1, 1] * 2 + 0.5 = [-1.5, 2.5]; y_1 = [0.25, 0.25].
        assert_close(
            &y.to_array(),
            &arr2(&[[-1.5f32, 0.25], [2.5, 0.25]]).into_dyn(),
            1e-5,
            0.0,
        );
        // running_mean = 0.9 * 0 + 0.1 * [2, 0] = [0.2, 0];
        // running_var = 0.9 * 1 + 0.1 * [2, 0] = [1.1, 0.9] (unbiased batch variance).
        assert_close(
            &arr1(&stats.running_mean).into_dyn(),
            &arr1(&[0.2f32, 0.0]).into_dyn(),
            1e-7,
            0.0,
        );
        assert_close(
            &arr1(&stats.running_var).into_dyn(),
            &arr1(&[1.1f32, 0.9]).into_dyn(),
            1e-6,
            0.0,
        );
        // Upstream g on channel 0 = [1, 0] (channel 1: [0, 0]): x_hat = [-1, 1],
        // dbias_0 = 1, dweight_0 = sum g * x_hat = -1,
        // dx = w * r * (g - mean(g) - x_hat * mean(g * x_hat)) = 2 * ([1, 0] - 0.5 - [-1, 1] * (-0.5))
        //    = 2 * ([0.5, -0.5] - [0.5, -0.5]) = [0, 0]  (two values: x_hat is constant).
        let g = y.backward_with(arr2(&[[1.0f32, 0.0], [0.0, 0.0]]).into_dyn());
        assert_close(
            g.get(&w).unwrap(),
            &arr1(&[-1.0f32, 0.0]).into_dyn(),
            1e-6,
            0.0,
        );
        assert_close(
            g.get(&b).unwrap(),
            &arr1(&[1.0f32, 0.0]).into_dyn(),
            1e-6,
            0.0,
        );
        assert_close(
            g.get(&x).unwrap(),
            &arr2(&[[0.0f32, 0.0], [0.0, 0.0]]).into_dyn(),
            1e-5,
            0.0,
        );

        // Three values [0, 1, 5] in one channel, no affine, eps 0: mean 2, var 14/3,
        // x_hat = [-2, -1, 3] / s; with g = [1, 0, 0]:
        // dx_j = (1/s) * (delta_0j - 1/3 - x_hat_j * x_hat_0 / 3).
        let x3 = Tensor::param(arr2(&[[0.0f32], [1.0], [5.0]]));
        let mut st = BatchNormStats::new(1);
        st.eps = 0.0;
        let y3 = x3.batch_norm(None, None, &mut st, true);
        let s = (14.0f32 / 3.0).sqrt();
        let xh = [-2.0 / s, -1.0 / s, 3.0 / s];
        assert_close(
            &y3.to_array(),
            &arr2(&[[xh[0]], [xh[1]], [xh[2]]]).into_dyn(),
            1e-6,
            0.0,
        );
        // Running var uses the unbiased variance 14/2 = 7: 0.9 + 0.7 = 1.6; mean 0.2.
        assert_close(
            &arr1(&st.running_var).into_dyn(),
            &arr1(&[1.6f32]).into_dyn(),
            1e-6,
            0.0,
        );
        assert_close(
            &arr1(&st.running_mean).into_dyn(),
            &arr1(&[0.2f32]).into_dyn(),
            1e-7,
            0.0,
        );
        let g3 = y3.backward_with(arr2(&[[1.0f32], [0.0], [0.0]]).into_dyn());
        let want: Vec<f32> = (0..3)
            .map(|j| (if j == 0 { 1.0 } else { 0.0 } - 1.0 / 3.0 - xh[j] * xh[0] / 3.0) / s)
            .collect();
        assert_close(
            g3.get(&x3).unwrap(),
            &ArrayD::from_shape_vec(IxDyn(&[3, 1]), want).unwrap(),
            1e-6,
            1e-5,
        );
    }

    #[test]
    fn batch_norm_eval_literal() {
        // Eval: y = (x - rm) / sqrt(rv + eps) * w + b with rm = 1, rv = 4 - eps, w = 3, b = 1:
        // x = [3, -1] -> [1 * 3 + 1, -1 * 3 + 1] = [4, -2]; dx = g * w / 2 = 1.5 * g.
        let x = Tensor::param(arr2(&[[3.0f32], [-1.0]]));
        let w = Tensor::param(arr1(&[3.0f32]));
        let b = Tensor::param(arr1(&[1.0f32]));
        let mut stats = BatchNormStats::new(1);
        stats.running_mean = vec![1.0];
        stats.running_var = vec![4.0 - stats.eps];
        let before = stats.clone();
        let y = x.batch_norm(Some(&w), Some(&b), &mut stats, false);
        assert_eq!(stats, before, "evaluation must not touch the statistics");
        assert_close(
            &y.to_array(),
            &arr2(&[[4.0f32], [-2.0]]).into_dyn(),
            1e-6,
            0.0,
        );
        let g = y.backward_with(arr2(&[[2.0f32], [-1.0]]).into_dyn());
        assert_close(
            g.get(&x).unwrap(),
            &arr2(&[[3.0f32], [-1.5]]).into_dyn(),
            1e-6,
            0.0,
        );
        // dweight = sum g * x_hat = 2 * 1 + (-1) * (-1) = 3; dbias = 1.
        assert_close(g.get(&w).unwrap(), &arr1(&[3.0f32]).into_dyn(), 1e-6, 0.0);
        assert_close(g.get(&b).unwrap(), &arr1(&[1.0f32]).into_dyn(), 1e-6, 0.0);
    }

    #[test]
    fn batch_norm_matches_naive() {
        let shapes: [&[usize]; 5] = [
            &[5, 3],
            &[2, 4, 7],
            &[3, 2, 5, 3],
            &[1, 1, 2, 2],
            &[2, 3, 1, 1],
        ];
        for (seed, shape) in shapes.iter().enumerate() {
            let seed = seed as u64;
            // Large offset checks the shifted single-pass variance.
            let x = random_array(shape, seed).mapv(|v| 2.0 * v + 100.0);
            let c = shape[1];
            let w = random_array(&[c], seed + 10);
            let b = random_array(&[c], seed + 20);
            let (wt, bt) = (Tensor::new(w.clone()), Tensor::new(b.clone()));
            let mut stats = BatchNormStats::new(c);
            stats.running_mean = random_array(&[c], seed + 30).iter().copied().collect();
            stats.running_var = random_array(&[c], seed + 40)
                .iter()
                .map(|v| v + 1.5)
                .collect();
            let start = stats.clone();
            let y = Tensor::new(x.clone()).batch_norm(Some(&wt), Some(&bt), &mut stats, true);
            let (want, bmean, bvar) = naive(&x, w.as_slice(), b.as_slice(), None, 1e-5);
            assert_close(&y.to_array(), &want, 2e-4, 1e-4);
            let m: usize = shape[0] * shape[2..].iter().product::<usize>();
            for ch in 0..c {
                let rm = 0.9 * start.running_mean[ch] as f64 + 0.1 * bmean[ch];
                let rv = 0.9 * start.running_var[ch] as f64
                    + 0.1 * bvar[ch] * m as f64 / (m as f64 - 1.0);
                assert!(
                    (stats.running_mean[ch] as f64 - rm).abs() < 1e-4,
                    "running mean"
                );
                assert!(
                    (stats.running_var[ch] as f64 - rv).abs() < 1e-4,
                    "running var"
                );
            }
            let mut eval_stats = stats.clone();
            let y = Tensor::new(x.clone()).batch_norm(None, None, &mut eval_stats, false);
            let (want, _, _) = naive(
                &x,
                None,
                None,
                Some((&stats.running_mean, &stats.running_var)),
                1e-5,
            );
            assert_close(&y.to_array(), &want, 1e-4, 1e-4);
        }
    }

    #[test]
    fn batch_norm_grad_matches_fd() {
        let cfg = GradCheck::default();
        for (seed, shape) in [
            (1u64, vec![4usize, 3]),
            (2, vec![2, 3, 4]),
            (3, vec![2, 2, 3, 2]),
        ] {
            let c = shape[1];
            let x = random_array(&shape, seed);
            let w = random_array(&[c], seed + 10);
            let b = random_array(&[c], seed + 20);
            let mut stats = BatchNormStats::new(c);
            stats.running_mean = random_array(&[c], seed + 30).iter().copied().collect();
            stats.running_var = random_array(&[c], seed + 40)
                .iter()
                .map(|v| v + 1.5)
                .collect();
            for train in [true, false] {
                // A fresh copy of the statistics per evaluation, so finite differences see
                // one fixed function.
                let f = |t: &[Tensor]| {
                    let mut s = stats.clone();
                    t[0].batch_norm(Some(&t[1]), Some(&t[2]), &mut s, train)
                };
                gradcheck(f, &[x.clone(), w.clone(), b.clone()], &cfg);
                let f = |t: &[Tensor]| t[0].batch_norm(None, None, &mut stats.clone(), train);
                gradcheck(f, std::slice::from_ref(&x), &cfg);
            }
        }
    }

    #[test]
    fn batch_norm_thread_count_independent() {
        // Above MIN_PAR_ELEMS so both passes run in parallel.
        let shape = [4usize, 3, 60, 50];
        let x = random_array(&shape, 5).mapv(|v| v * 3.0 + 0.5);
        let w = random_array(&[3], 6);
        let b = random_array(&[3], 7);
        let proj = random_array(&shape, 8);
        for train in [true, false] {
            let run = || {
                let (xt, wt, bt) = (
                    Tensor::param(x.clone()),
                    Tensor::param(w.clone()),
                    Tensor::param(b.clone()),
                );
                let mut stats = BatchNormStats::new(3);
                let y = xt.batch_norm(Some(&wt), Some(&bt), &mut stats, train);
                let g = y.backward_with(proj.clone());
                (
                    y.to_vec(),
                    stats,
                    g.get(&xt).unwrap().clone(),
                    g.get(&wt).unwrap().clone(),
                    g.get(&bt).unwrap().clone(),
                )
            };
            let one = with_threads(1, run);
            let four = with_threads(4, run);
            assert!(
                one == four,
                "batch_norm (train = {train}) depends on the thread count"
            );
        }
    }

    #[test]
    fn batch_norm_updates_stats_without_grad() {
        let x = Tensor::new(arr2(&[[1.0f32], [3.0]]));
        let mut stats = BatchNormStats::new(1);
        crate::no_grad(|| x.batch_norm(None, None, &mut stats, true));
        assert_close(
            &arr1(&stats.running_mean).into_dyn(),
            &arr1(&[0.2f32]).into_dyn(),
            1e-7,
            0.0,
        );
    }

    #[test]
    #[should_panic(expected = "batch_norm: training needs more than one value per channel")]
    fn batch_norm_rejects_single_value_training() {
        let _ = Tensor::zeros(&[1, 3]).batch_norm(None, None, &mut BatchNormStats::new(3), true);
    }

    #[test]
    #[should_panic(expected = "batch_norm: weight of shape [2] does not match input [4, 3, 5]")]
    fn batch_norm_rejects_bad_weight() {
        let _ = Tensor::zeros(&[4, 3, 5]).batch_norm(
            Some(&Tensor::ones(&[2])),
            None,
            &mut BatchNormStats::new(3),
            true,
        );
    }
}

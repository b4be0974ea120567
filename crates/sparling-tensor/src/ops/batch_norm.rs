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

use std::mem::MaybeUninit;
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
        let w = weight.map(|w| w.data().iter().copied().collect::<Vec<f32>>());
        let b = bias.map(|b| b.data().iter().copied().collect::<Vec<f32>>());
        let running = (!train).then_some((&stats.running_mean[..], &stats.running_var[..]));
        let fwd = batch_norm_fwd(x, geo, w.as_deref(), b.as_deref(), running, stats.eps);
        if train {
            let mom = stats.momentum;
            let unbias = m as f64 / (m as f64 - 1.0);
            for (ch, &(mean, var)) in fwd.batch.iter().enumerate() {
                let rm = &mut stats.running_mean[ch];
                *rm = (1.0 - mom) * *rm + mom * mean as f32;
                let rv = &mut stats.running_var[ch];
                *rv = (1.0 - mom) * *rv + mom * (var * unbias) as f32;
            }
        }
        let (out, mean, inv_std) = (fwd.out, fwd.mean, fwd.inv_std);
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

/// Lanes of the f32 accumulators in [`pair_sums`] (independent, so the loops vectorise).
const LANES: usize = 16;
/// Values per f32 partial sum in [`pair_sums`] before it is added into f64.
const SUB: usize = 512;

/// `(sum(a - pa), sum((a - pa) * (b - pb)))` over paired slices (with `b = a`, `pb = pa`: the
/// shifted sum and sum of squares). Blocked accumulation in a fixed order (deterministic):
/// each run of [`SUB`] values is summed in [`LANES`] f32 lanes (32 terms per lane), and the
/// lane totals are added into f64. The two sums use separate loops, each with a single
/// accumulator array, which the compiler vectorises.
fn pair_sums(a: &[f32], pa: f32, b: &[f32], pb: f32) -> (f64, f64) {
    let (mut t1, mut t2) = (0.0f64, 0.0f64);
    for (sa, sb) in a.chunks(SUB).zip(b.chunks(SUB)) {
        let mut s1 = [0.0f32; LANES];
        let ca = sa.chunks_exact(LANES);
        let r1: f32 = ca.remainder().iter().map(|&x| x - pa).sum();
        for ca in ca {
            let ca: &[f32; LANES] = ca.try_into().expect("full lane chunk");
            for i in 0..LANES {
                s1[i] += ca[i] - pa;
            }
        }
        let mut s2 = [0.0f32; LANES];
        let (ca, cb) = (sa.chunks_exact(LANES), sb.chunks_exact(LANES));
        let r2: f32 = (ca.remainder().iter().zip(cb.remainder()))
            .map(|(&x, &y)| (x - pa) * (y - pb))
            .sum();
        for (ca, cb) in ca.zip(cb) {
            let ca: &[f32; LANES] = ca.try_into().expect("full lane chunk");
            let cb: &[f32; LANES] = cb.try_into().expect("full lane chunk");
            for i in 0..LANES {
                s2[i] += (ca[i] - pa) * (cb[i] - pb);
            }
        }
        t1 += s1.iter().map(|&v| v as f64).sum::<f64>() + r1 as f64;
        t2 += s2.iter().map(|&v| v as f64).sum::<f64>() + r2 as f64;
    }
    (t1, t2)
}

/// [`pair_sums`] of each block pair (in parallel when `par`), combined in block order.
fn ordered_sums(
    a: &[&[f32]],
    pa: f32,
    b: &[&[f32]],
    pb: f32,
    par: bool,
    geo: Geometry,
) -> (f64, f64) {
    let one = |(xa, xb): (&&[f32], &&[f32])| pair_sums(xa, pa, xb, pb);
    let parts: Vec<(f64, f64)> = if par {
        a.par_iter()
            .zip(b.par_iter())
            .with_min_len(geo.min_blocks_per_task())
            .map(one)
            .collect()
    } else {
        a.iter().zip(b.iter()).map(one).collect()
    };
    parts
        .into_iter()
        .fold((0.0, 0.0), |(t1, t2), (p1, p2)| (t1 + p1, t2 + p2))
}

/// Splits a standard-layout `(N, C, S)` buffer into its `N * C` blocks of `S` values, grouped
/// by channel (block `n * C + c` goes to channel `c`, in batch order).
fn blocks_by_channel<T>(blocks: impl Iterator<Item = T>, geo: Geometry) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = (0..geo.c).map(|_| Vec::new()).collect();
    if geo.s > 0 {
        for (i, blk) in blocks.enumerate() {
            out[i % geo.c].push(blk);
        }
    }
    out
}

/// A channel's work in the forward: (channel, (input blocks, output blocks)).
type FwdChannel<'a> = (usize, (Vec<&'a [f32]>, Vec<&'a mut [MaybeUninit<f32>]>));
/// A channel's work in the backward: (channel, (gradient blocks, input blocks if kept)).
type BwdChannel<'a> = (usize, (Vec<&'a mut [f32]>, Option<Vec<&'a [f32]>>));

/// Results of the forward kernel.
struct BatchNormFwd {
    out: Vec<f32>,
    /// Mean used for normalisation, per channel.
    mean: Vec<f32>,
    /// `1 / sqrt(var + eps)` used for normalisation, per channel.
    inv_std: Vec<f32>,
    /// Batch mean and biased batch variance per channel (f64), in training only.
    batch: Vec<(f64, f64)>,
}

/// Normalises `x` with the batch statistics (`running` is `None`) or with the given running
/// `(mean, var)`. One task per channel: the channel's statistics pass and its output pass run
/// back to back, so its data is still in cache for the second pass (nested parallelism over
/// the channel's blocks keeps all threads busy when there are few channels).
fn batch_norm_fwd(
    x: &[f32],
    geo: Geometry,
    w: Option<&[f32]>,
    b: Option<&[f32]>,
    running: Option<(&[f32], &[f32])>,
    eps: f32,
) -> BatchNormFwd {
    let par = x.len() >= MIN_PAR_ELEMS;
    // Every output value is written below (each channel's blocks, whole), so the buffer is
    // not zero-filled first.
    let mut out = Vec::with_capacity(x.len());
    let x_blocks = blocks_by_channel(x.chunks(geo.s.max(1)), geo);
    let out_blocks = blocks_by_channel(
        out.spare_capacity_mut()[..x.len()].chunks_mut(geo.s.max(1)),
        geo,
    );
    let channel = |(ch, (xb, mut ob)): FwdChannel<'_>| {
        let (mean, var) = match running {
            Some((rm, rv)) => (rm[ch] as f64, rv[ch] as f64),
            None => {
                // Shift by the channel's first value: accurate single-pass variance.
                let m = (xb.len() * geo.s) as f64;
                let pivot = xb[0][0];
                let (s1, s2) = ordered_sums(&xb, pivot, &xb, pivot, par, geo);
                let d = s1 / m;
                (pivot as f64 + d, (s2 / m - d * d).max(0.0))
            }
        };
        let inv_std = (1.0 / (var + eps as f64).sqrt()) as f32;
        let mean32 = mean as f32;
        // y = x * scale + shift, scale = w / std, shift = b - mean * w / std.
        let scale = inv_std * w.map_or(1.0, |w| w[ch]);
        let shift = b.map_or(0.0, |b| b[ch]) - mean32 * scale;
        let write = |(o, xs): (&mut &mut [MaybeUninit<f32>], &&[f32])| {
            for (o, &v) in o.iter_mut().zip(xs.iter()) {
                o.write(v * scale + shift);
            }
        };
        if par {
            ob.par_iter_mut()
                .zip(xb.par_iter())
                .with_min_len(geo.min_blocks_per_task())
                .for_each(write);
        } else {
            ob.iter_mut().zip(xb.iter()).for_each(write);
        }
        ((mean, var), (mean32, inv_std))
    };
    let items = x_blocks.into_iter().zip(out_blocks).enumerate();
    let per_channel: Vec<((f64, f64), (f32, f32))> = if par {
        items
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(channel)
            .collect()
    } else {
        items.map(channel).collect()
    };
    // SAFETY: the N * C blocks of S values cover all `x.len()` reserved slots, and each
    // channel's task wrote every value of its blocks.
    unsafe { out.set_len(x.len()) };
    BatchNormFwd {
        out,
        mean: per_channel.iter().map(|p| p.1.0).collect(),
        inv_std: per_channel.iter().map(|p| p.1.1).collect(),
        batch: if running.is_none() {
            per_channel.iter().map(|p| p.0).collect()
        } else {
            Vec::new()
        },
    }
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

        let need_sums = need_w || need_b || (need_x && self.train);
        if !need_sums && !need_x {
            return;
        }
        let m = self.m as f64;
        let par = g.len() >= MIN_PAR_ELEMS;
        let x = self
            .input
            .as_deref()
            .map(|x| x.as_slice().expect("standard layout"));
        let x_blocks: Vec<Option<Vec<&[f32]>>> = match x {
            Some(x) => blocks_by_channel(x.chunks(geo.s.max(1)), geo)
                .into_iter()
                .map(Some)
                .collect(),
            None => (0..c).map(|_| None).collect(),
        };
        let gs = g.as_slice_mut().expect("standard layout");
        let g_blocks = blocks_by_channel(gs.chunks_mut(geo.s.max(1)), geo);
        // One task per channel: its reduction pass, then its dx pass while the data is cached.
        let channel = |(ch, (mut gb, xb)): BwdChannel<'_>| {
            let mean = self.mean[ch];
            let r = self.inv_std[ch] as f64;
            // (sum g, sum g * (x - mean)); with no saved input only sum g is meaningful.
            let (sum_g, sum_gxc) = if need_sums {
                let gview: Vec<&[f32]> = gb.iter().map(|s| &**s).collect();
                match &xb {
                    Some(xb) => ordered_sums(&gview, 0.0, xb, mean, par, geo),
                    None => ordered_sums(&gview, 0.0, &gview, 0.0, par, geo),
                }
            } else {
                (0.0, 0.0)
            };
            let sum_gxhat = sum_gxc * r;
            if need_x {
                let k = r * self.weight.as_ref().map_or(1.0, |w| w[ch] as f64);
                if self.train {
                    let mg = sum_g / m;
                    let mgx = sum_gxhat / m;
                    let (a, b) = (k as f32, (-k * r * mgx) as f32);
                    let cc = (k * (r * mean as f64 * mgx - mg)) as f32;
                    let xb = xb.as_ref().expect("input kept for the training backward");
                    let apply = |(gblk, xblk): (&mut &mut [f32], &&[f32])| {
                        for (g, &x) in gblk.iter_mut().zip(xblk.iter()) {
                            *g = a * *g + b * x + cc;
                        }
                    };
                    if par {
                        gb.par_iter_mut()
                            .zip(xb.par_iter())
                            .with_min_len(geo.min_blocks_per_task())
                            .for_each(apply);
                    } else {
                        gb.iter_mut().zip(xb.iter()).for_each(apply);
                    }
                } else {
                    let a = k as f32;
                    let apply = |gblk: &mut &mut [f32]| gblk.iter_mut().for_each(|g| *g *= a);
                    if par {
                        gb.par_iter_mut()
                            .with_min_len(geo.min_blocks_per_task())
                            .for_each(apply);
                    } else {
                        gb.iter_mut().for_each(apply);
                    }
                }
            }
            (sum_g, sum_gxhat)
        };
        let items = g_blocks.into_iter().zip(x_blocks).enumerate();
        let sums: Vec<(f64, f64)> = if par {
            items
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(channel)
                .collect()
        } else {
            items.map(channel).collect()
        };
        if let (true, Some(i)) = (need_w, self.w_idx) {
            let dw: Vec<f32> = sums.iter().map(|s| s.1 as f32).collect();
            grads.put(i, ArrayD::from_shape_vec(IxDyn(&[c]), dw).expect("dweight"));
        }
        if let (true, Some(i)) = (need_b, self.b_idx) {
            let db: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
            grads.put(i, ArrayD::from_shape_vec(IxDyn(&[c]), db).expect("dbias"));
        }
        if need_x {
            grads.put(0, g);
        }
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
        // The last shape has 667 values per block: several f32 sub-blocks plus remainders.
        let shapes: [&[usize]; 6] = [
            &[5, 3],
            &[2, 4, 7],
            &[3, 2, 5, 3],
            &[1, 1, 2, 2],
            &[2, 3, 1, 1],
            &[2, 3, 23, 29],
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

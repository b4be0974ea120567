//! [`BatchNormSparse`]: BatchNorm (affine optional) followed by the Sparse layer, for 2-D maps
//! `(N, C, H, W)`, 1-D maps `(N, C, L)` and `(N, C)`.
//!
//! With per-channel thresholds and no accumulation (the paper's main setting) the two layers run
//! as one fused op in two streaming passes:
//! 1. one read of `z` selects, per channel, the k-th value of `z` itself and accumulates the
//!    BatchNorm moments. `y = z * scale + shift` is monotone in `z` (float rounding is
//!    monotone), so the k-th smallest `y` is exactly `scale * z_(k) + shift` (the
//!    `(P - k + 1)`-th `z` when the BatchNorm weight is negative);
//! 2. one read of `z` writes `relu(y - t)` and the mask.
//!
//! The BatchNorm follows `sparling_tensor`'s `batch_norm` (PyTorch semantics: batch mean and
//! biased variance in training, running mean and unbiased variance updated with momentum 0.1,
//! eps 1e-5, running statistics in evaluation; `y = z * (w / std) + (b - mean * w / std)`).
//! The single-threshold and accumulated variants run the two layers one after the other.
//! The backward is BatchNorm's through the batch statistics, with the Sparse thresholds as
//! constants (see [`crate::op`]).

use std::sync::{Arc, Mutex, MutexGuard};

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use sparling_tensor::ops::{Backward, BatchNormStats, GradSink, record};
use sparling_tensor::{Tensor, is_grad_enabled};

use crate::error::{Error, Result};
use crate::kernel::Mask;
use crate::kernel::apply::{Affine, MaskMode, affine_value, finish};
use crate::kernel::backward::{DzCoef, bn_backward_channels, bn_dz, bn_sums};
use crate::kernel::channel::{self, BnParams, TrainSpec, bn_stats, scale_shift};
use crate::kernel::layout::ChannelLayout;
use crate::kernel::select::{kth_index, select};
use crate::layer::{SparseConfig, SparseLayer, SparseState, ThresholdMode, momentum_update};
use crate::op::contiguous;

/// Configuration of a [`BatchNormSparse`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNormSparseConfig {
    /// The Sparse layer (channels, density, momentum, variant).
    pub sparse: SparseConfig,
    /// Learned per-channel weight and bias in the BatchNorm (DigitCircle: true; the paper's
    /// LaTeX and audio runs: false).
    pub affine: bool,
    /// BatchNorm running-statistics momentum (0.1).
    pub bn_momentum: f32,
    /// BatchNorm epsilon (1e-5).
    pub eps: f32,
}

impl BatchNormSparseConfig {
    /// Affine BatchNorm (momentum 0.1, eps 1e-5) in front of `sparse`.
    pub fn new(sparse: SparseConfig) -> Self {
        BatchNormSparseConfig {
            sparse,
            affine: true,
            bn_momentum: 0.1,
            eps: 1e-5,
        }
    }

    /// Sets whether the BatchNorm has a weight and a bias.
    pub fn with_affine(mut self, affine: bool) -> Self {
        self.affine = affine;
        self
    }
}

/// The full mutable state of a [`BatchNormSparse`] (serialisable; restores exactly).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNormSparseState {
    /// Thresholds, density, accumulator.
    pub sparse: SparseState,
    /// BatchNorm running statistics.
    pub bn: BatchNormStats,
    /// BatchNorm weight (affine only).
    pub weight: Option<Vec<f32>>,
    /// BatchNorm bias (affine only).
    pub bias: Option<Vec<f32>>,
}

/// BatchNorm + Sparse as one layer (see the module docs). Holds its own weight and bias
/// (ones and zeros, as trainable leaves) when affine; [`Self::forward_with`] takes them from
/// the caller instead (a trainer with its own parameter store).
#[derive(Debug)]
pub struct BatchNormSparse {
    config: BatchNormSparseConfig,
    params: Mutex<Option<(Tensor, Tensor)>>,
    stats: Mutex<BatchNormStats>,
    sparse: SparseLayer,
}

const OP: &str = "batchnorm + sparse";

impl BatchNormSparse {
    /// A fresh layer: BatchNorm statistics (mean 0, variance 1), weight 1, bias 0, thresholds 0.
    pub fn new(config: BatchNormSparseConfig) -> Result<BatchNormSparse> {
        if !(config.bn_momentum > 0.0 && config.bn_momentum <= 1.0 && config.eps > 0.0) {
            return Err(Error::Config {
                op: OP,
                msg: format!(
                    "BatchNorm momentum {} must be in (0, 1] and eps {} positive",
                    config.bn_momentum, config.eps
                ),
            });
        }
        let sparse = SparseLayer::new(config.sparse.clone())?;
        let c = config.sparse.channels;
        let mut stats = BatchNormStats::new(c);
        stats.momentum = config.bn_momentum;
        stats.eps = config.eps;
        let params = config.affine.then(|| {
            (
                Tensor::param(ndarray::Array1::<f32>::ones(c)),
                Tensor::param(ndarray::Array1::<f32>::zeros(c)),
            )
        });
        Ok(BatchNormSparse {
            config,
            params: Mutex::new(params),
            stats: Mutex::new(stats),
            sparse,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BatchNormSparseConfig {
        &self.config
    }

    /// The Sparse half (density, thresholds, state).
    pub fn sparse(&self) -> &SparseLayer {
        &self.sparse
    }

    /// Current density.
    pub fn density(&self) -> f64 {
        self.sparse.density()
    }

    /// Sets the density (errors unless in (0, 1]).
    pub fn set_density(&self, density: f64) -> Result<()> {
        self.sparse.set_density(density)
    }

    /// The current thresholds.
    pub fn thresholds(&self) -> Vec<f32> {
        self.sparse.thresholds()
    }

    /// A copy of the BatchNorm running statistics.
    pub fn bn_stats(&self) -> BatchNormStats {
        lock(&self.stats).clone()
    }

    /// The held weight and bias (affine only): trainable leaves to hand to an optimizer.
    pub fn parameters(&self) -> Vec<Tensor> {
        lock(&self.params)
            .as_ref()
            .map(|(w, b)| vec![w.clone(), b.clone()])
            .unwrap_or_default()
    }

    /// Replaces the held weight and bias (after an optimizer step); both of shape `(C,)`.
    pub fn set_parameters(&self, weight: Tensor, bias: Tensor) -> Result<()> {
        let c = self.config.sparse.channels;
        if !self.config.affine {
            return Err(Error::Config {
                op: OP,
                msg: "a non-affine layer has no parameters".into(),
            });
        }
        for t in [&weight, &bias] {
            if t.shape() != [c] {
                return Err(Error::Shape {
                    op: OP,
                    expected: format!("a parameter of shape [{c}]"),
                    shape: t.shape().to_vec(),
                });
            }
        }
        *lock(&self.params) = Some((weight, bias));
        Ok(())
    }

    /// A copy of the full state.
    pub fn state(&self) -> BatchNormSparseState {
        let params = lock(&self.params).clone();
        BatchNormSparseState {
            sparse: self.sparse.state(),
            bn: self.bn_stats(),
            weight: params.as_ref().map(|(w, _)| w.to_vec()),
            bias: params.as_ref().map(|(_, b)| b.to_vec()),
        }
    }

    /// Restores a state saved by [`Self::state`] (weight and bias become fresh leaves).
    pub fn load_state(&self, state: BatchNormSparseState) -> Result<()> {
        let c = self.config.sparse.channels;
        if state.bn.running_mean.len() != c || state.bn.running_var.len() != c {
            return Err(Error::Config {
                op: OP,
                msg: format!("BatchNorm statistics are not for {c} channels"),
            });
        }
        match (state.weight, state.bias) {
            (Some(w), Some(b)) if self.config.affine => self.set_parameters(
                Tensor::param(ndarray::Array1::from(w)),
                Tensor::param(ndarray::Array1::from(b)),
            )?,
            (None, None) if !self.config.affine => {}
            _ => {
                return Err(Error::Config {
                    op: OP,
                    msg: "state's weight/bias do not match the affine setting".into(),
                });
            }
        }
        self.sparse.load_state(state.sparse)?;
        *lock(&self.stats) = state.bn;
        Ok(())
    }

    /// Applies BatchNorm then the Sparse layer with the held parameters.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let params = lock(&self.params).clone();
        match params {
            Some((w, b)) => self.forward_with(x, Some(&w), Some(&b), train),
            None => self.forward_with(x, None, None, train),
        }
    }

    /// Applies BatchNorm (with the given weight and bias, each `(C,)` or absent) then the Sparse
    /// layer. Errors on a wrong shape, a NaN/infinite input (naming its channel; no state
    /// changes then), or a training batch with a single position per channel.
    pub fn forward_with(
        &self,
        x: &Tensor,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        train: bool,
    ) -> Result<Tensor> {
        let c = self.config.sparse.channels;
        let layout = ChannelLayout::of_shape(OP, x.shape(), Some(c))?;
        if x.ndim() > 4 || layout.positions() == 0 || (train && layout.positions() < 2) {
            return Err(Error::Shape {
                op: OP,
                expected: "(N, C), (N, C, L) or (N, C, H, W) with at least two positions per \
                           channel in training"
                    .into(),
                shape: x.shape().to_vec(),
            });
        }
        for p in [weight, bias].into_iter().flatten() {
            if p.shape() != [c] {
                return Err(Error::Shape {
                    op: OP,
                    expected: format!("a BatchNorm parameter of shape [{c}]"),
                    shape: p.shape().to_vec(),
                });
            }
        }
        let fused = self.config.sparse.mode == ThresholdMode::PerChannel
            && self.config.sparse.accumulate.is_none();
        if !fused {
            // Validate finiteness first so that no statistics move on a bad batch.
            crate::kernel::kth_smallest(&contiguous(x), &layout, &vec![1; c], &mut vec![None; c])?;
            let y = {
                let mut stats = lock(&self.stats);
                x.batch_norm(weight, bias, &mut stats, train)
            };
            return self.sparse.forward(&y, train);
        }
        self.fused(x, &layout, weight, bias, train, train)
    }

    /// The fused op: batch statistics when `batch_stats` (updating the running ones), running
    /// statistics otherwise; the thresholds move only when `update`.
    fn fused(
        &self,
        x: &Tensor,
        layout: &ChannelLayout,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        batch_stats: bool,
        update: bool,
    ) -> Result<Tensor> {
        let layout = *layout;
        let c = layout.channels;
        let train = batch_stats;
        let w = weight.map(|w| w.to_vec());
        let b = bias.map(|b| b.to_vec());
        let gamma: Vec<f32> = (0..c).map(|i| w.as_ref().map_or(1.0, |w| w[i])).collect();
        let beta: Vec<f32> = (0..c).map(|i| b.as_ref().map_or(0.0, |b| b[i])).collect();
        let data = contiguous(x);
        let needs = is_grad_enabled()
            && (x.requires_grad()
                || [weight, bias]
                    .into_iter()
                    .flatten()
                    .any(|p| p.requires_grad()));
        let mut stats = lock(&self.stats);
        let mut inner = self.sparse.lock();
        let density = inner.state.density;
        let mode = MaskMode::for_density(needs, density, layout.len());
        let len = layout.len();
        let mut out: Vec<f32> = Vec::with_capacity(len);
        let mut single = None;
        let p = layout.positions();
        let eps = stats.eps as f64;
        let mom = stats.momentum;
        let unbias = p as f64 / (p as f64 - 1.0);
        let update_running = |stats: &mut BatchNormStats, ch: usize, mean: f64, var: f64| {
            let rm = &mut stats.running_mean[ch];
            *rm = (1.0 - mom) * *rm + mom * mean as f32;
            let rv = &mut stats.running_var[ch];
            *rv = (1.0 - mom) * *rv + mom * (var * unbias) as f32;
        };
        let k = kth_index(p, 1.0 - density);
        let ks: Vec<usize> = gamma
            .iter()
            .map(|&g| if g < 0.0 { p - k + 1 } else { k })
            .collect();
        if train && channel::eligible(&layout) {
            // One pipeline per channel (selection, statistics, threshold, output).
            let crate::layer::Inner { state, hints } = &mut *inner;
            let spec = TrainSpec {
                ks: &ks,
                bn: Some(BnParams {
                    gamma: &gamma,
                    beta: &beta,
                    eps,
                }),
                t_old: &state.thresholds,
                momentum: self.config.sparse.momentum,
                update,
                mode,
            };
            let (out, mask, steps) = channel::train_step(&data, &layout, spec, hints)?;
            for (ch, st) in steps.iter().enumerate() {
                update_running(&mut stats, ch, st.mean, st.var);
                state.thresholds[ch] = st.t;
            }
            let mean = steps.iter().map(|st| st.mean32).collect();
            let inv_std = steps.iter().map(|st| st.inv_std).collect();
            drop(inner);
            drop(stats);
            drop(data);
            return Ok(self.record(
                x, weight, bias, out, mask, layout, mean, inv_std, gamma, train,
            ));
        }
        let (mean, inv_std) = if train {
            let pivots: Vec<f32> = (0..c).map(|ch| data[layout.flat_index(ch, 0)]).collect();
            // At high sparsity (and with the thresholds about to move) the selection pass also
            // zeroes the output: one pass over the data.
            let zero =
                (update && mode != MaskMode::Bits).then(|| &mut out.spare_capacity_mut()[..len]);
            let sel = select(&data, &layout, &ks, &mut inner.hints, Some(&pivots), zero)?;
            single = sel.single_pass;
            let mut mean = Vec::with_capacity(c);
            let mut inv_std = Vec::with_capacity(c);
            let mut qy = Vec::with_capacity(c);
            for ch in 0..c {
                let (mu, var, mu32, is) = bn_stats(pivots[ch], sel.moments[ch], p, eps);
                let (scale, shift) = scale_shift(mu32, is, gamma[ch], beta[ch]);
                qy.push(affine_value(sel.values[ch], scale, shift));
                mean.push(mu32);
                inv_std.push(is);
                update_running(&mut stats, ch, mu, var);
            }
            if update {
                momentum_update(
                    &mut inner.state.thresholds,
                    &qy,
                    self.config.sparse.momentum,
                );
            }
            (mean, inv_std)
        } else {
            let inv_std = stats
                .running_var
                .iter()
                .map(|&v| (1.0 / (v as f64 + eps).sqrt()) as f32)
                .collect();
            (stats.running_mean.clone(), inv_std)
        };
        let t = inner.state.thresholds.clone();
        drop(inner);
        drop(stats);
        let (scale, shift): (Vec<f32>, Vec<f32>) = (0..c)
            .map(|ch| scale_shift(mean[ch], inv_std[ch], gamma[ch], beta[ch]))
            .unzip();
        let affine = Affine {
            scale: &scale,
            shift: &shift,
        };
        let (out, mask) = finish(&data, &layout, &t, Some(affine), mode, single, out);
        drop(data);
        Ok(self.record(
            x, weight, bias, out, mask, layout, mean, inv_std, gamma, train,
        ))
    }

    /// Puts the fused op on the tape.
    fn record(
        &self,
        x: &Tensor,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        out: Vec<f32>,
        mask: Option<Mask>,
        layout: ChannelLayout,
        mean: Vec<f32>,
        inv_std: Vec<f32>,
        gamma: Vec<f32>,
        train: bool,
    ) -> Tensor {
        let out = ArrayD::from_shape_vec(IxDyn(x.shape()), out).expect("output length");
        let mut parents: Vec<&Tensor> = vec![x];
        let w_idx = weight.map(|w| {
            parents.push(w);
            parents.len() - 1
        });
        let b_idx = bias.map(|b| {
            parents.push(b);
            parents.len() - 1
        });
        record(out, &parents, move |needs| {
            let need_z = (train && needs[0]) || w_idx.is_some_and(|i| needs[i]);
            Box::new(BnSparseBackward {
                input: need_z.then(|| standard(x)),
                layout,
                mean,
                inv_std,
                gamma,
                mask: mask.expect("a mask is built whenever a gradient is needed"),
                train,
                w_idx,
                b_idx,
            })
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The input as a shared standard-layout array (no copy when it already is one).
fn standard(t: &Tensor) -> Arc<ArrayD<f32>> {
    if t.data().is_standard_layout() {
        t.data_arc()
    } else {
        Arc::new(t.data().as_standard_layout().into_owned())
    }
}

#[derive(Debug)]
struct BnSparseBackward {
    /// The BatchNorm input (kept only when a gradient needs it).
    input: Option<Arc<ArrayD<f32>>>,
    layout: ChannelLayout,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    gamma: Vec<f32>,
    mask: Mask,
    train: bool,
    w_idx: Option<usize>,
    b_idx: Option<usize>,
}

impl Backward for BnSparseBackward {
    fn name(&self) -> &'static str {
        "batchnorm + sparse"
    }

    fn backward(&self, mut grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // gy = g * [y > t] (thresholds constant). BatchNorm with batch statistics:
        //   d bias = sum(gy), d weight = sum(gy * xhat), xhat = (z - mean) / std,
        //   dz = w / std * (gy - sum(gy) / P - xhat * sum(gy * xhat) / P);
        // with running statistics: dz = w / std * gy.
        let z = self
            .input
            .as_ref()
            .map(|a| a.as_slice().expect("standard layout"));
        let c_n = self.layout.channels;
        let p = self.layout.positions() as f64;
        let need_sums = (self.train && grads.needs(0))
            || self.w_idx.is_some_and(|i| grads.needs(i))
            || self.b_idx.is_some_and(|i| grads.needs(i));
        let g = grad_out
            .as_slice_mut()
            .expect("gradients are in standard layout");
        let needs_x = grads.needs(0);
        // dz = a * gy + c0 + c1 * (z - mean) (c0 = c1 = 0 with running statistics).
        let coef = |c: usize, sums: (f64, f64)| -> DzCoef {
            let inv = self.inv_std[c] as f64;
            let a = self.gamma[c] as f64 * inv;
            let (c0, c1) = if self.train {
                (-a * sums.0 / p, -a * inv * (sums.1 * inv) / p)
            } else {
                (0.0, 0.0)
            };
            DzCoef {
                a: a as f32,
                c0: c0 as f32,
                c1: c1 as f32,
                mean: self.mean[c],
            }
        };
        let z_dz = if self.train { z } else { None };
        // (sum gy, sum gy * (z - mean)) per channel; with a bitset mask on a per-channel
        // layout, dz is written in the same per-channel pipeline.
        let (sums, dz_done) = match &self.mask {
            Mask::Bits(bits) if channel::eligible(&self.layout) && (need_sums || needs_x) => {
                let coef_dyn: &(dyn Fn(usize, (f64, f64)) -> DzCoef + Sync) = &coef;
                let sums = bn_backward_channels(
                    g,
                    z,
                    z_dz,
                    &self.layout,
                    &self.mean,
                    bits,
                    needs_x.then_some(coef_dyn),
                );
                (sums, needs_x)
            }
            _ if need_sums => (bn_sums(g, z, &self.layout, &self.mean, &self.mask), false),
            _ => (vec![(0.0, 0.0); c_n], false),
        };
        let gxhat = |c: usize| sums[c].1 * self.inv_std[c] as f64;
        if let Some(i) = self.w_idx {
            if grads.needs(i) {
                let gw: Vec<f32> = (0..c_n).map(|c| gxhat(c) as f32).collect();
                grads.put(i, ndarray::Array1::from(gw).into_dyn());
            }
        }
        if let Some(i) = self.b_idx {
            if grads.needs(i) {
                let gb: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
                grads.put(i, ndarray::Array1::from(gb).into_dyn());
            }
        }
        if !needs_x {
            return;
        }
        if !dz_done {
            let coefs: Vec<DzCoef> = (0..c_n).map(|c| coef(c, sums[c])).collect();
            bn_dz(g, z_dz, &self.layout, &coefs, &self.mask);
        }
        grads.put(0, grad_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array3};
    use sparling_tensor::testing::{GradCheck, gradcheck, random_array};

    fn layer(c: usize, density: f64, affine: bool) -> BatchNormSparse {
        let cfg = BatchNormSparseConfig::new(SparseConfig::new(c).with_density(density))
            .with_affine(affine);
        BatchNormSparse::new(cfg).unwrap()
    }

    #[test]
    fn bn_sparse_literal() {
        // x (N=2, C=1, L=2) = [1, 3 | 5, 7]: mean 4, biased var 5, xhat = [-3, -1, 1, 3] / sqrt5.
        // Density 0.5: k = 2, q = -1/sqrt5, t = 0.1 q; out = relu(xhat - t).
        // Upstream g = [1, 2, 3, 4]: gy = [0, 0, 3, 4], sum gy = 7, sum gy xhat = 15/sqrt5;
        // dz = (gy - 7/4 - xhat * (15/sqrt5)/4)/sqrt5 = [0.5, -1, 0.5, 0]/sqrt5;
        // d weight = 15/sqrt5 = 3 sqrt5, d bias = 7.
        let l = layer(1, 0.5, true);
        let x = Tensor::param(Array3::from_shape_vec((2, 1, 2), vec![1.0, 3.0, 5.0, 7.0]).unwrap());
        let y = l.forward(&x, true).unwrap();
        let s5 = (5.0f64 + 1e-5).sqrt();
        let t = 0.1 * (-1.0 / s5);
        assert!((l.thresholds()[0] as f64 - t).abs() < 1e-6);
        let want = [0.0, 0.0, 1.0 / s5 - t, 3.0 / s5 - t];
        for (a, b) in y.to_vec().iter().zip(want) {
            assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b}");
        }
        let g = y.backward_with(
            Array3::from_shape_vec((2, 1, 2), vec![1.0, 2.0, 3.0, 4.0])
                .unwrap()
                .into_dyn(),
        );
        let dz = g.get(&x).unwrap();
        for (a, b) in dz.iter().zip([0.5, -1.0, 0.5, 0.0]) {
            assert!((*a as f64 - b / s5).abs() < 1e-5, "{a} vs {}", b / s5);
        }
        let p = l.parameters();
        assert!((g.get(&p[0]).unwrap()[0] as f64 - 15.0 / s5).abs() < 1e-4);
        assert!((g.get(&p[1]).unwrap()[0] - 7.0).abs() < 1e-5);
        // Running statistics: 0.9 * 0 + 0.1 * 4 and 0.9 * 1 + 0.1 * 20/3.
        let st = l.bn_stats();
        assert!((st.running_mean[0] - 0.4).abs() < 1e-6);
        assert!((st.running_var[0] - (0.9 + 0.1 * 20.0 / 3.0)).abs() < 1e-5);
    }

    /// Thresholds in the middle of the widest gap of each channel's BatchNorm output.
    fn gap_thresholds(x: &ArrayD<f32>, w: &[f32], b: &[f32]) -> Vec<f32> {
        let mut stats = BatchNormStats::new(w.len());
        let y = Tensor::new(x.clone()).batch_norm(
            Some(&Tensor::new(Array1::from(w.to_vec()))),
            Some(&Tensor::new(Array1::from(b.to_vec()))),
            &mut stats,
            true,
        );
        let layout = ChannelLayout::of_shape("t", x.shape(), None).unwrap();
        (0..w.len())
            .map(|c| {
                let mut v = crate::kernel::channel_values(y.data().as_slice().unwrap(), &layout, c);
                v.sort_by(f32::total_cmp);
                let (i, _) = v
                    .windows(2)
                    .enumerate()
                    .max_by(|a, b| (a.1[1] - a.1[0]).total_cmp(&(b.1[1] - b.1[0])))
                    .unwrap();
                0.5 * (v[i] + v[i + 1])
            })
            .collect()
    }

    #[test]
    fn bn_sparse_grad_matches_fd_with_batch_statistics() {
        for (shape, affine) in [
            (&[2usize, 3, 5][..], true),
            (&[3, 2, 2, 3][..], false),
            (&[4, 3][..], true),
        ] {
            let c = shape[1];
            let x = random_array(shape, 21);
            let w: Vec<f32> = random_array(&[c], 22).iter().map(|v| v + 1.5).collect();
            let b: Vec<f32> = random_array(&[c], 23).iter().copied().collect();
            let (w, b) = if affine {
                (w, b)
            } else {
                (vec![1.0; c], vec![0.0; c])
            };
            let t = gap_thresholds(&x, &w, &b);
            let f = |xs: &[Tensor]| {
                let l = layer(c, 0.5, affine);
                let mut st = l.sparse.state();
                st.thresholds = t.clone();
                l.sparse.load_state(st).unwrap();
                let layout = ChannelLayout::of_shape("t", xs[0].shape(), None).unwrap();
                let (w, b) = if affine {
                    (Some(&xs[1]), Some(&xs[2]))
                } else {
                    (None, None)
                };
                l.fused(&xs[0], &layout, w, b, true, false).unwrap()
            };
            let mut inputs = vec![x];
            if affine {
                inputs.push(Array1::from(w).into_dyn());
                inputs.push(Array1::from(b).into_dyn());
            }
            let cfg = GradCheck {
                eps: 1e-3,
                atol: 3e-3,
                rtol: 3e-2,
                ..GradCheck::default()
            };
            gradcheck(f, &inputs, &cfg);
        }
    }

    #[test]
    fn bn_sparse_grad_matches_fd_in_eval() {
        let l = layer(3, 0.3, true);
        let x = random_array(&[2, 3, 4], 31);
        // Warm the running statistics and thresholds up, then check eval (an affine map).
        for s in 0..5 {
            l.forward(&Tensor::new(random_array(&[2, 3, 4], 40 + s)), true)
                .unwrap();
        }
        let t = l.thresholds();
        let st = l.bn_stats();
        let mut x = x;
        // Move inputs whose output sits near the threshold.
        for (i, v) in x.iter_mut().enumerate() {
            let c = (i / 4) % 3;
            let y = (*v - st.running_mean[c]) / (st.running_var[c] + 1e-5).sqrt();
            if (y - t[c]).abs() < 0.05 {
                *v += 0.2;
            }
        }
        let state = l.state();
        let f = |xs: &[Tensor]| {
            let l2 = layer(3, 0.3, true);
            l2.load_state(state.clone()).unwrap();
            l2.forward_with(&xs[0], Some(&xs[1]), Some(&xs[2]), false)
                .unwrap()
        };
        let inputs = vec![
            x,
            Array1::from(state.weight.clone().unwrap()).into_dyn(),
            Array1::from(state.bias.clone().unwrap()).into_dyn(),
        ];
        gradcheck(f, &inputs, &GradCheck::default());
    }

    #[test]
    fn bn_sparse_matches_batch_norm_then_sparse() {
        // The fused op against the composition of sparling_tensor's batch_norm and the Sparse
        // layer, over a few training steps and an eval step, with a negative weight channel.
        // The first shape takes the all-channel passes, the second the per-channel pipeline.
        for (shape, density) in [
            ([3usize, 3, 17, 13], 0.5),
            ([3, 3, 17, 13], 0.01),
            ([2, 3, 32, 40], 0.5),
            ([2, 3, 32, 40], 0.01),
        ] {
            let fused = layer(3, density, true);
            let w = Tensor::param(Array1::from(vec![1.3f32, -0.7, 0.9]));
            let b = Tensor::param(Array1::from(vec![0.1f32, 0.2, -0.3]));
            fused.set_parameters(w.clone(), b.clone()).unwrap();
            let sparse = SparseLayer::new(SparseConfig::new(3).with_density(density)).unwrap();
            let mut stats = BatchNormStats::new(3);
            for step in 0..4 {
                let train = step < 3;
                let x = Tensor::param(random_array(&shape, 50 + step).mapv(|v| 2.0 * v + 0.5));
                let y1 = fused.forward(&x, train).unwrap();
                let y2 = sparse
                    .forward(&x.batch_norm(Some(&w), Some(&b), &mut stats, train), train)
                    .unwrap();
                sparling_tensor::testing::assert_close(y1.data(), y2.data(), 2e-5, 1e-4);
                for (a, b) in fused.thresholds().iter().zip(sparse.thresholds()) {
                    assert!((a - b).abs() < 2e-5, "{a} vs {b}");
                }
                let st = fused.bn_stats();
                sparling_tensor::testing::assert_close(
                    &Array1::from(st.running_var.clone()).into_dyn(),
                    &Array1::from(stats.running_var.clone()).into_dyn(),
                    1e-6,
                    1e-5,
                );
                let proj = random_array(&shape, 60 + step);
                // Compare gradients only where both masks agree (ties at the threshold aside).
                let g1 = y1.backward_with(proj.clone());
                let g2 = y2.backward_with(proj);
                sparling_tensor::testing::assert_close(
                    g1.get(&x).unwrap(),
                    g2.get(&x).unwrap(),
                    1e-4,
                    1e-3,
                );
                for p in [&w, &b] {
                    sparling_tensor::testing::assert_close(
                        g1.get(p).unwrap(),
                        g2.get(p).unwrap(),
                        1e-3,
                        1e-3,
                    );
                }
            }
        }
    }

    #[test]
    fn bn_sparse_is_thread_count_independent() {
        let run = |threads, density| {
            sparling_tensor::testing::with_threads(threads, || {
                let l = layer(3, density, true);
                let mut outs = Vec::new();
                for step in 0..3 {
                    let x = Tensor::param(random_array(&[4, 3, 60, 70], 70 + step));
                    let y = l.forward(&x, true).unwrap();
                    let g = y.backward_with(random_array(&[4, 3, 60, 70], 80 + step));
                    outs.push(y.to_vec());
                    outs.push(g.get(&x).unwrap().iter().copied().collect());
                    for p in l.parameters() {
                        outs.push(g.get(&p).unwrap().iter().copied().collect());
                    }
                    outs.push(l.thresholds());
                }
                outs
            })
        };
        for density in [0.001, 0.5] {
            assert_eq!(run(1, density), run(3, density));
        }
    }

    #[test]
    fn bn_sparse_rejects_non_finite_without_moving_state() {
        let l = layer(2, 0.5, true);
        let mut x = random_array(&[2, 2, 3], 1);
        x[[1, 1, 2]] = f32::NAN;
        let before = l.state();
        let err = l.forward(&Tensor::new(x), true).unwrap_err();
        assert!(err.to_string().contains("channel 1"), "{err}");
        assert_eq!(l.state(), before);
    }
}

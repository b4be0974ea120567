//! [`SparseLayer`]: `relu(z - t[c])` with thresholds tracking the batch's k-th value.
//!
//! In training mode every forward first computes, per channel, the k-th smallest value `q` of
//! the batch (`k = max(1, floor(P * (1 - density)))`, `P` positions per channel) and moves the
//! threshold `t = (1 - momentum) * t + momentum * q` (momentum 0.1), then outputs
//! `relu(z - t)` with the updated `t`; in evaluation mode `t` is frozen. Thresholds start at 0.
//! Variants: per-channel thresholds (MT, the default), one threshold for all values (ST), and
//! the accumulated estimator (see [`crate::accumulate`]).

use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sparling_tensor::Tensor;

use crate::accumulate::Accumulator;
use crate::error::{Error, Result};
use crate::kernel::apply::{MaskMode, finish};
use crate::kernel::channel::{self, TrainSpec};
use crate::kernel::layout::ChannelLayout;
use crate::kernel::select::{SelectHint, kth_index, select};
use crate::op::{contiguous, mask_mode, record_sparse};

/// Per-channel thresholds (MT) or a single one over all values (ST).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThresholdMode {
    /// One threshold per channel: the paper's method.
    #[default]
    PerChannel,
    /// One threshold over all `N * C * ...` values (an ablation).
    Single,
}

/// Configuration of a [`SparseLayer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SparseConfig {
    /// Number of channels C (axis 1 of the input).
    pub channels: usize,
    /// Density (`1 - sparsity`, the fraction of values kept) at construction; 0.5 in the paper.
    pub initial_density: f64,
    /// Weight of the new k-th value in the threshold update (0.1).
    pub momentum: f64,
    /// MT or ST.
    pub mode: ThresholdMode,
    /// `Some(m)`: the accumulated estimator, updating once `positions * density >= m` (the
    /// reference uses 10). `None`: update on every training batch.
    pub accumulate: Option<f64>,
}

impl SparseConfig {
    /// Per-channel thresholds, density 0.5, momentum 0.1, no accumulation.
    pub fn new(channels: usize) -> SparseConfig {
        SparseConfig {
            channels,
            initial_density: 0.5,
            momentum: 0.1,
            mode: ThresholdMode::PerChannel,
            accumulate: None,
        }
    }

    /// One threshold over all values (ST).
    pub fn single_threshold(mut self) -> Self {
        self.mode = ThresholdMode::Single;
        self
    }

    /// The accumulated estimator, updating once `min_survivors` survivors are expected.
    pub fn accumulated(mut self, min_survivors: f64) -> Self {
        self.accumulate = Some(min_survivors);
        self
    }

    /// Sets the initial density.
    pub fn with_density(mut self, density: f64) -> Self {
        self.initial_density = density;
        self
    }

    /// Sets the momentum.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Checks the ranges: at least one channel, density in (0, 1], momentum in (0, 1], a
    /// positive accumulation target.
    pub fn validate(&self) -> Result<()> {
        if self.channels == 0 {
            return Err(config("channels must be at least 1".into()));
        }
        check_density(self.initial_density)?;
        if !(self.momentum > 0.0 && self.momentum <= 1.0) {
            return Err(config(format!(
                "momentum {} is not in (0, 1]",
                self.momentum
            )));
        }
        if let Some(m) = self.accumulate {
            if !(m > 0.0 && m.is_finite()) {
                return Err(config(format!("accumulation target {m} is not positive")));
            }
        }
        Ok(())
    }

    pub(crate) fn groups(&self) -> usize {
        match self.mode {
            ThresholdMode::PerChannel => self.channels,
            ThresholdMode::Single => 1,
        }
    }
}

fn config(msg: String) -> Error {
    Error::Config {
        op: "sparse layer",
        msg,
    }
}

/// Errors unless `0 < density <= 1`.
pub(crate) fn check_density(density: f64) -> Result<()> {
    if density > 0.0 && density <= 1.0 {
        Ok(())
    } else {
        Err(config(format!("density {density} is not in (0, 1]")))
    }
}

/// The mutable state of a [`SparseLayer`]: everything a resumed run needs to continue
/// bit-for-bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SparseState {
    /// One threshold per channel (MT) or a single one (ST).
    pub thresholds: Vec<f32>,
    /// Current density.
    pub density: f64,
    /// The accumulated estimator's candidates, if accumulating.
    pub accumulator: Option<Accumulator>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) state: SparseState,
    /// Brackets for the next selection: speed only, never serialised.
    pub(crate) hints: Vec<Option<SelectHint>>,
}

/// The Sparse layer (see the module docs). The state sits behind a mutex, so `forward` takes
/// `&self` and the layer can live inside a model shared across threads.
#[derive(Debug)]
pub struct SparseLayer {
    config: SparseConfig,
    inner: Mutex<Inner>,
}

impl SparseLayer {
    /// A layer with thresholds 0 at the configured initial density.
    pub fn new(config: SparseConfig) -> Result<SparseLayer> {
        config.validate()?;
        let g = config.groups();
        let state = SparseState {
            thresholds: vec![0.0; g],
            density: config.initial_density,
            accumulator: config.accumulate.map(|m| Accumulator::new(g, m)),
        };
        Ok(SparseLayer {
            inner: Mutex::new(Inner {
                state,
                hints: vec![None; g],
            }),
            config,
        })
    }

    /// A layer restored from a saved state (see [`Self::state`]).
    pub fn from_state(config: SparseConfig, state: SparseState) -> Result<SparseLayer> {
        let layer = SparseLayer::new(config)?;
        layer.load_state(state)?;
        Ok(layer)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configuration.
    pub fn config(&self) -> &SparseConfig {
        &self.config
    }

    /// Current density (fraction of values kept).
    pub fn density(&self) -> f64 {
        self.lock().state.density
    }

    /// Current sparsity (`1 - density`).
    pub fn sparsity(&self) -> f64 {
        1.0 - self.density()
    }

    /// Sets the density (driven by an annealing schedule); errors unless in (0, 1].
    pub fn set_density(&self, density: f64) -> Result<()> {
        check_density(density)?;
        self.lock().state.density = density;
        Ok(())
    }

    /// The current thresholds (C of them, or 1 for ST).
    pub fn thresholds(&self) -> Vec<f32> {
        self.lock().state.thresholds.clone()
    }

    /// A copy of the full mutable state.
    pub fn state(&self) -> SparseState {
        self.lock().state.clone()
    }

    /// Replaces the state (checked against the configuration).
    pub fn load_state(&self, state: SparseState) -> Result<()> {
        let g = self.config.groups();
        if state.thresholds.len() != g {
            return Err(config(format!(
                "state has {} thresholds, the layer needs {g}",
                state.thresholds.len()
            )));
        }
        check_density(state.density)?;
        if state.accumulator.is_some() != self.config.accumulate.is_some()
            || state
                .accumulator
                .as_ref()
                .is_some_and(|a| a.kept.len() != g)
        {
            return Err(config(
                "state's accumulator does not match the configuration".into(),
            ));
        }
        let mut inner = self.lock();
        inner.state = state;
        inner.hints = vec![None; g];
        Ok(())
    }

    /// Applies the layer to a channels-first `x` (`(N, C)`, `(N, C, L)` or `(N, C, H, W)`).
    /// In training mode the thresholds are updated first (see the module docs). Errors on a
    /// wrong channel count, an empty batch, or a NaN/infinite input (naming its channel; the
    /// state is then unchanged).
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let layout =
            ChannelLayout::of_shape("sparse layer", x.shape(), Some(self.config.channels))?;
        if layout.positions() == 0 {
            return Err(Error::Shape {
                op: "sparse layer",
                expected: "at least one position per channel".into(),
                shape: x.shape().to_vec(),
            });
        }
        let groups = match self.config.mode {
            ThresholdMode::PerChannel => layout,
            ThresholdMode::Single => ChannelLayout::single(layout.len()),
        };
        let mut inner = self.lock();
        let density = inner.state.density;
        let len = layout.len();
        let mode = mask_mode(x, density, len);
        let data = contiguous(x);
        let mut out: Vec<f32> = Vec::with_capacity(len);
        let mut single = None;
        if train {
            let Inner { state, hints } = &mut *inner;
            let q = match &mut state.accumulator {
                None if self.config.mode == ThresholdMode::PerChannel
                    && channel::eligible(&layout) =>
                {
                    // One pipeline per channel (selection, threshold, output).
                    let k = kth_index(layout.positions(), 1.0 - density);
                    let spec = TrainSpec {
                        ks: &vec![k; layout.channels],
                        bn: None,
                        t_old: &state.thresholds,
                        momentum: self.config.momentum,
                        update: true,
                        mode,
                    };
                    let (out, mask, steps) = channel::train_step(&data, &layout, spec, hints)?;
                    for (t, st) in state.thresholds.iter_mut().zip(&steps) {
                        *t = st.t;
                    }
                    drop(inner);
                    drop(data);
                    return Ok(record_sparse(x, out, mask));
                }
                None => {
                    let k = kth_index(groups.positions(), 1.0 - density);
                    // At high sparsity the selection pass also zeroes the output (one pass).
                    let zero =
                        (mode != MaskMode::Bits).then(|| &mut out.spare_capacity_mut()[..len]);
                    let sel = select(&data, &groups, &vec![k; groups.channels], hints, None, zero)?;
                    single = sel.single_pass;
                    Some(sel.values)
                }
                Some(acc) => acc.push(&data, &groups, density, hints)?,
            };
            if let Some(q) = q {
                momentum_update(&mut state.thresholds, &q, self.config.momentum);
            }
        }
        let t = inner.state.thresholds.clone();
        drop(inner);
        let (out, mask) = finish(&data, &groups, &t, None, mode, single, out);
        drop(data);
        Ok(record_sparse(x, out, mask))
    }
}

impl SparseLayer {
    /// `z - t` without the ReLU, with the thresholds frozen (evaluation; no graph is
    /// recorded): the pre-activation the paper's direct evaluation takes the spatial maximum
    /// of. `x` is channels-first as in [`SparseLayer::forward`].
    pub fn shifted(&self, x: &Tensor) -> Result<Tensor> {
        ChannelLayout::of_shape("sparse layer", x.shape(), Some(self.config.channels))?;
        let t = self.thresholds();
        let mut out = x.data().clone();
        for (c, mut channel) in out.axis_iter_mut(ndarray::Axis(1)).enumerate() {
            let tc = match self.config.mode {
                ThresholdMode::PerChannel => t[c],
                ThresholdMode::Single => t[0],
            };
            channel.mapv_inplace(|v| v - tc);
        }
        Ok(Tensor::new(out))
    }
}

/// `t = (1 - m) * t + m * q` in f32 (the weights rounded from f64, as PyTorch does).
pub(crate) fn momentum_update(t: &mut [f32], q: &[f32], momentum: f64) {
    let keep = (1.0 - momentum) as f32;
    let new = momentum as f32;
    for (t, &q) in t.iter_mut().zip(q) {
        *t = *t * keep + q * new;
    }
}

#[derive(Serialize, Deserialize)]
struct LayerRepr {
    config: SparseConfig,
    state: SparseState,
}

impl Serialize for SparseLayer {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        LayerRepr {
            config: self.config.clone(),
            state: self.state(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SparseLayer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let repr = LayerRepr::deserialize(d)?;
        SparseLayer::from_state(repr.config, repr.state).map_err(serde::de::Error::custom)
    }
}

//! Normalisation layers: [`BatchNorm`] (channel axis 1, running statistics as store buffers)
//! and [`LayerNorm`] (last axis).

use std::sync::{Arc, Mutex};

use ndarray::{Array1, IxDyn};
use sparling_tensor::ops::BatchNormStats;
use sparling_tensor::{Module, ModuleT, Tensor};

use crate::init::Init;
use crate::store::{Buffer, Param, Path};

/// Settings of [`BatchNorm`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Weight of the current batch in the running-statistics update (PyTorch: 0.1).
    pub momentum: f32,
    /// Added to the variance before the square root (PyTorch: 1e-5).
    pub eps: f32,
    /// Learn a per-channel scale (`weight`, init 1) and shift (`bias`, init 0).
    pub affine: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            momentum: 0.1,
            eps: 1e-5,
            affine: true,
        }
    }
}

/// Which input ranks a [`BatchNorm`] accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rank {
    /// `(N, C)` or `(N, C, L)`.
    OneD,
    /// `(N, C, H, W)`.
    TwoD,
}

/// Batch normalisation over channel axis 1, as `torch.nn.BatchNorm{1,2}d`.
///
/// Training mode (`forward_t(x, true)`) normalises with the batch statistics and moves the
/// running statistics towards them (`running = (1 - momentum) running + momentum batch`,
/// unbiased variance); evaluation mode uses the running statistics. Parameters: `weight`,
/// `bias` (if affine); buffers: `running_mean` (init 0), `running_var` (init 1). An internal
/// mutex makes each read-update-write of the running statistics atomic.
#[derive(Debug)]
pub struct BatchNorm {
    weight: Option<Arc<Param>>,
    bias: Option<Arc<Param>>,
    running_mean: Arc<Buffer>,
    running_var: Arc<Buffer>,
    cfg: BatchNormConfig,
    rank: Rank,
    update: Mutex<()>,
}

fn build(p: &Path, channels: usize, cfg: BatchNormConfig, rank: Rank) -> BatchNorm {
    let (weight, bias) = if cfg.affine {
        (
            Some(p.param("weight", &[channels], Init::Ones)),
            Some(p.param("bias", &[channels], Init::Zeros)),
        )
    } else {
        (None, None)
    };
    BatchNorm {
        weight,
        bias,
        running_mean: p.buffer("running_mean", &[channels], Init::Zeros),
        running_var: p.buffer("running_var", &[channels], Init::Ones),
        cfg,
        rank,
        update: Mutex::new(()),
    }
}

/// A [`BatchNorm`] over `channels` for `(N, C)` or `(N, C, L)` inputs (`BatchNorm1d`).
pub fn batch_norm1d(p: &Path, channels: usize, cfg: BatchNormConfig) -> BatchNorm {
    build(p, channels, cfg, Rank::OneD)
}

/// A [`BatchNorm`] over `channels` for `(N, C, H, W)` inputs (`BatchNorm2d`).
pub fn batch_norm2d(p: &Path, channels: usize, cfg: BatchNormConfig) -> BatchNorm {
    build(p, channels, cfg, Rank::TwoD)
}

impl BatchNorm {
    /// The scale, if affine.
    pub fn weight(&self) -> Option<&Arc<Param>> {
        self.weight.as_ref()
    }

    /// The shift, if affine.
    pub fn bias(&self) -> Option<&Arc<Param>> {
        self.bias.as_ref()
    }

    /// The running mean buffer.
    pub fn running_mean(&self) -> &Arc<Buffer> {
        &self.running_mean
    }

    /// The running variance buffer.
    pub fn running_var(&self) -> &Arc<Buffer> {
        &self.running_var
    }

    /// The settings.
    pub fn config(&self) -> &BatchNormConfig {
        &self.cfg
    }

    /// A snapshot of the running statistics in the tensor crate's form.
    pub fn stats(&self) -> BatchNormStats {
        BatchNormStats {
            running_mean: self.running_mean.get().iter().copied().collect(),
            running_var: self.running_var.get().iter().copied().collect(),
            momentum: self.cfg.momentum,
            eps: self.cfg.eps,
        }
    }
}

impl ModuleT for BatchNorm {
    /// Normalises `x`; see the type's documentation.
    ///
    /// # Panics
    /// If the rank does not match the layer (1-D: `(N, C)` / `(N, C, L)`; 2-D:
    /// `(N, C, H, W)`), the channel count differs, or training with one value per channel.
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let ok = match self.rank {
            Rank::OneD => x.ndim() == 2 || x.ndim() == 3,
            Rank::TwoD => x.ndim() == 4,
        };
        sparling_tensor::shape_check!(
            ok,
            "BatchNorm",
            "{:?} expects {} input, got shape {:?}",
            self.running_mean.name(),
            if self.rank == Rank::OneD {
                "(N, C) or (N, C, L)"
            } else {
                "(N, C, H, W)"
            },
            x.shape()
        );
        let w = self.weight.as_ref().map(|p| p.get());
        let b = self.bias.as_ref().map(|p| p.get());
        let _guard = self.update.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats = self.stats();
        let y = x.batch_norm(w.as_ref(), b.as_ref(), &mut stats, train);
        if train {
            let c = stats.running_mean.len();
            let to_arr = |v: Vec<f32>| Array1::from(v).into_shape_with_order(IxDyn(&[c]));
            self.running_mean
                .set(to_arr(stats.running_mean).expect("(C,)"));
            self.running_var
                .set(to_arr(stats.running_var).expect("(C,)"));
        }
        y
    }
}

/// Settings of [`LayerNorm`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerNormConfig {
    /// Added to the variance before the square root (PyTorch: 1e-5).
    pub eps: f32,
    /// Learn a per-feature scale (`weight`, init 1) and shift (`bias`, init 0).
    pub affine: bool,
}

impl Default for LayerNormConfig {
    fn default() -> Self {
        LayerNormConfig {
            eps: 1e-5,
            affine: true,
        }
    }
}

/// Layer normalisation over the last axis, as `torch.nn.LayerNorm(d)`. Parameters: `weight`,
/// `bias` (if affine).
#[derive(Clone, Debug)]
pub struct LayerNorm {
    weight: Option<Arc<Param>>,
    bias: Option<Arc<Param>>,
    eps: f32,
}

/// A [`LayerNorm`] over a last axis of size `d`, registered under `p`.
pub fn layer_norm(p: &Path, d: usize, cfg: LayerNormConfig) -> LayerNorm {
    let (weight, bias) = if cfg.affine {
        (
            Some(p.param("weight", &[d], Init::Ones)),
            Some(p.param("bias", &[d], Init::Zeros)),
        )
    } else {
        (None, None)
    };
    LayerNorm {
        weight,
        bias,
        eps: cfg.eps,
    }
}

impl LayerNorm {
    /// The scale, if affine.
    pub fn weight(&self) -> Option<&Arc<Param>> {
        self.weight.as_ref()
    }

    /// The shift, if affine.
    pub fn bias(&self) -> Option<&Arc<Param>> {
        self.bias.as_ref()
    }
}

impl Module for LayerNorm {
    /// `(..., d) -> (..., d)`, each row normalised.
    fn forward(&self, x: &Tensor) -> Tensor {
        let w = self.weight.as_ref().map(|p| p.get());
        let b = self.bias.as_ref().map(|p| p.get());
        x.layer_norm(w.as_ref(), b.as_ref(), self.eps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use crate::test_util::check_layer_grads;
    use ndarray::{arr1, arr2};
    use sparling_tensor::testing::random_array;

    #[test]
    fn batch_norm_literal_train_then_eval() {
        // Two channels over a batch of 2: channel 0 = [1, 3] (mean 2, biased var 1, unbiased 2),
        // channel 1 = [0, 0] (mean 0, var 0). Training output: [-1, 1] / sqrt(1 + eps) and 0.
        let store = ParamStore::new(0);
        let bn = batch_norm1d(&store.sub("bn"), 2, BatchNormConfig::default());
        let x = Tensor::new(arr2(&[[1.0f32, 0.0], [3.0, 0.0]]));
        let y = bn.forward_t(&x, true).to_vec();
        let s = 1.0 / (1.0f32 + 1e-5).sqrt();
        assert!((y[0] + s).abs() < 1e-6 && (y[2] - s).abs() < 1e-6);
        assert_eq!((y[1], y[3]), (0.0, 0.0));
        // Running stats: mean 0.9 * 0 + 0.1 * 2 = 0.2, var 0.9 * 1 + 0.1 * 2 = 1.1 (ch 0);
        // mean 0, var 0.9 (ch 1).
        let rm = bn.running_mean().get();
        let rv = bn.running_var().get();
        assert!((rm[0] - 0.2).abs() < 1e-6 && rm[1] == 0.0);
        assert!((rv[0] - 1.1).abs() < 1e-6 && (rv[1] - 0.9).abs() < 1e-6);
        // Eval uses the running stats: (1 - 0.2) / sqrt(1.1 + eps); stats unchanged.
        let ye = bn.forward_t(&x, false).to_vec();
        assert!((ye[0] - 0.8 / (1.1f32 + 1e-5).sqrt()).abs() < 1e-5);
        assert_eq!(bn.running_mean().get(), rm);
        // The stats are store buffers, exported with the parameters.
        let dict = store.export();
        assert_eq!(
            dict.get("bn.running_var").unwrap().data,
            rv.iter().copied().collect::<Vec<_>>()
        );
        assert_eq!(dict.params.len(), 2);
    }

    #[test]
    fn batch_norm_stats_restore_through_state_dict() {
        let a = ParamStore::new(0);
        let bn_a = batch_norm2d(&a.sub("bn"), 3, BatchNormConfig::default());
        let x = Tensor::new(random_array(&[2, 3, 2, 2], 1));
        bn_a.forward_t(&x, true);
        let b = ParamStore::new(1);
        let bn_b = batch_norm2d(&b.sub("bn"), 3, BatchNormConfig::default());
        b.import(&a.export()).unwrap();
        assert_eq!(
            bn_a.forward_t(&x, false).to_vec(),
            bn_b.forward_t(&x, false).to_vec()
        );
    }

    #[test]
    fn batch_norm_grad_matches_fd_in_training() {
        let store = ParamStore::new(2);
        let bn = batch_norm2d(&store.sub("bn"), 2, BatchNormConfig::default());
        store
            .get_param("bn.weight")
            .unwrap()
            .set(arr1(&[1.5f32, -0.7]).into_dyn());
        store
            .get_param("bn.bias")
            .unwrap()
            .set(arr1(&[0.2f32, 0.3]).into_dyn());
        let x = random_array(&[3, 2, 2, 2], 4);
        check_layer_grads(&store, &[x], |t| bn.forward_t(&t[0], true).tanh());
    }

    #[test]
    fn batch_norm_non_affine_has_no_params() {
        let store = ParamStore::new(0);
        let bn = batch_norm1d(
            &store.sub("bn"),
            4,
            BatchNormConfig {
                affine: false,
                ..BatchNormConfig::default()
            },
        );
        assert!(bn.weight().is_none() && store.params().is_empty());
        assert_eq!(store.buffers().len(), 2);
        let y = bn.forward_t(&Tensor::new(random_array(&[5, 4, 3], 0)), true);
        assert_eq!(y.shape(), &[5, 4, 3]);
    }

    #[test]
    #[should_panic(expected = "BatchNorm: \"bn.running_mean\" expects (N, C, H, W) input")]
    fn batch_norm2d_rejects_3d_input() {
        let store = ParamStore::new(0);
        let bn = batch_norm2d(&store.sub("bn"), 2, BatchNormConfig::default());
        bn.forward_t(&Tensor::zeros(&[2, 2, 3]), true);
    }

    #[test]
    fn layer_norm_literal_and_grad() {
        // Row [1, 2, 3]: mean 2, biased var 2/3; y = (x - 2) / sqrt(2/3 + eps) * w + b with
        // w = [1, 2, 1], b = [0, 0, 1] -> [-1.2247, 0, 2.2247].
        let store = ParamStore::new(0);
        let ln = layer_norm(&store.sub("ln"), 3, LayerNormConfig::default());
        ln.weight()
            .unwrap()
            .set(arr1(&[1.0f32, 2.0, 1.0]).into_dyn());
        ln.bias().unwrap().set(arr1(&[0.0f32, 0.0, 1.0]).into_dyn());
        let y = ln
            .forward(&Tensor::new(arr2(&[[1.0f32, 2.0, 3.0]])))
            .to_vec();
        let s = 1.0 / (2.0f32 / 3.0 + 1e-5).sqrt();
        assert!((y[0] + s).abs() < 1e-5 && y[1].abs() < 1e-6 && (y[2] - (s + 1.0)).abs() < 1e-5);

        let store = ParamStore::new(1);
        let ln = layer_norm(&store.sub("ln"), 4, LayerNormConfig::default());
        store
            .get_param("ln.weight")
            .unwrap()
            .set(random_array(&[4], 8));
        let x = random_array(&[2, 3, 4], 9);
        check_layer_grads(&store, &[x], |t| ln.forward(&t[0]));
    }
}

//! Drop-in bottlenecks: the Sparse layer and the paper's baselines behind one [`Bottleneck`]
//! trait, each returning its output and its auxiliary loss (to add to the task loss).
//!
//! | bottleneck | output | auxiliary loss |
//! |---|---|---|
//! | [`BatchNormSparse`] (Sparling) | `relu(BN(x) - t)` | none |
//! | [`L1Bottleneck`] | `relu(BN(x))` | `lambda * mean(abs(out))` |
//! | [`KlBottleneck`] | `relu(s - 0.5)`, `s = sigmoid(BN(x))` | `lambda * KL(p, mean(s))` |
//! | [`NoiseBottleneck`] | `BN1(x) + sigma * noise` | none |
//! | [`Identity`] | `x` | none |
//!
//! `BN` is an affine BatchNorm over the channels. The noise bottleneck follows the reference:
//! one non-affine BatchNorm over all channels together, then Gaussian noise in training and in
//! evaluation, information-matched to the target sparsity `s`:
//! `sigma^2 = 1 / (exp(2 * Hb(s)) - 1)`, `Hb` the binary entropy in nats. The L1 and KL
//! baselines keep a density only so that a schedule can drive every bottleneck alike; it
//! does not change them (their sparsity comes from `lambda`).

use std::fmt::Debug;
use std::sync::{Mutex, MutexGuard};

use ndarray::{Array1, ArrayD, IxDyn};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use sparling_tensor::Tensor;
use sparling_tensor::ops::BatchNormStats;

use crate::bn_sparse::{BatchNormSparse, BatchNormSparseConfig, BatchNormSparseState};
use crate::error::{Error, Result};
use crate::kernel::ChannelLayout;
use crate::layer::{SparseLayer, SparseState, check_density};

/// What a bottleneck returns: the map passed downstream and the loss term it adds.
#[derive(Clone, Debug)]
pub struct BottleneckOutput {
    /// The (sparse, or regularised) map.
    pub out: Tensor,
    /// The auxiliary loss (a scalar), if the bottleneck has one.
    pub aux_loss: Option<Tensor>,
}

/// The saved state of any bottleneck.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BottleneckState {
    /// [`BatchNormSparse`].
    Sparse(BatchNormSparseState),
    /// [`SparseLayer`] without BatchNorm.
    PlainSparse(SparseState),
    /// [`L1Bottleneck`] or [`KlBottleneck`].
    Norm(NormState),
    /// [`NoiseBottleneck`].
    Noise(NoiseState),
    /// [`Identity`].
    Identity,
}

/// A layer between the motif network and the downstream network.
pub trait Bottleneck: Send + Sync + Debug {
    /// Applies the bottleneck; `train` selects batch statistics and state updates.
    fn forward_bottleneck(&self, x: &Tensor, train: bool) -> Result<BottleneckOutput>;
    /// The density a schedule drives (see each type for its effect).
    fn density(&self) -> f64;
    /// Sets the density (errors unless in (0, 1]).
    fn set_density(&self, density: f64) -> Result<()>;
    /// Trainable parameters held by the bottleneck.
    fn parameters(&self) -> Vec<Tensor>;
    /// Replaces the held parameters, in the order of [`Self::parameters`].
    fn set_parameters(&self, params: Vec<Tensor>) -> Result<()>;
    /// A copy of the state (for checkpoints).
    fn state(&self) -> BottleneckState;
    /// Restores a state saved by [`Self::state`].
    fn load_state(&self, state: BottleneckState) -> Result<()>;
}

/// Which bottleneck to build (serialisable, for experiment configurations).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BottleneckConfig {
    /// BatchNorm + Sparse (Sparling).
    Sparse(BatchNormSparseConfig),
    /// BatchNorm + ReLU with an L1 penalty.
    L1 {
        /// Channels.
        channels: usize,
        /// Weight of the penalty (the paper sweeps 0.1 to 10).
        lambda: f32,
    },
    /// BatchNorm + sigmoid with a KL penalty towards `target`.
    Kl {
        /// Channels.
        channels: usize,
        /// Weight of the penalty (the paper sweeps 0.01 to 1e5).
        lambda: f32,
        /// Target mean activation p (5.0226e-5).
        target: f32,
    },
    /// BatchNorm + information-matched Gaussian noise.
    Noise {
        /// Channels.
        channels: usize,
        /// Initial density (sets the noise level).
        density: f64,
        /// Seed of the noise.
        seed: u64,
    },
    /// No bottleneck.
    Identity,
}

impl BottleneckConfig {
    /// Builds the bottleneck.
    pub fn build(&self) -> Result<Box<dyn Bottleneck>> {
        Ok(match self {
            BottleneckConfig::Sparse(c) => Box::new(BatchNormSparse::new(c.clone())?),
            BottleneckConfig::L1 { channels, lambda } => {
                Box::new(L1Bottleneck::new(*channels, *lambda)?)
            }
            BottleneckConfig::Kl {
                channels,
                lambda,
                target,
            } => Box::new(KlBottleneck::new(*channels, *lambda, *target)?),
            BottleneckConfig::Noise {
                channels,
                density,
                seed,
            } => Box::new(NoiseBottleneck::new(*channels, *density, *seed)?),
            BottleneckConfig::Identity => Box::new(Identity::default()),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn check_input(op: &'static str, x: &Tensor, channels: usize, train: bool) -> Result<()> {
    let layout = ChannelLayout::of_shape(op, x.shape(), Some(channels))?;
    if x.ndim() > 4 || layout.positions() == 0 || (train && layout.positions() < 2) {
        return Err(Error::Shape {
            op,
            expected:
                "(N, C), (N, C, L) or (N, C, H, W) with two positions per channel in training"
                    .into(),
            shape: x.shape().to_vec(),
        });
    }
    if let Some(flat) = x.data().iter().position(|v| !v.is_finite()) {
        let (channel, item, offset) = layout.locate(flat);
        return Err(Error::NonFinite {
            op,
            channel,
            item,
            offset,
            value: x.data().iter().nth(flat).copied().unwrap_or(f32::NAN),
        });
    }
    Ok(())
}

/// The saved state of an affine BatchNorm (L1 and KL baselines).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NormState {
    /// Running statistics.
    pub bn: BatchNormStats,
    /// Weight.
    pub weight: Vec<f32>,
    /// Bias.
    pub bias: Vec<f32>,
    /// The (inert) density.
    pub density: f64,
}

/// An affine BatchNorm with held parameters (shared by the L1 and KL baselines).
#[derive(Debug)]
struct AffineNorm {
    channels: usize,
    stats: Mutex<BatchNormStats>,
    params: Mutex<(Tensor, Tensor)>,
    density: Mutex<f64>,
}

impl AffineNorm {
    fn new(channels: usize) -> AffineNorm {
        AffineNorm {
            channels,
            stats: Mutex::new(BatchNormStats::new(channels)),
            params: Mutex::new((
                Tensor::param(Array1::<f32>::ones(channels)),
                Tensor::param(Array1::<f32>::zeros(channels)),
            )),
            density: Mutex::new(1.0),
        }
    }

    fn forward(&self, op: &'static str, x: &Tensor, train: bool) -> Result<Tensor> {
        check_input(op, x, self.channels, train)?;
        let (w, b) = lock(&self.params).clone();
        let mut stats = lock(&self.stats);
        Ok(x.batch_norm(Some(&w), Some(&b), &mut stats, train))
    }

    fn parameters(&self) -> Vec<Tensor> {
        let (w, b) = lock(&self.params).clone();
        vec![w, b]
    }

    fn set_parameters(&self, params: Vec<Tensor>) -> Result<()> {
        match <[Tensor; 2]>::try_from(params) {
            Ok([w, b]) if w.shape() == [self.channels] && b.shape() == [self.channels] => {
                *lock(&self.params) = (w, b);
                Ok(())
            }
            _ => Err(Error::Config {
                op: "bottleneck parameters",
                msg: format!("expected a weight and a bias of shape [{}]", self.channels),
            }),
        }
    }

    fn state(&self) -> NormState {
        let (w, b) = lock(&self.params).clone();
        NormState {
            bn: lock(&self.stats).clone(),
            weight: w.to_vec(),
            bias: b.to_vec(),
            density: *lock(&self.density),
        }
    }

    fn load_state(&self, s: NormState) -> Result<()> {
        let c = self.channels;
        if s.weight.len() != c || s.bias.len() != c || s.bn.running_mean.len() != c {
            return Err(Error::Config {
                op: "bottleneck state",
                msg: format!("state is not for {c} channels"),
            });
        }
        check_density(s.density)?;
        *lock(&self.params) = (
            Tensor::param(Array1::from(s.weight)),
            Tensor::param(Array1::from(s.bias)),
        );
        *lock(&self.stats) = s.bn;
        *lock(&self.density) = s.density;
        Ok(())
    }
}

macro_rules! norm_bottleneck_common {
    () => {
        fn density(&self) -> f64 {
            *lock(&self.norm.density)
        }
        fn set_density(&self, density: f64) -> Result<()> {
            check_density(density)?;
            *lock(&self.norm.density) = density;
            Ok(())
        }
        fn parameters(&self) -> Vec<Tensor> {
            self.norm.parameters()
        }
        fn set_parameters(&self, params: Vec<Tensor>) -> Result<()> {
            self.norm.set_parameters(params)
        }
        fn state(&self) -> BottleneckState {
            BottleneckState::Norm(self.norm.state())
        }
        fn load_state(&self, state: BottleneckState) -> Result<()> {
            match state {
                BottleneckState::Norm(s) => self.norm.load_state(s),
                other => Err(wrong_state(&other)),
            }
        }
    };
}

fn wrong_state(s: &BottleneckState) -> Error {
    Error::Config {
        op: "bottleneck state",
        msg: format!("a state of the wrong kind: {s:?}"),
    }
}

/// The L1 baseline: `out = relu(BN(x))`, auxiliary loss `lambda * mean(|out|)`.
#[derive(Debug)]
pub struct L1Bottleneck {
    norm: AffineNorm,
    lambda: f32,
}

impl L1Bottleneck {
    /// An L1 bottleneck with penalty weight `lambda`.
    pub fn new(channels: usize, lambda: f32) -> Result<L1Bottleneck> {
        if channels == 0 || lambda.is_nan() || lambda < 0.0 {
            return Err(Error::Config {
                op: "l1 bottleneck",
                msg: format!("{channels} channels, lambda {lambda}"),
            });
        }
        Ok(L1Bottleneck {
            norm: AffineNorm::new(channels),
            lambda,
        })
    }
}

impl Bottleneck for L1Bottleneck {
    fn forward_bottleneck(&self, x: &Tensor, train: bool) -> Result<BottleneckOutput> {
        let out = self.norm.forward("l1 bottleneck", x, train)?.relu();
        // out >= 0, so |out| = out.
        let aux = out.mean_all().mul_scalar(self.lambda);
        Ok(BottleneckOutput {
            out,
            aux_loss: Some(aux),
        })
    }
    norm_bottleneck_common!();
}

/// The KL baseline: `s = sigmoid(BN(x))`, auxiliary loss `lambda * KL(p || mean(s))` (the
/// mean over all positions and channels), output `relu(s - 0.5)`.
#[derive(Debug)]
pub struct KlBottleneck {
    norm: AffineNorm,
    lambda: f32,
    target: f32,
}

impl KlBottleneck {
    /// A KL bottleneck with penalty weight `lambda` towards mean activation `target` (the
    /// paper: 5.0226e-5).
    pub fn new(channels: usize, lambda: f32, target: f32) -> Result<KlBottleneck> {
        if channels == 0
            || lambda.is_nan()
            || lambda < 0.0
            || target.is_nan()
            || target <= 0.0
            || target >= 1.0
        {
            return Err(Error::Config {
                op: "kl bottleneck",
                msg: format!("{channels} channels, lambda {lambda}, target {target}"),
            });
        }
        Ok(KlBottleneck {
            norm: AffineNorm::new(channels),
            lambda,
            target,
        })
    }
}

/// `KL(p || q)` of two Bernoulli distributions, `q` a scalar tensor:
/// `p ln(p / q) + (1 - p) ln((1 - p) / (1 - q))`.
pub fn bernoulli_kl(p: f32, q: &Tensor) -> Tensor {
    let pd = p as f64;
    let constant = (pd * pd.ln() + (1.0 - pd) * (1.0 - pd).ln()) as f32;
    let a = q.log().mul_scalar(-p);
    let b = q
        .mul_scalar(-1.0)
        .add_scalar(1.0)
        .log()
        .mul_scalar(-(1.0 - p));
    a.add(&b).add_scalar(constant)
}

impl Bottleneck for KlBottleneck {
    fn forward_bottleneck(&self, x: &Tensor, train: bool) -> Result<BottleneckOutput> {
        let s = self.norm.forward("kl bottleneck", x, train)?.sigmoid();
        let aux = bernoulli_kl(self.target, &s.mean_all()).mul_scalar(self.lambda);
        Ok(BottleneckOutput {
            out: s.add_scalar(-0.5).relu(),
            aux_loss: Some(aux),
        })
    }
    norm_bottleneck_common!();
}

/// The saved state of a [`NoiseBottleneck`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoiseState {
    /// Running statistics of the single-channel BatchNorm.
    pub bn: BatchNormStats,
    /// Current density (sets sigma).
    pub density: f64,
    /// Seed of the noise stream.
    pub seed: u64,
    /// Position in the noise stream (ChaCha word position).
    pub word_pos: u128,
}

/// The noise bottleneck (see the module docs).
#[derive(Debug)]
pub struct NoiseBottleneck {
    channels: usize,
    stats: Mutex<BatchNormStats>,
    density: Mutex<f64>,
    seed: u64,
    rng: Mutex<ChaCha8Rng>,
}

/// The information-matched noise level: `sqrt(1 / (exp(2 Hb(s)) - 1))`, `s = 1 - density`,
/// `Hb(s) = -(s ln s + (1 - s) ln(1 - s))` in nats.
pub fn noise_sigma(density: f64) -> f64 {
    let s = 1.0 - density;
    let term = |v: f64| if v > 0.0 { v * v.ln() } else { 0.0 };
    let hb = -(term(s) + term(density));
    (1.0 / (2.0 * hb).exp_m1()).sqrt()
}

impl NoiseBottleneck {
    /// A noise bottleneck at `density` with a seeded noise stream.
    pub fn new(channels: usize, density: f64, seed: u64) -> Result<NoiseBottleneck> {
        check_density(density)?;
        if channels == 0 || density >= 1.0 {
            return Err(Error::Config {
                op: "noise bottleneck",
                msg: format!("{channels} channels, density {density} (must be below 1)"),
            });
        }
        Ok(NoiseBottleneck {
            channels,
            stats: Mutex::new(BatchNormStats::new(1)),
            density: Mutex::new(density),
            seed,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        })
    }
}

impl Bottleneck for NoiseBottleneck {
    fn forward_bottleneck(&self, x: &Tensor, train: bool) -> Result<BottleneckOutput> {
        check_input("noise bottleneck", x, self.channels, train)?;
        let shape = x.shape().to_vec();
        let n = shape[0];
        let flat = x.reshape(&[n, 1, x.len() / n.max(1)]);
        let y = {
            let mut stats = lock(&self.stats);
            flat.batch_norm(None, None, &mut stats, train)
        }
        .reshape(&shape);
        let sigma = noise_sigma(*lock(&self.density)) as f32;
        let noise: Vec<f32> = {
            let mut rng = lock(&self.rng);
            (0..x.len())
                .map(|_| {
                    let z: f32 = StandardNormal.sample(&mut *rng);
                    z * sigma
                })
                .collect()
        };
        let noise = Tensor::new(ArrayD::from_shape_vec(IxDyn(&shape), noise).expect("noise shape"));
        Ok(BottleneckOutput {
            out: y.add(&noise),
            aux_loss: None,
        })
    }

    fn density(&self) -> f64 {
        *lock(&self.density)
    }

    fn set_density(&self, density: f64) -> Result<()> {
        check_density(density)?;
        if density >= 1.0 {
            return Err(Error::Config {
                op: "noise bottleneck",
                msg: "density 1 means infinite noise information; use below 1".into(),
            });
        }
        *lock(&self.density) = density;
        Ok(())
    }

    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }

    fn set_parameters(&self, params: Vec<Tensor>) -> Result<()> {
        no_params(params)
    }

    fn state(&self) -> BottleneckState {
        BottleneckState::Noise(NoiseState {
            bn: lock(&self.stats).clone(),
            density: *lock(&self.density),
            seed: self.seed,
            word_pos: lock(&self.rng).get_word_pos(),
        })
    }

    fn load_state(&self, state: BottleneckState) -> Result<()> {
        match state {
            BottleneckState::Noise(s) if s.seed == self.seed && s.bn.running_mean.len() == 1 => {
                self.set_density(s.density)?;
                let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
                rng.set_word_pos(s.word_pos);
                *lock(&self.rng) = rng;
                *lock(&self.stats) = s.bn;
                Ok(())
            }
            other => Err(wrong_state(&other)),
        }
    }
}

fn no_params(params: Vec<Tensor>) -> Result<()> {
    if params.is_empty() {
        Ok(())
    } else {
        Err(Error::Config {
            op: "bottleneck parameters",
            msg: format!("this bottleneck has no parameters, got {}", params.len()),
        })
    }
}

/// No bottleneck: the map passes unchanged.
#[derive(Debug)]
pub struct Identity {
    density: Mutex<f64>,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            density: Mutex::new(1.0),
        }
    }
}

impl Bottleneck for Identity {
    fn forward_bottleneck(&self, x: &Tensor, _train: bool) -> Result<BottleneckOutput> {
        Ok(BottleneckOutput {
            out: x.clone(),
            aux_loss: None,
        })
    }
    fn density(&self) -> f64 {
        *lock(&self.density)
    }
    fn set_density(&self, density: f64) -> Result<()> {
        check_density(density)?;
        *lock(&self.density) = density;
        Ok(())
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn set_parameters(&self, params: Vec<Tensor>) -> Result<()> {
        no_params(params)
    }
    fn state(&self) -> BottleneckState {
        BottleneckState::Identity
    }
    fn load_state(&self, state: BottleneckState) -> Result<()> {
        match state {
            BottleneckState::Identity => Ok(()),
            other => Err(wrong_state(&other)),
        }
    }
}

impl Bottleneck for BatchNormSparse {
    fn forward_bottleneck(&self, x: &Tensor, train: bool) -> Result<BottleneckOutput> {
        Ok(BottleneckOutput {
            out: self.forward(x, train)?,
            aux_loss: None,
        })
    }
    fn density(&self) -> f64 {
        BatchNormSparse::density(self)
    }
    fn set_density(&self, density: f64) -> Result<()> {
        BatchNormSparse::set_density(self, density)
    }
    fn parameters(&self) -> Vec<Tensor> {
        BatchNormSparse::parameters(self)
    }
    fn set_parameters(&self, params: Vec<Tensor>) -> Result<()> {
        if !self.config().affine {
            return no_params(params);
        }
        match <[Tensor; 2]>::try_from(params) {
            Ok([w, b]) => BatchNormSparse::set_parameters(self, w, b),
            Err(p) => Err(Error::Config {
                op: "bottleneck parameters",
                msg: format!("expected a weight and a bias, got {} tensors", p.len()),
            }),
        }
    }
    fn state(&self) -> BottleneckState {
        BottleneckState::Sparse(BatchNormSparse::state(self))
    }
    fn load_state(&self, state: BottleneckState) -> Result<()> {
        match state {
            BottleneckState::Sparse(s) => BatchNormSparse::load_state(self, s),
            other => Err(wrong_state(&other)),
        }
    }
}

impl Bottleneck for SparseLayer {
    fn forward_bottleneck(&self, x: &Tensor, train: bool) -> Result<BottleneckOutput> {
        Ok(BottleneckOutput {
            out: self.forward(x, train)?,
            aux_loss: None,
        })
    }
    fn density(&self) -> f64 {
        SparseLayer::density(self)
    }
    fn set_density(&self, density: f64) -> Result<()> {
        SparseLayer::set_density(self, density)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn set_parameters(&self, params: Vec<Tensor>) -> Result<()> {
        no_params(params)
    }
    fn state(&self) -> BottleneckState {
        BottleneckState::PlainSparse(SparseLayer::state(self))
    }
    fn load_state(&self, state: BottleneckState) -> Result<()> {
        match state {
            BottleneckState::PlainSparse(s) => SparseLayer::load_state(self, s),
            other => Err(wrong_state(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparling_tensor::testing::{GradCheck, gradcheck, random_array, random_array_away_from};

    #[test]
    fn noise_sigma_is_information_matched() {
        // s = 0.5: Hb = ln 2, sigma^2 = 1 / (4 - 1).
        assert!((noise_sigma(0.5) - (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
        // Smaller density, less information, more noise.
        assert!(noise_sigma(5.0226e-5) > noise_sigma(1e-3));
        assert!(noise_sigma(5.0226e-5) > 20.0);
    }

    #[test]
    fn kl_literal_and_grad() {
        // KL(0.1 || 0.2) = 0.1 ln 0.5 + 0.9 ln(0.9 / 0.8).
        let q = Tensor::param(ndarray::arr0(0.2f32));
        let kl = bernoulli_kl(0.1, &q);
        let want = 0.1 * 0.5f64.ln() + 0.9 * (0.9f64 / 0.8).ln();
        assert!((kl.item() as f64 - want).abs() < 1e-6);
        // d/dq = -p/q + (1-p)/(1-q) = -0.5 + 1.125.
        let g = kl.backward();
        assert!((g.get(&q).unwrap().iter().next().unwrap() - 0.625).abs() < 1e-5);
        gradcheck(
            |x| bernoulli_kl(5.0226e-5, &x[0].sigmoid().mean_all()),
            &[random_array(&[2, 3], 5)],
            &GradCheck::default(),
        );
    }

    #[test]
    fn l1_literal_and_grad() {
        // One channel, batch [-1, 1] (mean 0, var 1): BN -> [-1, 1] (eps aside), relu -> [0, 1],
        // aux = 2 * mean = 1.
        let b = L1Bottleneck::new(1, 2.0).unwrap();
        let x = Tensor::new(ndarray::Array2::from_shape_vec((2, 1), vec![-1.0, 1.0]).unwrap());
        let o = b.forward_bottleneck(&x, true).unwrap();
        assert!((o.out.to_vec()[1] - 1.0).abs() < 1e-4);
        assert!((o.aux_loss.unwrap().item() - 1.0).abs() < 1e-4);
        let x = random_array_away_from(&[3, 2, 4], 8, &[0.0], 0.05);
        gradcheck(
            |x| {
                let b = L1Bottleneck::new(2, 0.5).unwrap();
                let o = b.forward_bottleneck(&x[0], false).unwrap();
                o.out.add(&o.aux_loss.unwrap())
            },
            &[x],
            &GradCheck::default(),
        );
    }

    #[test]
    fn kl_bottleneck_output_and_loss() {
        let b = KlBottleneck::new(2, 3.0, 5.0226e-5).unwrap();
        let x = Tensor::param(random_array(&[4, 2, 5], 9));
        let o = b.forward_bottleneck(&x, true).unwrap();
        // Outputs are relu(sigmoid - 0.5) in [0, 0.5).
        assert!(o.out.to_vec().iter().all(|&v| (0.0..0.5).contains(&v)));
        // The batch mean of sigmoid(BN x) is about 0.5: KL(p || 0.5) is about ln 2.
        let aux = o.aux_loss.unwrap();
        assert!(
            (aux.item() / 3.0 - std::f32::consts::LN_2).abs() < 0.05,
            "{}",
            aux.item()
        );
        let g = aux.backward();
        assert!(g.get(&x).is_some());
    }

    #[test]
    fn noise_bottleneck_is_seeded_and_resumable() {
        let shape = [2usize, 3, 4, 4];
        let x = Tensor::new(random_array(&shape, 10));
        let a = NoiseBottleneck::new(3, 0.01, 7).unwrap();
        a.forward_bottleneck(&x, true).unwrap();
        let saved = a.state();
        let b = NoiseBottleneck::new(3, 0.5, 7).unwrap();
        b.load_state(saved).unwrap();
        let ya = a.forward_bottleneck(&x, true).unwrap().out.to_vec();
        let yb = b.forward_bottleneck(&x, true).unwrap().out.to_vec();
        assert_eq!(ya, yb);
        // The noise has about the information-matched scale.
        let spread: f32 = ya.iter().map(|v| v * v).sum::<f32>() / ya.len() as f32;
        let sigma = noise_sigma(0.01) as f32;
        assert!(
            spread > 0.5 * sigma * sigma && spread < 2.0 * (sigma * sigma + 1.0),
            "{spread}"
        );
    }

    #[test]
    fn bottleneck_configs_build_and_round_trip_state() {
        let configs = vec![
            BottleneckConfig::Sparse(BatchNormSparseConfig::new(crate::SparseConfig::new(3))),
            BottleneckConfig::L1 {
                channels: 3,
                lambda: 1.0,
            },
            BottleneckConfig::Kl {
                channels: 3,
                lambda: 1.0,
                target: 5.0226e-5,
            },
            BottleneckConfig::Noise {
                channels: 3,
                density: 0.5,
                seed: 1,
            },
            BottleneckConfig::Identity,
        ];
        let x = Tensor::new(random_array(&[2, 3, 5, 5], 12));
        for cfg in configs {
            let a = cfg.build().unwrap();
            a.forward_bottleneck(&x, true).unwrap();
            let json = serde_json::to_string(&a.state()).unwrap();
            let b = cfg.build().unwrap();
            b.load_state(serde_json::from_str(&json).unwrap()).unwrap();
            assert_eq!(a.state(), b.state(), "{cfg:?}");
            let ya = a.forward_bottleneck(&x, true).unwrap().out.to_vec();
            let yb = b.forward_bottleneck(&x, true).unwrap().out.to_vec();
            assert_eq!(ya, yb, "{cfg:?}");
            let mut bad = x.to_vec();
            bad[30] = f32::INFINITY;
            let bad = Tensor::from_vec(bad, &[2, 3, 5, 5]).unwrap();
            if !matches!(cfg, BottleneckConfig::Identity) {
                let err = a.forward_bottleneck(&bad, true).unwrap_err();
                assert!(err.to_string().contains("channel 1"), "{cfg:?}: {err}");
            }
        }
    }
}

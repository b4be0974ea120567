//! The bottleneck S between g and h, the one place that defines every kind: BatchNorm + the
//! Sparse layer (the paper's method and its ST / accumulated / no-BatchNorm / non-affine
//! variants), the L1, KL and noise baselines, or nothing. A new bottleneck is a variant of
//! [`BottleneckConfig`] (the config, validated here) and of [`Bottleneck`] (its forward and
//! state), both in this file.
//!
//! BatchNorms are `sparling_nn::BatchNorm`s registered in the model's parameter store, so one
//! optimizer and one checkpoint cover them; the Sparse layer comes from `sparling_sparse`.

use std::sync::{Mutex, MutexGuard, PoisonError};

use ndarray::{ArrayD, IxDyn};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use sparling_nn::{BatchNorm, BatchNormConfig, Path, batch_norm1d, batch_norm2d};
use sparling_sparse::{SparseConfig, SparseLayer, SparseState};
use sparling_tensor::{ModuleT, Tensor};

use crate::error::{Error, Result};
use crate::validate::invalid;

/// The Sparse layer's threshold variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdKind {
    /// One threshold per channel (MT, the paper's method).
    PerChannel,
    /// One threshold for all channels (ST ablation).
    Single,
    /// Per-channel thresholds estimated over accumulated batches (the paper's choice for its
    /// formula and audio domains): one update once about ten survivors per channel are held.
    Accumulated,
}

/// The bottleneck between g and h.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BottleneckConfig {
    /// BatchNorm (optional) followed by the Sparse layer.
    Sparse {
        /// Threshold variant.
        thresholds: ThresholdKind,
        /// Put a BatchNorm in front (the reference calls it absolutely necessary).
        batch_norm: bool,
        /// Affine BatchNorm.
        affine: bool,
        /// Weight of the new quantile in the threshold's running average.
        momentum: f32,
    },
    /// BatchNorm -> ReLU with an L1 penalty `lambda * mean|out|`.
    L1 {
        /// Penalty weight.
        lambda: f32,
    },
    /// BatchNorm -> sigmoid with a KL penalty towards the schedule's (initial) density: the
    /// KL experiments hold the domain's operating density.
    Kl {
        /// Penalty weight.
        lambda: f32,
    },
    /// No sparsity at all.
    Identity,
    /// One non-affine BatchNorm over all channels together, then Gaussian noise (in training
    /// and evaluation) information-matched to the schedule's density:
    /// `sigma^2 = 1 / (exp(2 Hb(1 - density)) - 1)`, `Hb` the binary entropy in nats.
    Noise,
}

impl BottleneckConfig {
    /// Checks every field (errors name `bottleneck.<field>`).
    pub fn validate(&self) -> Result<()> {
        match self {
            BottleneckConfig::Sparse { momentum, .. } => {
                if !(momentum.is_finite() && *momentum > 0.0 && *momentum <= 1.0) {
                    return Err(invalid("bottleneck.momentum", "must be in (0, 1]"));
                }
            }
            BottleneckConfig::L1 { lambda } | BottleneckConfig::Kl { lambda } => {
                if !(lambda.is_finite() && *lambda >= 0.0) {
                    return Err(invalid("bottleneck.lambda", "must be finite and >= 0"));
                }
            }
            BottleneckConfig::Identity | BottleneckConfig::Noise => {}
        }
        Ok(())
    }

    /// Whether the bottleneck normalises over the batch (and so needs 2 samples per batch).
    pub fn uses_batch_norm(&self) -> bool {
        match self {
            BottleneckConfig::Sparse { batch_norm, .. } => *batch_norm,
            BottleneckConfig::Identity => false,
            _ => true,
        }
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

/// The information-matched noise level: `sqrt(1 / (exp(2 Hb(s)) - 1))`, `s = 1 - density`,
/// `Hb(s) = -(s ln s + (1 - s) ln(1 - s))` in nats.
pub fn noise_sigma(density: f64) -> f64 {
    let s = 1.0 - density;
    let term = |v: f64| if v > 0.0 { v * v.ln() } else { 0.0 };
    let hb = -(term(s) + term(density));
    (1.0 / (2.0 * hb).exp_m1()).sqrt()
}

/// The seed of the noise drawn in evaluation (a fresh stream per forward, so evaluating a
/// batch never depends on what was evaluated before).
const EVAL_NOISE_SEED: u64 = 0x4e4f_4953_4556_414c;

/// The noise bottleneck's mutable state.
#[derive(Debug)]
pub struct NoiseStream {
    density: f64,
    rng: ChaCha8Rng,
}

/// What the bottleneck produces.
pub struct BottleneckOutput {
    /// The motif map handed to h (and scored by the motif metrics).
    pub map: Tensor,
    /// The weighted auxiliary loss of a baseline, if any.
    pub aux: Option<Tensor>,
}

/// The serializable state of a bottleneck (BatchNorm statistics live in the parameter store).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BottleneckState {
    /// The Sparse layer's thresholds, density and accumulator.
    Sparse(SparseState),
    /// A stateless bottleneck.
    Stateless,
    /// The noise bottleneck's density and position in its training noise stream.
    Noise {
        /// The density that sets sigma.
        density: f64,
        /// The ChaCha word position of the training stream.
        word_pos: u128,
    },
}

/// The bottleneck layer.
#[derive(Debug)]
pub enum Bottleneck {
    /// Optional BatchNorm, then the Sparse layer.
    Sparse {
        /// The BatchNorm in front, if any.
        norm: Option<BatchNorm>,
        /// The Sparse layer.
        sparse: SparseLayer,
    },
    /// BatchNorm -> ReLU, with `lambda * mean|out|`.
    L1 {
        /// The BatchNorm in front.
        norm: BatchNorm,
        /// The penalty weight.
        lambda: f32,
    },
    /// BatchNorm -> sigmoid with `lambda * KL(p || batch mean)`; h sees `relu(x - 0.5)`.
    Kl {
        /// The BatchNorm in front.
        norm: BatchNorm,
        /// The penalty weight.
        lambda: f32,
        /// The target mean activation.
        target: f32,
    },
    /// No sparsity.
    Identity,
    /// One non-affine BatchNorm over all channels, then Gaussian noise.
    Noise {
        /// The BatchNorm (one channel: every value of the map).
        norm: BatchNorm,
        /// The density that sets sigma, and the training noise stream.
        stream: Mutex<NoiseStream>,
    },
}

impl Bottleneck {
    /// Builds the bottleneck of `cfg` over `channels` motif channels of maps with
    /// `spatial_dims` axes after the channel (2: `(N, C, H, W)`, 1: `(N, C, L)`), at
    /// `initial_density`, registering its BatchNorm under `p`; `seed` keys the noise stream.
    pub fn new(
        p: &Path,
        cfg: &BottleneckConfig,
        initial_density: f64,
        channels: usize,
        spatial_dims: usize,
        seed: u64,
    ) -> Result<Bottleneck> {
        let bn = |channels, affine| {
            let cfg = BatchNormConfig {
                affine,
                ..BatchNormConfig::default()
            };
            match spatial_dims {
                1 => batch_norm1d(&p.sub("norm"), channels, cfg),
                _ => batch_norm2d(&p.sub("norm"), channels, cfg),
            }
        };
        Ok(match cfg {
            BottleneckConfig::Sparse {
                thresholds,
                batch_norm,
                affine,
                momentum,
            } => {
                let mut sc = SparseConfig::new(channels)
                    .with_density(initial_density)
                    .with_momentum(*momentum as f64);
                sc = match thresholds {
                    ThresholdKind::PerChannel => sc,
                    ThresholdKind::Single => sc.single_threshold(),
                    ThresholdKind::Accumulated => sc.accumulated(10.0),
                };
                Bottleneck::Sparse {
                    norm: batch_norm.then(|| bn(channels, *affine)),
                    sparse: SparseLayer::new(sc)?,
                }
            }
            BottleneckConfig::L1 { lambda } => Bottleneck::L1 {
                norm: bn(channels, true),
                lambda: *lambda,
            },
            BottleneckConfig::Kl { lambda } => Bottleneck::Kl {
                norm: bn(channels, true),
                lambda: *lambda,
                target: initial_density as f32,
            },
            BottleneckConfig::Identity => Bottleneck::Identity,
            BottleneckConfig::Noise => {
                check_noise_density(initial_density)?;
                let cfg = BatchNormConfig {
                    affine: false,
                    ..BatchNormConfig::default()
                };
                Bottleneck::Noise {
                    norm: batch_norm1d(&p.sub("norm"), 1, cfg),
                    stream: Mutex::new(NoiseStream {
                        density: initial_density,
                        rng: ChaCha8Rng::seed_from_u64(seed),
                    }),
                }
            }
        })
    }

    /// Applies the bottleneck to g's output `(N, C, ..)`.
    pub fn forward(&self, z: &Tensor, train: bool) -> Result<BottleneckOutput> {
        Ok(match self {
            Bottleneck::Sparse { norm, sparse } => {
                let x = match norm {
                    Some(bn) => bn.forward_t(z, train),
                    None => z.clone(),
                };
                BottleneckOutput {
                    map: sparse.forward(&x, train)?,
                    aux: None,
                }
            }
            Bottleneck::L1 { norm, lambda } => {
                // BatchNorm -> ReLU; penalty lambda * mean|out| (out >= 0, so mean(out)).
                let map = norm.forward_t(z, train).relu();
                let aux = map.mean_all().mul_scalar(*lambda);
                BottleneckOutput {
                    map,
                    aux: Some(aux),
                }
            }
            Bottleneck::Kl {
                norm,
                lambda,
                target,
            } => {
                // BatchNorm -> sigmoid; KL(p || p_hat) with p_hat the batch mean activation;
                // h sees relu(s - 0.5).
                let s = norm.forward_t(z, train).sigmoid();
                let kl = bernoulli_kl(*target, &s.mean_all());
                BottleneckOutput {
                    map: s.add_scalar(-0.5).relu(),
                    aux: Some(kl.mul_scalar(*lambda)),
                }
            }
            Bottleneck::Identity => BottleneckOutput {
                map: z.clone(),
                aux: None,
            },
            Bottleneck::Noise { norm, stream } => {
                let shape = z.shape().to_vec();
                let n = shape[0];
                let flat = z.reshape(&[n, 1, z.len() / n.max(1)]);
                let y = norm.forward_t(&flat, train).reshape(&shape);
                let mut s = lock(stream);
                let sigma = noise_sigma(s.density) as f32;
                let mut eval_rng = ChaCha8Rng::seed_from_u64(EVAL_NOISE_SEED);
                let rng = if train { &mut s.rng } else { &mut eval_rng };
                let noise: Vec<f32> = (0..z.len())
                    .map(|_| {
                        let v: f32 = StandardNormal.sample(rng);
                        v * sigma
                    })
                    .collect();
                let noise = ArrayD::from_shape_vec(IxDyn(&shape), noise).expect("noise shape");
                BottleneckOutput {
                    map: y.add(&Tensor::new(noise)),
                    aux: None,
                }
            }
        })
    }

    /// `z - t` without the ReLU, in evaluation mode (BatchNorm with its running statistics,
    /// the thresholds frozen): the pre-activation that direct evaluation scores. The identity
    /// returns `z` itself (nothing to subtract); the penalty and noise bottlenecks are an error.
    pub fn shifted(&self, z: &Tensor) -> Result<Tensor> {
        match self {
            Bottleneck::Sparse { norm, sparse } => {
                let x = match norm {
                    Some(bn) => bn.forward_t(z, false),
                    None => z.clone(),
                };
                Ok(sparse.shifted(&x)?)
            }
            // No threshold: the map g wrote (the Direct baseline's motif channels).
            Bottleneck::Identity => Ok(z.clone()),
            _ => Err(Error::Run(
                "the L1, KL and noise bottlenecks have no `z - t` map (only Sparse and the \
                 identity do)"
                    .into(),
            )),
        }
    }

    /// Sets the density (a no-op for bottlenecks without one).
    pub fn set_density(&self, density: f64) -> Result<()> {
        match self {
            Bottleneck::Sparse { sparse, .. } => sparse.set_density(density)?,
            Bottleneck::Noise { stream, .. } => {
                check_noise_density(density)?;
                lock(stream).density = density;
            }
            _ => {}
        }
        Ok(())
    }

    /// The state to checkpoint.
    pub fn state(&self) -> BottleneckState {
        match self {
            Bottleneck::Sparse { sparse, .. } => BottleneckState::Sparse(sparse.state()),
            Bottleneck::Noise { stream, .. } => {
                let s = lock(stream);
                BottleneckState::Noise {
                    density: s.density,
                    word_pos: s.rng.get_word_pos(),
                }
            }
            _ => BottleneckState::Stateless,
        }
    }

    /// Restores a state saved by [`Bottleneck::state`].
    pub fn load_state(&self, state: &BottleneckState) -> Result<()> {
        match (self, state) {
            (Bottleneck::Sparse { sparse, .. }, BottleneckState::Sparse(s)) => {
                sparse.load_state(s.clone())?;
                Ok(())
            }
            (Bottleneck::Noise { stream, .. }, BottleneckState::Noise { density, word_pos }) => {
                check_noise_density(*density)?;
                let mut s = lock(stream);
                s.density = *density;
                s.rng.set_word_pos(*word_pos);
                Ok(())
            }
            (Bottleneck::Sparse { .. } | Bottleneck::Noise { .. }, _)
            | (_, BottleneckState::Sparse(_) | BottleneckState::Noise { .. }) => Err(Error::Run(
                "checkpoint's bottleneck state does not match the config".into(),
            )),
            _ => Ok(()),
        }
    }
}

fn lock(m: &Mutex<NoiseStream>) -> MutexGuard<'_, NoiseStream> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The noise bottleneck needs a density in (0, 1): at 1 its noise would carry no limit.
fn check_noise_density(density: f64) -> Result<()> {
    if density > 0.0 && density < 1.0 {
        Ok(())
    } else {
        Err(invalid(
            "schedule",
            format!("the noise bottleneck needs a density in (0, 1), got {density}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Profile, ScheduleConfig, TrainConfig};

    #[test]
    fn the_kl_target_is_the_schedules_density() {
        let store = sparling_nn::ParamStore::new(0);
        for (i, d) in [5.0226e-5, 1.189e-3].into_iter().enumerate() {
            let p = store.root().sub(&format!("kl{i}"));
            let b = Bottleneck::new(&p, &BottleneckConfig::Kl { lambda: 1.0 }, d, 4, 2, 0).unwrap();
            match b {
                Bottleneck::Kl { target, .. } => assert_eq!(target, d as f32),
                _ => panic!("not a KL bottleneck"),
            }
        }
        // A target of 1 has no KL: the config says so, naming the schedule.
        let mut cfg = TrainConfig::preset(Profile::Quick);
        cfg.bottleneck = BottleneckConfig::Kl { lambda: 1.0 };
        cfg.schedule = ScheduleConfig::Constant { density: 1.0 };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("schedule") && err.contains("KL"), "{err}");
    }
}

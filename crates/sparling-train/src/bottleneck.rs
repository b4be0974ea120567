//! The bottleneck S between g and h, chosen by [`BottleneckConfig`]: BatchNorm + the Sparse
//! layer (the paper's method and its ST / no-BatchNorm ablations), the L1 or KL baseline, or
//! nothing. The BatchNorm is an `sparling_nn::BatchNorm` registered in the model's parameter
//! store, so one optimizer and one checkpoint cover it; the Sparse layer and the KL penalty come
//! from `sparling_sparse`.

use serde::{Deserialize, Serialize};
use sparling_nn::{BatchNorm, BatchNormConfig, Path, batch_norm2d};
use sparling_sparse::{SparseConfig, SparseLayer, SparseState};
use sparling_tensor::{ModuleT, Tensor};

use crate::config::{BottleneckConfig, ScheduleConfig, ThresholdKind};
use crate::error::Result;

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
}

impl Bottleneck {
    /// Builds the bottleneck of `cfg` over `channels` motif channels, registering its
    /// BatchNorm under `p`.
    pub fn new(
        p: &Path,
        cfg: &BottleneckConfig,
        schedule: &ScheduleConfig,
        channels: usize,
    ) -> Result<Bottleneck> {
        let bn = |affine| {
            batch_norm2d(
                &p.sub("norm"),
                channels,
                BatchNormConfig {
                    affine,
                    ..BatchNormConfig::default()
                },
            )
        };
        let initial = match schedule {
            ScheduleConfig::Annealing {
                initial_density, ..
            } => *initial_density,
            ScheduleConfig::Constant { density } => *density,
        };
        Ok(match cfg {
            BottleneckConfig::Sparse {
                thresholds,
                batch_norm,
                affine,
                momentum,
            } => {
                let mut sc = SparseConfig::new(channels)
                    .with_density(initial)
                    .with_momentum(*momentum as f64);
                sc = match thresholds {
                    ThresholdKind::PerChannel => sc,
                    ThresholdKind::Single => sc.single_threshold(),
                    ThresholdKind::Accumulated => sc.accumulated(10.0),
                };
                Bottleneck::Sparse {
                    norm: batch_norm.then(|| bn(*affine)),
                    sparse: SparseLayer::new(sc)?,
                }
            }
            BottleneckConfig::L1 { lambda } => Bottleneck::L1 {
                norm: bn(true),
                lambda: *lambda,
            },
            BottleneckConfig::Kl { lambda } => Bottleneck::Kl {
                norm: bn(true),
                lambda: *lambda,
                target: crate::config::PAPER_OPERATING_DENSITY as f32,
            },
            BottleneckConfig::Identity => Bottleneck::Identity,
        })
    }

    /// Applies the bottleneck to g's output `(N, C, H, W)`.
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
                let kl = sparling_sparse::baselines::bernoulli_kl(*target, &s.mean_all());
                BottleneckOutput {
                    map: s.add_scalar(-0.5).relu(),
                    aux: Some(kl.mul_scalar(*lambda)),
                }
            }
            Bottleneck::Identity => BottleneckOutput {
                map: z.clone(),
                aux: None,
            },
        })
    }

    /// Sets the density (a no-op for bottlenecks without one).
    pub fn set_density(&self, density: f64) -> Result<()> {
        if let Bottleneck::Sparse { sparse, .. } = self {
            sparse.set_density(density)?;
        }
        Ok(())
    }

    /// The state to checkpoint.
    pub fn state(&self) -> BottleneckState {
        match self {
            Bottleneck::Sparse { sparse, .. } => BottleneckState::Sparse(sparse.state()),
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
            (Bottleneck::Sparse { .. }, _) | (_, BottleneckState::Sparse(_)) => {
                Err(crate::error::Error::Run(
                    "checkpoint's bottleneck state does not match the config".into(),
                ))
            }
            _ => Ok(()),
        }
    }
}

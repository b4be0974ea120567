//! The optimizer's config: Adam, clipping, warm-up and the learning rate's decays (applied by
//! the schedule, [`crate::schedule::RunSchedule::learning_rate`], which knows the rung).

use serde::{Deserialize, Serialize};
use sparling_nn::optim::AdamConfig;

use crate::error::Result;
use crate::validate::{invalid, nonzero, positive};

/// Adam and clipping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Learning rate.
    pub lr: f32,
    /// Adam beta1.
    pub beta1: f32,
    /// Adam beta2.
    pub beta2: f32,
    /// Adam epsilon.
    pub eps: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// Global gradient-norm clip (None: no clipping).
    pub grad_clip: Option<f32>,
    /// Linear learning-rate warm-up over this many steps (0: none).
    pub warmup_steps: u64,
    /// Multiplier of the learning rate per density reduction the schedule has made (default 1:
    /// a constant rate). After k reductions the rate is `lr * lr_decay_per_reduction^k`. Off in
    /// the presets: a rate falling 4% per reduction slowed the recovery after each of the last
    /// density cuts (docs/history.md).
    #[serde(default = "unit_decay")]
    pub lr_decay_per_reduction: f32,
    /// A learning rate that restarts at every density reduction and then decays while the
    /// density stays put (None, the default: no decay within a rung). Applies from the first
    /// reduction on, never at the initial density. Off in the presets (docs/history.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rung_decay: Option<RungDecay>,
}

/// The learning rate's decay within a density rung (see [`OptimizerConfig::rung_decay`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RungDecay {
    /// Training samples at the same density over which the rate halves.
    pub half_life_samples: u64,
    /// The smallest multiplier the decay reaches, in (0, 1].
    pub floor: f32,
}

impl RungDecay {
    /// The multiplier after `samples_in_rung` samples at the current density:
    /// `max(floor, 0.5^(samples_in_rung / half_life_samples))`.
    pub fn factor(&self, samples_in_rung: u64) -> f32 {
        let halvings = samples_in_rung as f64 / self.half_life_samples as f64;
        (0.5f64.powf(halvings) as f32).max(self.floor)
    }
}

fn unit_decay() -> f32 {
    1.0
}

impl OptimizerConfig {
    /// The Adam settings these fields describe (coupled L2 weight decay), at the base rate.
    pub fn adam(&self) -> AdamConfig {
        AdamConfig {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled: false,
        }
    }

    /// Checks every field (errors name `optimizer.<field>`).
    pub fn validate(&self) -> Result<()> {
        positive("optimizer.lr", self.lr as f64)?;
        if !(0.0..1.0).contains(&self.beta1) {
            return Err(invalid("optimizer.beta1", "must be in [0, 1)"));
        }
        if !(0.0..1.0).contains(&self.beta2) {
            return Err(invalid("optimizer.beta2", "must be in [0, 1)"));
        }
        positive("optimizer.eps", self.eps as f64)?;
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(invalid("optimizer.weight_decay", "must be finite and >= 0"));
        }
        if let Some(c) = self.grad_clip {
            positive("optimizer.grad_clip", c as f64)?;
        }
        if !(self.lr_decay_per_reduction > 0.0 && self.lr_decay_per_reduction <= 1.0) {
            return Err(invalid(
                "optimizer.lr_decay_per_reduction",
                format!("must be in (0, 1], got {}", self.lr_decay_per_reduction),
            ));
        }
        if let Some(r) = self.rung_decay {
            nonzero(
                "optimizer.rung_decay.half_life_samples",
                r.half_life_samples,
            )?;
            if !(r.floor > 0.0 && r.floor <= 1.0) {
                return Err(invalid(
                    "optimizer.rung_decay.floor",
                    format!("must be in (0, 1], got {}", r.floor),
                ));
            }
        }
        Ok(())
    }
}

//! The density schedule of a run: SPEC section 3's annealing (or a constant density for
//! ablations), with its serializable state.
//!
//! ```text
//! T = clamp(T - decay * samples_since_last_validation, 0, 1)
//! if A > T: density *= factor        (strict)
//! T = max(T, A)
//! ```

use serde::{Deserialize, Serialize};

use crate::config::ScheduleConfig;
use crate::error::{Error, Result};

/// The schedule's state: enough to continue exactly after a resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// Current density.
    pub density: f64,
    /// Current accuracy bar T.
    pub bar: f64,
    /// Training samples at the previous validation.
    pub last_samples: u64,
    /// Number of reductions so far (the rung index of the current density).
    pub rung: u32,
}

/// A density schedule.
#[derive(Clone, Debug)]
pub struct DensitySchedule {
    config: ScheduleConfig,
    state: ScheduleState,
}

impl DensitySchedule {
    /// A fresh schedule: density at its initial value, bar at 1.
    pub fn new(config: &ScheduleConfig) -> Result<DensitySchedule> {
        let density = match config {
            ScheduleConfig::Annealing {
                initial_density, ..
            } => *initial_density,
            ScheduleConfig::Constant { density } => *density,
        };
        Ok(DensitySchedule {
            config: config.clone(),
            state: ScheduleState {
                density,
                bar: 1.0,
                last_samples: 0,
                rung: 0,
            },
        })
    }

    /// A schedule restored from a checkpoint.
    pub fn from_state(config: &ScheduleConfig, state: ScheduleState) -> Result<DensitySchedule> {
        if !(state.density > 0.0 && state.density <= 1.0 && (0.0..=1.0).contains(&state.bar)) {
            return Err(Error::Run(format!("invalid schedule state {state:?}")));
        }
        Ok(DensitySchedule {
            config: config.clone(),
            state,
        })
    }

    /// The state to checkpoint.
    pub fn state(&self) -> ScheduleState {
        self.state.clone()
    }

    /// Current density.
    pub fn density(&self) -> f64 {
        self.state.density
    }

    /// Current bar.
    pub fn bar(&self) -> f64 {
        self.state.bar
    }

    /// The rung index of the current density (`None` for a constant schedule).
    pub fn rung(&self) -> Option<u32> {
        match self.config {
            ScheduleConfig::Annealing { .. } => Some(self.state.rung),
            ScheduleConfig::Constant { .. } => None,
        }
    }

    /// Feeds one validation result; returns true if the density was reduced.
    pub fn observe(&mut self, samples: u64, accuracy: f64) -> bool {
        let ScheduleConfig::Annealing {
            factor,
            bar_decay_per_sample,
            ..
        } = self.config
        else {
            return false;
        };
        let since = samples.saturating_sub(self.state.last_samples);
        self.state.last_samples = samples;
        let s = &mut self.state;
        s.bar = (s.bar - bar_decay_per_sample * since as f64).clamp(0.0, 1.0);
        let reduce = accuracy > s.bar;
        if reduce {
            s.density *= factor;
            s.rung += 1;
        }
        s.bar = s.bar.max(accuracy);
        reduce
    }

    /// True once the density has fallen below the target.
    pub fn done(&self) -> bool {
        match self.config {
            ScheduleConfig::Annealing {
                done_at_density, ..
            } => self.state.density < done_at_density,
            ScheduleConfig::Constant { .. } => false,
        }
    }
}

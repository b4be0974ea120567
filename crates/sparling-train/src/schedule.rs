//! The density schedule of a run: the annealing state machine of `sparling_sparse::schedule`
//! (as in the paper) configured from [`ScheduleConfig`], or a constant density for ablations.

use serde::{Deserialize, Serialize};
use sparling_sparse::schedule::{AnnealingConfig, AnnealingSchedule, Decision};

use crate::config::{LatePhase, ScheduleConfig};
use crate::error::{Error, Result};

/// The schedule's state: enough to continue exactly after a resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ScheduleState {
    /// The annealing state machine (density, bar, last validation, reductions).
    Annealing(AnnealingSchedule),
    /// A fixed density.
    Constant(f64),
}

/// A density schedule.
#[derive(Clone, Debug)]
pub struct DensitySchedule {
    state: ScheduleState,
    /// The annealing schedule's late phase, from the config (not part of the state: which
    /// phase is in force follows from the density).
    late: Option<LatePhase>,
}

impl DensitySchedule {
    /// A fresh schedule: density at its initial value, bar at 1.
    pub fn new(config: &ScheduleConfig) -> Result<DensitySchedule> {
        let state = match config {
            ScheduleConfig::Annealing {
                initial_density,
                factor,
                bar_decay_per_sample,
                done_at_density,
                late_phase: _,
            } => ScheduleState::Annealing(AnnealingSchedule::new(AnnealingConfig {
                initial_density: *initial_density,
                multiplier: *factor,
                bar_decay_per_sample: *bar_decay_per_sample,
                done_at_density: *done_at_density,
                ..AnnealingConfig::default()
            })?),
            ScheduleConfig::Constant { density } => ScheduleState::Constant(*density),
        };
        Ok(DensitySchedule {
            state,
            late: config.late_phase(),
        })
    }

    /// A schedule restored from a checkpoint (its kind must match the config's).
    pub fn from_state(config: &ScheduleConfig, state: ScheduleState) -> Result<DensitySchedule> {
        let fresh = DensitySchedule::new(config)?;
        match (&fresh.state, &state) {
            (ScheduleState::Annealing(a), ScheduleState::Annealing(b)) if a.config == b.config => {}
            (ScheduleState::Constant(a), ScheduleState::Constant(b)) if a == b => {}
            _ => {
                return Err(Error::Run(format!(
                    "checkpoint's schedule state {state:?} does not match the config"
                )));
            }
        }
        Ok(DensitySchedule {
            state,
            late: fresh.late,
        })
    }

    /// The late phase in force at the current density, if any.
    fn late_now(&self) -> Option<&LatePhase> {
        self.late.as_ref().filter(|l| l.applies(self.density()))
    }

    /// The multiplier of the learning rate at the current density: the late phase's
    /// `lr_scale` while it is in force, else 1.
    pub fn lr_scale(&self) -> f32 {
        self.late_now().map_or(1.0, |l| l.lr_scale)
    }

    /// The bar's decay per sample over the interval being trained now, at the current
    /// density, for a validation after `samples_in_rung` samples at this density (NaN for a
    /// constant schedule).
    pub fn bar_decay(&self, samples_in_rung: u64) -> f64 {
        match &self.state {
            ScheduleState::Annealing(s) => self
                .late_now()
                .filter(|l| l.holds(samples_in_rung))
                .map_or(s.config.bar_decay_per_sample, |l| l.bar_decay_per_sample),
            ScheduleState::Constant(_) => f64::NAN,
        }
    }

    /// The state to checkpoint.
    pub fn state(&self) -> ScheduleState {
        self.state.clone()
    }

    /// Current density.
    pub fn density(&self) -> f64 {
        match &self.state {
            ScheduleState::Annealing(s) => s.density(),
            ScheduleState::Constant(d) => *d,
        }
    }

    /// Current bar (NaN for a constant schedule).
    pub fn bar(&self) -> f64 {
        match &self.state {
            ScheduleState::Annealing(s) => s.bar,
            ScheduleState::Constant(_) => f64::NAN,
        }
    }

    /// The rung index of the current density: the number of reductions so far (`None` for a
    /// constant schedule).
    pub fn rung(&self) -> Option<u32> {
        match &self.state {
            ScheduleState::Annealing(s) => Some(s.reductions),
            ScheduleState::Constant(_) => None,
        }
    }

    /// The bar a validation at `samples` training samples, `samples_in_rung` of them at the
    /// current density, must clear (see
    /// [`AnnealingSchedule::bar_for`](sparling_sparse::schedule::AnnealingSchedule::bar_for));
    /// `None` for a constant schedule, which has no bar.
    pub fn bar_for(&self, samples: u64, samples_in_rung: u64) -> Option<f64> {
        match &self.state {
            ScheduleState::Annealing(s) => {
                s.bar_for_with_decay(samples, self.bar_decay(samples_in_rung))
            }
            ScheduleState::Constant(_) => None,
        }
    }

    /// Feeds one validation result at `samples` training samples, `samples_in_rung` of them
    /// at the current density; returns true if the density was reduced. The interval since
    /// the last validation was trained at the current density, so its bar decay is the one in
    /// force now ([`DensitySchedule::bar_decay`]).
    pub fn observe(&mut self, samples: u64, samples_in_rung: u64, accuracy: f64) -> Result<bool> {
        let decay = self.bar_decay(samples_in_rung);
        match &mut self.state {
            ScheduleState::Annealing(s) => Ok(matches!(
                s.observe_with_decay(samples, accuracy, decay)?,
                Decision::Reduce { .. }
            )),
            ScheduleState::Constant(_) => Ok(false),
        }
    }

    /// True once the density has fallen below the target.
    pub fn done(&self) -> bool {
        match &self.state {
            ScheduleState::Annealing(s) => s.done(),
            ScheduleState::Constant(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Density 0.5, factor 0.75, done below 0.3, the bar falling `decay` per sample.
    fn annealing_config(decay: f64, late_phase: Option<LatePhase>) -> ScheduleConfig {
        ScheduleConfig::Annealing {
            initial_density: 0.5,
            factor: 0.75,
            bar_decay_per_sample: decay,
            done_at_density: 0.3,
            late_phase,
        }
    }

    fn annealing(decay: f64) -> DensitySchedule {
        DensitySchedule::new(&annealing_config(decay, None)).unwrap()
    }

    #[test]
    fn reduces_on_strictly_beating_the_decayed_bar() {
        let mut s = annealing(1e-3);
        // Bar 1 decays by 0.1 over 100 samples to 0.9; 0.9 does not beat it (strict).
        assert!(!s.observe(100, 100, 0.9).unwrap());
        assert_eq!(s.bar(), 0.9);
        // 0.9 - 0.01 = 0.89 < 0.95: reduce, rung 1, bar ratchets to 0.95.
        assert!(s.observe(110, 110, 0.95).unwrap());
        assert_eq!((s.density(), s.rung(), s.bar()), (0.375, Some(1), 0.95));
        assert!(!s.done());
        assert!(s.observe(1000, 1000, 0.5).unwrap());
        assert!(s.done()); // 0.28125 < 0.3
    }

    #[test]
    fn late_phase_takes_over_below_its_density() {
        let late = LatePhase {
            below_density: 0.4,
            bar_decay_per_sample: 1e-4,
            lr_scale: 0.25,
            hold_limit_samples: None,
        };
        let cfg = annealing_config(1e-3, Some(late));
        let mut s = DensitySchedule::new(&cfg).unwrap();
        let mut plain = annealing(1e-3);
        // Above 0.4 the late phase is not in force: the same decisions, bit for bit.
        assert_eq!((s.lr_scale(), s.bar_decay(0)), (1.0, 1e-3));
        assert_eq!(s.bar_for(100, 100), plain.bar_for(100, 100));
        assert_eq!(
            s.observe(100, 100, 0.95).unwrap(),
            plain.observe(100, 100, 0.95).unwrap()
        );
        assert_eq!(s.state(), plain.state());
        // Now at 0.375: the interval from 100 to 300 is trained in the late phase.
        assert_eq!(
            (s.density(), s.lr_scale(), s.bar_decay(0)),
            (0.375, 0.25, 1e-4)
        );
        assert_eq!(s.bar_for(300, 300), Some(0.95 - 1e-4 * 200.0));
        assert!(
            !s.observe(300, 300, 0.92).unwrap(),
            "0.92 does not clear 0.93 ..."
        );
        assert!(
            plain.observe(300, 300, 0.92).unwrap(),
            "... but clears 0.75 without the phase"
        );
        assert_eq!(s.bar(), 0.95 - 1e-4 * 200.0);
        // The phase follows the density through a checkpoint: it is not part of the state.
        let back = DensitySchedule::from_state(&cfg, s.state()).unwrap();
        assert_eq!((back.lr_scale(), back.bar_decay(0)), (0.25, 1e-4));
        assert_eq!(back.bar_for(1000, 1000), s.bar_for(1000, 1000));
    }

    #[test]
    fn a_hold_limit_hands_the_bar_back_to_the_schedules_decay() {
        let late = LatePhase {
            below_density: 0.4,
            bar_decay_per_sample: 0.0,
            lr_scale: 0.5,
            hold_limit_samples: Some(300),
        };
        let cfg = annealing_config(1e-3, Some(late));
        let mut s = DensitySchedule::new(&cfg).unwrap();
        assert!(s.observe(100, 100, 0.95).unwrap()); // into the phase at 0.375, bar 0.95
        // Up to the limit the bar holds: 0.95 does not beat it.
        assert_eq!(s.bar_decay(300), 0.0);
        assert_eq!(s.bar_for(400, 300), Some(0.95));
        assert!(!s.observe(400, 300, 0.95).unwrap());
        // Past it, the interval's bar falls at the schedule's rate: 0.95 - 1e-3 * 100.
        assert_eq!(s.bar_decay(301), 1e-3);
        let bar = s.bar_for(500, 400).unwrap();
        assert!((bar - 0.85).abs() < 1e-12, "{bar}");
        assert!(s.observe(500, 400, 0.9).unwrap());
        // Without a limit, the same rung would still hold.
        let mut no_limit = DensitySchedule::new(&annealing_config(
            1e-3,
            Some(LatePhase {
                hold_limit_samples: None,
                ..late
            }),
        ))
        .unwrap();
        assert!(no_limit.observe(100, 100, 0.95).unwrap());
        assert!(!no_limit.observe(400, 300, 0.95).unwrap());
        assert!(!no_limit.observe(500, 400, 0.9).unwrap());
    }

    #[test]
    fn state_round_trip_and_mismatch() {
        let mut s = annealing(1e-3);
        s.observe(500, 500, 0.7).unwrap();
        let cfg = annealing_config(1e-3, None);
        let back = DensitySchedule::from_state(&cfg, s.state()).unwrap();
        assert_eq!(back.state(), s.state());
        let other = ScheduleConfig::Constant { density: 0.1 };
        assert!(DensitySchedule::from_state(&other, s.state()).is_err());
        let mut c = DensitySchedule::new(&other).unwrap();
        assert!(!c.observe(10, 10, 1.0).unwrap());
        assert_eq!((c.density(), c.rung(), c.done()), (0.1, None, false));
    }
}

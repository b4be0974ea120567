//! The schedule of a run, in one place: its config ([`ScheduleConfig`], with the optional
//! [`LatePhase`]), the density in force (the paper's annealing state machine,
//! `sparling_sparse::schedule::AnnealingSchedule`, a constant density, or the baselines'
//! stop at the first clear of the bar), where the current rung began, and the learning rate of
//! every step. [`RunSchedule::state`] is checkpointed as a whole.

use serde::{Deserialize, Serialize};
use sparling_sparse::schedule::{AnnealingConfig, AnnealingSchedule, Decision};

use crate::error::{Error, Result};
use crate::optimizer::OptimizerConfig;
use crate::validate::{density, invalid};

/// How the density is scheduled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleConfig {
    /// The paper's annealing (section 3): start at `initial_density`, multiply by `factor`
    /// whenever validation accuracy clears a bar that decays by `bar_decay_per_sample`.
    Annealing {
        /// Starting density.
        initial_density: f64,
        /// Multiplier applied at each reduction.
        factor: f64,
        /// Bar decay per training sample.
        bar_decay_per_sample: f64,
        /// Stop once the density falls below this.
        done_at_density: f64,
        /// Another bar decay and a smaller step once the density is below a level (None, the
        /// default: the same at every rung). See [`LatePhase`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        late_phase: Option<LatePhase>,
    },
    /// A fixed density (the no-annealing ablations, non-sparse); stops at the sample budget.
    Constant {
        /// The density.
        density: f64,
    },
    /// The baselines' protocol (L1): the annealing schedule's bar, starting at 1 and falling
    /// `bar_decay_per_sample` per sample, but the run stops the first time validation clears it.
    /// `density` is what a density-driven bottleneck is held at (and what is reported).
    FirstClear {
        /// The density held.
        density: f64,
        /// Bar decay per training sample.
        bar_decay_per_sample: f64,
    },
}

impl ScheduleConfig {
    /// The annealing schedule's late phase (None for the other kinds).
    pub fn late_phase(&self) -> Option<LatePhase> {
        match self {
            ScheduleConfig::Annealing { late_phase, .. } => *late_phase,
            _ => None,
        }
    }

    /// The density at the start of a run.
    pub fn initial_density(&self) -> f64 {
        match self {
            ScheduleConfig::Annealing {
                initial_density, ..
            } => *initial_density,
            ScheduleConfig::Constant { density } | ScheduleConfig::FirstClear { density, .. } => {
                *density
            }
        }
    }

    /// The density ladder `(initial, factor)`: factor 1 when the density never moves.
    pub fn ladder(&self) -> (f64, f64) {
        match self {
            ScheduleConfig::Annealing {
                initial_density,
                factor,
                ..
            } => (*initial_density, *factor),
            other => (other.initial_density(), 1.0),
        }
    }

    /// The number of density rungs between `initial_density` and `done_at_density` (1 when the
    /// density never moves).
    pub fn rungs(&self) -> usize {
        match self {
            ScheduleConfig::Annealing {
                initial_density,
                factor,
                done_at_density,
                ..
            } => {
                let mut d = *initial_density;
                let mut n = 0;
                while d >= *done_at_density {
                    d *= factor;
                    n += 1;
                }
                n
            }
            _ => 1,
        }
    }

    /// Checks every field (errors name `schedule.<field>`).
    pub fn validate(&self) -> Result<()> {
        match self {
            ScheduleConfig::Annealing {
                initial_density,
                factor,
                bar_decay_per_sample,
                done_at_density,
                late_phase,
            } => {
                density("schedule.initial_density", *initial_density)?;
                if let Some(late) = late_phase {
                    late.validate()?;
                }
                if !(factor.is_finite() && *factor > 0.0 && *factor < 1.0) {
                    return Err(invalid("schedule.factor", "must be in (0, 1)"));
                }
                bar_decay("schedule.bar_decay_per_sample", *bar_decay_per_sample)?;
                density("schedule.done_at_density", *done_at_density)?;
                if done_at_density >= initial_density {
                    return Err(invalid(
                        "schedule.done_at_density",
                        format!(
                            "{done_at_density} must be below initial_density {initial_density}"
                        ),
                    ));
                }
                Ok(())
            }
            ScheduleConfig::Constant { density: d } => density("schedule.density", *d),
            ScheduleConfig::FirstClear {
                density: d,
                bar_decay_per_sample,
            } => {
                density("schedule.density", *d)?;
                bar_decay("schedule.bar_decay_per_sample", *bar_decay_per_sample)
            }
        }
    }
}

fn bar_decay(field: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(field, format!("must be >= 0, got {v}")))
    }
}

/// The last rungs of an annealing schedule: while the density in force is below
/// `below_density`, the bar decays `bar_decay_per_sample` per sample instead of the schedule's
/// rate and the learning rate is multiplied by `lr_scale`.
///
/// The protocol takes the model at a density where validation accuracy first clears the bar,
/// so at the last rungs the bar's decay decides how long the model trains there before it is
/// taken. Above `below_density` nothing changes, so a run with a late phase is bit-identical to
/// the same run without it until the density first drops below that level.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatePhase {
    /// The phase applies while the density is strictly below this.
    pub below_density: f64,
    /// The bar's decay per training sample in the phase (the paper's rate is 1e-7).
    pub bar_decay_per_sample: f64,
    /// Multiplier of the learning rate in the phase, in (0, 1].
    pub lr_scale: f32,
    /// A cap on how long the phase's bar decay holds a rung: once a rung inside the phase has
    /// trained more than this many samples, its bar falls at the schedule's own rate again
    /// (None: no cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_limit_samples: Option<u64>,
}

impl LatePhase {
    /// Whether the phase is in force at `density`.
    pub fn applies(&self, density: f64) -> bool {
        density < self.below_density
    }

    /// Whether the phase's bar decay still holds after `samples_in_rung` samples at a rung
    /// inside the phase (see [`LatePhase::hold_limit_samples`]).
    pub fn holds(&self, samples_in_rung: u64) -> bool {
        self.hold_limit_samples.is_none_or(|l| samples_in_rung <= l)
    }

    fn validate(&self) -> Result<()> {
        density("schedule.late_phase.below_density", self.below_density)?;
        bar_decay(
            "schedule.late_phase.bar_decay_per_sample",
            self.bar_decay_per_sample,
        )?;
        if !(self.lr_scale.is_finite() && self.lr_scale > 0.0 && self.lr_scale <= 1.0) {
            return Err(invalid("schedule.late_phase.lr_scale", "must be in (0, 1]"));
        }
        if self.hold_limit_samples == Some(0) {
            return Err(invalid(
                "schedule.late_phase.hold_limit_samples",
                "must be > 0 (leave it out for no cap)",
            ));
        }
        Ok(())
    }
}

/// The density part of the schedule's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DensityState {
    /// The annealing state machine (density, bar, last validation, reductions).
    Annealing(AnnealingSchedule),
    /// A fixed density.
    Constant(f64),
    /// The first-clear protocol: the state machine at the held density; done after one clear.
    FirstClear(AnnealingSchedule),
}

/// Everything the schedule must carry across a resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// The density in force and the bar.
    pub density: DensityState,
    /// Training samples seen when the current rung began (0 before the first reduction).
    pub rung_started_at: u64,
}

impl ScheduleState {
    /// This state under `config`'s stopping density: the annealing state machine's
    /// `done_at_density` replaced by `config`'s (the one stored schedule setting a branch may
    /// change, to continue a run below where it stopped; see [`crate::branch`]). Density, bar
    /// and rung are kept; other kinds, or a config of another kind, leave the state as it is.
    pub fn with_done_at(mut self, config: &ScheduleConfig) -> ScheduleState {
        if let (
            DensityState::Annealing(s),
            ScheduleConfig::Annealing {
                done_at_density, ..
            },
        ) = (&mut self.density, config)
        {
            s.config.done_at_density = *done_at_density;
        }
        self
    }
}

/// The schedule of a run: density, bar, rung and learning rate.
#[derive(Clone, Debug)]
pub struct RunSchedule {
    state: ScheduleState,
    /// The annealing schedule's late phase (config, not state: which phase is in force
    /// follows from the density).
    late: Option<LatePhase>,
    optimizer: OptimizerConfig,
}

fn annealing(initial: f64, factor: f64, decay: f64, done_at: f64) -> Result<AnnealingSchedule> {
    Ok(AnnealingSchedule::new(AnnealingConfig {
        initial_density: initial,
        multiplier: factor,
        bar_decay_per_sample: decay,
        done_at_density: done_at,
        ..AnnealingConfig::default()
    })?)
}

impl RunSchedule {
    /// A fresh schedule: density at its initial value, bar at 1, learning rate from
    /// `optimizer`.
    pub fn new(config: &ScheduleConfig, optimizer: &OptimizerConfig) -> Result<RunSchedule> {
        let density = match config {
            ScheduleConfig::Annealing {
                initial_density,
                factor,
                bar_decay_per_sample,
                done_at_density,
                late_phase: _,
            } => DensityState::Annealing(annealing(
                *initial_density,
                *factor,
                *bar_decay_per_sample,
                *done_at_density,
            )?),
            ScheduleConfig::Constant { density } => DensityState::Constant(*density),
            ScheduleConfig::FirstClear {
                density,
                bar_decay_per_sample,
            } => DensityState::FirstClear(annealing(
                *density,
                0.75,
                *bar_decay_per_sample,
                *density,
            )?),
        };
        Ok(RunSchedule {
            state: ScheduleState {
                density,
                rung_started_at: 0,
            },
            late: config.late_phase(),
            optimizer: optimizer.clone(),
        })
    }

    /// A schedule restored from a checkpoint (its kind and settings must match the config's).
    pub fn from_state(
        config: &ScheduleConfig,
        optimizer: &OptimizerConfig,
        state: ScheduleState,
    ) -> Result<RunSchedule> {
        let fresh = RunSchedule::new(config, optimizer)?;
        let same = match (&fresh.state.density, &state.density) {
            (DensityState::Annealing(a), DensityState::Annealing(b))
            | (DensityState::FirstClear(a), DensityState::FirstClear(b)) => a.config == b.config,
            (DensityState::Constant(a), DensityState::Constant(b)) => a == b,
            _ => false,
        };
        if !same {
            return Err(Error::Run(format!(
                "checkpoint's schedule state {:?} does not match the config",
                state.density
            )));
        }
        Ok(RunSchedule { state, ..fresh })
    }

    /// The late phase in force at the current density, if any.
    fn late_now(&self) -> Option<&LatePhase> {
        self.late.as_ref().filter(|l| l.applies(self.density()))
    }

    /// Training samples at the current rung after `samples` in all.
    pub fn samples_in_rung(&self, samples: u64) -> u64 {
        samples.saturating_sub(self.state.rung_started_at)
    }

    /// The learning rate of optimizer step `step` (0-based) after `samples` training samples:
    /// the warm-up ramp, times the per-reduction decay, times the decay within the rung (from
    /// the first reduction on), times the late phase's `lr_scale` while it is in force.
    pub fn learning_rate(&self, step: u64, samples: u64) -> f32 {
        let o = &self.optimizer;
        // Without decay every product is exact, so runs made before a decay existed keep
        // their bits.
        let ramped = if o.warmup_steps > 0 && step < o.warmup_steps {
            o.lr * (step + 1) as f32 / o.warmup_steps as f32
        } else {
            o.lr
        };
        let reductions = self.rung().unwrap_or(0);
        let decay = o
            .lr_decay_per_reduction
            .powi(i32::try_from(reductions).unwrap_or(i32::MAX));
        let base = match o.rung_decay {
            Some(r) if reductions > 0 => ramped * decay * r.factor(self.samples_in_rung(samples)),
            _ => ramped * decay,
        };
        base * self.late_now().map_or(1.0, |l| l.lr_scale)
    }

    /// The bar's decay per sample over the interval being trained now, at the current
    /// density, after `samples` training samples (NaN for a constant schedule).
    pub fn bar_decay(&self, samples: u64) -> f64 {
        match &self.state.density {
            DensityState::Annealing(s) => self
                .late_now()
                .filter(|l| l.holds(self.samples_in_rung(samples)))
                .map_or(s.config.bar_decay_per_sample, |l| l.bar_decay_per_sample),
            DensityState::FirstClear(s) => s.config.bar_decay_per_sample,
            DensityState::Constant(_) => f64::NAN,
        }
    }

    /// The state to checkpoint.
    pub fn state(&self) -> ScheduleState {
        self.state.clone()
    }

    /// Current density.
    pub fn density(&self) -> f64 {
        match &self.state.density {
            DensityState::Annealing(s) => s.density(),
            DensityState::Constant(d) => *d,
            DensityState::FirstClear(s) => s.config.initial_density,
        }
    }

    /// Current bar (NaN for a constant schedule).
    pub fn bar(&self) -> f64 {
        match &self.state.density {
            DensityState::Annealing(s) | DensityState::FirstClear(s) => s.bar,
            DensityState::Constant(_) => f64::NAN,
        }
    }

    /// The rung index of the current density: the number of reductions so far (`None` when
    /// the density never moves).
    pub fn rung(&self) -> Option<u32> {
        match &self.state.density {
            DensityState::Annealing(s) => Some(s.reductions),
            _ => None,
        }
    }

    /// The bar a validation at `samples` training samples must clear (see
    /// [`AnnealingSchedule::bar_for`]); `None` for a constant schedule, which has no bar.
    pub fn bar_for(&self, samples: u64) -> Option<f64> {
        match &self.state.density {
            DensityState::Annealing(s) | DensityState::FirstClear(s) => {
                s.bar_for_with_decay(samples, self.bar_decay(samples))
            }
            DensityState::Constant(_) => None,
        }
    }

    /// Feeds one validation result at `samples` training samples; returns true if the bar was
    /// cleared (the density reduced, or the first clear reached). The interval since the last
    /// validation was trained at the current density, so its bar decay is the one in force now
    /// ([`RunSchedule::bar_decay`]).
    pub fn observe(&mut self, samples: u64, accuracy: f64) -> Result<bool> {
        let decay = self.bar_decay(samples);
        let cleared = match &mut self.state.density {
            DensityState::Annealing(s) | DensityState::FirstClear(s) => matches!(
                s.observe_with_decay(samples, accuracy, decay)?,
                Decision::Reduce { .. }
            ),
            DensityState::Constant(_) => false,
        };
        if cleared {
            self.state.rung_started_at = samples;
        }
        Ok(cleared)
    }

    /// Why the schedule has ended the run, once it has.
    pub fn done_reason(&self) -> Option<String> {
        match &self.state.density {
            DensityState::Annealing(s) if s.done() => {
                Some(format!("density {:.4e} fell below the target", s.density()))
            }
            DensityState::FirstClear(s) if s.reductions > 0 => Some(format!(
                "validation cleared the bar ({:.4}) for the first time",
                s.bar
            )),
            _ => None,
        }
    }

    /// True once the schedule has ended the run (the density fell below the target, or the
    /// first clear was reached).
    pub fn done(&self) -> bool {
        match &self.state.density {
            DensityState::Annealing(s) => s.done(),
            DensityState::FirstClear(s) => s.reductions > 0,
            DensityState::Constant(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Profile, TrainConfig};
    use crate::optimizer::RungDecay;

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

    fn optimizer() -> OptimizerConfig {
        TrainConfig::preset(Profile::Default).optimizer
    }

    fn schedule(cfg: &ScheduleConfig) -> RunSchedule {
        RunSchedule::new(cfg, &optimizer()).unwrap()
    }

    #[test]
    fn reduces_on_strictly_beating_the_decayed_bar() {
        let mut s = schedule(&annealing_config(1e-3, None));
        // Bar 1 decays by 0.1 over 100 samples to 0.9; 0.9 does not beat it (strict).
        assert!(!s.observe(100, 0.9).unwrap());
        assert_eq!(s.bar(), 0.9);
        // 0.9 - 0.01 = 0.89 < 0.95: reduce, rung 1, bar ratchets to 0.95.
        assert!(s.observe(110, 0.95).unwrap());
        assert_eq!((s.density(), s.rung(), s.bar()), (0.375, Some(1), 0.95));
        assert_eq!(s.state().rung_started_at, 110);
        assert_eq!(s.samples_in_rung(150), 40);
        assert!(!s.done());
        assert!(s.observe(1000, 0.5).unwrap());
        assert!(s.done()); // 0.28125 < 0.3
        assert!(s.done_reason().unwrap().contains("below the target"));
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
        let mut s = schedule(&cfg);
        let mut plain = schedule(&annealing_config(1e-3, None));
        // Above 0.4 the late phase is not in force: the same decisions, bit for bit.
        assert_eq!(s.learning_rate(1000, 0), plain.learning_rate(1000, 0));
        assert_eq!(s.bar_decay(0), 1e-3);
        assert_eq!(s.bar_for(100), plain.bar_for(100));
        assert_eq!(
            s.observe(100, 0.95).unwrap(),
            plain.observe(100, 0.95).unwrap()
        );
        assert_eq!(s.state(), plain.state());
        // Now at 0.375: the interval from 100 to 300 is trained in the late phase.
        assert_eq!((s.density(), s.bar_decay(100)), (0.375, 1e-4));
        assert_eq!(
            s.learning_rate(1000, 100),
            0.25 * plain.learning_rate(1000, 100)
        );
        assert_eq!(s.bar_for(300), Some(0.95 - 1e-4 * 200.0));
        assert!(
            !s.observe(300, 0.92).unwrap(),
            "0.92 does not clear 0.93 ..."
        );
        assert!(
            plain.observe(300, 0.92).unwrap(),
            "... but clears 0.75 without the phase"
        );
        // The phase follows the density through a checkpoint: it is not part of the state.
        let back = RunSchedule::from_state(&cfg, &optimizer(), s.state()).unwrap();
        assert_eq!(back.bar_decay(300), 1e-4);
        assert_eq!(back.bar_for(1000), s.bar_for(1000));
        assert_eq!(back.learning_rate(1000, 400), s.learning_rate(1000, 400));
    }

    #[test]
    fn a_hold_limit_hands_the_bar_back_to_the_schedules_decay() {
        let late = LatePhase {
            below_density: 0.4,
            bar_decay_per_sample: 0.0,
            lr_scale: 0.5,
            hold_limit_samples: Some(300),
        };
        let mut s = schedule(&annealing_config(1e-3, Some(late)));
        assert!(s.observe(100, 0.95).unwrap()); // into the phase at 0.375, bar 0.95
        // Up to the limit (300 samples into the rung) the bar holds.
        assert_eq!(s.bar_decay(400), 0.0);
        assert_eq!(s.bar_for(400), Some(0.95));
        assert!(!s.observe(400, 0.95).unwrap());
        // Past it, the interval's bar falls at the schedule's rate: 0.95 - 1e-3 * 100.
        assert_eq!(s.bar_decay(401), 1e-3);
        let bar = s.bar_for(500).unwrap();
        assert!((bar - 0.85).abs() < 1e-12, "{bar}");
        assert!(s.observe(500, 0.9).unwrap());
        // Without a limit, the same rung would still hold.
        let mut no_limit = schedule(&annealing_config(
            1e-3,
            Some(LatePhase {
                hold_limit_samples: None,
                ..late
            }),
        ));
        assert!(no_limit.observe(100, 0.95).unwrap());
        assert!(!no_limit.observe(400, 0.95).unwrap());
        assert!(!no_limit.observe(500, 0.9).unwrap());
    }

    #[test]
    fn learning_rate_warms_up_then_falls_per_reduction_and_within_the_rung() {
        let mut o = optimizer();
        o.lr = 1e-3;
        o.warmup_steps = 4;
        o.lr_decay_per_reduction = 0.5;
        let cfg = annealing_config(1.0, None);
        let mut s = RunSchedule::new(&cfg, &o).unwrap();
        assert_eq!(s.learning_rate(0, 0), 2.5e-4);
        assert_eq!(s.learning_rate(3, 0), 1e-3);
        assert_eq!(s.learning_rate(100, 0), 1e-3);
        assert!(s.observe(10, 0.5).unwrap());
        assert_eq!(s.learning_rate(100, 10), 5e-4);
        assert_eq!(s.learning_rate(1, 10), 2.5e-4);
        // Within the rung: full rate right after a cut, halving per half-life, to the floor.
        o.lr_decay_per_reduction = 1.0;
        o.warmup_steps = 0;
        o.rung_decay = Some(RungDecay {
            half_life_samples: 1000,
            floor: 0.25,
        });
        let mut s = RunSchedule::new(&cfg, &o).unwrap();
        assert_eq!(
            s.learning_rate(100, 5000),
            1e-3,
            "never at the initial density"
        );
        assert!(s.observe(5000, 0.5).unwrap());
        assert_eq!(s.learning_rate(100, 5000), 1e-3);
        assert_eq!(s.learning_rate(100, 6000), 5e-4);
        assert_eq!(s.learning_rate(100, 7000), 2.5e-4);
        assert_eq!(s.learning_rate(100, 1_000_000), 2.5e-4);
    }

    #[test]
    fn first_clear_holds_the_density_and_ends_at_the_first_clear() {
        let cfg = ScheduleConfig::FirstClear {
            density: 0.01,
            bar_decay_per_sample: 1e-3,
        };
        let mut s = schedule(&cfg);
        assert_eq!((s.density(), s.rung(), s.done()), (0.01, None, false));
        assert!(!s.observe(100, 0.9).unwrap());
        assert!(!s.done());
        assert!(s.observe(200, 0.95).unwrap());
        assert_eq!(s.density(), 0.01, "the density is held");
        assert!(s.done_reason().unwrap().contains("first time"));
        assert_eq!(cfg.ladder(), (0.01, 1.0));
    }

    #[test]
    fn a_lower_done_at_density_reopens_a_finished_schedule() {
        let cfg = annealing_config(1.0, None);
        let mut s = schedule(&cfg);
        assert!(s.observe(10, 0.5).unwrap());
        assert!(s.observe(20, 0.5).unwrap());
        assert!(s.done(), "0.28125 < 0.3");
        let lower = ScheduleConfig::Annealing {
            initial_density: 0.5,
            factor: 0.75,
            bar_decay_per_sample: 1.0,
            done_at_density: 0.2,
            late_phase: None,
        };
        // The stored state does not open under the other config as it is ...
        assert!(RunSchedule::from_state(&lower, &optimizer(), s.state()).is_err());
        // ... but does once retargeted: same density, bar and rung, no longer done.
        let state = s.state().with_done_at(&lower);
        let back = RunSchedule::from_state(&lower, &optimizer(), state).unwrap();
        assert_eq!(
            (back.density(), back.bar(), back.rung()),
            (s.density(), s.bar(), s.rung())
        );
        assert!(!back.done());
        let constant = ScheduleConfig::Constant { density: 0.1 };
        let c = schedule(&constant).state();
        assert_eq!(c.clone().with_done_at(&lower), c);
    }

    #[test]
    fn state_round_trip_and_mismatch() {
        let cfg = annealing_config(1e-3, None);
        let mut s = schedule(&cfg);
        s.observe(500, 0.7).unwrap();
        let back = RunSchedule::from_state(&cfg, &optimizer(), s.state()).unwrap();
        assert_eq!(back.state(), s.state());
        let other = ScheduleConfig::Constant { density: 0.1 };
        assert!(RunSchedule::from_state(&other, &optimizer(), s.state()).is_err());
        let mut c = schedule(&other);
        assert!(!c.observe(10, 1.0).unwrap());
        assert_eq!((c.density(), c.rung(), c.done()), (0.1, None, false));
    }

    #[test]
    fn invalid_fields_are_named() {
        let late = |f: fn(&mut LatePhase)| {
            let mut l = LatePhase {
                below_density: 0.4,
                bar_decay_per_sample: 0.0,
                lr_scale: 0.5,
                hold_limit_samples: None,
            };
            f(&mut l);
            annealing_config(1e-3, Some(l))
                .validate()
                .unwrap_err()
                .to_string()
        };
        assert!(late(|l| l.hold_limit_samples = Some(0)).contains("late_phase.hold_limit"));
        assert!(late(|l| l.lr_scale = 0.0).contains("schedule.late_phase.lr_scale"));
        assert!(late(|l| l.bar_decay_per_sample = -1.0).contains("late_phase.bar_decay"));
        let e = ScheduleConfig::Constant { density: 1.5 }
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("schedule.density"), "{e}");
        let e = ScheduleConfig::FirstClear {
            density: 0.1,
            bar_decay_per_sample: f64::NAN,
        }
        .validate()
        .unwrap_err();
        assert!(
            e.to_string().contains("schedule.bar_decay_per_sample"),
            "{e}"
        );
    }
}

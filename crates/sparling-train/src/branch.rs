//! Branching a run: a new run directory that continues another run's training state under a
//! config that differs only in when and how the run ends: the schedule's late phase
//! ([`LatePhase`]), its stopping density (`schedule.done_at_density`) and the sample budget
//! (`max_samples`).
//!
//! Experiments on the last rungs cost a whole run each: the late phase only changes what
//! happens below its density, yet a fresh run must train through every rung above it first.
//! A branch starts instead from a checkpoint of a run taken before the late phase (under
//! either config) ever applied. Everything up to that checkpoint was trained exactly as a
//! fresh run under the new config would have trained it, so the resumed branch ends
//! bit-identical to that fresh run (tested). [`branch`] checks that condition and refuses
//! otherwise.
//!
//! Continuing a *finished* run below its operating density is such a branch: a lower
//! `done_at_density` (and, if the budget is spent, a larger `max_samples`) changes nothing
//! the run has trained, only where it stops. [`continue_below`] writes that config for `K`
//! more rungs; the continued run snapshots them like every other rung, and `sparling eval`
//! puts them on the error-vs-density curve, marked as below the minimum density.

use std::path::Path;

use crate::config::{LatePhase, ScheduleConfig, TrainConfig};
use crate::error::{Error, Result};
use crate::eval::{OperatingPoint, rung_density};
use crate::schedule::RunSchedule;
use crate::state::{MODEL_KIND, ModelSnapshot, RunDir, TRAIN_KIND, load_train_state, write_log};

/// What a branch holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Branched {
    /// The seed of the source run (a branch keeps it).
    pub seed: u64,
    /// Training samples at the checkpoint.
    pub samples: u64,
    /// The per-density snapshots copied from the source run.
    pub rungs: Vec<u32>,
}

/// Writes run directory `out` from the training state in `checkpoint` (a `checkpoint.bin` of
/// run `source`, or a copy of one), with `config` in place of the stored config. The rung
/// snapshots of `source` taken before the checkpoint are copied along. Resume `out` with
/// `sparling train --config <config> --seed <the source's> --out <out>`.
///
/// Errors unless: `out` holds no checkpoint; `config` equals the stored config but for
/// `schedule.late_phase`, `schedule.done_at_density` and `max_samples`; every interval
/// trained so far was trained outside both configs' late phases (or inside the same one), at
/// densities a run under `config` would not have stopped at, and within its budget; and the
/// state is not finished, or (a run continued below where it stopped) would not be under
/// `config`.
pub fn branch(
    checkpoint: &Path,
    source: &RunDir,
    config: &TrainConfig,
    out: &RunDir,
) -> Result<Branched> {
    config.validate()?;
    if out.checkpoint().exists() {
        return Err(Error::Run(format!(
            "{} already holds a run; branch into a fresh directory",
            out.root().display()
        )));
    }
    let mut state = load_train_state(checkpoint)?;
    let old = &state.model.config;
    if without_ending(old) != without_ending(config) {
        return Err(Error::Run(format!(
            "the config differs from {}'s in more than schedule.late_phase, \
             schedule.done_at_density and max_samples",
            checkpoint.display()
        )));
    }
    state.schedule = state.schedule.clone().with_done_at(&config.schedule);
    if let Some(why) = &state.finished {
        let schedule =
            RunSchedule::from_state(&config.schedule, &config.optimizer, state.schedule.clone())?;
        if schedule.done() || state.model.samples >= config.max_samples {
            return Err(Error::Run(format!(
                "{} is a finished run ({why}) and would be finished under the config too; \
                 nothing to branch (lower schedule.done_at_density, or raise max_samples, to \
                 continue it)",
                checkpoint.display()
            )));
        }
        state.finished = None;
    }
    let (old_late, new_late) = (old.schedule.late_phase(), config.schedule.late_phase());
    let in_force = |late: Option<LatePhase>, density: f64| late.filter(|l| l.applies(density));
    // The intervals trained so far: one per validation, plus the steps since the last one.
    let since_last = (state.loss_count > 0).then_some(state.model.density);
    let trained = state.history.iter().map(|r| r.density).chain(since_last);
    for density in trained {
        if in_force(old_late, density) != in_force(new_late, density) {
            return Err(Error::Run(format!(
                "{} has trained at density {density:.4e}, where the two configs' late phases \
                 differ: take a checkpoint from before the run got there",
                checkpoint.display()
            )));
        }
        let stops = match &config.schedule {
            ScheduleConfig::Annealing {
                done_at_density, ..
            } => Some(*done_at_density).filter(|&d| density < d),
            _ => None,
        };
        if let Some(done_at_density) = stops {
            return Err(Error::Run(format!(
                "{} has trained at density {density:.4e}, below the config's done_at_density \
                 {done_at_density:.4e}: a run under it would have stopped earlier",
                checkpoint.display()
            )));
        }
    }
    if state.model.samples > config.max_samples {
        return Err(Error::Run(format!(
            "{} has trained {} samples, more than the config's max_samples {}",
            checkpoint.display(),
            state.model.samples,
            config.max_samples
        )));
    }
    out.create()?;
    let mut rungs = Vec::new();
    let reached = state.model.rung.unwrap_or(0);
    for (k, path) in source.rung_files()? {
        if k >= reached {
            continue;
        }
        let mut snap: ModelSnapshot = sparling_nn::checkpoint::load(&path, MODEL_KIND)?;
        if snap.samples > state.model.samples {
            continue;
        }
        snap.config = config.clone();
        sparling_nn::checkpoint::save_atomic(out.rung(k), MODEL_KIND, &snap)?;
        rungs.push(k);
    }
    state.model.config = config.clone();
    write_log(out, &state.history)?;
    sparling_nn::checkpoint::save_atomic(out.checkpoint(), TRAIN_KIND, &state)?;
    Ok(Branched {
        seed: state.model.seed,
        samples: state.model.samples,
        rungs,
    })
}

/// `config` without the settings a branch may change.
fn without_ending(config: &TrainConfig) -> TrainConfig {
    let mut c = config.clone();
    if let ScheduleConfig::Annealing {
        late_phase,
        done_at_density,
        ..
    } = &mut c.schedule
    {
        *late_phase = None;
        *done_at_density = 0.0;
    }
    c.max_samples = 0;
    c
}

/// The config that continues a run under `config` `rungs` rungs below its operating density
/// (see [`OperatingPoint`]): `schedule.done_at_density` moved to halfway (geometrically)
/// between rung `operating + rungs` and the next, so the run trains and snapshots rungs
/// `operating + 1 ..= operating + rungs` and stops on reaching the one after; and
/// `max_samples` raised to `max_samples` when given. Branch the finished run with it
/// ([`branch`]) and resume the branch.
///
/// Errors if the schedule is not annealing (its density never moves), `rungs` is 0, or the
/// config is invalid.
pub fn continue_below(
    config: &TrainConfig,
    rungs: u32,
    max_samples: Option<u64>,
) -> Result<TrainConfig> {
    let ScheduleConfig::Annealing { factor, .. } = config.schedule else {
        return Err(Error::Run(
            "only an annealing schedule has rungs to continue below".into(),
        ));
    };
    if rungs == 0 {
        return Err(Error::Run(
            "continuing 0 rungs below the operating density changes nothing".into(),
        ));
    }
    let domain = config.build_domain()?;
    let point = OperatingPoint::of(config, domain.as_ref());
    let last = point
        .rung
        .checked_add(rungs)
        .ok_or_else(|| Error::Run(format!("{rungs} rungs below rung {} overflow", point.rung)))?;
    let mut c = config.clone();
    if let ScheduleConfig::Annealing {
        done_at_density, ..
    } = &mut c.schedule
    {
        *done_at_density = rung_density(config, last) * factor.sqrt();
    }
    if let Some(m) = max_samples {
        c.max_samples = m;
    }
    c.validate()?;
    Ok(c)
}

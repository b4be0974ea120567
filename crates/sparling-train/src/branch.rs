//! Branching a run: a new run directory that continues another run's training state under a
//! config that differs only in the schedule's late phase ([`LatePhase`]).
//!
//! Experiments on the last rungs cost a whole run each: the late phase only changes what
//! happens below its density, yet a fresh run must train through every rung above it first.
//! A branch starts instead from a checkpoint of a run taken before the late phase (under
//! either config) ever applied. Everything up to that checkpoint was trained exactly as a
//! fresh run under the new config would have trained it, so the resumed branch ends
//! bit-identical to that fresh run (tested). [`branch`] checks that condition and refuses
//! otherwise.

use std::path::Path;

use crate::config::{LatePhase, ScheduleConfig, TrainConfig};
use crate::error::{Error, Result};
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
/// Errors unless: `out` holds no checkpoint; the state is not finished; `config` equals the
/// stored config but for `schedule.late_phase`; and every interval trained so far was
/// trained outside both configs' late phases (or inside the same one).
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
    if let Some(why) = &state.finished {
        return Err(Error::Run(format!(
            "{} is a finished run ({why}); nothing to branch",
            checkpoint.display()
        )));
    }
    let old = &state.model.config;
    if without_late_phase(old) != without_late_phase(config) {
        return Err(Error::Run(format!(
            "the config differs from {}'s in more than schedule.late_phase",
            checkpoint.display()
        )));
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

fn without_late_phase(config: &TrainConfig) -> TrainConfig {
    let mut c = config.clone();
    if let ScheduleConfig::Annealing { late_phase, .. } = &mut c.schedule {
        *late_phase = None;
    }
    c
}

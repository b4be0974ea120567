//! The training loop: batches by index, Adam, validation every `validation_every` samples
//! feeding the annealing schedule, checkpoints at every validation, per-density snapshots,
//! and exact resumption.
//!
//! Determinism: sample `i` of the training stream is a pure function of `(train seed, i)`,
//! every kernel is thread-count independent, and the whole state (parameters, buffers, Adam,
//! thresholds, schedule, position in the stream) is checkpointed, so a run killed at any
//! moment and resumed ends with bit-identical parameters to an uninterrupted one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use sparling_domains::Domain;
use sparling_nn::checkpoint;
use sparling_nn::optim::{Adam, Optimizer};
use sparling_tensor::Tensor;

use crate::config::TrainConfig;
use crate::data::{DataSeeds, ValidationSet};
use crate::error::{Error, Result};
use crate::model::SparlingModel;
use crate::schedule::RunSchedule;
use crate::state::{
    MODEL_KIND, ModelSnapshot, RunDir, TRAIN_KIND, TrainState, ValidationRecord, load_train_state,
    write_atomic, write_log,
};

/// How a call to [`Trainer::run`] ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The run is complete (target density reached or sample budget spent).
    Finished(String),
    /// Stopped early on request (Ctrl-C or a step limit); the checkpoint is up to date.
    Interrupted,
}

/// Observer of training progress (a progress bar, a logger, nothing).
pub trait Progress {
    /// Called after every optimizer step.
    fn step(&mut self, _state: &TrainState, _loss: f32, _density: f64) {}
    /// Called after every validation.
    fn validation(&mut self, _record: &ValidationRecord) {}
}

/// A [`Progress`] that reports nothing.
pub struct Silent;
impl Progress for Silent {}

/// A training run bound to a run directory.
pub struct Trainer {
    config: TrainConfig,
    seed: u64,
    dir: RunDir,
    domain: Box<dyn Domain>,
    seeds: DataSeeds,
    model: SparlingModel,
    optimizer: Adam,
    schedule: RunSchedule,
    validation: ValidationSet,
    state: TrainState,
}

impl Trainer {
    /// Opens a run: resumes from `dir/checkpoint.bin` if present (the config and seed must
    /// match), else starts fresh.
    pub fn open(config: TrainConfig, seed: u64, dir: RunDir) -> Result<Trainer> {
        config.validate()?;
        dir.create()?;
        // Temporary files of atomic writes killed before their rename.
        for folder in [dir.root().to_path_buf(), dir.rungs()] {
            sparling_nn::atomic::remove_stale_temporaries(&folder)?;
        }
        let domain = config.build_domain()?;
        let seeds = DataSeeds::for_run(seed);
        let model = SparlingModel::new(&config, seed)?;
        let adam_cfg = config.optimizer.adam();
        let validation =
            ValidationSet::generate(domain.as_ref(), seeds.validation, config.validation_samples);
        let (optimizer, schedule, state) = if dir.checkpoint().exists() {
            let state = load_train_state(&dir.checkpoint())?;
            if let Some(what) = run_mismatch(&state.model.config, state.model.seed, &config, seed) {
                return Err(Error::Run(format!(
                    "{} holds a run with {what}; use a fresh directory (or the run's own config \
                     and seed to resume it)",
                    dir.root().display()
                )));
            }
            model.store().import(&state.model.params)?;
            model.bottleneck().load_state(&state.model.bottleneck)?;
            let optimizer = Adam::from_state(state.optimizer.clone(), model.store())?;
            let schedule = RunSchedule::from_state(
                &config.schedule,
                &config.optimizer,
                state.schedule.clone(),
            )?;
            (optimizer, schedule, state)
        } else {
            let schedule = RunSchedule::new(&config.schedule, &config.optimizer)?;
            model.bottleneck().set_density(schedule.density())?;
            if let Some(from) = &config.retrain_from {
                model.load_frozen_g(from)?;
            }
            let optimizer = Adam::new(adam_cfg)?;
            let state = TrainState {
                model: snapshot(&config, seed, &model, 0, &schedule),
                optimizer: optimizer.state(),
                schedule: schedule.state(),
                step: 0,
                loss_sum: 0.0,
                loss_count: 0,
                history: Vec::new(),
                wall_seconds: 0.0,
                finished: None,
            };
            (optimizer, schedule, state)
        };
        Ok(Trainer {
            config,
            seed,
            dir,
            domain,
            seeds,
            model,
            optimizer,
            schedule,
            validation,
            state,
        })
    }

    /// The model.
    pub fn model(&self) -> &SparlingModel {
        &self.model
    }

    /// The current training state (as of the last step).
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// Trains until done, until `stop` is raised, or until `max_steps` more steps (for tests
    /// and for bounded sessions). Checkpoints at every validation and before returning.
    pub fn run(
        &mut self,
        stop: &Arc<AtomicBool>,
        max_steps: Option<u64>,
        progress: &mut dyn Progress,
    ) -> Result<Outcome> {
        if let Some(reason) = self.state.finished.clone() {
            // A run killed after its final checkpoint but before its log and status were
            // written: write them now.
            if !self.dir.status().exists() {
                write_log(&self.dir, &self.state.history)?;
                self.write_status()?;
            }
            return Ok(Outcome::Finished(reason));
        }
        let started = Instant::now();
        let wall_at_start = self.state.wall_seconds;
        let mut steps = 0u64;
        loop {
            if let Some(reason) = self.finish_reason() {
                self.state.finished = Some(reason.clone());
                self.state.wall_seconds = wall_at_start + started.elapsed().as_secs_f64();
                self.save()?;
                sparling_nn::fault::point("final-checkpoint-written");
                self.write_status()?;
                return Ok(Outcome::Finished(reason));
            }
            if stop.load(Ordering::SeqCst) || max_steps.is_some_and(|m| steps >= m) {
                self.state.wall_seconds = wall_at_start + started.elapsed().as_secs_f64();
                self.save()?;
                return Ok(Outcome::Interrupted);
            }
            let loss = self.train_step()?;
            steps += 1;
            progress.step(&self.state, loss, self.schedule.density());
            let every = self.config.validation_every;
            let before = self.samples() - self.config.batch_size as u64;
            if self.samples() / every > before / every {
                self.state.wall_seconds = wall_at_start + started.elapsed().as_secs_f64();
                let record = self.validate_and_schedule()?;
                progress.validation(&record);
                self.save()?;
            }
        }
    }

    fn samples(&self) -> u64 {
        self.state.model.samples
    }

    fn finish_reason(&self) -> Option<String> {
        if let Some(reason) = self.schedule.done_reason() {
            Some(reason)
        } else if self.samples() >= self.config.max_samples {
            Some(format!(
                "sample budget of {} spent",
                self.config.max_samples
            ))
        } else {
            None
        }
    }

    /// One optimizer step on the next batch of the training stream; returns the loss. Does
    /// not validate or checkpoint ([`Trainer::run`] does): for benchmarks and custom loops.
    pub fn train_step(&mut self) -> Result<f32> {
        let b = self.config.batch_size as u64;
        let start = self.samples();
        let indices: Vec<u64> = (start..start + b).collect();
        let batch = self.domain.batch_arrays(self.seeds.train, &indices);
        let x = Tensor::new(batch.inputs);
        let out = self
            .config
            .objective
            .loss(&self.model, &x, &batch.tokens, true)?;
        let loss = out.loss.item();
        if !loss.is_finite() {
            return Err(Error::Diverged {
                step: self.state.step,
                what: format!("loss {loss}"),
            });
        }
        let mut grads = out.loss.backward();
        drop(out);
        let params = self.model.store().params();
        let norm = match self.config.optimizer.grad_clip {
            Some(c) => grads.clip_global_norm(&params, c),
            None => grads.global_norm(&params),
        };
        if !norm.is_finite() {
            return Err(Error::Diverged {
                step: self.state.step,
                what: format!("gradient norm {norm}"),
            });
        }
        let lr = self.schedule.learning_rate(self.state.step, self.samples());
        self.optimizer.set_learning_rate(lr);
        self.optimizer.step(self.model.store(), &grads);
        self.state.step += 1;
        self.state.model.samples += b;
        self.state.loss_sum += loss as f64;
        self.state.loss_count += 1;
        Ok(loss)
    }

    /// Validation accuracy, then the schedule's decision; snapshots the rung on a reduction.
    /// With `validation_early_stop` the scoring stops once the bar is out of reach; the
    /// schedule is then fed the best accuracy still possible, which is at most the bar and so
    /// changes it exactly as the full score would have.
    fn validate_and_schedule(&mut self) -> Result<ValidationRecord> {
        let stop_at_or_below = if self.config.validation_early_stop {
            self.schedule.bar_for(self.samples())
        } else {
            None
        };
        let score = self
            .validation
            .score(&self.model, self.config.objective, stop_at_or_below)?;
        let density = self.schedule.density();
        let rung = self.schedule.rung();
        let reduced = self
            .schedule
            .observe(self.samples(), score.best_possible())?;
        if reduced {
            // The model "at density d": the state where accuracy first cleared the bar at d.
            if let Some(k) = rung {
                let snap = snapshot(
                    &self.config,
                    self.seed,
                    &self.model,
                    self.samples(),
                    &self.schedule,
                );
                let snap = ModelSnapshot {
                    density,
                    rung: Some(k),
                    ..snap
                };
                checkpoint::save_atomic(self.dir.rung(k), MODEL_KIND, &snap)?;
            }
            self.model
                .bottleneck()
                .set_density(self.schedule.density())?;
        }
        let record = ValidationRecord {
            step: self.state.step,
            samples: self.samples(),
            train_loss: if self.state.loss_count > 0 {
                self.state.loss_sum / self.state.loss_count as f64
            } else {
                f64::NAN
            },
            accuracy: score.accuracy(),
            validated: score.scored as u64,
            density,
            bar: self.schedule.bar(),
            reduced,
            wall_seconds: self.state.wall_seconds,
        };
        self.state.loss_sum = 0.0;
        self.state.loss_count = 0;
        self.state.history.push(record.clone());
        Ok(record)
    }

    /// Writes the full state atomically and rewrites the log from the history.
    fn save(&mut self) -> Result<()> {
        self.state.model = ModelSnapshot {
            samples: self.samples(),
            ..snapshot(
                &self.config,
                self.seed,
                &self.model,
                self.samples(),
                &self.schedule,
            )
        };
        self.state.optimizer = self.optimizer.state();
        self.state.schedule = self.schedule.state();
        checkpoint::save_atomic(self.dir.checkpoint(), TRAIN_KIND, &self.state)?;
        write_log(&self.dir, &self.state.history)
    }

    fn write_status(&self) -> Result<()> {
        let status = serde_json::json!({
            "finished": self.state.finished,
            "seed": self.seed,
            "steps": self.state.step,
            "samples": self.samples(),
            "density": self.schedule.density(),
            "wall_seconds": self.state.wall_seconds,
            "validations": self.state.history.len(),
            "rungs": self.dir.rung_files()?.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        });
        write_atomic(
            &self.dir.status(),
            serde_json::to_string_pretty(&status)
                .expect("json")
                .as_bytes(),
        )
    }
}

/// What differs between a stored run (`stored`, `stored_seed`) and the one asked for, in
/// words (`"seed 3, not 0"`, `"another config: batch_size 8, not 16"`), or `None`.
fn run_mismatch(
    stored: &TrainConfig,
    stored_seed: u64,
    config: &TrainConfig,
    seed: u64,
) -> Option<String> {
    let mut what = Vec::new();
    if stored_seed != seed {
        what.push(format!("seed {stored_seed}, not {seed}"));
    }
    if stored != config {
        let fields = crate::state::config_differences(stored, config);
        what.push(format!("another config: {}", fields.join(", ")));
    }
    (!what.is_empty()).then(|| what.join(" and "))
}

/// The model part of the state.
fn snapshot(
    config: &TrainConfig,
    seed: u64,
    model: &SparlingModel,
    samples: u64,
    schedule: &RunSchedule,
) -> ModelSnapshot {
    ModelSnapshot {
        config: config.clone(),
        seed,
        params: model.store().export(),
        bottleneck: model.bottleneck().state(),
        samples,
        density: schedule.density(),
        rung: schedule.rung(),
    }
}

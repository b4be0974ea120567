//! What a checkpoint holds, and the files of a run directory.
//!
//! A run directory holds `config.json` (the input), `checkpoint.bin` (the latest full training
//! state, rewritten atomically at every validation and on Ctrl-C), `rungs/rung-KK.bin` (the
//! model "at density d": the state at the validation where accuracy first cleared the bar at
//! rung `KK`, i.e. density `initial * factor^KK`), `log.jsonl` (one line per validation) and
//! `status.json` (written when the run finishes).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sparling_nn::StateDict;
use sparling_nn::optim::AdamState;

use crate::bottleneck::BottleneckState;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::schedule::{DensityState, ScheduleState};

/// The `kind` tag of full training checkpoints.
pub const TRAIN_KIND: &str = "sparling-train-state/3";

/// The `kind` tag of full training checkpoints written before the schedule kept where its rung
/// began (it was read back from the validation history). [`load_train_state`] still reads
/// them.
pub const V2_TRAIN_KIND: &str = "sparling-train-state/2";

/// The `kind` tag of full training checkpoints written before validations could stop early
/// (their records have no `validated` count). [`load_train_state`] still reads them.
pub const LEGACY_TRAIN_KIND: &str = "sparling-train-state";
/// The `kind` tag of per-density model snapshots.
pub const MODEL_KIND: &str = "sparling-model";

/// One validation, as logged and kept in the training state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationRecord {
    /// Optimizer steps so far.
    pub step: u64,
    /// Training samples so far.
    pub samples: u64,
    /// Mean training loss since the previous validation.
    #[serde(with = "nan_as_null")]
    pub train_loss: f64,
    /// Exact-match accuracy on the validation samples scored.
    pub accuracy: f64,
    /// Validation samples scored: the whole set, or fewer when the validation stopped as soon
    /// as it could no longer clear the bar (`validation_early_stop`). Logs written before this
    /// field existed read as 0; their validations all scored the whole set.
    #[serde(default)]
    pub validated: u64,
    /// Density in force during the interval that ended here.
    pub density: f64,
    /// The bar after this validation (NaN for a schedule without one: a held density).
    #[serde(with = "nan_as_null")]
    pub bar: f64,
    /// Whether the density was reduced at this validation.
    pub reduced: bool,
    /// Wall-clock seconds of training so far (summed over resumed sessions).
    pub wall_seconds: f64,
}

/// Everything needed to evaluate a model: parameters, buffers and bottleneck state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelSnapshot {
    /// The configuration the model was built from (stored as JSON text inside the binary
    /// checkpoint: the config uses internally tagged enums, which bincode cannot decode).
    #[serde(with = "config_as_json")]
    pub config: TrainConfig,
    /// The run's seed.
    pub seed: u64,
    /// Parameters and buffers by name.
    pub params: StateDict,
    /// Sparse-layer (or baseline) state: thresholds, density, accumulator.
    pub bottleneck: BottleneckState,
    /// Training samples seen when the snapshot was taken.
    pub samples: u64,
    /// The density the model was trained at.
    pub density: f64,
    /// The rung index (`density = initial * factor^rung`), if annealing.
    pub rung: Option<u32>,
}

/// The full training state: a model snapshot plus optimizer, schedule and progress.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainState {
    /// The model.
    pub model: ModelSnapshot,
    /// Adam's moments and step count.
    pub optimizer: AdamState,
    /// The schedule's state (density, bar, where the rung began).
    pub schedule: ScheduleState,
    /// Optimizer steps taken.
    pub step: u64,
    /// Sum and count of training losses since the last validation.
    pub loss_sum: f64,
    /// Number of losses in `loss_sum`.
    pub loss_count: u64,
    /// Every validation so far.
    pub history: Vec<ValidationRecord>,
    /// Wall-clock seconds of training so far.
    pub wall_seconds: f64,
    /// Why the run ended, once it has.
    pub finished: Option<String>,
}

/// Reads a full training checkpoint, of this version or of the two before
/// ([`V2_TRAIN_KIND`]: where the rung began is the last validation that reduced the density;
/// [`LEGACY_TRAIN_KIND`]: besides, its validations all scored the whole set).
pub fn load_train_state(path: &Path) -> Result<TrainState> {
    match sparling_nn::checkpoint::load::<TrainState>(path, TRAIN_KIND) {
        Err(sparling_nn::Error::WrongKind { found, .. }) if found == V2_TRAIN_KIND => {
            let old: legacy::V2TrainState = sparling_nn::checkpoint::load(path, V2_TRAIN_KIND)?;
            Ok(old.into())
        }
        Err(sparling_nn::Error::WrongKind { found, .. }) if found == LEGACY_TRAIN_KIND => {
            let old: legacy::TrainState = sparling_nn::checkpoint::load(path, LEGACY_TRAIN_KIND)?;
            Ok(legacy::V2TrainState::from(old).into())
        }
        Err(sparling_nn::Error::WrongKind { found, .. })
            if found.starts_with("sparling-train-state/") =>
        {
            Err(Error::Run(format!(
                "{} holds a training state of format {found:?}, written by a newer sparling; \
                 this build reads {TRAIN_KIND:?} and the formats before it: resume or evaluate \
                 it with the version that wrote it",
                path.display()
            )))
        }
        other => Ok(other?),
    }
}

/// Reads the model of any checkpoint: a rung snapshot ([`MODEL_KIND`]) or a run's full
/// training state ([`TRAIN_KIND`], [`LEGACY_TRAIN_KIND`]); any other file is an error naming
/// its kind.
pub fn load_model_snapshot(path: &Path) -> Result<ModelSnapshot> {
    match sparling_nn::checkpoint::peek_kind(path)?.as_str() {
        MODEL_KIND => Ok(sparling_nn::checkpoint::load(path, MODEL_KIND)?),
        TRAIN_KIND | V2_TRAIN_KIND | LEGACY_TRAIN_KIND => Ok(load_train_state(path)?.model),
        other => Err(Error::Run(format!(
            "{} is a {other:?} file, not a model checkpoint",
            path.display()
        ))),
    }
}

/// The payload of [`LEGACY_TRAIN_KIND`] checkpoints.
mod legacy {
    use serde::{Deserialize, Serialize};
    use sparling_nn::optim::AdamState;

    use super::{DensityState, ModelSnapshot, ScheduleState, ValidationRecord as Record};

    /// The payload of [`super::V2_TRAIN_KIND`] checkpoints: the schedule's density state
    /// alone.
    #[derive(Serialize, Deserialize)]
    pub(super) struct V2TrainState {
        pub(super) model: ModelSnapshot,
        pub(super) optimizer: AdamState,
        pub(super) schedule: DensityState,
        pub(super) step: u64,
        pub(super) loss_sum: f64,
        pub(super) loss_count: u64,
        pub(super) history: Vec<Record>,
        pub(super) wall_seconds: f64,
        pub(super) finished: Option<String>,
    }

    impl From<V2TrainState> for super::TrainState {
        fn from(s: V2TrainState) -> super::TrainState {
            // The rung began at the latest validation that reduced the density.
            let rung_started_at = s
                .history
                .iter()
                .rev()
                .find(|r| r.reduced)
                .map_or(0, |r| r.samples);
            super::TrainState {
                model: s.model,
                optimizer: s.optimizer,
                schedule: ScheduleState {
                    density: s.schedule,
                    rung_started_at,
                },
                step: s.step,
                loss_sum: s.loss_sum,
                loss_count: s.loss_count,
                history: s.history,
                wall_seconds: s.wall_seconds,
                finished: s.finished,
            }
        }
    }

    /// The state as the previous format would have held it (the tests write such files).
    #[cfg(test)]
    impl From<super::TrainState> for V2TrainState {
        fn from(s: super::TrainState) -> V2TrainState {
            V2TrainState {
                model: s.model,
                optimizer: s.optimizer,
                schedule: s.schedule.density,
                step: s.step,
                loss_sum: s.loss_sum,
                loss_count: s.loss_count,
                history: s.history,
                wall_seconds: s.wall_seconds,
                finished: s.finished,
            }
        }
    }

    #[derive(Serialize, Deserialize)]
    pub(super) struct ValidationRecord {
        step: u64,
        samples: u64,
        train_loss: f64,
        accuracy: f64,
        density: f64,
        bar: f64,
        reduced: bool,
        wall_seconds: f64,
    }

    #[derive(Serialize, Deserialize)]
    pub(super) struct TrainState {
        model: ModelSnapshot,
        optimizer: AdamState,
        schedule: DensityState,
        step: u64,
        loss_sum: f64,
        loss_count: u64,
        history: Vec<ValidationRecord>,
        wall_seconds: f64,
        finished: Option<String>,
    }

    /// The state as the first format would have held it (the tests write such files).
    #[cfg(test)]
    impl From<super::TrainState> for TrainState {
        fn from(s: super::TrainState) -> TrainState {
            TrainState {
                history: s
                    .history
                    .into_iter()
                    .map(|r| ValidationRecord {
                        step: r.step,
                        samples: r.samples,
                        train_loss: r.train_loss,
                        accuracy: r.accuracy,
                        density: r.density,
                        bar: r.bar,
                        reduced: r.reduced,
                        wall_seconds: r.wall_seconds,
                    })
                    .collect(),
                model: s.model,
                optimizer: s.optimizer,
                schedule: s.schedule.density,
                step: s.step,
                loss_sum: s.loss_sum,
                loss_count: s.loss_count,
                wall_seconds: s.wall_seconds,
                finished: s.finished,
            }
        }
    }

    impl From<TrainState> for V2TrainState {
        fn from(s: TrainState) -> V2TrainState {
            let validated = s.model.config.validation_samples as u64;
            V2TrainState {
                history: s
                    .history
                    .into_iter()
                    .map(|r| Record {
                        step: r.step,
                        samples: r.samples,
                        train_loss: r.train_loss,
                        accuracy: r.accuracy,
                        validated,
                        density: r.density,
                        bar: r.bar,
                        reduced: r.reduced,
                        wall_seconds: r.wall_seconds,
                    })
                    .collect(),
                model: s.model,
                optimizer: s.optimizer,
                schedule: s.schedule,
                step: s.step,
                loss_sum: s.loss_sum,
                loss_count: s.loss_count,
                wall_seconds: s.wall_seconds,
                finished: s.finished,
            }
        }
    }
}

/// Paths inside a run directory.
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// A run directory at `root` (not created).
    pub fn new(root: impl Into<PathBuf>) -> RunDir {
        RunDir { root: root.into() }
    }

    /// Creates the directory and its `rungs/` folder.
    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(self.rungs()).map_err(|e| Error::io("creating", self.rungs(), e))
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The latest full training state.
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join("checkpoint.bin")
    }

    /// The folder of per-density snapshots.
    pub fn rungs(&self) -> PathBuf {
        self.root.join("rungs")
    }

    /// The snapshot of rung `k`.
    pub fn rung(&self, k: u32) -> PathBuf {
        self.rungs().join(format!("rung-{k:02}.bin"))
    }

    /// The validation log.
    pub fn log(&self) -> PathBuf {
        self.root.join("log.jsonl")
    }

    /// The final status.
    pub fn status(&self) -> PathBuf {
        self.root.join("status.json")
    }

    /// All rung snapshots present, sorted by rung.
    pub fn rung_files(&self) -> Result<Vec<(u32, PathBuf)>> {
        let dir = self.rungs();
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io("listing", dir, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| Error::io("listing", &dir, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(k) = name
                .strip_prefix("rung-")
                .and_then(|s| s.strip_suffix(".bin"))
                .and_then(|s| s.parse::<u32>().ok())
            {
                out.push((k, path));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// An `f64` that may be NaN: JSON writes NaN as `null`, which reads back as NaN (binary
/// checkpoints keep the float itself).
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(*v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        if d.is_human_readable() {
            Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
        } else {
            f64::deserialize(d)
        }
    }
}

mod config_as_json {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::config::TrainConfig;

    pub fn serialize<S: Serializer>(c: &TrainConfig, s: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(c).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TrainConfig, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text).map_err(serde::de::Error::custom)
    }
}

/// Rewrites `dir`'s validation log from `history`, one JSON line per validation, atomically.
pub fn write_log(dir: &RunDir, history: &[ValidationRecord]) -> Result<()> {
    let mut log = Vec::new();
    for r in history {
        serde_json::to_writer(&mut log, r).expect("records serialize");
        log.push(b'\n');
    }
    write_atomic(&dir.log(), &log)
}

/// Writes `text` to `path` atomically and durably ([`sparling_nn::atomic::write_atomic`]).
pub fn write_atomic(path: &Path, text: &[u8]) -> Result<()> {
    Ok(sparling_nn::atomic::write_atomic(path, text)?)
}

/// The fields where `stored` and `wanted` differ, as `"path stored, not wanted"`, at most
/// eight of them (then `"..."`).
pub fn config_differences(stored: &TrainConfig, wanted: &TrainConfig) -> Vec<String> {
    fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        use serde_json::Value;
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    let null = Value::Null;
                    walk(
                        &p,
                        x.get(k).unwrap_or(&null),
                        y.get(k).unwrap_or(&null),
                        out,
                    );
                }
            }
            _ if a != b => out.push(format!("{path} {a}, not {b}")),
            _ => {}
        }
    }
    let (Ok(a), Ok(b)) = (serde_json::to_value(stored), serde_json::to_value(wanted)) else {
        return vec!["(not comparable)".to_string()];
    };
    let mut out = Vec::new();
    walk("", &a, &b, &mut out);
    if out.len() > 8 {
        out.truncate(8);
        out.push("...".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_without_a_bar_reads_back_from_the_log_and_the_checkpoint() {
        let record = ValidationRecord {
            step: 100,
            samples: 20_000,
            train_loss: f64::NAN,
            accuracy: 0.726,
            validated: 1_000,
            density: 1.0,
            bar: f64::NAN,
            reduced: false,
            wall_seconds: 122.0,
        };
        let json = serde_json::to_string(&record).unwrap();
        assert!(
            json.contains("\"bar\":null") && json.contains("\"train_loss\":null"),
            "{json}"
        );
        let back: ValidationRecord = serde_json::from_str(&json).unwrap();
        assert!(back.bar.is_nan() && back.train_loss.is_nan());
        assert_eq!((back.samples, back.accuracy), (20_000, 0.726));
        // A finite bar is read as written.
        let with_bar = ValidationRecord {
            bar: 0.5,
            ..record.clone()
        };
        let back: ValidationRecord =
            serde_json::from_str(&serde_json::to_string(&with_bar).unwrap()).unwrap();
        assert_eq!(back.bar, 0.5);
        // The binary checkpoint keeps the float.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.bin");
        sparling_nn::checkpoint::save_atomic(&path, "history", &vec![record]).unwrap();
        let back: Vec<ValidationRecord> = sparling_nn::checkpoint::load(&path, "history").unwrap();
        assert!(back[0].bar.is_nan() && back[0].train_loss.is_nan());
    }

    #[test]
    fn checkpoints_of_the_previous_format_resume() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;

        use crate::config::{Profile, TrainConfig};
        use crate::trainer::{Silent, Trainer};

        let mut cfg = TrainConfig::preset(Profile::Quick);
        cfg.validation_every = 16;
        cfg.validation_samples = 8;
        cfg.validation_early_stop = false;
        let dir = tempfile::tempdir().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut t = Trainer::open(cfg.clone(), 4, RunDir::new(dir.path())).unwrap();
        t.run(&stop, Some(6), &mut Silent).unwrap();
        let s = t.state().clone();
        assert!(!s.history.is_empty());
        let path = RunDir::new(dir.path()).checkpoint();
        let old = legacy::TrainState::from(s.clone());
        sparling_nn::checkpoint::save_atomic(&path, LEGACY_TRAIN_KIND, &old).unwrap();
        let loaded = load_train_state(&path).unwrap();
        assert_eq!(loaded.history, s.history);
        assert!(loaded.history.iter().all(|r| r.validated == 8));
        // The trainer resumes from it and writes the current format.
        let mut resumed = Trainer::open(cfg, 4, RunDir::new(dir.path())).unwrap();
        assert_eq!(resumed.state().step, s.step);
        resumed.run(&stop, Some(4), &mut Silent).unwrap();
        assert_eq!(crate::checkpoint_kind(&path).unwrap(), TRAIN_KIND);
    }

    #[test]
    fn checkpoints_before_the_rung_start_was_kept_resume_from_the_history() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;

        use crate::config::{Profile, TrainConfig};
        use crate::trainer::{Silent, Trainer};

        let mut cfg = TrainConfig::preset(Profile::Quick);
        cfg.validation_every = 32;
        cfg.validation_samples = 8;
        let dir = tempfile::tempdir().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut t = Trainer::open(cfg.clone(), 4, RunDir::new(dir.path())).unwrap();
        t.run(&stop, Some(6), &mut Silent).unwrap();
        let mut s = t.state().clone();
        assert_eq!(s.history.len(), 3);
        // As if the second validation had cut the density: the v2 format kept no rung start.
        s.history[1].reduced = true;
        s.schedule.rung_started_at = s.history[1].samples;
        let path = RunDir::new(dir.path()).checkpoint();
        let old = legacy::V2TrainState::from(s.clone());
        sparling_nn::checkpoint::save_atomic(&path, V2_TRAIN_KIND, &old).unwrap();
        let loaded = load_train_state(&path).unwrap();
        assert_eq!(loaded.schedule, s.schedule);
        // A format from a newer version is refused with what to do.
        sparling_nn::checkpoint::save_atomic(&path, "sparling-train-state/9", &old).unwrap();
        let e = load_train_state(&path).unwrap_err().to_string();
        assert!(
            e.contains("newer") && e.contains("sparling-train-state/9"),
            "{e}"
        );
    }

    #[test]
    fn log_lines_before_the_validated_count_still_parse() {
        let old = r#"{"step":7938,"samples":254016,"train_loss":0.048,"accuracy":0.959,"density":5.02e-5,"bar":0.959,"reduced":true,"wall_seconds":8517.4}"#;
        let r: ValidationRecord = serde_json::from_str(old).unwrap();
        assert_eq!((r.samples, r.validated, r.reduced), (254016, 0, true));
        let new = serde_json::to_string(&ValidationRecord {
            validated: 350,
            ..r
        })
        .unwrap();
        assert!(new.contains(r#""validated":350"#), "{new}");
    }
}

//! `sparling-train`: the Sparling model `h(collapse(S(g(x))))` on DigitCircle and a thin
//! trainer around it.
//!
//! * [`config`]: one experiment as data, validated once; [`experiment`]: the paper's runs
//!   and the profiles of `cargo xtask reproduce`; [`optimizer`]: Adam and clipping.
//! * [`model`]: g (local residual conv stack), S ([`bottleneck`]: BatchNorm + Sparse layer or a
//!   baseline), the collapse (1x1 conv + max-pool) and h (pre-norm transformer encoder-decoder
//!   with greedy decoding).
//! * [`objective`]: what a run trains for (the paper's sequence task, or its Direct
//!   baseline's motif classes on single-motif inputs), with its loss and validation score.
//! * [`trainer`]: Adam, batches generated in parallel by index, validation feeding the schedule
//!   ([`schedule`]: density, bar, rung and learning rate), atomic checkpoints with exact
//!   resumption ([`state`]).
//! * [`eval`]: motif errors and end-to-end error of a checkpoint or a whole run
//!   ([`operating_point`]: which of a run's models that is); [`analysis`]:
//!   the paper's analyses of a trained run (direct evaluation, perturbation, bits); [`report`]:
//!   the reproduction report.
//! * [`analysis`]: the paper's analyses of a trained run (`sparling analyze`).
//! * [`export`]: a model as a safetensors file named like a PyTorch `state_dict`; [`maps`]:
//!   the motif maps of a test run in the `score-motifs` JSONL format.

#![doc = include_str!("../README.md")]

pub mod analysis;
pub mod bottleneck;
pub mod branch;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod experiment;
pub mod export;
pub mod input;
pub mod limits;
pub mod maps;
pub mod model;
pub mod motif_model;
pub mod objective;
pub mod operating_point;
pub mod optimizer;
pub mod pictures;
pub mod report;
pub mod run_info;
pub mod schedule;
pub mod state;
pub mod trainer;
mod validate;

pub use error::{Error, Result};

/// Loads a checkpoint file of the given kind (see [`state::TRAIN_KIND`], [`state::MODEL_KIND`]).
pub fn load_checkpoint<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    kind: &str,
) -> Result<T> {
    Ok(sparling_nn::checkpoint::load(path, kind)?)
}

/// The kind tag of a checkpoint file.
pub fn checkpoint_kind(path: &std::path::Path) -> Result<String> {
    Ok(sparling_nn::checkpoint::peek_kind(path)?)
}

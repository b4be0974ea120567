//! `sparling-metrics`: motif identifiability metrics (FPE, FNE, CE), end-to-end error and
//! bootstrap intervals (as the paper defines them), depending on nothing but `ndarray` (and small crates),
//! so that anyone with a motif map can use it, whatever framework made the map.
//!
//! * [`score_2d`], [`score_1d`], [`score_sparse`]: the confusion of one sample (a post-ReLU
//!   motif map, dense or as a list of nonzero entries, and its ground-truth [`Motif`]s).
//! * [`Confusion`]: the streaming, mergeable `(channels + 1) x (classes + 1)` count table, and
//!   the errors FNE, FPE, CE (optimal one-to-one assignment by the exact Hungarian solver of
//!   [`hungarian`]) and the many-to-one CE.
//! * [`levenshtein`], [`normalized_edit_distance`], [`E2eAccumulator`]: end-to-end error and
//!   exact-match accuracy.
//! * [`bootstrap_mean_ci`]: seeded bootstrap interval of a mean over seeds.
//! * [`MotifError`]: the motif error `E_m` of the paper's theorem (under a fixed channel ->
//!   class assignment).
//! * [`DensityTable`]: errors across densities (the error-vs-density curve).
//! * Output: [`MotifReport`] (JSON, Markdown) and [`write_heatmap_png`].
//! * [`score_jsonl`]: the JSONL format of `sparling score-motifs` (see the [`jsonl`] module and
//!   the crate README).
//!
//! ```
//! use ndarray::Array3;
//! use sparling_metrics::{Confusion, Motif};
//!
//! let mut table = Confusion::new(3, 10); // 3 channels, digits 0-9
//! let mut m = Array3::<f32>::zeros((3, 8, 8));
//! m[[2, 1, 1]] = 0.8; // channel 2 fires on the "7"
//! m[[0, 6, 6]] = 0.3; // channel 0 fires on the "4"
//! m[[1, 7, 0]] = 0.1; // a stray activation: false positive
//! let motifs = [Motif::rect(7, 0..3, 0..3), Motif::rect(4, 5..8, 5..8)];
//! table.add_2d(m.view(), &motifs).unwrap();
//! assert_eq!(table.fne(), 0.0);
//! assert!((table.fpe() - 1.0 / 3.0).abs() < 1e-12);
//! assert_eq!(table.ce(), 0.0);
//! assert_eq!(table.optimal_assignment(), vec![Some(4), None, Some(7)]);
//! ```

pub mod bootstrap;
pub mod confusion;
pub mod density;
pub mod edit;
pub mod error;
pub mod heatmap;
pub mod hungarian;
pub mod jsonl;
pub mod motif;
pub mod motif_error;
pub mod report;
pub mod sample;

pub use bootstrap::{BootstrapConfig, Interval, bootstrap_mean_ci};
pub use confusion::{Confusion, MotifErrors};
pub use density::{DensityRow, DensityTable, SeedErrors};
pub use edit::{E2eAccumulator, e2ee, levenshtein, normalized_edit_distance};
pub use error::{Error, Result};
pub use heatmap::{HeatmapOptions, heatmap_png, render_heatmap, write_heatmap_png};
pub use hungarian::{Assignment, max_weight_assignment, max_weight_assignment_f64};
pub use jsonl::{JsonlScore, JsonlScorer, LineMultiHit, score_jsonl};
pub use motif::{Activation, Footprint, MapShape, Motif};
pub use motif_error::{MotifError, MotifErrorCounts};
pub use report::{MotifReport, aligned_row_order};
pub use sample::{
    MotifOutcome, MultiHit, SampleOutcome, ScoreOptions, score_1d, score_2d, score_sparse,
};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

//! Evaluation of a model: motif errors (FPE, FNE, CE) from the Sparse layer's map against the
//! ground-truth footprints, end-to-end error and exact match from greedy decoding, on the
//! run-independent test stream; and the evaluation of a whole run directory (the operating
//! point and the error-vs-density curve read from the per-density snapshots).

use std::path::Path;

use ndarray::{ArrayD, ArrayView3, ArrayView4, Axis, Ix3, Ix4};
use serde::{Deserialize, Serialize};
use sparling_domains::{Domain, Footprint, Motif, TokenId};
use sparling_metrics::confusion::Confusion;
use sparling_metrics::edit::E2eAccumulator;
use sparling_nn::checkpoint;

use crate::data::{DataSeeds, EVAL_CHUNK};
use crate::error::{Error, Result};
use crate::maps::MapDump;
use crate::model::SparlingModel;
pub use crate::operating_point::{
    OperatingPoint, RunOperatingPoint, operating_point, operating_rung, rung_density,
};
use crate::pictures::{MotifPanel, confusion_figure, motif_figure};
use crate::state::{MODEL_KIND, ModelSnapshot, RunDir, write_atomic};

/// The scores of one model on `samples` test samples.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalResult {
    /// The density the model was trained at.
    pub density: f64,
    /// Its rung on the annealing ladder, if any.
    pub rung: Option<u32>,
    /// Training samples the model had seen.
    pub trained_samples: u64,
    /// Index of the first test sample scored: 0, unless a later slice of the test stream was
    /// asked for (a held-out selection set disjoint from the reported samples `0..N`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub first_sample: u64,
    /// Test samples scored.
    pub samples: usize,
    /// False-positive error.
    pub fpe: f64,
    /// False-negative error.
    pub fne: f64,
    /// Confusion error (optimal one-to-one channel-to-class assignment).
    pub ce: f64,
    /// Confusion error (many-to-one).
    pub ce_many_to_one: f64,
    /// End-to-end error: mean normalised edit distance.
    pub e2ee: f64,
    /// Exact-match accuracy.
    pub exact_match: f64,
    /// Fraction of nonzero entries of the motif map.
    pub observed_density: f64,
    /// The channel -> class assignment (`None`: unassigned channel).
    pub assignment: Vec<Option<usize>>,
    /// Whether the model's density is below the domain's minimum density (a rung trained
    /// past the operating point, see [`crate::branch::continue_below`]); set on the points of
    /// a run's error-vs-density curve.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub below_min_density: bool,
    /// The (pred, true) counts.
    pub confusion: Confusion,
}

impl SparlingModel {
    /// Rebuilds a model from a snapshot.
    pub fn from_snapshot(snap: &ModelSnapshot) -> Result<SparlingModel> {
        let model = SparlingModel::new(&snap.config, snap.seed)?;
        model.store().import(&snap.params)?;
        model.bottleneck().load_state(&snap.bottleneck)?;
        Ok(model)
    }
}

/// Told how far an evaluation has got (for a progress bar): each scoring pass announces
/// itself with [`EvalProgress::stage`], then reports the samples it scores.
pub trait EvalProgress {
    /// A scoring pass over `samples` test samples begins (`label`: e.g. "rung 32").
    fn stage(&mut self, _label: &str, _samples: u64) {}
    /// `samples` more test samples were scored.
    fn scored(&mut self, _samples: u64) {}
}

/// No progress output.
impl EvalProgress for () {}

/// Sees every test sample an evaluation scores: its index in the test stream, its map (the
/// magnitudes of the post-bottleneck map, `(C, H, W)`, a 1-D map as `(C, 1, L)`), its true
/// motifs, and the true and the greedily decoded sequences. [`MapDump`] is one (it writes
/// them); analyses that need per-sample quantities are others.
pub trait SampleObserver {
    /// One scored sample.
    fn observe(
        &mut self,
        index: u64,
        map: ArrayView3<'_, f32>,
        motifs: &[Motif],
        target: &[TokenId],
        predicted: &[TokenId],
    ) -> Result<()>;
}

impl SampleObserver for MapDump {
    fn observe(
        &mut self,
        index: u64,
        map: ArrayView3<'_, f32>,
        motifs: &[Motif],
        target: &[TokenId],
        predicted: &[TokenId],
    ) -> Result<()> {
        self.add(index, map, motifs, target, predicted)
    }
}

/// Converts a domain motif to the metrics crate's type.
pub fn to_metric_motif(m: &Motif) -> sparling_metrics::Motif {
    match &m.footprint {
        Footprint::Rect { rows, cols } => {
            sparling_metrics::Motif::rect(m.class, rows[0]..rows[1], cols[0]..cols[1])
        }
        Footprint::Interval { span } => sparling_metrics::Motif::span(m.class, span[0]..span[1]),
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Refuses to score no samples (every score of nothing would read as perfect).
pub(crate) fn require_samples(n: usize, what: &'static str) -> Result<()> {
    if n == 0 {
        return Err(sparling_metrics::Error::NoSamples { what }.into());
    }
    Ok(())
}

/// Scores `model` on test samples `0..samples`.
pub fn evaluate(
    model: &SparlingModel,
    domain: &dyn Domain,
    samples: usize,
    snap: &ModelSnapshot,
) -> Result<EvalResult> {
    evaluate_range(model, domain, 0, samples, snap)
}

/// Scores `model` on test samples `first..first + samples`: with `first >= N`, a slice of the
/// test stream disjoint from the samples `0..N` that reports are scored on, for choosing
/// between variants without looking at those.
pub fn evaluate_range(
    model: &SparlingModel,
    domain: &dyn Domain,
    first: u64,
    samples: usize,
    snap: &ModelSnapshot,
) -> Result<EvalResult> {
    evaluate_range_dumping(model, domain, first, samples, snap, None, &mut ())
}

/// [`evaluate_range`], also showing each sample's motif map, true motifs and sequences to
/// `dump` when given (a [`MapDump`] writes them in the `score-motifs` format, see
/// [`crate::maps`]), and reporting to `progress`.
pub fn evaluate_range_dumping(
    model: &SparlingModel,
    domain: &dyn Domain,
    first: u64,
    samples: usize,
    snap: &ModelSnapshot,
    mut dump: Option<&mut dyn SampleObserver>,
    progress: &mut dyn EvalProgress,
) -> Result<EvalResult> {
    let label = match snap.rung {
        Some(k) => format!("rung {k} (density {:.3e})", snap.density),
        None => format!("density {:.3e}", snap.density),
    };
    progress.stage(&label, samples as u64);
    let seed = DataSeeds::for_run(snap.seed).test;
    let channels = model.config().motif_channels;
    let mut confusion = Confusion::with_class_names(channels, domain.class_names());
    let mut e2e = E2eAccumulator::new();
    let mut nonzero = 0u64;
    let mut total = 0u64;
    let end = first
        .checked_add(samples as u64)
        .ok_or_else(|| Error::Run(format!("test samples {first}+{samples} overflow")))?;
    require_samples(samples, "the test scores")?;
    for start in (first..end).step_by(EVAL_CHUNK) {
        let idx: Vec<u64> = (start..end.min(start + EVAL_CHUNK as u64)).collect();
        let batch = domain.batch_arrays(seed, &idx);
        let x = sparling_tensor::Tensor::new(batch.inputs);
        let (pred, map) = model.predict(&x)?;
        // An activation is a nonzero entry; a baseline's map may be negative (identity,
        // noise), so the metrics score magnitudes (a Sparse map, never negative, is unchanged).
        let magnitudes = map.data().mapv(f32::abs);
        let maps = as_4d(&magnitudes)?;
        let motifs: Vec<Vec<sparling_metrics::Motif>> = batch
            .motifs
            .iter()
            .map(|ms| ms.iter().map(to_metric_motif).collect())
            .collect();
        if magnitudes.ndim() == 3 {
            // 1-D maps: the motifs are intervals on the signal's axis.
            for (m, ms) in maps.outer_iter().zip(&motifs) {
                confusion.add_1d(m.index_axis_move(Axis(1), 0), ms)?;
            }
        } else {
            confusion.add_batch_2d(maps, &motifs)?;
        }
        if let Some(dump) = dump.as_deref_mut() {
            for (i, &index) in idx.iter().enumerate() {
                dump.observe(
                    index,
                    maps.index_axis(ndarray::Axis(0), i),
                    &batch.motifs[i],
                    &batch.tokens[i],
                    &pred[i],
                )?;
            }
        }
        nonzero += maps.iter().filter(|&&v| v != 0.0).count() as u64;
        total += maps.len() as u64;
        for (y, y_hat) in batch.tokens.iter().zip(&pred) {
            e2e.add(y, y_hat);
        }
        progress.scored(idx.len() as u64);
    }
    let errors = confusion.errors()?;
    Ok(EvalResult {
        density: snap.density,
        rung: snap.rung,
        trained_samples: snap.samples,
        first_sample: first,
        samples,
        fpe: errors.fpe,
        fne: errors.fne,
        ce: errors.ce,
        ce_many_to_one: errors.ce_many_to_one,
        e2ee: e2e.e2ee()?,
        exact_match: e2e.exact_match_accuracy()?,
        observed_density: nonzero as f64 / total.max(1) as f64,
        assignment: confusion.optimal_assignment(),
        below_min_density: false,
        confusion,
    })
}

/// The evaluation of a run directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunEvaluation {
    /// The run's seed.
    pub seed: u64,
    /// The theoretical minimum density of the domain (estimated on noise-free samples).
    pub min_density: f64,
    /// The operating density: the smallest ladder rung at or above the minimum.
    pub operating_density: f64,
    /// Whether training reached the operating density.
    pub reached_operating_point: bool,
    /// The model at the operating density (or the run's end state when it never got there).
    pub headline: EvalResult,
    /// The error-vs-density curve, from about 10x the minimum density down to the operating
    /// density, then any rungs trained below it (see [`crate::branch::continue_below`]),
    /// which are marked `below_min_density`.
    pub curve: Vec<EvalResult>,
}

/// Options of [`evaluate_run`].
#[derive(Clone, Debug)]
pub struct RunEvalOptions {
    /// Test samples for the headline model.
    pub samples: usize,
    /// Test samples per point of the curve.
    pub curve_samples: usize,
    /// Curve from densities up to this multiple of the minimum.
    pub curve_span: f64,
    /// Inputs shown in the motif-overlay picture.
    pub overlay_samples: usize,
    /// Also write the headline model's motif maps on the test samples to this JSONL file
    /// (the `score-motifs` format, see [`crate::maps`]).
    pub dump_maps: Option<std::path::PathBuf>,
}

impl Default for RunEvalOptions {
    fn default() -> Self {
        RunEvalOptions {
            samples: 10_000,
            curve_samples: 1_000,
            curve_span: 10.5,
            overlay_samples: 8,
            dump_maps: None,
        }
    }
}

/// Evaluates a run: the headline model and the curve; writes `eval.json`, `motifs.png` and
/// `confusion.png` into `out`.
pub fn evaluate_run(dir: &RunDir, out: &Path, opts: &RunEvalOptions) -> Result<RunEvaluation> {
    evaluate_run_with_progress(dir, out, opts, &mut ())
}

/// [`evaluate_run`], reporting each scoring pass to `progress`.
pub fn evaluate_run_with_progress(
    dir: &RunDir,
    out: &Path,
    opts: &RunEvalOptions,
    progress: &mut dyn EvalProgress,
) -> Result<RunEvaluation> {
    require_samples(opts.samples, "the test scores")?;
    require_samples(opts.curve_samples, "the error-vs-density curve")?;
    let point = operating_point(dir)?;
    let config = &point.last.model.config;
    crate::objective::require_sequence(config, "the evaluation")?;
    let domain = config.build_test_domain()?;
    let domain = domain.as_ref();
    let dmin = point.min_density;
    let operating_rung = point.rung;
    let (_, factor) = config.schedule.ladder();
    let rungs = &point.rungs;
    let load = |p: &Path| -> Result<ModelSnapshot> { Ok(checkpoint::load(p, MODEL_KIND)?) };
    let headline_snap = point.snapshot.clone();
    let model = SparlingModel::from_snapshot(&headline_snap)?;
    let mut dump = opts.dump_maps.as_deref().map(MapDump::create).transpose()?;
    let headline = evaluate_range_dumping(
        &model,
        domain,
        0,
        opts.samples,
        &headline_snap,
        dump.as_mut().map(|d| d as &mut dyn SampleObserver),
        progress,
    )?;
    if let Some(dump) = dump {
        dump.finish()?;
    }
    // Created only once there is something to write into it.
    std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
    write_pictures(
        &model,
        domain,
        &headline_snap,
        &headline,
        out,
        opts.overlay_samples,
    )?;

    // The curve: rungs from about `curve_span` x the minimum density down to the operating
    // point, and every rung trained below it; a run that stopped earlier shows its last few
    // rungs instead.
    let in_span = |k: u32| k > operating_rung || rung_density(config, k) <= opts.curve_span * dmin;
    let lowest_kept = if rungs.iter().any(|(k, _)| in_span(*k)) {
        None
    } else {
        rungs
            .len()
            .checked_sub(4)
            .map(|i| rungs[i].0)
            .or(rungs.first().map(|r| r.0))
    };
    let mut curve = Vec::new();
    for (k, path) in rungs {
        let keep = match lowest_kept {
            None => in_span(*k),
            Some(lo) => *k >= lo,
        };
        if !keep {
            continue;
        }
        if *k == operating_rung {
            let mut r = headline.clone();
            if opts.curve_samples < opts.samples {
                r = evaluate_range_dumping(
                    &model,
                    domain,
                    0,
                    opts.curve_samples,
                    &headline_snap,
                    None,
                    progress,
                )?;
            }
            curve.push(r);
            continue;
        }
        let snap = load(path)?;
        let m = SparlingModel::from_snapshot(&snap)?;
        let mut r =
            evaluate_range_dumping(&m, domain, 0, opts.curve_samples, &snap, None, progress)?;
        r.below_min_density = factor < 1.0 && *k > operating_rung;
        curve.push(r);
    }
    let result = RunEvaluation {
        seed: point.last.model.seed,
        min_density: dmin,
        operating_density: point.density,
        reached_operating_point: point.reached,
        headline,
        curve,
    };
    write_json(&out.join("eval.json"), &result)?;
    Ok(result)
}

/// Evaluates one checkpoint's model on the test samples `first..first + samples` and writes
/// `eval.json`, `motifs.png` (the first `overlay_samples` test inputs) and `confusion.png`
/// into `out`, and the motif maps to `dump_maps` if given (see [`crate::maps`]); reports to
/// `progress`.
pub fn evaluate_checkpoint(
    snap: &ModelSnapshot,
    first: u64,
    samples: usize,
    overlay_samples: usize,
    out: &Path,
    dump_maps: Option<&Path>,
    progress: &mut dyn EvalProgress,
) -> Result<EvalResult> {
    require_samples(samples, "the test scores")?;
    crate::objective::require_sequence(&snap.config, "the evaluation")?;
    let domain = snap.config.build_test_domain()?;
    let domain = domain.as_ref();
    let model = SparlingModel::from_snapshot(snap)?;
    let mut dump = dump_maps.map(MapDump::create).transpose()?;
    let result = evaluate_range_dumping(
        &model,
        domain,
        first,
        samples,
        snap,
        dump.as_mut().map(|d| d as &mut dyn SampleObserver),
        progress,
    )?;
    if let Some(dump) = dump {
        dump.finish()?;
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
    write_pictures(&model, domain, snap, &result, out, overlay_samples)?;
    write_json(&out.join("eval.json"), &result)?;
    Ok(result)
}

/// A batch of motif maps as `(N, C, H, W)`: 2-D maps as they are, 1-D maps `(N, C, L)` as
/// `(N, C, 1, L)` (how the pictures and the map dump draw a signal).
pub(crate) fn as_4d(map: &ArrayD<f32>) -> Result<ArrayView4<'_, f32>> {
    let bad = |e: ndarray::ShapeError| Error::Run(format!("motif map is neither 1-D nor 2-D: {e}"));
    if map.ndim() == 3 {
        Ok(map
            .view()
            .into_dimensionality::<Ix3>()
            .map_err(bad)?
            .insert_axis(Axis(2)))
    } else {
        map.view().into_dimensionality::<Ix4>().map_err(bad)
    }
}

/// `motifs.png` (motif maps over the first `n` test inputs, markers coloured by the class
/// their channel is assigned to, the true and predicted sequences under each) and
/// `confusion.png` (the labelled confusion matrix); see [`crate::pictures`].
fn write_pictures(
    model: &SparlingModel,
    domain: &dyn Domain,
    snap: &ModelSnapshot,
    result: &EvalResult,
    out: &Path,
    n: usize,
) -> Result<()> {
    let seed = DataSeeds::for_run(snap.seed).test;
    let indices: Vec<u64> = (0..n as u64).collect();
    let samples = domain.batch(seed, &indices);
    let batch = domain.batch_arrays(seed, &indices);
    let (predicted, map) = model.predict(&sparling_tensor::Tensor::new(batch.inputs))?;
    let magnitudes = map.data().mapv(f32::abs);
    let maps = as_4d(&magnitudes)?;
    let panels: Vec<MotifPanel> = samples
        .iter()
        .zip(&predicted)
        .enumerate()
        .map(|(i, (sample, predicted))| MotifPanel {
            sample,
            map: maps.index_axis(ndarray::Axis(0), i),
            predicted,
        })
        .collect();
    let title = format!(
        "Motif maps at density {:.3e}, test samples 0-{}",
        snap.density,
        n.saturating_sub(1)
    );
    let motifs = motif_figure(
        &panels,
        &result.assignment,
        domain.vocab(),
        &domain.class_names(),
        &title,
    )?;
    write_png(&out.join("motifs.png"), &motifs)?;
    write_confusion_png(&out.join("confusion.png"), &result.confusion, snap.density)
}

/// Writes the labelled confusion matrix of a model at `density` (see
/// [`crate::pictures::confusion_figure`]).
pub fn write_confusion_png(path: &Path, confusion: &Confusion, density: f64) -> Result<()> {
    let title = format!("Motif confusion at density {density:.3e} (framed: the assignment)");
    write_png(path, &confusion_figure(confusion, &title)?)
}

/// Writes `value` to `path` as pretty-printed JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Run(format!("encoding {}: {e}", path.display())))?;
    write_atomic(path, json.as_bytes())
}

/// Writes `canvas` to `path` as a PNG, atomically.
pub fn write_png(path: &Path, canvas: &sparling_plot::Canvas) -> Result<()> {
    let png = canvas
        .to_png_bytes()
        .map_err(|e| Error::Run(format!("encoding {}: {e}", path.display())))?;
    write_atomic(path, &png)
}

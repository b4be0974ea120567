//! The quantities of the paper's theorem at every rung of a run: the motif error
//! `E_m = 1 - E[u] / E[max(#pred, #true)]` ([`sparling_metrics::MotifError`]) against the
//! end-to-end error, the ratio `E_m / E2EE` at the operating density (the theorem bounds it
//! by a constant `k`), and which of the theorem's assumptions the domain meets.
//!
//! Every rung snapshot is scored on the same test samples `0..N`. The channel -> class
//! permutation `E_m` uses is the Hungarian assignment computed on a calibration slice of the
//! test stream, samples `N..N + M`, so nothing is chosen on the reported samples. FPE, FNE and
//! CE are `sparling eval`'s (CE with its own optimal assignment on the scored samples).
//!
//! The assumptions are checked on the domain's samples, not taken from the paper:
//! * non-overlapping cells: whether any two true footprints of a sample overlap;
//! * patch independence: whether motif classes behave as independent draws, judged by how
//!   many samples repeat a class against how many would if classes were independent and
//!   uniform;
//! * alpha-necessity: alpha estimated by simulation ([`super::alpha`]), where the domain
//!   exposes its output rule.

use std::path::Path;

use ndarray::{ArrayView3, Axis};
use serde::{Deserialize, Serialize};
use sparling_domains::{Domain, Footprint, Motif, TokenId};
use sparling_metrics::MotifError;
use sparling_nn::checkpoint;

use super::alpha::{Proportion, estimate_alpha};
use crate::data::DataSeeds;
use crate::error::{Error, Result};
use crate::eval::{
    EvalProgress, OperatingPoint, SampleObserver, evaluate_range_dumping, require_samples,
    to_metric_motif, write_png,
};
use crate::model::SparlingModel;
use crate::state::{MODEL_KIND, ModelSnapshot, RunDir, load_train_state, write_atomic};

/// Options of [`analyze_theorem`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TheoremOptions {
    /// Test samples scored at every rung (indices `0..samples`).
    pub samples: usize,
    /// Test samples of the calibration slice the permutation is chosen on (indices
    /// `samples..samples + calibration`).
    pub calibration: usize,
}

impl Default for TheoremOptions {
    fn default() -> Self {
        TheoremOptions {
            samples: 1000,
            calibration: 1000,
        }
    }
}

/// The theorem's quantities at one rung.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TheoremRung {
    /// The rung.
    pub rung: u32,
    /// Its density.
    pub density: f64,
    /// Whether it lies below the domain's minimum density.
    pub below_min_density: bool,
    /// The motif error `E_m`.
    pub motif_error: f64,
    /// The end-to-end error.
    pub e2ee: f64,
    /// False-positive error.
    pub fpe: f64,
    /// False-negative error.
    pub fne: f64,
    /// Confusion error.
    pub ce: f64,
    /// `E[u]`: true motifs covered by the right channel alone, per sample.
    pub mean_covered: f64,
    /// `E[max(#pred, #true)]`.
    pub mean_larger: f64,
    /// `E[#pred]`: nonzero activations per sample.
    pub mean_predicted: f64,
    /// `E[#true]`: true motifs per sample.
    pub mean_motifs: f64,
    /// The permutation `E_m` used (channel -> class), from the calibration slice.
    pub assignment: Vec<Option<usize>>,
}

/// One assumption of the theorem and what the domain's samples say about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assumption {
    /// Whether the domain meets it (`None`: the evidence does not decide).
    pub holds: Option<bool>,
    /// The evidence, in words, with the numbers it rests on.
    pub evidence: String,
}

/// The theorem's assumptions, checked on the domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assumptions {
    /// No two motifs' footprints overlap.
    pub non_overlapping_cells: Assumption,
    /// The motifs of different cells are independent.
    pub patch_independence: Assumption,
    /// Changing one motif changes the output with probability at least alpha > 0.
    pub alpha_necessity: Assumption,
    /// alpha when it could be estimated (one motif's class replaced).
    pub alpha_replace: Option<Proportion>,
    /// alpha's variant with one motif removed.
    pub alpha_remove: Option<Proportion>,
}

/// `E_m / E2EE` at the operating density.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatingRatio {
    /// The operating rung.
    pub rung: u32,
    /// `E_m` there.
    pub motif_error: f64,
    /// E2EE there.
    pub e2ee: f64,
    /// `E_m / E2EE`; `None` when E2EE is 0 (the ratio is undefined).
    pub ratio: Option<f64>,
}

/// What `sparling analyze theorem` writes (`theorem.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TheoremReport {
    /// The run's seed.
    pub seed: u64,
    /// The domain's name.
    pub domain: String,
    /// The domain's minimum density.
    pub min_density: f64,
    /// The operating rung.
    pub operating_rung: u32,
    /// Its density.
    pub operating_density: f64,
    /// Test samples scored at every rung (`0..samples`).
    pub samples: usize,
    /// First index of the calibration slice (`samples`).
    pub calibration_first: u64,
    /// Samples of the calibration slice.
    pub calibration_samples: usize,
    /// Every rung snapshot of the run, in rung order.
    pub rungs: Vec<TheoremRung>,
    /// The ratio at the operating density, when the run has that rung.
    pub operating: Option<OperatingRatio>,
    /// The theorem's assumptions, checked on the domain.
    pub assumptions: Assumptions,
}

/// Feeds each scored sample's map to a [`MotifError`].
struct MotifErrorObserver(MotifError);

impl SampleObserver for MotifErrorObserver {
    fn observe(
        &mut self,
        _index: u64,
        map: ArrayView3<'_, f32>,
        motifs: &[Motif],
        _target: &[TokenId],
        _predicted: &[TokenId],
    ) -> Result<()> {
        let ms: Vec<sparling_metrics::Motif> = motifs.iter().map(to_metric_motif).collect();
        // A 1-D map comes as (C, 1, L) with interval footprints; without motifs both views
        // count the same.
        if motifs
            .iter()
            .any(|m| matches!(m.footprint, Footprint::Interval { .. }))
        {
            self.0.add_1d(map.index_axis(Axis(1), 0), &ms)?;
        } else {
            self.0.add_2d(map, &ms)?;
        }
        Ok(())
    }
}

/// Scores every rung snapshot of the run in `dir` (see the module docs) and writes
/// `theorem.json` and `theorem.png` into `out`; reports each scoring pass to `progress`.
pub fn analyze_theorem(
    dir: &RunDir,
    out: &Path,
    opts: &TheoremOptions,
    progress: &mut dyn EvalProgress,
) -> Result<TheoremReport> {
    for (n, what) in [
        (opts.samples, "the theorem's scored samples"),
        (opts.calibration, "the theorem's calibration slice"),
    ] {
        require_samples(n, what)?;
    }
    let last = load_train_state(&dir.checkpoint())?;
    let config = &last.model.config;
    crate::objective::require_sequence(config, "the theorem analysis")?;
    let domain = config.build_test_domain()?;
    let domain = domain.as_ref();
    let point = OperatingPoint::of(config, domain);
    let rungs = dir.rung_files()?;
    if rungs.is_empty() {
        return Err(Error::Run(format!(
            "{} has no rung snapshots (rungs/*): the theorem's curve needs at least one",
            dir.root().display()
        )));
    }
    let calibration_first = opts.samples as u64;
    let mut rows = Vec::with_capacity(rungs.len());
    for (k, path) in &rungs {
        let snap: ModelSnapshot = checkpoint::load(path, MODEL_KIND)?;
        let model = SparlingModel::from_snapshot(&snap)?;
        let calibration = evaluate_range_dumping(
            &model,
            domain,
            calibration_first,
            opts.calibration,
            &snap,
            None,
            progress,
        )?;
        let mut observer = MotifErrorObserver(MotifError::new(calibration.assignment.clone()));
        let scored = evaluate_range_dumping(
            &model,
            domain,
            0,
            opts.samples,
            &snap,
            Some(&mut observer),
            progress,
        )?;
        let e = &observer.0;
        rows.push(TheoremRung {
            rung: *k,
            density: snap.density,
            below_min_density: *k > point.rung,
            motif_error: e.value()?,
            e2ee: scored.e2ee,
            fpe: scored.fpe,
            fne: scored.fne,
            ce: scored.ce,
            mean_covered: e.mean_covered(),
            mean_larger: e.mean_larger(),
            mean_predicted: e.mean_predicted(),
            mean_motifs: e.mean_motifs(),
            assignment: calibration.assignment,
        });
    }
    let operating = rows
        .iter()
        .find(|r| r.rung == point.rung)
        .map(|r| OperatingRatio {
            rung: r.rung,
            motif_error: r.motif_error,
            e2ee: r.e2ee,
            ratio: (r.e2ee > 0.0).then(|| r.motif_error / r.e2ee),
        });
    let test_seed = DataSeeds::for_run(last.model.seed).test;
    let report = TheoremReport {
        seed: last.model.seed,
        domain: domain.name().to_string(),
        min_density: point.min_density,
        operating_rung: point.rung,
        operating_density: point.density,
        samples: opts.samples,
        calibration_first,
        calibration_samples: opts.calibration,
        rungs: rows,
        operating,
        assumptions: assumptions(config, domain, test_seed, opts.samples as u64)?,
    };
    std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::Run(e.to_string()))?;
    write_atomic(&out.join("theorem.json"), json.as_bytes())?;
    write_png(&out.join("theorem.png"), &theorem_figure(&report))?;
    Ok(report)
}

/// Whether two footprints share a position.
fn overlap(a: &Footprint, b: &Footprint) -> bool {
    let meet = |x: [usize; 2], y: [usize; 2]| x[0] < y[1] && y[0] < x[1];
    match (a, b) {
        (Footprint::Rect { rows: r1, cols: c1 }, Footprint::Rect { rows: r2, cols: c2 }) => {
            meet(*r1, *r2) && meet(*c1, *c2)
        }
        (Footprint::Interval { span: s1 }, Footprint::Interval { span: s2 }) => meet(*s1, *s2),
        _ => false,
    }
}

/// The probability that `n` independent uniform draws from `classes` classes repeat one.
fn repeat_probability(n: usize, classes: usize) -> f64 {
    let distinct: f64 = (0..n)
        .map(|i| classes.saturating_sub(i) as f64 / classes as f64)
        .product();
    1.0 - distinct
}

/// The theorem's assumptions, checked on test samples `0..samples` of the domain.
fn assumptions(
    config: &crate::config::TrainConfig,
    domain: &dyn Domain,
    test_seed: u64,
    samples: u64,
) -> Result<Assumptions> {
    let classes = domain.num_classes();
    let (mut overlapping, mut repeated, mut expected) = (0u64, 0u64, 0.0f64);
    for i in 0..samples {
        let motifs = domain.sample(test_seed, i).motifs;
        let overlaps = motifs.iter().enumerate().any(|(j, a)| {
            motifs[j + 1..]
                .iter()
                .any(|b| overlap(&a.footprint, &b.footprint))
        });
        overlapping += u64::from(overlaps);
        let mut seen: Vec<usize> = motifs.iter().map(|m| m.class).collect();
        seen.sort_unstable();
        seen.dedup();
        repeated += u64::from(seen.len() < motifs.len());
        expected += repeat_probability(motifs.len(), classes);
    }
    let non_overlapping_cells = Assumption {
        holds: Some(overlapping == 0),
        evidence: format!(
            "{overlapping} of {samples} test samples have two true footprints that overlap"
        ),
    };
    // Zero repeats where independent uniform classes would give at least 5 (Poisson: under
    // 1% likely) is decisive; anything else does not contradict independence.
    let patch_independence = Assumption {
        holds: if repeated == 0 && expected >= 5.0 {
            Some(false)
        } else {
            None
        },
        evidence: format!(
            "{repeated} of {samples} test samples repeat a motif class; independent uniform \
             classes ({classes}) would repeat one in {expected:.1} of them (classes only: \
             the positions' dependence is not tested)"
        ),
    };
    let (alpha_necessity, alpha_replace, alpha_remove) =
        match estimate_alpha(config, test_seed, samples) {
            Ok(a) => (
                Assumption {
                    holds: Some(a.replace.lower > 0.0 && a.remove.lower > 0.0),
                    evidence: format!(
                        "one motif's class replaced changes the output in {} of {} samples \
                         (95% interval {:.4}-{:.4}); one motif removed in {} of {}",
                        a.replace.changed,
                        a.replace.trials,
                        a.replace.lower,
                        a.replace.upper,
                        a.remove.changed,
                        a.remove.trials
                    ),
                },
                Some(a.replace),
                Some(a.remove),
            ),
            Err(e) => (
                Assumption {
                    holds: None,
                    evidence: format!("alpha not estimated: {e}"),
                },
                None,
                None,
            ),
        };
    Ok(Assumptions {
        non_overlapping_cells,
        patch_independence,
        alpha_necessity,
        alpha_replace,
        alpha_remove,
    })
}

/// `E_m` against E2EE (both in %, log-log, zeros drawn at 0.01%), one point per rung, the
/// operating rung and the rungs below the minimum density marked.
fn theorem_figure(r: &TheoremReport) -> sparling_plot::Canvas {
    use sparling_plot::{LineChart, Marker, Scale, Series};
    const FLOOR: f64 = 1e-2;
    let pt = |x: &TheoremRung| {
        (
            (100.0 * x.e2ee).max(FLOOR),
            (100.0 * x.motif_error).max(FLOOR),
        )
    };
    let mut chart = LineChart::new(format!(
        "Motif error E_m vs end-to-end error per rung ({} seed {})",
        r.domain, r.seed
    ))
    .font_scale(2)
    .x_label("end-to-end error (%, log)")
    .y_label("motif error E_m (%, log)")
    .x_scale(Scale::Log10)
    .y_scale(Scale::Log10)
    .series(
        Series::new("rungs (density falling)", r.rungs.iter().map(pt))
            .color(sparling_plot::palette(0))
            .marker(Marker::Circle)
            .thickness(2),
    );
    let below: Vec<(f64, f64)> = r
        .rungs
        .iter()
        .filter(|x| x.below_min_density)
        .map(pt)
        .collect();
    if !below.is_empty() {
        chart = chart.series(
            Series::new("below the minimum density", below)
                .color(sparling_plot::palette(1))
                .marker(Marker::Cross),
        );
    }
    if let Some(op) = r.rungs.iter().find(|x| x.rung == r.operating_rung) {
        chart = chart.series(
            Series::new(
                format!("operating rung {} ({:.2e})", op.rung, op.density),
                [pt(op)],
            )
            .color(sparling_plot::palette(2))
            .marker(Marker::Diamond),
        );
    }
    chart.render(1200, 800)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprints_overlap_only_when_they_share_a_position() {
        let r = |r0, r1, c0, c1| Footprint::Rect {
            rows: [r0, r1],
            cols: [c0, c1],
        };
        assert!(overlap(&r(0, 3, 0, 3), &r(2, 5, 2, 5)));
        assert!(
            !overlap(&r(0, 3, 0, 3), &r(3, 5, 0, 3)),
            "half-open: touching"
        );
        assert!(!overlap(&r(0, 3, 0, 3), &r(0, 3, 3, 6)));
        let s = |a, b| Footprint::Interval { span: [a, b] };
        assert!(overlap(&s(0, 4), &s(3, 6)) && !overlap(&s(0, 3), &s(3, 6)));
    }

    #[test]
    fn repeat_probability_known_values() {
        assert_eq!(repeat_probability(1, 10), 0.0);
        assert!((repeat_probability(2, 10) - 0.1).abs() < 1e-12);
        assert!((repeat_probability(3, 10) - (1.0 - 0.9 * 0.8)).abs() < 1e-12);
        assert_eq!(repeat_probability(11, 10), 1.0);
    }
}

//! Direct evaluation (the paper's section on the motifs as a classifier): g and the
//! BatchNorm applied to single-motif inputs (for DigitCircle, SingleDigit: one centred digit
//! on a 32 x 32 image with the run's noise and stamps), each channel's spatial maximum of
//! `z - t` (no ReLU), the argmax channel (ties: the lowest index) as the prediction, and each
//! channel mapped to its majority class. The map is fitted on a calibration slice of the
//! single-motif stream (samples `N..2N`) disjoint from the scored samples `0..N`, so nothing
//! is chosen on the samples reported. The paper: 1.24% error on DigitCircle.

use std::path::Path;

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};
use sparling_domains::{Domain, DomainSpec, SingleDigitConfig};
use sparling_metrics::confusion::Confusion;
use sparling_plot::{Canvas, Heatmap};
use sparling_tensor::Tensor;

use crate::data::{DataSeeds, EVAL_CHUNK};
use crate::error::{Error, Result};
use crate::eval::{EvalProgress, operating_point, require_samples, write_json, write_png};
use crate::model::SparlingModel;
use crate::state::{ModelSnapshot, RunDir};

/// Scored single-motif samples by default (the paper's 10,000).
pub const DEFAULT_SAMPLES: usize = 10_000;

/// The side of SingleDigit images for a DigitCircle model (the paper's 32).
pub const SINGLE_DIGIT_SIZE: usize = 32;

/// The error of one true class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassError {
    /// The class id.
    pub class: usize,
    /// Its symbol.
    pub symbol: String,
    /// Scored samples of this class.
    pub samples: u64,
    /// Those predicted as another class (or by a channel mapped to no class).
    pub errors: u64,
    /// `errors / samples`; `None` when no scored sample has this class.
    pub error: Option<f64>,
}

/// The outcome of a direct evaluation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DirectResult {
    /// The single-motif domain the channels were scored on.
    pub domain: String,
    /// The density of the model evaluated (the run's operating point).
    pub density: f64,
    /// Its rung on the annealing ladder, if any.
    pub rung: Option<u32>,
    /// Scored samples: indices `0..samples` of the single-motif test stream.
    pub samples: usize,
    /// First index of the calibration slice the channel map was fitted on.
    pub calibration_first: u64,
    /// Calibration samples.
    pub calibration_samples: usize,
    /// 1 - accuracy on the scored samples.
    pub error: f64,
    /// The error of each true class.
    pub per_class: Vec<ClassError>,
    /// Each channel's majority class on the calibration slice (`None`: no calibration sample
    /// was predicted by that channel).
    pub channel_class: Vec<Option<usize>>,
    /// The channels no calibration sample maps to.
    pub unmapped_channels: Vec<usize>,
    /// The classes no channel is mapped to (never predicted).
    pub unclaimed_classes: Vec<usize>,
    /// Counts `[predicted][true]`: rows are the predicted classes, plus a last row for the
    /// samples whose argmax channel is mapped to no class; columns are the true classes.
    pub confusion: Vec<Vec<u64>>,
}

/// The single-motif counterpart of the domain `spec`: SingleDigit (32 x 32, the run's noise
/// settings and stamps) for DigitCircle; a single-motif domain is its own. Formulas and
/// spoken digits have none yet: an error naming the domain.
pub fn single_motif_spec(spec: &DomainSpec) -> Result<DomainSpec> {
    match spec {
        DomainSpec::DigitCircle(c) => Ok(DomainSpec::SingleDigit(SingleDigitConfig {
            size: SINGLE_DIGIT_SIZE,
            pre_noise: c.pre_noise,
            post_noise: c.post_noise,
            stamps: c.stamps.clone(),
        })),
        DomainSpec::SingleDigit(_) | DomainSpec::SingleDigitColumns(_) => Ok(spec.clone()),
        DomainSpec::Formula(_) | DomainSpec::SpokenDigits(_) => Err(Error::Run(format!(
            "direct evaluation needs single-motif inputs of the domain `{}`, and it has no \
             single-motif counterpart yet (DigitCircle has SingleDigit)",
            spec.name()
        ))),
    }
}

/// [`single_motif_spec`]'s generator.
pub fn single_motif_domain(spec: &DomainSpec) -> Result<Box<dyn Domain>> {
    Ok(single_motif_spec(spec)?.build()?)
}

/// Each sample's per-channel spatial maximum of a map `(N, C, ..)`: `[sample][channel]`. A
/// non-finite value is an error (an argmax over it would mean nothing).
pub fn channel_maxima(map: &ArrayD<f32>) -> Result<Vec<Vec<f32>>> {
    if map.ndim() < 3 {
        return Err(Error::Run(format!(
            "a motif map has a sample, a channel and a spatial axis; got shape {:?}",
            map.shape()
        )));
    }
    map.outer_iter()
        .map(|sample| {
            sample
                .outer_iter()
                .map(|channel| {
                    let mut best = f32::NEG_INFINITY;
                    for &v in channel.iter() {
                        if !v.is_finite() {
                            return Err(Error::Run(format!(
                                "the shifted motif map holds a non-finite value ({v})"
                            )));
                        }
                        best = best.max(v);
                    }
                    Ok(best)
                })
                .collect()
        })
        .collect()
}

/// The channel with the largest value (ties: the lowest index); `None` for no channel.
pub fn argmax_channel(maxima: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (c, &v) in maxima.iter().enumerate() {
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((c, v));
        }
    }
    best.map(|b| b.0)
}

/// Each channel's majority class among the samples it predicts (ties: the lowest class;
/// `None`: it predicts none), from `(channel, true class)` pairs.
pub fn majority_map(
    pairs: &[(usize, usize)],
    channels: usize,
    classes: usize,
) -> Result<Vec<Option<usize>>> {
    let mut table = Confusion::new(channels, classes);
    for &(channel, class) in pairs {
        table.record(Some(channel), Some(class), 1)?;
    }
    Ok(table.many_to_one_assignment())
}

/// The scores of `(channel, true class)` predictions under the channel map `map`: the
/// error, the per-class errors (symbols from `symbols`) and the `[predicted][true]` counts
/// (a last row for channels mapped to no class).
pub fn score(
    pairs: &[(usize, usize)],
    map: &[Option<usize>],
    symbols: &[String],
) -> Result<(f64, Vec<ClassError>, Vec<Vec<u64>>)> {
    let classes = symbols.len();
    require_samples(pairs.len(), "the direct evaluation")?;
    let mut confusion = vec![vec![0u64; classes]; classes + 1];
    for &(channel, class) in pairs {
        let mapped = map.get(channel).ok_or_else(|| {
            Error::Run(format!(
                "channel {channel} is outside the map of {} channels",
                map.len()
            ))
        })?;
        if class >= classes {
            return Err(Error::Run(format!(
                "class {class} is outside the {classes} classes"
            )));
        }
        confusion[mapped.unwrap_or(classes)][class] += 1;
    }
    let correct: u64 = (0..classes).map(|k| confusion[k][k]).sum();
    let per_class = (0..classes)
        .map(|k| {
            let samples: u64 = confusion.iter().map(|row| row[k]).sum();
            let errors = samples - confusion[k][k];
            ClassError {
                class: k,
                symbol: symbols[k].clone(),
                samples,
                errors,
                error: (samples > 0).then(|| errors as f64 / samples as f64),
            }
        })
        .collect();
    let error = 1.0 - correct as f64 / pairs.len() as f64;
    Ok((error, per_class, confusion))
}

/// The `(argmax channel, true class)` of the single-motif samples `first..first + n` of
/// stream `seed`.
fn predictions(
    model: &SparlingModel,
    domain: &dyn Domain,
    seed: u64,
    first: u64,
    n: usize,
    progress: &mut dyn EvalProgress,
) -> Result<Vec<(usize, usize)>> {
    let mut pairs = Vec::with_capacity(n);
    let end = first + n as u64;
    for start in (first..end).step_by(EVAL_CHUNK) {
        let idx: Vec<u64> = (start..end.min(start + EVAL_CHUNK as u64)).collect();
        let batch = domain.batch_arrays(seed, &idx);
        let shifted = model.shifted_motifs(&Tensor::new(batch.inputs))?.to_array();
        for (maxima, tokens) in channel_maxima(&shifted)?.iter().zip(&batch.tokens) {
            let [class] = tokens.as_slice() else {
                return Err(Error::Run(format!(
                    "{}: a single-motif sample has one output symbol, not {}",
                    domain.name(),
                    tokens.len()
                )));
            };
            let channel = argmax_channel(maxima)
                .ok_or_else(|| Error::Run("the motif map has no channel".into()))?;
            pairs.push((channel, *class));
        }
        progress.scored(idx.len() as u64);
    }
    Ok(pairs)
}

/// Direct evaluation of the model of `snap` on single-motif samples `0..samples` of the
/// test stream, its channel map fitted on samples `samples..2 samples`.
pub fn direct_evaluation(
    snap: &ModelSnapshot,
    samples: usize,
    progress: &mut dyn EvalProgress,
) -> Result<DirectResult> {
    require_samples(samples, "the direct evaluation")?;
    let domain = single_motif_domain(&snap.config.domain)?;
    let domain = domain.as_ref();
    let model = SparlingModel::from_snapshot(snap)?;
    let channels = model.config().motif_channels;
    let classes = domain.num_classes();
    let seed = DataSeeds::for_run(snap.seed).test;
    let calibration_first = samples as u64;
    let label = format!("density {:.3e}, direct evaluation", snap.density);
    progress.stage(&format!("{label} (calibration)"), samples as u64);
    let calibration = predictions(&model, domain, seed, calibration_first, samples, progress)?;
    let map = majority_map(&calibration, channels, classes)?;
    progress.stage(&label, samples as u64);
    let scored = predictions(&model, domain, seed, 0, samples, progress)?;
    let symbols: Vec<String> = (0..classes)
        .map(|k| domain.vocab().symbol(k).map(str::to_string))
        .collect::<std::result::Result<_, _>>()?;
    let (error, per_class, confusion) = score(&scored, &map, &symbols)?;
    Ok(DirectResult {
        domain: domain.name().to_string(),
        density: snap.density,
        rung: snap.rung,
        samples,
        calibration_first,
        calibration_samples: samples,
        error,
        per_class,
        unmapped_channels: (0..channels).filter(|&c| map[c].is_none()).collect(),
        unclaimed_classes: (0..classes).filter(|k| !map.contains(&Some(*k))).collect(),
        channel_class: map,
        confusion,
    })
}

/// Direct evaluation of the run in `dir` at its operating point; writes `direct.json` and
/// `direct.png` (the confusion of the mapped predictions) into `out`.
pub fn analyze_direct(
    dir: &RunDir,
    out: &Path,
    samples: usize,
    progress: &mut dyn EvalProgress,
) -> Result<DirectResult> {
    let point = operating_point(dir)?;
    let result = direct_evaluation(&point.snapshot, samples, progress)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
    write_json(&out.join("direct.json"), &result)?;
    write_png(&out.join("direct.png"), &figure(&result)?)?;
    Ok(result)
}

/// The confusion of the mapped predictions as a heatmap, the diagonal framed.
fn figure(result: &DirectResult) -> Result<Canvas> {
    let classes = result.per_class.len();
    let mut rows = result.confusion.clone();
    let mut labels: Vec<String> = result.per_class.iter().map(|c| c.symbol.clone()).collect();
    if rows.last().is_some_and(|r| r.iter().all(|&n| n == 0)) {
        rows.pop();
    } else {
        labels.push("no class".into());
    }
    let cols: Vec<String> = result.per_class.iter().map(|c| c.symbol.clone()).collect();
    let title = format!(
        "Direct evaluation at density {:.3e}: error {:.2}% on {} single motifs",
        result.density,
        100.0 * result.error,
        result.samples
    );
    let map = Heatmap::from_counts(title, &rows)
        .and_then(|h| h.row_labels(labels))
        .and_then(|h| h.col_labels(cols))
        .map_err(|e| Error::Run(format!("drawing the direct evaluation: {e}")))?
        .x_label("true class")
        .y_label("predicted class (argmax channel's majority class)")
        .highlight((0..classes).map(|k| (k, k)));
    Ok(map.render())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{Profile, TrainConfig};
    use crate::state::TRAIN_KIND;
    use crate::trainer::Trainer;

    /// A run directory holding the untrained quick-profile model, on a 56 x 56 DigitCircle,
    /// at its initial density (for the analyses' end-to-end tests).
    pub(crate) fn tiny_run(root: &Path) -> RunDir {
        let mut config = TrainConfig::preset(Profile::Quick);
        let d = config.digit_circle_mut().unwrap();
        (d.size, d.radius_min, d.radius_max) = (56, 8, 10);
        config.validation_samples = 2;
        let dir = RunDir::new(root.join("run"));
        let trainer = Trainer::open(config, 0, dir.clone()).unwrap();
        sparling_nn::checkpoint::save_atomic(dir.checkpoint(), TRAIN_KIND, trainer.state())
            .unwrap();
        dir
    }

    fn symbols(n: usize) -> Vec<String> {
        (0..n).map(|k| k.to_string()).collect()
    }

    #[test]
    fn direct_argmax_takes_the_lowest_of_tied_channels() {
        assert_eq!(argmax_channel(&[0.5, 2.0, 2.0, -1.0]), Some(1));
        assert_eq!(argmax_channel(&[-3.0, -2.0]), Some(1));
        assert_eq!(argmax_channel(&[]), None);
    }

    #[test]
    fn direct_maxima_are_per_sample_and_channel() {
        let map = ArrayD::from_shape_vec(
            vec![2, 2, 1, 3],
            vec![
                -1.0, -0.5, -2.0, 3.0, 0.0, 1.0, 0.0, 0.0, 0.0, -4.0, -5.0, -6.0,
            ],
        )
        .unwrap();
        assert_eq!(
            channel_maxima(&map).unwrap(),
            vec![vec![-0.5, 3.0], vec![0.0, -4.0]]
        );
        let mut bad = map.clone();
        bad[[1, 0, 0, 2]] = f32::NAN;
        assert!(
            channel_maxima(&bad)
                .unwrap_err()
                .to_string()
                .contains("non-finite")
        );
    }

    #[test]
    fn direct_a_swapped_channel_gives_its_classes_error_with_the_held_out_map() {
        // Calibration: channel c fires on class c. Scored: channels 0 and 1 swapped, 10
        // samples per class. With the calibration map, classes 0 and 1 are all wrong: 20%.
        let calibration: Vec<(usize, usize)> = (0..10).map(|c| (c, c)).collect();
        let map = majority_map(&calibration, 10, 10).unwrap();
        assert_eq!(map, (0..10).map(Some).collect::<Vec<_>>());
        let swap = |c: usize| match c {
            0 => 1,
            1 => 0,
            c => c,
        };
        let scored: Vec<(usize, usize)> = (0..100).map(|i| (swap(i % 10), i % 10)).collect();
        let (error, per_class, confusion) = score(&scored, &map, &symbols(10)).unwrap();
        assert!((error - 0.2).abs() < 1e-12, "{error}");
        assert_eq!(per_class[0].error, Some(1.0));
        assert_eq!(per_class[1].errors, 10);
        assert_eq!(per_class[2].error, Some(0.0));
        assert_eq!(confusion[1][0], 10, "class 0 read as 1");
        // A map fitted on the scored samples themselves would hide the swap.
        let own = majority_map(&scored, 10, 10).unwrap();
        assert_eq!(score(&scored, &own, &symbols(10)).unwrap().0, 0.0);
    }

    #[test]
    fn direct_majority_ties_and_unmapped_channels() {
        // Channel 2 sees classes 3 and 1 once each (tie: the lower class), channel 0 none.
        let pairs = [(2, 3), (2, 1), (1, 0), (1, 0), (1, 4)];
        let map = majority_map(&pairs, 3, 5).unwrap();
        assert_eq!(map, vec![None, Some(0), Some(1)]);
        // A sample predicted by the unmapped channel is an error of its class.
        let (error, per_class, confusion) = score(&[(0, 2), (1, 0)], &map, &symbols(5)).unwrap();
        assert_eq!(error, 0.5);
        assert_eq!(per_class[2].error, Some(1.0));
        assert_eq!(per_class[3].error, None, "no sample of class 3");
        assert_eq!(confusion[5][2], 1, "the last row: mapped to no class");
        assert!(score(&[], &map, &symbols(5)).is_err());
        assert!(score(&[(7, 0)], &map, &symbols(5)).is_err());
    }

    #[test]
    fn direct_analysis_of_a_run_writes_its_json_and_figure() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tiny_run(tmp.path());
        let out = tmp.path().join("analysis");
        let r = analyze_direct(&dir, &out, 12, &mut ()).unwrap();
        assert_eq!((r.samples, r.calibration_first), (12, 12));
        assert_eq!(r.channel_class.len(), 10);
        assert_eq!(r.per_class.iter().map(|c| c.samples).sum::<u64>(), 12);
        assert!((0.0..=1.0).contains(&r.error));
        let text = std::fs::read_to_string(out.join("direct.json")).unwrap();
        assert!(out.join("direct.png").exists());
        // Same run, same bits.
        analyze_direct(&dir, &out, 12, &mut ()).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("direct.json")).unwrap(),
            text
        );
    }

    #[test]
    fn direct_counterpart_domains() {
        let spec = TrainConfig::preset(Profile::Quick).domain;
        let single = single_motif_domain(&spec).unwrap();
        assert_eq!(single.name(), "single-digit");
        assert_eq!(single.input_shape(), vec![1, 32, 32]);
        for name in ["formula", "spoken-digits"] {
            let spec = DomainSpec::from_name(name).unwrap();
            let e = single_motif_domain(&spec).err().unwrap().to_string();
            assert!(e.contains(&format!("`{name}`")), "{e}");
        }
    }
}

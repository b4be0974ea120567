//! Perturbation consistency (the paper's test that h reads the activations as symbols): on
//! test samples the model decodes correctly, pick a symbol s of the output and a replacement
//! s' absent from it, move every locally maximal activation (Chebyshev radius 5) of the
//! channel(s) mapped to s into the channel mapped to s' at the same position, run h alone on
//! the edited map, and count a success when the output is the original with s replaced by s',
//! put in the domain's order ([`Domain::canonical_output`]: DigitCircle re-reads its circle
//! from the smallest digit). The channel -> class assignment is the optimal one-to-one
//! assignment on a calibration slice of the test stream (from sample 1,000,000) disjoint from
//! the samples perturbed (scanned from 0). The paper: 99.3% on DigitCircle.

use std::path::Path;

use ndarray::{Array3, ArrayView2, Axis, s};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sparling_domains::{Domain, TokenId, sample_rng};
use sparling_plot::{Canvas, Heatmap};
use sparling_tensor::Tensor;

use crate::data::{DataSeeds, EVAL_CHUNK};
use crate::error::{Error, Result};
use crate::eval::{
    EvalProgress, as_4d, evaluate_range_dumping, operating_point, require_samples, write_json,
    write_png,
};
use crate::model::SparlingModel;
use crate::state::{ModelSnapshot, RunDir};

/// Correctly decoded test samples perturbed by default (the paper's 1,000).
pub const DEFAULT_SAMPLES: usize = 1_000;

/// Calibration samples for the channel -> class assignment by default.
pub const DEFAULT_CALIBRATION_SAMPLES: usize = 1_000;

/// First test sample of the calibration slice; the scan for correct samples stops before it.
pub const CALIBRATION_FIRST: u64 = 1_000_000;

/// The Chebyshev radius within which a moved activation is maximal (the paper's 5).
pub const RADIUS: usize = 5;

/// Test samples scanned per correct sample wanted, at most (a model that decodes few samples
/// correctly ends the scan there, with fewer samples perturbed).
pub const SCAN_FACTOR: u64 = 10;

/// The stream whose per-sample generators pick the substitutions ([`sample_rng`] of this
/// seed and the sample's index).
pub const SUBSTITUTION_SEED: u64 = 0x5045_5254_5552_4221;

/// Wrong outputs kept as examples in the result.
const EXAMPLES: usize = 20;

/// Options of [`perturbation`].
#[derive(Clone, Debug)]
pub struct PerturbOptions {
    /// Correctly decoded test samples to perturb.
    pub samples: usize,
    /// Calibration samples for the channel -> class assignment.
    pub calibration_samples: usize,
}

impl Default for PerturbOptions {
    fn default() -> Self {
        PerturbOptions {
            samples: DEFAULT_SAMPLES,
            calibration_samples: DEFAULT_CALIBRATION_SAMPLES,
        }
    }
}

/// Why a perturbed sample failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The output is empty, or holds every class (no replacement absent from it).
    NoSubstitution,
    /// No channel is assigned to s.
    NoChannelForSymbol,
    /// No channel is assigned to s'.
    NoChannelForReplacement,
    /// The channel(s) of s have no activation in this sample.
    NoActivation,
    /// h decoded something other than the expected output.
    WrongOutput,
}

/// Failures by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureCounts {
    /// The output is empty or holds every class.
    pub no_substitution: u64,
    /// No channel is assigned to the symbol replaced.
    pub no_channel_for_symbol: u64,
    /// No channel is assigned to the replacement.
    pub no_channel_for_replacement: u64,
    /// The symbol's channel(s) have no activation in the sample.
    pub no_activation: u64,
    /// h decoded something other than the expected output.
    pub wrong_output: u64,
}

impl FailureCounts {
    fn count(&mut self, failure: Failure) {
        *match failure {
            Failure::NoSubstitution => &mut self.no_substitution,
            Failure::NoChannelForSymbol => &mut self.no_channel_for_symbol,
            Failure::NoChannelForReplacement => &mut self.no_channel_for_replacement,
            Failure::NoActivation => &mut self.no_activation,
            Failure::WrongOutput => &mut self.wrong_output,
        } += 1;
    }
}

/// A perturbation h did not follow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrongOutput {
    /// The test sample.
    pub index: u64,
    /// Its (correctly decoded) output.
    pub output: Vec<TokenId>,
    /// The symbol replaced.
    pub symbol: TokenId,
    /// Its replacement.
    pub replacement: TokenId,
    /// The output expected after the perturbation.
    pub expected: Vec<TokenId>,
    /// What h decoded.
    pub decoded: Vec<TokenId>,
}

/// The outcome of a perturbation analysis.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PerturbResult {
    /// The density of the model (the run's operating point).
    pub density: f64,
    /// Its rung on the annealing ladder, if any.
    pub rung: Option<u32>,
    /// The Chebyshev radius of a local maximum.
    pub radius: usize,
    /// First test sample of the calibration slice.
    pub calibration_first: u64,
    /// Calibration samples.
    pub calibration_samples: usize,
    /// The channel -> class assignment used (`None`: unassigned channel).
    pub assignment: Vec<Option<usize>>,
    /// Test samples scanned (from 0) to find the correctly decoded ones.
    pub scanned: u64,
    /// Correctly decoded samples perturbed.
    pub samples: usize,
    /// Perturbations whose output was the expected one.
    pub successes: u64,
    /// `successes / samples`.
    pub success_rate: f64,
    /// Failures by kind (they and the successes add up to `samples`).
    pub failures: FailureCounts,
    /// Activations moved in all.
    pub moved_activations: u64,
    /// Perturbations tried `[s][s']` (where both had a channel and s an activation).
    pub pair_trials: Vec<Vec<u64>>,
    /// Of those, the successes `[s][s']`.
    pub pair_successes: Vec<Vec<u64>>,
    /// The first few wrong outputs.
    pub wrong_outputs: Vec<WrongOutput>,
}

/// The substitution of sample `index` whose output is `output`: s uniform over the output's
/// positions, then s' uniform over the classes `0..classes` absent from the output, both
/// drawn from [`sample_rng`]`(`[`SUBSTITUTION_SEED`]`, index)`; `None` when the output is
/// empty or holds every class.
pub fn pick_substitution(
    output: &[TokenId],
    classes: usize,
    index: u64,
) -> Option<(TokenId, TokenId)> {
    if output.is_empty() {
        return None;
    }
    let mut rng = sample_rng(SUBSTITUTION_SEED, index);
    let s = output[rng.random_range(0..output.len() as u64) as usize];
    let absent: Vec<TokenId> = (0..classes).filter(|k| !output.contains(k)).collect();
    if absent.is_empty() {
        return None;
    }
    Some((s, absent[rng.random_range(0..absent.len() as u64) as usize]))
}

/// The locally maximal activations of one channel's map `(H, W)` (a 1-D map is one row):
/// the positive (for a Sparse map: nonzero) positions whose value no position within
/// Chebyshev distance `radius` exceeds (tied neighbours are all maxima; the window stops at
/// the map's edges), row-major.
pub fn local_maxima(map: ArrayView2<f32>, radius: usize) -> Vec<[usize; 2]> {
    let (h, w) = map.dim();
    map.indexed_iter()
        .filter(|&((r, c), &v)| {
            v > 0.0 && {
                let rows = r.saturating_sub(radius)..(r + radius + 1).min(h);
                let cols = c.saturating_sub(radius)..(c + radius + 1).min(w);
                map.slice(s![rows, cols]).iter().all(|&u| u <= v)
            }
        })
        .map(|((r, c), _)| [r, c])
        .collect()
}

/// Moves the activations at `positions` of channel `from` of a map `(C, H, W)` to channel
/// `to`: each value is written into `to` at the same position (replacing what was there)
/// and zeroed in `from`.
pub fn move_activations(map: &mut Array3<f32>, from: usize, to: usize, positions: &[[usize; 2]]) {
    for &[r, c] in positions {
        let v = std::mem::replace(&mut map[[from, r, c]], 0.0);
        map[[to, r, c]] = v;
    }
}

/// The output expected once `symbol` is replaced by `replacement`: every occurrence
/// replaced, then put in the domain's order ([`Domain::canonical_output`]).
pub fn expected_output(
    domain: &dyn Domain,
    output: &[TokenId],
    symbol: TokenId,
    replacement: TokenId,
) -> Vec<TokenId> {
    let replaced: Vec<TokenId> = output
        .iter()
        .map(|&t| if t == symbol { replacement } else { t })
        .collect();
    domain.canonical_output(&replaced)
}

/// One sample's map `(C, H, W)` with the local maxima of every channel assigned to `symbol`
/// moved to the (lowest) channel assigned to `replacement`, and the number moved; or why
/// there is nothing to move.
pub fn perturb_map(
    map: &Array3<f32>,
    assignment: &[Option<usize>],
    symbol: TokenId,
    replacement: TokenId,
    radius: usize,
) -> std::result::Result<(Array3<f32>, usize), Failure> {
    let from: Vec<usize> = (0..assignment.len())
        .filter(|&c| assignment[c] == Some(symbol))
        .collect();
    if from.is_empty() {
        return Err(Failure::NoChannelForSymbol);
    }
    let to = assignment
        .iter()
        .position(|&k| k == Some(replacement))
        .ok_or(Failure::NoChannelForReplacement)?;
    let mut edited = map.clone();
    let mut moved = 0;
    for c in from {
        let maxima = local_maxima(map.index_axis(Axis(0), c), radius);
        move_activations(&mut edited, c, to, &maxima);
        moved += maxima.len();
    }
    if moved == 0 {
        return Err(Failure::NoActivation);
    }
    Ok((edited, moved))
}

/// A perturbed sample waiting for h.
struct Pending {
    index: u64,
    output: Vec<TokenId>,
    symbol: TokenId,
    replacement: TokenId,
    expected: Vec<TokenId>,
    map: Array3<f32>,
}

/// The perturbation analysis of the model of `snap` on its domain's test stream.
pub fn perturbation(
    snap: &ModelSnapshot,
    opts: &PerturbOptions,
    progress: &mut dyn EvalProgress,
) -> Result<PerturbResult> {
    require_samples(
        opts.samples.min(opts.calibration_samples),
        "the perturbation analysis",
    )?;
    let domain = snap.config.build_test_domain()?;
    let domain = domain.as_ref();
    let model = SparlingModel::from_snapshot(snap)?;
    let classes = domain.num_classes();
    let calibration = evaluate_range_dumping(
        &model,
        domain,
        CALIBRATION_FIRST,
        opts.calibration_samples,
        snap,
        None,
        progress,
    )?;
    let assignment = calibration.assignment;
    let seed = DataSeeds::for_run(snap.seed).test;
    let limit = (opts.samples as u64)
        .saturating_mul(SCAN_FACTOR)
        .min(CALIBRATION_FIRST);
    progress.stage(
        &format!(
            "density {:.3e}, perturbation (correct samples)",
            snap.density
        ),
        opts.samples as u64,
    );
    let mut r = PerturbResult {
        density: snap.density,
        rung: snap.rung,
        radius: RADIUS,
        calibration_first: CALIBRATION_FIRST,
        calibration_samples: opts.calibration_samples,
        assignment,
        scanned: 0,
        samples: 0,
        successes: 0,
        success_rate: 0.0,
        failures: FailureCounts::default(),
        moved_activations: 0,
        pair_trials: vec![vec![0; classes]; classes],
        pair_successes: vec![vec![0; classes]; classes],
        wrong_outputs: Vec::new(),
    };
    while r.samples < opts.samples && r.scanned < limit {
        let end = (r.scanned + EVAL_CHUNK as u64).min(limit);
        let idx: Vec<u64> = (r.scanned..end).collect();
        r.scanned = end;
        let batch = domain.batch_arrays(seed, &idx);
        let (decoded, map) = model.predict(&Tensor::new(batch.inputs))?;
        let map = map.to_array();
        let maps = as_4d(&map)?;
        let before = r.samples;
        let mut pending = Vec::new();
        for (i, output) in batch.tokens.iter().enumerate() {
            if r.samples == opts.samples {
                break;
            }
            if decoded[i] != *output {
                continue;
            }
            r.samples += 1;
            let Some((symbol, replacement)) = pick_substitution(output, classes, idx[i]) else {
                r.failures.count(Failure::NoSubstitution);
                continue;
            };
            let sample_map = maps.index_axis(Axis(0), i).to_owned();
            match perturb_map(&sample_map, &r.assignment, symbol, replacement, RADIUS) {
                Err(failure) => r.failures.count(failure),
                Ok((edited, moved)) => {
                    r.moved_activations += moved as u64;
                    r.pair_trials[symbol][replacement] += 1;
                    pending.push(Pending {
                        index: idx[i],
                        output: output.clone(),
                        symbol,
                        replacement,
                        expected: expected_output(domain, output, symbol, replacement),
                        map: edited,
                    });
                }
            }
        }
        progress.scored((r.samples - before) as u64);
        if pending.is_empty() {
            continue;
        }
        let views: Vec<_> = pending.iter().map(|p| p.map.view()).collect();
        let stacked = ndarray::stack(Axis(0), &views)
            .map_err(|e| Error::Run(format!("stacking the perturbed maps: {e}")))?;
        let mut shape = map.shape().to_vec();
        shape[0] = pending.len();
        let edited = stacked
            .into_dyn()
            .into_shape_with_order(shape)
            .map_err(|e| Error::Run(format!("reshaping the perturbed maps: {e}")))?;
        let outputs = model.predict_from_map(&Tensor::new(edited));
        for (p, got) in pending.into_iter().zip(outputs) {
            if got == p.expected {
                r.successes += 1;
                r.pair_successes[p.symbol][p.replacement] += 1;
            } else {
                r.failures.count(Failure::WrongOutput);
                if r.wrong_outputs.len() < EXAMPLES {
                    r.wrong_outputs.push(WrongOutput {
                        index: p.index,
                        output: p.output,
                        symbol: p.symbol,
                        replacement: p.replacement,
                        expected: p.expected,
                        decoded: got,
                    });
                }
            }
        }
    }
    if r.samples == 0 {
        return Err(Error::Run(format!(
            "none of the first {} test samples was decoded correctly: nothing to perturb",
            r.scanned
        )));
    }
    r.success_rate = r.successes as f64 / r.samples as f64;
    Ok(r)
}

/// The perturbation analysis of the run in `dir` at its operating point; writes
/// `perturb.json` and `perturb.png` (the success rate of each pair s -> s') into `out`.
pub fn analyze_perturbation(
    dir: &RunDir,
    out: &Path,
    opts: &PerturbOptions,
    progress: &mut dyn EvalProgress,
) -> Result<PerturbResult> {
    let point = operating_point(dir)?;
    crate::objective::require_sequence(&point.snapshot.config, "the perturbation analysis")?;
    let result = perturbation(&point.snapshot, opts, progress)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
    write_json(&out.join("perturb.json"), &result)?;
    let symbols: Vec<String> = {
        let domain = point.snapshot.config.build_domain()?;
        (0..domain.num_classes())
            .map(|k| domain.vocab().symbol(k).map(str::to_string))
            .collect::<std::result::Result<_, _>>()?
    };
    write_png(&out.join("perturb.png"), &figure(&result, &symbols)?)?;
    Ok(result)
}

/// The success rate (%) of each pair s -> s' as a heatmap (grey: never tried).
fn figure(result: &PerturbResult, symbols: &[String]) -> Result<Canvas> {
    let rates: Vec<Vec<f64>> = result
        .pair_trials
        .iter()
        .zip(&result.pair_successes)
        .map(|(tried, won)| {
            tried
                .iter()
                .zip(won)
                .map(|(&t, &w)| {
                    if t == 0 {
                        f64::NAN
                    } else {
                        (100.0 * w as f64 / t as f64).round()
                    }
                })
                .collect()
        })
        .collect();
    let title = format!(
        "Perturbation at density {:.3e}: {:.1}% of {} correct samples follow the move",
        result.density,
        100.0 * result.success_rate,
        result.samples
    );
    let map = Heatmap::new(title, rates)
        .and_then(|h| h.row_labels(symbols.to_vec()))
        .and_then(|h| h.col_labels(symbols.to_vec()))
        .map_err(|e| Error::Run(format!("drawing the perturbation figure: {e}")))?
        .x_label("replacement s' (success %)")
        .y_label("symbol s");
    Ok(map.render())
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, array};
    use sparling_domains::DigitCircle;

    use super::*;

    #[test]
    fn perturb_local_maxima_ties_edges_and_radius() {
        let mut m = Array2::<f32>::zeros((8, 14));
        m[[0, 0]] = 2.0; // at a corner
        m[[0, 3]] = 1.0; // within 5 of the 2.0: not a maximum
        m[[4, 9]] = 3.0; // tied with the next one: both are maxima
        m[[5, 10]] = 3.0;
        m[[7, 13]] = 0.5; // 3 rows and 3 columns from a 3.0: not a maximum
        m[[7, 4]] = -1.0; // not an activation
        assert_eq!(local_maxima(m.view(), 5), vec![[0, 0], [4, 9], [5, 10]]);
        // Radius 0: every positive activation; radius 2 frees the far corner.
        assert_eq!(local_maxima(m.view(), 0).len(), 5);
        assert!(local_maxima(m.view(), 2).contains(&[7, 13]));
        // A 1-D map is one row: 6 positions apart is outside radius 5.
        let row = array![[1.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]];
        assert_eq!(local_maxima(row.view(), 5), vec![[0, 0], [0, 6]]);
        assert_eq!(local_maxima(row.view(), 6), vec![[0, 6]]);
    }

    #[test]
    fn perturb_moves_only_the_maxima_of_the_symbols_channel() {
        // Channels: 0 -> class 2, 1 -> class 5, 2 -> unassigned.
        let assignment = [Some(2), Some(5), None];
        let mut map = Array3::<f32>::zeros((3, 4, 4));
        map[[0, 1, 1]] = 4.0;
        map[[0, 1, 2]] = 1.0; // beside the 4.0: stays
        map[[1, 3, 3]] = 7.0;
        map[[1, 1, 1]] = 0.5; // overwritten by the moved value
        let (edited, moved) = perturb_map(&map, &assignment, 2, 5, RADIUS).unwrap();
        assert_eq!(moved, 1);
        assert_eq!(edited[[0, 1, 1]], 0.0);
        assert_eq!(edited[[1, 1, 1]], 4.0);
        assert_eq!(edited[[0, 1, 2]], 1.0);
        assert_eq!(edited[[1, 3, 3]], 7.0);
        assert_eq!(edited.iter().filter(|&&v| v != 0.0).count(), 3);
        assert_eq!(
            perturb_map(&map, &assignment, 3, 5, RADIUS).unwrap_err(),
            Failure::NoChannelForSymbol
        );
        assert_eq!(
            perturb_map(&map, &assignment, 2, 4, RADIUS).unwrap_err(),
            Failure::NoChannelForReplacement
        );
        let empty = Array3::<f32>::zeros((3, 4, 4));
        assert_eq!(
            perturb_map(&empty, &assignment, 2, 5, RADIUS).unwrap_err(),
            Failure::NoActivation
        );
    }

    #[test]
    fn perturb_expected_output_is_re_canonicalised() {
        let circle = DigitCircle::paper();
        // 1 3 5 with 1 -> 9: the circle now reads from 3.
        assert_eq!(expected_output(&circle, &[1, 3, 5], 1, 9), vec![3, 5, 9]);
        assert_eq!(expected_output(&circle, &[1, 3, 5], 5, 0), vec![0, 1, 3]);
        assert_eq!(expected_output(&circle, &[1, 3, 5], 3, 4), vec![1, 4, 5]);
        // A domain that does not canonicalise keeps the order.
        let single = sparling_domains::SingleDigit::paper();
        assert_eq!(expected_output(&single, &[7], 7, 2), vec![2]);
    }

    #[test]
    fn perturb_substitution_is_seeded_by_the_index_and_absent() {
        let output = [1, 3, 5, 8];
        let mut seen = std::collections::BTreeSet::new();
        for index in 0..200 {
            let (s, r) = pick_substitution(&output, 10, index).unwrap();
            assert!(output.contains(&s) && !output.contains(&r) && r < 10);
            assert_eq!(pick_substitution(&output, 10, index), Some((s, r)));
            seen.insert((s, r));
        }
        assert_eq!(seen.len(), 24, "every (s, s') pair is drawn");
        let all: Vec<usize> = (0..10).collect();
        assert_eq!(pick_substitution(&all, 10, 0), None);
        assert_eq!(pick_substitution(&[], 10, 0), None);
    }

    #[test]
    fn perturb_a_perfect_map_read_exactly_gives_the_expected_output() {
        // A downstream that reads channels exactly: the circle's digits are the classes of
        // the channels with an activation, in order of the activations' angle around the
        // centre; a motif map with one activation per digit, at its stamp's centre.
        let circle = DigitCircle::paper();
        let assignment: Vec<Option<usize>> = (0..10).map(|c| Some(9 - c)).collect();
        let read = |map: &Array3<f32>, centre: [usize; 2]| -> Vec<TokenId> {
            let mut found: Vec<(f64, usize)> = Vec::new();
            for ((c, r, col), &v) in map.indexed_iter() {
                if v != 0.0 {
                    let dy = r as f64 - centre[0] as f64;
                    let dx = col as f64 - centre[1] as f64;
                    found.push((dx.atan2(dy).rem_euclid(std::f64::consts::TAU), c));
                }
            }
            found.sort_by(|a, b| a.0.total_cmp(&b.0));
            let seq: Vec<TokenId> = found.iter().map(|&(_, c)| assignment[c].unwrap()).collect();
            circle.canonical_output(&seq)
        };
        for index in 0..30 {
            let t = circle.trace(4, index);
            let mut map = Array3::<f32>::zeros((10, 100, 100));
            for p in &t.placements {
                let channel = 9 - usize::from(p.digit);
                map[[channel, p.point[0], p.point[1]]] = 1.0 + p.digit as f32;
            }
            assert_eq!(read(&map, t.centre), t.tokens, "the reader is exact");
            let (s, r) = pick_substitution(&t.tokens, 10, index).unwrap();
            let (edited, moved) = perturb_map(&map, &assignment, s, r, RADIUS).unwrap();
            assert_eq!(moved, 1);
            assert_eq!(
                read(&edited, t.centre),
                expected_output(&circle, &t.tokens, s, r)
            );
        }
    }
}

//! Bits per nonzero activation (the paper's binning analysis): each channel's nonzero
//! activations are quantile-binned into 2, 4, 8 and 16 levels, with bins calibrated on 10,000
//! samples of a slice of the test stream (from sample 1,000,000) disjoint from the scored
//! samples `0..N`; every nonzero value of a scored map is replaced by its bin's calibration
//! mean and h alone decodes the binned map. The end-to-end error at each level, beside the
//! unbinned one on the same samples, says how many bits an activation needs. The paper: about
//! 2 points worse with 2 levels, under 0.25 with 8, about 0 with 16.
//!
//! From it, the information bound of the map at density d: S x C x (H_b(d) + eta x d) bits
//! (S positions, C channels, H_b the binary entropy, eta = log2(levels) bits per activation).

use std::path::Path;

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};
use sparling_metrics::edit::E2eAccumulator;
use sparling_plot::{Canvas, LineChart, Marker, ReferenceLine, Series};
use sparling_tensor::{Tensor, no_grad};

use crate::data::{DataSeeds, EVAL_CHUNK};
use crate::error::{Error, Result};
use crate::eval::{EvalProgress, operating_point, require_samples, write_json, write_png};
use crate::model::SparlingModel;
use crate::state::{ModelSnapshot, RunDir};

/// The numbers of levels scored (the paper's).
pub const LEVELS: [usize; 4] = [2, 4, 8, 16];

/// Scored test samples by default.
pub const DEFAULT_SAMPLES: usize = 1_000;

/// Calibration samples by default (the paper's 10,000).
pub const DEFAULT_CALIBRATION_SAMPLES: usize = 10_000;

/// First test sample of the calibration slice.
pub const CALIBRATION_FIRST: u64 = 1_000_000;

/// The most nonzero calibration values kept (about 200 MB): a map this dense is not a
/// sparse map, and binning it would mean nothing.
pub const MAX_CALIBRATION_VALUES: usize = 50_000_000;

/// Options of [`bits_per_activation`].
#[derive(Clone, Debug)]
pub struct BitsOptions {
    /// Scored test samples (`0..samples`).
    pub samples: usize,
    /// Calibration samples.
    pub calibration_samples: usize,
}

impl Default for BitsOptions {
    fn default() -> Self {
        BitsOptions {
            samples: DEFAULT_SAMPLES,
            calibration_samples: DEFAULT_CALIBRATION_SAMPLES,
        }
    }
}

/// Quantile bins of one channel's nonzero activations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelBins {
    /// The lower edges of bins `1..`, strictly increasing (bin 0 holds everything below the
    /// first edge).
    pub edges: Vec<f32>,
    /// Each bin's mean calibration value (`edges.len() + 1` of them).
    pub means: Vec<f32>,
}

impl ChannelBins {
    /// Bins `values` into at most `levels` quantile bins: with the values sorted
    /// (`x_0 <= .. <= x_{n-1}`), the edges are `x_{floor(k n / levels)}` for `k` in
    /// `1..levels`; an edge repeated (ties) or equal to the smallest value is dropped, so that
    /// every bin holds a calibration value, and tied values share a bin (there may be fewer
    /// than `levels` bins). `None` for no values or no levels.
    pub fn calibrate(values: &[f32], levels: usize) -> Option<ChannelBins> {
        if values.is_empty() || levels == 0 {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f32::total_cmp);
        let n = sorted.len();
        let mut edges: Vec<f32> = Vec::with_capacity(levels - 1);
        for k in 1..levels {
            let e = sorted[k * n / levels];
            if e > sorted[0] && edges.last().is_none_or(|&last| e > last) {
                edges.push(e);
            }
        }
        let mut sums = vec![(0.0f64, 0u64); edges.len() + 1];
        for &v in &sorted {
            let b = edges.partition_point(|&e| e <= v);
            sums[b].0 += f64::from(v);
            sums[b].1 += 1;
        }
        let means = sums.iter().map(|&(s, c)| (s / c as f64) as f32).collect();
        Some(ChannelBins { edges, means })
    }

    /// The number of bins.
    pub fn levels(&self) -> usize {
        self.means.len()
    }

    /// The bin of `v`: the number of edges at or below it.
    pub fn bin(&self, v: f32) -> usize {
        self.edges.partition_point(|&e| e <= v)
    }

    /// `v` replaced by its bin's mean.
    pub fn quantise(&self, v: f32) -> f32 {
        self.means[self.bin(v)]
    }
}

/// Replaces every nonzero value of a map `(N, C, ..)` by its channel's bin mean; a value of
/// a channel without bins (no calibration value) stays as it is. Returns how many did.
pub fn quantise_map(map: &mut ArrayD<f32>, bins: &[Option<ChannelBins>]) -> u64 {
    let mut kept = 0;
    for mut sample in map.outer_iter_mut() {
        for (c, mut channel) in sample.outer_iter_mut().enumerate() {
            let b = bins.get(c).and_then(Option::as_ref);
            for v in channel.iter_mut().filter(|v| **v != 0.0) {
                match b {
                    Some(b) => *v = b.quantise(*v),
                    None => kept += 1,
                }
            }
        }
    }
    kept
}

/// The binary entropy `H_b(d)` in bits (0 at `d` = 0 and 1).
pub fn binary_entropy(d: f64) -> f64 {
    let term = |p: f64| if p > 0.0 { -p * p.log2() } else { 0.0 };
    term(d) + term(1.0 - d)
}

/// The information bound of a motif map of `positions` x `channels` entries at density `d`
/// whose nonzero values carry `eta` bits: `S x C x (H_b(d) + eta x d)` bits.
pub fn information_bound(positions: usize, channels: usize, d: f64, eta: f64) -> f64 {
    (positions * channels) as f64 * (binary_entropy(d) + eta * d)
}

/// The scores of one number of levels.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LevelScore {
    /// Levels asked for.
    pub levels: usize,
    /// Bits per activation: `log2(levels)`.
    pub bits: f64,
    /// End-to-end error of the binned maps.
    pub e2ee: f64,
    /// Exact-match accuracy of the binned maps.
    pub exact_match: f64,
    /// Bins each channel got (fewer than `levels` where values tie; 0: no calibration
    /// value).
    pub channel_levels: Vec<usize>,
    /// The information bound of the map at the model's density with `bits` per
    /// activation.
    pub bound_bits: f64,
}

/// The outcome of the binning analysis.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BitsResult {
    /// The density of the model (the run's operating point).
    pub density: f64,
    /// Its rung on the annealing ladder, if any.
    pub rung: Option<u32>,
    /// Scored test samples (`0..samples`).
    pub samples: usize,
    /// First test sample of the calibration slice.
    pub calibration_first: u64,
    /// Calibration samples.
    pub calibration_samples: usize,
    /// Nonzero calibration values of each channel.
    pub calibration_values: Vec<u64>,
    /// Positions S of a map (per channel).
    pub positions: usize,
    /// Channels C.
    pub channels: usize,
    /// Fraction of nonzero entries of the scored maps.
    pub observed_density: f64,
    /// End-to-end error of the unbinned maps on the same samples.
    pub unbinned_e2ee: f64,
    /// Exact-match accuracy of the unbinned maps.
    pub unbinned_exact_match: f64,
    /// Nonzero scored values left as they were (their channel had no calibration value).
    pub unbinned_values: u64,
    /// One entry per number of levels ([`LEVELS`]).
    pub levels: Vec<LevelScore>,
}

/// The motif maps `(N, C, ..)` of test samples `first..first + n`, chunk by chunk, passed to
/// `f` with the chunk's target sequences.
fn for_each_map(
    model: &SparlingModel,
    domain: &dyn sparling_domains::Domain,
    seed: u64,
    (first, n): (u64, usize),
    progress: &mut dyn EvalProgress,
    mut f: impl FnMut(ArrayD<f32>, &[Vec<usize>]) -> Result<()>,
) -> Result<()> {
    let end = first + n as u64;
    for start in (first..end).step_by(EVAL_CHUNK) {
        let idx: Vec<u64> = (start..end.min(start + EVAL_CHUNK as u64)).collect();
        let batch = domain.batch_arrays(seed, &idx);
        let x = Tensor::new(batch.inputs);
        let map = no_grad(|| model.motifs(&x, false))?.map.to_array();
        f(map, &batch.tokens)?;
        progress.scored(idx.len() as u64);
    }
    Ok(())
}

/// The binning analysis of the model of `snap` on its domain's test stream.
pub fn bits_per_activation(
    snap: &ModelSnapshot,
    opts: &BitsOptions,
    progress: &mut dyn EvalProgress,
) -> Result<BitsResult> {
    require_samples(
        opts.samples.min(opts.calibration_samples),
        "the binning analysis",
    )?;
    let domain = snap.config.build_test_domain()?;
    let domain = domain.as_ref();
    let model = SparlingModel::from_snapshot(snap)?;
    let channels = model.config().motif_channels;
    let seed = DataSeeds::for_run(snap.seed).test;
    let label = format!("density {:.3e}, binning", snap.density);

    progress.stage(
        &format!("{label} (calibration)"),
        opts.calibration_samples as u64,
    );
    let mut values: Vec<Vec<f32>> = vec![Vec::new(); channels];
    let mut total = 0usize;
    let calibration = (CALIBRATION_FIRST, opts.calibration_samples);
    for_each_map(&model, domain, seed, calibration, progress, |map, _| {
        for sample in map.outer_iter() {
            for (c, channel) in sample.outer_iter().enumerate() {
                for &v in channel.iter().filter(|v| **v != 0.0) {
                    if !v.is_finite() {
                        return Err(Error::Run(format!(
                            "the motif map holds a non-finite value ({v})"
                        )));
                    }
                    values[c].push(v);
                    total += 1;
                }
            }
        }
        if total > MAX_CALIBRATION_VALUES {
            return Err(Error::Run(format!(
                "the calibration maps hold more than {MAX_CALIBRATION_VALUES} nonzero values \
                 (density {:.3e}): binning is for sparse maps; use fewer calibration samples",
                snap.density
            )));
        }
        Ok(())
    })?;
    let bins: Vec<Vec<Option<ChannelBins>>> = LEVELS
        .iter()
        .map(|&l| {
            values
                .iter()
                .map(|v| ChannelBins::calibrate(v, l))
                .collect()
        })
        .collect();

    progress.stage(&label, opts.samples as u64);
    let mut unbinned = E2eAccumulator::new();
    let mut binned: Vec<E2eAccumulator> = LEVELS.iter().map(|_| E2eAccumulator::new()).collect();
    let (mut nonzero, mut entries, mut kept) = (0u64, 0u64, 0u64);
    for_each_map(
        &model,
        domain,
        seed,
        (0, opts.samples),
        progress,
        |map, targets| {
            nonzero += map.iter().filter(|&&v| v != 0.0).count() as u64;
            entries += map.len() as u64;
            let decoded = model.predict_from_map(&Tensor::new(map.clone()));
            for (y, y_hat) in targets.iter().zip(&decoded) {
                unbinned.add(y, y_hat);
            }
            for (i, (level_bins, acc)) in bins.iter().zip(&mut binned).enumerate() {
                let mut q = map.clone();
                let left = quantise_map(&mut q, level_bins);
                if i == 0 {
                    // The same values at every level: counted once.
                    kept += left;
                }
                let decoded = model.predict_from_map(&Tensor::new(q));
                for (y, y_hat) in targets.iter().zip(&decoded) {
                    acc.add(y, y_hat);
                }
            }
            Ok(())
        },
    )?;
    let positions = domain.positions();
    let levels = LEVELS
        .iter()
        .zip(&bins)
        .zip(&binned)
        .map(|((&l, level_bins), acc)| -> Result<LevelScore> {
            let bits = (l as f64).log2();
            Ok(LevelScore {
                levels: l,
                bits,
                e2ee: acc.e2ee()?,
                exact_match: acc.exact_match_accuracy()?,
                channel_levels: level_bins
                    .iter()
                    .map(|b| b.as_ref().map_or(0, ChannelBins::levels))
                    .collect(),
                bound_bits: information_bound(positions, channels, snap.density, bits),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(BitsResult {
        density: snap.density,
        rung: snap.rung,
        samples: opts.samples,
        calibration_first: CALIBRATION_FIRST,
        calibration_samples: opts.calibration_samples,
        calibration_values: values.iter().map(|v| v.len() as u64).collect(),
        positions,
        channels,
        observed_density: nonzero as f64 / entries.max(1) as f64,
        unbinned_e2ee: unbinned.e2ee()?,
        unbinned_exact_match: unbinned.exact_match_accuracy()?,
        unbinned_values: kept,
        levels,
    })
}

/// The binning analysis of the run in `dir` at its operating point; writes `bits.json` and
/// `bits.png` (E2EE against bits per activation, the unbinned E2EE as a line) into `out`.
pub fn analyze_bits(
    dir: &RunDir,
    out: &Path,
    opts: &BitsOptions,
    progress: &mut dyn EvalProgress,
) -> Result<BitsResult> {
    let point = operating_point(dir)?;
    crate::objective::require_sequence(&point.snapshot.config, "the bits analysis")?;
    let result = bits_per_activation(&point.snapshot, opts, progress)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
    write_json(&out.join("bits.json"), &result)?;
    write_png(&out.join("bits.png"), &figure(&result))?;
    Ok(result)
}

/// E2EE (%) against bits per activation, with the unbinned E2EE as a reference line.
fn figure(result: &BitsResult) -> Canvas {
    let points: Vec<(f64, f64)> = result
        .levels
        .iter()
        .map(|l| (l.bits, 100.0 * l.e2ee))
        .collect();
    LineChart::new(format!(
        "Binned activations at density {:.3e}, {} test samples",
        result.density, result.samples
    ))
    .x_label("bits per nonzero activation (log2 of the levels)")
    .y_label("E2EE (%)")
    .series(
        Series::new("binned", points)
            .marker(Marker::Circle)
            .color(sparling_plot::palette(0))
            .thickness(2),
    )
    .reference_line(ReferenceLine::new(
        100.0 * result.unbinned_e2ee,
        format!("unbinned: {:.2}%", 100.0 * result.unbinned_e2ee),
    ))
    .render(900, 600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::direct::tests::tiny_run;

    #[test]
    fn bits_quantile_edges_and_means_with_ties() {
        // 8 values, 4 levels: edges at ranks 2, 4, 6 -> 3, 5, 7; bins of two values each.
        let v = [8.0, 1.0, 7.0, 2.0, 6.0, 3.0, 5.0, 4.0];
        let b = ChannelBins::calibrate(&v, 4).unwrap();
        assert_eq!(b.edges, vec![3.0, 5.0, 7.0]);
        assert_eq!(b.means, vec![1.5, 3.5, 5.5, 7.5]);
        assert_eq!(b.quantise(0.5), 1.5, "below every value: the lowest bin");
        assert_eq!(b.quantise(5.0), 5.5, "an edge opens its bin");
        assert_eq!(b.quantise(99.0), 7.5);
        // Ties: the edges at ranks 2 and 4 are both 1 (the smallest value): dropped, and
        // the edge at rank 6 is 2; so two bins.
        let t = [1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 9.0];
        let b = ChannelBins::calibrate(&t, 4).unwrap();
        assert_eq!(b.edges, vec![2.0]);
        assert_eq!(b.means, vec![1.0, 13.0 / 3.0]);
        assert_eq!(b.levels(), 2);
        assert_eq!(ChannelBins::calibrate(&[], 4), None);
        // One level: the mean of everything.
        assert_eq!(ChannelBins::calibrate(&v, 1).unwrap().means, vec![4.5]);
    }

    #[test]
    fn bits_as_many_levels_as_distinct_values_is_exact() {
        let v: Vec<f32> = (0..16).map(|i| 0.25 + (i * i) as f32 * 0.1).collect();
        let b = ChannelBins::calibrate(&v, 16).unwrap();
        assert_eq!(b.levels(), 16);
        for &x in &v {
            assert_eq!(b.quantise(x), x);
        }
        // And on a map: every nonzero value is unchanged, zeros stay zero, a channel
        // without bins is left alone and counted.
        let mut map = ArrayD::from_shape_vec(
            vec![1, 2, 1, 4],
            vec![v[3], 0.0, v[15], v[0], 0.7, 0.0, 0.0, 0.0],
        )
        .unwrap();
        let before = map.clone();
        assert_eq!(quantise_map(&mut map, &[Some(b.clone()), None]), 1);
        assert_eq!(map, before);
        // Two levels on the same map: each value becomes its half's mean.
        let two = ChannelBins::calibrate(&v, 2).unwrap();
        quantise_map(&mut map, &[Some(two.clone()), None]);
        assert_eq!(map[[0, 0, 0, 0]], two.means[0]);
        assert_eq!(map[[0, 0, 0, 2]], two.means[1]);
        assert_eq!(map[[0, 1, 0, 0]], 0.7);
    }

    #[test]
    fn bits_information_bound_formula() {
        assert_eq!(binary_entropy(0.5), 1.0);
        assert_eq!(binary_entropy(0.0), 0.0);
        assert_eq!(binary_entropy(1.0), 0.0);
        // S = 2, C = 3, d = 0.5, 1 bit: 6 x (1 + 0.5) = 9.
        assert_eq!(information_bound(2, 3, 0.5, 1.0), 9.0);
        // d = 0.25: H_b = 0.811278..; with 4 bits 12 x (0.811278 + 1).
        let h = -(0.25f64 * 0.25f64.log2() + 0.75 * 0.75f64.log2());
        assert!((binary_entropy(0.25) - 0.811_278_124_459_132_9).abs() < 1e-12);
        assert!((information_bound(4, 3, 0.25, 4.0) - 12.0 * (h + 1.0)).abs() < 1e-12);
    }

    #[test]
    fn bits_analysis_of_a_run_writes_its_json_and_figure() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tiny_run(tmp.path());
        let out = tmp.path().join("analysis");
        let opts = BitsOptions {
            samples: 3,
            calibration_samples: 2,
        };
        let r = analyze_bits(&dir, &out, &opts, &mut ()).unwrap();
        assert_eq!(r.levels.len(), 4);
        assert_eq!(r.positions, 56 * 56);
        // A channel gets bins iff it has calibration values, at most as many as asked for.
        for l in &r.levels {
            for (&k, &n) in l.channel_levels.iter().zip(&r.calibration_values) {
                assert_eq!(k == 0, n == 0);
                assert!(k <= l.levels);
            }
        }
        assert!(
            r.levels
                .windows(2)
                .all(|w| w[0].bound_bits < w[1].bound_bits)
        );
        assert!(out.join("bits.json").exists() && out.join("bits.png").exists());
    }
}

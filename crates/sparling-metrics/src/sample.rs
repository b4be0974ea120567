//! The confusion of one sample: which channel (if any) claims each ground-truth motif, and how
//! many activations lie outside every footprint (the paper's definitions).
//!
//! The rule, applied to a post-ReLU map `m` and the sample's motifs **in order**:
//! 1. for each motif, take each channel's maximum of `m` over the motif's footprint; if all are
//!    0 the motif is missed (`pred = none`), else it is claimed by the channel with the largest
//!    maximum (a tie goes to the lowest channel index); then the footprint is set to zero, so
//!    extra activations inside a footprint are neither reused by a later motif nor counted as
//!    false positives;
//! 2. every nonzero entry left (each channel x position) is a false positive of its channel.
//!
//! Both entry points compute exactly this rule without copying or mutating the map: an entry
//! belongs to the first motif (in order) whose footprint contains it, and to no motif if none
//! does. [`score_2d`] / [`score_1d`] take a dense map (one pass over it, plus one pass over the
//! footprints); [`score_sparse`] takes the list of nonzero entries, which is much faster when
//! only a few entries are active.

use ndarray::{ArrayView2, ArrayView3, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::motif::{Activation, MapShape, Motif};

/// Options of the per-sample scorer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreOptions {
    /// Record, in [`SampleOutcome::multi_hits`], every footprint in which two or more channels
    /// are active (with each channel's maximum). The count of such footprints is always kept
    /// ([`MotifOutcome::channels_hit`]); this only adds the details.
    pub record_multi_hits: bool,
}

/// What happened to one ground-truth motif of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MotifOutcome {
    /// The motif's true class id.
    pub class: usize,
    /// The channel that claims it (largest maximum over the footprint, lowest index on ties),
    /// or `None` if no channel is active in the footprint.
    pub predicted: Option<usize>,
    /// How many channels are active somewhere in the footprint (after earlier footprints were
    /// zeroed).
    pub channels_hit: usize,
}

/// A footprint in which several channels are active (recorded when
/// [`ScoreOptions::record_multi_hits`] is set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiHit {
    /// Index of the motif in the sample's list.
    pub motif: usize,
    /// The motif's true class id.
    pub class: usize,
    /// The active channels, in increasing order, with their maximum over the footprint.
    pub channels: Vec<(usize, f32)>,
}

/// The confusion of one sample, ready to be added to a [`crate::Confusion`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleOutcome {
    /// Number of channels of the map.
    pub channels: usize,
    /// One outcome per ground-truth motif, in the order given.
    pub motifs: Vec<MotifOutcome>,
    /// Per channel, the number of nonzero entries outside every footprint.
    pub false_positives: Vec<u64>,
    /// Footprints hit by several channels; empty unless [`ScoreOptions::record_multi_hits`].
    pub multi_hits: Vec<MultiHit>,
}

impl SampleOutcome {
    /// Number of motifs claimed by some channel plus the number of false positives: the
    /// sample's `#(pred != none)`.
    pub fn n_predictions(&self) -> u64 {
        let hits = self.motifs.iter().filter(|m| m.predicted.is_some()).count() as u64;
        hits + self.false_positives.iter().sum::<u64>()
    }
}

/// Scores one `C x H x W` post-ReLU map against its ground-truth motifs (2-D footprints).
///
/// Errors if a value is negative or not finite, or a footprint is empty, 1-D, or not inside
/// the map.
///
/// ```
/// use ndarray::Array3;
/// use sparling_metrics::{score_2d, Motif, ScoreOptions};
/// let mut m = Array3::<f32>::zeros((2, 4, 4));
/// m[[1, 0, 1]] = 0.5; // inside the motif's footprint: channel 1 claims it
/// m[[0, 3, 3]] = 0.2; // outside: a false positive of channel 0
/// let motifs = [Motif::rect(7, 0..2, 0..2)];
/// let out = score_2d(m.view(), &motifs, ScoreOptions::default()).unwrap();
/// assert_eq!(out.motifs[0].predicted, Some(1));
/// assert_eq!(out.false_positives, vec![1, 0]);
/// ```
pub fn score_2d(
    map: ArrayView3<'_, f32>,
    motifs: &[Motif],
    options: ScoreOptions,
) -> Result<SampleOutcome> {
    let (c, h, w) = map.dim();
    score_dense(MapShape::two_d(c, h, w), map, motifs, options)
}

/// Scores one `C x L` post-ReLU map against its ground-truth motifs (1-D footprints, see
/// [`Motif::span`]). Same rule and errors as [`score_2d`].
pub fn score_1d(
    map: ArrayView2<'_, f32>,
    motifs: &[Motif],
    options: ScoreOptions,
) -> Result<SampleOutcome> {
    let (c, l) = map.dim();
    score_dense(
        MapShape::one_d(c, l),
        map.insert_axis(Axis(1)),
        motifs,
        options,
    )
}

/// Scores one map given as the list of its nonzero entries (entries with value 0 are allowed
/// and ignored). Same rule as [`score_2d`]; for a 1-D shape use [`Activation::one_d`] entries.
///
/// Errors if an entry is outside the shape, negative or non-finite, or listed twice, or a
/// footprint is invalid.
pub fn score_sparse(
    shape: MapShape,
    active: &[Activation],
    motifs: &[Motif],
    options: ScoreOptions,
) -> Result<SampleOutcome> {
    check_motifs(&shape, motifs)?;
    let channels = shape.channels();
    let (rows, cols) = shape.grid();
    let mut keys = Vec::with_capacity(active.len());
    for a in active {
        if a.channel >= channels || a.row >= rows || a.col >= cols {
            let mut index = vec![a.channel];
            index.extend(entry_position(&shape, a));
            return Err(Error::EntryOutOfRange {
                index,
                shape: shape.to_vec(),
            });
        }
        check_value(&shape, a.channel, a.row, a.col, a.value)?;
        keys.push((a.channel, a.row, a.col));
    }
    keys.sort_unstable();
    if let Some(pair) = keys.windows(2).find(|p| p[0] == p[1]) {
        let (c, r, col) = pair[0];
        let mut index = vec![c];
        index.extend(shape.position(r, col));
        return Err(Error::DuplicateEntry { index });
    }

    let mut maxima = vec![0.0f32; motifs.len() * channels];
    let mut false_positives = vec![0u64; channels];
    for a in active.iter().filter(|a| a.value > 0.0) {
        match motifs
            .iter()
            .position(|m| m.footprint.contains(a.row, a.col))
        {
            Some(j) => {
                let slot = &mut maxima[j * channels + a.channel];
                *slot = slot.max(a.value);
            }
            None => false_positives[a.channel] += 1,
        }
    }
    Ok(finish(channels, motifs, &maxima, false_positives, options))
}

/// The user-facing position of a sparse entry (`[row, col]` or `[col]`), even when out of range.
fn entry_position(shape: &MapShape, a: &Activation) -> Vec<usize> {
    match shape {
        MapShape::TwoD { .. } => vec![a.row, a.col],
        MapShape::OneD { .. } if a.row == 0 => vec![a.col],
        MapShape::OneD { .. } => vec![a.row, a.col],
    }
}

#[inline]
fn check_value(shape: &MapShape, channel: usize, row: usize, col: usize, value: f32) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            channel,
            position: shape.position(row, col),
            value,
        })
    }
}

/// Checks every footprint against the shape: right dimensionality, non-empty, inside.
fn check_motifs(shape: &MapShape, motifs: &[Motif]) -> Result<()> {
    let (rows, cols) = shape.grid();
    for (j, m) in motifs.iter().enumerate() {
        if m.footprint.dims() != shape.dims() {
            return Err(Error::FootprintKind {
                motif: j,
                footprint_dims: m.footprint.dims(),
                map_dims: shape.dims(),
            });
        }
        let (r, c) = m.footprint.as_rect();
        if r.start >= r.end || c.start >= c.end || r.end > rows || c.end > cols {
            return Err(Error::FootprintOutOfRange {
                motif: j,
                footprint: m.footprint.to_string(),
                shape: shape.to_vec(),
            });
        }
    }
    Ok(())
}

/// The dense path on the internal `C x rows x cols` view.
fn score_dense(
    shape: MapShape,
    map: ArrayView3<'_, f32>,
    motifs: &[Motif],
    options: ScoreOptions,
) -> Result<SampleOutcome> {
    check_motifs(&shape, motifs)?;
    let (channels, rows, cols) = map.dim();
    const NONE: u32 = u32::MAX;
    let n_motifs = u32::try_from(motifs.len())
        .ok()
        .filter(|&n| n < NONE)
        .ok_or_else(|| Error::InvalidParameter {
            name: "motifs",
            msg: format!("too many motifs in one sample ({})", motifs.len()),
        })?;
    // owner[r * cols + c]: the first motif (in order) whose footprint contains (r, c). Painting
    // in reverse order lets earlier motifs overwrite later ones.
    let mut owner = if n_motifs > 0 {
        vec![NONE; rows * cols]
    } else {
        Vec::new()
    };
    for (j, m) in motifs.iter().enumerate().rev() {
        let (rr, cc) = m.footprint.as_rect();
        for r in rr {
            owner[r * cols + cc.start..r * cols + cc.end].fill(j as u32);
        }
    }

    let mut maxima = vec![0.0f32; motifs.len() * channels];
    let mut false_positives = vec![0u64; channels];
    // Called for every entry that is not +-0 (rare in a sparse map, so the scan stays cheap).
    let mut visit = |ch: usize, r: usize, c: usize, v: f32| -> Result<()> {
        if !(v > 0.0 && v.is_finite()) {
            return check_value(&shape, ch, r, c, v);
        }
        let o = if n_motifs > 0 {
            owner[r * cols + c]
        } else {
            NONE
        };
        if o == NONE {
            false_positives[ch] += 1;
        } else {
            let slot = &mut maxima[o as usize * channels + ch];
            *slot = slot.max(v);
        }
        Ok(())
    };
    match map.as_slice() {
        // Contiguous row-major map: one flat scan per channel.
        Some(data) if rows * cols > 0 => {
            const BLOCK: usize = 64;
            for (ch, plane) in data.chunks_exact(rows * cols).enumerate() {
                for (b, block) in plane.chunks(BLOCK).enumerate() {
                    // OR of the bits without the sign: 0 iff every entry is +-0 (vectorises).
                    let any = block
                        .iter()
                        .fold(0u32, |a, v| a | (v.to_bits() & 0x7fff_ffff));
                    if any == 0 {
                        continue;
                    }
                    for (k, &v) in block.iter().enumerate() {
                        if v != 0.0 {
                            let i = b * BLOCK + k;
                            visit(ch, i / cols, i % cols, v)?;
                        }
                    }
                }
            }
        }
        _ => {
            for (ch, plane) in map.outer_iter().enumerate() {
                for (r, row) in plane.outer_iter().enumerate() {
                    for (c, &v) in row.iter().enumerate() {
                        if v != 0.0 {
                            visit(ch, r, c, v)?;
                        }
                    }
                }
            }
        }
    }
    Ok(finish(channels, motifs, &maxima, false_positives, options))
}

/// Turns the per-motif channel maxima into outcomes.
fn finish(
    channels: usize,
    motifs: &[Motif],
    maxima: &[f32],
    false_positives: Vec<u64>,
    options: ScoreOptions,
) -> SampleOutcome {
    let mut outcomes = Vec::with_capacity(motifs.len());
    let mut multi_hits = Vec::new();
    for (j, m) in motifs.iter().enumerate() {
        let row = &maxima[j * channels..(j + 1) * channels];
        let mut best: Option<(usize, f32)> = None;
        let mut hit = 0;
        for (ch, &v) in row.iter().enumerate() {
            if v > 0.0 {
                hit += 1;
                if best.is_none_or(|(_, b)| v > b) {
                    best = Some((ch, v));
                }
            }
        }
        if options.record_multi_hits && hit >= 2 {
            let channels = row.iter().enumerate().filter(|(_, v)| **v > 0.0);
            multi_hits.push(MultiHit {
                motif: j,
                class: m.class,
                channels: channels.map(|(ch, &v)| (ch, v)).collect(),
            });
        }
        outcomes.push(MotifOutcome {
            class: m.class,
            predicted: best.map(|(ch, _)| ch),
            channels_hit: hit,
        });
    }
    SampleOutcome {
        channels,
        motifs: outcomes,
        false_positives,
        multi_hits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, s};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The rule exactly as the paper words it: max, argmax, zero the footprint, count the
    /// rest. Returns (pred per motif, false positives per channel).
    fn naive(map: &Array3<f32>, motifs: &[Motif]) -> (Vec<Option<usize>>, Vec<u64>) {
        let mut m = map.clone();
        let mut preds = Vec::new();
        for motif in motifs {
            let (rr, cc) = motif.footprint.as_rect();
            let mut best: Option<(usize, f32)> = None;
            for ch in 0..m.dim().0 {
                let mx = m
                    .slice(s![ch, rr.clone(), cc.clone()])
                    .iter()
                    .fold(0.0f32, |a, &b| a.max(b));
                if mx > 0.0 && best.is_none_or(|(_, b)| mx > b) {
                    best = Some((ch, mx));
                }
            }
            preds.push(best.map(|b| b.0));
            m.slice_mut(s![.., rr, cc]).fill(0.0);
        }
        let fp = m
            .outer_iter()
            .map(|p| p.iter().filter(|&&v| v != 0.0).count() as u64)
            .collect();
        (preds, fp)
    }

    fn to_sparse(map: &Array3<f32>) -> Vec<Activation> {
        map.indexed_iter()
            .filter(|(_, v)| **v != 0.0)
            .map(|((c, r, col), &v)| Activation::two_d(c, r, col, v))
            .collect()
    }

    fn preds(out: &SampleOutcome) -> Vec<Option<usize>> {
        out.motifs.iter().map(|m| m.predicted).collect()
    }

    #[test]
    fn score_several_activations_in_one_footprint() {
        // Channel 2 fires three times inside the footprint, channel 0 once with a smaller value.
        // The motif goes to channel 2 (max 0.9 > 0.4); none of the four is a false positive.
        let mut m = Array3::<f32>::zeros((3, 6, 6));
        m[[2, 1, 1]] = 0.3;
        m[[2, 1, 2]] = 0.9;
        m[[2, 2, 2]] = 0.5;
        m[[0, 2, 1]] = 0.4;
        let motifs = [Motif::rect(4, 1..3, 1..3)];
        let out = score_2d(m.view(), &motifs, ScoreOptions::default()).unwrap();
        assert_eq!(
            out.motifs,
            vec![MotifOutcome {
                class: 4,
                predicted: Some(2),
                channels_hit: 2
            }]
        );
        assert_eq!(out.false_positives, vec![0, 0, 0]);
        assert_eq!(out.n_predictions(), 1);
        assert!(
            out.multi_hits.is_empty(),
            "details are only recorded on request"
        );
    }

    #[test]
    fn score_footprint_hit_by_two_channels_records_multi_hit() {
        // Channels 1 and 3 both reach 0.7 inside the footprint: the tie goes to channel 1.
        let mut m = Array3::<f32>::zeros((4, 5, 5));
        m[[3, 0, 0]] = 0.7;
        m[[1, 1, 1]] = 0.7;
        m[[0, 4, 4]] = 1.0; // outside: false positive of channel 0
        let motifs = [Motif::rect(9, 0..2, 0..2)];
        let opts = ScoreOptions {
            record_multi_hits: true,
        };
        let out = score_2d(m.view(), &motifs, opts).unwrap();
        assert_eq!(out.motifs[0].predicted, Some(1));
        assert_eq!(out.motifs[0].channels_hit, 2);
        assert_eq!(
            out.multi_hits,
            vec![MultiHit {
                motif: 0,
                class: 9,
                channels: vec![(1, 0.7), (3, 0.7)]
            }]
        );
        assert_eq!(out.false_positives, vec![1, 0, 0, 0]);
        assert_eq!(out.n_predictions(), 2);
        // The sparse path gives the same answer.
        let sp = score_sparse(MapShape::two_d(4, 5, 5), &to_sparse(&m), &motifs, opts).unwrap();
        assert_eq!(sp, out);
    }

    #[test]
    fn score_border_activations() {
        // Footprint rows 2..4, cols 3..6 (half-open): (2,3), (3,5) are on its border, inside;
        // (4,3), (2,6), (1,4), (3,2) are just outside.
        let mut m = Array3::<f32>::zeros((2, 8, 8));
        m[[0, 2, 3]] = 0.1;
        m[[1, 3, 5]] = 0.2;
        for &(r, c) in &[(4, 3), (2, 6), (1, 4), (3, 2)] {
            m[[1, r, c]] = 5.0;
        }
        let motifs = [Motif::rect(0, 2..4, 3..6)];
        let out = score_2d(m.view(), &motifs, ScoreOptions::default()).unwrap();
        assert_eq!(preds(&out), vec![Some(1)]);
        assert_eq!(out.false_positives, vec![0, 4]);
    }

    #[test]
    fn score_nothing_predicted_and_nothing_true() {
        let m = Array3::<f32>::zeros((3, 4, 4));
        let motifs = [Motif::rect(1, 0..2, 0..2), Motif::rect(2, 2..4, 2..4)];
        let out = score_2d(m.view(), &motifs, ScoreOptions::default()).unwrap();
        assert_eq!(preds(&out), vec![None, None]);
        assert_eq!(out.false_positives, vec![0, 0, 0]);
        assert_eq!(out.n_predictions(), 0);

        let mut m = Array3::<f32>::zeros((2, 3, 3));
        m[[0, 0, 0]] = 1.0;
        m[[1, 2, 1]] = 2.0;
        m[[1, 2, 2]] = 3.0;
        let out = score_2d(m.view(), &[], ScoreOptions::default()).unwrap();
        assert!(out.motifs.is_empty());
        assert_eq!(out.false_positives, vec![1, 2]);
    }

    #[test]
    fn score_zeroed_footprint_is_not_reused_by_a_later_motif() {
        // Two overlapping footprints (the spec assumes none, but the rule is still defined): the
        // entry at (1,1) is consumed by motif 0, so motif 1 only sees channel 0's (2,2).
        let mut m = Array3::<f32>::zeros((2, 4, 4));
        m[[1, 1, 1]] = 0.9;
        m[[0, 2, 2]] = 0.1;
        let motifs = [Motif::rect(0, 0..2, 0..2), Motif::rect(1, 1..3, 1..3)];
        let out = score_2d(m.view(), &motifs, ScoreOptions::default()).unwrap();
        assert_eq!(preds(&out), vec![Some(1), Some(0)]);
        assert_eq!(naive(&m, &motifs).0, preds(&out));
    }

    #[test]
    fn score_1d_map() {
        let mut m = ndarray::Array2::<f32>::zeros((2, 10));
        m[[1, 3]] = 0.5;
        m[[0, 4]] = 0.6; // span 3..5 includes 4: channel 0 wins with 0.6
        m[[1, 5]] = 0.2; // just outside: false positive
        let motifs = [Motif::span(3, 3..5)];
        let out = score_1d(m.view(), &motifs, ScoreOptions::default()).unwrap();
        assert_eq!(preds(&out), vec![Some(0)]);
        assert_eq!(out.false_positives, vec![0, 1]);
        let active = [
            Activation::one_d(1, 3, 0.5),
            Activation::one_d(0, 4, 0.6),
            Activation::one_d(1, 5, 0.2),
        ];
        let sp = score_sparse(
            MapShape::one_d(2, 10),
            &active,
            &motifs,
            ScoreOptions::default(),
        )
        .unwrap();
        assert_eq!(sp, out);
    }

    #[test]
    fn score_dense_and_sparse_match_naive_on_random_maps() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            // Up to 23 x 23 so that the 64-entry blocks of the dense scan span several rows.
            let (c, h, w) = (
                rng.random_range(1..5),
                rng.random_range(1..24),
                rng.random_range(1..24),
            );
            let mut m = Array3::<f32>::zeros((c, h, w));
            let density = rng.random::<f64>() * 0.5;
            for v in m.iter_mut() {
                if rng.random::<f64>() < density {
                    // Few distinct values, so ties are frequent.
                    *v = rng.random_range(1..4) as f32 * 0.25;
                }
            }
            let n = rng.random_range(0..4);
            let motifs: Vec<Motif> = (0..n)
                .map(|_| {
                    let r0 = rng.random_range(0..h);
                    let c0 = rng.random_range(0..w);
                    let r1 = rng.random_range(r0 + 1..=h);
                    let c1 = rng.random_range(c0 + 1..=w);
                    Motif::rect(rng.random_range(0..3), r0..r1, c0..c1)
                })
                .collect();
            let (want_preds, want_fp) = naive(&m, &motifs);
            let opts = ScoreOptions {
                record_multi_hits: true,
            };
            let dense = score_2d(m.view(), &motifs, opts).unwrap();
            assert_eq!(preds(&dense), want_preds);
            assert_eq!(dense.false_positives, want_fp);
            let mut active = to_sparse(&m);
            if m[[0, 0, 0]] == 0.0 {
                // An explicit zero entry is allowed and ignored.
                active.push(Activation::two_d(0, 0, 0, 0.0));
            }
            let sparse = score_sparse(MapShape::two_d(c, h, w), &active, &motifs, opts).unwrap();
            assert_eq!(sparse, dense);
            // A non-contiguous view (transposed spatial axes) gives the transposed answer.
            let t = m.clone().permuted_axes([0, 2, 1]);
            let tm: Vec<Motif> = motifs
                .iter()
                .map(|mo| {
                    let (rr, cc) = mo.footprint.as_rect();
                    Motif::rect(mo.class, cc, rr)
                })
                .collect();
            assert_eq!(score_2d(t.view(), &tm, opts).unwrap(), dense);
        }
    }

    #[test]
    fn score_rejects_bad_values_and_footprints() {
        for bad in [-0.5f32, f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut m = Array3::<f32>::zeros((2, 3, 3));
            m[[1, 2, 0]] = bad;
            let err = score_2d(m.view(), &[], ScoreOptions::default()).unwrap_err();
            match err {
                Error::InvalidValue {
                    channel: 1,
                    position,
                    ..
                } => assert_eq!(position, [2, 0]),
                e => panic!("unexpected {e}"),
            }
            let active = [Activation::two_d(1, 2, 0, bad)];
            let shape = MapShape::two_d(2, 3, 3);
            assert!(matches!(
                score_sparse(shape, &active, &[], ScoreOptions::default()),
                Err(Error::InvalidValue { .. })
            ));
        }
        let m = Array3::<f32>::zeros((2, 3, 3));
        for motif in [
            Motif::rect(0, 0..4, 0..1),
            Motif::rect(0, 0..1, 2..4),
            Motif::rect(0, 1..1, 0..1),
            Motif::rect(0, 0..1, std::ops::Range { start: 2, end: 1 }), // reversed
        ] {
            let err = score_2d(m.view(), &[motif], ScoreOptions::default()).unwrap_err();
            assert!(
                matches!(err, Error::FootprintOutOfRange { motif: 0, .. }),
                "{err}"
            );
        }
        let err = score_2d(m.view(), &[Motif::span(0, 0..1)], ScoreOptions::default());
        assert!(matches!(
            err,
            Err(Error::FootprintKind {
                footprint_dims: 1,
                map_dims: 2,
                ..
            })
        ));

        let shape = MapShape::two_d(2, 3, 3);
        let opts = ScoreOptions::default();
        for a in [
            Activation::two_d(2, 0, 0, 1.0),
            Activation::two_d(0, 3, 0, 1.0),
            Activation::two_d(0, 0, 3, 1.0),
        ] {
            assert!(matches!(
                score_sparse(shape, &[a], &[], opts),
                Err(Error::EntryOutOfRange { .. })
            ));
        }
        let dup = [
            Activation::two_d(1, 1, 1, 1.0),
            Activation::two_d(1, 1, 1, 2.0),
        ];
        let err = score_sparse(shape, &dup, &[], opts).unwrap_err();
        assert!(matches!(err, Error::DuplicateEntry { ref index } if index == &[1, 1, 1]));
    }
}

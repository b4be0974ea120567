//! The motif error `E_m` of the paper's theorem, which bounds it by a multiple of the
//! end-to-end error:
//!
//! ```text
//! E_m = 1 - E[u] / E[max(#pred, #true)]
//! ```
//!
//! per sample, `u` counts the true motifs whose footprint contains an activation of the right
//! channel (the channel mapped to the motif's class by a channel -> class permutation) and of
//! no other channel, `#pred` is the number of nonzero activations of the map (every channel x
//! position, inside a footprint or not) and `#true` the number of true motifs; the
//! expectations are means over the samples.
//!
//! Which channels are active in a footprint follows the rule of [`crate::sample`] (an entry
//! belongs to the first motif, in order, whose footprint contains it), so for the
//! non-overlapping footprints the theorem assumes it is simply "the channels active inside the
//! footprint". A perfect map (one activation of the right channel per motif, nothing else)
//! gives `E_m = 0`; a sample with neither motifs nor activations adds 0 to both expectations.

use ndarray::{ArrayView2, ArrayView3, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::motif::{Activation, MapShape, Motif};
use crate::sample::{SampleOutcome, ScoreOptions, score_1d, score_2d, score_sparse};

/// The three counts of one sample that `E_m` averages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MotifErrorCounts {
    /// `u`: true motifs whose footprint holds the right channel and no other.
    pub covered: u64,
    /// `#pred`: nonzero activations of the map.
    pub predicted: u64,
    /// `#true`: true motifs.
    pub motifs: u64,
}

/// A streaming, mergeable accumulator of the theorem's motif error under a fixed channel ->
/// class assignment (`assignment[c]`: the class of channel `c`, `None` for a channel mapped to
/// no class, whose activations can never cover a motif).
///
/// ```
/// use ndarray::Array3;
/// use sparling_metrics::{Motif, MotifError};
///
/// // Channel 1 detects class 7, channel 0 class 4.
/// let mut e = MotifError::new(vec![Some(4), Some(7)]);
/// let mut m = Array3::<f32>::zeros((2, 8, 8));
/// m[[1, 1, 1]] = 0.5; // on the 7, right channel
/// m[[0, 7, 0]] = 0.2; // a stray activation
/// let motifs = [Motif::rect(7, 0..3, 0..3), Motif::rect(4, 5..8, 5..8)];
/// e.add_2d(m.view(), &motifs).unwrap();
/// // u = 1 of max(#pred 2, #true 2) = 2.
/// assert_eq!(e.value().unwrap(), 0.5);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MotifError {
    assignment: Vec<Option<usize>>,
    samples: u64,
    covered: u64,
    larger: u64,
    predicted: u64,
    motifs: u64,
}

impl MotifError {
    /// An empty accumulator for maps of `assignment.len()` channels.
    pub fn new(assignment: Vec<Option<usize>>) -> Self {
        MotifError {
            assignment,
            samples: 0,
            covered: 0,
            larger: 0,
            predicted: 0,
            motifs: 0,
        }
    }

    /// The channel -> class assignment.
    pub fn assignment(&self) -> &[Option<usize>] {
        &self.assignment
    }

    /// The counts of one scored sample: `outcome` from [`score_2d`], [`score_1d`] or
    /// [`score_sparse`], and `active` the number of nonzero entries of its map. Errors if the
    /// outcome's channel count differs from the assignment's, or if `active` is smaller than
    /// the activations the outcome accounts for (one per claimed motif plus the false
    /// positives), which no map can give.
    pub fn counts(&self, outcome: &SampleOutcome, active: u64) -> Result<MotifErrorCounts> {
        if outcome.channels != self.assignment.len() {
            return Err(Error::SizeMismatch {
                what: "channels of a sample (motif error assignment)",
                expected: self.assignment.len(),
                actual: outcome.channels,
            });
        }
        if active < outcome.n_predictions() {
            return Err(Error::InvalidParameter {
                name: "active",
                msg: format!(
                    "{active} nonzero activations, but the sample's outcome accounts for {}",
                    outcome.n_predictions()
                ),
            });
        }
        let covered = outcome
            .motifs
            .iter()
            .filter(|m| {
                m.channels_hit == 1
                    && m.predicted
                        .is_some_and(|ch| self.assignment[ch] == Some(m.class))
            })
            .count() as u64;
        Ok(MotifErrorCounts {
            covered,
            predicted: active,
            motifs: outcome.motifs.len() as u64,
        })
    }

    /// Adds one sample's counts (see [`MotifError::counts`]).
    pub fn add_counts(&mut self, c: MotifErrorCounts) {
        self.samples += 1;
        self.covered += c.covered;
        self.larger += c.predicted.max(c.motifs);
        self.predicted += c.predicted;
        self.motifs += c.motifs;
    }

    /// Adds one scored sample (see [`MotifError::counts`]).
    pub fn add_outcome(&mut self, outcome: &SampleOutcome, active: u64) -> Result<()> {
        let c = self.counts(outcome, active)?;
        self.add_counts(c);
        Ok(())
    }

    /// Scores a `C x H x W` post-ReLU map with [`score_2d`] and adds it.
    pub fn add_2d(&mut self, map: ArrayView3<'_, f32>, motifs: &[Motif]) -> Result<()> {
        let outcome = score_2d(map, motifs, ScoreOptions::default())?;
        let active = map.iter().filter(|&&v| v != 0.0).count() as u64;
        self.add_outcome(&outcome, active)
    }

    /// Scores a `C x L` post-ReLU map with [`score_1d`] and adds it.
    pub fn add_1d(&mut self, map: ArrayView2<'_, f32>, motifs: &[Motif]) -> Result<()> {
        let outcome = score_1d(map, motifs, ScoreOptions::default())?;
        let active = map.iter().filter(|&&v| v != 0.0).count() as u64;
        self.add_outcome(&outcome, active)
    }

    /// Scores a map given as its nonzero entries with [`score_sparse`] and adds it.
    pub fn add_sparse(
        &mut self,
        shape: MapShape,
        active: &[Activation],
        motifs: &[Motif],
    ) -> Result<()> {
        let outcome = score_sparse(shape, active, motifs, ScoreOptions::default())?;
        let n = active.iter().filter(|a| a.value != 0.0).count() as u64;
        self.add_outcome(&outcome, n)
    }

    /// Adds every map of an `N x C x H x W` batch (`motifs[n]` belongs to sample `n`); a 1-D
    /// batch is given as `N x C x 1 x L` with span footprints when `one_d` is set.
    pub fn add_batch(
        &mut self,
        maps: ndarray::ArrayView4<'_, f32>,
        motifs: &[Vec<Motif>],
        one_d: bool,
    ) -> Result<()> {
        if maps.len_of(Axis(0)) != motifs.len() {
            return Err(Error::SizeMismatch {
                what: "motif lists of a batch",
                expected: maps.len_of(Axis(0)),
                actual: motifs.len(),
            });
        }
        for (map, m) in maps.outer_iter().zip(motifs) {
            if one_d {
                self.add_1d(map.index_axis_move(Axis(1), 0), m)?;
            } else {
                self.add_2d(map, m)?;
            }
        }
        Ok(())
    }

    /// Adds another accumulator's counts. Errors if the assignments differ.
    pub fn merge(&mut self, other: &MotifError) -> Result<()> {
        if other.assignment != self.assignment {
            return Err(Error::InvalidParameter {
                name: "assignment",
                msg: "merged motif errors use different channel assignments".into(),
            });
        }
        self.samples += other.samples;
        self.covered += other.covered;
        self.larger += other.larger;
        self.predicted += other.predicted;
        self.motifs += other.motifs;
        Ok(())
    }

    /// Samples added.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// `E[u]`: the mean number of covered motifs per sample (0 with no samples).
    pub fn mean_covered(&self) -> f64 {
        self.mean(self.covered)
    }

    /// `E[max(#pred, #true)]` (0 with no samples).
    pub fn mean_larger(&self) -> f64 {
        self.mean(self.larger)
    }

    /// `E[#pred]`: the mean number of nonzero activations per sample (0 with no samples).
    pub fn mean_predicted(&self) -> f64 {
        self.mean(self.predicted)
    }

    /// `E[#true]`: the mean number of true motifs per sample (0 with no samples).
    pub fn mean_motifs(&self) -> f64 {
        self.mean(self.motifs)
    }

    fn mean(&self, total: u64) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            total as f64 / self.samples as f64
        }
    }

    /// `E_m = 1 - E[u] / E[max(#pred, #true)]`, in `[0, 1]`; 0 when no sample has a motif or
    /// an activation (nothing to find, nothing claimed). Errors with [`Error::NoSamples`] when
    /// no sample was added.
    pub fn value(&self) -> Result<f64> {
        if self.samples == 0 {
            return Err(Error::NoSamples {
                what: "the motif error E_m",
            });
        }
        // The sample counts cancel: E[u] / E[max] = sum u / sum max.
        Ok(if self.larger == 0 {
            0.0
        } else {
            1.0 - self.covered as f64 / self.larger as f64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    /// Two motifs: a 4 in rows/cols 0..3 and a 7 in rows/cols 5..8 of an 8 x 8 map with
    /// three channels; channel 0 detects 4, channel 2 detects 7, channel 1 nothing.
    fn motifs() -> Vec<Motif> {
        vec![Motif::rect(4, 0..3, 0..3), Motif::rect(7, 5..8, 5..8)]
    }

    fn assignment() -> Vec<Option<usize>> {
        vec![Some(4), None, Some(7)]
    }

    fn perfect() -> Array3<f32> {
        let mut m = Array3::<f32>::zeros((3, 8, 8));
        m[[0, 1, 1]] = 0.5;
        m[[2, 6, 6]] = 0.8;
        m
    }

    fn e_m(map: &Array3<f32>) -> f64 {
        let mut e = MotifError::new(assignment());
        e.add_2d(map.view(), &motifs()).unwrap();
        e.value().unwrap()
    }

    #[test]
    fn motif_error_of_a_perfect_map_is_zero() {
        assert_eq!(e_m(&perfect()), 0.0);
    }

    #[test]
    fn motif_error_missing_activation() {
        // The 7 is missed: u = 1, #pred = 1, #true = 2: 1 - 1/2.
        let mut m = perfect();
        m[[2, 6, 6]] = 0.0;
        assert_eq!(e_m(&m), 0.5);
    }

    #[test]
    fn motif_error_extra_activation() {
        // A stray activation outside both footprints: u = 2, #pred = 3: 1 - 2/3.
        let mut m = perfect();
        m[[1, 4, 0]] = 0.1;
        assert!((e_m(&m) - 1.0 / 3.0).abs() < 1e-12);
        // A second activation of the right channel inside a footprint is still an extra
        // prediction (the theorem counts activations, not claimed motifs).
        let mut m = perfect();
        m[[0, 2, 2]] = 0.1;
        assert!((e_m(&m) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn motif_error_wrong_channel() {
        // The 4 is found by channel 2 (mapped to 7): u = 1 of 2.
        let mut m = perfect();
        m[[0, 1, 1]] = 0.0;
        m[[2, 1, 1]] = 0.5;
        assert_eq!(e_m(&m), 0.5);
        // An unassigned channel never covers a motif.
        let mut m = perfect();
        m[[0, 1, 1]] = 0.0;
        m[[1, 1, 1]] = 0.5;
        assert_eq!(e_m(&m), 0.5);
    }

    #[test]
    fn motif_error_two_channels_in_one_footprint() {
        // The right channel and another one inside the 4's footprint: not covered (the right
        // channel and no other), and 3 activations: u = 1, max(3, 2) = 3.
        let mut m = perfect();
        m[[1, 0, 0]] = 0.9;
        assert!((e_m(&m) - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn motif_error_averages_over_samples_before_dividing() {
        // Sample 1 perfect (u 2, max 2); sample 2 empty map (u 0, max 2): 1 - (2/2) / (4/2).
        let mut e = MotifError::new(assignment());
        e.add_2d(perfect().view(), &motifs()).unwrap();
        e.add_2d(Array3::<f32>::zeros((3, 8, 8)).view(), &motifs())
            .unwrap();
        assert_eq!(e.value().unwrap(), 0.5);
        assert_eq!(
            (e.samples(), e.mean_covered(), e.mean_larger()),
            (2, 1.0, 2.0)
        );
        assert_eq!((e.mean_predicted(), e.mean_motifs()), (1.0, 2.0));
        // Merging two halves gives the same.
        let mut a = MotifError::new(assignment());
        a.add_2d(perfect().view(), &motifs()).unwrap();
        let mut b = MotifError::new(assignment());
        b.add_2d(Array3::<f32>::zeros((3, 8, 8)).view(), &motifs())
            .unwrap();
        a.merge(&b).unwrap();
        assert_eq!(a, e);
        assert!(a.merge(&MotifError::new(vec![None; 3])).is_err());
    }

    #[test]
    fn motif_error_dense_sparse_and_1d_agree() {
        let mut m = perfect();
        m[[1, 4, 0]] = 0.1;
        let active: Vec<Activation> = m
            .indexed_iter()
            .filter(|(_, v)| **v != 0.0)
            .map(|((c, r, col), &v)| Activation::two_d(c, r, col, v))
            .collect();
        let mut e = MotifError::new(assignment());
        e.add_sparse(MapShape::two_d(3, 8, 8), &active, &motifs())
            .unwrap();
        assert_eq!(e.value().unwrap(), e_m(&m));
        // 1-D: a span of 4 on channel 0, a stray on channel 1.
        let mut s = ndarray::Array2::<f32>::zeros((3, 10));
        s[[0, 2]] = 1.0;
        s[[1, 8]] = 1.0;
        let mut e = MotifError::new(assignment());
        e.add_1d(s.view(), &[Motif::span(4, 1..4)]).unwrap();
        assert_eq!(e.value().unwrap(), 0.5);
        let mut b = MotifError::new(assignment());
        let batch = s.view().insert_axis(Axis(1)).insert_axis(Axis(0));
        b.add_batch(batch, &[vec![Motif::span(4, 1..4)]], true)
            .unwrap();
        assert_eq!(b, e);
    }

    #[test]
    fn motif_error_of_nothing_is_an_error_and_of_empty_samples_zero() {
        let e = MotifError::new(assignment());
        assert!(matches!(e.value(), Err(Error::NoSamples { .. })));
        let mut e = MotifError::new(assignment());
        e.add_2d(Array3::<f32>::zeros((3, 8, 8)).view(), &[])
            .unwrap();
        assert_eq!(e.value().unwrap(), 0.0);
    }

    #[test]
    fn motif_error_rejects_bad_input() {
        let mut e = MotifError::new(vec![Some(4)]);
        let err = e.add_2d(perfect().view(), &motifs()).unwrap_err();
        assert!(matches!(err, Error::SizeMismatch { .. }), "{err}");
        let mut m = perfect();
        m[[0, 0, 0]] = -1.0;
        let mut e = MotifError::new(assignment());
        assert!(e.add_2d(m.view(), &motifs()).is_err());
        let outcome = score_2d(perfect().view(), &motifs(), ScoreOptions::default()).unwrap();
        assert!(e.add_outcome(&outcome, 1).is_err(), "2 claimed, 1 active");
        assert_eq!(e.samples(), 0, "nothing added on error");
    }
}

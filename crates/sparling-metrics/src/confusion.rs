//! The streaming (pred, true) count table and the motif errors computed from it.
//!
//! A [`Confusion`] is a `(channels + 1) x (classes + 1)` table of counts: row `i < channels` is
//! "predicted channel i", the last row is "pred = none"; column `k < classes` is "true class k",
//! the last column is "true = none". Samples are added one at a time (maps need not be kept),
//! and tables built in parallel are combined with [`Confusion::merge`].
//!
//! The metrics (as the paper defines them), with their values on empty tables:
//! * `FNE = #(true != none, pred = none) / #(true != none)`; 0 when there are no true motifs;
//! * `FPE = #(true = none) / #(pred != none)`; 0 when nothing is predicted;
//! * `CE = 1 - M / #(pred != none, true != none)`, where `M` is the largest total count of a
//!   one-to-one channel-to-class assignment (Hungarian algorithm on the channel x class block);
//!   0 when no motif is claimed by any channel;
//! * `CE (many-to-one) = 1 - M' / #(pred != none, true != none)` where every channel is mapped
//!   to its most frequent true class (ties to the lowest class id), so several channels may
//!   share a class; 0 when no motif is claimed. Always `<= CE`.
//!
//! The `(none, none)` cell is always 0.

use ndarray::{Array2, ArrayView2, ArrayView3, ArrayView4, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hungarian::min_cost_assignment;
use crate::motif::{Activation, MapShape, Motif};
use crate::sample::{SampleOutcome, ScoreOptions, score_1d, score_2d, score_sparse};

/// The four motif errors of a table, as fractions in `[0, 1]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MotifErrors {
    /// False-positive error.
    pub fpe: f64,
    /// False-negative error.
    pub fne: f64,
    /// Confusion error with the optimal one-to-one channel-to-class assignment.
    pub ce: f64,
    /// Confusion error with each channel mapped to its most frequent class.
    pub ce_many_to_one: f64,
}

/// Accumulated (pred, true) counts over any number of samples. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ConfusionRepr", into = "ConfusionRepr")]
pub struct Confusion {
    channels: usize,
    classes: usize,
    class_names: Option<Vec<String>>,
    /// Row-major `(channels + 1) x (classes + 1)`.
    counts: Vec<u64>,
    multi_channel_footprints: u64,
}

/// The serialised form: `counts` as a list of rows (row `channels` and column `classes` are
/// "none").
#[derive(Serialize, Deserialize)]
struct ConfusionRepr {
    channels: usize,
    classes: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    class_names: Option<Vec<String>>,
    counts: Vec<Vec<u64>>,
    #[serde(default)]
    multi_channel_footprints: u64,
}

impl From<Confusion> for ConfusionRepr {
    fn from(c: Confusion) -> Self {
        let counts = c.counts.chunks(c.classes + 1).map(|r| r.to_vec()).collect();
        ConfusionRepr {
            channels: c.channels,
            classes: c.classes,
            class_names: c.class_names,
            counts,
            multi_channel_footprints: c.multi_channel_footprints,
        }
    }
}

impl TryFrom<ConfusionRepr> for Confusion {
    type Error = Error;
    fn try_from(r: ConfusionRepr) -> Result<Self> {
        if r.counts.len() != r.channels + 1 {
            return Err(Error::SizeMismatch {
                what: "confusion rows (channels + 1)",
                expected: r.channels + 1,
                actual: r.counts.len(),
            });
        }
        if let Some(row) = r.counts.iter().find(|row| row.len() != r.classes + 1) {
            return Err(Error::SizeMismatch {
                what: "confusion columns (classes + 1)",
                expected: r.classes + 1,
                actual: row.len(),
            });
        }
        if let Some(names) = &r.class_names {
            check_names(r.classes, names)?;
        }
        if r.counts[r.channels][r.classes] != 0 {
            return Err(Error::InvalidParameter {
                name: "counts",
                msg: "the (none, none) cell must be 0".into(),
            });
        }
        Ok(Confusion {
            channels: r.channels,
            classes: r.classes,
            class_names: r.class_names,
            counts: r.counts.concat(),
            multi_channel_footprints: r.multi_channel_footprints,
        })
    }
}

fn check_names(classes: usize, names: &[String]) -> Result<()> {
    if names.len() != classes {
        return Err(Error::SizeMismatch {
            what: "class names",
            expected: classes,
            actual: names.len(),
        });
    }
    Ok(())
}

/// `x / y`, or 0 when `y == 0` (the documented value of every empty case).
fn ratio(x: u64, y: u64) -> f64 {
    if y == 0 { 0.0 } else { x as f64 / y as f64 }
}

impl Confusion {
    /// An empty table for maps with `channels` channels and motifs of `classes` classes.
    pub fn new(channels: usize, classes: usize) -> Self {
        Confusion {
            channels,
            classes,
            class_names: None,
            counts: vec![0; (channels + 1) * (classes + 1)],
            multi_channel_footprints: 0,
        }
    }

    /// An empty table whose classes carry names (class id `k` is `names[k]`).
    pub fn with_class_names(channels: usize, names: Vec<String>) -> Self {
        let mut c = Confusion::new(channels, names.len());
        c.class_names = Some(names);
        c
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The class names, if any were attached.
    pub fn class_names(&self) -> Option<&[String]> {
        self.class_names.as_deref()
    }

    /// The name of class `k`, or its id written in decimal when the table has no names.
    pub fn class_label(&self, k: usize) -> String {
        match &self.class_names {
            Some(names) => names[k].clone(),
            None => k.to_string(),
        }
    }

    /// The count of `(pred, truth)`; `None` is "none". Panics on an out-of-range index.
    pub fn count(&self, pred: Option<usize>, truth: Option<usize>) -> u64 {
        self.counts[self.index(pred, truth)]
    }

    /// The whole table as a `(channels + 1) x (classes + 1)` array (last row and column:
    /// "none").
    pub fn to_array(&self) -> Array2<u64> {
        Array2::from_shape_vec((self.channels + 1, self.classes + 1), self.counts.clone())
            .expect("the count vector has the table's size")
    }

    /// How many ground-truth footprints were hit by two or more channels.
    pub fn multi_channel_footprints(&self) -> u64 {
        self.multi_channel_footprints
    }

    fn index(&self, pred: Option<usize>, truth: Option<usize>) -> usize {
        let r = pred.unwrap_or(self.channels);
        let c = truth.unwrap_or(self.classes);
        assert!(
            r <= self.channels && c <= self.classes,
            "confusion index out of range"
        );
        r * (self.classes + 1) + c
    }

    fn check(&self, pred: Option<usize>, truth: Option<usize>) -> Result<()> {
        if let Some(ch) = pred.filter(|&ch| ch >= self.channels) {
            return Err(Error::ChannelOutOfRange {
                channel: ch,
                channels: self.channels,
            });
        }
        if let Some(k) = truth.filter(|&k| k >= self.classes) {
            return Err(Error::ClassOutOfRange {
                class: k,
                classes: self.classes,
            });
        }
        if pred.is_none() && truth.is_none() {
            return Err(Error::InvalidParameter {
                name: "pred/truth",
                msg: "(none, none) is not an event".into(),
            });
        }
        Ok(())
    }

    /// Adds `n` events `(pred, truth)`. Errors if an index is out of range or both are `None`.
    pub fn record(&mut self, pred: Option<usize>, truth: Option<usize>, n: u64) -> Result<()> {
        self.check(pred, truth)?;
        let i = self.index(pred, truth);
        self.counts[i] += n;
        Ok(())
    }

    /// Adds one scored sample. Errors (and adds nothing) if its channel count differs from the
    /// table's or a class id is out of range.
    pub fn add(&mut self, sample: &SampleOutcome) -> Result<()> {
        if sample.channels != self.channels || sample.false_positives.len() != self.channels {
            return Err(Error::SizeMismatch {
                what: "channels of a sample",
                expected: self.channels,
                actual: sample.channels,
            });
        }
        for m in &sample.motifs {
            self.check(m.predicted, Some(m.class))?;
        }
        for m in &sample.motifs {
            let i = self.index(m.predicted, Some(m.class));
            self.counts[i] += 1;
            if m.channels_hit >= 2 {
                self.multi_channel_footprints += 1;
            }
        }
        for (ch, &n) in sample.false_positives.iter().enumerate() {
            let i = self.index(Some(ch), None);
            self.counts[i] += n;
        }
        Ok(())
    }

    /// Scores a `C x H x W` map with [`score_2d`] and adds it.
    pub fn add_2d(&mut self, map: ArrayView3<'_, f32>, motifs: &[Motif]) -> Result<()> {
        self.add(&score_2d(map, motifs, ScoreOptions::default())?)
    }

    /// Scores a `C x L` map with [`score_1d`] and adds it.
    pub fn add_1d(&mut self, map: ArrayView2<'_, f32>, motifs: &[Motif]) -> Result<()> {
        self.add(&score_1d(map, motifs, ScoreOptions::default())?)
    }

    /// Scores a sparse map with [`score_sparse`] and adds it.
    pub fn add_sparse(
        &mut self,
        shape: MapShape,
        active: &[Activation],
        motifs: &[Motif],
    ) -> Result<()> {
        self.add(&score_sparse(
            shape,
            active,
            motifs,
            ScoreOptions::default(),
        )?)
    }

    /// Scores every sample of an `N x C x H x W` batch (`motifs[n]` belongs to sample `n`) and
    /// adds them. On error nothing from the failing sample onwards is added.
    pub fn add_batch_2d(&mut self, maps: ArrayView4<'_, f32>, motifs: &[Vec<Motif>]) -> Result<()> {
        if maps.len_of(Axis(0)) != motifs.len() {
            return Err(Error::SizeMismatch {
                what: "motif lists of a batch",
                expected: maps.len_of(Axis(0)),
                actual: motifs.len(),
            });
        }
        for (map, m) in maps.outer_iter().zip(motifs) {
            self.add_2d(map, m)?;
        }
        Ok(())
    }

    /// Adds another table's counts into this one (for parallel evaluation). Errors if the sizes
    /// differ, or both tables have class names and they differ.
    pub fn merge(&mut self, other: &Confusion) -> Result<()> {
        if other.channels != self.channels {
            return Err(Error::SizeMismatch {
                what: "channels of merged tables",
                expected: self.channels,
                actual: other.channels,
            });
        }
        if other.classes != self.classes {
            return Err(Error::SizeMismatch {
                what: "classes of merged tables",
                expected: self.classes,
                actual: other.classes,
            });
        }
        match (&self.class_names, &other.class_names) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::InvalidParameter {
                    name: "class_names",
                    msg: "merged tables have different class names".into(),
                });
            }
            (None, Some(b)) => self.class_names = Some(b.clone()),
            _ => {}
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.multi_channel_footprints += other.multi_channel_footprints;
        Ok(())
    }

    /// `#(true != none)`: the number of ground-truth motifs.
    pub fn n_motifs(&self) -> u64 {
        (0..=self.channels)
            .map(|r| self.row(r)[..self.classes].iter().sum::<u64>())
            .sum()
    }

    /// `#(pred != none)`: motifs claimed by a channel plus false positives.
    pub fn n_predictions(&self) -> u64 {
        (0..self.channels)
            .map(|r| self.row(r).iter().sum::<u64>())
            .sum()
    }

    /// `#(true != none, pred = none)`: missed motifs.
    pub fn n_false_negatives(&self) -> u64 {
        self.row(self.channels)[..self.classes].iter().sum()
    }

    /// `#(true = none)`: activations outside every footprint.
    pub fn n_false_positives(&self) -> u64 {
        (0..self.channels).map(|r| self.row(r)[self.classes]).sum()
    }

    /// `#(pred != none, true != none)`: motifs claimed by some channel (the CE denominator).
    pub fn n_claimed(&self) -> u64 {
        (0..self.channels)
            .map(|r| self.row(r)[..self.classes].iter().sum::<u64>())
            .sum()
    }

    fn row(&self, r: usize) -> &[u64] {
        &self.counts[r * (self.classes + 1)..(r + 1) * (self.classes + 1)]
    }

    /// False-negative error; 0 when there are no true motifs.
    pub fn fne(&self) -> f64 {
        ratio(self.n_false_negatives(), self.n_motifs())
    }

    /// False-positive error; 0 when nothing is predicted.
    pub fn fpe(&self) -> f64 {
        ratio(self.n_false_positives(), self.n_predictions())
    }

    /// The optimal one-to-one channel-to-class assignment: for each channel, its class, or
    /// `None`. Maximises the total matched count (exact Hungarian algorithm on the channel x
    /// class block); pairs that carry no count are left out (a channel that claims nothing maps
    /// to no class).
    pub fn optimal_assignment(&self) -> Vec<Option<usize>> {
        let cost = Array2::from_shape_fn((self.channels, self.classes), |(r, k)| {
            -(self.row(r)[k] as i128)
        });
        let mut a = min_cost_assignment(cost.view(), i128::MAX / 4, 0);
        for (r, k) in a.iter_mut().enumerate() {
            if k.is_some_and(|k| self.row(r)[k] == 0) {
                *k = None;
            }
        }
        a
    }

    /// The total count of the optimal one-to-one assignment.
    pub fn matched_one_to_one(&self) -> u64 {
        let a = self.optimal_assignment();
        a.iter()
            .enumerate()
            .filter_map(|(r, k)| k.map(|k| self.row(r)[k]))
            .sum()
    }

    /// Confusion error with the optimal one-to-one assignment; 0 when nothing is claimed.
    pub fn ce(&self) -> f64 {
        let claimed = self.n_claimed();
        1.0 - if claimed == 0 {
            1.0
        } else {
            ratio(self.matched_one_to_one(), claimed)
        }
    }

    /// Each channel's most frequent true class (ties to the lowest class id), or `None` for a
    /// channel that claims no motif.
    pub fn many_to_one_assignment(&self) -> Vec<Option<usize>> {
        (0..self.channels)
            .map(|r| {
                let row = &self.row(r)[..self.classes];
                let mut best: Option<(usize, u64)> = None;
                for (k, &n) in row.iter().enumerate() {
                    if n > 0 && best.is_none_or(|(_, b)| n > b) {
                        best = Some((k, n));
                    }
                }
                best.map(|b| b.0)
            })
            .collect()
    }

    /// Confusion error with each channel mapped to its most frequent class; 0 when nothing is
    /// claimed.
    pub fn ce_many_to_one(&self) -> f64 {
        let claimed = self.n_claimed();
        if claimed == 0 {
            return 0.0;
        }
        let matched: u64 = self
            .many_to_one_assignment()
            .iter()
            .enumerate()
            .filter_map(|(r, k)| k.map(|k| self.row(r)[k]))
            .sum();
        1.0 - ratio(matched, claimed)
    }

    /// All four motif errors; [`Error::NoSamples`] for a table that holds neither a motif nor
    /// a prediction (nothing was scored: all four would read 0, a perfect score).
    pub fn errors(&self) -> Result<MotifErrors> {
        if self.n_motifs() == 0 && self.n_predictions() == 0 {
            return Err(Error::NoSamples {
                what: "the motif errors",
            });
        }
        Ok(MotifErrors {
            fpe: self.fpe(),
            fne: self.fne(),
            ce: self.ce(),
            ce_many_to_one: self.ce_many_to_one(),
        })
    }

    /// Adds a class named `name` (id = the old class count) and returns its id. Used when the
    /// classes are discovered while reading (the JSONL scorer).
    pub(crate) fn push_class(&mut self, name: String) -> usize {
        let old = self.classes;
        let mut counts = Vec::with_capacity((self.channels + 1) * (old + 2));
        for r in 0..=self.channels {
            let row = self.row(r);
            counts.extend_from_slice(&row[..old]);
            counts.push(0);
            counts.push(row[old]);
        }
        self.counts = counts;
        self.classes += 1;
        self.class_names
            .get_or_insert_with(|| (0..old).map(|k| k.to_string()).collect())
            .push(name);
        old
    }

    /// The same table with classes renumbered: new class `i` is old class `order[i]`
    /// (`order` must be a permutation of `0..classes`).
    pub(crate) fn reorder_classes(&self, order: &[usize]) -> Confusion {
        assert_eq!(
            order.len(),
            self.classes,
            "reorder_classes: order is not a permutation"
        );
        let mut out = Confusion::new(self.channels, self.classes);
        for r in 0..=self.channels {
            let row = self.row(r);
            let dst = r * (self.classes + 1);
            for (i, &k) in order.iter().enumerate() {
                out.counts[dst + i] = row[k];
            }
            out.counts[dst + self.classes] = row[self.classes];
        }
        out.class_names = Some(order.iter().map(|&k| self.class_label(k)).collect());
        out.multi_channel_footprints = self.multi_channel_footprints;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::MotifOutcome;
    use ndarray::Array3;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn sample(channels: usize, motifs: &[(Option<usize>, usize)], fp: &[u64]) -> SampleOutcome {
        SampleOutcome {
            channels,
            motifs: motifs
                .iter()
                .map(|&(predicted, class)| MotifOutcome {
                    class,
                    predicted,
                    channels_hit: predicted.is_some() as usize,
                })
                .collect(),
            false_positives: fp.to_vec(),
            multi_hits: vec![],
        }
    }

    #[test]
    fn confusion_hand_computed_metrics() {
        // 3 channels, 3 classes. Motifs: class 0 claimed by ch 1 (x3), class 1 by ch 0 (x2),
        // class 1 by ch 1 (x1), class 2 missed (x1), class 2 by ch 2 (x1). FPs: ch 0: 1, ch 2: 1.
        let mut c = Confusion::new(3, 3);
        let motifs = [
            (Some(1), 0),
            (Some(1), 0),
            (Some(1), 0),
            (Some(0), 1),
            (Some(0), 1),
            (Some(1), 1),
            (None, 2),
            (Some(2), 2),
        ];
        c.add(&sample(3, &motifs, &[1, 0, 1])).unwrap();
        assert_eq!(c.n_motifs(), 8);
        assert_eq!(c.n_predictions(), 7 + 2);
        assert_eq!(c.n_claimed(), 7);
        // FNE = 1/8, FPE = 2/9.
        assert_eq!(c.fne(), 1.0 / 8.0);
        assert_eq!(c.fpe(), 2.0 / 9.0);
        // Best one-to-one: ch0->1 (2), ch1->0 (3), ch2->2 (1): 6 of 7 -> CE = 1/7.
        assert_eq!(c.optimal_assignment(), vec![Some(1), Some(0), Some(2)]);
        assert_eq!(c.matched_one_to_one(), 6);
        assert!((c.ce() - 1.0 / 7.0).abs() < 1e-15);
        // Many-to-one: ch0->1 (2), ch1->0 (3), ch2->2 (1): also 6.
        assert_eq!(c.many_to_one_assignment(), vec![Some(1), Some(0), Some(2)]);
        assert!((c.ce_many_to_one() - 1.0 / 7.0).abs() < 1e-15);
        assert_eq!(c.count(Some(0), None), 1);
        assert_eq!(c.count(None, Some(2)), 1);
        assert_eq!(c.count(None, None), 0);
    }

    #[test]
    fn confusion_many_to_one_beats_one_to_one_with_extra_channels() {
        // Two channels both detect class 0 (a split class): one-to-one can only credit one.
        let mut c = Confusion::new(3, 2);
        c.record(Some(0), Some(0), 5).unwrap();
        c.record(Some(1), Some(0), 4).unwrap();
        c.record(Some(2), Some(1), 3).unwrap();
        c.record(Some(1), Some(1), 1).unwrap();
        // One-to-one: ch0->0 (5) + ch2->1 (3) = 8 of 13; many-to-one: 5 + 4 + 3 = 12 of 13.
        assert_eq!(c.optimal_assignment(), vec![Some(0), None, Some(1)]);
        assert!((c.ce() - 5.0 / 13.0).abs() < 1e-15);
        assert_eq!(c.many_to_one_assignment(), vec![Some(0), Some(0), Some(1)]);
        assert!((c.ce_many_to_one() - 1.0 / 13.0).abs() < 1e-15);
    }

    #[test]
    fn confusion_empty_cases_are_zero() {
        let c = Confusion::new(4, 3);
        assert!(matches!(c.errors(), Err(Error::NoSamples { .. })));
        assert_eq!(c.optimal_assignment(), vec![None; 4]);
        // Nothing predicted: FNE 1, the rest 0.
        let mut c = Confusion::new(2, 2);
        c.add(&sample(2, &[(None, 0), (None, 1)], &[0, 0])).unwrap();
        assert_eq!(
            c.errors().unwrap(),
            MotifErrors {
                fpe: 0.0,
                fne: 1.0,
                ce: 0.0,
                ce_many_to_one: 0.0
            }
        );
        // Nothing true: FPE 1, the rest 0.
        let mut c = Confusion::new(2, 2);
        c.add(&sample(2, &[], &[3, 1])).unwrap();
        assert_eq!(
            c.errors().unwrap(),
            MotifErrors {
                fpe: 1.0,
                fne: 0.0,
                ce: 0.0,
                ce_many_to_one: 0.0
            }
        );
        // No channels or no classes at all.
        assert!(matches!(
            Confusion::new(0, 0).errors(),
            Err(Error::NoSamples { .. })
        ));
        let mut c = Confusion::new(0, 2);
        c.record(None, Some(1), 2).unwrap();
        assert_eq!(c.fne(), 1.0);
    }

    #[test]
    fn confusion_ce_unchanged_when_channels_are_permuted() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..50 {
            let (channels, classes) = (rng.random_range(1..7), rng.random_range(1..7));
            let (h, w) = (12, 12);
            let mut perm: Vec<usize> = (0..channels).collect();
            perm.shuffle(&mut rng);
            let mut a = Confusion::new(channels, classes);
            let mut b = Confusion::new(channels, classes);
            for _ in 0..5 {
                // Continuous values: no ties, so the argmax follows the channels exactly.
                let mut m = Array3::<f32>::zeros((channels, h, w));
                for v in m.iter_mut() {
                    if rng.random::<f64>() < 0.05 {
                        *v = 0.01 + rng.random::<f32>();
                    }
                }
                let motifs: Vec<Motif> = (0..4)
                    .map(|i| Motif::rect(rng.random_range(0..classes), 3 * i..3 * i + 3, 0..4))
                    .collect();
                // Channel c of the permuted map is channel perm[c] of the original.
                let pm =
                    Array3::from_shape_fn((channels, h, w), |(c, r, col)| m[[perm[c], r, col]]);
                a.add_2d(m.view(), &motifs).unwrap();
                b.add_2d(pm.view(), &motifs).unwrap();
            }
            for c in 0..channels {
                for k in (0..classes).map(Some).chain([None]) {
                    assert_eq!(a.count(Some(perm[c]), k), b.count(Some(c), k));
                }
            }
            assert_eq!(a.ce(), b.ce());
            assert_eq!(a.ce_many_to_one(), b.ce_many_to_one());
            assert_eq!(a.errors().unwrap(), b.errors().unwrap());
            // The assignment follows the permutation (channel c of b is perm[c] of a) whenever
            // the optimum is unique; its matched count always agrees.
            assert_eq!(a.matched_one_to_one(), b.matched_one_to_one());

            // Random count tables with many ties, permuted directly.
            let mut t = Confusion::new(channels, classes);
            for r in 0..channels {
                for k in 0..classes {
                    t.record(Some(r), Some(k), rng.random_range(0..4)).unwrap();
                }
            }
            let mut tp = Confusion::new(channels, classes);
            for r in 0..channels {
                for k in 0..classes {
                    tp.record(Some(r), Some(k), t.count(Some(perm[r]), Some(k)))
                        .unwrap();
                }
            }
            assert_eq!(t.ce(), tp.ce());
            assert_eq!(t.ce_many_to_one(), tp.ce_many_to_one());
        }
    }

    #[test]
    fn confusion_merge_and_serde_roundtrip() {
        let mut a = Confusion::new(2, 2);
        a.add(&sample(2, &[(Some(0), 1), (None, 0)], &[2, 0]))
            .unwrap();
        let mut b = Confusion::new(2, 2);
        b.add(&sample(2, &[(Some(1), 1)], &[0, 5])).unwrap();
        let mut whole = Confusion::new(2, 2);
        whole
            .add(&sample(2, &[(Some(0), 1), (None, 0)], &[2, 0]))
            .unwrap();
        whole.add(&sample(2, &[(Some(1), 1)], &[0, 5])).unwrap();
        a.merge(&b).unwrap();
        assert_eq!(a, whole);
        assert!(matches!(
            a.merge(&Confusion::new(3, 2)),
            Err(Error::SizeMismatch { .. })
        ));
        assert!(matches!(
            a.merge(&Confusion::new(2, 1)),
            Err(Error::SizeMismatch { .. })
        ));

        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(
            json,
            r#"{"channels":2,"classes":2,"counts":[[0,1,2],[0,1,5],[1,0,0]],"multi_channel_footprints":0}"#
        );
        let back: Confusion = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        let bad = r#"{"channels":2,"classes":2,"counts":[[0,1,2],[0,1,5]]}"#;
        assert!(serde_json::from_str::<Confusion>(bad).is_err());
        let bad = r#"{"channels":1,"classes":1,"counts":[[0,1],[0,1]]}"#;
        assert!(serde_json::from_str::<Confusion>(bad).is_err());
    }

    #[test]
    fn confusion_rejects_out_of_range_samples() {
        let mut c = Confusion::new(2, 2);
        assert!(matches!(
            c.add(&sample(3, &[], &[0, 0, 0])),
            Err(Error::SizeMismatch { .. })
        ));
        assert!(matches!(
            c.add(&sample(2, &[(Some(0), 0), (Some(1), 2)], &[0, 0])),
            Err(Error::ClassOutOfRange { class: 2, .. })
        ));
        assert_eq!(c, Confusion::new(2, 2), "a rejected sample adds nothing");
        assert!(c.record(None, None, 1).is_err());
        assert!(c.record(Some(2), None, 1).is_err());
    }

    #[test]
    fn confusion_push_and_reorder_classes() {
        let mut c = Confusion::new(2, 0);
        let seven = c.push_class("7".into());
        let three = c.push_class("3".into());
        c.record(Some(0), Some(seven), 2).unwrap();
        c.record(Some(1), Some(three), 1).unwrap();
        c.record(Some(1), None, 4).unwrap();
        c.record(None, Some(three), 3).unwrap();
        let r = c.reorder_classes(&[three, seven]);
        assert_eq!(r.class_names().unwrap(), ["3", "7"]);
        assert_eq!(r.count(Some(0), Some(1)), 2);
        assert_eq!(r.count(Some(1), Some(0)), 1);
        assert_eq!(r.count(Some(1), None), 4);
        assert_eq!(r.count(None, Some(0)), 3);
        assert_eq!(r.errors().unwrap(), c.errors().unwrap());
    }

    #[test]
    fn confusion_batch_and_multi_hit_count() {
        let mut maps = ndarray::Array4::<f32>::zeros((2, 2, 3, 3));
        maps[[0, 0, 0, 0]] = 1.0;
        maps[[0, 1, 0, 1]] = 1.0; // both channels in sample 0's footprint
        maps[[1, 1, 2, 2]] = 1.0; // false positive in sample 1
        let motifs = vec![
            vec![Motif::rect(0, 0..1, 0..3)],
            vec![Motif::rect(1, 0..1, 0..1)],
        ];
        let mut c = Confusion::new(2, 2);
        c.add_batch_2d(maps.view(), &motifs).unwrap();
        assert_eq!(c.count(Some(0), Some(0)), 1);
        assert_eq!(c.count(None, Some(1)), 1);
        assert_eq!(c.count(Some(1), None), 1);
        assert_eq!(c.multi_channel_footprints(), 1);
        assert!(c.add_batch_2d(maps.view(), &motifs[..1]).is_err());
    }
}

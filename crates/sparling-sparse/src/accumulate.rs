//! The accumulated threshold estimator with bounded memory.
//!
//! The reference keeps every detached batch until `rows * density >= 10` (about ten expected
//! survivors per channel) and then takes one k-th value over their concatenation. Only the
//! largest values can be that k-th value: with `T` positions accumulated at the update, the
//! answer is the `r`-th largest, `r = T - max(1, floor(T * sparsity)) + 1`, about
//! `T * density + 1`. So the accumulator keeps, per channel, only the `cap` largest values
//! seen (sorted), where `cap` is `r` for the largest `T` the update can happen at: before the
//! update `T * density < 10`, so `T < 10 / density + largest batch`. That is about
//! `10 + batch * density + 2` values per channel, whatever the number of batches.
//!
//! The update is exact, equal to the k-th value of the concatenation: the kept values hold
//! every value that can still be the answer. A density *decrease* while accumulating (the
//! annealing schedule) only shrinks `r`. If a density increase or a batch larger than all
//! before it makes `r` exceed what was kept, the answer is still proven exact when it is not
//! below the largest discarded value (then no discarded value can move it); otherwise the
//! update returns [`Error::AccumulatorBound`] rather than a threshold that could be wrong.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kernel::layout::ChannelLayout;
use crate::kernel::scan::{Bracket, scan};
use crate::kernel::select::{SelectHint, kth_index, kth_smallest};

/// The state of the accumulated estimator (serialisable; restores exactly).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accumulator {
    /// Expected survivors per channel that trigger an update (the reference uses 10).
    pub min_survivors: f64,
    /// Positions per channel accumulated since the last update.
    pub positions: u64,
    /// Per channel: the kept candidates, sorted in decreasing order.
    pub kept: Vec<Vec<f32>>,
    /// Per channel: the largest value discarded since the last update.
    pub max_dropped: Vec<Option<f32>>,
    /// The largest batch (positions per channel) seen since construction.
    pub max_batch: u64,
}

impl Accumulator {
    /// An empty accumulator for `channels` groups.
    pub fn new(channels: usize, min_survivors: f64) -> Accumulator {
        Accumulator {
            min_survivors,
            positions: 0,
            kept: vec![Vec::new(); channels],
            max_dropped: vec![None; channels],
            max_batch: 0,
        }
    }

    /// Discards the accumulated candidates (keeps the batch-size bound).
    pub fn reset(&mut self) {
        self.positions = 0;
        self.kept.iter_mut().for_each(Vec::clear);
        self.max_dropped.iter_mut().for_each(|m| *m = None);
    }

    /// How many values per channel are kept at `density`: `r` at the largest number of
    /// positions an update can happen at.
    pub fn capacity(&self, density: f64) -> usize {
        capacity_for(self.min_survivors, density, self.max_batch)
    }

    /// Adds a batch (channels-first `data` in `layout`). When the accumulated positions reach
    /// `min_survivors / density`, returns the exact per-channel k-th smallest value over every
    /// batch since the last update (`k = max(1, floor(T * (1 - density)))`) and resets.
    /// The state is unchanged when an error is returned.
    pub fn push(
        &mut self,
        data: &[f32],
        layout: &ChannelLayout,
        density: f64,
        hints: &mut [Option<SelectHint>],
    ) -> Result<Option<Vec<f32>>> {
        let pb = layout.positions() as u64;
        let total = self.positions + pb;
        let max_batch = self.max_batch.max(pb);
        if total as f64 * density >= self.min_survivors {
            let t = total as usize;
            let r = t - kth_index(t, 1.0 - density) + 1;
            let top = top_values(data, layout, r.min(pb as usize), hints)?;
            let mut q = Vec::with_capacity(top.len());
            for (c, top) in top.iter().enumerate() {
                let merged = merge_desc(&self.kept[c], top);
                let exact =
                    merged.len() >= r && self.max_dropped[c].is_none_or(|md| merged[r - 1] >= md);
                if !exact {
                    return Err(Error::AccumulatorBound {
                        channel: c,
                        batch_positions: pb as usize,
                        bound: self.max_batch as usize,
                    });
                }
                q.push(merged[r - 1]);
            }
            self.max_batch = max_batch;
            self.reset();
            Ok(Some(q))
        } else {
            let cap = capacity_for(self.min_survivors, density, max_batch);
            let top = top_values(data, layout, (cap + 1).min(pb as usize), hints)?;
            self.max_batch = max_batch;
            self.positions = total;
            for (c, top) in top.iter().enumerate() {
                let mut merged = merge_desc(&self.kept[c], top);
                if merged.len() > cap {
                    let dropped = merged[cap];
                    self.max_dropped[c] =
                        Some(self.max_dropped[c].map_or(dropped, |m| m.max(dropped)));
                    merged.truncate(cap);
                }
                self.kept[c] = merged;
            }
            Ok(None)
        }
    }
}

/// `r = T - max(1, floor(T * (1 - density))) + 1` at the largest `T` an update can happen at
/// (`T < min_survivors / density + max_batch`); `r` does not decrease with `T`.
fn capacity_for(min_survivors: f64, density: f64, max_batch: u64) -> usize {
    let bound = (min_survivors / density).floor() as usize + 1 + max_batch as usize;
    bound - kth_index(bound, 1.0 - density) + 1
}

/// Merge of two decreasing sequences into one decreasing vector.
fn merge_desc(a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] >= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The `m` largest values of every channel (`m <= P`), in decreasing order.
pub(crate) fn top_values(
    data: &[f32],
    layout: &ChannelLayout,
    m: usize,
    hints: &mut [Option<SelectHint>],
) -> Result<Vec<Vec<f32>>> {
    let p = layout.positions();
    let c_n = layout.channels;
    if m == 0 {
        // Still reject non-finite inputs.
        kth_smallest(data, layout, &vec![1; c_n], hints)?;
        return Ok(vec![Vec::new(); c_n]);
    }
    let mth = kth_smallest(data, layout, &vec![p - m + 1; c_n], hints)?;
    let brackets: Vec<Option<Bracket>> = mth
        .iter()
        .map(|&v| {
            Some(Bracket {
                lo: v,
                hi: f32::INFINITY,
            })
        })
        .collect();
    // A point bracket would count instead of collecting: `v` is finite, so `lo < hi` here.
    let parts = scan(data, layout, &brackets, None);
    Ok(parts
        .into_iter()
        .map(|mut part| {
            part.cands.sort_unstable_by(|a, b| b.total_cmp(a));
            part.cands.truncate(m);
            part.cands
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::reference::{channel_values, kth_smallest_sorted};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn accumulator_literal() {
        // One channel, batches of 2 positions, density 0.5, trigger at 4 expected survivors:
        // after 4 batches (8 positions) k = 4, the 4th smallest of [5,1, 7,3, 2,8, 6,4] = 4.
        let l = ChannelLayout::of_shape("t", &[2, 1], None).unwrap();
        let mut acc = Accumulator::new(1, 4.0);
        let mut hints = vec![None];
        let batches = [[5.0, 1.0], [7.0, 3.0], [2.0, 8.0], [6.0, 4.0]];
        for b in &batches[..3] {
            assert_eq!(acc.push(b, &l, 0.5, &mut hints).unwrap(), None);
        }
        assert!(acc.kept[0].len() <= acc.capacity(0.5));
        assert_eq!(
            acc.push(&batches[3], &l, 0.5, &mut hints).unwrap(),
            Some(vec![4.0])
        );
        assert_eq!(acc.positions, 0);
    }

    #[test]
    fn accumulator_equals_concatenation_with_bounded_memory() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for &(density, n, inner) in &[(0.01, 3, 7), (0.002, 2, 50), (0.3, 1, 3), (1e-3, 4, 30)] {
            let c = 3;
            let l = ChannelLayout::of_shape("t", &[n, c, inner], None).unwrap();
            let mut acc = Accumulator::new(c, 10.0);
            let mut hints = vec![None; c];
            let mut all: Vec<Vec<f32>> = vec![Vec::new(); c];
            let mut updates = 0;
            for _ in 0..400 {
                // Values with many ties (integers) and a drift.
                let data: Vec<f32> = (0..l.len())
                    .map(|_| (rng.random_range(0..40) as f32) - 20.0)
                    .collect();
                for ch in 0..c {
                    all[ch].extend(channel_values(&data, &l, ch));
                }
                let got = acc.push(&data, &l, density, &mut hints).unwrap();
                for kept in &acc.kept {
                    assert!(kept.len() <= acc.capacity(density));
                }
                if let Some(q) = got {
                    let t = all[0].len();
                    let k = kth_index(t, 1.0 - density);
                    for ch in 0..c {
                        assert_eq!(q[ch], kth_smallest_sorted(&all[ch], k), "channel {ch}");
                    }
                    all.iter_mut().for_each(Vec::clear);
                    updates += 1;
                }
            }
            assert!(updates > 0);
        }
    }

    #[test]
    fn accumulator_survives_density_decrease() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let l = ChannelLayout::of_shape("t", &[2, 2, 50], None).unwrap();
        let mut acc = Accumulator::new(2, 10.0);
        let mut hints = vec![None; 2];
        let mut all: Vec<Vec<f32>> = vec![Vec::new(); 2];
        let mut density = 0.05;
        let mut checked = 0;
        for step in 0..300 {
            if step % 10 == 9 && step < 100 {
                density *= 0.75;
            }
            let data: Vec<f32> = (0..l.len()).map(|_| rng.random::<f32>()).collect();
            for ch in 0..2 {
                all[ch].extend(channel_values(&data, &l, ch));
            }
            if let Some(q) = acc.push(&data, &l, density, &mut hints).unwrap() {
                let k = kth_index(all[0].len(), 1.0 - density);
                for ch in 0..2 {
                    assert_eq!(q[ch], kth_smallest_sorted(&all[ch], k));
                }
                all.iter_mut().for_each(Vec::clear);
                checked += 1;
            }
        }
        assert!(checked > 3);
    }

    #[test]
    fn accumulator_refuses_an_unprovable_threshold() {
        // Batches of 1 position at density 0.1 keep about 12 values; a huge final batch of
        // tiny values needs the ~100th largest, which was discarded.
        let one = ChannelLayout::of_shape("t", &[1, 1], None).unwrap();
        let mut acc = Accumulator::new(1, 10.0);
        let mut hints = vec![None];
        for i in 0..99 {
            assert_eq!(acc.push(&[i as f32], &one, 0.1, &mut hints).unwrap(), None);
        }
        let big = ChannelLayout::of_shape("t", &[1000, 1], None).unwrap();
        let data = vec![-1.0f32; 1000];
        let before = acc.clone();
        let err = acc.push(&data, &big, 0.1, &mut hints).unwrap_err();
        assert!(
            matches!(err, Error::AccumulatorBound { channel: 0, .. }),
            "{err}"
        );
        assert_eq!(acc, before);
    }
}

//! [`ChannelLayout`]: how a channels-first tensor `(N, C, ...)` maps flat indices to channels,
//! and the fixed partition of the flat range into tasks that every kernel of this crate uses.
//!
//! The kernels never transpose: a channel's `P = N * S` positions are the `N` contiguous runs
//! `data[(n * C + c) * S .. (n * C + c + 1) * S]` (with `S` = H*W or L, and `S = 1` for a 2-D
//! `(N, C)` input). Work is cut into fixed-size flat chunks ([`TASK`]) whose results are
//! combined in chunk order, so results never depend on the number of threads.

use std::ops::Range;

use crate::error::{Error, Result};

/// Length of the flat chunks the kernels hand to rayon (fixed: results do not depend on it
/// being split differently, and it does not depend on the thread count).
pub const TASK: usize = 1 << 14;

/// The channels-first layout of a tensor: `batch` items, each holding `channels` contiguous maps
/// of `inner` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelLayout {
    /// N.
    pub batch: usize,
    /// C.
    pub channels: usize,
    /// S = product of the trailing dimensions (H*W, L, or 1).
    pub inner: usize,
}

impl ChannelLayout {
    /// The layout of a tensor of shape `(N, C, ...)`, checking that `C == channels` when given.
    pub fn of_shape(op: &'static str, shape: &[usize], channels: Option<usize>) -> Result<Self> {
        if shape.len() < 2 {
            return Err(Error::Shape {
                op,
                expected: "a channels-first tensor (N, C), (N, C, L) or (N, C, H, W)".into(),
                shape: shape.to_vec(),
            });
        }
        if let Some(c) = channels {
            if shape[1] != c {
                return Err(Error::Shape {
                    op,
                    expected: format!("{c} channels on axis 1"),
                    shape: shape.to_vec(),
                });
            }
        }
        let inner = shape[2..].iter().product();
        Ok(ChannelLayout {
            batch: shape[0],
            channels: shape[1],
            inner,
        })
    }

    /// All `len` values as one group (the single-threshold variant).
    pub fn single(len: usize) -> Self {
        ChannelLayout {
            batch: 1,
            channels: 1,
            inner: len,
        }
    }

    /// P: the number of positions of each channel (N * S).
    pub fn positions(&self) -> usize {
        self.batch * self.inner
    }

    /// Total number of values (N * C * S).
    pub fn len(&self) -> usize {
        self.batch * self.channels * self.inner
    }

    /// True if the layout holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The channel of a flat index.
    #[inline]
    pub fn channel_of(&self, flat: usize) -> usize {
        (flat / self.inner) % self.channels
    }

    /// The flat index of position `p` (in `0..P`, item-major) of channel `c`.
    #[inline]
    pub fn flat_index(&self, c: usize, p: usize) -> usize {
        ((p / self.inner) * self.channels + c) * self.inner + p % self.inner
    }

    /// `(channel, item, offset)` of a flat index.
    pub fn locate(&self, flat: usize) -> (usize, usize, usize) {
        let run = flat / self.inner;
        (run % self.channels, run / self.channels, flat % self.inner)
    }

    /// The maximal runs of equal channel inside a flat range: `(sub-range, channel)` in order.
    pub fn runs(&self, range: Range<usize>) -> Runs {
        Runs {
            inner: self.inner.max(1),
            channels: self.channels.max(1),
            pos: range.start,
            end: range.end,
        }
    }

    /// The fixed task partition of the flat range: `TASK`-long chunks (the last one shorter).
    pub fn tasks(&self) -> impl Iterator<Item = Range<usize>> + Clone {
        let len = self.len();
        (0..len.div_ceil(TASK)).map(move |t| t * TASK..((t + 1) * TASK).min(len))
    }

    /// Number of tasks of [`Self::tasks`].
    pub fn task_count(&self) -> usize {
        self.len().div_ceil(TASK)
    }
}

/// Iterator of [`ChannelLayout::runs`].
#[derive(Clone, Debug)]
pub struct Runs {
    inner: usize,
    channels: usize,
    pos: usize,
    end: usize,
}

impl Iterator for Runs {
    type Item = (Range<usize>, usize);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.end {
            return None;
        }
        let run = self.pos / self.inner;
        let stop = ((run + 1) * self.inner).min(self.end);
        let start = self.pos;
        self.pos = stop;
        Some((start..stop, run % self.channels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_runs_cover_range_in_channel_order() {
        let l = ChannelLayout::of_shape("t", &[2, 3, 4], Some(3)).unwrap();
        let runs: Vec<_> = l.runs(2..14).collect();
        assert_eq!(runs, vec![(2..4, 0), (4..8, 1), (8..12, 2), (12..14, 0)]);
        assert_eq!(l.flat_index(2, 5), (3 + 2) * 4 + 1);
        assert_eq!(l.locate(21), (2, 1, 1));
        assert_eq!(l.channel_of(21), 2);
        assert_eq!(l.positions(), 8);
    }

    #[test]
    fn layout_rejects_wrong_channels_and_rank() {
        assert!(ChannelLayout::of_shape("t", &[2, 3, 4], Some(4)).is_err());
        assert!(ChannelLayout::of_shape("t", &[5], None).is_err());
        let l = ChannelLayout::of_shape("t", &[7, 3], None).unwrap();
        assert_eq!((l.inner, l.positions()), (1, 7));
    }

    #[test]
    fn layout_tasks_partition_the_flat_range() {
        let l = ChannelLayout::single(3 * TASK + 5);
        let t: Vec<_> = l.tasks().collect();
        assert_eq!(t.len(), 4);
        assert_eq!(t[3], 3 * TASK..3 * TASK + 5);
    }
}

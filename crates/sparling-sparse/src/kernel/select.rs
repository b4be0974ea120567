//! The exact per-channel k-th smallest value (1-indexed) of a channels-first batch.
//!
//! Strategy (results never depend on it, only the speed does):
//! 1. Choose a value bracket per channel that should contain the answer: around the previous
//!    answer when a [`SelectHint`] is available (with momentum the threshold, hence the answer,
//!    moves slowly), else from order statistics of a small deterministic sample.
//! 2. One streaming pass (`scan`) counts the values below the bracket and collects the few
//!    inside it. At extreme sparsity the bracket is one-sided (`[lo, +inf)`), so only the top
//!    `P - k + 1` values and a margin are collected.
//! 3. If `below < k <= below + inside`, the answer is the `(k - below)`-th smallest candidate
//!    (`select_nth_unstable_by(f32::total_cmp)` on the small candidate set). Otherwise the
//!    bracket missed: the channel is rescanned with a sample bracket, and finally with the
//!    whole channel as candidates (the plain select on a scratch copy), which always succeeds.
//!
//! Every stage returns exactly the value a sort-based reference returns: the counts are exact
//! and the final select runs on exactly the values of the bracket.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::layout::ChannelLayout;
use super::scan::{Bracket, Part, non_finite_error, scan, scan_zero};
use crate::error::Result;

/// Below this many positions a channel is selected directly on a full copy.
pub(crate) const SMALL: usize = 4096;
/// Sample size of the sample-based bracket.
const SAMPLE: usize = 1024;

/// What the kernel remembers about a channel between calls, to pick its next bracket: the
/// previous answer and a half-width expected to hold a few hundred values around it. Pure
/// performance state: it never changes a result.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelectHint {
    /// The previous answer.
    pub value: f32,
    /// Half-width of the next bracket around it.
    pub width: f32,
    /// The previous answer was massively tied: bracket the single value.
    pub ties: bool,
    /// Recent batch-to-batch movement of the answer (a decaying maximum of the drift).
    pub spread: f32,
}

/// How the bracket of a channel was chosen in the current attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Hint,
    Sample,
    Full,
}

/// `k` for a sparsity: `max(1, floor(P * sparsity))`, clamped to `P` (computed in f64).
pub fn kth_index(positions: usize, sparsity: f64) -> usize {
    ((positions as f64 * sparsity).floor() as usize).clamp(1, positions.max(1))
}

/// The exact k-th smallest value (1-indexed, `1 <= k <= P`) of every channel of a channels-first
/// batch (`data` in the row-major order of `layout`); `ks[c]` is channel `c`'s k.
///
/// `hints` (one per channel, updated in place) only speed the selection up; pass a fresh
/// `vec![None; C]` when there is none. NaN or infinite values give [`crate::Error::NonFinite`] naming
/// the channel of the first one (in memory order).
///
/// # Panics
/// If `data`, `ks` or `hints` do not match the layout, or some `k` is outside `1..=P`.
pub fn kth_smallest(
    data: &[f32],
    layout: &ChannelLayout,
    ks: &[usize],
    hints: &mut [Option<SelectHint>],
) -> Result<Vec<f32>> {
    Ok(select(data, layout, ks, hints, None, None)?.values)
}

/// Per channel `(sum(v - shift), sum((v - shift)^2))`.
pub(crate) type Moments = Vec<(f64, f64)>;

/// What [`select`] returns.
pub(crate) struct Selected {
    /// The k-th value of each channel.
    pub values: Vec<f32>,
    /// The moments of each channel (zeros unless shifts were given).
    pub moments: Moments,
    /// With a zero-output buffer, when the single pass succeeded: the buffer is all zeros, and
    /// per channel the lower end `lo` of its one-sided bracket and the flat indices of
    /// every value `>= lo`.
    pub single_pass: Option<(Vec<f32>, Vec<Vec<u32>>)>,
}

/// [`kth_smallest`] that also returns, per channel, `(sum(v - shift[c]), sum((v - shift[c])^2))`
/// accumulated in the same pass (fixed-order f64 combination of f32 lane sums; identical
/// whichever pass variant runs).
///
/// With `zero_out` (as long as `data`), when every channel has a one-sided hint bracket (high
/// sparsity), the first pass also writes zeros to `zero_out` and records the indices of the
/// values in the brackets, so that the caller can write the few passing outputs without a
/// second pass over the data; see [`Selected::single_pass`].
pub(crate) fn select(
    data: &[f32],
    layout: &ChannelLayout,
    ks: &[usize],
    hints: &mut [Option<SelectHint>],
    shifts: Option<&[f32]>,
    mut zero_out: Option<&mut [std::mem::MaybeUninit<f32>]>,
) -> Result<Selected> {
    let c_n = layout.channels;
    let p = layout.positions();
    sparling_tensor::shape_check!(
        data.len() == layout.len() && ks.len() == c_n && hints.len() == c_n,
        "kth_smallest",
        "data of {} values, {} ks and {} hints for layout {:?}",
        data.len(),
        ks.len(),
        hints.len(),
        layout
    );
    sparling_tensor::shape_check!(
        p > 0 && ks.iter().all(|&k| (1..=p).contains(&k)),
        "kth_smallest",
        "every k must be in 1..={p}, got {:?}",
        ks
    );
    let mut stage: Vec<Stage> = (0..c_n)
        .map(|c| {
            if p <= SMALL {
                Stage::Full
            } else if hints[c].is_some() {
                Stage::Hint
            } else {
                Stage::Sample
            }
        })
        .collect();
    let single = zero_out.is_some()
        && (0..c_n).all(|c| {
            stage[c] == Stage::Hint
                && side(ks[c], p) == Side::Top
                && hints[c].as_ref().is_some_and(|h| !h.ties)
        });
    let mut single_pass = None;
    let mut answers: Vec<Option<f32>> = vec![None; c_n];
    let mut moments = vec![(0.0, 0.0); c_n];
    let mut first = true;
    while answers.iter().any(Option::is_none) {
        let brackets: Vec<Option<Bracket>> = (0..c_n)
            .into_par_iter()
            .map(|c| {
                answers[c].is_none().then(|| match stage[c] {
                    Stage::Hint => hint_bracket(hints[c].as_ref().expect("hint"), ks[c], p),
                    Stage::Sample => sample_bracket(data, layout, c, ks[c]),
                    Stage::Full => Bracket::ALL,
                })
            })
            .collect();
        let parts = match zero_out.take() {
            Some(out) if single && first => {
                let lows: Vec<f32> = brackets.iter().map(|b| b.expect("all active").lo).collect();
                let mut parts = scan_zero(data, layout, &lows, shifts, out);
                let idx = parts
                    .iter_mut()
                    .map(|pt| std::mem::take(&mut pt.idx))
                    .collect();
                single_pass = Some((lows, idx));
                parts
            }
            _ => scan(data, layout, &brackets, if first { shifts } else { None }),
        };
        if parts.iter().any(|pt| pt.bad) {
            return Err(non_finite_error(data, layout, "sparse k-th value")
                .expect("a non-finite value was flagged"));
        }
        if first {
            moments = parts.iter().map(|pt| (pt.s1, pt.s2)).collect();
            first = false;
        }
        let resolved: Vec<Option<(f32, Option<SelectHint>)>> = parts
            .into_par_iter()
            .zip(brackets.par_iter())
            .enumerate()
            .map(|(c, (part, br))| {
                let br = (*br)?;
                resolve(part, br, ks[c], p, hints[c].as_ref())
            })
            .collect();
        if resolved.iter().any(Option::is_none) {
            // A channel needs another pass: its single-pass candidates are incomplete.
            single_pass = None;
        }
        for c in 0..c_n {
            if answers[c].is_some() {
                continue;
            }
            match &resolved[c] {
                Some((v, hint)) => {
                    answers[c] = Some(*v);
                    hints[c] = *hint;
                }
                None => {
                    stage[c] = match stage[c] {
                        Stage::Hint => Stage::Sample,
                        Stage::Sample | Stage::Full => Stage::Full,
                    }
                }
            }
        }
    }
    Ok(Selected {
        values: answers.into_iter().map(|a| a.expect("resolved")).collect(),
        moments,
        single_pass,
    })
}

/// Target number of values inside a hint bracket beyond those it must hold.
fn target(p: usize) -> usize {
    (p / 512).max(64)
}

/// Which side a bracket is open on: the top `P - k + 1` values are few (high sparsity), the
/// bottom `k` are few (sparsity near 0), or neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Top,
    Bottom,
    Both,
}

pub(crate) fn side(k: usize, p: usize) -> Side {
    if p - k < p / 64 {
        Side::Top
    } else if k <= p / 64 {
        Side::Bottom
    } else {
        Side::Both
    }
}

pub(crate) fn hint_bracket(h: &SelectHint, k: usize, p: usize) -> Bracket {
    if h.ties {
        return Bracket {
            lo: h.value,
            hi: h.value,
        };
    }
    let (lo, hi) = (h.value - h.width, h.value + h.width);
    match side(k, p) {
        Side::Top => Bracket {
            lo,
            hi: f32::INFINITY,
        },
        Side::Bottom => Bracket {
            lo: f32::NEG_INFINITY,
            hi,
        },
        Side::Both => Bracket { lo, hi },
    }
}

/// SplitMix64: the deterministic position generator of the sample.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A bracket from order statistics of a deterministic sample of the channel: the answer's
/// expected sample rank plus or minus four standard deviations (and a constant).
pub(crate) fn sample_bracket(data: &[f32], layout: &ChannelLayout, c: usize, k: usize) -> Bracket {
    sample_bracket_fn(layout.positions(), c, k, |p| data[layout.flat_index(c, p)])
}

/// [`sample_bracket`] over `p` positions read through `value(position)`.
pub(crate) fn sample_bracket_fn(
    p: usize,
    c: usize,
    k: usize,
    value: impl Fn(usize) -> f32,
) -> Bracket {
    let mut state = (p as u64) ^ ((c as u64) << 40) ^ 0x5EED;
    let mut sample: Vec<f32> = (0..SAMPLE)
        .map(|_| value((splitmix(&mut state) % p as u64) as usize))
        .collect();
    let m = SAMPLE as f64;
    let q = k as f64 / p as f64;
    let expected = q * m;
    let delta = 4.0 * (m * q * (1.0 - q)).sqrt() + 4.0;
    let lo_rank = (expected - delta).floor();
    let hi_rank = (expected + delta).ceil();
    let lo = if lo_rank < 0.0 {
        f32::NEG_INFINITY
    } else {
        *sample
            .select_nth_unstable_by(lo_rank as usize, f32::total_cmp)
            .1
    };
    let hi = if hi_rank >= m {
        f32::INFINITY
    } else {
        *sample
            .select_nth_unstable_by(hi_rank as usize, f32::total_cmp)
            .1
    };
    Bracket { lo, hi }
}

/// A signed integer with the order of `f32::total_cmp`: negative floats have their magnitude
/// bits flipped (the map is its own inverse).
#[inline]
fn order_key(v: f32) -> i32 {
    let b = v.to_bits() as i32;
    b ^ (((b >> 31) as u32) >> 1) as i32
}

/// The inverse of [`order_key`].
#[inline]
fn from_order_key(k: i32) -> f32 {
    f32::from_bits((k ^ (((k >> 31) as u32) >> 1) as i32) as u32)
}

/// The answer from one channel's pass if the bracket held it, with the hint for the next call.
pub(crate) fn resolve(
    part: Part,
    br: Bracket,
    k: usize,
    p: usize,
    old: Option<&SelectHint>,
) -> Option<(f32, Option<SelectHint>)> {
    let below = part.below as usize;
    let inside = part.inside as usize;
    if k <= below || k > below + inside {
        return None;
    }
    if br.is_point() {
        let hint = SelectHint {
            value: br.lo,
            width: old.map_or(0.0, |h| h.width),
            ties: true,
            spread: old.map_or(0.0, |h| h.spread),
        };
        return Some((br.lo, Some(hint)));
    }
    debug_assert_eq!(part.cands.len(), inside);
    // Select on integer keys ordered like `f32::total_cmp` (faster than comparing floats).
    let mut keys: Vec<i32> = part.cands.iter().map(|&v| order_key(v)).collect();
    let idx = k - below - 1;
    let (left, &mut qk, right) = keys.select_nth_unstable(idx);
    let q = from_order_key(qk);
    // Width that would hold about `target` values beyond the needed ones, read off the
    // candidates' ranks; widen when the candidates do not reach that far.
    let t = target(p);
    let half = (t / 2).max(1);
    let widen = |w: f32| {
        if w.is_finite() && w > 0.0 {
            2.0 * w
        } else {
            f32::NAN
        }
    };
    let below_w = |left: &mut [i32], need: usize| -> Option<f32> {
        (left.len() >= need).then(|| {
            let j = left.len() - need;
            q - from_order_key(*left.select_nth_unstable(j).1)
        })
    };
    let above_w = |right: &mut [i32], need: usize| -> Option<f32> {
        (right.len() >= need).then(|| from_order_key(*right.select_nth_unstable(need - 1).1) - q)
    };
    let width = match side(k, p) {
        Side::Top => below_w(left, t).unwrap_or_else(|| widen(q - br.lo)),
        Side::Bottom => above_w(right, t).unwrap_or_else(|| widen(br.hi - q)),
        Side::Both => {
            let a = below_w(left, half).unwrap_or_else(|| widen(q - br.lo));
            let b = above_w(right, half).unwrap_or_else(|| widen(br.hi - q));
            a.max(b)
        }
    };
    // Margin for the answer's movement between batches: three times a decaying maximum of
    // the observed drift, and no faster shrinking than by half per call.
    let mut width = width;
    let mut spread = 0.0f32;
    if let Some(h) = old {
        let drift = (q - h.value).abs();
        spread = drift.max(0.9 * h.spread);
        width = width.max(3.0 * spread).max(0.5 * h.width);
    }
    let hint = if width == 0.0 {
        Some(SelectHint {
            value: q,
            width: 0.0,
            ties: true,
            spread,
        })
    } else if width.is_finite() && spread.is_finite() {
        Some(SelectHint {
            value: q,
            width,
            ties: false,
            spread,
        })
    } else {
        None
    };
    Some((q, hint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn order_keys_sort_like_total_cmp() {
        let mut v = vec![
            -f32::MAX,
            -3.5,
            -1e-30,
            -0.0,
            0.0,
            1e-40,
            2.0,
            f32::MAX,
            -1e-40,
            7.25,
            -7.25,
        ];
        let mut keys: Vec<i32> = v.iter().map(|&x| order_key(x)).collect();
        keys.sort_unstable();
        v.sort_by(f32::total_cmp);
        let back: Vec<u32> = keys.iter().map(|&k| from_order_key(k).to_bits()).collect();
        assert_eq!(back, v.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
    }

    #[test]
    fn kth_index_follows_spec() {
        assert_eq!(kth_index(100_000, 0.5), 50_000);
        assert_eq!(kth_index(10, 0.0), 1);
        assert_eq!(kth_index(1, 0.9), 1);
        assert_eq!(kth_index(100_000, 1.0 - 0.5 * 0.75f64.powi(32)), 99_994);
    }

    #[test]
    fn select_literal() {
        // Channel 0 = [3, 1, 2, 5], channel 1 = [0, 0, -1, 4]; 2nd smallest: 2 and 0.
        let data = [3.0, 1.0, 0.0, 0.0, 2.0, 5.0, -1.0, 4.0];
        let l = ChannelLayout::of_shape("t", &[2, 2, 2], None).unwrap();
        let q = kth_smallest(&data, &l, &[2, 2], &mut [None, None]).unwrap();
        assert_eq!(q, vec![2.0, 0.0]);
    }

    #[test]
    fn select_reports_the_channel_of_a_non_finite_value() {
        let mut data = vec![0.5f32; 2 * 3 * 5000];
        data[5000 + 17] = f32::INFINITY;
        let l = ChannelLayout::of_shape("t", &[2, 3, 5000], None).unwrap();
        let err = kth_smallest(&data, &l, &[1, 1, 1], &mut [None; 3]).unwrap_err();
        match err {
            Error::NonFinite {
                channel,
                item,
                offset,
                ..
            } => assert_eq!((channel, item, offset), (1, 0, 17)),
            e => panic!("unexpected {e}"),
        }
    }
}

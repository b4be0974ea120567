//! The training forward as one pipeline per channel: select the channel's k-th value (and its
//! BatchNorm moments), update its threshold, and write its outputs and mask, back to back on
//! the same thread, so that the output pass reads the channel's values from cache rather than
//! from memory. Channels run in parallel, and each channel's N maps run in parallel too when
//! threads are idle (nested rayon; ordered combination, so results do not depend on the thread
//! count).
//!
//! Used when every map is at least [`MIN_INNER`] values long and a multiple of 8 (each map then
//! owns whole bytes of the bitset mask); other layouts take the all-channel passes
//! (`select` then `finish`). The choice depends only on the layout.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::apply::{Mask, MaskMode, Run, affine_value, apply_run};
use super::layout::ChannelLayout;
use super::scan::{Bracket, Part, non_finite_error, scan_run, scan_zero_run};
use super::select::{SMALL, SelectHint, Side, Stage, hint_bracket, resolve, side};
use crate::error::Result;

/// Shortest map (H*W or L) handled per channel.
pub(crate) const MIN_INNER: usize = 1024;

/// True if the per-channel pipeline handles this layout.
pub(crate) fn eligible(layout: &ChannelLayout) -> bool {
    layout.inner >= MIN_INNER && layout.inner % 8 == 0 && layout.len() <= u32::MAX as usize
}

/// BatchNorm settings of the fused layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BnParams<'a> {
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub eps: f64,
}

/// What a training step needs besides the data.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrainSpec<'a> {
    /// Per channel: k in the space the selection runs in (the input `z`).
    pub ks: &'a [usize],
    /// BatchNorm in front (batch statistics), or none.
    pub bn: Option<BnParams<'a>>,
    /// Thresholds before the step.
    pub t_old: &'a [f32],
    /// Threshold momentum.
    pub momentum: f64,
    /// Move the thresholds (false only in tests).
    pub update: bool,
    /// Mask to build.
    pub mode: MaskMode,
}

/// Per-channel results of a training step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChannelStep {
    /// The threshold after the step.
    pub t: f32,
    /// Batch mean (f64; the BatchNorm's, or 0 without one).
    pub mean: f64,
    /// Biased batch variance (0 without BatchNorm).
    pub var: f64,
    /// The mean as used in the normalisation.
    pub mean32: f32,
    /// `1 / sqrt(var + eps)` (1 without BatchNorm).
    pub inv_std: f32,
}

/// `scale = w / std`, `shift = b - mean * scale` (as `sparling_tensor`'s `batch_norm`).
pub(crate) fn scale_shift(mean: f32, inv_std: f32, gamma: f32, beta: f32) -> (f32, f32) {
    let scale = inv_std * gamma;
    (scale, beta - mean * scale)
}

/// BatchNorm statistics from the shifted moments of `p` values.
pub(crate) fn bn_stats(
    pivot: f32,
    moments: (f64, f64),
    p: usize,
    eps: f64,
) -> (f64, f64, f32, f32) {
    let m = p as f64;
    let d = moments.0 / m;
    let mean = pivot as f64 + d;
    let var = (moments.1 / m - d * d).max(0.0);
    let inv_std = (1.0 / (var + eps).sqrt()) as f32;
    (mean, var, mean as f32, inv_std)
}

/// One channel's slices: its N maps of input, output and (bitset mode) mask bytes.
struct ChannelBufs<'a> {
    x: Vec<&'a [f32]>,
    out: Vec<&'a mut [MaybeUninit<f32>]>,
    bits: Vec<&'a mut [u8]>,
}

/// The training step of every channel (see the module docs): returns the output, the mask
/// (if requested) and the per-channel results. Hints are updated in place. A NaN or infinite
/// input gives [`Error::NonFinite`] naming the first one in memory order.
pub(crate) fn train_step(
    data: &[f32],
    layout: &ChannelLayout,
    spec: TrainSpec<'_>,
    hints: &mut [Option<SelectHint>],
) -> Result<(Vec<f32>, Option<Mask>, Vec<ChannelStep>)> {
    let (c_n, s, n) = (layout.channels, layout.inner, layout.batch);
    let len = layout.len();
    assert!(
        eligible(layout) && data.len() == len,
        "train_step: layout {layout:?}"
    );
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let mut bits: Vec<u8> = if spec.mode == MaskMode::Bits {
        vec![0; len / 8]
    } else {
        Vec::new()
    };
    let mut bufs: Vec<ChannelBufs<'_>> = (0..c_n)
        .map(|_| ChannelBufs {
            x: Vec::with_capacity(n),
            out: Vec::with_capacity(n),
            bits: Vec::new(),
        })
        .collect();
    for (i, x) in data.chunks(s).enumerate() {
        bufs[i % c_n].x.push(x);
    }
    for (i, o) in out.spare_capacity_mut()[..len].chunks_mut(s).enumerate() {
        bufs[i % c_n].out.push(o);
    }
    if spec.mode == MaskMode::Bits {
        for (i, b) in bits.chunks_mut(s / 8).enumerate() {
            bufs[i % c_n].bits.push(b);
        }
    }
    let results: Vec<Option<(ChannelStep, Vec<Vec<u32>>)>> = bufs
        .into_par_iter()
        .zip(hints.par_iter_mut())
        .enumerate()
        .map(|(c, (b, hint))| channel_step(c, b, layout, &spec, hint))
        .collect();
    if results.iter().any(Option::is_none) {
        return Err(non_finite_error(data, layout, "sparse k-th value")
            .expect("a non-finite value was flagged"));
    }
    // SAFETY: every channel wrote all values of its maps (zeros plus fix-ups, or the full
    // output pass), and the maps cover `0..len`.
    unsafe { out.set_len(len) };
    let mut steps = Vec::with_capacity(c_n);
    let mut per_map: Vec<Vec<Vec<u32>>> = Vec::with_capacity(c_n);
    for r in results {
        let (step, maps) = r.expect("checked above");
        steps.push(step);
        per_map.push(maps);
    }
    let mask = match spec.mode {
        MaskMode::None => None,
        MaskMode::Bits => Some(Mask::Bits(bits)),
        MaskMode::Sparse => {
            // Maps in memory order (item-major, then channel): the indices come out sorted.
            let mut idx = Vec::new();
            for i in 0..n {
                for maps in &per_map {
                    idx.extend_from_slice(&maps[i]);
                }
            }
            Some(Mask::Sparse(idx))
        }
    };
    Ok((out, mask, steps))
}

/// One channel's pipeline; `None` if the channel holds a non-finite value.
fn channel_step(
    c: usize,
    mut b: ChannelBufs<'_>,
    layout: &ChannelLayout,
    spec: &TrainSpec<'_>,
    hint: &mut Option<SelectHint>,
) -> Option<(ChannelStep, Vec<Vec<u32>>)> {
    let (c_n, s) = (layout.channels, layout.inner);
    let p = layout.positions();
    let k = spec.ks[c];
    let base = |i: usize| (i * c_n + c) * s;
    let simd = super::simd::simd_active();
    let pivot = b.x[0][0];
    let shift = spec.bn.map(|_| pivot);
    let mut stage = if p <= SMALL {
        Stage::Full
    } else if hint.is_some() {
        Stage::Hint
    } else {
        Stage::Sample
    };
    let single = stage == Stage::Hint
        && side(k, p) == Side::Top
        && hint.as_ref().is_some_and(|h| !h.ties)
        && spec.mode != MaskMode::Bits;
    let mut moments = (0.0f64, 0.0f64);
    let mut single_idx: Option<(f32, Vec<Vec<u32>>)> = None;
    let mut first = true;
    let q = loop {
        let br = match stage {
            Stage::Hint => hint_bracket(hint.as_ref().expect("hint"), k, p),
            Stage::Sample => sample_bracket_channel(&b.x, layout, c, k),
            Stage::Full => Bracket::ALL,
        };
        let parts: Vec<Part> = if first && single {
            b.x.par_iter()
                .zip(b.out.par_iter_mut())
                .enumerate()
                .map(|(i, (x, o))| {
                    let mut part = Part::default();
                    match shift {
                        Some(sh) => {
                            scan_zero_run::<true>(simd, x, o, br.lo, sh, base(i), &mut part)
                        }
                        None => scan_zero_run::<false>(simd, x, o, br.lo, 0.0, base(i), &mut part),
                    }
                    part.inside = part.cands.len() as u64;
                    part
                })
                .collect()
        } else {
            let moments_now = first && shift.is_some();
            let sh = shift.unwrap_or(0.0);
            b.x.par_iter()
                .map(|x| {
                    let mut part = Part::default();
                    match (br.is_point(), moments_now) {
                        (false, false) => scan_run::<true, false>(simd, x, br, sh, &mut part),
                        (true, false) => scan_run::<false, false>(simd, x, br, sh, &mut part),
                        (false, true) => scan_run::<true, true>(simd, x, br, sh, &mut part),
                        (true, true) => scan_run::<false, true>(simd, x, br, sh, &mut part),
                    }
                    part
                })
                .collect()
        };
        let mut merged = Part::default();
        let mut idx_maps = Vec::new();
        for mut part in parts {
            merged.below += part.below;
            merged.inside += part.inside;
            merged.bad |= part.bad;
            merged.s1 += part.s1;
            merged.s2 += part.s2;
            merged.cands.extend_from_slice(&part.cands);
            idx_maps.push(std::mem::take(&mut part.idx));
        }
        if merged.bad {
            return None;
        }
        if first {
            moments = (merged.s1, merged.s2);
        }
        let was_single = first && single;
        first = false;
        match resolve(merged, br, k, p, hint.as_ref()) {
            Some((q, h)) => {
                *hint = h;
                if was_single {
                    single_idx = Some((br.lo, idx_maps));
                }
                break q;
            }
            None => {
                stage = match stage {
                    Stage::Hint => Stage::Sample,
                    Stage::Sample | Stage::Full => Stage::Full,
                }
            }
        }
    };
    // Statistics, the threshold update, and the per-channel affine map y = z * scale + shift.
    let (step, scale, shift_y) = match spec.bn {
        Some(bn) => {
            let (mean, var, mean32, inv_std) = bn_stats(pivot, moments, p, bn.eps);
            let (scale, sh) = scale_shift(mean32, inv_std, bn.gamma[c], bn.beta[c]);
            let step = ChannelStep {
                t: spec.t_old[c],
                mean,
                var,
                mean32,
                inv_std,
            };
            (step, scale, sh)
        }
        None => {
            let step = ChannelStep {
                t: spec.t_old[c],
                mean: 0.0,
                var: 0.0,
                mean32: 0.0,
                inv_std: 1.0,
            };
            (step, 1.0, 0.0)
        }
    };
    let qy = if spec.bn.is_some() {
        affine_value(q, scale, shift_y)
    } else {
        q
    };
    let t = if spec.update {
        let keep = (1.0 - spec.momentum) as f32;
        let new = spec.momentum as f32;
        spec.t_old[c] * keep + qy * new
    } else {
        spec.t_old[c]
    };
    let step = ChannelStep { t, ..step };
    let y = |z: f32| {
        if spec.bn.is_some() {
            affine_value(z, scale, shift_y)
        } else {
            z
        }
    };
    // The single pass already zeroed the output: write the few passing values, if no value
    // below the bracket can pass (y(lo) <= t, y non-decreasing).
    if let Some((lo, idx_maps)) = single_idx {
        if y(lo) <= t {
            let maps: Vec<Vec<u32>> = idx_maps
                .into_iter()
                .enumerate()
                .map(|(i, idx)| {
                    let mut passing = Vec::new();
                    for flat in idx {
                        let off = flat as usize - base(i);
                        let d = y(b.x[i][off]) - t;
                        if d > 0.0 {
                            b.out[i][off].write(d);
                            passing.push(flat);
                        }
                    }
                    passing
                })
                .collect();
            return Some((step, maps));
        }
    }
    let affine = spec.bn.is_some();
    let mode = spec.mode;
    let consts = (t, scale, shift_y);
    let maps: Vec<Vec<u32>> = if mode == MaskMode::Bits {
        b.x.par_iter()
            .zip(b.out.par_iter_mut())
            .zip(b.bits.par_iter_mut())
            .enumerate()
            .map(|(i, ((x, o), bits))| {
                let run = Run {
                    x,
                    out: o,
                    bits,
                    rel: 0,
                    base: base(i),
                    c: consts,
                };
                let mut sparse = Vec::new();
                if affine {
                    apply_run::<true, 1>(simd, run, &mut sparse);
                } else {
                    apply_run::<false, 1>(simd, run, &mut sparse);
                }
                sparse
            })
            .collect()
    } else {
        b.x.par_iter()
            .zip(b.out.par_iter_mut())
            .enumerate()
            .map(|(i, (x, o))| {
                let run = Run {
                    x,
                    out: o,
                    bits: &mut [],
                    rel: 0,
                    base: base(i),
                    c: consts,
                };
                let mut sparse = Vec::new();
                match (affine, mode) {
                    (true, MaskMode::Sparse) => apply_run::<true, 2>(simd, run, &mut sparse),
                    (false, MaskMode::Sparse) => apply_run::<false, 2>(simd, run, &mut sparse),
                    (true, _) => apply_run::<true, 0>(simd, run, &mut sparse),
                    (false, _) => apply_run::<false, 0>(simd, run, &mut sparse),
                }
                sparse
            })
            .collect()
    };
    Some((step, maps))
}

/// [`sample_bracket`] on one channel's maps.
fn sample_bracket_channel(x: &[&[f32]], layout: &ChannelLayout, c: usize, k: usize) -> Bracket {
    // The sample positions are defined on the full layout; reassemble the channel's view.
    let single = ChannelLayout {
        batch: layout.batch,
        channels: 1,
        inner: layout.inner,
    };
    let gather = SampleView { maps: x };
    sample_bracket_with(&gather, &single, c, k)
}

/// The channel's maps as one logical array for the sampler.
struct SampleView<'a, 'b> {
    maps: &'a [&'b [f32]],
}

fn sample_bracket_with(
    v: &SampleView<'_, '_>,
    layout: &ChannelLayout,
    c: usize,
    k: usize,
) -> Bracket {
    super::select::sample_bracket_fn(layout.positions(), c, k, |p| {
        v.maps[p / layout.inner][p % layout.inner]
    })
}

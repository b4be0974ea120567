//! The streaming pass of the k-th value kernel: for each channel, count the values below a
//! bracket `[lo, hi]`, collect (or count) the values inside it, flag non-finite values and,
//! for the fused BatchNorm, accumulate shifted first and second moments, all in one read of
//! the input in its channels-first layout.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::layout::{ChannelLayout, TASK};
use crate::error::Error;

/// An inclusive value bracket `[lo, hi]` (`lo` may be `-inf`, `hi` may be `+inf`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Bracket {
    pub lo: f32,
    pub hi: f32,
}

impl Bracket {
    /// Every finite value.
    pub const ALL: Bracket = Bracket {
        lo: f32::NEG_INFINITY,
        hi: f32::INFINITY,
    };

    /// True if the bracket is a single point: values inside are counted, not collected.
    pub fn is_point(&self) -> bool {
        self.lo == self.hi
    }
}

/// The per-channel result of one task (or, once merged, of a whole pass).
#[derive(Clone, Debug, Default)]
pub(crate) struct Part {
    /// Values `< lo`.
    pub below: u64,
    /// Values inside the bracket.
    pub inside: u64,
    /// The values inside the bracket (empty for a point bracket).
    pub cands: Vec<f32>,
    /// Some value is NaN or infinite.
    pub bad: bool,
    /// Sum of `v - shift` (only when moments are requested).
    pub s1: f64,
    /// Sum of `(v - shift)^2` (only when moments are requested).
    pub s2: f64,
    /// Flat indices of the collected values (only in the zero-writing pass).
    pub idx: Vec<u32>,
}

/// Lanes of the explicit vector accumulators (independent lanes let LLVM vectorise the loop
/// without reassociating floating-point sums).
const L: usize = 8;
/// Values per f32 moment block before the lane sums are flushed into f64.
pub(crate) const FLUSH: usize = 1024;

#[inline(always)]
fn scan_run_portable<const COLLECT: bool, const MOMENTS: bool>(
    x: &[f32],
    br: Bracket,
    shift: f32,
    part: &mut Part,
) {
    let (lo, hi) = (br.lo, br.hi);
    let mut below = [0u32; L];
    let mut inside = [0u32; L];
    let mut bad = [0u32; L];
    for block in x.chunks(FLUSH) {
        let mut s1 = [0f32; L];
        let mut s2 = [0f32; L];
        let mut lanes = block.chunks_exact(L);
        for b in &mut lanes {
            let mut any = 0u32;
            for i in 0..L {
                let v = b[i];
                below[i] += (v < lo) as u32;
                let ins = ((v >= lo) & (v <= hi)) as u32;
                inside[i] += ins;
                any |= ins;
                bad[i] |= (!v.is_finite()) as u32;
                if MOMENTS {
                    let d = v - shift;
                    s1[i] += d;
                    s2[i] += d * d;
                }
            }
            if COLLECT && any != 0 {
                for &v in b {
                    if v >= lo && v <= hi {
                        part.cands.push(v);
                    }
                }
            }
        }
        for &v in lanes.remainder() {
            below[0] += (v < lo) as u32;
            let ins = v >= lo && v <= hi;
            inside[0] += ins as u32;
            if COLLECT && ins {
                part.cands.push(v);
            }
            bad[0] |= (!v.is_finite()) as u32;
            if MOMENTS {
                let d = v - shift;
                s1[0] += d;
                s2[0] += d * d;
            }
        }
        if MOMENTS {
            part.s1 += s1.iter().map(|&v| v as f64).sum::<f64>();
            part.s2 += s2.iter().map(|&v| v as f64).sum::<f64>();
        }
    }
    part.below += below.iter().map(|&v| v as u64).sum::<u64>();
    part.inside += inside.iter().map(|&v| v as u64).sum::<u64>();
    part.bad |= bad.iter().any(|&b| b != 0);
}

/// Dispatches one run to the AVX2 or the portable kernel (bit-identical results).
#[inline(always)]
pub(crate) fn scan_run<const COLLECT: bool, const MOMENTS: bool>(
    simd: bool,
    x: &[f32],
    br: Bracket,
    shift: f32,
    part: &mut Part,
) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is only true when the CPU supports AVX2.
        unsafe { super::simd::avx2::scan_run::<COLLECT, MOMENTS>(x, br, shift, part) };
        return;
    }
    let _ = simd;
    scan_run_portable::<COLLECT, MOMENTS>(x, br, shift, part);
}

/// One pass over `data`: for every channel with a bracket, its [`Part`]. Channels whose
/// bracket is `None` are skipped. With `shifts`, the shifted moments of every channel are
/// accumulated too (then every channel must have a bracket). Task results are merged in task
/// order, so the result does not depend on the number of threads.
pub(crate) fn scan(
    data: &[f32],
    layout: &ChannelLayout,
    brackets: &[Option<Bracket>],
    shifts: Option<&[f32]>,
) -> Vec<Part> {
    let tasks: Vec<_> = layout.tasks().collect();
    let simd = super::simd::simd_active();
    let run_task = |range: &std::ops::Range<usize>| -> Vec<(usize, Part)> {
        let mut parts: Vec<(usize, Part)> = Vec::new();
        for (run, c) in layout.runs(range.clone()) {
            let Some(br) = brackets[c] else { continue };
            let idx = match parts.iter().position(|(pc, _)| *pc == c) {
                Some(i) => i,
                None => {
                    parts.push((c, Part::default()));
                    parts.len() - 1
                }
            };
            let part = &mut parts[idx].1;
            let x = &data[run];
            let shift = shifts.map_or(0.0, |s| s[c]);
            match (br.is_point(), shifts.is_some()) {
                (false, false) => scan_run::<true, false>(simd, x, br, shift, part),
                (true, false) => scan_run::<false, false>(simd, x, br, shift, part),
                (false, true) => scan_run::<true, true>(simd, x, br, shift, part),
                (true, true) => scan_run::<false, true>(simd, x, br, shift, part),
            }
        }
        parts
    };
    let per_task: Vec<Vec<(usize, Part)>> = if tasks.len() > 1 {
        tasks.par_iter().map(run_task).collect()
    } else {
        tasks.iter().map(run_task).collect()
    };
    let mut merged: Vec<Part> = vec![Part::default(); brackets.len()];
    for parts in per_task {
        for (c, p) in parts {
            let m = &mut merged[c];
            m.below += p.below;
            m.inside += p.inside;
            m.bad |= p.bad;
            m.s1 += p.s1;
            m.s2 += p.s2;
            if m.cands.is_empty() {
                m.cands = p.cands;
            } else {
                m.cands.extend_from_slice(&p.cands);
            }
        }
    }
    merged
}

/// Portable kernel of [`scan_zero`] for one run: like `scan_run_portable` with the bracket
/// `[lo, +inf)`, collecting values and their flat indices (`base + j`) and writing zeros to
/// `out`. The moments follow exactly the same lane and block structure as `scan_run_portable`.
#[inline(always)]
fn scan_zero_run_portable<const MOMENTS: bool>(
    x: &[f32],
    out: &mut [MaybeUninit<f32>],
    lo: f32,
    shift: f32,
    base: usize,
    part: &mut Part,
) {
    let mut below = 0u64;
    let mut bad = false;
    let mut offset = 0;
    for block in x.chunks(FLUSH) {
        let mut s1 = [0f32; L];
        let mut s2 = [0f32; L];
        let full = block.len() / L * L;
        for (j, &v) in block.iter().enumerate() {
            below += (v < lo) as u64;
            if v >= lo {
                part.cands.push(v);
                part.idx.push((base + offset + j) as u32);
            }
            bad |= !v.is_finite();
            out[offset + j].write(0.0);
            if MOMENTS {
                let lane = if j < full { j % L } else { 0 };
                let d = v - shift;
                s1[lane] += d;
                s2[lane] += d * d;
            }
        }
        if MOMENTS {
            part.s1 += s1.iter().map(|&v| v as f64).sum::<f64>();
            part.s2 += s2.iter().map(|&v| v as f64).sum::<f64>();
        }
        offset += block.len();
    }
    part.below += below;
    part.bad |= bad;
}

#[inline(always)]
pub(crate) fn scan_zero_run<const MOMENTS: bool>(
    simd: bool,
    x: &[f32],
    out: &mut [MaybeUninit<f32>],
    lo: f32,
    shift: f32,
    base: usize,
    part: &mut Part,
) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is only true when the CPU supports AVX2; `out` matches `x`.
        unsafe { super::simd::avx2::scan_zero_run::<MOMENTS>(x, out, lo, shift, base, part) };
        return;
    }
    let _ = simd;
    scan_zero_run_portable::<MOMENTS>(x, out, lo, shift, base, part);
}

/// The single-pass variant for one-sided (`[lo, +inf)`) brackets on every channel: the scan of
/// [`scan`] that also writes zeros to all of `out` and records, per channel, the flat indices
/// of the collected values (every value `>= lo`). The moments are bit-identical to [`scan`]'s.
pub(crate) fn scan_zero(
    data: &[f32],
    layout: &ChannelLayout,
    lows: &[f32],
    shifts: Option<&[f32]>,
    out: &mut [MaybeUninit<f32>],
) -> Vec<Part> {
    let simd = super::simd::simd_active();
    let per_task: Vec<Vec<(usize, Part)>> = out
        .par_chunks_mut(TASK)
        .zip(data.par_chunks(TASK))
        .enumerate()
        .map(|(t, (o, x))| {
            let start = t * TASK;
            let mut parts: Vec<(usize, Part)> = Vec::new();
            for (run, c) in layout.runs(start..start + x.len()) {
                let idx = match parts.iter().position(|(pc, _)| *pc == c) {
                    Some(i) => i,
                    None => {
                        parts.push((c, Part::default()));
                        parts.len() - 1
                    }
                };
                let part = &mut parts[idx].1;
                let r = run.start - start..run.end - start;
                let (xr, or) = (&x[r.clone()], &mut o[r]);
                match shifts {
                    None => scan_zero_run::<false>(simd, xr, or, lows[c], 0.0, run.start, part),
                    Some(s) => scan_zero_run::<true>(simd, xr, or, lows[c], s[c], run.start, part),
                }
            }
            parts
        })
        .collect();
    let mut merged: Vec<Part> = vec![Part::default(); layout.channels];
    for parts in per_task {
        for (c, p) in parts {
            let m = &mut merged[c];
            m.below += p.below;
            m.inside += p.cands.len() as u64;
            m.bad |= p.bad;
            m.s1 += p.s1;
            m.s2 += p.s2;
            m.cands.extend_from_slice(&p.cands);
            m.idx.extend_from_slice(&p.idx);
        }
    }
    merged
}

/// The flat index of the first non-finite value of `data` (in memory order), if any.
pub(crate) fn first_non_finite(data: &[f32]) -> Option<usize> {
    data.iter().position(|v| !v.is_finite())
}

/// The [`Error::NonFinite`] of `op` naming the first non-finite value of `data`, if any.
pub(crate) fn non_finite_error(
    data: &[f32],
    layout: &ChannelLayout,
    op: &'static str,
) -> Option<Error> {
    first_non_finite(data).map(|flat| {
        let (channel, item, offset) = layout.locate(flat);
        Error::NonFinite {
            op,
            channel,
            item,
            offset,
            value: data[flat],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_counts_collects_and_flags() {
        // Two items, two channels of 3: channel 0 = [1, 5, 3, -2, 4, 4], channel 1 = [0, 7, 9, 8,
        // NaN, 1].
        let data = [
            1.0,
            5.0,
            3.0,
            0.0,
            7.0,
            9.0,
            -2.0,
            4.0,
            4.0,
            8.0,
            f32::NAN,
            1.0,
        ];
        let l = ChannelLayout::of_shape("t", &[2, 2, 3], None).unwrap();
        let br = Bracket { lo: 3.0, hi: 4.0 };
        let parts = scan(&data, &l, &[Some(br), None], Some(&[1.0, 0.0]));
        let p = &parts[0];
        assert_eq!((p.below, p.inside, p.bad), (2, 3, false));
        let mut c = p.cands.clone();
        c.sort_by(f32::total_cmp);
        assert_eq!(c, vec![3.0, 4.0, 4.0]);
        // Shifted by 1: 0 + 4 + 2 - 3 + 3 + 3 = 9; squares 0 + 16 + 4 + 9 + 9 + 9 = 47.
        assert_eq!((p.s1, p.s2), (9.0, 47.0));
        assert!(parts[1].cands.is_empty() && parts[1].inside == 0);
        let parts = scan(&data, &l, &[None, Some(Bracket::ALL)], None);
        assert!(parts[1].bad);
        assert_eq!(first_non_finite(&data), Some(10));
    }
}

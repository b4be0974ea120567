//! The output pass of the Sparse layer: `out = relu(y - t[c])` with `y = z` or, fused with a
//! BatchNorm, `y = z * scale[c] + shift[c]`, writing the output and (when a backward will run)
//! the mask of the positions that passed, in one read of the input.
//!
//! The mask is a bitset ([`Mask::Bits`], one bit per element) when many positions pass, or the
//! sorted flat indices of the passing positions ([`Mask::Sparse`]) at high sparsity.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::layout::{ChannelLayout, TASK};

/// Which positions passed the threshold (`y > t`), kept by the backward instead of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mask {
    /// One bit per element (bit `i % 8` of byte `i / 8`): set where the value passed.
    Bits(Vec<u8>),
    /// Sorted flat indices of the values that passed.
    Sparse(Vec<u32>),
}

impl Mask {
    /// Number of positions that passed.
    pub fn count(&self) -> usize {
        match self {
            Mask::Bits(m) => m.iter().map(|b| b.count_ones() as usize).sum(),
            Mask::Sparse(i) => i.len(),
        }
    }

    /// Heap bytes held by the mask.
    pub fn bytes(&self) -> usize {
        match self {
            Mask::Bits(m) => m.len(),
            Mask::Sparse(i) => 4 * i.len(),
        }
    }

    /// True if flat index `i` passed.
    pub fn get(&self, i: usize) -> bool {
        match self {
            Mask::Bits(m) => (m[i >> 3] >> (i & 7)) & 1 == 1,
            Mask::Sparse(idx) => idx.binary_search(&(i as u32)).is_ok(),
        }
    }
}

/// Which mask the output pass should produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MaskMode {
    /// No backward will run.
    None,
    /// [`Mask::Bits`].
    Bits,
    /// [`Mask::Sparse`].
    Sparse,
}

impl MaskMode {
    /// The mask for an expected pass fraction `density` of `len` values (sparse below 1/64).
    pub fn for_density(needed: bool, density: f64, len: usize) -> MaskMode {
        if !needed {
            MaskMode::None
        } else if density < 1.0 / 64.0 && len <= u32::MAX as usize {
            MaskMode::Sparse
        } else {
            MaskMode::Bits
        }
    }
}

/// The per-channel affine map of a fused BatchNorm: `y = z * scale + shift` (with
/// `scale = weight / std` and `shift = bias - mean * scale`, as `sparling_tensor`'s
/// `batch_norm` computes it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Affine<'a> {
    pub scale: &'a [f32],
    pub shift: &'a [f32],
}

/// `y` of one value, exactly as every kernel of the crate computes it (non-decreasing in `z`
/// for `scale >= 0`, non-increasing for `scale <= 0`: rounding is monotone).
#[inline(always)]
pub(crate) fn affine_value(z: f32, scale: f32, shift: f32) -> f32 {
    z * scale + shift
}

/// One run (constant channel) of the output pass: `x` and `out` are the run, `bits` the task's
/// bitset with the run starting at bit `rel`, `base` the run's flat index (sparse mask), and
/// `c = (t, scale, shift)`.
pub(crate) struct Run<'a> {
    pub x: &'a [f32],
    pub out: &'a mut [MaybeUninit<f32>],
    pub bits: &'a mut [u8],
    pub rel: usize,
    pub base: usize,
    pub c: (f32, f32, f32),
}

#[inline(always)]
fn apply_run_portable<const AFF: bool, const MASK: u8>(run: Run<'_>, sparse: &mut Vec<u32>) {
    let (t, scale, shift) = run.c;
    for (j, (&z, o)) in run.x.iter().zip(run.out.iter_mut()).enumerate() {
        let y = if AFF {
            affine_value(z, scale, shift)
        } else {
            z
        };
        let d = y - t;
        let pass = d > 0.0;
        o.write(if pass { d } else { 0.0 });
        if MASK == 1 && pass {
            let b = run.rel + j;
            run.bits[b >> 3] |= 1 << (b & 7);
        }
        if MASK == 2 && pass {
            sparse.push((run.base + j) as u32);
        }
    }
}

/// Dispatches one run to the AVX2 or the portable kernel (bit-identical results).
#[inline(always)]
pub(crate) fn apply_run<const AFF: bool, const MASK: u8>(
    simd: bool,
    run: Run<'_>,
    sparse: &mut Vec<u32>,
) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is only true when the CPU supports AVX2.
        unsafe { super::simd::avx2::apply_run::<AFF, MASK>(run, sparse) };
        return;
    }
    let _ = simd;
    apply_run_portable::<AFF, MASK>(run, sparse);
}

/// `relu(y - t[c])` over the whole batch, and the mask if requested. `t` has one threshold
/// per channel of `layout` (a single-threshold layer passes a one-channel layout).
pub(crate) fn apply(
    data: &[f32],
    layout: &ChannelLayout,
    t: &[f32],
    affine: Option<Affine<'_>>,
    mode: MaskMode,
) -> (Vec<f32>, Option<Mask>) {
    finish(
        data,
        layout,
        t,
        affine,
        mode,
        None,
        Vec::with_capacity(layout.len()),
    )
}

/// The output pass after a selection. With the result of a single-pass selection (`out`
/// already zeroed in its spare capacity, and per channel the bracket's lower end `lo` and the
/// flat indices of every value `>= lo`), only those values are written — valid when no value
/// below `lo` can pass, i.e. `y(lo) <= t` (checked here; `y` must be non-decreasing in `z`).
/// Otherwise (or without it) the full output pass runs. `out` is empty with capacity
/// `layout.len()`. Both ways give bit-identical outputs and masks.
pub(crate) fn finish(
    data: &[f32],
    layout: &ChannelLayout,
    t: &[f32],
    affine: Option<Affine<'_>>,
    mode: MaskMode,
    single: Option<(Vec<f32>, Vec<Vec<u32>>)>,
    mut out: Vec<f32>,
) -> (Vec<f32>, Option<Mask>) {
    let len = layout.len();
    assert_eq!(data.len(), len, "apply: data length");
    assert!(
        out.is_empty() && out.capacity() >= len,
        "apply: output buffer"
    );
    let y = |c: usize, z: f32| match affine {
        Some(a) => affine_value(z, a.scale[c], a.shift[c]),
        None => z,
    };
    if let Some((lows, idx)) = single {
        if mode != MaskMode::Bits && (0..layout.channels).all(|c| y(c, lows[c]) <= t[c]) {
            // SAFETY: the single pass wrote zeros to all `len` values of the spare capacity.
            unsafe { out.set_len(len) };
            let mut passing = Vec::new();
            for (c, idx) in idx.iter().enumerate() {
                for &i in idx {
                    let d = y(c, data[i as usize]) - t[c];
                    if d > 0.0 {
                        out[i as usize] = d;
                        passing.push(i);
                    }
                }
            }
            let mask = (mode == MaskMode::Sparse).then(|| {
                passing.sort_unstable();
                Mask::Sparse(passing)
            });
            return (out, mask);
        }
    }
    let simd = super::simd::simd_active();
    let mut bits: Vec<u8> = if mode == MaskMode::Bits {
        vec![0; len.div_ceil(8)]
    } else {
        Vec::new()
    };
    let task = |start: usize, x: &[f32], o: &mut [MaybeUninit<f32>], b: &mut [u8]| {
        let mut sparse = Vec::new();
        for (r, c) in layout.runs(start..start + x.len()) {
            let rel = r.start - start..r.end - start;
            let consts = match affine {
                Some(a) => (t[c], a.scale[c], a.shift[c]),
                None => (t[c], 1.0, 0.0),
            };
            let run = Run {
                x: &x[rel.clone()],
                out: &mut o[rel.clone()],
                bits: &mut *b,
                rel: rel.start,
                base: r.start,
                c: consts,
            };
            let s = &mut sparse;
            match (affine.is_some(), mode) {
                (false, MaskMode::None) => apply_run::<false, 0>(simd, run, s),
                (false, MaskMode::Bits) => apply_run::<false, 1>(simd, run, s),
                (false, MaskMode::Sparse) => apply_run::<false, 2>(simd, run, s),
                (true, MaskMode::None) => apply_run::<true, 0>(simd, run, s),
                (true, MaskMode::Bits) => apply_run::<true, 1>(simd, run, s),
                (true, MaskMode::Sparse) => apply_run::<true, 2>(simd, run, s),
            }
        }
        sparse
    };
    let out_spare = &mut out.spare_capacity_mut()[..len];
    let sparse_parts: Vec<Vec<u32>> = if mode == MaskMode::Bits {
        // TASK is a multiple of 8: every task owns whole bytes of the bitset.
        out_spare
            .par_chunks_mut(TASK)
            .zip(bits.par_chunks_mut(TASK / 8))
            .zip(data.par_chunks(TASK))
            .enumerate()
            .map(|(i, ((o, b), x))| task(i * TASK, x, o, b))
            .collect()
    } else {
        out_spare
            .par_chunks_mut(TASK)
            .zip(data.par_chunks(TASK))
            .enumerate()
            .map(|(i, (o, x))| task(i * TASK, x, o, &mut []))
            .collect()
    };
    // SAFETY: every element of `out[..len]` was written above: the chunks cover `0..len` and
    // each run kernel writes every index of its run.
    unsafe { out.set_len(len) };
    let mask = match mode {
        MaskMode::None => None,
        MaskMode::Bits => Some(Mask::Bits(bits)),
        MaskMode::Sparse => Some(Mask::Sparse(sparse_parts.concat())),
    };
    (out, mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_literal_and_masks_agree() {
        // Channel thresholds [1, -1]; layout (1, 2, 3): out = relu(z - t).
        let z = [0.5, 1.0, 3.0, -2.0, -1.0, 0.0];
        let l = ChannelLayout::of_shape("t", &[1, 2, 3], None).unwrap();
        let (out, m) = apply(&z, &l, &[1.0, -1.0], None, MaskMode::Bits);
        assert_eq!(out, vec![0.0, 0.0, 2.0, 0.0, 0.0, 1.0]);
        assert_eq!(m, Some(Mask::Bits(vec![0b100100])));
        let (out2, m2) = apply(&z, &l, &[1.0, -1.0], None, MaskMode::Sparse);
        assert_eq!(out2, out);
        assert_eq!(m2, Some(Mask::Sparse(vec![2, 5])));
        // Affine: y = 2z - 1.5 on channel 0, z + 1 on channel 1; t = [0, 0.5].
        let a = Affine {
            scale: &[2.0, 1.0],
            shift: &[-1.5, 1.0],
        };
        let (out3, _) = apply(&z, &l, &[0.0, 0.5], Some(a), MaskMode::None);
        assert_eq!(out3, vec![0.0, 0.5, 4.5, 0.0, 0.0, 0.5]);
    }

    #[test]
    fn apply_bits_cover_unaligned_runs() {
        // Runs of 13 values (not a multiple of 8) across several tasks' worth of data.
        let l = ChannelLayout::of_shape("t", &[700, 3, 13], None).unwrap();
        let z: Vec<f32> = (0..l.len())
            .map(|i| ((i * 7919) % 101) as f32 / 101.0)
            .collect();
        let t = [0.3, 0.5, 0.9];
        let (_, bits) = apply(&z, &l, &t, None, MaskMode::Bits);
        let (_, sparse) = apply(&z, &l, &t, None, MaskMode::Sparse);
        let (bits, sparse) = (bits.unwrap(), sparse.unwrap());
        for (i, &v) in z.iter().enumerate() {
            let pass = v > t[l.channel_of(i)];
            assert_eq!(bits.get(i), pass, "{i}");
            assert_eq!(sparse.get(i), pass, "{i}");
        }
        assert_eq!(bits.count(), sparse.count());
    }
}

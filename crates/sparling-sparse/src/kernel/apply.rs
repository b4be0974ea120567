//! The output pass of the Sparse layer: `out = relu(y - t[c])` with `y = z` or, fused with a
//! BatchNorm, `y = z * scale[c] + shift[c]`, writing the output and (when a
//! backward will run) the mask of the positions that passed, in one read of the input.
//!
//! The mask is one byte per element ([`Mask::Dense`]) when many positions pass, or the sorted
//! flat indices of the passing positions ([`Mask::Sparse`]) at high sparsity.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::layout::{ChannelLayout, TASK};

/// Which positions passed the threshold (`y > t`), kept by the backward instead of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mask {
    /// One byte per element: 1 where the value passed.
    Dense(Vec<u8>),
    /// Sorted flat indices of the values that passed.
    Sparse(Vec<u32>),
}

impl Mask {
    /// Number of positions that passed.
    pub fn count(&self) -> usize {
        match self {
            Mask::Dense(m) => m.iter().map(|&b| b as usize).sum(),
            Mask::Sparse(i) => i.len(),
        }
    }

    /// Heap bytes held by the mask.
    pub fn bytes(&self) -> usize {
        match self {
            Mask::Dense(m) => m.len(),
            Mask::Sparse(i) => 4 * i.len(),
        }
    }
}

/// Which mask the output pass should produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MaskMode {
    /// No backward will run.
    None,
    /// [`Mask::Dense`].
    Dense,
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
            MaskMode::Dense
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

const L: usize = 8;

#[inline(always)]
fn apply_run_portable<const AFF: bool, const MASK: u8>(
    x: &[f32],
    out: &mut [MaybeUninit<f32>],
    mask: &mut [MaybeUninit<u8>],
    base: usize,
    c: (f32, f32, f32),
    sparse: &mut Vec<u32>,
) {
    let (t, scale, shift) = c;
    let n = x.len();
    let full = n - n % L;
    let mut i = 0;
    while i < full {
        let mut any = false;
        for j in 0..L {
            let z = x[i + j];
            let y = if AFF {
                affine_value(z, scale, shift)
            } else {
                z
            };
            let d = y - t;
            let pass = d > 0.0;
            out[i + j].write(if pass { d } else { 0.0 });
            if MASK == 1 {
                mask[i + j].write(pass as u8);
            }
            any |= pass;
        }
        if MASK == 2 && any {
            for j in 0..L {
                // Bit-identical recomputation of the test above.
                let z = x[i + j];
                let y = if AFF {
                    affine_value(z, scale, shift)
                } else {
                    z
                };
                if y - t > 0.0 {
                    sparse.push((base + i + j) as u32);
                }
            }
        }
        i += L;
    }
    for j in full..n {
        let z = x[j];
        let y = if AFF {
            affine_value(z, scale, shift)
        } else {
            z
        };
        let d = y - t;
        let pass = d > 0.0;
        out[j].write(if pass { d } else { 0.0 });
        if MASK == 1 {
            mask[j].write(pass as u8);
        }
        if MASK == 2 && pass {
            sparse.push((base + j) as u32);
        }
    }
}

/// Dispatches one run to the AVX2 or the portable kernel (bit-identical results).
#[inline(always)]
fn apply_run<const AFF: bool, const MASK: u8>(
    simd: bool,
    x: &[f32],
    out: &mut [MaybeUninit<f32>],
    mask: &mut [MaybeUninit<u8>],
    base: usize,
    c: (f32, f32, f32),
    sparse: &mut Vec<u32>,
) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is only true with AVX2; `out` and `mask` (when used) match `x`.
        unsafe { super::simd::avx2::apply_run::<AFF, MASK>(x, out, mask, base, c, sparse) };
        return;
    }
    let _ = simd;
    apply_run_portable::<AFF, MASK>(x, out, mask, base, c, sparse);
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
    let len = layout.len();
    assert_eq!(data.len(), len, "apply: data length");
    let simd = super::simd::simd_active();
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let mut dense: Vec<u8> = if mode == MaskMode::Dense {
        Vec::with_capacity(len)
    } else {
        Vec::new()
    };
    let task = |start: usize, x: &[f32], o: &mut [MaybeUninit<f32>], m: &mut [MaybeUninit<u8>]| {
        let mut sparse = Vec::new();
        for (run, c) in layout.runs(start..start + x.len()) {
            let r = run.start - start..run.end - start;
            let consts = match affine {
                Some(a) => (t[c], a.scale[c], a.shift[c]),
                None => (t[c], 1.0, 0.0),
            };
            let (xr, or) = (&x[r.clone()], &mut o[r.clone()]);
            let mr = if m.is_empty() { &mut [][..] } else { &mut m[r] };
            let s = &mut sparse;
            let b = run.start;
            match (affine.is_some(), mode) {
                (false, MaskMode::None) => apply_run::<false, 0>(simd, xr, or, mr, b, consts, s),
                (false, MaskMode::Dense) => apply_run::<false, 1>(simd, xr, or, mr, b, consts, s),
                (false, MaskMode::Sparse) => apply_run::<false, 2>(simd, xr, or, mr, b, consts, s),
                (true, MaskMode::None) => apply_run::<true, 0>(simd, xr, or, mr, b, consts, s),
                (true, MaskMode::Dense) => apply_run::<true, 1>(simd, xr, or, mr, b, consts, s),
                (true, MaskMode::Sparse) => apply_run::<true, 2>(simd, xr, or, mr, b, consts, s),
            }
        }
        sparse
    };
    let out_spare = &mut out.spare_capacity_mut()[..len];
    let sparse_parts: Vec<Vec<u32>> = if mode == MaskMode::Dense {
        let mask_spare = &mut dense.spare_capacity_mut()[..len];
        out_spare
            .par_chunks_mut(TASK)
            .zip(mask_spare.par_chunks_mut(TASK))
            .zip(data.par_chunks(TASK))
            .enumerate()
            .map(|(i, ((o, m), x))| task(i * TASK, x, o, m))
            .collect()
    } else {
        out_spare
            .par_chunks_mut(TASK)
            .zip(data.par_chunks(TASK))
            .enumerate()
            .map(|(i, (o, x))| task(i * TASK, x, o, &mut []))
            .collect()
    };
    // SAFETY: every element of `out[..len]` (and of `dense[..len]` in dense mode) was written
    // above: the chunks cover `0..len` and `apply_run` writes each index of its run.
    unsafe {
        out.set_len(len);
        if mode == MaskMode::Dense {
            dense.set_len(len);
        }
    }
    let mask = match mode {
        MaskMode::None => None,
        MaskMode::Dense => Some(Mask::Dense(dense)),
        MaskMode::Sparse => Some(Mask::Sparse(sparse_parts.concat())),
    };
    (out, mask)
}

/// `grad *= mask` in place (the backward of the Sparse layer, the threshold being a
/// constant).
pub(crate) fn mask_grad(grad: &mut [f32], mask: &Mask) {
    match mask {
        Mask::Dense(m) => {
            let simd = super::simd::simd_active();
            grad.par_chunks_mut(TASK)
                .zip(m.par_chunks(TASK))
                .for_each(|(g, m)| {
                    #[cfg(target_arch = "x86_64")]
                    if simd {
                        // SAFETY: AVX2 is available; the chunks have equal lengths.
                        unsafe { super::simd::avx2::mask_dense(g, m) };
                        return;
                    }
                    let _ = simd;
                    for (g, &m) in g.iter_mut().zip(m) {
                        *g = if m != 0 { *g } else { 0.0 };
                    }
                });
        }
        Mask::Sparse(idx) => {
            let kept: Vec<f32> = idx.iter().map(|&i| grad[i as usize]).collect();
            grad.par_chunks_mut(TASK).for_each(|g| g.fill(0.0));
            for (&i, &v) in idx.iter().zip(&kept) {
                grad[i as usize] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_literal_and_masks_agree() {
        // Channel thresholds [1, -1]; layout (1, 2, 3): out = relu(z - t).
        let z = [0.5, 1.0, 3.0, -2.0, -1.0, 0.0];
        let l = ChannelLayout::of_shape("t", &[1, 2, 3], None).unwrap();
        let (out, m) = apply(&z, &l, &[1.0, -1.0], None, MaskMode::Dense);
        assert_eq!(out, vec![0.0, 0.0, 2.0, 0.0, 0.0, 1.0]);
        assert_eq!(m, Some(Mask::Dense(vec![0, 0, 1, 0, 0, 1])));
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
    fn mask_grad_zeroes_failed_positions() {
        let mut g = vec![1.0, 2.0, 3.0, 4.0];
        mask_grad(&mut g, &Mask::Sparse(vec![1, 3]));
        assert_eq!(g, vec![0.0, 2.0, 0.0, 4.0]);
        let mut g = vec![1.0, 2.0, 3.0, 4.0];
        mask_grad(&mut g, &Mask::Dense(vec![1, 0, 0, 1]));
        assert_eq!(g, vec![1.0, 0.0, 0.0, 4.0]);
    }
}

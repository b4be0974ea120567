//! Backward kernels: the Sparse layer's `grad * mask` and the BatchNorm + Sparse backward
//! (per-channel sums, then `dz`), in place on the upstream gradient buffer.

use rayon::prelude::*;

use super::apply::Mask;
use super::layout::{ChannelLayout, TASK};
use super::scan::FLUSH;

/// `grad *= mask` in place (the backward of the Sparse layer, the threshold being a constant).
pub(crate) fn mask_grad(grad: &mut [f32], mask: &Mask) {
    match mask {
        Mask::Bits(bits) => {
            let simd = super::simd::simd_active();
            grad.par_chunks_mut(TASK)
                .zip(bits.par_chunks(TASK / 8))
                .for_each(|(g, b)| {
                    #[cfg(target_arch = "x86_64")]
                    if simd {
                        // SAFETY: AVX2 is available; `b` has a bit for every value of `g`.
                        unsafe { super::simd::avx2::mask_bits(g, b) };
                        return;
                    }
                    let _ = simd;
                    for (j, g) in g.iter_mut().enumerate() {
                        if (b[j >> 3] >> (j & 7)) & 1 == 0 {
                            *g = 0.0;
                        }
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

/// Per-channel `(sum(gy), sum(gy * (z - mean)))` with `gy = g * mask` (`z` absent: the second
/// sum is 0), in a fixed order: f32 lane sums over blocks of [`FLUSH`] values flushed into f64,
/// tasks combined in order.
pub(crate) fn bn_sums(
    g: &[f32],
    z: Option<&[f32]>,
    layout: &ChannelLayout,
    mean: &[f32],
    mask: &Mask,
) -> Vec<(f64, f64)> {
    let c_n = layout.channels;
    match mask {
        Mask::Sparse(idx) => {
            let mut s = vec![(0.0, 0.0); c_n];
            for &i in idx {
                let i = i as usize;
                let c = layout.channel_of(i);
                s[c].0 += g[i] as f64;
                if let Some(z) = z {
                    s[c].1 += g[i] as f64 * (z[i] - mean[c]) as f64;
                }
            }
            s
        }
        Mask::Bits(bits) => {
            let simd = super::simd::simd_active();
            let tasks: Vec<_> = layout.tasks().collect();
            let parts: Vec<Vec<(usize, f64, f64)>> = tasks
                .par_iter()
                .map(|r| {
                    let mut out = Vec::new();
                    let b = &bits[r.start / 8..r.end.div_ceil(8)];
                    for (run, c) in layout.runs(r.clone()) {
                        let rel = run.start - r.start;
                        let zr = z.map(|z| &z[run.clone()]);
                        let (s1, s2) = sums_run(simd, &g[run], zr, mean[c], b, rel);
                        out.push((c, s1, s2));
                    }
                    out
                })
                .collect();
            let mut s = vec![(0.0, 0.0); c_n];
            for part in parts {
                for (c, a, b) in part {
                    s[c].0 += a;
                    s[c].1 += b;
                }
            }
            s
        }
    }
}

/// Mask bit of value `j` of a run starting at bit `rel` of `bits`.
#[inline(always)]
fn bit(bits: &[u8], rel: usize, j: usize) -> bool {
    let b = rel + j;
    (bits[b >> 3] >> (b & 7)) & 1 == 1
}

fn sums_run(
    simd: bool,
    g: &[f32],
    z: Option<&[f32]>,
    mean: f32,
    bits: &[u8],
    rel: usize,
) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if simd && rel % 8 == 0 {
        // SAFETY: AVX2 is available; `bits` covers the run from an aligned bit.
        return unsafe { super::simd::avx2::bn_sums_run(g, z, mean, &bits[rel / 8..]) };
    }
    let _ = simd;
    sums_run_portable(g, z, mean, bits, rel)
}

/// Portable twin of the AVX2 sums: 8 lanes, f32 blocks of [`FLUSH`] values, tail in lane 0.
pub(crate) fn sums_run_portable(
    g: &[f32],
    z: Option<&[f32]>,
    mean: f32,
    bits: &[u8],
    rel: usize,
) -> (f64, f64) {
    let (mut t1, mut t2) = (0.0f64, 0.0f64);
    let n = g.len();
    let mut start = 0;
    while start < n {
        let end = (start + FLUSH).min(n);
        let mut l1 = [0f32; 8];
        let mut l2 = [0f32; 8];
        let full = start + (end - start) / 8 * 8;
        for j in start..end {
            let lane = if j < full { (j - start) % 8 } else { 0 };
            let gy = if bit(bits, rel, j) { g[j] } else { 0.0 };
            l1[lane] += gy;
            if let Some(z) = z {
                l2[lane] += gy * (z[j] - mean);
            }
        }
        t1 += l1.iter().map(|&v| v as f64).sum::<f64>();
        t2 += l2.iter().map(|&v| v as f64).sum::<f64>();
        start = end;
    }
    (t1, t2)
}

/// The BatchNorm + Sparse backward with a bitset mask, one pipeline per channel (layouts
/// accepted by `channel::eligible`): the channel's sums `(sum(gy), sum(gy * (z - mean)))` over
/// its maps (combined in map order), then, with `coef`, `g <- a * gy + c0 + c1 * (z_dz - mean)`
/// over the same maps while they are still in cache. Returns the sums of every channel.
pub(crate) fn bn_backward_channels(
    g: &mut [f32],
    z_sums: Option<&[f32]>,
    z_dz: Option<&[f32]>,
    layout: &ChannelLayout,
    mean: &[f32],
    bits: &[u8],
    coef: Option<&(dyn Fn(usize, (f64, f64)) -> DzCoef + Sync)>,
) -> Vec<(f64, f64)> {
    let (c_n, s) = (layout.channels, layout.inner);
    assert!(
        super::channel::eligible(layout),
        "bn_backward_channels: layout {layout:?}"
    );
    let simd = super::simd::simd_active();
    type Map<'a> = (
        &'a mut [f32],
        &'a [u8],
        Option<&'a [f32]>,
        Option<&'a [f32]>,
    );
    let mut maps: Vec<Vec<Map<'_>>> = (0..c_n).map(|_| Vec::new()).collect();
    let mut zs = z_sums.map(|z| z.chunks(s));
    let mut zd = z_dz.map(|z| z.chunks(s));
    for (i, (gm, b)) in g.chunks_mut(s).zip(bits.chunks(s / 8)).enumerate() {
        let a = zs.as_mut().map(|it| it.next().expect("z map"));
        let d = zd.as_mut().map(|it| it.next().expect("z map"));
        maps[i % c_n].push((gm, b, a, d));
    }
    maps.into_par_iter()
        .enumerate()
        .map(|(c, mut maps)| {
            let parts: Vec<(f64, f64)> = maps
                .par_iter()
                .map(|(gm, b, za, _)| sums_run(simd, gm, *za, mean[c], b, 0))
                .collect();
            let sums = parts
                .iter()
                .fold((0.0, 0.0), |acc, p| (acc.0 + p.0, acc.1 + p.1));
            if let Some(coef) = coef {
                let k = coef(c, sums);
                maps.par_iter_mut().for_each(|(gm, b, _, zd)| {
                    dz_run(simd, gm, *zd, k, Some(b), 0, false);
                });
            }
            sums
        })
        .collect()
}

/// Per-channel coefficients of `dz = a * gy + c0 + c1 * (z - mean)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DzCoef {
    pub a: f32,
    pub c0: f32,
    pub c1: f32,
    pub mean: f32,
}

/// `g <- a * (g * mask) + c0 + c1 * (z - mean)` per channel, in place (`z` absent: `c1` must be
/// 0).
pub(crate) fn bn_dz(
    g: &mut [f32],
    z: Option<&[f32]>,
    layout: &ChannelLayout,
    coef: &[DzCoef],
    mask: &Mask,
) {
    let simd = super::simd::simd_active();
    let base = |zv: Option<f32>, k: &DzCoef| -> f32 {
        match zv {
            Some(v) => k.c0 + k.c1 * (v - k.mean),
            None => k.c0,
        }
    };
    match mask {
        Mask::Sparse(idx) => {
            let kept: Vec<f32> = idx.iter().map(|&i| g[i as usize]).collect();
            g.par_chunks_mut(TASK).enumerate().for_each(|(t, chunk)| {
                let start = t * TASK;
                for (run, c) in layout.runs(start..start + chunk.len()) {
                    let zr = z.map(|z| &z[run.clone()]);
                    let out = &mut chunk[run.start - start..run.end - start];
                    dz_run(simd, out, zr, coef[c], None, 0, true);
                }
            });
            for (&i, &gy) in idx.iter().zip(&kept) {
                let i = i as usize;
                let k = &coef[layout.channel_of(i)];
                g[i] = k.a * gy + base(z.map(|z| z[i]), k);
            }
        }
        Mask::Bits(bits) => {
            g.par_chunks_mut(TASK)
                .zip(bits.par_chunks(TASK / 8))
                .enumerate()
                .for_each(|(t, (chunk, b))| {
                    let start = t * TASK;
                    for (run, c) in layout.runs(start..start + chunk.len()) {
                        let rel = run.start - start;
                        let zr = z.map(|z| &z[run.clone()]);
                        let out = &mut chunk[rel..run.end - start];
                        dz_run(simd, out, zr, coef[c], Some(b), rel, false);
                    }
                });
        }
    }
}

/// One run of [`bn_dz`]: with `bits`, `gy = g * bit`; with `zero_g`, `gy = 0`.
fn dz_run(
    simd: bool,
    g: &mut [f32],
    z: Option<&[f32]>,
    k: DzCoef,
    bits: Option<&[u8]>,
    rel: usize,
    zero_g: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if simd && rel % 8 == 0 {
        let b = bits.map(|b| &b[rel / 8..]);
        // SAFETY: AVX2 is available; `b` covers the run from an aligned bit.
        unsafe { super::simd::avx2::dz_run(g, z, k, b, zero_g) };
        return;
    }
    let _ = simd;
    for j in 0..g.len() {
        let gy = if zero_g {
            0.0
        } else {
            match bits {
                Some(b) if !bit(b, rel, j) => 0.0,
                _ => g[j],
            }
        };
        let base = match z {
            Some(z) => k.c0 + k.c1 * (z[j] - k.mean),
            None => k.c0,
        };
        g[j] = k.a * gy + base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_grad_zeroes_failed_positions() {
        let mut g = vec![1.0, 2.0, 3.0, 4.0];
        mask_grad(&mut g, &Mask::Sparse(vec![1, 3]));
        assert_eq!(g, vec![0.0, 2.0, 0.0, 4.0]);
        let mut g = vec![1.0, 2.0, 3.0, 4.0];
        mask_grad(&mut g, &Mask::Bits(vec![0b1001]));
        assert_eq!(g, vec![1.0, 0.0, 0.0, 4.0]);
    }

    #[test]
    fn bn_backward_kernels_match_a_direct_loop() {
        // Unaligned runs (S = 13), two channels, many tasks.
        let l = ChannelLayout::of_shape("t", &[900, 2, 13], None).unwrap();
        let n = l.len();
        let g: Vec<f32> = (0..n)
            .map(|i| ((i * 31) % 17) as f32 / 17.0 - 0.5)
            .collect();
        let z: Vec<f32> = (0..n).map(|i| ((i * 7) % 23) as f32 / 23.0).collect();
        let pass: Vec<bool> = (0..n).map(|i| (i * 13) % 5 == 0).collect();
        let mut bits = vec![0u8; n.div_ceil(8)];
        for (i, &p) in pass.iter().enumerate() {
            if p {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        let idx: Vec<u32> = (0..n as u32).filter(|&i| pass[i as usize]).collect();
        let mean = [0.3f32, 0.6];
        let coef = [
            DzCoef {
                a: 1.5,
                c0: -0.1,
                c1: 0.2,
                mean: 0.3,
            },
            DzCoef {
                a: -0.5,
                c0: 0.05,
                c1: -0.3,
                mean: 0.6,
            },
        ];
        let mut want_s = [(0.0f64, 0.0f64); 2];
        let mut want_dz = vec![0.0f32; n];
        for i in 0..n {
            let c = l.channel_of(i);
            let gy = if pass[i] { g[i] } else { 0.0 };
            want_s[c].0 += gy as f64;
            want_s[c].1 += gy as f64 * (z[i] - mean[c]) as f64;
            let k = coef[c];
            want_dz[i] = k.a * gy + (k.c0 + k.c1 * (z[i] - k.mean));
        }
        for mask in [Mask::Bits(bits), Mask::Sparse(idx)] {
            for simd in [false, true] {
                super::super::simd::set_simd_enabled(simd);
                let s = bn_sums(&g, Some(&z), &l, &mean, &mask);
                for c in 0..2 {
                    assert!((s[c].0 - want_s[c].0).abs() < 1e-3, "{s:?} vs {want_s:?}");
                    assert!((s[c].1 - want_s[c].1).abs() < 1e-3, "{s:?} vs {want_s:?}");
                }
                let mut dz = g.clone();
                bn_dz(&mut dz, Some(&z), &l, &coef, &mask);
                assert_eq!(dz, want_dz);
            }
            super::super::simd::set_simd_enabled(true);
        }
    }
}

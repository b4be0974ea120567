//! AVX2 versions of the two streaming passes (selected at run time; the portable versions in
//! `scan.rs` and `apply.rs` run elsewhere). Both paths do the same arithmetic in the same
//! order (8 independent lanes, f32 moment blocks of 1024 values flushed into f64 lane by lane,
//! the tail into lane 0), so they return bit-identical results; the tests compare them.

use std::sync::atomic::{AtomicBool, Ordering};

static SIMD_DISABLED: AtomicBool = AtomicBool::new(false);

/// Turns the AVX2 kernels off (or back on) for the whole process: for tests and benchmarks
/// comparing the portable kernels with the vector ones. Results are identical either way.
pub fn set_simd_enabled(enabled: bool) {
    SIMD_DISABLED.store(!enabled, Ordering::Relaxed);
}

/// True when the AVX2 kernels are enabled and the CPU has AVX2.
pub fn simd_active() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        !SIMD_DISABLED.load(Ordering::Relaxed) && std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `BYTES[m]`: the 8 mask bits of `m` spread to 8 bytes of 0 or 1 (little-endian).
#[cfg(target_arch = "x86_64")]
static BYTES: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut m = 0;
    while m < 256 {
        let mut j = 0;
        while j < 8 {
            if (m >> j) & 1 == 1 {
                t[m] |= 1u64 << (8 * j);
            }
            j += 1;
        }
        m += 1;
    }
    t
};

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    use super::BYTES;
    use crate::kernel::scan::{Bracket, FLUSH, Part};

    /// AVX2 twin of `scan::scan_run_portable`.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn scan_run<const COLLECT: bool, const MOMENTS: bool>(
        x: &[f32],
        br: Bracket,
        shift: f32,
        part: &mut Part,
    ) {
        let lo = _mm256_set1_ps(br.lo);
        let hi = _mm256_set1_ps(br.hi);
        let max = _mm256_set1_ps(f32::MAX);
        let absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
        let sh = _mm256_set1_ps(shift);
        let mut below = _mm256_setzero_si256();
        let mut inside = _mm256_setzero_si256();
        let mut bad = _mm256_setzero_ps();
        let mut tail_below = 0u64;
        let mut tail_inside = 0u64;
        let mut tail_bad = false;
        // Candidates of the current block: no call inside the vector loop, so its accumulators
        // stay in registers.
        let mut buf = [0f32; FLUSH];
        let mut nbuf = 0usize;
        for block in x.chunks(FLUSH) {
            let mut s1 = _mm256_setzero_ps();
            let mut s2 = _mm256_setzero_ps();
            let mut lanes = block.chunks_exact(8);
            for b in &mut lanes {
                // SAFETY: `b` holds exactly 8 floats.
                let v = unsafe { _mm256_loadu_ps(b.as_ptr()) };
                let lt = _mm256_cmp_ps::<_CMP_LT_OQ>(v, lo);
                let ins = _mm256_and_ps(
                    _mm256_cmp_ps::<_CMP_GE_OQ>(v, lo),
                    _mm256_cmp_ps::<_CMP_LE_OQ>(v, hi),
                );
                below = _mm256_sub_epi32(below, _mm256_castps_si256(lt));
                inside = _mm256_sub_epi32(inside, _mm256_castps_si256(ins));
                bad = _mm256_or_ps(
                    bad,
                    _mm256_cmp_ps::<_CMP_NLE_UQ>(_mm256_and_ps(v, absmask), max),
                );
                if MOMENTS {
                    let d = _mm256_sub_ps(v, sh);
                    s1 = _mm256_add_ps(s1, d);
                    s2 = _mm256_add_ps(s2, _mm256_mul_ps(d, d));
                }
                if COLLECT {
                    let mut m = _mm256_movemask_ps(ins) as u32;
                    while m != 0 {
                        buf[nbuf] = b[m.trailing_zeros() as usize];
                        nbuf += 1;
                        m &= m - 1;
                    }
                }
            }
            if COLLECT {
                part.cands.extend_from_slice(&buf[..nbuf]);
                nbuf = 0;
            }
            let mut l1 = [0f32; 8];
            let mut l2 = [0f32; 8];
            if MOMENTS {
                // SAFETY: the arrays hold 8 floats.
                unsafe {
                    _mm256_storeu_ps(l1.as_mut_ptr(), s1);
                    _mm256_storeu_ps(l2.as_mut_ptr(), s2);
                }
            }
            for &v in lanes.remainder() {
                tail_below += (v < br.lo) as u64;
                let inb = v >= br.lo && v <= br.hi;
                tail_inside += inb as u64;
                if COLLECT && inb {
                    part.cands.push(v);
                }
                tail_bad |= !v.is_finite();
                if MOMENTS {
                    let d = v - shift;
                    l1[0] += d;
                    l2[0] += d * d;
                }
            }
            if MOMENTS {
                part.s1 += l1.iter().map(|&v| v as f64).sum::<f64>();
                part.s2 += l2.iter().map(|&v| v as f64).sum::<f64>();
            }
        }
        let mut b = [0u32; 8];
        let mut i = [0u32; 8];
        // SAFETY: the arrays hold 8 u32.
        unsafe {
            _mm256_storeu_si256(b.as_mut_ptr().cast(), below);
            _mm256_storeu_si256(i.as_mut_ptr().cast(), inside);
        }
        part.below += b.iter().map(|&v| v as u64).sum::<u64>() + tail_below;
        part.inside += i.iter().map(|&v| v as u64).sum::<u64>() + tail_inside;
        part.bad |= _mm256_movemask_ps(bad) != 0 || tail_bad;
    }

    /// AVX2 twin of `apply::apply_run_portable`.
    ///
    /// # Safety
    /// The CPU must support AVX2; `out` (and `mask` when `MASK == 1`) as long as `x`.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn apply_run<const AFF: bool, const MASK: u8>(
        x: &[f32],
        out: &mut [MaybeUninit<f32>],
        mask: &mut [MaybeUninit<u8>],
        base: usize,
        c: (f32, f32, f32),
        sparse: &mut Vec<u32>,
    ) {
        let (t, scale, shift) = c;
        let tv = _mm256_set1_ps(t);
        let sv = _mm256_set1_ps(scale);
        let bv = _mm256_set1_ps(shift);
        let zero = _mm256_setzero_ps();
        let n = x.len();
        let full = n - n % 8;
        let xp = x.as_ptr();
        let op = out.as_mut_ptr() as *mut f32;
        let mp = mask.as_mut_ptr() as *mut u8;
        // Passing indices of the current block (flushed every BLOCK values): no call inside the
        // vector loop.
        const BLOCK: usize = 1024;
        let mut buf = [0u32; BLOCK];
        let mut nbuf = 0usize;
        let mut i = 0;
        while i < full {
            // SAFETY: `i + 8 <= n` and `out`/`mask` are as long as `x`.
            unsafe {
                let z = _mm256_loadu_ps(xp.add(i));
                let y = if AFF {
                    _mm256_add_ps(_mm256_mul_ps(z, sv), bv)
                } else {
                    z
                };
                let d = _mm256_sub_ps(y, tv);
                let pass = _mm256_cmp_ps::<_CMP_GT_OQ>(d, zero);
                _mm256_storeu_ps(op.add(i), _mm256_and_ps(d, pass));
                if MASK == 1 {
                    let m = _mm256_movemask_ps(pass) as usize;
                    std::ptr::write_unaligned(mp.add(i) as *mut u64, BYTES[m]);
                }
                if MASK == 2 {
                    let mut m = _mm256_movemask_ps(pass) as u32;
                    while m != 0 {
                        buf[nbuf] = (base + i + m.trailing_zeros() as usize) as u32;
                        nbuf += 1;
                        m &= m - 1;
                    }
                }
            }
            i += 8;
            if MASK == 2 && (i % BLOCK == 0 || i == full) {
                sparse.extend_from_slice(&buf[..nbuf]);
                nbuf = 0;
            }
        }
        for j in full..n {
            let z = x[j];
            let y = if AFF { z * scale + shift } else { z };
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

    /// AVX2 `g = mask ? g : 0` over one chunk (byte mask).
    ///
    /// # Safety
    /// The CPU must support AVX2; `m` as long as `g`.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn mask_dense(g: &mut [f32], m: &[u8]) {
        let n = g.len();
        let full = n - n % 8;
        let gp = g.as_mut_ptr();
        let mp = m.as_ptr();
        let mut i = 0;
        while i < full {
            // SAFETY: `i + 8 <= n == m.len()`.
            unsafe {
                let bytes = _mm_loadl_epi64(mp.add(i) as *const __m128i);
                let ints = _mm256_cvtepu8_epi32(bytes);
                let keep = _mm256_cmpgt_epi32(ints, _mm256_setzero_si256());
                let v = _mm256_loadu_ps(gp.add(i));
                _mm256_storeu_ps(gp.add(i), _mm256_and_ps(v, _mm256_castsi256_ps(keep)));
            }
            i += 8;
        }
        for j in full..n {
            if m[j] == 0 {
                g[j] = 0.0;
            }
        }
    }
}

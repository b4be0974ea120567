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

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    use crate::kernel::apply::Run;
    use crate::kernel::backward::DzCoef;
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
        let mut buf = [MaybeUninit::<f32>::uninit(); FLUSH];
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
                        buf[nbuf].write(b[m.trailing_zeros() as usize]);
                        nbuf += 1;
                        m &= m - 1;
                    }
                }
            }
            if COLLECT {
                // SAFETY: the first `nbuf` entries were written above.
                part.cands
                    .extend_from_slice(unsafe { assume_init(&buf[..nbuf]) });
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

    /// Runs at least this long write their output with streaming stores (no read for ownership
    /// of output lines that are not in cache anyway).
    const STREAM_MIN: usize = 4096;

    /// The initialised prefix of a scratch buffer as a plain slice.
    ///
    /// # Safety
    /// Every element of `s` must have been written.
    unsafe fn assume_init<T: Copy>(s: &[MaybeUninit<T>]) -> &[T] {
        // SAFETY: `MaybeUninit<T>` has the layout of `T`, and the caller guarantees that all
        // elements are initialised.
        unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<T>(), s.len()) }
    }

    /// Writes zeros to `out` with non-temporal stores on its 32-byte-aligned body (no read for
    /// ownership of the fresh output lines), then fences.
    #[target_feature(enable = "avx2")]
    fn zero_stream(out: &mut [MaybeUninit<f32>]) {
        let n = out.len();
        let p = out.as_mut_ptr() as *mut f32;
        let head = ((32 - (p as usize) % 32) % 32 / 4).min(n);
        for o in &mut out[..head] {
            o.write(0.0);
        }
        let body = (n - head) / 8 * 8;
        let zero = _mm256_setzero_ps();
        let mut j = head;
        while j < head + body {
            // SAFETY: `p + j` is 32-byte aligned and `j + 8 <= n`.
            unsafe { _mm256_stream_ps(p.add(j), zero) };
            j += 8;
        }
        for o in &mut out[head + body..] {
            o.write(0.0);
        }
        _mm_sfence();
    }

    /// AVX2 twin of `scan::scan_zero_run_portable` (same moment lanes and blocks as
    /// [`scan_run`]).
    ///
    /// # Safety
    /// The CPU must support AVX2; `out` as long as `x`.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn scan_zero_run<const MOMENTS: bool>(
        x: &[f32],
        out: &mut [MaybeUninit<f32>],
        lo: f32,
        shift: f32,
        base: usize,
        part: &mut Part,
    ) {
        let lov = _mm256_set1_ps(lo);
        let max = _mm256_set1_ps(f32::MAX);
        let absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
        let sh = _mm256_set1_ps(shift);
        let mut below = _mm256_setzero_si256();
        let mut bad = _mm256_setzero_ps();
        let mut tail_below = 0u64;
        let mut tail_bad = false;
        zero_stream(out);
        let mut offset = 0usize;
        // Candidates of the current block (uninitialised: only the first `nbuf` are read).
        let mut vbuf = [MaybeUninit::<f32>::uninit(); FLUSH];
        let mut ibuf = [MaybeUninit::<u32>::uninit(); FLUSH];
        for block in x.chunks(FLUSH) {
            let mut nbuf = 0usize;
            let mut s1 = _mm256_setzero_ps();
            let mut s2 = _mm256_setzero_ps();
            let full = block.len() / 8 * 8;
            let mut j = 0;
            while j < full {
                // SAFETY: `j + 8 <= block.len()`; `out` is as long as `x`.
                let ge = unsafe {
                    let v = _mm256_loadu_ps(block.as_ptr().add(j));

                    let lt = _mm256_cmp_ps::<_CMP_LT_OQ>(v, lov);
                    below = _mm256_sub_epi32(below, _mm256_castps_si256(lt));
                    bad = _mm256_or_ps(
                        bad,
                        _mm256_cmp_ps::<_CMP_NLE_UQ>(_mm256_and_ps(v, absmask), max),
                    );
                    if MOMENTS {
                        let d = _mm256_sub_ps(v, sh);
                        s1 = _mm256_add_ps(s1, d);
                        s2 = _mm256_add_ps(s2, _mm256_mul_ps(d, d));
                    }
                    _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(v, lov)) as u32
                };
                let mut m = ge;
                while m != 0 {
                    let l = m.trailing_zeros() as usize;
                    vbuf[nbuf].write(block[j + l]);
                    ibuf[nbuf].write((base + offset + j + l) as u32);
                    nbuf += 1;
                    m &= m - 1;
                }
                j += 8;
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
            for j in full..block.len() {
                let v = block[j];
                tail_below += (v < lo) as u64;
                if v >= lo {
                    vbuf[nbuf].write(v);
                    ibuf[nbuf].write((base + offset + j) as u32);
                    nbuf += 1;
                }
                tail_bad |= !v.is_finite();
                if MOMENTS {
                    let d = v - shift;
                    l1[0] += d;
                    l2[0] += d * d;
                }
            }
            // SAFETY: the first `nbuf` entries were written above.
            unsafe {
                part.cands.extend_from_slice(assume_init(&vbuf[..nbuf]));
                part.idx.extend_from_slice(assume_init(&ibuf[..nbuf]));
            }
            if MOMENTS {
                part.s1 += l1.iter().map(|&v| v as f64).sum::<f64>();
                part.s2 += l2.iter().map(|&v| v as f64).sum::<f64>();
            }
            offset += block.len();
        }
        let mut b = [0u32; 8];
        // SAFETY: the array holds 8 u32.
        unsafe { _mm256_storeu_si256(b.as_mut_ptr().cast(), below) };
        part.below += b.iter().map(|&v| v as u64).sum::<u64>() + tail_below;
        part.bad |= _mm256_movemask_ps(bad) != 0 || tail_bad;
    }

    /// AVX2 twin of `apply::apply_run_portable`.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn apply_run<const AFF: bool, const MASK: u8>(
        run: Run<'_>,
        sparse: &mut Vec<u32>,
    ) {
        let Run {
            x,
            out,
            bits,
            rel,
            base,
            c: (t, scale, shift),
        } = run;
        let n = x.len();
        let scalar =
            |j: usize, out: &mut [MaybeUninit<f32>], bits: &mut [u8], sparse: &mut Vec<u32>| {
                let z = x[j];
                let y = if AFF { z * scale + shift } else { z };
                let d = y - t;
                let pass = d > 0.0;
                out[j].write(if pass { d } else { 0.0 });
                if MASK == 1 && pass {
                    let b = rel + j;
                    bits[b >> 3] |= 1 << (b & 7);
                }
                if MASK == 2 && pass {
                    sparse.push((base + j) as u32);
                }
            };
        // Head up to a byte boundary of the bitset (so each vector step owns one mask byte) or,
        // without a bitset, up to a 32-byte boundary of the output (streaming stores).
        let head = if MASK == 1 {
            ((8 - rel % 8) % 8).min(n)
        } else {
            ((32 - (out.as_ptr() as usize) % 32) % 32 / 4).min(n)
        };
        let stream = MASK != 1 && n >= STREAM_MIN && (out.as_ptr() as usize) % 4 == 0;
        for j in 0..head {
            scalar(j, out, bits, sparse);
        }
        let full = head + (n - head) / 8 * 8;
        let tv = _mm256_set1_ps(t);
        let sv = _mm256_set1_ps(scale);
        let bv = _mm256_set1_ps(shift);
        let zero = _mm256_setzero_ps();
        let xp = x.as_ptr();
        let op = out.as_mut_ptr() as *mut f32;
        // Passing indices of the current block (flushed every BLOCK values): no call inside the
        // vector loop.
        const BLOCK: usize = 1024;
        let mut buf = [MaybeUninit::<u32>::uninit(); BLOCK];
        let mut nbuf = 0usize;
        let mut j = head;
        while j < full {
            // SAFETY: `j + 8 <= n` and `out` is as long as `x`.
            let pass = unsafe {
                let z = _mm256_loadu_ps(xp.add(j));
                let y = if AFF {
                    _mm256_add_ps(_mm256_mul_ps(z, sv), bv)
                } else {
                    z
                };
                let d = _mm256_sub_ps(y, tv);
                let pass = _mm256_cmp_ps::<_CMP_GT_OQ>(d, zero);
                if stream {
                    _mm256_stream_ps(op.add(j), _mm256_and_ps(d, pass));
                } else {
                    _mm256_storeu_ps(op.add(j), _mm256_and_ps(d, pass));
                }
                _mm256_movemask_ps(pass) as u32
            };
            if MASK == 1 {
                bits[(rel + j) >> 3] = pass as u8;
            }
            if MASK == 2 {
                let mut m = pass;
                while m != 0 {
                    buf[nbuf].write((base + j + m.trailing_zeros() as usize) as u32);
                    nbuf += 1;
                    m &= m - 1;
                }
            }
            j += 8;
            if MASK == 2 && ((j - head) % BLOCK == 0 || j == full) {
                // SAFETY: the first `nbuf` entries were written above.
                sparse.extend_from_slice(unsafe { assume_init(&buf[..nbuf]) });
                nbuf = 0;
            }
        }
        for j in full..n {
            scalar(j, out, bits, sparse);
        }
        if stream {
            _mm_sfence();
        }
    }

    /// The lane mask of 8 values from their mask byte.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn byte_mask(byte: u8) -> __m256 {
        let lanes = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        let b = _mm256_and_si256(_mm256_set1_epi32(byte as i32), lanes);
        _mm256_castsi256_ps(_mm256_cmpeq_epi32(b, lanes))
    }

    /// `g = bit ? g : 0` over one task chunk (bitset `b` starting at bit 0 of `g`).
    ///
    /// # Safety
    /// The CPU must support AVX2; `b` holds a bit for every value of `g`.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn mask_bits(g: &mut [f32], b: &[u8]) {
        let n = g.len();
        let full = n / 8 * 8;
        let gp = g.as_mut_ptr();
        let mut i = 0;
        while i < full {
            let m = byte_mask(b[i / 8]);
            // SAFETY: `i + 8 <= n`.
            unsafe {
                let v = _mm256_loadu_ps(gp.add(i));
                _mm256_storeu_ps(gp.add(i), _mm256_and_ps(v, m));
            }
            i += 8;
        }
        for j in full..n {
            if (b[j >> 3] >> (j & 7)) & 1 == 0 {
                g[j] = 0.0;
            }
        }
    }

    /// AVX2 twin of `backward::sums_run_portable` for a run starting at bit 0 of `b`.
    ///
    /// # Safety
    /// The CPU must support AVX2; `b` holds a bit for every value of `g`.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn bn_sums_run(
        g: &[f32],
        z: Option<&[f32]>,
        mean: f32,
        b: &[u8],
    ) -> (f64, f64) {
        let (mut t1, mut t2) = (0.0f64, 0.0f64);
        let n = g.len();
        let mv = _mm256_set1_ps(mean);
        let mut start = 0;
        while start < n {
            let end = (start + FLUSH).min(n);
            let full = start + (end - start) / 8 * 8;
            let mut s1 = _mm256_setzero_ps();
            let mut s2 = _mm256_setzero_ps();
            let mut j = start;
            while j < full {
                // SAFETY: `j + 8 <= n`; `z` (if any) is as long as `g`.
                unsafe {
                    let gy = _mm256_and_ps(_mm256_loadu_ps(g.as_ptr().add(j)), byte_mask(b[j / 8]));
                    s1 = _mm256_add_ps(s1, gy);
                    if let Some(z) = z {
                        let d = _mm256_sub_ps(_mm256_loadu_ps(z.as_ptr().add(j)), mv);
                        s2 = _mm256_add_ps(s2, _mm256_mul_ps(gy, d));
                    }
                }
                j += 8;
            }
            let mut l1 = [0f32; 8];
            let mut l2 = [0f32; 8];
            // SAFETY: the arrays hold 8 floats.
            unsafe {
                _mm256_storeu_ps(l1.as_mut_ptr(), s1);
                _mm256_storeu_ps(l2.as_mut_ptr(), s2);
            }
            for j in full..end {
                let gy = if (b[j >> 3] >> (j & 7)) & 1 == 1 {
                    g[j]
                } else {
                    0.0
                };
                l1[0] += gy;
                if let Some(z) = z {
                    l2[0] += gy * (z[j] - mean);
                }
            }
            t1 += l1.iter().map(|&v| v as f64).sum::<f64>();
            t2 += l2.iter().map(|&v| v as f64).sum::<f64>();
            start = end;
        }
        (t1, t2)
    }

    /// AVX2 twin of the portable `dz` run: `g <- a * gy + (c0 + c1 * (z - mean))`, with
    /// `gy = g * bit` (bits from bit 0 of `b`), `gy = g` (no bits) or `gy = 0` (`zero_g`).
    ///
    /// # Safety
    /// The CPU must support AVX2; `b` (if any) holds a bit for every value of `g`.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn dz_run(
        g: &mut [f32],
        z: Option<&[f32]>,
        k: DzCoef,
        b: Option<&[u8]>,
        zero_g: bool,
    ) {
        let n = g.len();
        let full = n / 8 * 8;
        let av = _mm256_set1_ps(k.a);
        let c0 = _mm256_set1_ps(k.c0);
        let c1 = _mm256_set1_ps(k.c1);
        let mv = _mm256_set1_ps(k.mean);
        let gp = g.as_mut_ptr();
        let mut j = 0;
        while j < full {
            // SAFETY: `j + 8 <= n`; `z` (if any) is as long as `g`.
            unsafe {
                let gy = if zero_g {
                    _mm256_setzero_ps()
                } else {
                    let v = _mm256_loadu_ps(gp.add(j));
                    match b {
                        Some(b) => _mm256_and_ps(v, byte_mask(b[j / 8])),
                        None => v,
                    }
                };
                let base = match z {
                    Some(z) => _mm256_add_ps(
                        c0,
                        _mm256_mul_ps(c1, _mm256_sub_ps(_mm256_loadu_ps(z.as_ptr().add(j)), mv)),
                    ),
                    None => c0,
                };
                _mm256_storeu_ps(gp.add(j), _mm256_add_ps(_mm256_mul_ps(av, gy), base));
            }
            j += 8;
        }
        for j in full..n {
            let gy = if zero_g {
                0.0
            } else {
                match b {
                    Some(b) if (b[j >> 3] >> (j & 7)) & 1 == 0 => 0.0,
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
}

//! Packing-free matrix products for the shapes of the Winograd convolutions: a few rows (the
//! channel counts, 8 to 64) against a long, contiguous dimension (the tiles of a block).
//!
//! [`gemm`](super::gemm::gemm) (`matrixmultiply`) first copies both operands into panels. At
//! these shapes each copied value is used only `cout` or `cin` times, and the copies cost about
//! as much as the arithmetic (a default training step spent 4.2% of its time packing and 2.0%
//! multiplying in the Winograd weight gradient). These kernels read the operands where they
//! are:
//! - [`gemm_nn`]: `c = a b` (`a` `m x k`, `b` `k x n`, both row-major), for the forward pass;
//! - [`gemm_nt`]: `c += a b^T` (`a` `m x k`, `b` `n x k`), for the weight gradient; it
//!   transposes one `KC`-long slice of `b` at a time into a small scratch.
//!
//! **Rounding is `matrixmultiply`'s, bit for bit**, so a run is the same whichever of the two
//! computes a product: every output element is a chain of fused multiply-adds over the inner
//! dimension in increasing order, started from zero, in chunks of [`KC`] (its `S_KC`); each
//! chunk's sum is added to the output in order, the first one to `+0.0` when the output is
//! overwritten. The tests check bit equality against `gemm` on random shapes.

use super::simd::{Simd, simd_level};

/// Inner-dimension chunk: `matrixmultiply`'s `S_KC` for `f32`.
pub const KC: usize = 256;

/// Output columns per register tile (two AVX2 vectors).
const W: usize = 16;

/// Output rows per register tile: `R x W / 8 = 12` of the 16 AVX2 registers hold the tile.
const R: usize = 6;

/// Adds the product of rows `a` (each `kk` long) and the `kk x WT` panel at `b` (row stride
/// `ldb`) to `c` (row stride `ldc`), or overwrites `c` with it plus `+0.0` when `first`.
#[inline(always)]
fn tile<const RT: usize, const WT: usize>(
    a: [&[f32]; RT],
    b: &[f32],
    ldb: usize,
    kk: usize,
    c: &mut [f32],
    ldc: usize,
    first: bool,
) {
    let mut acc = [[0.0f32; WT]; RT];
    for p in 0..kk {
        let bp: &[f32; WT] = b[p * ldb..p * ldb + WT].try_into().expect("panel row");
        for r in 0..RT {
            let ar = a[r][p];
            for l in 0..WT {
                acc[r][l] = ar.mul_add(bp[l], acc[r][l]);
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        let cr = &mut c[r * ldc..r * ldc + WT];
        for l in 0..WT {
            cr[l] = if first { 0.0 } else { cr[l] } + acc_r[l];
        }
    }
}

/// Runs [`tile`] with the row count known at compile time (`1..=R` rows).
#[inline(always)]
fn tile_rows<const WT: usize>(
    a: &[f32],
    lda: usize,
    rows: usize,
    b: &[f32],
    ldb: usize,
    kk: usize,
    c: &mut [f32],
    ldc: usize,
    first: bool,
) {
    let row = |r: usize| &a[r * lda..r * lda + kk];
    match rows {
        6 => tile::<6, WT>(std::array::from_fn(row), b, ldb, kk, c, ldc, first),
        5 => tile::<5, WT>(std::array::from_fn(row), b, ldb, kk, c, ldc, first),
        4 => tile::<4, WT>(std::array::from_fn(row), b, ldb, kk, c, ldc, first),
        3 => tile::<3, WT>(std::array::from_fn(row), b, ldb, kk, c, ldc, first),
        2 => tile::<2, WT>(std::array::from_fn(row), b, ldb, kk, c, ldc, first),
        1 => tile::<1, WT>(std::array::from_fn(row), b, ldb, kk, c, ldc, first),
        _ => unreachable!("1..=R rows per tile"),
    }
}

/// One `KC` chunk: `c (m x n) (+)= a[:, chunk] b[chunk, :]` with `a` rows at stride `lda`
/// (already offset to the chunk), `b` the chunk's `kk x n` rows at stride `ldb`.
#[inline(always)]
fn chunk_body(
    m: usize,
    n: usize,
    kk: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    first: bool,
) {
    let mut j = 0;
    while j < n {
        let width = if n - j >= W {
            W
        } else if n - j >= 8 {
            8
        } else {
            1
        };
        let mut i = 0;
        while i < m {
            let rows = (m - i).min(R);
            let (ai, ci) = (&a[i * lda..], &mut c[i * n + j..]);
            match width {
                W => tile_rows::<W>(ai, lda, rows, &b[j..], ldb, kk, ci, n, first),
                8 => tile_rows::<8>(ai, lda, rows, &b[j..], ldb, kk, ci, n, first),
                _ => tile_rows::<1>(ai, lda, rows, &b[j..], ldb, kk, ci, n, first),
            }
            i += rows;
        }
        j += width;
    }
}

crate::multiversion!(
    fn chunk = chunk_body(
        m: usize,
        n: usize,
        kk: usize,
        a: &[f32],
        lda: usize,
        b: &[f32],
        ldb: usize,
        c: &mut [f32],
        first: bool,
    )
);

fn check_lengths(op: &str, m: usize, k: usize, n: usize, a: usize, b: usize, c: usize) {
    assert!(
        a == m * k && b == k * n && c == m * n,
        "{op}: buffers of {a}, {b}, {c} values do not hold ({m} x {k}) x ({k} x {n})"
    );
}

/// `c = a b` (`accumulate == false`) or `c += a b`, with `a` `m x k`, `b` `k x n` and `c`
/// `m x n`, all row-major and contiguous. Bit-identical to
/// [`gemm`](super::gemm::gemm)`(1, a, b, beta, c)` with `beta` 0 or 1.
///
/// # Panics
/// If a buffer's length does not match the shapes.
pub fn gemm_nn(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    check_lengths("gemm_nn", m, k, n, a.len(), b.len(), c.len());
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    for p0 in (0..k).step_by(KC) {
        let kk = KC.min(k - p0);
        let first = p0 == 0 && !accumulate;
        chunk(m, n, kk, &a[p0..], k, &b[p0 * n..], n, c, first);
    }
}

/// `c = a b^T` (`accumulate == false`) or `c += a b^T`, with `a` `m x k`, `b` `n x k` and `c`
/// `m x n`, all row-major and contiguous. Bit-identical to
/// [`gemm`](super::gemm::gemm)`(1, a, b.t(), beta, c)` with `beta` 0 or 1. `scratch` is
/// resized to hold one transposed `KC x n` slice of `b`.
///
/// # Panics
/// If a buffer's length does not match the shapes.
pub fn gemm_nt(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
    scratch: &mut Vec<f32>,
) {
    check_lengths("gemm_nt", m, k, n, a.len(), b.len(), c.len());
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    if scratch.len() < KC * n {
        scratch.resize(KC * n, 0.0);
    }
    for p0 in (0..k).step_by(KC) {
        let kk = KC.min(k - p0);
        let bt = &mut scratch[..kk * n];
        transpose(&b[p0..], k, n, kk, bt);
        let first = p0 == 0 && !accumulate;
        chunk(m, n, kk, &a[p0..], k, bt, n, c, first);
    }
}

/// `out (kk x n) = src[:, ..kk]^T` for `n` rows of `src` at stride `lds`.
fn transpose(src: &[f32], lds: usize, n: usize, kk: usize, out: &mut [f32]) {
    assert!(
        n == 0 || src.len() >= (n - 1) * lds + kk,
        "transpose: source too short"
    );
    assert!(out.len() >= kk * n, "transpose: output too short");
    #[cfg(target_arch = "x86_64")]
    if simd_level() == Simd::Avx2 {
        // SAFETY: the CPU has AVX2 (checked above); the asserts bound every access.
        unsafe { transpose_avx2(src, lds, n, kk, out) };
        return;
    }
    transpose_block(src, lds, 0..n, 0..kk, n, out);
}

/// The scalar transpose of rows `rows` and columns `cols` of `src` into `out` (row stride `n`).
fn transpose_block(
    src: &[f32],
    lds: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    n: usize,
    out: &mut [f32],
) {
    for j in rows {
        for p in cols.clone() {
            out[p * n + j] = src[j * lds + p];
        }
    }
}

/// [`transpose`] by 8 x 8 blocks in AVX registers (unpack, shuffle, lane permute); the edges
/// that do not fill a block are copied one value at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_avx2(src: &[f32], lds: usize, n: usize, kk: usize, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let (n8, k8) = (n - n % 8, kk - kk % 8);
    for j0 in (0..n8).step_by(8) {
        for p0 in (0..k8).step_by(8) {
            // SAFETY: rows j0..j0 + 8 < n and columns p0..p0 + 8 <= kk lie in `src`
            // (asserted by the caller), and output rows p0..p0 + 8 hold columns j0..j0 + 8.
            unsafe {
                let s = src.as_ptr().add(j0 * lds + p0);
                let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(s.add(i * lds)));
                let t0 = _mm256_unpacklo_ps(r[0], r[1]);
                let t1 = _mm256_unpackhi_ps(r[0], r[1]);
                let t2 = _mm256_unpacklo_ps(r[2], r[3]);
                let t3 = _mm256_unpackhi_ps(r[2], r[3]);
                let t4 = _mm256_unpacklo_ps(r[4], r[5]);
                let t5 = _mm256_unpackhi_ps(r[4], r[5]);
                let t6 = _mm256_unpacklo_ps(r[6], r[7]);
                let t7 = _mm256_unpackhi_ps(r[6], r[7]);
                let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                let cols = [
                    _mm256_permute2f128_ps::<0x20>(u0, u4),
                    _mm256_permute2f128_ps::<0x20>(u1, u5),
                    _mm256_permute2f128_ps::<0x20>(u2, u6),
                    _mm256_permute2f128_ps::<0x20>(u3, u7),
                    _mm256_permute2f128_ps::<0x31>(u0, u4),
                    _mm256_permute2f128_ps::<0x31>(u1, u5),
                    _mm256_permute2f128_ps::<0x31>(u2, u6),
                    _mm256_permute2f128_ps::<0x31>(u3, u7),
                ];
                let o = out.as_mut_ptr().add(p0 * n + j0);
                for (q, c) in cols.into_iter().enumerate() {
                    _mm256_storeu_ps(o.add(q * n), c);
                }
            }
        }
    }
    transpose_block(src, lds, 0..n8, k8..kk, n, out);
    transpose_block(src, lds, n8..n, 0..kk, n, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemm::gemm;
    use crate::testing::random_array;
    use ndarray::{Array2, Ix2};

    fn arr2(shape: (usize, usize), seed: u64) -> Array2<f32> {
        random_array(&[shape.0, shape.1], seed)
            .into_dimensionality::<Ix2>()
            .unwrap()
    }

    /// The naive reference: sequential fused multiply-adds per `KC` chunk, chunks added.
    fn naive(a: &Array2<f32>, bt: &Array2<f32>, c0: Option<&Array2<f32>>) -> Array2<f32> {
        let (m, k, n) = (a.nrows(), a.ncols(), bt.nrows());
        Array2::from_shape_fn((m, n), |(i, j)| {
            let mut out = c0.map_or(0.0, |c| c[[i, j]]);
            for p0 in (0..k).step_by(KC) {
                let mut s = 0.0f32;
                for p in p0..(p0 + KC).min(k) {
                    s = a[[i, p]].mul_add(bt[[j, p]], s);
                }
                out += s;
            }
            out
        })
    }

    fn bits(x: &Array2<f32>) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    const SHAPES: [(usize, usize, usize); 10] = [
        (1, 1, 1),
        (16, 16, 1000),
        (10, 16, 37),
        (16, 10, 8),
        (7, 3, 23),
        (13, 300, 17),
        (16, 600, 16),
        (6, 256, 9),
        (1, 513, 40),
        (5, 0, 4),
    ];

    /// The product `product(m, k, n, a, b, c, accumulate)` on every shape of [`SHAPES`], both
    /// accumulation modes, against `gemm` and [`naive`] bit for bit; `b` is `k x n`, or `n x k`
    /// when `transposed`. Inputs are drawn from seeds `seed..`, `seed + 100..`, `seed + 200..`.
    fn check_bit_for_bit(
        seed: u64,
        transposed: bool,
        mut product: impl FnMut(usize, usize, usize, &[f32], &[f32], &mut [f32], bool),
    ) {
        for (s, &(m, k, n)) in SHAPES.iter().enumerate() {
            let s = s as u64;
            let a = arr2((m, k), seed + s);
            let b = arr2(if transposed { (n, k) } else { (k, n) }, seed + 100 + s);
            let right = if transposed { b.t() } else { b.view() };
            let c0 = arr2((m, n), seed + 200 + s);
            for accumulate in [false, true] {
                let start = || {
                    if accumulate {
                        c0.clone()
                    } else {
                        Array2::from_elem((m, n), f32::NAN)
                    }
                };
                let beta = if accumulate { 1.0 } else { 0.0 };
                let mut want = start();
                gemm(1.0, a.view(), right, beta, want.view_mut());
                let mut got = start();
                product(
                    m,
                    k,
                    n,
                    a.as_slice().unwrap(),
                    b.as_slice().unwrap(),
                    got.as_slice_mut().unwrap(),
                    accumulate,
                );
                let shape = format!("({m} x {k}) x ({k} x {n}), transposed {transposed}");
                assert_eq!(bits(&got), bits(&want), "{shape}, +=: {accumulate}");
                let reference = naive(&a, &right.t().to_owned(), accumulate.then_some(&c0));
                assert_eq!(bits(&got), bits(&reference), "naive, {shape}");
            }
        }
    }

    #[test]
    fn gemm_nn_matches_matrixmultiply_bit_for_bit() {
        check_bit_for_bit(100, false, gemm_nn);
    }

    #[test]
    fn gemm_nt_matches_matrixmultiply_bit_for_bit() {
        let mut scratch = Vec::new();
        check_bit_for_bit(400, true, |m, k, n, a, b, c, accumulate| {
            gemm_nt(m, k, n, a, b, c, accumulate, &mut scratch)
        });
    }

    #[test]
    fn exact_cancellations_and_negative_zeros_round_like_matrixmultiply() {
        // 1 - 1 cancels exactly and -0 * 1 is -0: both chains end at +0, as gemm's do.
        let a = Array2::from_shape_vec((2, 2), vec![1.0, -1.0, -0.0, -0.0]).unwrap();
        let b = Array2::from_shape_vec((2, 9), [1.0f32; 18].to_vec()).unwrap();
        let mut want = Array2::from_elem((2, 9), f32::NAN);
        gemm(1.0, a.view(), b.view(), 0.0, want.view_mut());
        let mut got = Array2::from_elem((2, 9), f32::NAN);
        gemm_nn(
            2,
            2,
            9,
            a.as_slice().unwrap(),
            b.as_slice().unwrap(),
            got.as_slice_mut().unwrap(),
            false,
        );
        assert_eq!(bits(&got), bits(&want));
        assert!(
            got.iter().all(|v| v.to_bits() == 0),
            "+0.0 everywhere: {got:?}"
        );
    }

    #[test]
    fn transpose_matches_the_scalar_copy_on_ragged_shapes() {
        for (n, kk, lds) in [
            (8, 8, 8),
            (16, 256, 1000),
            (10, 37, 40),
            (3, 5, 5),
            (17, 9, 9),
        ] {
            let src: Vec<f32> = (0..n * lds).map(|i| i as f32).collect();
            let mut fast = vec![f32::NAN; kk * n];
            transpose(&src, lds, n, kk, &mut fast);
            let mut slow = vec![f32::NAN; kk * n];
            transpose_block(&src, lds, 0..n, 0..kk, n, &mut slow);
            assert_eq!(fast, slow, "n {n} kk {kk} lds {lds}");
        }
    }

    #[test]
    #[should_panic(expected = "gemm_nn: buffers")]
    fn wrong_lengths_are_named() {
        gemm_nn(2, 2, 2, &[0.0; 4], &[0.0; 3], &mut [0.0; 4], false);
    }
}

//! GEMM on strided `f32` views through `matrixmultiply` (ndarray's `general_mat_mul`), plus a
//! deterministic parallel split of one large product.
//!
//! `matrixmultiply` runs single-threaded (its `threading` feature stays off); parallelism comes
//! from rayon tasks that each own a disjoint block of the output. Every output element is a
//! full dot product computed by one call, so the blocking never changes which partial sums are
//! added together: the bits do not depend on the number of threads.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// Products smaller than this many floating-point operations run on the calling thread.
pub const PAR_MIN_FLOPS: usize = 1 << 22;

/// Fewest rows of the output per parallel task when splitting along `m` (a multiple of the
/// 16-row micro-kernel).
pub const ROW_BLOCK: usize = 64;

/// Most rows per parallel task: every task packs the whole right operand again, so tall
/// products (the transformer's `(batch x tokens) x d_model` activations) take blocks of up to
/// this many rows (with 64-row blocks, packing took 4.8% of a default training step against
/// 6.9% for these products' arithmetic).
pub const ROW_BLOCK_MAX: usize = 256;

/// Tasks a product split along `m` aims for, within [`ROW_BLOCK`] and [`ROW_BLOCK_MAX`] rows.
const ROW_TASKS: usize = 8;

/// Rows per task for an `m`-row product: a function of the shape only.
fn row_block(m: usize) -> usize {
    m.div_ceil(ROW_TASKS)
        .next_multiple_of(16)
        .clamp(ROW_BLOCK, ROW_BLOCK_MAX)
}

/// Columns of the output per parallel task when splitting along `n`.
pub const COL_BLOCK: usize = 256;

/// `c = alpha * a b + beta * c` on the calling thread. When `beta == 0` the previous content of
/// `c` is ignored (it may be uninitialised garbage or NaN).
///
/// # Panics
/// If the shapes are not `(m, k) x (k, n) -> (m, n)`.
pub fn gemm(
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
) {
    check("gemm", &a, &b, &c);
    if a.ncols() == 0 {
        // An empty inner dimension: the product is zero.
        if beta == 0.0 {
            c.fill(0.0);
        } else {
            c.mapv_inplace(|v| v * beta);
        }
        return;
    }
    general_mat_mul(alpha, &a, &b, beta, &mut c);
}

/// [`gemm`] split into fixed blocks of the output (by 64 to 256 rows, [`ROW_BLOCK`] to
/// [`ROW_BLOCK_MAX`], when `m >= n`; by [`COL_BLOCK`] columns otherwise) that run as rayon tasks when the product has at least
/// [`PAR_MIN_FLOPS`] operations. The blocks depend only on the shapes, and each output element
/// is computed by exactly one call, so the result does not depend on the number of threads.
pub fn gemm_par(
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
) {
    check("gemm_par", &a, &b, &c);
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let flops = 2 * m * k * n;
    if flops < PAR_MIN_FLOPS || (m <= ROW_BLOCK && n <= COL_BLOCK) {
        gemm(alpha, a, b, beta, c);
        return;
    }
    if m >= n {
        let rows = row_block(m);
        let a_blocks: Vec<_> = a.axis_chunks_iter(Axis(0), rows).collect();
        c.axis_chunks_iter_mut(Axis(0), rows)
            .into_par_iter()
            .zip(a_blocks)
            .for_each(|(c_blk, a_blk)| gemm(alpha, a_blk, b, beta, c_blk));
    } else {
        let b_blocks: Vec<_> = b.axis_chunks_iter(Axis(1), COL_BLOCK).collect();
        c.axis_chunks_iter_mut(Axis(1), COL_BLOCK)
            .into_par_iter()
            .zip(b_blocks)
            .for_each(|(c_blk, b_blk)| gemm(alpha, a, b_blk, beta, c_blk));
    }
}

fn check(op: &str, a: &ArrayView2<'_, f32>, b: &ArrayView2<'_, f32>, c: &ArrayViewMut2<'_, f32>) {
    crate::shape_check!(
        a.ncols() == b.nrows() && c.nrows() == a.nrows() && c.ncols() == b.ncols(),
        op,
        "cannot multiply {:?} by {:?} into {:?}",
        a.shape(),
        b.shape(),
        c.shape()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{random_array, with_threads};
    use ndarray::{Array2, Ix2};

    fn naive(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f32> {
        let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
        Array2::from_shape_fn((m, n), |(i, j)| {
            (0..k)
                .map(|p| a[[i, p]] as f64 * b[[p, j]] as f64)
                .sum::<f64>() as f32
        })
    }

    fn arr2(shape: (usize, usize), seed: u64) -> Array2<f32> {
        random_array(&[shape.0, shape.1], seed)
            .into_dimensionality::<Ix2>()
            .unwrap()
    }

    #[test]
    fn gemm_matches_naive_on_strided_views() {
        for (i, &(m, k, n)) in [(1, 1, 1), (3, 5, 7), (17, 33, 9), (16, 0, 4)]
            .iter()
            .enumerate()
        {
            let a = arr2((k, m), 10 + i as u64); // used transposed: a strided view
            let b = arr2((k, n), 20 + i as u64);
            let mut c = Array2::from_elem((m, n), f32::NAN);
            gemm(1.0, a.t(), b.view(), 0.0, c.view_mut());
            let want = naive(&a.t().to_owned(), &b);
            crate::testing::assert_close(&c.into_dyn(), &want.into_dyn(), 1e-5, 1e-5);
        }
    }

    #[test]
    fn gemm_accumulates_with_beta() {
        // c = 2 * [[1,2]] . [[3],[4]] + 0.5 * [[10]] = 2 * 11 + 5 = 27.
        let a = ndarray::arr2(&[[1.0f32, 2.0]]);
        let b = ndarray::arr2(&[[3.0f32], [4.0]]);
        let mut c = ndarray::arr2(&[[10.0f32]]);
        gemm(2.0, a.view(), b.view(), 0.5, c.view_mut());
        assert_eq!(c[[0, 0]], 27.0);
    }

    #[test]
    fn gemm_par_is_thread_count_independent_and_matches_serial() {
        for &(m, k, n) in &[(300, 70, 90), (40, 70, 900), (4608, 24, 40)] {
            let a = arr2((m, k), 1);
            let b = arr2((k, n), 2);
            let run = |threads| {
                with_threads(threads, || {
                    let mut c = Array2::zeros((m, n));
                    gemm_par(1.0, a.view(), b.view(), 0.0, c.view_mut());
                    c
                })
            };
            let one = run(1);
            let many = run(3);
            assert_eq!(one, many);
            let mut serial = Array2::zeros((m, n));
            gemm(1.0, a.view(), b.view(), 0.0, serial.view_mut());
            assert_eq!(one, serial);
        }
    }

    #[test]
    fn row_blocks_grow_with_the_product_within_bounds() {
        assert_eq!(row_block(224), ROW_BLOCK);
        assert_eq!(row_block(1000), 128);
        assert_eq!(row_block(4608), ROW_BLOCK_MAX);
        for m in [1, 17, 500, 100_000] {
            assert_eq!(row_block(m) % 16, 0, "{m}");
        }
    }

    #[test]
    #[should_panic(expected = "gemm: cannot multiply [2, 3] by [4, 5] into [2, 5]")]
    fn gemm_rejects_bad_shapes() {
        let a = Array2::<f32>::zeros((2, 3));
        let b = Array2::<f32>::zeros((4, 5));
        let mut c = Array2::<f32>::zeros((2, 5));
        gemm(1.0, a.view(), b.view(), 0.0, c.view_mut());
    }
}

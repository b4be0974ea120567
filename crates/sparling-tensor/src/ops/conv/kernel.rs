//! Forward and backward kernels of the convolutions on contiguous slices.
//!
//! Forward: per image, `y = W cols` with `W` the `(cout, k)` weight matrix and `cols` the
//! im2col matrix `(k, ho wo)`, computed tile by tile over output rows so that the column tile
//! stays in cache. A 1x1 stride-1 unpadded convolution uses the image itself as `cols` (no
//! im2col). Work items (image, row tile) write disjoint output blocks and run as rayon tasks;
//! each GEMM is single-threaded.
//!
//! Backward:
//! * `db[co] = sum over images and positions of dy`, in f64, in a fixed order;
//! * `dW = sum_n dy_n cols_n^T`: one partial per image (tiles accumulated in order), then the
//!   partials are added in image order, so the bits do not depend on the thread count;
//! * `dx`: for stride 1 (padding at most the dilated kernel reach) and `cin >= cout` (or when
//!   Winograd applies) it is the forward convolution of `dy` with the flipped, transposed
//!   kernel (im2col + GEMM or Winograd again, no scatter); otherwise per image
//!   `col2im(W^T dy)` tile by tile.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, s};
use rayon::prelude::*;

use super::im2col::{col2im_add, im2col};
use super::params::ConvGeom;
use super::winograd;
use crate::kernels::gemm::{PAR_MIN_FLOPS, gemm};

/// The image `n` of a `(n, c, plane)` buffer as a `(c, plane)` matrix.
fn image(data: &[f32], n: usize, c: usize, plane: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((c, plane), &data[n * c * plane..(n + 1) * c * plane]).expect("image")
}

/// Runs `f` over the items, in parallel when the convolution is large enough to pay for it.
/// Items write disjoint outputs, so the choice never changes the result.
fn run_items<T: Send>(items: Vec<T>, flops: usize, f: impl Fn(&mut Vec<f32>, T) + Sync + Send) {
    if flops >= PAR_MIN_FLOPS {
        items
            .into_par_iter()
            .for_each_init(Vec::new, |buf, item| f(buf, item));
    } else {
        let mut buf = Vec::new();
        for item in items {
            f(&mut buf, item);
        }
    }
}

/// Forward convolution: `x` is `(n, cin, h, w)`, `w` is `(cout, k)`, `bias` is `(cout)`;
/// returns `y` as `(n, cout, ho, wo)`.
pub(crate) fn conv_fwd(g: &ConvGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    if winograd::applies(g) {
        return winograd::winograd_fwd(g, x, w, bias);
    }
    let plane = g.out_plane();
    let mut y = vec![0.0f32; g.n * g.cout * plane];
    if y.is_empty() {
        return y;
    }
    let wm = ArrayView2::from_shape((g.cout, g.k()), w).expect("weight matrix");
    let rows = g.rows_per_tile();
    let tile_cols = rows * g.wo;
    // Work items: (image, first output row, output block (cout, tile columns)).
    let mut items = Vec::new();
    for (n, y_img) in y.chunks_exact_mut(g.cout * plane).enumerate() {
        let mut rest = ArrayViewMut2::from_shape((g.cout, plane), y_img).expect("output image");
        let mut r0 = 0;
        while rest.ncols() > 0 {
            let take = tile_cols.min(rest.ncols());
            let (blk, tail) = rest.split_at(Axis(1), take);
            items.push((n, r0, blk));
            rest = tail;
            r0 += rows;
        }
    }
    run_items(items, g.flops(), |buf, (n, r0, mut blk)| {
        let beta = match bias {
            Some(b) => {
                for (mut row, &bv) in blk.outer_iter_mut().zip(b) {
                    row.fill(bv);
                }
                1.0
            }
            None => 0.0,
        };
        let ncol = blk.ncols();
        if g.is_pointwise() {
            let x_img = image(x, n, g.cin, g.in_plane());
            gemm(
                1.0,
                wm,
                x_img.slice(s![.., r0 * g.wo..r0 * g.wo + ncol]),
                beta,
                blk,
            );
        } else {
            let r1 = r0 + ncol / g.wo;
            buf.resize(g.k() * ncol, 0.0);
            let x_img = &x[n * g.cin * g.in_plane()..(n + 1) * g.cin * g.in_plane()];
            im2col(g, x_img, r0, r1, buf);
            let cols = ArrayView2::from_shape((g.k(), ncol), &buf[..]).expect("cols");
            gemm(1.0, wm, cols, beta, blk);
        }
    });
    y
}

/// Gradients of a convolution (each `None` when not requested).
pub(crate) struct ConvGrads {
    /// `(n, cin, h, w)`.
    pub dx: Option<Vec<f32>>,
    /// `(cout, k)`.
    pub dw: Option<Vec<f32>>,
    /// `(cout)`.
    pub db: Option<Vec<f32>>,
}

/// Backward convolution. `dy` is `(n, cout, ho, wo)`; `x` is needed for `dw` and `w` for `dx`.
pub(crate) fn conv_bwd(
    g: &ConvGeom,
    dy: &[f32],
    x: Option<&[f32]>,
    w: Option<&[f32]>,
    need_b: bool,
) -> ConvGrads {
    ConvGrads {
        dx: w.map(|w| conv_bwd_input(g, dy, w)),
        dw: x.map(|x| conv_bwd_weight(g, dy, x)),
        db: need_b.then(|| conv_bwd_bias(g, dy)),
    }
}

fn conv_bwd_bias(g: &ConvGeom, dy: &[f32]) -> Vec<f32> {
    // One task per output channel; within it, images in order (thread-count independent).
    let plane = g.out_plane();
    (0..g.cout)
        .into_par_iter()
        .map(|co| {
            let mut acc = 0.0f64;
            for n in 0..g.n {
                let start = (n * g.cout + co) * plane;
                acc += crate::kernels::par::lane_sum_f64(&dy[start..start + plane]);
            }
            acc as f32
        })
        .collect()
}

fn conv_bwd_weight(g: &ConvGeom, dy: &[f32], x: &[f32]) -> Vec<f32> {
    if winograd::applies(g) {
        return winograd::winograd_bwd_weight(g, dy, x);
    }
    let k = g.k();
    let plane = g.out_plane();
    let per_image = |buf: &mut Vec<f32>, n: usize| -> Array2<f32> {
        let mut dw = Array2::<f32>::zeros((g.cout, k));
        let dy_img = image(dy, n, g.cout, plane);
        if g.is_pointwise() {
            // dW = dy_n x_n^T.
            let x_img = image(x, n, g.cin, g.in_plane());
            gemm(1.0, dy_img, x_img.t(), 0.0, dw.view_mut());
            return dw;
        }
        let rows = g.rows_per_tile();
        let x_img = &x[n * g.cin * g.in_plane()..(n + 1) * g.cin * g.in_plane()];
        for r0 in (0..g.ho).step_by(rows) {
            let r1 = (r0 + rows).min(g.ho);
            let ncol = (r1 - r0) * g.wo;
            buf.resize(k * ncol, 0.0);
            im2col(g, x_img, r0, r1, buf);
            let cols = ArrayView2::from_shape((k, ncol), &buf[..]).expect("cols");
            let dy_blk = dy_img.slice(s![.., r0 * g.wo..r1 * g.wo]);
            // dW += dy_tile cols^T, tiles in increasing order.
            gemm(1.0, dy_blk, cols.t(), 1.0, dw.view_mut());
        }
        dw
    };
    let partials: Vec<Array2<f32>> = if g.flops() >= PAR_MIN_FLOPS {
        (0..g.n)
            .into_par_iter()
            .map_init(Vec::new, |buf, n| per_image(buf, n))
            .collect()
    } else {
        let mut buf = Vec::new();
        (0..g.n).map(|n| per_image(&mut buf, n)).collect()
    };
    // Images are added in order: the bits do not depend on how the work was scheduled.
    let mut total = Array2::<f32>::zeros((g.cout, k));
    for p in &partials {
        total += p;
    }
    total.into_raw_vec_and_offset().0
}

fn conv_bwd_input(g: &ConvGeom, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let wm = ArrayView2::from_shape((g.cout, g.k()), w).expect("weight matrix");
    // Stride 1: the input gradient is a forward convolution of dy with the flipped kernel
    // (Winograd when it applies, else im2col of dy with k = cout kh kw and a GEMM with
    // cin rows). When cin < cout that GEMM is thin and the im2col of dy large (1 -> 64
    // channels: 576 rows for a single output row), so col2im of W^T dy is cheaper there.
    let flipped = g
        .transposed_as_forward()
        .filter(|t| winograd::applies(t) || g.cin >= g.cout);
    if let Some(t) = flipped {
        // dx = conv(dy, w') with w'[ci, co, i, j] = w[co, ci, kh-1-i, kw-1-j] (for a 1x1
        // kernel: dx_n = W^T dy_n, a pointwise convolution).
        let (kh, kw) = (g.kh, g.kw);
        let mut wf = vec![0.0f32; g.cin * g.cout * kh * kw];
        for co in 0..g.cout {
            for ci in 0..g.cin {
                for i in 0..kh {
                    for j in 0..kw {
                        wf[((ci * g.cout + co) * kh + i) * kw + j] =
                            w[((co * g.cin + ci) * kh + kh - 1 - i) * kw + kw - 1 - j];
                    }
                }
            }
        }
        return conv_fwd(&t, dy, &wf, None);
    }
    // General case: per image, dcols = W^T dy_tile, scattered back by col2im (tiles in order).
    let in_len = g.cin * g.in_plane();
    let plane = g.out_plane();
    let mut dx = vec![0.0f32; g.n * in_len];
    if dx.is_empty() {
        return dx;
    }
    let items: Vec<(usize, &mut [f32])> = dx.chunks_exact_mut(in_len).enumerate().collect();
    let rows = g.rows_per_tile();
    run_items(items, g.flops(), |buf, (n, dx_img)| {
        let dy_img = image(dy, n, g.cout, plane);
        for r0 in (0..g.ho).step_by(rows) {
            let r1 = (r0 + rows).min(g.ho);
            let ncol = (r1 - r0) * g.wo;
            buf.resize(g.k() * ncol, 0.0);
            let dcols = ArrayViewMut2::from_shape((g.k(), ncol), &mut buf[..]).expect("cols");
            gemm(
                1.0,
                wm.t(),
                dy_img.slice(s![.., r0 * g.wo..r1 * g.wo]),
                0.0,
                dcols,
            );
            col2im_add(g, buf, r0, r1, dx_img);
        }
    });
    dx
}

//! Winograd F(2x2, 3x3) for 3x3, stride-1, undilated convolutions (any padding): the forward
//! pass, the input gradient (a forward pass with the flipped kernel) and the weight gradient.
//!
//! Each 2x2 output tile is `A^T [U ⊙ V] A` with `U = G g G^T` (the transformed 3x3 kernel) and
//! `V = B^T d B` (the transformed 4x4 input tile): 16 multiplications instead of 36, so the
//! GEMM work drops 2.25-fold. Over channels, each of the 16 transformed positions `xi` is one
//! GEMM `M[xi] (cout x T) = U[xi] (cout x cin) V[xi] (cin x T)` over a block of `T` tiles,
//! computed in place by [`panel_gemm`](crate::kernels::panel_gemm) (no packing; the same bits
//! as `matrixmultiply`). Blocks are a few tile rows, so the transformed input and output stay
//! in cache.
//!
//! The transforms are written as whole-row vector operations: the columns of a tile row are
//! split into even and odd entries so that every tile's four columns are `even[t], odd[t],
//! even[t+1], odd[t+1]`, and each of the 16 transformed values is a contiguous loop over tiles.
//!
//! Weight gradient: with `Y = A^T M A`, `dM = A dY A^T` per tile, `dU[xi] = sum over tiles of
//! dM[xi] V[xi]^T` (a GEMM per block, blocks and images added in a fixed order) and
//! `dg = G^T dU G`.

mod transforms;

use std::cell::RefCell;
use std::mem::MaybeUninit;

use ndarray::{Array3, ArrayViewMut3, Axis};
use rayon::prelude::*;

use self::transforms::{Rows, input_transform, output_transform, output_transform_adjoint};
use super::params::ConvGeom;
use crate::kernels::gemm::PAR_MIN_FLOPS;
use crate::kernels::panel_gemm::{gemm_nn, gemm_nt};

/// Both channel counts must reach this for the Winograd path to pay off (the GEMMs have
/// `cin` as their inner dimension).
const MIN_CHANNELS: usize = 8;

/// Target bytes of one block's transformed input and output (`16 (cin + cout) T` floats):
/// about the L2 cache of one core. For 64 -> 64 channels on 100-wide maps that is 5 tile rows
/// (250 tiles), where the GEMMs are wide enough to run near full speed (measured: 1 MiB
/// blocks were ~15% slower, 4 MiB no faster).
const BLOCK_BYTES: usize = 2 * 1024 * 1024;

/// True if the Winograd kernels handle this convolution.
pub(crate) fn applies(g: &ConvGeom) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.sh == 1
        && g.sw == 1
        && g.dh == 1
        && g.dw == 1
        && g.cin >= MIN_CHANNELS
        && g.cout >= MIN_CHANNELS
        && g.ho > 0
        && g.wo > 0
}

/// Tile grid of one image and its blocking.
#[derive(Clone, Copy, Debug)]
struct Grid {
    /// Tile rows and columns (`ceil(ho / 2)`, `ceil(wo / 2)`).
    th: usize,
    tw: usize,
    /// Tile rows per block.
    rows: usize,
}

impl Grid {
    fn new(g: &ConvGeom) -> Grid {
        let (th, tw) = (g.ho.div_ceil(2), g.wo.div_ceil(2));
        let per_row = 16 * (g.cin + g.cout) * tw * 4;
        Grid {
            th,
            tw,
            rows: (BLOCK_BYTES / per_row.max(1)).clamp(1, th.max(1)),
        }
    }

    /// `[ty0, ty1)` tile-row ranges of the blocks, in order.
    fn blocks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.th)
            .step_by(self.rows)
            .map(|t0| (t0, (t0 + self.rows).min(self.th)))
    }
}

/// `U = G g G^T` for every `(co, ci)`: 16 matrices `(cout, cin)`, position-major.
fn transform_weights(g: &ConvGeom, w: &[f32]) -> Vec<f32> {
    let (cout, cin) = (g.cout, g.cin);
    let mut u = vec![0.0f32; 16 * cout * cin];
    for co in 0..cout {
        for ci in 0..cin {
            let k = &w[(co * cin + ci) * 9..(co * cin + ci + 1) * 9];
            // G k: 4 x 3.
            let mut gk = [[0.0f32; 3]; 4];
            for b in 0..3 {
                let (k0, k1, k2) = (k[b], k[3 + b], k[6 + b]);
                gk[0][b] = k0;
                gk[1][b] = 0.5 * (k0 + k1 + k2);
                gk[2][b] = 0.5 * (k0 - k1 + k2);
                gk[3][b] = k2;
            }
            // (G k) G^T: 4 x 4.
            for (i, r) in gk.iter().enumerate() {
                let vals = [
                    r[0],
                    0.5 * (r[0] + r[1] + r[2]),
                    0.5 * (r[0] - r[1] + r[2]),
                    r[2],
                ];
                for (j, &v) in vals.iter().enumerate() {
                    u[((i * 4 + j) * cout + co) * cin + ci] = v;
                }
            }
        }
    }
    u
}

/// `dg = G^T dU G` for every `(co, ci)`: the adjoint of [`transform_weights`].
fn transform_weights_adjoint(g: &ConvGeom, du: &[f32]) -> Vec<f32> {
    let (cout, cin) = (g.cout, g.cin);
    let mut dw = vec![0.0f32; cout * cin * 9];
    for co in 0..cout {
        for ci in 0..cin {
            let d = |i: usize, j: usize| du[((i * 4 + j) * cout + co) * cin + ci];
            // dU G: 4 x 3, with G^T rows [1, .5, .5, 0], [0, .5, -.5, 0], [0, .5, .5, 1].
            let mut r = [[0.0f32; 3]; 4];
            for (i, ri) in r.iter_mut().enumerate() {
                let (d0, d1, d2, d3) = (d(i, 0), d(i, 1), d(i, 2), d(i, 3));
                ri[0] = d0 + 0.5 * (d1 + d2);
                ri[1] = 0.5 * (d1 - d2);
                ri[2] = 0.5 * (d1 + d2) + d3;
            }
            let out = &mut dw[(co * cin + ci) * 9..(co * cin + ci + 1) * 9];
            for b in 0..3 {
                let (r0, r1, r2, r3) = (r[0][b], r[1][b], r[2][b], r[3][b]);
                out[b] = r0 + 0.5 * (r1 + r2);
                out[3 + b] = 0.5 * (r1 - r2);
                out[6 + b] = 0.5 * (r1 + r2) + r3;
            }
        }
    }
    dw
}

/// Scratch buffers of one thread.
#[derive(Default)]
struct Scratch {
    v: Vec<f32>,
    m: Vec<f32>,
    rows: Option<Rows>,
}

impl Scratch {
    /// Sizes the buffers for a block of `t_len` tiles; returns `(v, m, rows)`.
    fn prepare(
        &mut self,
        g: &ConvGeom,
        grid: &Grid,
        t_len: usize,
    ) -> (&mut [f32], &mut [f32], &mut Rows) {
        // Grow only: blocks of different sizes (the last tile rows of an image, other layers)
        // alternate, and shrinking would zero-fill the buffers again on the next growth. The
        // kernels overwrite every value they read back.
        let (v_len, m_len) = (16 * g.cin * t_len, 16 * g.cout * t_len);
        if self.v.len() < v_len {
            self.v.resize(v_len, 0.0);
        }
        if self.m.len() < m_len {
            self.m.resize(m_len, 0.0);
        }
        if self
            .rows
            .as_ref()
            .is_none_or(|r| r.even[0].len() != grid.tw + 1)
        {
            self.rows = Some(Rows::new(grid.tw));
        }
        let rows = self.rows.as_mut().expect("just set");
        (&mut self.v[..v_len], &mut self.m[..m_len], rows)
    }
}

thread_local! {
    /// Per-thread scratch of the Winograd kernels, kept between calls so that every block does
    /// not allocate and zero its buffers again (about `BLOCK_BYTES` per thread).
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch. The kernels called inside never re-enter rayon, so
/// the scratch is never borrowed twice.
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with_borrow_mut(f)
}

/// Prepares `sc` for tile rows `[ty0, ty1)` of image `x_img` and fills its `V` with their
/// input transform; returns `(V, M, rows)` as [`Scratch::prepare`] does.
fn transformed_input<'a>(
    sc: &'a mut Scratch,
    g: &ConvGeom,
    grid: &Grid,
    x_img: &[f32],
    ty0: usize,
    ty1: usize,
) -> (&'a mut [f32], &'a mut [f32], &'a mut Rows) {
    let (v, m, rows) = sc.prepare(g, grid, (ty1 - ty0) * grid.tw);
    input_transform(g, grid.tw, x_img, ty0, ty1, v, rows);
    (v, m, rows)
}

/// Forward convolution by Winograd F(2x2, 3x3): `x` `(n, cin, h, w)`, `w` `(cout, cin, 3, 3)`,
/// `bias` `(cout)`; returns `(n, cout, ho, wo)`.
pub(crate) fn winograd_fwd(g: &ConvGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    debug_assert!(applies(g));
    let grid = Grid::new(g);
    let u = transform_weights(g, w);
    let len = g.n * g.cout * g.out_plane();
    // Not zero-filled: the output transforms below write every value (all images, all
    // channels, all rows of the row blocks, all columns).
    let mut y: Vec<f32> = Vec::with_capacity(len);
    if len == 0 {
        return y;
    }
    // Work items: (image, tile rows [ty0, ty1), output rows view).
    let mut items = Vec::new();
    for (n, y_img) in y.spare_capacity_mut()[..len]
        .chunks_exact_mut(g.cout * g.out_plane())
        .enumerate()
    {
        let mut rest = ArrayViewMut3::from_shape((g.cout, g.ho, g.wo), y_img).expect("image");
        for (ty0, ty1) in grid.blocks() {
            let rows = (2 * ty1).min(g.ho) - 2 * ty0;
            let (blk, tail) = rest.split_at(Axis(1), rows);
            items.push((n, ty0, ty1, blk));
            rest = tail;
        }
    }
    let in_len = g.cin * g.in_plane();
    let work = |sc: &mut Scratch,
                (n, ty0, ty1, mut blk): (
        usize,
        usize,
        usize,
        ArrayViewMut3<'_, MaybeUninit<f32>>,
    )| {
        let t_len = (ty1 - ty0) * grid.tw;
        let (v, m, rows) =
            transformed_input(sc, g, &grid, &x[n * in_len..(n + 1) * in_len], ty0, ty1);
        let (cc, ic, oc) = (g.cin * g.cout, g.cin * t_len, g.cout * t_len);
        for xi in 0..16 {
            gemm_nn(
                g.cout,
                g.cin,
                t_len,
                &u[xi * cc..][..cc],
                &v[xi * ic..][..ic],
                &mut m[xi * oc..][..oc],
                false,
            );
        }
        output_transform(g, grid.tw, m, ty0, ty1, bias, &mut blk, rows);
    };
    if g.flops() >= PAR_MIN_FLOPS {
        items
            .into_par_iter()
            .for_each(|item| with_scratch(|sc| work(sc, item)));
    } else {
        with_scratch(|sc| items.into_iter().for_each(|item| work(sc, item)));
    }
    // SAFETY: the row blocks of every image cover its `(cout, ho, wo)` output, and
    // `output_transform` wrote every value of each block.
    unsafe { y.set_len(len) };
    y
}

/// Weight gradient by Winograd: `dW = sum_n G^T (sum_tiles dM V^T) G`, per image partials
/// added in image order (deterministic). Returns `(cout, cin, 3, 3)`.
pub(crate) fn winograd_bwd_weight(g: &ConvGeom, dy: &[f32], x: &[f32]) -> Vec<f32> {
    debug_assert!(applies(g));
    let grid = Grid::new(g);
    let in_len = g.cin * g.in_plane();
    let out_len = g.cout * g.out_plane();
    let per_image = |sc: &mut Scratch, n: usize| -> Array3<f32> {
        let mut du = Array3::<f32>::zeros((16, g.cout, g.cin));
        let mut transposed = Vec::new();
        for (ty0, ty1) in grid.blocks() {
            let t_len = (ty1 - ty0) * grid.tw;
            let (v, m, rows) =
                transformed_input(sc, g, &grid, &x[n * in_len..(n + 1) * in_len], ty0, ty1);
            let dy_img = &dy[n * out_len..(n + 1) * out_len];
            output_transform_adjoint(g, grid.tw, dy_img, ty0, ty1, m, rows);
            let (ic, oc) = (g.cin * t_len, g.cout * t_len);
            for (xi, mut duk) in du.outer_iter_mut().enumerate() {
                // dU[xi] += dM[xi] V[xi]^T, blocks in increasing order.
                gemm_nt(
                    g.cout,
                    t_len,
                    g.cin,
                    &m[xi * oc..][..oc],
                    &v[xi * ic..][..ic],
                    duk.as_slice_mut().expect("standard layout"),
                    true,
                    &mut transposed,
                );
            }
        }
        du
    };
    let partials: Vec<Array3<f32>> = if g.flops() >= PAR_MIN_FLOPS {
        (0..g.n)
            .into_par_iter()
            .map(|n| with_scratch(|sc| per_image(sc, n)))
            .collect()
    } else {
        with_scratch(|sc| (0..g.n).map(|n| per_image(sc, n)).collect())
    };
    let mut du = Array3::<f32>::zeros((16, g.cout, g.cin));
    for p in &partials {
        du += p;
    }
    transform_weights_adjoint(g, du.as_slice().expect("standard"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::Conv2dParams;
    use crate::ops::conv::im2col::im2col;
    use crate::testing::random_array;

    fn vec_of(shape: &[usize], seed: u64) -> Vec<f32> {
        random_array(shape, seed).into_raw_vec_and_offset().0
    }

    /// Forward by im2col + naive GEMM in f64.
    fn reference_fwd(g: &ConvGeom, x: &[f32], w: &[f32]) -> Vec<f32> {
        let (k, plane) = (g.k(), g.out_plane());
        let mut y = vec![0.0f32; g.n * g.cout * plane];
        let mut cols = vec![0.0f32; k * plane];
        for n in 0..g.n {
            im2col(
                g,
                &x[n * g.cin * g.in_plane()..][..g.cin * g.in_plane()],
                0,
                g.ho,
                &mut cols,
            );
            for co in 0..g.cout {
                for p in 0..plane {
                    let acc: f64 = (0..k)
                        .map(|q| w[co * k + q] as f64 * cols[q * plane + p] as f64)
                        .sum();
                    y[(n * g.cout + co) * plane + p] = acc as f32;
                }
            }
        }
        y
    }

    fn geom(n: usize, cin: usize, cout: usize, h: usize, w: usize, pad: [usize; 2]) -> ConvGeom {
        let p = Conv2dParams {
            padding: pad,
            ..Default::default()
        };
        ConvGeom::new("t", [n, cin, h, w], [cout, cin, 3, 3], p)
    }

    #[test]
    fn winograd_forward_matches_direct() {
        for (i, g) in [
            geom(2, 8, 9, 7, 5, [1, 1]),
            geom(1, 9, 8, 6, 6, [0, 0]),
            geom(1, 8, 8, 5, 8, [2, 1]),
            geom(1, 8, 8, 3, 3, [0, 2]),
            geom(3, 16, 8, 12, 11, [1, 1]),
        ]
        .iter()
        .enumerate()
        {
            assert!(applies(g));
            let x = vec_of(&[g.n * g.cin * g.in_plane()], 2 * i as u64);
            let w = vec_of(&[g.cout * g.k()], 2 * i as u64 + 1);
            let b = vec_of(&[g.cout], 99);
            let mut want = reference_fwd(g, &x, &w);
            for (j, v) in want.iter_mut().enumerate() {
                *v += b[(j / g.out_plane()) % g.cout];
            }
            let got = winograd_fwd(g, &x, &w, Some(&b));
            for (j, (a, r)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - r).abs() < 1e-4 * (1.0 + r.abs()),
                    "{g:?} element {j}: {a} vs {r}"
                );
            }
        }
    }

    #[test]
    fn winograd_weight_gradient_is_the_adjoint_of_the_forward() {
        // <conv(x, w), dy> is linear in w, so its gradient dW must satisfy
        // <dW, w'> = <conv(x, w'), dy> for any w'.
        for (i, g) in [geom(2, 8, 9, 7, 5, [1, 1]), geom(1, 8, 8, 6, 9, [0, 2])]
            .iter()
            .enumerate()
        {
            let x = vec_of(&[g.n * g.cin * g.in_plane()], 10 + i as u64);
            let dy = vec_of(&[g.n * g.cout * g.out_plane()], 20 + i as u64);
            let w2 = vec_of(&[g.cout * g.k()], 30 + i as u64);
            let dw = winograd_bwd_weight(g, &dy, &x);
            let lhs: f64 = dw.iter().zip(&w2).map(|(a, b)| *a as f64 * *b as f64).sum();
            let y = reference_fwd(g, &x, &w2);
            let rhs: f64 = y.iter().zip(&dy).map(|(a, b)| *a as f64 * *b as f64).sum();
            assert!(
                (lhs - rhs).abs() < 1e-3 * (1.0 + rhs.abs()),
                "{g:?}: {lhs} vs {rhs}"
            );
        }
    }

    #[test]
    fn winograd_weight_transform_adjoint_matches_definition() {
        // <G g G^T, dU> = <g, G^T dU G> for random g and dU.
        let g = geom(1, 8, 8, 4, 4, [1, 1]);
        let w = vec_of(&[g.cout * g.k()], 1);
        let du = vec_of(&[16 * g.cout * g.cin], 2);
        let u = transform_weights(&g, &w);
        let dw = transform_weights_adjoint(&g, &du);
        let lhs: f64 = u.iter().zip(&du).map(|(a, b)| *a as f64 * *b as f64).sum();
        let rhs: f64 = w.iter().zip(&dw).map(|(a, b)| *a as f64 * *b as f64).sum();
        assert!((lhs - rhs).abs() < 1e-3, "{lhs} vs {rhs}");
    }
}

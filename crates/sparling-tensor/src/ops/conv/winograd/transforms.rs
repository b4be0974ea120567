//! The Winograd F(2x2, 3x3) tile transforms as whole-row vector operations: `V = B^T d B` of
//! the input, `Y = A^T M A` of the output (with the bias) and its adjoint `dM = A dY A^T`. The
//! columns of a tile row are split into even and odd entries so that every tile's four columns
//! are `even[t], odd[t], even[t+1], odd[t+1]`, and each of the 16 transformed values is a
//! contiguous loop over tiles.

use std::mem::MaybeUninit;

use ndarray::ArrayViewMut3;

use crate::ops::conv::params::ConvGeom;

/// Scratch rows of the transforms (each `tw + 1` long, `2 tw + 2` for `padded`).
pub(super) struct Rows {
    /// Four zero-padded input rows.
    padded: [Vec<f32>; 4],
    /// Even / odd columns of the four vertically transformed rows.
    pub(super) even: [Vec<f32>; 4],
    odd: [Vec<f32>; 4],
}

impl Rows {
    pub(super) fn new(tw: usize) -> Rows {
        let row = |len: usize| vec![0.0f32; len];
        Rows {
            padded: [0; 4].map(|_| row(2 * tw + 2)),
            even: [0; 4].map(|_| row(tw + 1)),
            odd: [0; 4].map(|_| row(tw + 1)),
        }
    }
}

/// `out = a + b` (`add`) or `out = a - b`, elementwise.
#[inline(always)]
fn combine(out: &mut [f32], a: &[f32], b: &[f32], add: bool) {
    let n = out.len();
    let (a, b) = (&a[..n], &b[..n]);
    if add {
        for i in 0..n {
            out[i] = a[i] + b[i];
        }
    } else {
        for i in 0..n {
            out[i] = a[i] - b[i];
        }
    }
}

/// Splits `src` (`2 n` values) into its even and odd entries.
#[inline(always)]
fn deinterleave(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    let n = even.len();
    let (src, odd) = (&src[..2 * n], &mut odd[..n]);
    for i in 0..n {
        even[i] = src[2 * i];
        odd[i] = src[2 * i + 1];
    }
}

/// The rows `(a, b, add)` of `B^T`: `t = d_a + d_b` or `d_a - d_b`
/// (`B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]`).
const BT: [(usize, usize, bool); 4] = [(0, 2, false), (1, 2, true), (2, 1, false), (1, 3, false)];

#[inline(always)]
fn input_transform_body(
    g: &ConvGeom,
    tw: usize,
    x: &[f32],
    ty0: usize,
    ty1: usize,
    v: &mut [f32],
    s: &mut Rows,
) {
    let t_len = (ty1 - ty0) * tw;
    let plane = g.in_plane();
    let mut vk: Vec<&mut [f32]> = v.chunks_exact_mut(g.cin * t_len).collect();
    // Input columns [lo, hi) of a padded row hold data; padded column c is input c - pw.
    let lo = g.pw.min(2 * tw + 2);
    let hi = (g.pw + g.w).min(2 * tw + 2);
    for ci in 0..g.cin {
        let xp = &x[ci * plane..(ci + 1) * plane];
        for ty in ty0..ty1 {
            // Padded rows 2ty + 2 and 2ty + 3 of the previous tile row are rows 0 and 1 of
            // this one: keep them and load only the two new rows.
            let first_new = if ty > ty0 {
                s.padded.swap(0, 2);
                s.padded.swap(1, 3);
                2
            } else {
                0
            };
            for (k, p) in s.padded.iter_mut().enumerate().skip(first_new) {
                let r = (2 * ty + k) as isize - g.ph as isize;
                if r < 0 || r >= g.h as isize || hi <= lo {
                    p.fill(0.0);
                    continue;
                }
                let row = &xp[r as usize * g.w..(r as usize + 1) * g.w];
                p[..lo].fill(0.0);
                p[lo..hi].copy_from_slice(&row[..hi - lo]);
                p[hi..].fill(0.0);
            }
            // Vertical B^T on whole padded rows, then split into even / odd columns.
            for (i, &(a, b, add)) in BT.iter().enumerate() {
                let (pa, pb) = (&s.padded[a], &s.padded[b]);
                let len = 2 * tw + 2;
                let (ev, od) = (&mut s.even[i], &mut s.odd[i]);
                let (pa, pb) = (&pa[..len], &pb[..len]);
                let (ev, od) = (&mut ev[..tw + 1], &mut od[..tw + 1]);
                if add {
                    for t in 0..tw + 1 {
                        ev[t] = pa[2 * t] + pb[2 * t];
                        od[t] = pa[2 * t + 1] + pb[2 * t + 1];
                    }
                } else {
                    for t in 0..tw + 1 {
                        ev[t] = pa[2 * t] - pb[2 * t];
                        od[t] = pa[2 * t + 1] - pb[2 * t + 1];
                    }
                }
            }
            // Horizontal: tile t has columns (even[t], odd[t], even[t+1], odd[t+1]).
            let off = ci * t_len + (ty - ty0) * tw;
            for i in 0..4 {
                let (te, to) = (&s.even[i][..tw + 1], &s.odd[i][..tw + 1]);
                let [v0, v1, v2, v3] = &mut vk[4 * i..4 * i + 4] else {
                    unreachable!("16 transformed positions")
                };
                let v0 = &mut v0[off..off + tw];
                let v1 = &mut v1[off..off + tw];
                let v2 = &mut v2[off..off + tw];
                let v3 = &mut v3[off..off + tw];
                for t in 0..tw {
                    let (e0, d0, e1, d1) = (te[t], to[t], te[t + 1], to[t + 1]);
                    v0[t] = e0 - e1;
                    v1[t] = d0 + e1;
                    v2[t] = e1 - d0;
                    v3[t] = d0 - d1;
                }
            }
        }
    }
}

crate::multiversion!(
    /// `V = B^T d B` for tile rows `[ty0, ty1)` of one image `x` (`cin h w`), written to `v`
    /// (16 matrices `(cin, T)`, position-major, tile index `(ty - ty0) tw + tx`).
    pub(super) fn input_transform = input_transform_body(
        g: &ConvGeom,
        tw: usize,
        x: &[f32],
        ty0: usize,
        ty1: usize,
        v: &mut [f32],
        s: &mut Rows,
    )
);

#[inline(always)]
fn output_transform_body(
    g: &ConvGeom,
    tw: usize,
    m: &[f32],
    ty0: usize,
    ty1: usize,
    bias: Option<&[f32]>,
    y: &mut ArrayViewMut3<'_, MaybeUninit<f32>>,
    s: &mut Rows,
) {
    let t_len = (ty1 - ty0) * tw;
    let mk: Vec<&[f32]> = m.chunks_exact(g.cout * t_len).collect();
    let full = g.wo / 2;
    for (co, mut y_ch) in y.outer_iter_mut().enumerate() {
        let b = bias.map_or(0.0, |b| b[co]);
        let y_ch = y_ch.as_slice_mut().expect("contiguous output rows");
        for ty in ty0..ty1 {
            let off = co * t_len + (ty - ty0) * tw;
            let mm = |i: usize, j: usize| &mk[4 * i + j][off..off + tw];
            for a in 0..2 {
                let oy = 2 * ty + a;
                if oy >= g.ho {
                    break;
                }
                // Vertical A^T row a: s_j = m0j + m1j + m2j (a = 0) or m1j - m2j - m3j (a = 1).
                for j in 0..4 {
                    let sj = &mut s.even[j][..tw];
                    let (m0, m1, m2, m3) = (mm(0, j), mm(1, j), mm(2, j), mm(3, j));
                    if a == 0 {
                        for t in 0..tw {
                            sj[t] = m0[t] + m1[t] + m2[t];
                        }
                    } else {
                        for t in 0..tw {
                            sj[t] = m1[t] - m2[t] - m3[t];
                        }
                    }
                }
                // Horizontal A^T: columns 2t and 2t + 1 of the tile.
                let (s0, s1) = (&s.even[0][..tw], &s.even[1][..tw]);
                let (s2, s3) = (&s.even[2][..tw], &s.even[3][..tw]);
                let out = &mut y_ch[(oy - 2 * ty0) * g.wo..(oy - 2 * ty0 + 1) * g.wo];
                let pairs = &mut out[..2 * full];
                for t in 0..full {
                    pairs[2 * t] = MaybeUninit::new(s0[t] + s1[t] + s2[t] + b);
                    pairs[2 * t + 1] = MaybeUninit::new(s1[t] - s2[t] - s3[t] + b);
                }
                if g.wo % 2 == 1 {
                    out[2 * full] = MaybeUninit::new(s0[full] + s1[full] + s2[full] + b);
                }
            }
        }
    }
}

crate::multiversion!(
    /// `Y = A^T M A` for tile rows `[ty0, ty1)`: reads `m` (16 matrices `(cout, T)`) and
    /// writes output rows `[2 ty0, min(2 ty1, ho))` of `y` (a `(cout, rows, wo)` view), plus
    /// the bias. Every value of those rows is written (the view may be uninitialised).
    pub(super) fn output_transform = output_transform_body(
        g: &ConvGeom,
        tw: usize,
        m: &[f32],
        ty0: usize,
        ty1: usize,
        bias: Option<&[f32]>,
        y: &mut ArrayViewMut3<'_, MaybeUninit<f32>>,
        s: &mut Rows,
    )
);

#[inline(always)]
fn output_transform_adjoint_body(
    g: &ConvGeom,
    tw: usize,
    dy: &[f32],
    ty0: usize,
    ty1: usize,
    dm: &mut [f32],
    s: &mut Rows,
) {
    let t_len = (ty1 - ty0) * tw;
    let plane = g.out_plane();
    let mut dk: Vec<&mut [f32]> = dm.chunks_exact_mut(g.cout * t_len).collect();
    for co in 0..g.cout {
        let dyp = &dy[co * plane..(co + 1) * plane];
        for ty in ty0..ty1 {
            // even[a] / odd[a]: even / odd columns of output row 2ty + a (0 outside).
            for a in 0..2 {
                let oy = 2 * ty + a;
                let p = &mut s.padded[a];
                p[g.wo..].fill(0.0);
                if oy >= g.ho {
                    p.fill(0.0);
                } else {
                    p[..g.wo].copy_from_slice(&dyp[oy * g.wo..(oy + 1) * g.wo]);
                }
                let (e, o) = (&mut s.even[a][..tw], &mut s.odd[a][..tw]);
                deinterleave(&p[..2 * tw], e, o);
            }
            let off = co * t_len + (ty - ty0) * tw;
            // Per column j: q_a = (y_a0, y_a0 + y_a1, y_a0 - y_a1, -y_a1)[j]; then
            // dM[i][j] = (q_0, q_0 + q_1, q_0 - q_1, -q_1)[i].
            for j in 0..4 {
                let [_, _, q0, q1] = &mut s.padded;
                let (q0, q1) = (&mut q0[..tw], &mut q1[..tw]);
                for (a, q) in [q0, q1].into_iter().enumerate() {
                    let (ya0, ya1) = (&s.even[a][..tw], &s.odd[a][..tw]);
                    match j {
                        0 => q.copy_from_slice(ya0),
                        1 => combine(q, ya0, ya1, true),
                        2 => combine(q, ya0, ya1, false),
                        _ => {
                            for t in 0..tw {
                                q[t] = -ya1[t];
                            }
                        }
                    }
                }
                let (q0, q1) = (&s.padded[2][..tw], &s.padded[3][..tw]);
                for i in 0..4 {
                    let d = &mut dk[4 * i + j][off..off + tw];
                    match i {
                        0 => d.copy_from_slice(q0),
                        1 => combine(d, q0, q1, true),
                        2 => combine(d, q0, q1, false),
                        _ => {
                            for t in 0..tw {
                                d[t] = -q1[t];
                            }
                        }
                    }
                }
            }
        }
    }
}

crate::multiversion!(
    /// `dM = A dY A^T` for tile rows `[ty0, ty1)` of one image's output gradient `dy`
    /// (`cout ho wo`), into `dm` (16 matrices `(cout, T)`); entries outside the output are 0.
    pub(super) fn output_transform_adjoint = output_transform_adjoint_body(
        g: &ConvGeom,
        tw: usize,
        dy: &[f32],
        ty0: usize,
        ty1: usize,
        dm: &mut [f32],
        s: &mut Rows,
    )
);

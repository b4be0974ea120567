//! im2col and its adjoint col2im on tiles of output rows of one image.
//!
//! The column matrix of output rows `[r0, r1)` has `k = cin kh kw` rows, indexed
//! `(ci kh + i) kw + j`, and `(r1 - r0) wo` columns, indexed `(oy - r0) wo + ox`; entry
//! `(ci, i, j), (oy, ox)` is `x[ci, oy sh + i dh - ph, ox sw + j dw - pw]`, or 0 in the padding.
//! Each row of the tile is written as runs of contiguous copies (stride 1) or strided gathers,
//! with the zero borders computed once per kernel column `j`.

use super::params::ConvGeom;

/// The output columns `[ox0, ox1)` whose input column `ox sw + j dw - pw` lies inside the image,
/// and the offset `j dw - pw`.
#[inline]
fn valid_cols(g: &ConvGeom, j: usize) -> (usize, usize, isize) {
    let off = (j * g.dw) as isize - g.pw as isize;
    let sw = g.sw as isize;
    let ox0 = if off >= 0 {
        0
    } else {
        ((-off + sw - 1) / sw) as usize
    };
    let room = g.w as isize - off;
    let ox1 = if room <= 0 {
        0
    } else {
        (((room + sw - 1) / sw) as usize).min(g.wo)
    };
    (ox0.min(ox1), ox1, off)
}

/// The input row `oy sh + i dh - ph` of output row `oy` and kernel row `i`, if inside the image.
#[inline]
fn input_row(g: &ConvGeom, oy: usize, i: usize) -> Option<usize> {
    let iy = (oy * g.sh + i * g.dh) as isize - g.ph as isize;
    (iy >= 0 && (iy as usize) < g.h).then_some(iy as usize)
}

/// Writes the column tile of output rows `[r0, r1)` of one image `x` (`cin h w` values) into
/// `cols` (`k (r1 - r0) wo` values, fully overwritten).
pub(crate) fn im2col(g: &ConvGeom, x: &[f32], r0: usize, r1: usize, cols: &mut [f32]) {
    let ncol = (r1 - r0) * g.wo;
    debug_assert_eq!(x.len(), g.cin * g.in_plane());
    debug_assert_eq!(cols.len(), g.k() * ncol);
    if ncol == 0 {
        return;
    }
    for (row_idx, row) in cols.chunks_exact_mut(ncol).enumerate() {
        let ci = row_idx / (g.kh * g.kw);
        let i = (row_idx / g.kw) % g.kh;
        let j = row_idx % g.kw;
        let plane = &x[ci * g.in_plane()..(ci + 1) * g.in_plane()];
        let (ox0, ox1, off) = valid_cols(g, j);
        for (t, dst) in row.chunks_exact_mut(g.wo).enumerate() {
            let Some(iy) = input_row(g, r0 + t, i) else {
                dst.fill(0.0);
                continue;
            };
            let src = &plane[iy * g.w..(iy + 1) * g.w];
            dst[..ox0].fill(0.0);
            dst[ox1..].fill(0.0);
            if ox1 > ox0 {
                let start = (ox0 as isize * g.sw as isize + off) as usize;
                if g.sw == 1 {
                    dst[ox0..ox1].copy_from_slice(&src[start..start + (ox1 - ox0)]);
                } else {
                    for (d, s) in dst[ox0..ox1]
                        .iter_mut()
                        .zip(src[start..].iter().step_by(g.sw))
                    {
                        *d = *s;
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds the column tile `cols` of output rows `[r0, r1)` into the
/// input gradient `dx` of one image (`cin h w` values). Entries are added in a fixed order
/// (row by row of `cols`), so the result is deterministic.
pub(crate) fn col2im_add(g: &ConvGeom, cols: &[f32], r0: usize, r1: usize, dx: &mut [f32]) {
    let ncol = (r1 - r0) * g.wo;
    debug_assert_eq!(dx.len(), g.cin * g.in_plane());
    debug_assert_eq!(cols.len(), g.k() * ncol);
    if ncol == 0 {
        return;
    }
    let plane_len = g.in_plane();
    for (row_idx, row) in cols.chunks_exact(ncol).enumerate() {
        let ci = row_idx / (g.kh * g.kw);
        let i = (row_idx / g.kw) % g.kh;
        let j = row_idx % g.kw;
        let plane = &mut dx[ci * plane_len..(ci + 1) * plane_len];
        let (ox0, ox1, off) = valid_cols(g, j);
        if ox1 <= ox0 {
            continue;
        }
        for (t, src) in row.chunks_exact(g.wo).enumerate() {
            let Some(iy) = input_row(g, r0 + t, i) else {
                continue;
            };
            let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
            let start = (ox0 as isize * g.sw as isize + off) as usize;
            if g.sw == 1 {
                for (d, s) in dst[start..start + (ox1 - ox0)]
                    .iter_mut()
                    .zip(&src[ox0..ox1])
                {
                    *d += *s;
                }
            } else {
                for (d, s) in dst[start..].iter_mut().step_by(g.sw).zip(&src[ox0..ox1]) {
                    *d += *s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::Conv2dParams;
    use crate::testing::random_array;

    /// Entry-by-entry im2col straight from the definition.
    fn naive_cols(g: &ConvGeom, x: &[f32], r0: usize, r1: usize) -> Vec<f32> {
        let ncol = (r1 - r0) * g.wo;
        let mut out = vec![0.0; g.k() * ncol];
        for ci in 0..g.cin {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let row = (ci * g.kh + i) * g.kw + j;
                    for oy in r0..r1 {
                        for ox in 0..g.wo {
                            let iy = (oy * g.sh + i * g.dh) as isize - g.ph as isize;
                            let ix = (ox * g.sw + j * g.dw) as isize - g.pw as isize;
                            let inside =
                                iy >= 0 && ix >= 0 && iy < g.h as isize && ix < g.w as isize;
                            if inside {
                                out[row * ncol + (oy - r0) * g.wo + ox] =
                                    x[ci * g.in_plane() + iy as usize * g.w + ix as usize];
                            }
                        }
                    }
                }
            }
        }
        out
    }

    fn geometries() -> Vec<ConvGeom> {
        let mut out = Vec::new();
        for &(h, w, k, s, p, d) in &[
            (5, 7, 3, 1, 1, 1),
            (6, 5, 3, 2, 1, 1),
            (9, 8, 3, 1, 2, 2),
            (7, 7, 2, 3, 0, 1),
            (4, 4, 1, 2, 0, 1),
            (3, 3, 3, 1, 3, 1),
            (10, 11, 3, 2, 2, 2),
        ] {
            let prm = Conv2dParams::default()
                .with_stride(s)
                .with_padding(p)
                .with_dilation(d);
            out.push(ConvGeom::new("t", [1, 2, h, w], [1, 2, k, k], prm));
        }
        out
    }

    #[test]
    fn im2col_matches_definition() {
        for (n, g) in geometries().iter().enumerate() {
            let x = random_array(&[g.cin * g.in_plane()], n as u64)
                .into_raw_vec_and_offset()
                .0;
            for (r0, r1) in [(0, g.ho), (0, 1), (g.ho / 2, g.ho)] {
                let mut cols = vec![f32::NAN; g.k() * (r1 - r0) * g.wo];
                im2col(g, &x, r0, r1, &mut cols);
                assert_eq!(cols, naive_cols(g, &x, r0, r1), "{g:?} rows {r0}..{r1}");
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> = <x, col2im(c)> for random x and c.
        for (n, g) in geometries().iter().enumerate() {
            let x = random_array(&[g.cin * g.in_plane()], 100 + n as u64)
                .into_raw_vec_and_offset()
                .0;
            let (r0, r1) = (g.ho / 3, g.ho);
            let ncol = (r1 - r0) * g.wo;
            let c = random_array(&[g.k() * ncol], 200 + n as u64)
                .into_raw_vec_and_offset()
                .0;
            let mut cols = vec![0.0; g.k() * ncol];
            im2col(g, &x, r0, r1, &mut cols);
            let lhs: f64 = cols
                .iter()
                .zip(&c)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            let mut dx = vec![0.0; x.len()];
            col2im_add(g, &c, r0, r1, &mut dx);
            let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| *a as f64 * *b as f64).sum();
            assert!((lhs - rhs).abs() < 1e-4, "{g:?}: {lhs} vs {rhs}");
        }
    }
}

//! `layer_norm`: normalisation of every row (the last axis) to zero mean and unit (biased)
//! variance, followed by an optional per-feature affine map, as `torch.nn.LayerNorm(D)`.
//!
//! Rows are processed in fixed blocks (in parallel for large inputs). Row reductions use 16
//! independent f32 lanes (vectorised) with f64 totals; the weight and bias gradients are
//! summed in f32 over groups of 32 rows, in f64 across groups, and the block partials are
//! combined in block order, so results do not depend on the thread count. The backward keeps `x_hat` and the per-row
//! `1/std`, plus the weight values when the input needs a gradient.

use std::borrow::Cow;

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use crate::Tensor;
use crate::kernels::par::{CHUNK, LANE_RUN as SUB, LANES, MIN_PAR_ELEMS, lane_sum_f64};
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// Layer normalisation over the last axis: `y = (x - mean) / sqrt(var + eps) * weight +
    /// bias`, with the mean and the biased variance of each row. `weight` and `bias` (each
    /// optional) have shape `(D,)`, `D` being the last dimension.
    ///
    /// # Panics
    /// If the tensor is 0-dimensional, its last dimension is 0, or `weight`/`bias` do not have
    /// shape `(D,)`.
    pub fn layer_norm(&self, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f32) -> Tensor {
        let shape = self.shape();
        crate::shape_check!(
            !shape.is_empty() && shape[shape.len() - 1] > 0,
            "layer_norm",
            "input of shape {shape:?} has no non-empty last axis"
        );
        let d = shape[shape.len() - 1];
        for (name, p) in [("weight", weight), ("bias", bias)] {
            if let Some(p) = p {
                crate::shape_check!(
                    p.shape() == [d],
                    "layer_norm",
                    "{name} of shape {:?} does not match input {shape:?} (expected [{d}])",
                    p.shape()
                );
            }
        }
        let w = weight.map(|w| slice_of(w.data()).into_owned());
        let b = bias.map(|b| slice_of(b.data()).into_owned());
        let x = slice_of(self.data());
        let fwd = layer_norm_fwd(&x, d, w.as_deref(), b.as_deref(), eps);
        let out = ArrayD::from_shape_vec(IxDyn(shape), fwd.out).expect("layer_norm output shape");

        let mut parents: Vec<&Tensor> = vec![self];
        let w_idx = weight.map(|w| {
            parents.push(w);
            parents.len() - 1
        });
        let b_idx = bias.map(|b| {
            parents.push(b);
            parents.len() - 1
        });
        record(out, &parents, |needs| {
            let need_xhat = needs[0] || w_idx.is_some_and(|i| needs[i]);
            Box::new(LayerNormBackward {
                d,
                x_hat: if need_xhat { fwd.x_hat } else { Vec::new() },
                inv_std: fwd.inv_std,
                weight: if needs[0] { w } else { None },
                w_idx,
                b_idx,
            })
        })
    }
}

/// The data of `a` as a row-major slice (copied only if `a` is not in standard layout).
fn slice_of(a: &ArrayD<f32>) -> Cow<'_, [f32]> {
    match a.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().copied().collect()),
    }
}

/// Rows per task: about [`CHUNK`] elements, at least one row. Fixed by the shape only.
fn rows_per_block(d: usize) -> usize {
    (CHUNK / d).max(1)
}

/// Rows whose parameter gradients are summed in f32 before being added into f64.
const F32_ROWS: usize = 32;

/// `sum((a - pa) * (b - pb))`, accumulated as in [`lane_sum_f64`].
fn lane_dot_shifted(a: &[f32], pa: f32, b: &[f32], pb: f32) -> f64 {
    let mut total = 0.0f64;
    for (ra, rb) in a.chunks(SUB).zip(b.chunks(SUB)) {
        let mut acc = [0.0f32; LANES];
        let (ca, cb) = (ra.chunks_exact(LANES), rb.chunks_exact(LANES));
        let rest: f32 = (ca.remainder().iter().zip(cb.remainder()))
            .map(|(&x, &y)| (x - pa) * (y - pb))
            .sum();
        for (ca, cb) in ca.zip(cb) {
            let ca: &[f32; LANES] = ca.try_into().expect("full lane chunk");
            let cb: &[f32; LANES] = cb.try_into().expect("full lane chunk");
            for i in 0..LANES {
                acc[i] += (ca[i] - pa) * (cb[i] - pb);
            }
        }
        total += acc.iter().map(|&v| v as f64).sum::<f64>() + rest as f64;
    }
    total
}

/// Forward row block: ((output, x_hat), 1/std), input.
type FwdBlock<'a> = (((&'a mut [f32], &'a mut [f32]), &'a mut [f32]), &'a [f32]);
/// Backward row block: ((dx, g), x_hat), 1/std.
type BwdBlock<'a> = (((&'a mut [f32], &'a [f32]), &'a [f32]), &'a [f32]);

struct LayerNormFwd {
    out: Vec<f32>,
    x_hat: Vec<f32>,
    inv_std: Vec<f32>,
}

/// Normalises each length-`d` row of `x`; returns the output, `x_hat` and `1/std` per row.
fn layer_norm_fwd(
    x: &[f32],
    d: usize,
    w: Option<&[f32]>,
    b: Option<&[f32]>,
    eps: f32,
) -> LayerNormFwd {
    let rows = x.len() / d;
    let mut out = vec![0.0f32; x.len()];
    let mut x_hat = vec![0.0f32; x.len()];
    let mut inv_std = vec![0.0f32; rows];
    let rb = rows_per_block(d);
    let body = |(((o, xh), is), xs): FwdBlock<'_>| {
        for (r, is) in is.iter_mut().enumerate() {
            let row = &xs[r * d..(r + 1) * d];
            let mean = (lane_sum_f64(row) / d as f64) as f32;
            let var = lane_dot_shifted(row, mean, row, mean) / d as f64;
            let inv = (1.0 / (var + eps as f64).sqrt()) as f32;
            *is = inv;
            let xh = &mut xh[r * d..(r + 1) * d];
            let o = &mut o[r * d..(r + 1) * d];
            for (h, &v) in xh.iter_mut().zip(row) {
                *h = (v - mean) * inv;
            }
            match (w, b) {
                (Some(w), Some(b)) => {
                    for (((o, &h), &w), &b) in o.iter_mut().zip(xh.iter()).zip(w).zip(b) {
                        *o = h * w + b;
                    }
                }
                (Some(w), None) => {
                    for ((o, &h), &w) in o.iter_mut().zip(xh.iter()).zip(w) {
                        *o = h * w;
                    }
                }
                (None, Some(b)) => {
                    for ((o, &h), &b) in o.iter_mut().zip(xh.iter()).zip(b) {
                        *o = h + b;
                    }
                }
                (None, None) => o.copy_from_slice(xh),
            }
        }
    };
    if x.len() >= MIN_PAR_ELEMS {
        out.par_chunks_mut(rb * d)
            .zip(x_hat.par_chunks_mut(rb * d))
            .zip(inv_std.par_chunks_mut(rb))
            .zip(x.par_chunks(rb * d))
            .for_each(body);
    } else {
        out.chunks_mut(rb * d)
            .zip(x_hat.chunks_mut(rb * d))
            .zip(inv_std.chunks_mut(rb))
            .zip(x.chunks(rb * d))
            .for_each(body);
    }
    LayerNormFwd {
        out,
        x_hat,
        inv_std,
    }
}

#[derive(Debug)]
struct LayerNormBackward {
    d: usize,
    /// Normalised input (empty when neither the input nor the weight needs a gradient).
    x_hat: Vec<f32>,
    /// `1 / sqrt(var + eps)` per row.
    inv_std: Vec<f32>,
    /// Weight values, kept only when the input needs a gradient.
    weight: Option<Vec<f32>>,
    w_idx: Option<usize>,
    b_idx: Option<usize>,
}

impl Backward for LayerNormBackward {
    fn name(&self) -> &'static str {
        "layer_norm"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // With gw = g * w, per row (D features):
        //   dx = inv_std * (gw - mean(gw) - x_hat * mean(gw * x_hat)),
        //   dweight = sum over rows of g * x_hat, dbias = sum over rows of g.
        let shape = grad_out.shape().to_vec();
        let d = self.d;
        let g = slice_of(&grad_out);
        let rb = rows_per_block(d);
        let need_w = self.w_idx.is_some_and(|i| grads.needs(i));
        let need_b = self.b_idx.is_some_and(|i| grads.needs(i));
        let big = g.len() >= MIN_PAR_ELEMS;

        if need_w || need_b {
            // Per row-block partial sums in f64, combined in block order.
            let partial = |(gs, xh): (&[f32], &[f32])| {
                let mut dw = vec![0.0f64; if need_w { d } else { 0 }];
                let mut db = vec![0.0f64; if need_b { d } else { 0 }];
                let mut acc_w = vec![0.0f32; dw.len()];
                let mut acc_b = vec![0.0f32; db.len()];
                // f32 partial sums over groups of F32_ROWS rows, flushed into f64.
                for (grp, ggrp) in gs.chunks(F32_ROWS * d).enumerate() {
                    acc_w.fill(0.0);
                    acc_b.fill(0.0);
                    for (r, grow) in ggrp.chunks(d).enumerate() {
                        if need_w {
                            let start = (grp * F32_ROWS + r) * d;
                            let xrow = &xh[start..start + d];
                            for ((a, &g), &h) in acc_w.iter_mut().zip(grow).zip(xrow) {
                                *a += g * h;
                            }
                        }
                        if need_b {
                            for (a, &g) in acc_b.iter_mut().zip(grow) {
                                *a += g;
                            }
                        }
                    }
                    for (t, &a) in dw.iter_mut().zip(&acc_w) {
                        *t += a as f64;
                    }
                    for (t, &a) in db.iter_mut().zip(&acc_b) {
                        *t += a as f64;
                    }
                }
                (dw, db)
            };
            // x_hat is empty only if the weight needs no gradient; pad the zip with g.
            let xh: &[f32] = if need_w { &self.x_hat } else { &g };
            let parts: Vec<(Vec<f64>, Vec<f64>)> = if big {
                g.par_chunks(rb * d)
                    .zip(xh.par_chunks(rb * d))
                    .map(partial)
                    .collect()
            } else {
                g.chunks(rb * d)
                    .zip(xh.chunks(rb * d))
                    .map(partial)
                    .collect()
            };
            let mut dw = vec![0.0f64; d];
            let mut db = vec![0.0f64; d];
            for (pw, pb) in &parts {
                dw.iter_mut().zip(pw).for_each(|(a, v)| *a += v);
                db.iter_mut().zip(pb).for_each(|(a, v)| *a += v);
            }
            let to_array = |acc: Vec<f64>| {
                ArrayD::from_shape_vec(IxDyn(&[d]), acc.into_iter().map(|v| v as f32).collect())
                    .expect("layer_norm parameter gradient")
            };
            if let (true, Some(i)) = (need_w, self.w_idx) {
                grads.put(i, to_array(dw));
            }
            if let (true, Some(i)) = (need_b, self.b_idx) {
                grads.put(i, to_array(db));
            }
        }

        if grads.needs(0) {
            let mut dx = vec![0.0f32; g.len()];
            let w = self.weight.as_deref();
            let body = |(((dx, gs), xh), is): BwdBlock<'_>| {
                let mut gw = vec![0.0f32; d];
                for (r, &inv) in is.iter().enumerate() {
                    let grow = &gs[r * d..(r + 1) * d];
                    let xrow = &xh[r * d..(r + 1) * d];
                    for j in 0..d {
                        gw[j] = match w {
                            Some(w) => grow[j] * w[j],
                            None => grow[j],
                        };
                    }
                    let m1 = (lane_sum_f64(&gw) / d as f64) as f32;
                    let m2 = (lane_dot_shifted(&gw, 0.0, xrow, 0.0) / d as f64) as f32;
                    let dxrow = &mut dx[r * d..(r + 1) * d];
                    for ((o, &a), &h) in dxrow.iter_mut().zip(&gw).zip(xrow) {
                        *o = inv * (a - m1 - h * m2);
                    }
                }
            };
            if big {
                dx.par_chunks_mut(rb * d)
                    .zip(g.par_chunks(rb * d))
                    .zip(self.x_hat.par_chunks(rb * d))
                    .zip(self.inv_std.par_chunks(rb))
                    .for_each(body);
            } else {
                dx.chunks_mut(rb * d)
                    .zip(g.chunks(rb * d))
                    .zip(self.x_hat.chunks(rb * d))
                    .zip(self.inv_std.chunks(rb))
                    .for_each(body);
            }
            grads.put(
                0,
                ArrayD::from_shape_vec(IxDyn(&shape), dx).expect("layer_norm dx"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, assert_close, gradcheck, random_array, with_threads};
    use ndarray::{arr1, arr2};

    /// Naive reference in f64 by explicit loops.
    fn naive(x: &ArrayD<f32>, w: Option<&[f32]>, b: Option<&[f32]>, eps: f64) -> ArrayD<f32> {
        let d = *x.shape().last().unwrap();
        let xs: Vec<f32> = x.iter().copied().collect();
        let mut out = Vec::new();
        for row in xs.chunks(d) {
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64;
            for j in 0..d {
                let mut y = (row[j] as f64 - mean) / (var + eps).sqrt();
                y *= w.map_or(1.0, |w| w[j] as f64);
                y += b.map_or(0.0, |b| b[j] as f64);
                out.push(y as f32);
            }
        }
        ArrayD::from_shape_vec(x.raw_dim(), out).unwrap()
    }

    #[test]
    fn layer_norm_literal() {
        // Row [1, 3]: mean 2, var 1, x_hat = [-1, 1]; with w = [2, 3], b = [0.5, -0.5]:
        // y = [-1.5, 2.5] (eps = 0).
        let x = Tensor::param(arr2(&[[1.0f32, 3.0]]));
        let w = Tensor::param(arr1(&[2.0f32, 3.0]));
        let b = Tensor::param(arr1(&[0.5f32, -0.5]));
        let y = x.layer_norm(Some(&w), Some(&b), 0.0);
        assert_close(
            &y.to_array(),
            &arr2(&[[-1.5f32, 2.5]]).into_dyn(),
            1e-6,
            0.0,
        );
        // Upstream g = [1, 0]: gw = [2, 0], mean(gw) = 1, mean(gw * x_hat) = -1,
        // dx = 1 * ([2, 0] - 1 - [-1, 1] * (-1)) = [0, 0]; dw = g * x_hat = [-1, 0]; db = [1, 0].
        let g = y.backward_with(arr2(&[[1.0f32, 0.0]]).into_dyn());
        assert_close(
            g.get(&x).unwrap(),
            &arr2(&[[0.0f32, 0.0]]).into_dyn(),
            1e-6,
            0.0,
        );
        assert_eq!(g.get(&w).unwrap().as_slice().unwrap(), &[-1.0, 0.0]);
        assert_eq!(g.get(&b).unwrap().as_slice().unwrap(), &[1.0, 0.0]);
        // (With two features x_hat = [-1, 1] whatever x is, so dx is always 0; check dx on
        // three features.) x = [0, 1, 5]: mean 2, var 14/3, x_hat = [-2, -1, 3] / s.
        let x3 = Tensor::param(arr1(&[0.0f32, 1.0, 5.0]));
        let y3 = x3.layer_norm(None, None, 0.0);
        let s = (14.0f32 / 3.0).sqrt();
        let xh = [-2.0 / s, -1.0 / s, 3.0 / s];
        assert_close(&y3.to_array(), &arr1(&xh).into_dyn(), 1e-6, 0.0);
        // g = [1, 0, 0]: dx_j = (1/s) * (delta_0j - 1/3 - xh_j * xh_0 / 3).
        let g3 = y3.backward_with(arr1(&[1.0f32, 0.0, 0.0]).into_dyn());
        let expect: Vec<f32> = (0..3)
            .map(|j| (if j == 0 { 1.0 } else { 0.0 } - 1.0 / 3.0 - xh[j] * xh[0] / 3.0) / s)
            .collect();
        assert_close(g3.get(&x3).unwrap(), &arr1(&expect).into_dyn(), 1e-6, 1e-5);
    }

    #[test]
    fn layer_norm_matches_naive() {
        for (seed, shape) in [
            (1u64, vec![4usize, 7]),
            (2, vec![2, 3, 1]),
            (3, vec![5]),
            (4, vec![3, 700]),
        ] {
            let x = random_array(&shape, seed).mapv(|v| 3.0 * v + 1.0);
            let d = *shape.last().unwrap();
            let w = random_array(&[d], seed + 10);
            let b = random_array(&[d], seed + 20);
            let t = Tensor::new(x.clone());
            let (wt, bt) = (Tensor::new(w.clone()), Tensor::new(b.clone()));
            let got = t.layer_norm(Some(&wt), Some(&bt), 1e-5);
            let want = naive(&x, w.as_slice(), b.as_slice(), 1e-5);
            assert_close(&got.to_array(), &want, 1e-5, 1e-5);
            let got = t.layer_norm(None, None, 1e-5);
            assert_close(&got.to_array(), &naive(&x, None, None, 1e-5), 1e-5, 1e-5);
        }
    }

    #[test]
    fn layer_norm_param_grads_match_naive() {
        // dweight_j = sum_r g_rj * x_hat_rj, dbias_j = sum_r g_rj over 100 rows (several f32
        // row groups), width 7 (not a multiple of the lane count).
        let (rows, d) = (100, 7);
        let x = random_array(&[rows, d], 12).mapv(|v| 2.0 * v + 0.5);
        let g = random_array(&[rows, d], 13);
        let (xt, wt, bt) = (
            Tensor::param(x.clone()),
            Tensor::param(random_array(&[d], 14)),
            Tensor::param(random_array(&[d], 15)),
        );
        let grads = xt
            .layer_norm(Some(&wt), Some(&bt), 1e-5)
            .backward_with(g.clone());
        let x_hat = naive(&x, None, None, 1e-5);
        let mut dw = vec![0.0f64; d];
        let mut db = vec![0.0f64; d];
        for r in 0..rows {
            for j in 0..d {
                dw[j] += g[[r, j]] as f64 * x_hat[[r, j]] as f64;
                db[j] += g[[r, j]] as f64;
            }
        }
        let to = |v: Vec<f64>| arr1(&v.iter().map(|&a| a as f32).collect::<Vec<_>>()).into_dyn();
        assert_close(grads.get(&wt).unwrap(), &to(dw), 1e-4, 1e-5);
        assert_close(grads.get(&bt).unwrap(), &to(db), 1e-4, 1e-5);
    }

    #[test]
    fn layer_norm_grad_matches_fd() {
        let x = random_array(&[3, 2, 5], 4);
        let w = random_array(&[5], 5);
        let b = random_array(&[5], 6);
        let cfg = GradCheck::default();
        gradcheck(
            |t| t[0].layer_norm(Some(&t[1]), Some(&t[2]), 1e-5),
            &[x.clone(), w, b],
            &cfg,
        );
        gradcheck(|t| t[0].layer_norm(None, None, 1e-5), &[x], &cfg);
    }

    #[test]
    fn layer_norm_thread_count_independent() {
        let x = random_array(&[300, 128], 8);
        let w = random_array(&[128], 9);
        let b = random_array(&[128], 10);
        let proj = random_array(&[300, 128], 11);
        let run = || {
            let (xt, wt, bt) = (
                Tensor::param(x.clone()),
                Tensor::param(w.clone()),
                Tensor::param(b.clone()),
            );
            let y = xt.layer_norm(Some(&wt), Some(&bt), 1e-5);
            let g = y.backward_with(proj.clone());
            (
                y.to_vec(),
                g.get(&xt).unwrap().clone(),
                g.get(&wt).unwrap().clone(),
                g.get(&bt).unwrap().clone(),
            )
        };
        assert_eq!(with_threads(1, run), with_threads(4, run));
    }

    #[test]
    #[should_panic(expected = "layer_norm: weight of shape [4] does not match input [2, 3]")]
    fn layer_norm_rejects_bad_weight() {
        let _ = Tensor::zeros(&[2, 3]).layer_norm(Some(&Tensor::ones(&[4])), None, 1e-5);
    }
}

//! `scaled_dot_product_attention`: fused `softmax(q k^T / sqrt(D) + mask) v` with its own
//! backward, parallel over (batch, head) pairs.
//!
//! Each (batch, head) pair is computed by one rayon task with single-threaded GEMMs
//! (ndarray's `general_mat_mul`), so results do not depend on the thread count. The backward
//! keeps `q`, `k`, `v` (shared handles, no copies; each only when some gradient needs it) and
//! the attention probabilities `P`:
//! `dV = P^T dO`, `dP = dO V^T`, `dS = P * (dP - rowsum(dP * P))`, `dQ = dS K / sqrt(D)`,
//! `dK = dS^T Q / sqrt(D)`.

use std::sync::Arc;

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayD, ArrayView2, ArrayView4, ArrayViewMut2, Ix4, IxDyn, s};
use rayon::prelude::*;

use crate::Tensor;
use crate::kernels::par::MIN_PAR_ELEMS;
use crate::ops::{Backward, GradSink, record};

/// Which keys each query may attend to in [`Tensor::scaled_dot_product_attention`].
///
/// * `causal`: query `i` sees key `j` only if `j <= i + (Lk - Lq)`. With `Lq == Lk` this is
///   the usual "no peeking ahead" mask; with `Lq < Lk` the queries are aligned with the *last*
///   `Lq` keys (decoding with cached keys). With `Lq > Lk` the first `Lq - Lk` queries see no
///   key at all and get a zero output.
/// * `key_padding`: `B` rows of `Lk` flags, `true` = padded key, never attended to.
///
/// A query that sees no key at all (fully masked row) outputs zeros and gets zero gradients.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttentionMask {
    /// Hide keys after the query position (aligned at the end, see the type's docs).
    pub causal: bool,
    /// Per batch row, per key: `true` if the key is padding.
    pub key_padding: Option<Vec<Vec<bool>>>,
}

impl AttentionMask {
    /// A mask with the given parts.
    pub fn new(causal: bool, key_padding: Option<Vec<Vec<bool>>>) -> AttentionMask {
        AttentionMask {
            causal,
            key_padding,
        }
    }

    /// True if query `i` of batch row `b` may attend to key `j` (`lq`, `lk`: sequence lengths).
    pub fn allows(&self, b: usize, i: usize, j: usize, lq: usize, lk: usize) -> bool {
        if self.causal && j + lq > i + lk {
            // j > i + (lk - lq), written without signed arithmetic.
            return false;
        }
        match &self.key_padding {
            Some(pad) => !pad[b][j],
            None => true,
        }
    }
}

impl Tensor {
    /// Scaled dot-product attention: `softmax(q k^T / sqrt(D) + mask) v` for `q (B, H, Lq, D)`,
    /// `k (B, H, Lk, D)`, `v (B, H, Lk, Dv)`, giving `(B, H, Lq, Dv)`. See [`AttentionMask`]
    /// for the masking rules; a fully masked query row outputs zeros (never NaN).
    ///
    /// # Panics
    /// If the operands are not 4-D, their batch/head dimensions or `D`/`Lk` disagree, a
    /// sequence or feature length is 0, or the key padding mask is not `B x Lk`.
    pub fn scaled_dot_product_attention(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: &AttentionMask,
    ) -> Tensor {
        const OP: &str = "scaled_dot_product_attention";
        let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
        crate::shape_check!(
            qs.len() == 4 && ks.len() == 4 && vs.len() == 4,
            OP,
            "q, k, v must be 4-D (B, H, L, D), got {qs:?}, {ks:?}, {vs:?}"
        );
        crate::shape_check!(
            qs[..2] == ks[..2] && ks[..2] == vs[..2] && qs[3] == ks[3] && ks[2] == vs[2],
            OP,
            "incompatible shapes q {qs:?}, k {ks:?}, v {vs:?} (need q (B,H,Lq,D), k (B,H,Lk,D), v (B,H,Lk,Dv))"
        );
        let dims = Dims {
            b: qs[0],
            h: qs[1],
            lq: qs[2],
            lk: ks[2],
            d: qs[3],
            dv: vs[3],
        };
        crate::shape_check!(
            dims.lq > 0 && dims.lk > 0 && dims.d > 0 && dims.dv > 0,
            OP,
            "empty sequence or feature axis in q {qs:?}, k {ks:?}, v {vs:?}"
        );
        if let Some(pad) = &mask.key_padding {
            crate::shape_check!(
                pad.len() == dims.b && pad.iter().all(|r| r.len() == dims.lk),
                OP,
                "key padding mask must be B x Lk = {} x {}, got {} rows of lengths {:?}",
                dims.b,
                dims.lk,
                pad.len(),
                pad.iter().map(Vec::len).collect::<Vec<_>>()
            );
        }
        let (out, probs) = attention_fwd(
            view4(q.data()),
            view4(k.data()),
            view4(v.data()),
            mask,
            dims,
        );
        record(out, &[q, k, v], |needs| {
            let need_qk = needs[0] || needs[1];
            Box::new(AttentionBackward {
                q: needs[1].then(|| q.data_arc()),
                k: needs[0].then(|| k.data_arc()),
                v: need_qk.then(|| v.data_arc()),
                probs,
                dims,
            })
        })
    }
}

/// Sizes of an attention call.
#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    h: usize,
    lq: usize,
    lk: usize,
    d: usize,
    dv: usize,
}

impl Dims {
    fn scale(&self) -> f32 {
        1.0 / (self.d as f32).sqrt()
    }

    /// Enough multiply-adds to be worth splitting over threads.
    fn parallel(&self) -> bool {
        self.b * self.h > 1
            && self.b * self.h * self.lq * self.lk * (self.d + self.dv) >= MIN_PAR_ELEMS
    }
}

fn view4(a: &ArrayD<f32>) -> ArrayView4<'_, f32> {
    a.view().into_dimensionality::<Ix4>().expect("4-D operand")
}

/// Runs `f(pair index, item)` for every (batch, head) pair, in parallel when `parallel`. Each
/// pair is handled by exactly one call, so the results do not depend on the thread count.
fn for_each_pair<T: Send>(items: Vec<T>, parallel: bool, f: impl Fn(usize, T) + Sync + Send) {
    if parallel {
        items.into_par_iter().enumerate().for_each(|(i, x)| f(i, x));
    } else {
        items.into_iter().enumerate().for_each(|(i, x)| f(i, x));
    }
}

/// Output `(B, H, Lq, Dv)` and probabilities `(B, H, Lq, Lk)`.
fn attention_fwd(
    q: ArrayView4<f32>,
    k: ArrayView4<f32>,
    v: ArrayView4<f32>,
    mask: &AttentionMask,
    dims: Dims,
) -> (ArrayD<f32>, ArrayD<f32>) {
    let Dims { h, lq, lk, dv, .. } = dims;
    let scale = dims.scale();
    let mut out = vec![0.0f32; dims.b * h * lq * dv];
    let mut probs = vec![0.0f32; dims.b * h * lq * lk];
    let pairs: Vec<(&mut [f32], &mut [f32])> = out
        .chunks_mut(lq * dv)
        .zip(probs.chunks_mut(lq * lk))
        .collect();
    for_each_pair(pairs, dims.parallel(), |bh, (o, p)| {
        let (b, hh) = (bh / h, bh % h);
        let qv = q.slice(s![b, hh, .., ..]);
        let kv = k.slice(s![b, hh, .., ..]);
        let vv = v.slice(s![b, hh, .., ..]);
        let mut p = ArrayViewMut2::from_shape((lq, lk), p).expect("probs block");
        general_mat_mul(scale, &qv, &kv.t(), 0.0, &mut p);
        for (i, mut row) in p.outer_iter_mut().enumerate() {
            let row = row.as_slice_mut().expect("contiguous row");
            let mut max = f32::NEG_INFINITY;
            let mut any = false;
            for (j, &sij) in row.iter().enumerate() {
                if mask.allows(b, i, j, lq, lk) {
                    any = true;
                    max = max.max(sij);
                }
            }
            if !any {
                row.fill(0.0);
                continue;
            }
            let mut sum = 0.0f64;
            for (j, sij) in row.iter_mut().enumerate() {
                if mask.allows(b, i, j, lq, lk) {
                    *sij = (*sij - max).exp();
                    sum += *sij as f64;
                } else {
                    *sij = 0.0;
                }
            }
            let inv = (1.0 / sum) as f32;
            row.iter_mut().for_each(|v| *v *= inv);
        }
        let mut o = ArrayViewMut2::from_shape((lq, dv), o).expect("output block");
        general_mat_mul(1.0, &p, &vv, 0.0, &mut o);
    });
    let out = ArrayD::from_shape_vec(IxDyn(&[dims.b, h, lq, dv]), out).expect("attention output");
    let probs = ArrayD::from_shape_vec(IxDyn(&[dims.b, h, lq, lk]), probs).expect("probs");
    (out, probs)
}

#[derive(Debug)]
struct AttentionBackward {
    /// Kept when `k` needs a gradient.
    q: Option<Arc<ArrayD<f32>>>,
    /// Kept when `q` needs a gradient.
    k: Option<Arc<ArrayD<f32>>>,
    /// Kept when `q` or `k` needs a gradient.
    v: Option<Arc<ArrayD<f32>>>,
    /// Attention probabilities `(B, H, Lq, Lk)` (0 on masked entries).
    probs: ArrayD<f32>,
    dims: Dims,
}

impl Backward for AttentionBackward {
    fn name(&self) -> &'static str {
        "scaled_dot_product_attention"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        let Dims {
            b,
            h,
            lq,
            lk,
            d,
            dv,
        } = self.dims;
        let scale = self.dims.scale();
        let (need_q, need_k, need_v) = (grads.needs(0), grads.needs(1), grads.needs(2));
        let go = if grad_out.is_standard_layout() {
            grad_out
        } else {
            grad_out.as_standard_layout().into_owned()
        };
        let go = go.as_slice().expect("standard layout");
        let p_all = self.probs.as_slice().expect("standard layout");
        let q = self.q.as_deref().map(view4);
        let k = self.k.as_deref().map(view4);
        let v = self.v.as_deref().map(view4);
        // Buffers of gradients that are not needed stay empty.
        let len = |need: bool, n: usize| if need { b * h * n } else { 0 };
        let mut dq = vec![0.0f32; len(need_q, lq * d)];
        let mut dk = vec![0.0f32; len(need_k, lk * d)];
        let mut dvv = vec![0.0f32; len(need_v, lk * dv)];
        // One (dQ, dK, dV) set of disjoint output blocks per (batch, head) pair.
        type Blocks<'a> = (
            Option<&'a mut [f32]>,
            Option<&'a mut [f32]>,
            Option<&'a mut [f32]>,
        );
        let mut blocks: Vec<Blocks> = (0..b * h).map(|_| (None, None, None)).collect();
        if need_q {
            for (slot, c) in blocks.iter_mut().zip(dq.chunks_mut(lq * d)) {
                slot.0 = Some(c);
            }
        }
        if need_k {
            for (slot, c) in blocks.iter_mut().zip(dk.chunks_mut(lk * d)) {
                slot.1 = Some(c);
            }
        }
        if need_v {
            for (slot, c) in blocks.iter_mut().zip(dvv.chunks_mut(lk * dv)) {
                slot.2 = Some(c);
            }
        }
        let per_pair = |bh: usize, (dq_b, dk_b, dv_b): Blocks| {
            let (bi, hi) = (bh / h, bh % h);
            let p = ArrayView2::from_shape((lq, lk), &p_all[bh * lq * lk..(bh + 1) * lq * lk])
                .expect("probs block");
            let g = ArrayView2::from_shape((lq, dv), &go[bh * lq * dv..(bh + 1) * lq * dv])
                .expect("grad block");
            if let Some(dv_b) = dv_b {
                // dV = P^T dO
                let mut dv_m = ArrayViewMut2::from_shape((lk, dv), dv_b).expect("dv block");
                general_mat_mul(1.0, &p.t(), &g, 0.0, &mut dv_m);
            }
            if dq_b.is_none() && dk_b.is_none() {
                return;
            }
            let vv = v.as_ref().expect("v kept").slice(s![bi, hi, .., ..]);
            // dP = dO V^T, then dS = P * (dP - rowsum(dP * P)) in place.
            let mut ds = ndarray::Array2::<f32>::zeros((lq, lk));
            general_mat_mul(1.0, &g, &vv.t(), 0.0, &mut ds);
            for (mut drow, prow) in ds.outer_iter_mut().zip(p.outer_iter()) {
                let dot: f64 = drow
                    .iter()
                    .zip(prow.iter())
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum();
                let dot = dot as f32;
                drow.iter_mut()
                    .zip(prow.iter())
                    .for_each(|(dsv, &pv)| *dsv = pv * (*dsv - dot));
            }
            if let Some(dq_b) = dq_b {
                // dQ = dS K / sqrt(D)
                let kv = k.as_ref().expect("k kept").slice(s![bi, hi, .., ..]);
                let mut m = ArrayViewMut2::from_shape((lq, d), dq_b).expect("dq block");
                general_mat_mul(scale, &ds, &kv, 0.0, &mut m);
            }
            if let Some(dk_b) = dk_b {
                // dK = dS^T Q / sqrt(D)
                let qv = q.as_ref().expect("q kept").slice(s![bi, hi, .., ..]);
                let mut m = ArrayViewMut2::from_shape((lk, d), dk_b).expect("dk block");
                general_mat_mul(scale, &ds.t(), &qv, 0.0, &mut m);
            }
        };
        for_each_pair(blocks, self.dims.parallel(), per_pair);
        if need_q {
            grads.put(
                0,
                ArrayD::from_shape_vec(IxDyn(&[b, h, lq, d]), dq).expect("dq"),
            );
        }
        if need_k {
            grads.put(
                1,
                ArrayD::from_shape_vec(IxDyn(&[b, h, lk, d]), dk).expect("dk"),
            );
        }
        if need_v {
            grads.put(
                2,
                ArrayD::from_shape_vec(IxDyn(&[b, h, lk, dv]), dvv).expect("dv"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, assert_close, gradcheck, random_array, with_threads};
    use ndarray::Array4;

    /// Naive reference: explicit loops in f64, masked scores skipped, empty rows give zeros.
    fn naive(
        q: &ArrayD<f32>,
        k: &ArrayD<f32>,
        v: &ArrayD<f32>,
        mask: &AttentionMask,
    ) -> ArrayD<f32> {
        let (q, k, v) = (view4(q), view4(k), view4(v));
        let (b, h, lq, d) = q.dim();
        let (lk, dv) = (k.dim().2, v.dim().3);
        let mut out = Array4::<f32>::zeros((b, h, lq, dv));
        for bi in 0..b {
            for hi in 0..h {
                for i in 0..lq {
                    let mut scores = Vec::new();
                    for j in 0..lk {
                        if mask.allows(bi, i, j, lq, lk) {
                            let dot: f64 = (0..d)
                                .map(|t| q[[bi, hi, i, t]] as f64 * k[[bi, hi, j, t]] as f64)
                                .sum();
                            scores.push((j, dot / (d as f64).sqrt()));
                        }
                    }
                    if scores.is_empty() {
                        continue;
                    }
                    let m = scores.iter().map(|s| s.1).fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = scores.iter().map(|s| (s.1 - m).exp()).sum();
                    for c in 0..dv {
                        let o: f64 = scores
                            .iter()
                            .map(|&(j, sc)| (sc - m).exp() / z * v[[bi, hi, j, c]] as f64)
                            .sum();
                        out[[bi, hi, i, c]] = o as f32;
                    }
                }
            }
        }
        out.into_dyn()
    }

    fn arr4(shape: [usize; 4], data: &[f32]) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(&shape), data.to_vec()).unwrap()
    }

    #[test]
    fn attention_literal() {
        // D = 1 (scale 1): q = [1], keys [0, ln 3] -> scores [0, ln 3], P = [1/4, 3/4];
        // v = [[2, 0], [6, 4]] -> O = [1/4*2 + 3/4*6, 3/4*4] = [5, 3].
        let q = Tensor::param(arr4([1, 1, 1, 1], &[1.0]));
        let k = Tensor::param(arr4([1, 1, 2, 1], &[0.0, 3.0f32.ln()]));
        let v = Tensor::param(arr4([1, 1, 2, 2], &[2.0, 0.0, 6.0, 4.0]));
        let o = Tensor::scaled_dot_product_attention(&q, &k, &v, &AttentionMask::default());
        assert_close(&o.to_array(), &arr4([1, 1, 1, 2], &[5.0, 3.0]), 1e-5, 0.0);
        // dO = [1, 0]: dV = P^T dO = [[1/4, 0], [3/4, 0]]; dP = dO V^T = [2, 6];
        // rowsum(dP * P) = 5; dS = P * (dP - 5) = [-3/4, 3/4];
        // dQ = dS K = 3/4 ln 3; dK = dS^T Q = [-3/4, 3/4].
        let g = o.backward_with(arr4([1, 1, 1, 2], &[1.0, 0.0]));
        assert_close(
            g.get(&v).unwrap(),
            &arr4([1, 1, 2, 2], &[0.25, 0.0, 0.75, 0.0]),
            1e-6,
            0.0,
        );
        assert_close(
            g.get(&q).unwrap(),
            &arr4([1, 1, 1, 1], &[0.75 * 3.0f32.ln()]),
            1e-6,
            0.0,
        );
        assert_close(
            g.get(&k).unwrap(),
            &arr4([1, 1, 2, 1], &[-0.75, 0.75]),
            1e-6,
            0.0,
        );

        // Causal, Lq = Lk = 2: query 0 sees key 0 only, so its output is v_0 exactly.
        // Padding key 1 of the second batch row: both its queries output v_0 of that row.
        let q = Tensor::new(random_array(&[2, 1, 2, 3], 1));
        let k = Tensor::new(random_array(&[2, 1, 2, 3], 2));
        let vv = random_array(&[2, 1, 2, 2], 3);
        let mask = AttentionMask::new(true, Some(vec![vec![false, false], vec![false, true]]));
        let o = Tensor::scaled_dot_product_attention(&q, &k, &Tensor::new(vv.clone()), &mask)
            .to_array();
        for c in 0..2 {
            assert_eq!(o[[0, 0, 0, c]], vv[[0, 0, 0, c]]);
            assert_eq!(o[[1, 0, 0, c]], vv[[1, 0, 0, c]]);
            assert_eq!(o[[1, 0, 1, c]], vv[[1, 0, 0, c]]);
        }
    }

    #[test]
    fn attention_matches_naive() {
        let cases: [(usize, usize, usize, usize, usize, usize); 5] = [
            (2, 3, 4, 4, 5, 3),
            (1, 2, 3, 5, 2, 4),
            (2, 1, 5, 3, 3, 1),
            (1, 1, 1, 1, 1, 1),
            (3, 2, 6, 6, 8, 8),
        ];
        for (seed, &(b, h, lq, lk, d, dv)) in cases.iter().enumerate() {
            let seed = seed as u64 * 10;
            let q = random_array(&[b, h, lq, d], seed).mapv(|x| 2.0 * x);
            let k = random_array(&[b, h, lk, d], seed + 1).mapv(|x| 2.0 * x);
            let v = random_array(&[b, h, lk, dv], seed + 2);
            // Batch row 0 pads its last key; the last batch row pads everything (fully masked).
            let pad: Vec<Vec<bool>> = (0..b)
                .map(|bi| {
                    (0..lk)
                        .map(|j| (bi == 0 && j == lk - 1 && lk > 1) || (bi == b - 1 && b > 1))
                        .collect()
                })
                .collect();
            for mask in [
                AttentionMask::default(),
                AttentionMask::new(true, None),
                AttentionMask::new(false, Some(pad.clone())),
                AttentionMask::new(true, Some(pad.clone())),
            ] {
                let got = Tensor::scaled_dot_product_attention(
                    &Tensor::new(q.clone()),
                    &Tensor::new(k.clone()),
                    &Tensor::new(v.clone()),
                    &mask,
                );
                assert!(got.to_vec().iter().all(|x| x.is_finite()));
                assert_close(&got.to_array(), &naive(&q, &k, &v, &mask), 1e-5, 1e-4);
            }
        }
    }

    #[test]
    fn attention_matches_composite_ops() {
        // Reference built from separate recorded ops (matmul, transpose, mul_scalar, an
        // additive -1e9 mask, softmax): forward and all three gradients must agree. Every
        // query keeps at least one key (key 0 is never padded), so no row is fully masked.
        let (b, h, l, d, dv) = (2, 2, 5, 3, 4);
        let q = random_array(&[b, h, l, d], 51).mapv(|x| 1.5 * x);
        let k = random_array(&[b, h, l, d], 52).mapv(|x| 1.5 * x);
        let v = random_array(&[b, h, l, dv], 53);
        let proj = random_array(&[b, h, l, dv], 54);
        let pad = vec![vec![false, false, false, true, true], vec![false; l]];
        for mask in [
            AttentionMask::default(),
            AttentionMask::new(true, Some(pad.clone())),
        ] {
            let bias = ArrayD::from_shape_fn(IxDyn(&[b, 1, l, l]), |i| {
                if mask.allows(i[0], i[2], i[3], l, l) {
                    0.0
                } else {
                    -1e9
                }
            });
            let (qf, kf, vf) = (
                Tensor::param(q.clone()),
                Tensor::param(k.clone()),
                Tensor::param(v.clone()),
            );
            let fused = Tensor::scaled_dot_product_attention(&qf, &kf, &vf, &mask);
            let gf = fused.backward_with(proj.clone());
            let (qc, kc, vc) = (
                Tensor::param(q.clone()),
                Tensor::param(k.clone()),
                Tensor::param(v.clone()),
            );
            let scores = qc
                .matmul(&kc.transpose(2, 3))
                .mul_scalar(1.0 / (d as f32).sqrt())
                .add(&Tensor::new(bias));
            let composite = scores.softmax(3).matmul(&vc);
            let gc = composite.backward_with(proj.clone());
            assert_close(&fused.to_array(), &composite.to_array(), 1e-5, 1e-4);
            for (a, c) in [(&qf, &qc), (&kf, &kc), (&vf, &vc)] {
                assert_close(gf.get(a).unwrap(), gc.get(c).unwrap(), 1e-5, 1e-4);
            }
        }
    }

    #[test]
    fn attention_fully_masked_rows_are_zero() {
        // Causal with Lq = 3 > Lk = 2: offset -1, so query 0 sees nothing.
        let q = Tensor::param(random_array(&[1, 1, 3, 2], 4));
        let k = Tensor::param(random_array(&[1, 1, 2, 2], 5));
        let v = Tensor::param(random_array(&[1, 1, 2, 2], 6));
        let o = Tensor::scaled_dot_product_attention(&q, &k, &v, &AttentionMask::new(true, None));
        let a = o.to_array();
        assert_eq!((a[[0, 0, 0, 0]], a[[0, 0, 0, 1]]), (0.0, 0.0));
        assert!(a.iter().all(|x| x.is_finite()));
        let g = o.backward_with(random_array(&[1, 1, 3, 2], 7));
        let dq = g.get(&q).unwrap();
        assert_eq!((dq[[0, 0, 0, 0]], dq[[0, 0, 0, 1]]), (0.0, 0.0));
        assert!(
            g.get(&k)
                .unwrap()
                .iter()
                .chain(g.get(&v).unwrap().iter())
                .all(|x| x.is_finite())
        );
    }

    #[test]
    fn attention_grad_matches_fd() {
        let cfg = GradCheck::default();
        let (b, h, lq, lk, d, dv) = (2, 2, 3, 4, 3, 2);
        let q = random_array(&[b, h, lq, d], 21);
        let k = random_array(&[b, h, lk, d], 22);
        let v = random_array(&[b, h, lk, dv], 23);
        let pad = vec![
            vec![false, false, true, false],
            vec![false, true, true, true],
        ];
        for mask in [
            AttentionMask::default(),
            AttentionMask::new(true, Some(pad.clone())),
            AttentionMask::new(false, Some(pad)),
        ] {
            let f = |t: &[Tensor]| Tensor::scaled_dot_product_attention(&t[0], &t[1], &t[2], &mask);
            gradcheck(f, &[q.clone(), k.clone(), v.clone()], &cfg);
        }
        // Lq > Lk with causal: fully masked first query.
        let q2 = random_array(&[1, 2, 4, 3], 24);
        let f = |t: &[Tensor]| {
            Tensor::scaled_dot_product_attention(
                &t[0],
                &t[1],
                &t[2],
                &AttentionMask::new(true, None),
            )
        };
        gradcheck(
            f,
            &[
                q2,
                random_array(&[1, 2, 3, 3], 25),
                random_array(&[1, 2, 3, 2], 26),
            ],
            &cfg,
        );
    }

    #[test]
    fn attention_thread_count_independent() {
        let (b, h, l, d) = (2, 4, 24, 16);
        let q = random_array(&[b, h, l, d], 31);
        let k = random_array(&[b, h, l, d], 32);
        let v = random_array(&[b, h, l, d], 33);
        let proj = random_array(&[b, h, l, d], 34);
        let mask = AttentionMask::new(
            true,
            Some(vec![vec![false; l], (0..l).map(|j| j > 20).collect()]),
        );
        assert!(
            Dims {
                b,
                h,
                lq: l,
                lk: l,
                d,
                dv: d
            }
            .parallel()
        );
        let run = || {
            let (qt, kt, vt) = (
                Tensor::param(q.clone()),
                Tensor::param(k.clone()),
                Tensor::param(v.clone()),
            );
            let o = Tensor::scaled_dot_product_attention(&qt, &kt, &vt, &mask);
            let g = o.backward_with(proj.clone());
            (
                o.to_vec(),
                g.get(&qt).unwrap().clone(),
                g.get(&kt).unwrap().clone(),
                g.get(&vt).unwrap().clone(),
            )
        };
        assert!(with_threads(1, run) == with_threads(4, run));
    }

    #[test]
    fn attention_grad_of_v_only() {
        // Only v requires a gradient: q and k are not kept, dV = P^T dO still correct.
        let q = Tensor::new(random_array(&[1, 1, 2, 2], 41));
        let k = Tensor::new(random_array(&[1, 1, 3, 2], 42));
        let v = random_array(&[1, 1, 3, 2], 43);
        let f = |t: &[Tensor]| {
            Tensor::scaled_dot_product_attention(&q, &k, &t[0], &AttentionMask::default())
        };
        gradcheck(f, &[v], &GradCheck::default());
    }

    #[test]
    #[should_panic(
        expected = "scaled_dot_product_attention: key padding mask must be B x Lk = 1 x 3"
    )]
    fn attention_rejects_bad_padding_mask() {
        let q = Tensor::zeros(&[1, 1, 2, 4]);
        let kv = Tensor::zeros(&[1, 1, 3, 4]);
        let mask = AttentionMask::new(false, Some(vec![vec![false; 2]]));
        let _ = Tensor::scaled_dot_product_attention(&q, &kv, &kv, &mask);
    }

    #[test]
    #[should_panic(expected = "scaled_dot_product_attention: incompatible shapes")]
    fn attention_rejects_mismatched_heads() {
        let _ = Tensor::scaled_dot_product_attention(
            &Tensor::zeros(&[1, 2, 2, 4]),
            &Tensor::zeros(&[1, 1, 3, 4]),
            &Tensor::zeros(&[1, 1, 3, 4]),
            &AttentionMask::default(),
        );
    }
}

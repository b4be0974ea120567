//! `conv1x1_max_pool2d`: a 1x1 convolution followed by a non-overlapping max-pool, fused, the
//! paper's "collapse" step. The unfused pair materialises the `(N, Cout, H, W)` convolution
//! output (41M floats for a batch of 32 DigitCircle maps at 128 channels) only to keep one value
//! in `kh * kw`; the fused kernel keeps a running maximum per window instead, and its backward
//! touches only the argmax positions.
//!
//! The input is typically a sparse motif map: a position whose `Cin` inputs are all exactly
//! zero has the value `bias` in every output channel, so the kernel skips its dot product and
//! lets the first such position of a window compete with the value `bias` (exact: the skipped
//! dot product is a sum of zeros). Skipping is switched off when a weight or bias is not finite
//! (`0 * inf` is NaN), so the result is always that of the plain definition.
//!
//! The gradient goes to the first maximum of each window in row-major order, as `max_pool2d`.
//! The backward keeps the argmax indices, plus the input (only if the weight needs a gradient)
//! and the weight (only if the input does).

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use super::conv2d::contiguous;
use crate::Tensor;
use crate::ops::{Backward, GradSink, record};

/// The geometry of one fused collapse.
#[derive(Clone, Copy, Debug)]
struct Collapse {
    n: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    ho: usize,
    wo: usize,
}

impl Collapse {
    fn plane(&self) -> usize {
        self.h * self.w
    }

    fn cells(&self) -> usize {
        self.ho * self.wo
    }

    /// One row of windows (`oy`) of one sample `xs` `(Cin, H, W)`: writes the maxima and their
    /// plane indices cell-major, `(Wo, Cout)`. `wt` is the weight transposed to `(Cin, Cout)`.
    #[allow(clippy::too_many_arguments)]
    fn forward_row(
        &self,
        xs: &[f32],
        wt: &[f32],
        b: &[f32],
        skip_zeros: bool,
        oy: usize,
        out: &mut [f32],
        arg: &mut [u32],
    ) {
        let (cin, cout, plane) = (self.cin, self.cout, self.plane());
        let mut v = vec![0.0f32; cout];
        let mut xk = vec![0.0f32; cin];
        for ox in 0..self.wo {
            let best = &mut out[ox * cout..(ox + 1) * cout];
            let at = &mut arg[ox * cout..(ox + 1) * cout];
            let mut seen = false;
            let mut first_zero: Option<u32> = None;
            for i in 0..self.kh {
                let row = (oy * self.kh + i) * self.w + ox * self.kw;
                for p in row..row + self.kw {
                    let mut all_zero = true;
                    for (k, xv) in xk.iter_mut().enumerate() {
                        *xv = xs[k * plane + p];
                        all_zero &= *xv == 0.0;
                    }
                    if skip_zeros && all_zero {
                        first_zero.get_or_insert(p as u32);
                        continue;
                    }
                    v.copy_from_slice(b);
                    for (k, &a) in xk.iter().enumerate() {
                        for (vc, &wc) in v.iter_mut().zip(&wt[k * cout..(k + 1) * cout]) {
                            *vc += a * wc;
                        }
                    }
                    if !seen {
                        best.copy_from_slice(&v);
                        at.fill(p as u32);
                        seen = true;
                        continue;
                    }
                    for c in 0..cout {
                        // Strictly greater keeps the first maximum; a NaN wins once.
                        if v[c] > best[c] || (v[c].is_nan() && !best[c].is_nan()) {
                            best[c] = v[c];
                            at[c] = p as u32;
                        }
                    }
                }
            }
            // Every skipped position has the value `b`; the first of them is the one a
            // row-major scan would keep, so it wins ties against later positions only.
            if let Some(z) = first_zero {
                if !seen {
                    best.copy_from_slice(b);
                    at.fill(z);
                } else {
                    for c in 0..cout {
                        let wins = b[c] > best[c] || (b[c] == best[c] && z < at[c]);
                        if !best[c].is_nan() && wins {
                            best[c] = b[c];
                            at[c] = z;
                        }
                    }
                }
            }
        }
    }
}

impl Tensor {
    /// A 1x1 convolution (`weight (Cout, Cin, 1, 1)`, optional `bias (Cout)`) followed by a
    /// max-pool with window and stride `window` (no padding; trailing rows and columns that do
    /// not fill a window are dropped), fused: the result is `(N, Cout, H / kh, W / kw)` and
    /// equals `self.conv2d(weight, bias, 1x1).max_pool2d(window, window)` up to the rounding of
    /// the dot products. Fast on sparse inputs (see the module documentation).
    ///
    /// Parallel over samples and rows of windows; results do not depend on the thread count.
    ///
    /// # Panics
    /// If `self` is not `(N, Cin, H, W)`, the weight is not `(Cout, Cin, 1, 1)`, the bias is
    /// not `(Cout)`, a window side is zero or the plane is smaller than the window.
    pub fn conv1x1_max_pool2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        window: [usize; 2],
    ) -> Tensor {
        const OP: &str = "conv1x1_max_pool2d";
        crate::shape_check!(
            self.ndim() == 4,
            OP,
            "expects input (N, Cin, H, W), got {:?}",
            self.shape()
        );
        let s = self.shape();
        let ws = weight.shape();
        crate::shape_check!(
            ws.len() == 4 && ws[1] == s[1] && ws[2] == 1 && ws[3] == 1,
            OP,
            "expects weight (Cout, {}, 1, 1), got {:?}",
            s[1],
            ws
        );
        if let Some(b) = bias {
            crate::shape_check!(
                b.shape() == [ws[0]],
                OP,
                "bias of shape {:?} does not match {} output channels",
                b.shape(),
                ws[0]
            );
        }
        let [kh, kw] = window;
        crate::shape_check!(
            kh >= 1 && kw >= 1 && s[2] >= kh && s[3] >= kw,
            OP,
            "window {:?} must be at least 1 and fit the plane {:?}",
            window,
            [s[2], s[3]]
        );
        crate::shape_check!(
            s[2] * s[3] <= u32::MAX as usize,
            OP,
            "plane {:?} too large for 32-bit indices",
            [s[2], s[3]]
        );
        let g = Collapse {
            n: s[0],
            cin: s[1],
            cout: ws[0],
            h: s[2],
            w: s[3],
            kh,
            kw,
            ho: s[2] / kh,
            wo: s[3] / kw,
        };
        collapse(g, self, weight, bias)
    }
}

fn collapse(g: Collapse, x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
    let xs = contiguous(x.data());
    let wd = contiguous(weight.data());
    let b: Vec<f32> = match bias {
        Some(b) => contiguous(b.data()).into_owned(),
        None => vec![0.0; g.cout],
    };
    // (Cout, Cin) -> (Cin, Cout), so that one input value scales a contiguous weight row.
    let mut wt = vec![0.0f32; g.cin * g.cout];
    for c in 0..g.cout {
        for k in 0..g.cin {
            wt[k * g.cout + c] = wd[c * g.cin + k];
        }
    }
    let skip_zeros = wt.iter().chain(&b).all(|v| v.is_finite());

    // Cell-major scratch (N, Ho, Wo, Cout), one chunk per (sample, row of windows).
    let (cells, cout) = (g.cells(), g.cout);
    let mut best = vec![0.0f32; g.n * cells * cout];
    let mut arg = vec![0u32; g.n * cells * cout];
    let row_len = g.wo * cout;
    if row_len > 0 {
        best.par_chunks_mut(row_len)
            .zip(arg.par_chunks_mut(row_len))
            .enumerate()
            .for_each(|(r, (out, at))| {
                let (n, oy) = (r / g.ho, r % g.ho);
                let xn = &xs[n * g.cin * g.plane()..(n + 1) * g.cin * g.plane()];
                g.forward_row(xn, &wt, &b, skip_zeros, oy, out, at);
            });
    }
    // To (N, Cout, Ho, Wo).
    let mut out = vec![0.0f32; best.len()];
    let mut argmax = vec![0u32; arg.len()];
    for n in 0..g.n {
        let base = n * cells * cout;
        for cell in 0..cells {
            for c in 0..cout {
                out[base + c * cells + cell] = best[base + cell * cout + c];
                argmax[base + c * cells + cell] = arg[base + cell * cout + c];
            }
        }
    }
    let data =
        ArrayD::from_shape_vec(IxDyn(&[g.n, cout, g.ho, g.wo]), out).expect("collapse shape");
    let mut parents = vec![x, weight];
    parents.extend(bias);
    record(data, &parents, |needs| {
        Box::new(Conv1x1MaxPoolBackward {
            geom: g,
            has_bias: bias.is_some(),
            argmax,
            // dW needs x; dx needs W.
            x: needs[1].then(|| x.data_arc()),
            w: needs[0].then(|| weight.data_arc()),
        })
    })
}

/// Keeps the argmax (plane index) of every output, and the operands the backward needs.
#[derive(Debug)]
struct Conv1x1MaxPoolBackward {
    geom: Collapse,
    has_bias: bool,
    /// `(N, Cout, cells)`.
    argmax: Vec<u32>,
    x: Option<Arc<ArrayD<f32>>>,
    w: Option<Arc<ArrayD<f32>>>,
}

impl Backward for Conv1x1MaxPoolBackward {
    fn name(&self) -> &'static str {
        "conv1x1_max_pool2d"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        let g = self.geom;
        let (cin, cout, cells, plane) = (g.cin, g.cout, g.cells(), g.plane());
        let dy = grad_out
            .as_slice()
            .expect("gradients are in standard layout");
        let arg = &self.argmax;

        if grads.needs(0) {
            // dx[n, k, argmax] += dy * W[c, k]: one sample per task, in (c, cell) order.
            let wd = contiguous(self.w.as_deref().expect("weight saved for dx"));
            let mut dx = vec![0.0f32; g.n * cin * plane];
            if plane > 0 && cin > 0 {
                dx.par_chunks_mut(cin * plane)
                    .enumerate()
                    .for_each(|(n, dxn)| {
                        for c in 0..cout {
                            let wr = &wd[c * cin..(c + 1) * cin];
                            let o = (n * cout + c) * cells;
                            for (&gv, &p) in dy[o..o + cells].iter().zip(&arg[o..o + cells]) {
                                if gv == 0.0 {
                                    continue;
                                }
                                for (k, &wk) in wr.iter().enumerate() {
                                    dxn[k * plane + p as usize] += gv * wk;
                                }
                            }
                        }
                    });
            }
            let shape = [g.n, cin, g.h, g.w];
            grads.put(
                0,
                ArrayD::from_shape_vec(IxDyn(&shape), dx).expect("input shape"),
            );
        }
        if grads.needs(1) {
            // dW[c, k] = sum over (n, cell) of dy * x[n, k, argmax], in f64, in that order.
            let xd = contiguous(self.x.as_deref().expect("input saved for dW"));
            let rows: Vec<Vec<f32>> = (0..cout)
                .into_par_iter()
                .map(|c| {
                    let mut acc = vec![0.0f64; cin];
                    for n in 0..g.n {
                        let o = (n * cout + c) * cells;
                        let xn = &xd[n * cin * plane..(n + 1) * cin * plane];
                        for (&gv, &p) in dy[o..o + cells].iter().zip(&arg[o..o + cells]) {
                            for (k, a) in acc.iter_mut().enumerate() {
                                *a += f64::from(gv) * f64::from(xn[k * plane + p as usize]);
                            }
                        }
                    }
                    acc.into_iter().map(|a| a as f32).collect()
                })
                .collect();
            let dw: Vec<f32> = rows.concat();
            grads.put(
                1,
                ArrayD::from_shape_vec(IxDyn(&[cout, cin, 1, 1]), dw).expect("weight shape"),
            );
        }
        if self.has_bias && grads.needs(2) {
            let db: Vec<f32> = (0..cout)
                .map(|c| {
                    let mut acc = 0.0f64;
                    for n in 0..g.n {
                        let o = (n * cout + c) * cells;
                        acc += dy[o..o + cells].iter().map(|&v| f64::from(v)).sum::<f64>();
                    }
                    acc as f32
                })
                .collect();
            grads.put(
                2,
                ArrayD::from_shape_vec(IxDyn(&[cout]), db).expect("bias shape"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;
    use crate::ops::conv::Conv2dParams;
    use crate::testing::{GradCheck, assert_close, gradcheck, random_array, with_threads};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn one_by_one() -> Conv2dParams {
        Conv2dParams {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
        }
    }

    /// Values that make every dot product exact in f32: small multiples of 1/4.
    fn quarter_array(shape: &[usize], rng: &mut ChaCha8Rng, zero_frac: f64) -> ArrayD<f32> {
        ArrayD::from_shape_fn(IxDyn(shape), |_| {
            if rng.random_bool(zero_frac) {
                0.0
            } else {
                rng.random_range(-4..=4) as f32 * 0.25
            }
        })
    }

    #[test]
    fn literal_with_a_zero_position_and_ties() {
        // x (1, 2, 2, 2): channel 0 = [[1, 0], [0, 2]], channel 1 = [[0, 0], [0, 1]];
        // W (2, 2): row 0 = [1, 1], row 1 = [-1, 0]; b = [0.5, 0].
        // Positions (0,0): [1.5, -1]; (0,1) and (1,0) are all-zero: [0.5, 0]; (1,1): [3.5, -2].
        // One 2x2 window: channel 0 max 3.5 at 3; channel 1 max 0 at the first zero, 1.
        // Upstream [2, 3]: dx[0, 3] = 2 * 1; dx[1, 3] = 2 * 1; dx[0, 1] = 3 * -1.
        // dW row 0 = 2 * x[:, 3] = [4, 2]; row 1 = 3 * x[:, 1] = [0, 0]; db = [2, 3].
        let x = Tensor::param(
            ArrayD::from_shape_vec(
                IxDyn(&[1, 2, 2, 2]),
                vec![1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 1.0],
            )
            .unwrap(),
        );
        let w = Tensor::param(
            ArrayD::from_shape_vec(IxDyn(&[2, 2, 1, 1]), vec![1.0, 1.0, -1.0, 0.0]).unwrap(),
        );
        let b = Tensor::param(ArrayD::from_shape_vec(IxDyn(&[2]), vec![0.5, 0.0]).unwrap());
        let y = x.conv1x1_max_pool2d(&w, Some(&b), [2, 2]);
        assert_eq!(y.shape(), &[1, 2, 1, 1]);
        assert_eq!(y.to_vec(), vec![3.5, 0.0]);
        let gr =
            y.backward_with(ArrayD::from_shape_vec(IxDyn(&[1, 2, 1, 1]), vec![2.0, 3.0]).unwrap());
        assert_eq!(
            gr.get(&x).unwrap().as_slice().unwrap(),
            &[0.0, -3.0, 0.0, 2.0, 0.0, 0.0, 0.0, 2.0]
        );
        assert_eq!(
            gr.get(&w).unwrap().as_slice().unwrap(),
            &[4.0, 2.0, 0.0, 0.0]
        );
        assert_eq!(gr.get(&b).unwrap().as_slice().unwrap(), &[2.0, 3.0]);
    }

    #[test]
    fn matches_conv_then_max_pool_on_random_sparse_shapes_with_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for case in 0..24 {
            let (n, cin, cout) = (
                rng.random_range(1..4),
                rng.random_range(1..5),
                rng.random_range(1..7),
            );
            let k = [rng.random_range(1..5), rng.random_range(1..5)];
            let h = rng.random_range(k[0]..k[0] * 3 + 2);
            let w = rng.random_range(k[1]..k[1] * 3 + 2);
            // From dense to almost all zero: exercises the skipped positions and their ties.
            let zero_frac = [0.0, 0.5, 0.9, 0.99][case % 4];
            let x = quarter_array(&[n, cin, h, w], &mut rng, zero_frac);
            let wt = quarter_array(&[cout, cin, 1, 1], &mut rng, 0.1);
            let bias = quarter_array(&[cout], &mut rng, 0.3);
            let with_bias = case % 3 != 0;
            let run = |fused: bool| {
                let (xt, wtt, bt) = (
                    Tensor::param(x.clone()),
                    Tensor::param(wt.clone()),
                    Tensor::param(bias.clone()),
                );
                let b = with_bias.then_some(&bt);
                let y = if fused {
                    xt.conv1x1_max_pool2d(&wtt, b, k)
                } else {
                    xt.conv2d(&wtt, b, one_by_one()).max_pool2d(k, k)
                };
                let gy = quarter_array(y.shape(), &mut ChaCha8Rng::seed_from_u64(case as u64), 0.2);
                let gr = y.backward_with(gy);
                let grads = (
                    gr.get(&xt).unwrap().clone(),
                    gr.get(&wtt).unwrap().clone(),
                    with_bias.then(|| gr.get(&bt).unwrap().clone()),
                );
                (y.shape().to_vec(), y.to_vec(), grads)
            };
            let (fs, fy, (fdx, fdw, fdb)) = run(true);
            let (us, uy, (udx, udw, udb)) = run(false);
            assert_eq!(fs, us, "case {case}");
            assert_eq!(fy, uy, "case {case}: values");
            assert_eq!(fdx, udx, "case {case}: dx");
            assert_close(&fdw, &udw, 1e-6, 1e-6);
            if let (Some(f), Some(u)) = (fdb, udb) {
                assert_close(&f, &u, 1e-6, 1e-6);
            }
        }
    }

    #[test]
    fn grad_matches_fd() {
        // Dense random values: every window's argmax is stable under the FD step.
        let x = random_array(&[2, 3, 5, 6], 1);
        let w = random_array(&[4, 3, 1, 1], 2);
        let b = random_array(&[4], 3);
        gradcheck(
            |t| t[0].conv1x1_max_pool2d(&t[1], Some(&t[2]), [2, 3]),
            &[x, w, b],
            &GradCheck::default(),
        );
    }

    #[test]
    fn non_finite_weights_disable_the_zero_skip() {
        // 0 * inf is NaN: an all-zero position must give NaN, as the plain definition does.
        let x = Tensor::new(ArrayD::zeros(IxDyn(&[1, 1, 2, 2])));
        let w = Tensor::new(ArrayD::from_elem(IxDyn(&[1, 1, 1, 1]), f32::INFINITY));
        let y = x.conv1x1_max_pool2d(&w, None, [2, 2]).to_vec();
        assert!(y[0].is_nan());
    }

    #[test]
    fn backward_saves_only_what_the_other_side_needs() {
        let x = Tensor::param(random_array(&[1, 2, 4, 4], 1));
        let w = Tensor::new(random_array(&[3, 2, 1, 1], 2));
        let (xd, wd) = (x.data_arc(), w.data_arc());
        let _y = x.conv1x1_max_pool2d(&w, None, [2, 2]);
        // Only x needs a gradient: dx needs W, nothing needs x.
        assert_eq!(Arc::strong_count(&xd), 2, "input must not be saved");
        assert_eq!(Arc::strong_count(&wd), 3, "weight must be saved");
    }

    #[test]
    fn is_thread_count_independent() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let x = ArrayD::from_shape_fn(IxDyn(&[3, 5, 40, 40]), |_| {
            if rng.random_bool(0.7) {
                0.0
            } else {
                rng.random::<f32>()
            }
        });
        let w = random_array(&[16, 5, 1, 1], 5);
        let b = random_array(&[16], 6);
        let run = || {
            let (xt, wt, bt) = (
                Tensor::param(x.clone()),
                Tensor::param(w.clone()),
                Tensor::param(b.clone()),
            );
            let y = xt.conv1x1_max_pool2d(&wt, Some(&bt), [8, 8]);
            let g = y.backward_with(random_array(y.shape(), 7));
            (
                y.to_vec(),
                g.get(&xt).unwrap().clone(),
                g.get(&wt).unwrap().clone(),
                g.get(&bt).unwrap().clone(),
            )
        };
        assert!(with_threads(1, run) == with_threads(3, run));
    }

    #[test]
    #[should_panic(
        expected = "conv1x1_max_pool2d: expects weight (Cout, 3, 1, 1), got [4, 3, 3, 3]"
    )]
    fn rejects_a_3x3_weight() {
        let _ = Tensor::zeros(&[1, 3, 8, 8]).conv1x1_max_pool2d(
            &Tensor::zeros(&[4, 3, 3, 3]),
            None,
            [2, 2],
        );
    }
}

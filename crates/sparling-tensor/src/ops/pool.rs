//! `max_pool2d` / `max_pool1d`: max pooling without padding. The gradient goes to the first
//! maximum of each window (row-major scan); the backward keeps the argmax indices, not the
//! input. A NaN in a window is its maximum (it propagates, as in PyTorch).

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use crate::Tensor;
use crate::kernels::par::MIN_PAR_ELEMS;
use crate::ops::{Backward, GradSink, record};

/// Window geometry over one `(h, w)` plane.
#[derive(Clone, Copy, Debug)]
struct Pool {
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ho: usize,
    wo: usize,
}

impl Pool {
    fn new(op: &str, h: usize, w: usize, kernel: [usize; 2], stride: [usize; 2]) -> Pool {
        let [kh, kw] = kernel;
        let [sh, sw] = stride;
        crate::shape_check!(
            kh >= 1 && kw >= 1 && sh >= 1 && sw >= 1,
            op,
            "kernel {:?} and stride {:?} must be at least 1",
            kernel,
            stride
        );
        crate::shape_check!(
            h >= kh && w >= kw,
            op,
            "input plane {:?} is smaller than the window {:?}",
            [h, w],
            kernel
        );
        Pool {
            h,
            w,
            kh,
            kw,
            sh,
            sw,
            ho: (h - kh) / sh + 1,
            wo: (w - kw) / sw + 1,
        }
    }

    /// Max and first argmax (index in the plane) of every window of one plane.
    fn forward_plane(&self, x: &[f32], out: &mut [f32], arg: &mut [u32]) {
        for oy in 0..self.ho {
            for ox in 0..self.wo {
                let (y0, x0) = (oy * self.sh, ox * self.sw);
                let mut best = x[y0 * self.w + x0];
                let mut best_at = y0 * self.w + x0;
                for i in 0..self.kh {
                    let row = (y0 + i) * self.w;
                    for j in 0..self.kw {
                        let v = x[row + x0 + j];
                        // Strictly greater keeps the first maximum; a NaN wins once.
                        if v > best || (v.is_nan() && !best.is_nan()) {
                            best = v;
                            best_at = row + x0 + j;
                        }
                    }
                }
                out[oy * self.wo + ox] = best;
                arg[oy * self.wo + ox] = best_at as u32;
            }
        }
    }
}

impl Tensor {
    /// 2-D max pooling of a `(N, C, H, W)` tensor with window `[kh, kw]` and stride `[sh, sw]`,
    /// no padding: the result is `(N, C, (H - kh) / sh + 1, (W - kw) / sw + 1)`. The gradient
    /// goes to the first maximum of each window in row-major order.
    ///
    /// # Panics
    /// If the input is not 4-D, a window or stride entry is zero, or the plane is smaller than
    /// the window.
    pub fn max_pool2d(&self, kernel: [usize; 2], stride: [usize; 2]) -> Tensor {
        crate::shape_check!(
            self.ndim() == 4,
            "max_pool2d",
            "expects (N, C, H, W), got {:?}",
            self.shape()
        );
        let s = self.shape();
        let p = Pool::new("max_pool2d", s[2], s[3], kernel, stride);
        max_pool(self, p, vec![s[0], s[1], p.ho, p.wo])
    }

    /// 1-D max pooling of a `(N, C, L)` tensor with window `k` and stride `s`, no padding: the
    /// result is `(N, C, (L - k) / s + 1)`. The gradient goes to the first maximum.
    ///
    /// # Panics
    /// If the input is not 3-D, `k` or `s` is zero, or `L < k`.
    pub fn max_pool1d(&self, k: usize, s: usize) -> Tensor {
        crate::shape_check!(
            self.ndim() == 3,
            "max_pool1d",
            "expects (N, C, L), got {:?}",
            self.shape()
        );
        let sh = self.shape();
        let p = Pool::new("max_pool1d", 1, sh[2], [1, k], [1, s]);
        max_pool(self, p, vec![sh[0], sh[1], p.wo])
    }
}

fn max_pool(x: &Tensor, p: Pool, out_shape: Vec<usize>) -> Tensor {
    crate::shape_check!(
        p.h * p.w <= u32::MAX as usize,
        "max_pool",
        "plane {:?} too large for 32-bit indices",
        [p.h, p.w]
    );
    let xd = x.data().as_standard_layout();
    let xs = xd.as_slice().expect("standard layout");
    let (plane_in, plane_out) = (p.h * p.w, p.ho * p.wo);
    // The window is at least 1x1 and fits the plane, so planes are never empty.
    let planes = xs.len() / plane_in;
    let mut out = vec![0.0f32; planes * plane_out];
    let mut arg = vec![0u32; planes * plane_out];
    if plane_out > 0 {
        let work = |((xp, op), ap): ((&[f32], &mut [f32]), &mut [u32])| p.forward_plane(xp, op, ap);
        if xs.len() >= MIN_PAR_ELEMS {
            xs.par_chunks(plane_in)
                .zip(out.par_chunks_mut(plane_out))
                .zip(arg.par_chunks_mut(plane_out))
                .for_each(work);
        } else {
            xs.chunks(plane_in)
                .zip(out.chunks_mut(plane_out))
                .zip(arg.chunks_mut(plane_out))
                .for_each(work);
        }
    }
    let data = ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("pool output shape");
    record(data, &[x], |_| {
        Box::new(MaxPoolBackward {
            in_shape: x.shape().to_vec(),
            plane_in,
            plane_out,
            argmax: arg,
        })
    })
}

/// Keeps the argmax (index within its input plane) of every output element.
#[derive(Debug)]
struct MaxPoolBackward {
    in_shape: Vec<usize>,
    plane_in: usize,
    plane_out: usize,
    argmax: Vec<u32>,
}

impl Backward for MaxPoolBackward {
    fn name(&self) -> &'static str {
        "max_pool"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // dx[argmax(window)] += dy[window]; overlapping windows add in output order.
        let dy = grad_out
            .as_slice()
            .expect("gradients are in standard layout");
        let mut dx = vec![0.0f32; self.in_shape.iter().product()];
        if self.plane_out > 0 && self.plane_in > 0 {
            let work = |((dxp, dyp), ap): ((&mut [f32], &[f32]), &[u32])| {
                for (&g, &a) in dyp.iter().zip(ap) {
                    dxp[a as usize] += g;
                }
            };
            if dx.len() >= MIN_PAR_ELEMS {
                dx.par_chunks_mut(self.plane_in)
                    .zip(dy.par_chunks(self.plane_out))
                    .zip(self.argmax.par_chunks(self.plane_out))
                    .for_each(work);
            } else {
                dx.chunks_mut(self.plane_in)
                    .zip(dy.chunks(self.plane_out))
                    .zip(self.argmax.chunks(self.plane_out))
                    .for_each(work);
            }
        }
        let dx = ArrayD::from_shape_vec(IxDyn(&self.in_shape), dx).expect("input shape");
        grads.put(0, dx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, assert_close, gradcheck, random_array, with_threads};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Direct max pooling and first-argmax gradient of a `(planes, h, w)` array.
    fn naive(
        x: &ArrayD<f32>,
        g: &ArrayD<f32>,
        k: [usize; 2],
        s: [usize; 2],
    ) -> (Vec<f32>, Vec<f32>) {
        let sh = x.shape();
        let (planes, h, w) = (sh[0], sh[1], sh[2]);
        let (ho, wo) = ((h - k[0]) / s[0] + 1, (w - k[1]) / s[1] + 1);
        let mut out = Vec::new();
        let mut dx = vec![0.0; planes * h * w];
        for pl in 0..planes {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut best = (f32::NEG_INFINITY, 0, 0);
                    for i in 0..k[0] {
                        for j in 0..k[1] {
                            let v = x[[pl, oy * s[0] + i, ox * s[1] + j]];
                            if v > best.0 {
                                best = (v, oy * s[0] + i, ox * s[1] + j);
                            }
                        }
                    }
                    out.push(best.0);
                    dx[(pl * h + best.1) * w + best.2] += g[[pl, oy, ox]];
                }
            }
        }
        (out, dx)
    }

    #[test]
    fn max_pool2d_literal_with_ties() {
        // x = [[1,3,3,0],[2,3,1,5],[0,0,4,4]], window 2x2, stride [1,2]:
        // windows rows 0-1: [1,3,2,3] -> 3 at (0,1); [3,0,1,5] -> 5 at (1,3);
        //         rows 1-2: [2,3,0,0] -> 3 at (1,1); [1,5,4,4] -> 5 at (1,3).
        // Upstream [[1,2],[3,4]]: dx(0,1) = 1, dx(1,3) = 2 + 4 = 6, dx(1,1) = 3.
        let x = Tensor::param(
            ArrayD::from_shape_vec(
                IxDyn(&[1, 1, 3, 4]),
                vec![1.0, 3.0, 3.0, 0.0, 2.0, 3.0, 1.0, 5.0, 0.0, 0.0, 4.0, 4.0],
            )
            .unwrap(),
        );
        let y = x.max_pool2d([2, 2], [1, 2]);
        assert_eq!(y.shape(), &[1, 1, 2, 2]);
        assert_eq!(y.to_vec(), vec![3.0, 5.0, 3.0, 5.0]);
        let g = y.backward_with(
            ArrayD::from_shape_vec(IxDyn(&[1, 1, 2, 2]), vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
        );
        assert_eq!(
            g.get(&x).unwrap().as_slice().unwrap(),
            &[0.0, 1.0, 0.0, 0.0, 0.0, 3.0, 0.0, 6.0, 0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn max_pool2d_matches_naive_on_random_shapes_with_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for case in 0..20 {
            let (n, c) = (rng.random_range(1..3), rng.random_range(1..4));
            let k = [rng.random_range(1..4), rng.random_range(1..4)];
            let s = [rng.random_range(1..4), rng.random_range(1..4)];
            let h = rng.random_range(k[0]..k[0] + 6);
            let w = rng.random_range(k[1]..k[1] + 6);
            // Values from a small set: many ties.
            let x = ArrayD::from_shape_fn(IxDyn(&[n, c, h, w]), |_| rng.random_range(0..4) as f32);
            let xt = Tensor::param(x.clone());
            let y = xt.max_pool2d(k, s);
            let gy = random_array(y.shape(), case);
            let gx = y.backward_with(gy.clone());
            let x3 = x
                .clone()
                .into_shape_with_order(IxDyn(&[n * c, h, w]))
                .unwrap();
            let g3 = gy
                .into_shape_with_order(IxDyn(&[n * c, y.shape()[2], y.shape()[3]]))
                .unwrap();
            let (want_y, want_dx) = naive(&x3, &g3, k, s);
            assert_eq!(y.to_vec(), want_y, "case {case}");
            let want_dx = ArrayD::from_shape_vec(IxDyn(&[n, c, h, w]), want_dx).unwrap();
            assert_close(gx.get(&xt).unwrap(), &want_dx, 1e-6, 1e-6);
        }
    }

    #[test]
    fn max_pool2d_grad_matches_fd() {
        // Distinct values (a permutation, scaled) keep every window's argmax stable under eps.
        let mut vals: Vec<f32> = (0..2 * 2 * 5 * 6).map(|i| i as f32 * 0.1).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for i in (1..vals.len()).rev() {
            vals.swap(i, rng.random_range(0..=i));
        }
        let x = ArrayD::from_shape_vec(IxDyn(&[2, 2, 5, 6]), vals).unwrap();
        gradcheck(
            |t| t[0].max_pool2d([2, 3], [2, 2]),
            &[x],
            &GradCheck::default(),
        );
    }

    #[test]
    fn max_pool1d_literal_and_grad() {
        // x = [1, 4, 2, 4, 0], k = 2, s = 1: [4, 4, 4, 4] at [1, 1, 3, 3].
        // Upstream [1, 2, 3, 4]: dx = [0, 3, 0, 7, 0].
        let x = Tensor::param(
            ArrayD::from_shape_vec(IxDyn(&[1, 1, 5]), vec![1.0, 4.0, 2.0, 4.0, 0.0]).unwrap(),
        );
        let y = x.max_pool1d(2, 1);
        assert_eq!(y.to_vec(), vec![4.0, 4.0, 4.0, 4.0]);
        let g = y.backward_with(
            ArrayD::from_shape_vec(IxDyn(&[1, 1, 4]), vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
        );
        assert_eq!(
            g.get(&x).unwrap().as_slice().unwrap(),
            &[0.0, 3.0, 0.0, 7.0, 0.0]
        );
        let xs: Vec<f32> = (0..2 * 3 * 7)
            .map(|i| ((i * 37) % 42) as f32 * 0.1)
            .collect();
        let x = ArrayD::from_shape_vec(IxDyn(&[2, 3, 7]), xs).unwrap();
        gradcheck(|t| t[0].max_pool1d(3, 2), &[x], &GradCheck::default());
    }

    #[test]
    fn max_pool_propagates_nan() {
        let x = Tensor::new(
            ArrayD::from_shape_vec(IxDyn(&[1, 1, 4]), vec![1.0, f32::NAN, 3.0, 2.0]).unwrap(),
        );
        let y = x.max_pool1d(2, 2).to_vec();
        assert!(y[0].is_nan());
        assert_eq!(y[1], 3.0);
    }

    #[test]
    fn max_pool_backward_keeps_indices_not_input() {
        let x = Tensor::param(random_array(&[1, 2, 4, 4], 1));
        let xd = x.data_arc();
        let _y = x.max_pool2d([2, 2], [2, 2]);
        assert_eq!(
            std::sync::Arc::strong_count(&xd),
            2,
            "input must not be saved"
        );
    }

    #[test]
    fn max_pool_is_thread_count_independent() {
        let x = random_array(&[4, 8, 40, 40], 9);
        let run = || {
            let xt = Tensor::param(x.clone());
            let y = xt.max_pool2d([3, 3], [2, 2]);
            let g = y.backward_with(random_array(y.shape(), 2));
            (y.to_vec(), g.get(&xt).unwrap().clone())
        };
        assert!(with_threads(1, run) == with_threads(3, run));
    }

    #[test]
    #[should_panic(expected = "max_pool2d: input plane [2, 5] is smaller than the window [3, 3]")]
    fn max_pool2d_rejects_small_input() {
        let _ = Tensor::zeros(&[1, 1, 2, 5]).max_pool2d([3, 3], [1, 1]);
    }
}

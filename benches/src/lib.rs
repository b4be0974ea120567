//! Shared inputs and naive reference kernels for the workspace-level criterion benchmarks (see
//! `benches/`). The naive kernels are the straightforward way to write each step (a transposed
//! copy and a full sort per channel, one pass per elementwise step, intermediate arrays), kept
//! next to the fast ones in the same benchmark groups for comparison.

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sparling_tensor::Tensor;

/// A `(N, C, H, W)` batch of Gaussian values with per-channel mean `c - C/2` and scale
/// `1 + c/4` (like a convolution's output), seeded.
pub fn gaussian_batch(shape: [usize; 4], seed: u64) -> ArrayD<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let c_n = shape[1];
    ArrayD::from_shape_fn(IxDyn(&shape), |idx| {
        let c = idx[1];
        // Box-Muller.
        let u: f32 = rng.random::<f32>().max(1e-12);
        let v: f32 = rng.random();
        let z = (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos();
        (c as f32 - c_n as f32 / 2.0) + (1.0 + c as f32 / 4.0) * z
    })
}

/// A shape label for benchmark ids: `n10_c10_100x100`.
pub fn label(shape: [usize; 4]) -> String {
    format!("n{}_c{}_{}x{}", shape[0], shape[1], shape[2], shape[3])
}

/// The naive reference kernels.
pub mod naive {

    /// The values of channel `c` of an `(N, C, S)` buffer (a transposed copy).
    fn channel(x: &[f32], shape: [usize; 4], c: usize) -> Vec<f32> {
        let [n, c_n, h, w] = shape;
        let s = h * w;
        let mut v = Vec::with_capacity(n * s);
        for i in 0..n {
            v.extend_from_slice(&x[(i * c_n + c) * s..(i * c_n + c + 1) * s]);
        }
        v
    }

    /// Per-channel k-th smallest by sorting each channel's copy.
    pub fn kth(x: &[f32], shape: [usize; 4], k: usize) -> Vec<f32> {
        (0..shape[1])
            .map(|c| {
                let mut v = channel(x, shape, c);
                v.sort_unstable_by(f32::total_cmp);
                v[k - 1]
            })
            .collect()
    }

    /// Per-channel batch mean and biased variance (two f64 passes).
    pub fn moments(x: &[f32], shape: [usize; 4]) -> Vec<(f64, f64)> {
        (0..shape[1])
            .map(|c| {
                let v = channel(x, shape, c);
                let m = v.iter().map(|&a| a as f64).sum::<f64>() / v.len() as f64;
                let var = v.iter().map(|&a| (a as f64 - m).powi(2)).sum::<f64>() / v.len() as f64;
                (m, var)
            })
            .collect()
    }

    /// State of the naive training-mode layer.
    #[derive(Clone, Debug)]
    pub struct NaiveLayer {
        /// Thresholds.
        pub t: Vec<f32>,
        /// Running mean.
        pub rm: Vec<f32>,
        /// Running variance.
        pub rv: Vec<f32>,
        /// Density.
        pub density: f64,
    }

    impl NaiveLayer {
        /// Thresholds 0, running statistics (0, 1).
        pub fn new(c: usize, density: f64) -> NaiveLayer {
            NaiveLayer {
                t: vec![0.0; c],
                rm: vec![0.0; c],
                rv: vec![1.0; c],
                density,
            }
        }

        /// BatchNorm (batch statistics) -> k-th value by sorting -> threshold update ->
        /// `relu(y - t)`, one step at a time with intermediate arrays; returns the output and
        /// the mask.
        pub fn train_forward(&mut self, x: &[f32], shape: [usize; 4]) -> (Vec<f32>, Vec<bool>) {
            let [n, c_n, h, w] = shape;
            let s = h * w;
            let p = n * s;
            let mom = moments(x, shape);
            let mut y = vec![0.0f32; x.len()];
            for (i, (yv, &xv)) in y.iter_mut().zip(x).enumerate() {
                let c = (i / s) % c_n;
                let (m, var) = mom[c];
                *yv = ((xv as f64 - m) / (var + 1e-5).sqrt()) as f32;
            }
            let k = ((p as f64 * (1.0 - self.density)).floor() as usize).clamp(1, p);
            let q = kth(&y, shape, k);
            for c in 0..c_n {
                self.t[c] = 0.9 * self.t[c] + 0.1 * q[c];
                self.rm[c] = 0.9 * self.rm[c] + 0.1 * mom[c].0 as f32;
                self.rv[c] =
                    0.9 * self.rv[c] + 0.1 * (mom[c].1 * p as f64 / (p as f64 - 1.0)) as f32;
            }
            let shifted: Vec<f32> = y
                .iter()
                .enumerate()
                .map(|(i, &v)| v - self.t[(i / s) % c_n])
                .collect();
            let mask: Vec<bool> = shifted.iter().map(|&v| v > 0.0).collect();
            let out = shifted.iter().map(|&v| v.max(0.0)).collect();
            (out, mask)
        }

        /// Evaluation: BatchNorm with running statistics, then `relu(y - t)`, as two passes.
        pub fn eval_forward(&self, x: &[f32], shape: [usize; 4]) -> Vec<f32> {
            let [_, c_n, h, w] = shape;
            let s = h * w;
            let y: Vec<f32> = x
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let c = (i / s) % c_n;
                    (v - self.rm[c]) / (self.rv[c] + 1e-5).sqrt()
                })
                .collect();
            y.iter()
                .enumerate()
                .map(|(i, &v)| (v - self.t[(i / s) % c_n]).max(0.0))
                .collect()
        }
    }

    /// The BatchNorm + Sparse backward written step by step: `gy = g * mask`, then the
    /// per-channel sums, then `dz` (batch statistics, no affine).
    pub fn backward(g: &[f32], mask: &[bool], x: &[f32], shape: [usize; 4]) -> Vec<f32> {
        let [n, c_n, h, w] = shape;
        let s = h * w;
        let p = (n * s) as f64;
        let mom = moments(x, shape);
        let gy: Vec<f32> = g
            .iter()
            .zip(mask)
            .map(|(&g, &m)| if m { g } else { 0.0 })
            .collect();
        let xhat: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let (m, var) = mom[(i / s) % c_n];
                ((v as f64 - m) / (var + 1e-5).sqrt()) as f32
            })
            .collect();
        let mut s1 = vec![0.0f64; c_n];
        let mut s2 = vec![0.0f64; c_n];
        for i in 0..g.len() {
            let c = (i / s) % c_n;
            s1[c] += gy[i] as f64;
            s2[c] += gy[i] as f64 * xhat[i] as f64;
        }
        (0..g.len())
            .map(|i| {
                let c = (i / s) % c_n;
                let inv = 1.0 / (mom[c].1 + 1e-5).sqrt();
                (inv * (gy[i] as f64 - s1[c] / p - xhat[i] as f64 * s2[c] / p)) as f32
            })
            .collect()
    }
}

/// A parameter tensor from an array (for forwards that must record a graph).
pub fn param(a: &ArrayD<f32>) -> Tensor {
    Tensor::param(a.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparling_sparse::{BatchNormSparse, BatchNormSparseConfig, SparseConfig};

    #[test]
    fn naive_layer_matches_the_fused_layer() {
        let shape = [3, 10, 20, 30];
        for density in [0.5, 1e-3] {
            let fused = BatchNormSparse::new(BatchNormSparseConfig::new(
                SparseConfig::new(10).with_density(density),
            ))
            .unwrap();
            let mut nl = naive::NaiveLayer::new(10, density);
            for step in 0..3 {
                let a = gaussian_batch(shape, step);
                let (out, mask) = nl.train_forward(a.as_slice().unwrap(), shape);
                let x = param(&a);
                let y = fused.forward(&x, true).unwrap();
                for (p, q) in y.to_vec().iter().zip(&out) {
                    assert!((p - q).abs() < 1e-4, "{p} vs {q}");
                }
                let g = gaussian_batch(shape, 50 + step);
                let want =
                    naive::backward(g.as_slice().unwrap(), &mask, a.as_slice().unwrap(), shape);
                let got = y.backward_with(g);
                for (p, q) in got.get(&x).unwrap().iter().zip(&want) {
                    assert!((p - q).abs() < 1e-4, "{p} vs {q}");
                }
            }
            let st = fused.state();
            let e1 = nl.eval_forward(gaussian_batch(shape, 9).as_slice().unwrap(), shape);
            let e2 = fused
                .forward(&Tensor::new(gaussian_batch(shape, 9)), false)
                .unwrap();
            for (p, q) in e2.to_vec().iter().zip(&e1) {
                assert!((p - q).abs() < 1e-4, "{p} vs {q}");
            }
            assert!(
                st.sparse
                    .thresholds
                    .iter()
                    .zip(&nl.t)
                    .all(|(a, b)| (a - b).abs() < 1e-4)
            );
        }
    }

    #[test]
    fn naive_kth_matches_the_kernel() {
        let shape = [2, 10, 30, 30];
        let a = gaussian_batch(shape, 4);
        let layout = sparling_sparse::ChannelLayout::of_shape("t", &shape, None).unwrap();
        let k = sparling_sparse::kth_index(layout.positions(), 0.99);
        let fast = sparling_sparse::kth_smallest(
            a.as_slice().unwrap(),
            &layout,
            &[k; 10],
            &mut [None; 10],
        )
        .unwrap();
        assert_eq!(fast, naive::kth(a.as_slice().unwrap(), shape, k));
    }
}

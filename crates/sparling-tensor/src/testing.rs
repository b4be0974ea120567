//! Test utilities (feature `testing`): seeded random arrays, closeness assertions, a
//! finite-difference gradient checker and a helper that runs code on a pool of `n` threads.

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Tensor;
use crate::tape::no_grad;

/// A seeded array with entries uniform in `[-1, 1)`.
pub fn random_array(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ArrayD::from_shape_fn(IxDyn(shape), |_| rng.random_range(-1.0f32..1.0))
}

/// A seeded array with entries uniform in `[-1, 1)` but at least `margin` away from each of
/// `kinks` (to keep finite differences away from ReLU-like corners).
pub fn random_array_away_from(
    shape: &[usize],
    seed: u64,
    kinks: &[f32],
    margin: f32,
) -> ArrayD<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        loop {
            let v = rng.random_range(-1.0f32..1.0);
            if kinks.iter().all(|k| (v - k).abs() >= margin) {
                break v;
            }
        }
    })
}

/// A seeded array with entries uniform in `[lo, hi)`.
pub fn random_uniform(shape: &[usize], seed: u64, lo: f32, hi: f32) -> ArrayD<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ArrayD::from_shape_fn(IxDyn(shape), |_| rng.random_range(lo..hi))
}

/// Panics unless `a` and `b` have the same shape and `|a - b| <= atol + rtol * |b|` everywhere.
#[track_caller]
pub fn assert_close(a: &ArrayD<f32>, b: &ArrayD<f32>, atol: f32, rtol: f32) {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        let ok = (x - y).abs() <= atol + rtol * y.abs() || (x.is_nan() && y.is_nan());
        assert!(ok, "element {i}: {x} vs {y} (atol {atol}, rtol {rtol})");
    }
}

/// Settings of [`gradcheck`].
#[derive(Clone, Debug)]
pub struct GradCheck {
    /// Finite-difference step.
    pub eps: f32,
    /// Absolute tolerance.
    pub atol: f32,
    /// Relative tolerance.
    pub rtol: f32,
    /// Seed of the random projection of the output.
    pub seed: u64,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck {
            eps: 1e-3,
            atol: 2e-3,
            rtol: 2e-2,
            seed: 0x5eed,
        }
    }
}

/// Checks the analytic gradient of `f` at `inputs` against central finite differences.
///
/// The output is reduced to a scalar by a fixed random projection `L = sum(r * f(x))` (not a
/// plain sum, which hides sign and permutation bugs). The analytic side back-propagates `r`;
/// the numeric side evaluates `L(x + eps e_i) - L(x - eps e_i)` in f64 for every input element.
/// Keep inputs away from kinks. Panics with the first mismatch.
#[track_caller]
pub fn gradcheck<F>(f: F, inputs: &[ArrayD<f32>], cfg: &GradCheck)
where
    F: Fn(&[Tensor]) -> Tensor,
{
    let params: Vec<Tensor> = inputs.iter().map(|a| Tensor::param(a.clone())).collect();
    let out = f(&params);
    let proj = random_array(out.shape(), cfg.seed);
    let grads = out.backward_with(proj.clone());
    let project = |t: &Tensor| -> f64 {
        t.data()
            .iter()
            .zip(proj.iter())
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum()
    };
    for (which, input) in inputs.iter().enumerate() {
        let analytic = grads
            .get(&params[which])
            .cloned()
            .unwrap_or_else(|| ArrayD::zeros(input.shape()));
        assert_eq!(
            analytic.shape(),
            input.shape(),
            "input {which}: gradient shape"
        );
        for (i, &a) in analytic.iter().enumerate() {
            let eval = |delta: f32| -> f64 {
                let xs: Vec<Tensor> = inputs
                    .iter()
                    .enumerate()
                    .map(|(j, arr)| {
                        let mut arr = arr.clone();
                        if j == which {
                            arr.as_slice_mut().expect("standard layout")[i] += delta;
                        }
                        Tensor::new(arr)
                    })
                    .collect();
                no_grad(|| project(&f(&xs)))
            };
            let numeric = ((eval(cfg.eps) - eval(-cfg.eps)) / (2.0 * cfg.eps as f64)) as f32;
            let ok = (a - numeric).abs() <= cfg.atol + cfg.rtol * numeric.abs();
            assert!(
                ok,
                "gradcheck: input {which} element {i}: analytic {a} vs numeric {numeric}"
            );
        }
    }
}

/// Runs `f` inside a dedicated rayon pool of `threads` threads.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
        .install(f)
}

//! Benchmark modules, one per area.

pub mod collapse;
pub mod conv2d;
pub mod matmul;
pub mod motif;
pub mod panel_gemm;

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded array with entries uniform in `[-scale, scale)`.
pub fn random(shape: &[usize], seed: u64, scale: f32) -> ArrayD<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ArrayD::from_shape_fn(IxDyn(shape), |_| rng.random_range(-scale..scale))
}

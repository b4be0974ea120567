//! `collapse_fwd_bwd`: the Sparling model's collapse step on a batch of 32 DigitCircle motif
//! maps, `(32, 10, 100, 100) -> (32, 128, 12, 12)`, forward and backward, fused
//! (`conv1x1_max_pool2d`) against the unfused `conv2d` 1x1 + `max_pool2d` it replaces. The motif
//! map has a fraction `density` of nonzero entries (0.5: the schedule's start; 0.01 and 5e-5:
//! rungs 16 and 32), so the zero skip of the fused kernel shows. Throughput: samples/s.

use criterion::measurement::Measurement;
use criterion::{BenchmarkId, Criterion, Throughput};
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sparling_tensor::Tensor;
use sparling_tensor::ops::Conv2dParams;

use super::random;

const N: usize = 32;
const CIN: usize = 10;
const COUT: usize = 128;
const HW: usize = 100;
const POOL: usize = 8;

/// A motif map with a fraction `density` of positive entries, the rest exactly zero.
fn motif_map(density: f64, seed: u64) -> ArrayD<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ArrayD::from_shape_fn(IxDyn(&[N, CIN, HW, HW]), |_| {
        if rng.random_bool(density) {
            rng.random_range(0.0f32..2.0)
        } else {
            0.0
        }
    })
}

/// Registers this module's group; `prefix` ("" or "cpu_") starts every group name.
pub fn bench<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let one = Conv2dParams::same(1);
    let mut g = c.benchmark_group(format!("{prefix}collapse_fwd_bwd"));
    g.throughput(Throughput::Elements(N as u64));
    let w = Tensor::param(random(&[COUT, CIN, 1, 1], 2, 0.3));
    let b = Tensor::param(random(&[COUT], 3, 0.1));
    let dy = random(&[N, COUT, HW / POOL, HW / POOL], 4, 1.0);
    for density in [0.5, 0.01, 5e-5] {
        let x = Tensor::param(motif_map(density, 1));
        g.bench_with_input(BenchmarkId::new("fused", density), &(), |bch, _| {
            bch.iter(|| {
                let y = x.conv1x1_max_pool2d(&w, Some(&b), [POOL; 2]);
                std::hint::black_box(y.backward_with(dy.clone()))
            })
        });
        g.bench_with_input(BenchmarkId::new("unfused", density), &(), |bch, _| {
            bch.iter(|| {
                let y = x.conv2d(&w, Some(&b), one).max_pool2d([POOL; 2], [POOL; 2]);
                std::hint::black_box(y.backward_with(dy.clone()))
            })
        });
    }
    g.finish();
}

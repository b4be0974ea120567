//! `motif_g/b10_h100`: the reference motif model g of the paper's reference code, forward+backward at batch
//! 10 on 100x100 single-channel images, in training mode. Throughput: samples (10 per
//! iteration), so criterion's "Kelem/s" x 1000 reads as samples/s.
//!
//! g = 1x1 conv (1 -> 64) with bias; 4 pre-activation residual units, each
//! `h + conv3x3(relu(bn(conv3x3(relu(bn(h))))))` (affine BatchNorm, convolutions without bias);
//! 1x1 conv (64 -> 10) with bias. The loss is a fixed random projection of the output (so the
//! upstream gradient is not all ones).

use criterion::measurement::Measurement;
use criterion::{BenchmarkId, Criterion, Throughput};
use sparling_tensor::Tensor;
use sparling_tensor::ops::{BatchNormStats, Conv2dParams};

use super::random;

const BATCH: usize = 10;
const HW: usize = 100;
const WIDTH: usize = 64;
const MOTIFS: usize = 10;
const UNITS: usize = 4;

/// One BatchNorm layer: affine parameters and running statistics.
struct Bn {
    weight: Tensor,
    bias: Tensor,
    stats: BatchNormStats,
}

impl Bn {
    fn new(c: usize) -> Bn {
        Bn {
            weight: Tensor::param(ndarray::Array1::<f32>::ones(c)),
            bias: Tensor::param(ndarray::Array1::<f32>::zeros(c)),
            stats: BatchNormStats::new(c),
        }
    }

    fn forward(&mut self, x: &Tensor) -> Tensor {
        x.batch_norm(Some(&self.weight), Some(&self.bias), &mut self.stats, true)
    }
}

/// A pre-activation residual unit.
struct Unit {
    bn1: Bn,
    conv1: Tensor,
    bn2: Bn,
    conv2: Tensor,
}

/// The reference motif model g.
pub struct MotifG {
    conv_in: (Tensor, Tensor),
    units: Vec<Unit>,
    conv_out: (Tensor, Tensor),
}

impl MotifG {
    /// Seeded He-style initialisation.
    pub fn new(seed: u64) -> MotifG {
        let conv3 = |s: u64| {
            let scale = (6.0f32 / (WIDTH * 9) as f32).sqrt();
            Tensor::param(random(&[WIDTH, WIDTH, 3, 3], s, scale))
        };
        MotifG {
            conv_in: (
                Tensor::param(random(&[WIDTH, 1, 1, 1], seed, 1.0)),
                Tensor::param(ndarray::Array1::<f32>::zeros(WIDTH)),
            ),
            units: (0..UNITS as u64)
                .map(|u| Unit {
                    bn1: Bn::new(WIDTH),
                    conv1: conv3(seed + 10 + 2 * u),
                    bn2: Bn::new(WIDTH),
                    conv2: conv3(seed + 11 + 2 * u),
                })
                .collect(),
            conv_out: (
                Tensor::param(random(&[MOTIFS, WIDTH, 1, 1], seed + 1, 0.3)),
                Tensor::param(ndarray::Array1::<f32>::zeros(MOTIFS)),
            ),
        }
    }

    /// Forward pass in training mode: `(N, 1, H, W) -> (N, 10, H, W)`.
    pub fn forward(&mut self, x: &Tensor) -> Tensor {
        let same = Conv2dParams::same(3);
        let one = Conv2dParams::default();
        let mut h = x.conv2d(&self.conv_in.0, Some(&self.conv_in.1), one);
        for u in &mut self.units {
            let r = u.bn1.forward(&h).relu().conv2d(&u.conv1, None, same);
            let r = u.bn2.forward(&r).relu().conv2d(&u.conv2, None, same);
            h = h.add(&r);
        }
        h.conv2d(&self.conv_out.0, Some(&self.conv_out.1), one)
    }
}

/// Registers this module's groups; `prefix` ("" or "cpu_") starts every group name.
pub fn bench<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let mut group = c.benchmark_group(format!("{prefix}motif_g"));
    let x = Tensor::new(random(&[BATCH, 1, HW, HW], 7, 1.0));
    let proj = random(&[BATCH, MOTIFS, HW, HW], 8, 1.0);
    let mut g = MotifG::new(1);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_with_input(
        BenchmarkId::new("fwd_bwd", format!("b{BATCH}_h{HW}_w{WIDTH}")),
        &(),
        |b, _| b.iter(|| std::hint::black_box(g.forward(&x).backward_with(proj.clone()))),
    );
    group.finish();
}

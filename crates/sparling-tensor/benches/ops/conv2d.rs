//! `conv2d_fwd_flop` / `conv2d_fwd_bwd_flop`: 3x3 "same" convolutions at batch 10 on 100x100
//! maps, channels 1 -> C and C -> C for C in {16, 32, 64}, no bias (as in the pre-activation
//! residual units of the motif model). Throughput: `2 N Cout Cin 9 H W` for the forward, three
//! times that for forward+backward (the input, weight and output all carry gradients).

use criterion::measurement::Measurement;
use criterion::{BenchmarkId, Criterion, Throughput};
use sparling_tensor::Tensor;
use sparling_tensor::ops::Conv2dParams;

use super::random;

const N: usize = 10;
const HW: usize = 100;

fn cases() -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for c in [16, 32, 64] {
        out.push((1, c));
        out.push((c, c));
    }
    out
}

/// Registers this module's groups; `prefix` ("" or "cpu_") starts every group name.
pub fn bench<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let p = Conv2dParams::same(3);
    let mut fwd = c.benchmark_group(format!("{prefix}conv2d_fwd_flop"));
    for (cin, cout) in cases() {
        let label = format!("b{N}_c{cin}_{cout}_h{HW}_k3");
        let x = Tensor::new(random(&[N, cin, HW, HW], 1, 1.0));
        let w = Tensor::new(random(&[cout, cin, 3, 3], 2, 0.1));
        fwd.throughput(Throughput::Elements(
            (2 * N * cout * cin * 9 * HW * HW) as u64,
        ));
        fwd.bench_with_input(BenchmarkId::new("conv2d_fwd", label), &(), |b, _| {
            b.iter(|| std::hint::black_box(x.conv2d(&w, None, p)))
        });
    }
    fwd.finish();

    let mut both = c.benchmark_group(format!("{prefix}conv2d_fwd_bwd_flop"));
    for (cin, cout) in cases() {
        let label = format!("b{N}_c{cin}_{cout}_h{HW}_k3");
        let x = Tensor::param(random(&[N, cin, HW, HW], 1, 1.0));
        let w = Tensor::param(random(&[cout, cin, 3, 3], 2, 0.1));
        let dy = random(&[N, cout, HW, HW], 3, 1.0);
        both.throughput(Throughput::Elements(
            (3 * 2 * N * cout * cin * 9 * HW * HW) as u64,
        ));
        both.bench_with_input(BenchmarkId::new("conv2d_fwd_bwd", label), &(), |b, _| {
            b.iter(|| std::hint::black_box(x.conv2d(&w, None, p).backward_with(dy.clone())))
        });
    }
    both.finish();
}

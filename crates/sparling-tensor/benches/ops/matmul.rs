//! `matmul_flop/<shape>`: square and transformer-like products, 2-D and batched, forward only
//! and forward+backward. Throughput: `2 m k n` per product (x3 with the backward).

use criterion::measurement::Measurement;
use criterion::{BenchmarkId, Criterion, Throughput};
use sparling_tensor::Tensor;

use super::random;

/// Registers this module's groups; `prefix` ("" or "cpu_") starts every group name.
pub fn bench<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let mut group = c.benchmark_group(format!("{prefix}matmul_flop"));
    // (label, lhs shape, rhs shape)
    let cases: [(&str, &[usize], &[usize]); 4] = [
        ("m256_k256_n256", &[256, 256], &[256, 256]),
        ("m1024_k1024_n1024", &[1024, 1024], &[1024, 1024]),
        ("b32x144_k128_n512", &[32, 144, 128], &[128, 512]),
        (
            "batched_b256_m144_k32_n144",
            &[256, 144, 32],
            &[256, 32, 144],
        ),
    ];
    for (label, sa, sb) in cases {
        let (m, k, n) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 1]);
        let batch: usize = sa[..sa.len() - 2].iter().product();
        let flops = (2 * batch * m * k * n) as u64;
        let a = Tensor::new(random(sa, 1, 1.0));
        let b = Tensor::new(random(sb, 2, 1.0));
        group.throughput(Throughput::Elements(flops));
        group.bench_with_input(BenchmarkId::new("matmul", label), &(), |bench, _| {
            bench.iter(|| std::hint::black_box(a.matmul(&b)))
        });
        let ap = Tensor::param(a.to_array());
        let bp = Tensor::param(b.to_array());
        let seed = random(&[batch * m * n], 3, 1.0)
            .into_shape_with_order(ndarray::IxDyn(&[&sa[..sa.len() - 1], &[n][..]].concat()))
            .expect("output shape");
        group.throughput(Throughput::Elements(3 * flops));
        group.bench_with_input(
            BenchmarkId::new("matmul_fwd_bwd", label),
            &(),
            |bench, _| {
                bench.iter(|| std::hint::black_box(ap.matmul(&bp).backward_with(seed.clone())))
            },
        );
    }
    group.finish();
}

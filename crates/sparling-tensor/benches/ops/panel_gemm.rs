//! `panel_gemm_flop/<shape>`: the Winograd convolutions' products (a few channels against a
//! block of tiles) by the packing-free kernels, beside `matrixmultiply` (`gemm`) on the same
//! operands; both give the same bits. Throughput: `2 m k n` per product.

use criterion::measurement::Measurement;
use criterion::{BenchmarkId, Criterion, Throughput};
use ndarray::{Array2, Ix2};
use sparling_tensor::kernels::gemm::gemm;
use sparling_tensor::kernels::panel_gemm::{gemm_nn, gemm_nt};

use super::random;

fn arr2(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    random(&[rows, cols], seed, 1.0)
        .into_dimensionality::<Ix2>()
        .expect("2-D")
}

/// Registers this module's groups; `prefix` ("" or "cpu_") starts every group name.
pub fn bench<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let mut group = c.benchmark_group(format!("{prefix}panel_gemm_flop"));
    // (channels out, channels in, tiles): g's 16 -> 16 and its 16 -> 10 motif convolution on
    // 100x100 maps (20 tile rows of 50 tiles per block), and a 64-channel g.
    for (cout, cin, tiles) in [(16, 16, 1000), (10, 16, 1000), (64, 64, 250)] {
        let label = format!("cout{cout}_cin{cin}_t{tiles}");
        let u = arr2(cout, cin, 1);
        let v = arr2(cin, tiles, 2);
        let dm = arr2(cout, tiles, 3);
        group.throughput(Throughput::Elements((2 * cout * cin * tiles) as u64));
        let mut m = Array2::<f32>::zeros((cout, tiles));
        group.bench_with_input(BenchmarkId::new("fwd_panel", &label), &(), |b, _| {
            b.iter(|| {
                let (u, v) = (u.as_slice().expect("u"), v.as_slice().expect("v"));
                gemm_nn(cout, cin, tiles, u, v, m.as_slice_mut().expect("m"), false)
            })
        });
        group.bench_with_input(
            BenchmarkId::new("fwd_matrixmultiply", &label),
            &(),
            |b, _| b.iter(|| gemm(1.0, u.view(), v.view(), 0.0, m.view_mut())),
        );
        let mut du = Array2::<f32>::zeros((cout, cin));
        let mut scratch = Vec::new();
        group.bench_with_input(BenchmarkId::new("weight_panel", &label), &(), |b, _| {
            b.iter(|| {
                let (dm, v) = (dm.as_slice().expect("dm"), v.as_slice().expect("v"));
                let du = du.as_slice_mut().expect("du");
                gemm_nt(cout, tiles, cin, dm, v, du, true, &mut scratch)
            })
        });
        group.bench_with_input(
            BenchmarkId::new("weight_matrixmultiply", &label),
            &(),
            |b, _| b.iter(|| gemm(1.0, dm.view(), v.t(), 1.0, du.view_mut())),
        );
    }
    group.finish();
}

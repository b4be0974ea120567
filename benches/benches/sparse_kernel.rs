//! The Sparse layer's kernels: training-mode forward (BatchNorm + k-th value + threshold
//! update + ReLU), evaluation forward, backward, and the k-th value alone, at N in {10, 32},
//! C = 10, 100x100, sparsity in {0.5, 0.999, 0.99995}, each next to a naive sort-based kernel.
//! Throughput is in elements (N*C*H*W) per second.
//!
//! Run (see docs/perf-sparse.md for why the allocator setting):
//! `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=134217728:glibc.malloc.trim_threshold=1073741824 \
//!  RAYON_NUM_THREADS=2 cargo bench -p sparling-benches --bench sparse_kernel`
//! (append `-- <filter>` to select groups, e.g. `-- sparse_train_forward/fused`).

use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;
use sparling_benches::{gaussian_batch, label, naive};
use sparling_sparse::kernel::{ChannelLayout, kth_index, kth_smallest};
use sparling_sparse::{BatchNormSparse, BatchNormSparseConfig, SparseConfig, SparseLayer};
use sparling_tensor::ops::BatchNormStats;
use sparling_tensor::{Tensor, no_grad};

const SHAPES: [[usize; 4]; 2] = [[10, 10, 100, 100], [32, 10, 100, 100]];
const SPARSITIES: [f64; 3] = [0.5, 0.999, 0.99995];
/// Distinct input batches cycled through, so the selection meets batch-to-batch variation.
const BATCHES: u64 = 4;

fn id(shape: [usize; 4], s: f64) -> String {
    format!("{}_s{s}", label(shape))
}

fn inputs(shape: [usize; 4]) -> Vec<ndarray::ArrayD<f32>> {
    (0..BATCHES).map(|i| gaussian_batch(shape, 1 + i)).collect()
}

fn layer(density: f64) -> BatchNormSparse {
    BatchNormSparse::new(BatchNormSparseConfig::new(
        SparseConfig::new(10).with_density(density),
    ))
    .expect("layer")
}

/// A warmed-up layer: thresholds and running statistics near their steady state.
fn warm(density: f64, xs: &[Tensor]) -> BatchNormSparse {
    let l = layer(density);
    no_grad(|| {
        for i in 0..60 {
            l.forward(&xs[i % xs.len()], true).expect("forward");
        }
    });
    l
}

fn train_forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("sparse_train_forward");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for shape in SHAPES {
        let arrays = inputs(shape);
        let xs: Vec<Tensor> = arrays.iter().map(|a| Tensor::param(a.clone())).collect();
        g.throughput(Throughput::Elements(xs[0].len() as u64));
        for s in SPARSITIES {
            let l = warm(1.0 - s, &xs);
            let mut i = 0;
            g.bench_function(BenchmarkId::new("fused", id(shape, s)), |b| {
                b.iter(|| {
                    i += 1;
                    l.forward(&xs[i % xs.len()], true).expect("forward")
                })
            });
            let sp = SparseLayer::new(SparseConfig::new(10).with_density(1.0 - s)).expect("layer");
            let mut stats = BatchNormStats::new(10);
            g.bench_function(
                BenchmarkId::new("batch_norm_then_sparse", id(shape, s)),
                |b| {
                    b.iter(|| {
                        i += 1;
                        let y = xs[i % xs.len()].batch_norm(None, None, &mut stats, true);
                        sp.forward(&y, true).expect("forward")
                    })
                },
            );
            let mut nl = naive::NaiveLayer::new(10, 1.0 - s);
            g.bench_function(BenchmarkId::new("naive_sort", id(shape, s)), |b| {
                b.iter(|| {
                    i += 1;
                    let x = arrays[i % arrays.len()].as_slice().expect("contiguous");
                    nl.train_forward(x, shape)
                })
            });
        }
    }
    g.finish();
}

fn eval_forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("sparse_eval_forward");
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for shape in SHAPES {
        let arrays = inputs(shape);
        let xs: Vec<Tensor> = arrays.iter().map(|a| Tensor::new(a.clone())).collect();
        g.throughput(Throughput::Elements(xs[0].len() as u64));
        for s in SPARSITIES {
            let l = warm(1.0 - s, &xs);
            let mut i = 0;
            g.bench_function(BenchmarkId::new("fused", id(shape, s)), |b| {
                b.iter(|| {
                    i += 1;
                    no_grad(|| l.forward(&xs[i % xs.len()], false)).expect("forward")
                })
            });
            if s == SPARSITIES[0] {
                // The floor: one streaming read-and-write pass (a parallel copy into a new
                // buffer), the least any output-producing forward costs.
                g.bench_function(BenchmarkId::new("copy_floor", label(shape)), |b| {
                    b.iter(|| {
                        i += 1;
                        let src = arrays[i % arrays.len()].as_slice().expect("contiguous");
                        let mut v: Vec<f32> = Vec::with_capacity(src.len());
                        v.par_extend(src.par_iter().copied());
                        v
                    })
                });
            }
            let st = l.state();
            let mut nl = naive::NaiveLayer::new(10, 1.0 - s);
            nl.t = st.sparse.thresholds.clone();
            nl.rm = st.bn.running_mean.clone();
            nl.rv = st.bn.running_var.clone();
            g.bench_function(BenchmarkId::new("naive", id(shape, s)), |b| {
                b.iter(|| {
                    i += 1;
                    nl.eval_forward(
                        arrays[i % arrays.len()].as_slice().expect("contiguous"),
                        shape,
                    )
                })
            });
        }
    }
    g.finish();
}

fn backward(c: &mut Criterion) {
    let mut g = c.benchmark_group("sparse_backward");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for shape in SHAPES {
        let arrays = inputs(shape);
        let xs: Vec<Tensor> = arrays.iter().map(|a| Tensor::param(a.clone())).collect();
        let grad = gaussian_batch(shape, 99);
        g.throughput(Throughput::Elements(xs[0].len() as u64));
        for s in SPARSITIES {
            let l = warm(1.0 - s, &xs);
            g.bench_function(BenchmarkId::new("fused", id(shape, s)), |b| {
                b.iter_batched(
                    || (l.forward(&xs[0], true).expect("forward"), grad.clone()),
                    |(y, gr)| y.backward_with(gr),
                    BatchSize::LargeInput,
                )
            });
            let sp = SparseLayer::new(SparseConfig::new(10).with_density(1.0 - s)).expect("layer");
            g.bench_function(BenchmarkId::new("sparse_only", id(shape, s)), |b| {
                b.iter_batched(
                    || (sp.forward(&xs[0], true).expect("forward"), grad.clone()),
                    |(y, gr)| y.backward_with(gr),
                    BatchSize::LargeInput,
                )
            });
            let mut nl = naive::NaiveLayer::new(10, 1.0 - s);
            let x0 = arrays[0].as_slice().expect("contiguous");
            let (_, mask) = nl.train_forward(x0, shape);
            let gs = grad.as_slice().expect("contiguous");
            g.bench_function(BenchmarkId::new("naive", id(shape, s)), |b| {
                b.iter(|| naive::backward(gs, &mask, x0, shape))
            });
        }
    }
    g.finish();
}

fn kth_value(c: &mut Criterion) {
    let mut g = c.benchmark_group("sparse_kth_value");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for shape in SHAPES {
        let arrays = inputs(shape);
        let layout = ChannelLayout::of_shape("bench", &shape, None).expect("layout");
        g.throughput(Throughput::Elements(layout.len() as u64));
        for s in SPARSITIES {
            let k = kth_index(layout.positions(), s);
            let ks = vec![k; 10];
            let mut hints = vec![None; 10];
            let mut i = 0;
            g.bench_function(BenchmarkId::new("bracketed", id(shape, s)), |b| {
                b.iter(|| {
                    i += 1;
                    let x = arrays[i % arrays.len()].as_slice().expect("contiguous");
                    kth_smallest(x, &layout, &ks, &mut hints).expect("kth")
                })
            });
            g.bench_function(BenchmarkId::new("naive_sort", id(shape, s)), |b| {
                b.iter(|| {
                    i += 1;
                    naive::kth(
                        arrays[i % arrays.len()].as_slice().expect("contiguous"),
                        shape,
                        k,
                    )
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, kth_value, train_forward, eval_forward, backward);
criterion_main!(benches);

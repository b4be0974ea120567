//! Criterion benchmarks of the tensor core: matmul, conv2d (forward and forward+backward) and
//! the reference motif model g of SPEC section 7 (forward+backward).
//!
//! GEMM/conv groups end in `_flop` and use `Throughput::Elements(flops)`, so criterion's
//! "Gelem/s" reads as GFLOP/s; the motif-model group uses `Throughput::Elements(batch)`
//! (samples/s). Sample sizes and times are small so that the whole run takes a few minutes:
//!
//! ```text
//! cargo bench -p sparling-tensor --bench bench_main
//! cargo bench -p sparling-tensor --bench bench_main -- conv2d_fwd_flop   # one group
//! ```

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

mod ops;

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = ops::matmul::bench, ops::conv2d::bench, ops::motif::bench
}
criterion_main!(benches);

//! Criterion benchmarks of the tensor core: matmul, the Winograd products (packing-free kernels
//! beside `matrixmultiply`), conv2d (forward and forward+backward), the
//! fused collapse (1x1 conv + max-pool, against the unfused pair) and the reference motif model
//! g of the paper's reference code (forward+backward).
//!
//! GEMM/conv groups end in `_flop` and use `Throughput::Elements(flops)`, so criterion's
//! "Gelem/s" reads as GFLOP/s; the motif-model and collapse groups use
//! `Throughput::Elements(batch)` (samples/s). Sample sizes and times are small so that the whole
//! run takes a few minutes:
//!
//! ```text
//! cargo bench -p sparling-tensor --bench bench_main                    # wall-clock time
//! cargo bench -p sparling-tensor --bench bench_main -- conv2d_fwd_flop  # one group
//! SPARLING_BENCH_CPU_TIME=1 cargo bench -p sparling-tensor --bench bench_main
//! ```
//!
//! With `SPARLING_BENCH_CPU_TIME` set, the groups are named `cpu_<group>` and timed by the
//! process's CPU time (see `cpu_time.rs`): the figures are per core-second, which stays
//! meaningful on a machine shared with other busy processes.
//!
//! Like the `sparling-cli` binary, the benchmark keeps large buffers on the glibc heap (no
//! fresh `mmap`, page faults and zeroing for every activation tensor).

use std::time::Duration;

use criterion::Criterion;
use criterion::measurement::Measurement;

mod cpu_time;
mod ops;

fn config<M: Measurement>(c: Criterion<M>) -> Criterion<M> {
    c.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args()
}

fn run<M: Measurement>(mut c: Criterion<M>, prefix: &str) {
    ops::matmul::bench(&mut c, prefix);
    ops::panel_gemm::bench(&mut c, prefix);
    ops::conv2d::bench(&mut c, prefix);
    ops::collapse::bench(&mut c, prefix);
    ops::motif::bench(&mut c, prefix);
    c.final_summary();
}

/// The allocator settings of `sparling-cli` (`M_MMAP_THRESHOLD` and `M_TRIM_THRESHOLD` at
/// 1 GiB), declared directly so the benchmark needs no `libc` dependency.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_MMAP_THRESHOLD: i32 = -3;
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    // SAFETY: mallopt only adjusts allocator parameters; it runs before any thread starts.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 1 << 30);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() {
    tune_allocator();
    if std::env::var_os("SPARLING_BENCH_CPU_TIME").is_some() {
        run(
            config(Criterion::default().with_measurement(cpu_time::CpuTime)),
            "cpu_",
        );
    } else {
        run(config(Criterion::default()), "");
    }
}

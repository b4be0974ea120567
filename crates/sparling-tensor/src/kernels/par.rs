//! The rayon policy of the crate.
//!
//! * Work is split only when there is enough of it ([`MIN_PAR_ELEMS`]).
//! * Floating-point reductions cut the data into fixed-size chunks ([`CHUNK`]) whose partial
//!   results are combined in chunk order, so the bits do not depend on the number of threads.
//!   Never use rayon's adaptive `sum()` on floats.
//! * GEMM runs single-threaded inside rayon tasks (matrixmultiply's own threading is off), so
//!   threads are never oversubscribed.

use ndarray::{ArrayD, Zip};
use rayon::prelude::*;

/// Below this many elements an elementwise kernel runs on the calling thread.
pub const MIN_PAR_ELEMS: usize = 1 << 15;

/// Chunk length of deterministic reductions.
pub const CHUNK: usize = 1 << 12;

/// `dst += src` elementwise (same shape), in parallel for large arrays.
pub fn add_assign(dst: &mut ArrayD<f32>, src: &ArrayD<f32>) {
    crate::shape_check!(
        dst.shape() == src.shape(),
        "add_assign",
        "shapes {:?} and {:?} differ",
        dst.shape(),
        src.shape()
    );
    if dst.len() >= MIN_PAR_ELEMS {
        Zip::from(dst).and(src).par_for_each(|d, &s| *d += s);
    } else {
        Zip::from(dst).and(src).for_each(|d, &s| *d += s);
    }
}

/// Lanes of [`lane_sum_f64`]'s f32 accumulators.
pub const LANES: usize = 16;
/// Values per run of [`lane_sum_f64`] before its lanes are flushed into the f64 total.
pub const LANE_RUN: usize = 512;

/// Sequential sum of a slice: runs of [`LANE_RUN`] values are summed in [`LANES`] f32 lanes
/// (vectorised), each run's lanes are added into an f64 total in order. Deterministic and much
/// faster than converting every value to f64.
pub fn lane_sum_f64(a: &[f32]) -> f64 {
    let mut total = 0.0f64;
    for run in a.chunks(LANE_RUN) {
        let mut acc = [0.0f32; LANES];
        let chunks = run.chunks_exact(LANES);
        let rest: f32 = chunks.remainder().iter().sum();
        for c in chunks {
            let c: &[f32; LANES] = c.try_into().expect("full lane chunk");
            for i in 0..LANES {
                acc[i] += c[i];
            }
        }
        total += acc.iter().map(|&v| v as f64).sum::<f64>() + rest as f64;
    }
    total
}

/// Sum of a slice in f64 over fixed chunks combined in order: deterministic for any thread
/// count.
pub fn sum_f64(x: &[f32]) -> f64 {
    let chunk_sum = lane_sum_f64;
    if x.len() < MIN_PAR_ELEMS {
        return x.chunks(CHUNK).map(chunk_sum).sum();
    }
    let partials: Vec<f64> = x.par_chunks(CHUNK).map(chunk_sum).collect();
    partials.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_sum_matches_a_plain_sum() {
        for len in [0usize, 1, 7, 8, 9, 255, 256, 257, 1000, 4099] {
            let x: Vec<f32> = (0..len)
                .map(|i| ((i * 37) % 101) as f32 * 0.25 - 12.0)
                .collect();
            let exact: f64 = x.iter().map(|&v| v as f64).sum();
            assert!(
                (lane_sum_f64(&x) - exact).abs() <= 1e-6 * (1.0 + exact.abs()),
                "{len}"
            );
        }
    }

    #[test]
    fn sum_is_thread_count_independent() {
        let x: Vec<f32> = (0..100_003)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3)
            .collect();
        let one = crate::testing::with_threads(1, || sum_f64(&x));
        let many = crate::testing::with_threads(4, || sum_f64(&x));
        assert_eq!(one.to_bits(), many.to_bits());
    }
}

//! Shared low-level kernels: the parallelism policy and deterministic reductions.

pub mod elementwise;
pub mod gemm;
pub mod panel_gemm;
pub mod par;
pub mod simd;

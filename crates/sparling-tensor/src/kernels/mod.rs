//! Shared low-level kernels: the parallelism policy and deterministic reductions.

pub mod par;

//! The paper's analyses of a trained run, beyond its motif and end-to-end errors; each is a
//! `sparling analyze <KIND>` that writes `<kind>.json` and a figure.
//!
//! * [`theorem`]: the theorem's motif error `E_m` against E2EE at every rung, and its
//!   assumptions checked on the domain; [`alpha`]: alpha estimated by simulation.

pub mod alpha;
pub mod theorem;

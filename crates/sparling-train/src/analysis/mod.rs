//! The paper's analyses of a trained run, beyond its motif and end-to-end errors; each is a
//! `sparling analyze <KIND>` that writes `<kind>.json` and a figure:
//!
//! * [`direct`]: the motif channels as a classifier of single-motif inputs (the model at the
//!   operating density, [`crate::eval::operating_point`]);
//! * [`perturb`]: whether h reads the activations as symbols (moving a motif's activations
//!   to another channel changes that symbol of the output);
//! * [`bits`]: how many bits a nonzero activation needs (quantile-binned maps);
//! * [`theorem`]: the theorem's motif error `E_m` against E2EE at every rung, and its
//!   assumptions checked on the domain; [`alpha`]: alpha estimated by simulation.

pub mod alpha;
pub mod bits;
pub mod direct;
pub mod perturb;
pub mod theorem;

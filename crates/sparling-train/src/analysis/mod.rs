//! The paper's analyses of a trained run, each on the run's model at its operating density
//! ([`crate::eval::operating_point`]), each writing `<kind>.json` and a figure:
//!
//! * [`direct`]: the motif channels as a classifier of single-motif inputs;
//! * [`perturb`]: whether h reads the activations as symbols (moving a motif's activations
//!   to another channel changes that symbol of the output);
//! * [`bits`]: how many bits a nonzero activation needs (quantile-binned maps).

pub mod bits;
pub mod direct;
pub mod perturb;

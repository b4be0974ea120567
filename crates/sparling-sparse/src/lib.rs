#![doc = include_str!("../README.md")]

pub mod accumulate;
pub mod bn_sparse;
pub mod error;
pub mod kernel;
pub mod layer;
pub mod op;
pub mod schedule;

pub use accumulate::Accumulator;
pub use bn_sparse::{BatchNormSparse, BatchNormSparseConfig, BatchNormSparseState};
pub use error::{Error, Result};
pub use kernel::{ChannelLayout, Mask, SelectHint, kth_index, kth_smallest};
pub use layer::{SparseConfig, SparseLayer, SparseState, ThresholdMode};
pub use op::sparse_relu;
pub use schedule::{AnnealingConfig, AnnealingSchedule, Decision};

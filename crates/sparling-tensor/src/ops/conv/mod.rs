//! Convolutions: `conv2d` and `conv1d` (im2col + GEMM, with a 1x1 fast path) and their
//! parameters, and `conv1x1_max_pool2d` (a 1x1 convolution fused with a max-pool). `conv1d`
//! runs the 2-D kernels on a height-1 view.

mod conv1d;
mod conv1x1_max_pool;
mod conv2d;
mod im2col;
mod kernel;
mod params;
mod winograd;

pub use params::{Conv1dParams, Conv2dParams};

//! The kernels of the Sparse layer: the channels-first layout and task partition, the exact
//! per-channel k-th value (with its streaming scan), the fused output pass and the naive
//! references.

pub(crate) mod apply;
pub(crate) mod backward;
pub(crate) mod channel;
pub mod layout;
pub mod reference;
pub(crate) mod scan;
pub mod select;
pub mod simd;

pub use apply::Mask;
pub use layout::{ChannelLayout, TASK};
pub use reference::{channel_values, kth_smallest_per_channel_sorted, kth_smallest_sorted};
pub use select::{SelectHint, kth_index, kth_smallest};
pub use simd::{set_simd_enabled, simd_active};

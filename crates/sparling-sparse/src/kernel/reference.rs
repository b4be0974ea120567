//! Naive sort-based references: the definition the fast kernels are tested against, and the
//! "naive kernel" of the benchmarks.

use super::layout::ChannelLayout;
use super::scan::non_finite_error;
use crate::error::Result;

/// The k-th smallest (1-indexed) of `values` by sorting a copy with `f32::total_cmp`.
///
/// # Panics
/// If `k` is not in `1..=values.len()`.
pub fn kth_smallest_sorted(values: &[f32], k: usize) -> f32 {
    assert!(
        (1..=values.len()).contains(&k),
        "kth_smallest_sorted: k = {k} outside 1..={}",
        values.len()
    );
    let mut v = values.to_vec();
    v.sort_unstable_by(f32::total_cmp);
    v[k - 1]
}

/// The values of channel `c`, gathered in position order (a transposed copy).
pub fn channel_values(data: &[f32], layout: &ChannelLayout, c: usize) -> Vec<f32> {
    (0..layout.positions())
        .map(|p| data[layout.flat_index(c, p)])
        .collect()
}

/// The per-channel k-th smallest by sorting each channel's copy; errors on a non-finite value
/// like the fast kernel.
pub fn kth_smallest_per_channel_sorted(
    data: &[f32],
    layout: &ChannelLayout,
    ks: &[usize],
) -> Result<Vec<f32>> {
    if let Some(e) = non_finite_error(data, layout, "sparse k-th value (reference)") {
        return Err(e);
    }
    Ok((0..layout.channels)
        .map(|c| kth_smallest_sorted(&channel_values(data, layout, c), ks[c]))
        .collect())
}

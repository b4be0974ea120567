//! The crate's error type: everything that comes from data or configuration (non-finite inputs,
//! wrong channel counts, invalid densities) rather than from programming mistakes.

/// Errors returned by the Sparse layer, its variants and the annealing schedule.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input holds a NaN or an infinity; no threshold can be computed from it.
    #[error(
        "{op}: non-finite value {value} in channel {channel} (batch item {item}, offset {offset} \
         within the item's channel map)"
    )]
    NonFinite {
        /// The operation that failed.
        op: &'static str,
        /// The channel holding the first offending value (in memory order).
        channel: usize,
        /// Its batch index.
        item: usize,
        /// Its offset inside the channel's map of that batch item (row-major over H, W or L).
        offset: usize,
        /// The offending value.
        value: f32,
    },
    /// The input does not have the expected shape.
    #[error("{op}: expected {expected}, got shape {shape:?}")]
    Shape {
        /// The operation that failed.
        op: &'static str,
        /// What was expected, in words.
        expected: String,
        /// The shape received.
        shape: Vec<usize>,
    },
    /// An invalid configuration or argument (density outside (0, 1], momentum outside (0, 1],
    /// ...).
    #[error("{op}: {msg}")]
    Config {
        /// The operation or setting that failed.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// The bounded-memory accumulator cannot prove its threshold exact: a batch larger than
    /// every batch seen before it arrived while candidates had already been discarded.
    #[error(
        "sparse accumulator: channel {channel}: a batch of {batch_positions} positions exceeds \
         the {bound} positions the kept candidates were sized for, and the result could depend \
         on a discarded value"
    )]
    AccumulatorBound {
        /// The channel whose threshold could not be proven exact.
        channel: usize,
        /// Positions per channel in the offending batch.
        batch_positions: usize,
        /// The largest batch size (positions per channel) the candidates were sized for.
        bound: usize,
    },
    /// An error from the tensor core.
    #[error(transparent)]
    Tensor(#[from] sparling_tensor::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

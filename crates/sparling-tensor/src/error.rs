//! The crate's error type, for everything that comes from users or files rather than from
//! programming mistakes inside tensor math (those panic with a precise message).

/// Errors returned by fallible constructors and conversions of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The number of elements does not match the requested shape.
    #[error("{op}: {len} elements cannot have shape {shape:?}")]
    ElementCount {
        /// The operation that failed.
        op: &'static str,
        /// Number of elements supplied.
        len: usize,
        /// The requested shape.
        shape: Vec<usize>,
    },
    /// Two shapes that must agree do not.
    #[error("{op}: shape mismatch, {lhs:?} vs {rhs:?}")]
    ShapeMismatch {
        /// The operation that failed.
        op: &'static str,
        /// The left (or expected) shape.
        lhs: Vec<usize>,
        /// The right (or actual) shape.
        rhs: Vec<usize>,
    },
    /// A value that must be finite is not.
    #[error("{op}: non-finite value {value} at flat index {index}")]
    NonFinite {
        /// The operation that failed.
        op: &'static str,
        /// Flat (row-major) index of the first offending value.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// Any other invalid argument coming from a user or a configuration.
    #[error("{op}: {msg}")]
    Invalid {
        /// The operation that failed.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

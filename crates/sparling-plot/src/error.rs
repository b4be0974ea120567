//! The crate's error type.

use std::path::PathBuf;

/// Errors of `sparling-plot`: PNG encoding, file writing and malformed chart input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The PNG encoder rejected the image or failed while writing it.
    #[error("PNG encoding failed: {source}")]
    Encode {
        /// The encoder's error.
        #[source]
        source: png::EncodingError,
    },
    /// Writing, flushing or renaming the output file failed.
    #[error("cannot write PNG {}: {source}", path.display())]
    Io {
        /// The file that could not be written (the final path, not the temporary one).
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A heatmap matrix whose rows do not all have the same length.
    #[error("heatmap row {row} has {found} cells, row 0 has {expected}")]
    RaggedMatrix {
        /// Index of the offending row.
        row: usize,
        /// Length of row 0.
        expected: usize,
        /// Length of the offending row.
        found: usize,
    },
    /// Heatmap row or column labels whose count does not match the matrix.
    #[error("heatmap has {expected} {axis}s but {found} {axis} labels were given")]
    LabelCount {
        /// `"row"` or `"column"`.
        axis: &'static str,
        /// Number of rows or columns of the matrix.
        expected: usize,
        /// Number of labels given.
        found: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

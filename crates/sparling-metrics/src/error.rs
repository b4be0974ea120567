//! The crate's error type. Everything that can be wrong with user input (a motif map with a
//! negative or non-finite value, a footprint outside the map, a malformed JSONL line, counts of
//! mismatched sizes) is reported as an [`Error`], never as a panic.

/// Errors returned by the scoring, aggregation and output functions of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A map entry is negative, NaN or infinite (motif maps are post-ReLU: finite and >= 0).
    #[error(
        "invalid map value {value} at channel {channel}, position {position:?}: values must be finite and >= 0"
    )]
    InvalidValue {
        /// Channel of the offending entry.
        channel: usize,
        /// Position of the offending entry: `[row, col]` for a 2-D map, `[l]` for a 1-D map.
        position: Vec<usize>,
        /// The offending value.
        value: f32,
    },
    /// An active entry's index lies outside the map's shape.
    #[error("active entry {index:?} is outside the map of shape {shape:?}")]
    EntryOutOfRange {
        /// The entry's index, `[c, h, w]` or `[c, l]`.
        index: Vec<usize>,
        /// The map's shape, `[C, H, W]` or `[C, L]`.
        shape: Vec<usize>,
    },
    /// The same (channel, position) appears twice in a sparse list of active entries.
    #[error("active entry {index:?} is listed more than once")]
    DuplicateEntry {
        /// The repeated entry's index, `[c, h, w]` or `[c, l]`.
        index: Vec<usize>,
    },
    /// A footprint is empty, reversed, or reaches outside the map.
    #[error(
        "motif {motif}: footprint {footprint} is not a non-empty range inside the map of shape {shape:?}"
    )]
    FootprintOutOfRange {
        /// Index of the motif in the sample's list.
        motif: usize,
        /// The footprint, as written by its `Display` implementation.
        footprint: String,
        /// The map's shape, `[C, H, W]` or `[C, L]`.
        shape: Vec<usize>,
    },
    /// A 2-D footprint was given for a 1-D map, or the other way round.
    #[error("motif {motif}: a {footprint_dims}-D footprint cannot be used with a {map_dims}-D map")]
    FootprintKind {
        /// Index of the motif in the sample's list.
        motif: usize,
        /// Dimensionality of the footprint (1 or 2).
        footprint_dims: usize,
        /// Dimensionality of the map's positions (1 or 2).
        map_dims: usize,
    },
    /// A class id is not below the number of classes of a [`crate::Confusion`].
    #[error("class id {class} is out of range (the table has {classes} classes)")]
    ClassOutOfRange {
        /// The offending class id.
        class: usize,
        /// Number of classes of the table.
        classes: usize,
    },
    /// A channel index is not below the number of channels of a [`crate::Confusion`].
    #[error("channel {channel} is out of range (the table has {channels} channels)")]
    ChannelOutOfRange {
        /// The offending channel.
        channel: usize,
        /// Number of channels of the table.
        channels: usize,
    },
    /// Two objects whose sizes must agree do not (merging tables, channel counts of samples).
    #[error("{what}: expected {expected}, got {actual}")]
    SizeMismatch {
        /// What was being compared.
        what: &'static str,
        /// The expected size.
        expected: usize,
        /// The size found.
        actual: usize,
    },
    /// A list of values that must be non-empty is empty (e.g. a bootstrap over no seeds).
    #[error("{what}: no values")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// A score was asked of no samples at all (its value would read as perfect).
    #[error("no samples to score ({what} of nothing would read as a perfect score)")]
    NoSamples {
        /// The score asked for.
        what: &'static str,
    },
    /// A real number that must be finite is not (bootstrap inputs, assignment weights).
    #[error("{what}: non-finite value {value} at index {index}")]
    NonFinite {
        /// What the value is.
        what: &'static str,
        /// Index of the first offending value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// An invalid parameter (a confidence level outside (0, 1), zero resamples, ...).
    #[error("invalid parameter {name}: {msg}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with it.
        msg: String,
    },
    /// A JSONL record is not valid JSON or does not follow the documented format.
    #[error("{0}")]
    Format(String),
    /// An error found on one line of a JSONL input (1-based line number).
    /// (The inner error is part of the message, not a separate `source()`, so that error
    /// chains do not print it twice.)
    #[error("line {line}: {error}")]
    Line {
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        error: Box<Error>,
    },
    /// An I/O error (reading input, writing output).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Serialising a result as JSON failed.
    #[error("JSON serialisation failed: {0}")]
    Json(#[from] serde_json::Error),
    /// Encoding a PNG failed.
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

//! The crate's error type.

/// Errors of `sparling-domains`: invalid generator parameters, malformed stamp files, vocabulary
/// misuse, picture and record encoding.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A stamp file line that should be a `digit D  HxW` header (or, before the first header, a
    /// `#` comment or a blank line) is something else.
    #[error("stamp file line {line}: expected a header `digit D  HxW`, found {found:?} ({reason})")]
    StampHeader {
        /// 1-based line number.
        line: usize,
        /// The offending line.
        found: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stamp row whose width differs from the width declared in its header.
    #[error(
        "stamp file line {line}: row of digit {digit} has {found} columns, the header declares {expected}"
    )]
    StampRaggedRow {
        /// 1-based line number.
        line: usize,
        /// The digit whose block holds the row.
        digit: u8,
        /// Declared width.
        expected: usize,
        /// Actual width.
        found: usize,
    },
    /// A stamp row containing a character other than `#` (ink) and `.` (blank).
    #[error(
        "stamp file line {line}: bad character {ch:?} in a row of digit {digit} (only '#' and '.' are allowed)"
    )]
    StampBadChar {
        /// 1-based line number.
        line: usize,
        /// The digit whose block holds the row.
        digit: u8,
        /// The offending character.
        ch: char,
    },
    /// A stamp block with a different number of rows than its header declares.
    #[error(
        "stamp file line {line}: digit {digit} has {found} rows, the header declares {expected}"
    )]
    StampRowCount {
        /// 1-based line number of the block's header.
        line: usize,
        /// The digit.
        digit: u8,
        /// Declared height.
        expected: usize,
        /// Rows found.
        found: usize,
    },
    /// The same digit defined twice.
    #[error("stamp file line {line}: digit {digit} is defined twice (first on line {first_line})")]
    StampDuplicate {
        /// 1-based line number of the second definition.
        line: usize,
        /// 1-based line number of the first definition.
        first_line: usize,
        /// The digit.
        digit: u8,
    },
    /// A stamp file with no stamp in it.
    #[error("stamp file defines no stamp")]
    StampEmpty,
    /// A stamp set given as a file could not be read.
    #[error("cannot read stamp file {path}: {source}")]
    StampIo {
        /// The path.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A generator parameter that cannot work (the message says which and why).
    #[error("invalid {domain} configuration: {message}")]
    InvalidConfig {
        /// The domain ("DigitCircle", "SingleDigit", ...).
        domain: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A token id outside the vocabulary.
    #[error("token id {id} is outside the vocabulary of {len} tokens")]
    UnknownToken {
        /// The id.
        id: usize,
        /// The vocabulary size.
        len: usize,
    },
    /// A malformed vocabulary (duplicate or reserved symbols).
    #[error("invalid vocabulary: {0}")]
    InvalidVocab(String),
    /// A picture request that does not fit the picture (shape mismatch, bad motif map).
    #[error("picture: {0}")]
    Picture(String),
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
    /// A record (JSONL) that cannot be written or read.
    #[error("sample record: {0}")]
    Record(String),
    /// The bank of spoken digits cannot be used.
    #[error(transparent)]
    Bank(#[from] crate::bank::BankError),
    /// File I/O while writing pictures or records.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

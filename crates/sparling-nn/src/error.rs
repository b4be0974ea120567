//! The crate's error type: everything that comes from files, saved state or configuration.
//! Shape misuse inside layer math panics with a precise message instead (see
//! [`sparling_tensor::shape_check!`]).

use std::path::PathBuf;

/// Errors of `sparling-nn`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a checkpoint file failed.
    #[error("{path}: {action}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What was being done (`"read"`, `"write"`, `"rename"`, ...).
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file does not start with the sparling magic bytes.
    #[error("{path}: not a sparling checkpoint (bad magic bytes {found:02x?})")]
    BadMagic {
        /// The file concerned.
        path: PathBuf,
        /// The first bytes found (at most 8).
        found: Vec<u8>,
    },
    /// The container format version is not one this build can read.
    #[error(
        "{path}: unsupported checkpoint format version {found} (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// The file concerned.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The file holds another kind of payload than the one asked for.
    #[error("{path}: wrong checkpoint kind: expected {expected:?}, found {found:?}")]
    WrongKind {
        /// The file concerned.
        path: PathBuf,
        /// The kind the caller asked for.
        expected: String,
        /// The kind in the file.
        found: String,
    },
    /// The file is shorter than its header says (an interrupted copy or write).
    #[error("{path}: truncated checkpoint: expected {expected} bytes, found {found}")]
    Truncated {
        /// The file concerned.
        path: PathBuf,
        /// The number of bytes the header (or the fixed header layout) requires.
        expected: u64,
        /// The number of bytes present.
        found: u64,
    },
    /// The file is damaged: checksum mismatch, bytes after the payload, or an implausible header.
    #[error("{path}: corrupted checkpoint: {reason}")]
    Corrupted {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The payload passed every integrity check but does not decode as the requested type.
    #[error("{path}: checkpoint payload of kind {kind:?} does not decode: {reason}")]
    Undecodable {
        /// The file concerned.
        path: PathBuf,
        /// The payload kind.
        kind: String,
        /// The decoder's message.
        reason: String,
    },
    /// A payload could not be encoded, or is too large for the container.
    #[error("cannot encode checkpoint payload of kind {kind:?}: {reason}")]
    Encode {
        /// The payload kind.
        kind: String,
        /// What went wrong.
        reason: String,
    },
    /// A kind string is empty or too long.
    #[error("invalid checkpoint kind {kind:?}: {reason}")]
    InvalidKind {
        /// The kind given.
        kind: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A state dict does not match the parameter store it is imported into.
    #[error("state dict does not match the parameter store: {details}")]
    StateDictMismatch {
        /// Every missing, unexpected and mis-shaped entry, one per line.
        details: String,
    },
    /// Optimizer state does not match the parameter store it is restored against.
    #[error("optimizer state does not match the parameter store: {details}")]
    OptimizerStateMismatch {
        /// Every offending entry, one per line.
        details: String,
    },
    /// A layer or optimizer configuration is invalid.
    #[error("invalid configuration of {what}: {msg}")]
    InvalidConfig {
        /// The layer or optimizer.
        what: &'static str,
        /// What is wrong.
        msg: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

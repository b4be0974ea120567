//! The trainer's error type.

use std::path::PathBuf;

/// Errors of configuration, training, checkpointing and evaluation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration field is invalid.
    #[error("invalid config field `{field}`: {msg}")]
    Config {
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        msg: String,
    },
    /// A config file is not JSON, or not a training configuration (`field`: the dotted path
    /// of the value serde stopped at, if any).
    #[error("{}{msg}", field.as_ref().map(|f| format!("config field `{f}`: ")).unwrap_or_default())]
    ConfigSyntax {
        /// Dotted path of the offending value, when the text is JSON.
        field: Option<String>,
        /// What is wrong, with its line and column.
        msg: String,
    },
    /// A run would need more memory than the machine has (see [`crate::limits`]).
    #[error("`{field}` too large: {msg}")]
    TooLarge {
        /// The field (or option) that drives the largest part of the estimate.
        field: String,
        /// The estimate, the machine's memory and what to do.
        msg: String,
    },
    /// An I/O failure on a path.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A checkpoint could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] sparling_nn::Error),
    /// The Sparse layer or a bottleneck rejected its input.
    #[error(transparent)]
    Sparse(#[from] sparling_sparse::Error),
    /// A data-domain error.
    #[error(transparent)]
    Domain(#[from] sparling_domains::Error),
    /// A metrics error.
    #[error(transparent)]
    Metrics(#[from] sparling_metrics::Error),
    /// Training diverged (a non-finite loss or gradient).
    #[error("training diverged at step {step}: {what}")]
    Diverged {
        /// The step.
        step: u64,
        /// What was non-finite.
        what: String,
    },
    /// A run directory is inconsistent with the request.
    #[error("{0}")]
    Run(String),
}

/// `Result` with the trainer's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error with its path and action.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

//! Field checks shared by the config modules: every error names the field it is about.

use crate::error::{Error, Result};

/// The error for an invalid `field`.
pub(crate) fn invalid(field: &str, msg: impl Into<String>) -> Error {
    Error::Config {
        field: field.to_string(),
        msg: msg.into(),
    }
}

/// `v` must be a positive finite number.
pub(crate) fn positive(field: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be a positive finite number, got {v}"),
        ))
    }
}

/// `v` must be at least 1.
pub(crate) fn nonzero(field: &str, v: u64) -> Result<()> {
    if v > 0 {
        Ok(())
    } else {
        Err(invalid(field, "must be at least 1"))
    }
}

/// `v` must be a density in (0, 1].
pub(crate) fn density(field: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err(invalid(field, format!("must be in (0, 1], got {v}")))
    }
}

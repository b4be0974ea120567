//! sparling-train (being written).

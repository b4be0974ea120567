//! sparling-nn (being written).

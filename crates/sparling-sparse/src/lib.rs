//! sparling-sparse (being written).

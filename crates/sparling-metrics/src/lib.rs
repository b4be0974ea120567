//! sparling-metrics (being written).

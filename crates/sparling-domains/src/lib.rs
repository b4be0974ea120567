//! sparling-domains (being written).

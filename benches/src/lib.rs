//! Shared inputs for the workspace-level criterion benchmarks (see `benches/benches/`).

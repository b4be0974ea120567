//! Named crash points for fault-injection tests.
//!
//! A process started with the environment variable [`FAULT_VAR`] set to a point's name aborts
//! at once when it reaches that point: no destructor, no buffered write and no signal handler
//! runs, so the files it leaves are those a `kill -9` at that instant would leave. The tests of
//! crash safety (`crates/sparling-cli/tests/faults.rs`) start the `sparling` binary this way.
//! Unset, a point costs one cached look-up.
//!
//! Points: `temporary-file-written` (an atomic write's temporary file is complete and synced,
//! not yet renamed; `temporary-file-written:<file name>` for one file only, e.g.
//! `temporary-file-written:checkpoint.bin`) and `final-checkpoint-written` (a finished run's last checkpoint is in
//! place, its log and `status.json` not yet written).

use std::sync::OnceLock;

/// The environment variable naming the point to crash at.
pub const FAULT_VAR: &str = "SPARLING_FAULT_AT";

/// Aborts the process if [`FAULT_VAR`] names `name`.
pub fn point(name: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    if AT.get_or_init(|| std::env::var(FAULT_VAR).ok()).as_deref() == Some(name) {
        eprintln!("{FAULT_VAR}: crashing at {name}");
        std::process::abort();
    }
}

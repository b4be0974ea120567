//! What a run records about where it trained: `run-info.json` in the run directory, one entry
//! per training session (the first, and each resumption), with the source revision of the
//! program, the machine and the thread count. The report reads it back, so a report rendered
//! later, elsewhere, still describes the runs, not the call that rendered it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::state::write_atomic;

/// The file name of the record inside a run directory.
pub const RUN_INFO_FILE: &str = "run-info.json";

/// One training session of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The source revision (git commit) of the program that trained, or "unknown".
    pub revision: String,
    /// The CPU model.
    pub machine: String,
    /// Logical CPUs of the machine.
    pub logical_cpus: usize,
    /// Worker threads the session trained with.
    pub threads: usize,
    /// Training samples already seen when the session started (0 for the first).
    pub started_at_samples: u64,
    /// When the session started, in seconds since the Unix epoch.
    pub started_unix: u64,
}

impl Session {
    /// A session of this process on this machine.
    pub fn here(revision: &str, threads: usize, started_at_samples: u64) -> Session {
        Session {
            revision: revision.to_string(),
            machine: cpu_model(),
            logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads,
            started_at_samples,
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

/// The record of a run: its sessions in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Every training session, first to last.
    pub sessions: Vec<Session>,
}

impl RunInfo {
    /// The distinct values of `f` over the sessions, in order of first appearance.
    pub fn distinct<T: PartialEq>(&self, f: impl Fn(&Session) -> T) -> Vec<T> {
        let mut out: Vec<T> = Vec::new();
        for s in &self.sessions {
            let v = f(s);
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }
}

fn path(run_dir: &Path) -> PathBuf {
    run_dir.join(RUN_INFO_FILE)
}

/// Reads a run's record (`None` for runs trained before it existed).
pub fn read_run_info(run_dir: &Path) -> Result<Option<RunInfo>> {
    let p = path(run_dir);
    match std::fs::read_to_string(&p) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Run(format!("{}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("reading", p, e)),
    }
}

/// Appends `session` to the run's record (atomically).
pub fn record_session(run_dir: &Path, session: Session) -> Result<()> {
    let mut info = read_run_info(run_dir)?.unwrap_or_default();
    info.sessions.push(session);
    let text = serde_json::to_string_pretty(&info).map_err(|e| Error::Run(e.to_string()))?;
    write_atomic(&path(run_dir), text.as_bytes())
}

/// The CPU model as the OS names it (Linux: `model name` of `/proc/cpuinfo`), else the
/// architecture.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_accumulate_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_run_info(dir.path()).unwrap(), None);
        record_session(dir.path(), Session::here("abc", 2, 0)).unwrap();
        let mut second = Session::here("def", 4, 6400);
        second.machine = "Other CPU".into();
        record_session(dir.path(), second).unwrap();
        let info = read_run_info(dir.path()).unwrap().unwrap();
        assert_eq!(info.sessions.len(), 2);
        assert_eq!(info.distinct(|s| s.revision.clone()), ["abc", "def"]);
        assert_eq!(info.distinct(|s| s.threads), [2, 4]);
        assert_eq!(info.sessions[1].started_at_samples, 6400);
        assert!(info.sessions[0].logical_cpus >= 1);
        assert!(!info.sessions[0].machine.is_empty());
        std::fs::write(dir.path().join(RUN_INFO_FILE), "{").unwrap();
        let err = read_run_info(dir.path()).unwrap_err().to_string();
        assert!(err.contains(RUN_INFO_FILE), "{err}");
    }
}

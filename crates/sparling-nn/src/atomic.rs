//! Atomic file writes, and the clean-up of what an interrupted one leaves behind.
//!
//! [`write_atomic`] writes `dir/.NAME.tmp.<pid>.<n>`, syncs it, renames it over `dir/NAME` and
//! syncs the directory, so a crash (even `kill -9` or a power cut after the sync) leaves either
//! the old or the new file, never a mix. A process killed between the create and the rename
//! leaves its temporary file; [`remove_stale_temporaries`] removes those of writers that are
//! no longer running (a run directory calls it when a run starts or resumes).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::fault;

/// The part of a temporary file's name between the destination's name and the writer's pid.
const TMP_INFIX: &str = ".tmp.";

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is written,
/// synced and renamed over `path`, then the directory is synced. On failure the temporary
/// file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::Io {
            path: path.to_path_buf(),
            action: "save (path has no file name)",
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        })?
        .to_string_lossy()
        .into_owned();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{file_name}{TMP_INFIX}{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io {
            path: p,
            action,
            source,
        }
    };
    let write = || -> Result<()> {
        let mut f = File::create(&tmp).map_err(io("create temporary file", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
        drop(f);
        fault::point("temporary-file-written");
        fault::point(&format!("temporary-file-written:{file_name}"));
        fs::rename(&tmp, path).map_err(io("rename temporary file", path))
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable. Directories cannot be opened for syncing on every
    // platform; the data is already safe in the renamed file, so failure here is ignored.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The pid of the writer of a temporary file named by [`write_atomic`], if `name` is one.
fn writer_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let at = rest.rfind(TMP_INFIX)?;
    let (pid, n) = rest[at + TMP_INFIX.len()..].split_once('.')?;
    if at == 0 || !n.bytes().all(|b| b.is_ascii_digit()) || n.is_empty() {
        return None;
    }
    pid.parse().ok()
}

/// Whether the process `pid` is running. Where this cannot be known (no `/proc`), every
/// writer counts as running, so nothing is removed.
fn is_running(pid: u32) -> bool {
    if pid == std::process::id() || !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the temporary files that [`write_atomic`] left in `dir` when its process was killed
/// before the rename, and returns their paths. A file whose writer is still running (or may
/// be: see `is_running`) is kept. A missing `dir` holds nothing.
pub fn remove_stale_temporaries(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                action: "list",
                source,
            });
        }
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(writer_pid) else {
            continue;
        };
        if is_running(pid) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            // Another process cleaning the same folder got there first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    path,
                    action: "remove stale temporary file",
                    source,
                });
            }
        }
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_temporary_names_parse() {
        assert_eq!(writer_pid(".checkpoint.bin.tmp.123.4"), Some(123));
        assert_eq!(writer_pid(".a.tmp.b.tmp.77.0"), Some(77));
        for name in [
            "checkpoint.bin",
            ".checkpoint.bin",
            "checkpoint.bin.tmp.1.2",
            ".checkpoint.bin.tmp.x.2",
            ".checkpoint.bin.tmp.1.",
            ".checkpoint.bin.tmp.1",
            ".tmp.1.2",
        ] {
            assert_eq!(writer_pid(name), None, "{name}");
        }
    }

    #[test]
    fn atomic_stale_temporaries_of_dead_writers_only_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // A pid above the kernel's limit (4,194,304) is never running.
        let dead = d.join(".checkpoint.bin.tmp.99999999.0");
        let live = d.join(format!(".checkpoint.bin.tmp.{}.3", std::process::id()));
        let other = d.join("notes.tmp.99999999.0");
        for p in [&dead, &live, &other] {
            fs::write(p, b"partial").unwrap();
        }
        write_atomic(&d.join("checkpoint.bin"), b"whole").unwrap();
        let removed = remove_stale_temporaries(d).unwrap();
        if Path::new("/proc/self").exists() {
            assert_eq!(removed, vec![dead.clone()]);
            assert!(!dead.exists());
        }
        assert!(live.exists() && other.exists());
        assert_eq!(fs::read(d.join("checkpoint.bin")).unwrap(), b"whole");
        assert!(
            remove_stale_temporaries(&d.join("missing"))
                .unwrap()
                .is_empty()
        );
    }
}

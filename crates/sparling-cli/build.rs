//! Records the git revision the `sparling` binary is built from as `SPARLING_REVISION`
//! ("unknown" outside a git checkout, e.g. when built from a published crate), so that run
//! records and exported models can name the code that produced them.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    let revision = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=SPARLING_REVISION={revision}");
    // Rerun when HEAD moves (a commit, a checkout): the reflog of HEAD changes with it.
    let mut watched = false;
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        for file in ["HEAD", "logs/HEAD"] {
            let path = Path::new(&dir).join(file);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
                watched = true;
            }
        }
    }
    if !watched {
        println!("cargo:rerun-if-changed=build.rs");
    }
}

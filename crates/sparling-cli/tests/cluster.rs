//! The cluster example of the README: two tiny jobs of `scripts/cluster/job.sh` run side by
//! side through GNU parallel, then merged into one report. Skipped (with a message) where GNU
//! parallel is not installed; CI installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn has_parallel() -> bool {
    Command::new("parallel")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn two_jobs_through_gnu_parallel_merge_into_one_report() {
    if !has_parallel() {
        println!("skipped: GNU parallel is not installed (apt-get install parallel)");
        return;
    }
    let root = repo_root();
    let out = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_sparling");
    let jobs = "sparling 0\nsparling 1\n";
    let mut child = Command::new("parallel")
        .args([
            "--will-cite",
            "--halt",
            "now,fail=1",
            "--colsep",
            " ",
            "--jobs",
            "2",
        ])
        .arg(root.join("scripts/cluster/job.sh"))
        .args(["quick", "{1}", "{2}"])
        .arg(out.path())
        .env("SPARLING", bin)
        .env("RAYON_NUM_THREADS", "1")
        .env("TRAIN_ARGS", "--max-steps 20")
        .env("EVAL_ARGS", "--samples 4 --curve-samples 4")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("parallel starts");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(jobs.as_bytes())
        .unwrap();
    let done = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    for seed in [0, 1] {
        let dir = out.path().join(format!("runs/sparling-seed{seed}"));
        assert!(
            stdout.contains(&format!("sparling-seed{seed}: done")),
            "{stdout}"
        );
        assert!(
            dir.join("eval/eval.json").exists(),
            "seed {seed} not evaluated"
        );
        assert!(dir.join("run-info.json").exists());
    }
    // The merge: what `cargo xtask reproduce --merge OUT` runs after building the binary.
    let merged = Command::new(bin)
        .args(["report", "--root"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        merged.status.success(),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(md.contains("| sparling | 2 |"), "{md}");
    assert!(md.contains("n/a (another domain)"), "{md}");
    assert!(md.contains("| sparling-seed0 |") && md.contains("| sparling-seed1 |"));
}

#[test]
fn the_job_list_of_the_full_profile_matches_xtask() {
    let bin = env!("CARGO_BIN_EXE_sparling");
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/cluster/jobs.sh"))
        .arg("full")
        .env("SPARLING", bin)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        &lines[..4],
        ["sparling 0", "sparling 1", "sparling 2", "st 0"]
    );
    let experiments = Command::new(bin)
        .args(["preset", "--list"])
        .output()
        .unwrap();
    // Retrained (its description says `--from`) starts from a finished Sparling run.
    let n = String::from_utf8(experiments.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("--from"))
        .count();
    assert_eq!(
        lines.len(),
        n + 2,
        "Sparling on three seeds, the rest on one"
    );
    let default = Command::new("bash")
        .arg(repo_root().join("scripts/cluster/jobs.sh"))
        .arg("default")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(default.stdout).unwrap(), "sparling 0\n");
}

//! Faults and bad input through the binary: runs killed at named points (the fault hook of
//! `sparling_nn::fault`, which aborts as a `kill -9` would), SIGTERM, broken pipes, empty
//! inputs, sizes over the limits and the wording of errors. Every run is tiny (48 samples).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn sparling() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sparling"));
    c.env("RAYON_NUM_THREADS", "2")
        .env_remove("SPARLING_FAULT_AT")
        .env_remove("RUST_BACKTRACE");
    c
}

fn run(args: &[&str]) -> Output {
    sparling()
        .args(args)
        .output()
        .expect("the sparling binary runs")
}

fn ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "sparling {args:?}:\n{}",
        text(&out.stderr)
    );
    out
}

fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "sparling {args:?}:\n{}",
        text(&out.stderr)
    );
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A config of the quick preset trained for 48 samples, validating every 16; `edit` changes
/// its JSON.
fn tiny_config(dir: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let base = dir.join("preset.json");
    if !base.exists() {
        ok(&[
            "preset",
            "--profile",
            "quick",
            "--experiment",
            "sparling",
            "--out",
            s(&base),
        ]);
    }
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    v["max_samples"] = 48.into();
    v["validation_every"] = 16.into();
    v["validation_samples"] = 4.into();
    v["test_samples"] = 8.into();
    edit(&mut v);
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    path
}

fn train(cfg: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--config", s(cfg), "--out", s(out), "--quiet"];
    args.extend_from_slice(extra);
    run(&args)
}

fn temporaries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.contains(".tmp."))
        .collect();
    names.sort();
    names
}

#[test]
fn faults_a_kill_after_the_final_checkpoint_still_finishes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), "c.json", |_| {});
    let run_dir = dir.path().join("runs").join("sparling-seed0");
    let killed = sparling()
        .args([
            "train",
            "--config",
            s(&cfg),
            "--out",
            s(&run_dir),
            "--quiet",
        ])
        .env("SPARLING_FAULT_AT", "final-checkpoint-written")
        .output()
        .unwrap();
    assert!(!killed.status.success(), "{}", text(&killed.stderr));
    assert!(run_dir.join("checkpoint.bin").exists());
    assert!(!run_dir.join("status.json").exists());
    // The same command again: the run is finished, and now says so.
    let again = train(&cfg, &run_dir, &[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("finished"));
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("status.json")).unwrap())
            .unwrap();
    assert_eq!(status["samples"], 48, "{status}");
    assert_eq!(status["validations"], 3, "{status}");
    assert_eq!(
        std::fs::read_to_string(run_dir.join("log.jsonl"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    ok(&["report", "--root", s(dir.path())]);
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(!report.contains("interrupted"), "{report}");
}

#[test]
fn faults_temporaries_of_a_killed_writer_are_removed_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), "c.json", |_| {});
    let run_dir = dir.path().join("run");
    let killed = sparling()
        .args([
            "train",
            "--config",
            s(&cfg),
            "--out",
            s(&run_dir),
            "--quiet",
        ])
        .env("SPARLING_FAULT_AT", "temporary-file-written:checkpoint.bin")
        .output()
        .unwrap();
    assert!(!killed.status.success(), "{}", text(&killed.stderr));
    let stale = temporaries(&run_dir);
    assert_eq!(stale.len(), 1, "{stale:?}");
    // Killed while its first checkpoint was being written (the temporary complete, not renamed).
    assert!(stale[0].starts_with(".checkpoint.bin.tmp."), "{stale:?}");
    // A temporary of a live writer (this test process) is left alone.
    let live = format!(".log.jsonl.tmp.{}.0", std::process::id());
    std::fs::write(run_dir.join(&live), b"being written").unwrap();
    let again = train(&cfg, &run_dir, &[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(temporaries(&run_dir), vec![live]);
    assert!(run_dir.join("status.json").exists());
}

#[cfg(unix)]
#[test]
fn faults_sigterm_writes_a_checkpoint_like_sigint() {
    let dir = tempfile::tempdir().unwrap();
    // Validations far apart: only the signal can write the checkpoint that matters.
    let cfg = tiny_config(dir.path(), "c.json", |v| {
        v["max_samples"] = 1_000_000.into();
        v["validation_every"] = 1_000_000.into();
    });
    let run_dir = dir.path().join("run");
    let first = train(&cfg, &run_dir, &["--max-steps", "2"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let mut child = sparling()
        .args([
            "train",
            "--config",
            s(&cfg),
            "--out",
            s(&run_dir),
            "--quiet",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.starts_with("resuming"), "{line}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}: {rest}");
    let stopped: u64 = rest
        .split("stopped at ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'stopped at' line: {rest}"));
    let state = sparling_train::state::load_train_state(&run_dir.join("checkpoint.bin")).unwrap();
    assert_eq!(state.model.samples, stopped);
    assert!(stopped >= 16, "{stopped}");
}

#[cfg(unix)]
#[test]
fn faults_a_closed_stdout_ends_every_printing_command_quietly() {
    use std::os::unix::process::ExitStatusExt;

    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), "c.json", |_| {});
    let run_dir = dir.path().join("runs").join("sparling-seed0");
    assert!(train(&cfg, &run_dir, &[]).status.success());
    let jsonl = dir.path().join("maps.jsonl");
    std::fs::write(
        &jsonl,
        r#"{"shape": [2, 4, 4], "active": [[1, 0, 0, 0.5]], "motifs": [{"class": "7", "rows": [0, 2], "cols": [0, 2]}]}"#,
    )
    .unwrap();
    let ckpt = run_dir.join("checkpoint.bin");
    let gen_dir = dir.path().join("gen");
    let eval_dir = dir.path().join("eval");
    let commands: Vec<Vec<&str>> = vec![
        vec!["info"],
        vec!["preset", "--list"],
        vec!["preset", "--profile", "quick", "--experiment", "sparling"],
        vec!["score-motifs", "--input", s(&jsonl)],
        vec![
            "eval",
            "--checkpoint",
            s(&ckpt),
            "--samples",
            "4",
            "--out",
            s(&eval_dir),
        ],
        vec![
            "eval",
            "--run",
            s(&run_dir),
            "--samples",
            "4",
            "--curve-samples",
            "2",
            "--out",
            s(&eval_dir),
        ],
        vec![
            "generate",
            "--count",
            "1",
            "--no-png",
            "--grid",
            "0",
            "--out",
            s(&gen_dir),
        ],
        vec!["report", "--root", s(dir.path())],
    ];
    for args in commands {
        let mut child = sparling()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before anything is written
        let out = child.wait_with_output().unwrap();
        let err = text(&out.stderr);
        assert!(
            out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
            "sparling {args:?}: {:?}\n{err}",
            out.status
        );
        assert!(!err.contains("panicked"), "sparling {args:?}: {err}");
    }
}

#[test]
fn faults_nothing_empty_scores_as_perfect() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    let err = fails(&["score-motifs", "--input", s(&empty)]);
    assert!(err.contains("no samples to score"), "{err}");

    let cfg = tiny_config(dir.path(), "c.json", |_| {});
    let run_dir = dir.path().join("run");
    assert!(train(&cfg, &run_dir, &[]).status.success());
    let out = dir.path().join("eval");
    let ckpt = run_dir.join("checkpoint.bin");
    for args in [
        vec![
            "eval",
            "--checkpoint",
            s(&ckpt),
            "--samples",
            "0",
            "--out",
            s(&out),
        ],
        vec![
            "eval",
            "--run",
            s(&run_dir),
            "--samples",
            "0",
            "--out",
            s(&out),
        ],
        vec![
            "eval",
            "--run",
            s(&run_dir),
            "--samples",
            "4",
            "--curve-samples",
            "0",
            "--out",
            s(&out),
        ],
    ] {
        let err = fails(&args);
        assert!(err.contains("no samples to score"), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} left {}", out.display());
    }
}

#[test]
fn faults_sizes_over_the_limits_are_refused_leaving_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    for (field, edit) in [
        (
            "batch_size",
            &(|v: &mut serde_json::Value| v["batch_size"] = 1_000_000_000u64.into())
                as &dyn Fn(&mut serde_json::Value),
        ),
        ("model.d_model", &|v| {
            v["model"]["d_model"] = (1u64 << 40).into()
        }),
        ("domain.size", &|v| v["domain"]["size"] = 1_000_000.into()),
        ("validation_samples", &|v| {
            v["validation_samples"] = (1u64 << 40).into()
        }),
        ("test_samples", &|v| v["test_samples"] = (1u64 << 40).into()),
        // Under every cap, but far beyond any machine's memory.
        ("batch_size", &|v| {
            v["batch_size"] = 65_536.into();
            v["model"]["d_model"] = 65_536.into();
            v["model"]["ff"] = 65_536.into();
        }),
    ] {
        let cfg = tiny_config(dir.path(), "big.json", edit);
        let err = fails(&["train", "--config", s(&cfg), "--out", s(&out)]);
        assert!(err.contains(&format!("`{field}`")), "{field}: {err}");
        assert!(!out.exists(), "{field}: {} was created", out.display());
    }
    let err = fails(&[
        "generate",
        "--count",
        "2",
        "--scale",
        "1000000",
        "--out",
        s(&out),
    ]);
    assert!(err.contains("--scale 1000000 is above the limit"), "{err}");
    let err = fails(&[
        "generate",
        "--count",
        "100000",
        "--grid",
        "100000",
        "--scale",
        "64",
        "--out",
        s(&out),
    ]);
    assert!(
        err.contains("`--scale`") && err.contains("--force"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn faults_messages_say_what_is_wrong_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.bin");
    let err = fails(&["eval", "--checkpoint", s(&missing), "--out", s(dir.path())]);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");

    let cfg = tiny_config(dir.path(), "stamps.json", |v| {
        v["domain"]["stamps"] = "bogus".into()
    });
    let err = fails(&[
        "train",
        "--config",
        s(&cfg),
        "--out",
        s(&dir.path().join("r")),
    ]);
    assert!(err.contains("config field `domain.stamps`"), "{err}");
    assert!(err.contains(r#"{"text": "<stamps>"}"#), "{err}");
    assert!(
        !err.contains("unknown variant") && !err.contains("<file>"),
        "{err}"
    );

    // A byte-order mark is fine.
    let cfg = tiny_config(dir.path(), "c.json", |_| {});
    let bom = dir.path().join("bom.json");
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(std::fs::read(&cfg).unwrap());
    std::fs::write(&bom, bytes).unwrap();
    let run_dir = dir.path().join("run");
    let first = train(&bom, &run_dir, &["--max-steps", "1"]);
    assert!(first.status.success(), "{}", text(&first.stderr));

    // Resuming with another seed or config says which.
    let err = fails(&[
        "train",
        "--config",
        s(&cfg),
        "--seed",
        "3",
        "--out",
        s(&run_dir),
    ]);
    assert!(err.contains("seed 0, not 3"), "{err}");
    let other = tiny_config(dir.path(), "other.json", |v| v["batch_size"] = 8.into());
    let err = fails(&["train", "--config", s(&other), "--out", s(&run_dir)]);
    assert!(err.contains("batch_size 16, not 8"), "{err}");

    let cfg = tiny_config(dir.path(), "done.json", |v| {
        v["schedule"]["done_at_density"] = 0.9.into();
    });
    let err = fails(&[
        "train",
        "--config",
        s(&cfg),
        "--out",
        s(&dir.path().join("d")),
    ]);
    assert!(err.contains("`schedule.done_at_density`"), "{err}");
}

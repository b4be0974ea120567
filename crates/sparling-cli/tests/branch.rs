//! `sparling branch`: a run directory started from another run's checkpoint under another
//! late phase, which `sparling train` then resumes; other config changes are refused.

use std::path::Path;
use std::process::{Command, Output};

fn sparling(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sparling"))
        .args(args)
        .output()
        .expect("run sparling")
}

fn ok(o: &Output) -> String {
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    stderr
}

/// Writes the quick preset with `edit` applied to its JSON.
fn config(path: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let o = sparling(&["preset", "--profile", "quick"]);
    ok(&o);
    let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    edit(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

#[test]
fn branch_then_train_resumes_and_other_changes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    config(&dir.path().join("plain.json"), |_| {});
    config(&dir.path().join("late.json"), |v| {
        v["schedule"]["late_phase"] = serde_json::json!({
            "below_density": 1e-3,
            "bar_decay_per_sample": 1e-6,
            "lr_scale": 0.5
        });
    });
    config(&dir.path().join("other.json"), |v| {
        v["optimizer"]["lr"] = serde_json::json!(0.1);
    });
    let train = |cfg: &str, out: &str| {
        sparling(&[
            "train",
            "--config",
            cfg,
            "--out",
            out,
            "--max-steps",
            "3",
            "--quiet",
        ])
    };
    ok(&train(&p("plain.json"), &p("run")));

    let branched = ok(&sparling(&[
        "branch",
        "--from",
        &p("run"),
        "--config",
        &p("late.json"),
        "--out",
        &p("b"),
    ]));
    assert!(branched.contains("branched at 48 samples"), "{branched}");
    assert!(dir.path().join("b/config.json").exists());
    let resumed = ok(&train(&p("late.json"), &p("b")));
    assert!(resumed.contains("resuming"), "{resumed}");
    // The branch holds the late config now: the plain one no longer opens it.
    assert!(!train(&p("plain.json"), &p("b")).status.success());

    let o = sparling(&[
        "branch",
        "--from",
        &p("run"),
        "--config",
        &p("other.json"),
        "--out",
        &p("c"),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("more than schedule.late_phase"), "{err}");
}

#[test]
fn continue_below_lowers_the_stopping_density_and_needs_its_own_flags() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    config(&dir.path().join("plain.json"), |_| {});
    ok(&sparling(&[
        "train",
        "--config",
        &p("plain.json"),
        "--out",
        &p("run"),
        "--max-steps",
        "2",
        "--quiet",
    ]));
    let branched = ok(&sparling(&[
        "branch",
        "--from",
        &p("run"),
        "--continue-below",
        "3",
        "--max-samples",
        "999999",
        "--out",
        &p("below"),
    ]));
    assert!(branched.contains("branched at"), "{branched}");
    let read = |path: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let (src, below) = (read(&p("plain.json")), read(&p("below/config.json")));
    let done_at = |v: &serde_json::Value| v["schedule"]["done_at_density"].as_f64().unwrap();
    assert!(done_at(&below) < done_at(&src));
    assert_eq!(below["max_samples"], serde_json::json!(999999));
    // The written config resumes the branch.
    let resumed = ok(&sparling(&[
        "train",
        "--config",
        &p("below/config.json"),
        "--out",
        &p("below"),
        "--max-steps",
        "1",
        "--quiet",
    ]));
    assert!(resumed.contains("resuming"), "{resumed}");
    // --config and --continue-below exclude each other; --max-samples needs the latter;
    // one of the two is required.
    let (run, z) = (p("run"), p("z"));
    for args in [
        vec!["--config", "x.json", "--continue-below", "1"],
        vec!["--config", "x.json", "--max-samples", "5"],
        vec![],
    ] {
        let mut a = vec!["branch", "--from", run.as_str(), "--out", z.as_str()];
        a.extend(args.iter().copied());
        assert!(!sparling(&a).status.success(), "{args:?}");
    }
}

//! The smallest stage of `cargo xtask reproduce --quick`, end to end through the binary:
//! preset -> train (bounded) -> eval -> report, plus resume and bad-config handling.

use std::path::Path;
use std::process::Command;

fn sparling(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sparling"))
        .args(args)
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .expect("the sparling binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = sparling(args);
    assert!(
        out.status.success(),
        "sparling {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn quick_pipeline_runs_end_to_end() {
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("runs").join("sparling-seed0");
    std::fs::create_dir_all(&run).unwrap();
    let cfg = run.join("config.json");
    ok(&[
        "preset",
        "--profile",
        "quick",
        "--experiment",
        "sparling",
        "--out",
        s(&cfg),
    ]);

    // Two bounded sessions: the second resumes from the first one's checkpoint.
    for _ in 0..2 {
        let out = sparling(&[
            "train",
            "--config",
            s(&cfg),
            "--out",
            s(&run),
            "--quiet",
            "--max-steps",
            "70",
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = std::fs::read_to_string(run.join("log.jsonl")).unwrap();
    assert_eq!(
        log.lines().count(),
        1,
        "140 steps x 16 samples = one validation (every 2000)"
    );

    let eval_dir = run.join("eval");
    let printed = ok(&[
        "eval",
        "--run",
        s(&run),
        "--samples",
        "20",
        "--curve-samples",
        "10",
        "--out",
        s(&eval_dir),
    ]);
    assert!(printed.contains("FPE"), "{printed}");
    for f in ["eval.json", "motifs.png", "confusion.png"] {
        assert!(eval_dir.join(f).exists(), "{f} missing");
    }
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(eval_dir.join("eval.json")).unwrap())
            .unwrap();
    assert_eq!(eval["headline"]["samples"], 20);
    assert_eq!(eval["reached_operating_point"], false);

    // One checkpoint on its own: the same scores, pictures included.
    let one_dir = run.join("eval-checkpoint");
    let printed = ok(&[
        "eval",
        "--checkpoint",
        s(&run.join("checkpoint.bin")),
        "--samples",
        "12",
        "--out",
        s(&one_dir),
        "--dump-maps",
        s(&one_dir.join("maps.jsonl")),
    ]);
    let one: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(one["samples"], 12);
    for f in ["eval.json", "motifs.png", "confusion.png"] {
        assert!(one_dir.join(f).exists(), "{f} missing for --checkpoint");
    }
    // The dumped maps, rescored by score-motifs, give eval's own motif errors.
    let maps = one_dir.join("maps.jsonl");
    assert_eq!(std::fs::read_to_string(&maps).unwrap().lines().count(), 12);
    let rescored: serde_json::Value =
        serde_json::from_str(&ok(&["score-motifs", "--input", s(&maps)])).unwrap();
    for key in ["fpe", "fne", "ce"] {
        assert_eq!(rescored[key].as_f64(), one[key].as_f64(), "{key}");
    }
    assert!(one["fpe"].as_f64().unwrap() > 0.0, "{one}");

    // The model exported as safetensors: a JSON header naming PyTorch-style tensors.
    let exported = run.join("model.safetensors");
    let out = sparling(&[
        "export",
        "--checkpoint",
        s(&run.join("checkpoint.bin")),
        "--out",
        s(&exported),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&exported).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert_eq!(header["g.input.weight"]["dtype"], "F32");
    assert_eq!(
        header["bottleneck.norm.running_var"]["shape"],
        serde_json::json!([10])
    );
    assert_eq!(header["__metadata__"]["format"], "sparling-safetensors/1");
    let bad = sparling(&[
        "export",
        "--checkpoint",
        s(&run.join("log.jsonl")),
        "--out",
        s(&exported),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("log.jsonl"));

    let report = ok(&["report", "--root", s(root.path())]);
    assert!(report.trim().ends_with("report.md"));
    let md = std::fs::read_to_string(root.path().join("report.md")).unwrap();
    assert!(md.contains("| sparling | 1 |"), "{md}");
    // Stopped by --max-steps, so no status.json: the runs table reads the last validation.
    assert!(
        md.contains("| 2000 | 125 |") && md.contains("interrupted"),
        "{md}"
    );
    // Where the run trained, recorded by `train` (two sessions, one machine, 2 threads).
    let runs_row = md
        .lines()
        .find(|l| l.starts_with("| sparling-seed0 |"))
        .unwrap();
    assert!(runs_row.contains("logical CPUs) | 2 | `"), "{runs_row}");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run-info.json")).unwrap()).unwrap();
    assert_eq!(info["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(info["sessions"][1]["started_at_samples"], 1120);
    assert!(root.path().join("report.json").exists());
    assert!(root.path().join("training_accuracy.png").exists());
}

#[test]
fn bad_config_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    ok(&["preset", "--profile", "quick", "--out", s(&cfg)]);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("\"batch_size\": 16", "\"batch_size\": 0");
    assert!(
        text.contains("\"batch_size\": 0"),
        "the preset's batch size changed"
    );
    std::fs::write(&cfg, text).unwrap();
    let out = sparling(&[
        "train",
        "--config",
        s(&cfg),
        "--out",
        s(&dir.path().join("run")),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("batch_size"), "{err}");
}

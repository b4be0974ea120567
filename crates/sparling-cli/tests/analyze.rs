//! `sparling analyze`: each analysis of a (barely trained) quick run writes its JSON and
//! figure, into `RUN/analysis` unless told otherwise; bad options are refused.

use std::process::{Command, Output};

fn sparling(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sparling"))
        .args(args)
        .output()
        .expect("run sparling")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn analyze_writes_each_kinds_json_and_figure() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let o = sparling(&["preset", "--profile", "quick"]);
    std::fs::write(p("quick.json"), ok(&o)).unwrap();
    let run = p("run");
    ok(&sparling(&[
        "train",
        "--config",
        &p("quick.json"),
        "--out",
        &run,
        "--max-steps",
        "1",
        "--quiet",
    ]));

    let line = ok(&sparling(&[
        "analyze",
        "direct",
        "--run",
        &run,
        "--samples",
        "4",
    ]));
    assert!(line.starts_with("direct evaluation at density"), "{line}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("run/analysis/direct.json")).unwrap())
            .unwrap();
    assert_eq!(json["samples"], 4);
    assert_eq!(json["domain"], "single-digit");
    assert!(dir.path().join("run/analysis/direct.png").exists());

    let out = p("bits-out");
    let line = ok(&sparling(&[
        "analyze",
        "bits",
        "--run",
        &run,
        "--out",
        &out,
        "--samples",
        "2",
        "--calibration-samples",
        "1",
    ]));
    assert!(line.contains("16 levels"), "{line}");
    assert!(dir.path().join("bits-out/bits.json").exists());
    assert!(dir.path().join("bits-out/bits.png").exists());

    // A barely trained model decodes next to nothing correctly: perturbing either works or
    // says that there was nothing to perturb.
    let o = sparling(&[
        "analyze",
        "perturb",
        "--run",
        &run,
        "--samples",
        "1",
        "--calibration-samples",
        "2",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && dir.path().join("run/analysis/perturb.json").exists()
            || stderr.contains("nothing to perturb"),
        "{stderr}"
    );

    let o = sparling(&[
        "analyze",
        "direct",
        "--run",
        &run,
        "--calibration-samples",
        "3",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not apply to direct"));
    let o = sparling(&["analyze", "direct", "--run", &p("missing")]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing"));
}

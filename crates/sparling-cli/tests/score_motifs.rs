//! `sparling score-motifs` end to end: a good file gives the documented JSON, a malformed line
//! gives an error naming the line.

use std::io::Write;
use std::process::Command;

fn sparling() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sparling"))
}

fn write_jsonl(lines: &[&str]) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.flush().unwrap();
    f
}

// Two 2-D samples and one 1-D sample, 3 channels, classes "1", "2", "7".
// Sample 1: "7" claimed by channel 2 (0.9 beats channel 0's 0.3 in the same footprint), "1"
//   claimed by channel 0 on the footprint's border (row 5 of rows [3, 6)); (1, 9, 9) is a
//   false positive of channel 1.
// Sample 2: "7" claimed by channel 2; "2" missed; (0, 0, 9) false positive of channel 0.
// Sample 3 (1-D): "2" claimed by channel 1; "1" claimed by channel 1 as well.
// Table (rows ch0, ch1, ch2, none; columns "1", "2", "7", none):
//   ch0: 1 0 0 1 | ch1: 1 1 0 1 | ch2: 0 0 2 0 | none: 0 1 0 -
// n_motifs = 6, n_predictions = 5 claimed + 2 false positives = 7, FNE = 1/6, FPE = 2/7.
// Claimed = 5; one-to-one: ch0->"1" (1), ch1->"2" (1), ch2->"7" (2) = 4 -> CE = 1/5;
// many-to-one: ch0->"1" (1), ch1->"1" (1, tie to the lowest class), ch2->"7" (2) = 4 -> 1/5.
const GOOD: [&str; 3] = [
    r#"{"shape": [3, 10, 10], "active": [[2, 1, 1, 0.9], [0, 1, 2, 0.3], [0, 5, 4, 0.2], [1, 9, 9, 0.5]], "motifs": [{"class": "7", "rows": [0, 3], "cols": [0, 3]}, {"class": "1", "rows": [3, 6], "cols": [3, 6]}]}"#,
    r#"{"shape": [3, 6, 6], "active": [[2, 4, 4, 0.1], [0, 0, 5, 1.0]], "motifs": [{"class": "2", "rows": [0, 2], "cols": [0, 2]}, {"class": "7", "rows": [3, 6], "cols": [3, 6]}]}"#,
    r#"{"shape": [3, 20], "active": [[1, 2, 0.4], [1, 12, 0.6]], "motifs": [{"class": "2", "span": [0, 5]}, {"class": "1", "span": [10, 15]}]}"#,
];

#[test]
fn score_motifs_good_file() {
    let f = write_jsonl(&GOOD);
    let out = sparling()
        .args(["score-motifs", "--input"])
        .arg(f.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: std::collections::BTreeSet<&str> =
        v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    let want: std::collections::BTreeSet<&str> = [
        "fpe",
        "fne",
        "ce",
        "ce_many_to_one",
        "n_motifs",
        "n_predictions",
        "assignment",
        "confusion",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, want);
    let close = |key: &str, want: f64| {
        let got = v[key].as_f64().unwrap();
        assert!((got - want).abs() < 1e-12, "{key}: {got} vs {want}");
    };
    close("fne", 1.0 / 6.0);
    close("fpe", 2.0 / 7.0);
    close("ce", 1.0 / 5.0);
    close("ce_many_to_one", 1.0 / 5.0);
    assert_eq!(v["n_motifs"], 6);
    assert_eq!(v["n_predictions"], 7);
    assert_eq!(v["assignment"], serde_json::json!(["1", "2", "7"]));
    assert_eq!(
        v["confusion"]["class_names"],
        serde_json::json!(["1", "2", "7"])
    );
    assert_eq!(
        v["confusion"]["counts"],
        serde_json::json!([[1, 0, 0, 1], [1, 1, 0, 1], [0, 0, 2, 0], [0, 1, 0, 0]])
    );

    // Markdown and the heatmap.
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("confusion.png");
    let out = sparling()
        .args(["score-motifs", "--format", "markdown", "--heatmap"])
        .arg(&png)
        .arg("--input")
        .arg(f.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.contains("| FNE | 16.67% |"), "{md}");
    assert!(md.contains("| pred \\ true | 1 | 2 | 7 | none |"), "{md}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn score_motifs_malformed_line_names_the_line() {
    let bad_index = r#"{"shape": [3, 10, 10], "active": [[0, 10, 0, 0.5]], "motifs": []}"#;
    let f = write_jsonl(&[GOOD[0], GOOD[1], bad_index]);
    let out = sparling()
        .args(["score-motifs", "--input"])
        .arg(f.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("outside the map"), "{err}");
    assert!(out.stdout.is_empty());

    let f = write_jsonl(&[GOOD[0], "{\"shape\": [3, 10, 10], \"active\": "]);
    let out = sparling()
        .args(["score-motifs", "--input"])
        .arg(f.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2") && err.contains("invalid JSON"),
        "{err}"
    );

    let out = sparling()
        .args(["score-motifs", "--input", "/nonexistent/maps.jsonl"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open"));
}

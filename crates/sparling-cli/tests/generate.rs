//! `sparling generate` end to end: run the built binary, check the files it writes.

use std::path::Path;
use std::process::Command;

use sparling_domains::record::read_jsonl;
use sparling_domains::{DigitCircle, Domain, SingleDigit};

fn sparling(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sparling"))
        .args(args)
        .output()
        .expect("run sparling")
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path)
        .map(|b| b.starts_with(b"\x89PNG\r\n\x1a\n"))
        .unwrap_or(false)
}

#[test]
fn generate_digit_circle_writes_jsonl_and_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen");
    let o = sparling(&[
        "generate",
        "--domain",
        "digit-circle",
        "--count",
        "3",
        "--seed",
        "5",
        "--out",
        out.to_str().unwrap(),
        "--boxes",
    ]);
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let text = std::fs::read_to_string(out.join("samples.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 3);
    let records = read_jsonl(out.join("samples.jsonl")).unwrap();
    let domain = DigitCircle::paper();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.index, i as u64);
        assert_eq!(r.seed, 5);
        assert_eq!(r.image.len(), 100);
        assert!(
            r.image
                .iter()
                .all(|row| row.len() == 100 && row.chars().all(|c| c == '0' || c == '1'))
        );
        assert!((3..=6).contains(&r.motifs.len()));
        assert_eq!(r.tokens.len(), r.motifs.len());
        assert_eq!(r.tokens.first(), r.tokens.iter().min());
        for m in &r.motifs {
            assert_eq!(m.rows[1] - m.rows[0], 12);
            assert!(m.rows[1] <= 100 && m.cols[1] <= 100);
        }
        // the file holds exactly sample (seed, index) of the library
        assert_eq!(r.to_sample().unwrap(), domain.sample(5, i as u64));
        assert!(is_png(&out.join(format!("sample_{i:06}.png"))));
    }
    // the raw JSON has the documented field names
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    for key in ["index", "tokens", "motifs", "image"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in ["class", "rows", "cols"] {
        assert!(v["motifs"][0].get(key).is_some(), "missing motifs[].{key}");
    }
    assert!(is_png(&out.join("grid.png")));
    assert!(!out.join("sample_000003.png").exists());
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("domain.json")).unwrap()).unwrap();
    assert_eq!(meta["seed"], 5);
    assert_eq!(meta["spec"]["domain"], "digit-circle");
    assert_eq!(meta["spec"]["radius_max"], 34);
}

#[test]
fn generate_single_digit_with_config_and_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.json");
    std::fs::write(&cfg, r#"{"post_noise": 0.0, "pre_noise": 0.0}"#).unwrap();
    let out = dir.path().join("single");
    let o = sparling(&[
        "generate",
        "--domain",
        "single-digit",
        "--count",
        "2",
        "--start",
        "10",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--no-png",
    ]);
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let records = read_jsonl(out.join("samples.jsonl")).unwrap();
    assert_eq!(
        records.iter().map(|r| r.index).collect::<Vec<_>>(),
        vec![10, 11]
    );
    let quiet = SingleDigit::new(sparling_domains::SingleDigitConfig {
        pre_noise: 0.0,
        post_noise: 0.0,
        ..Default::default()
    })
    .unwrap();
    for r in &records {
        assert_eq!(r.image.len(), 32);
        assert_eq!(r.to_sample().unwrap(), quiet.sample(1, r.index));
        // noise-free: all ink lies inside the footprint
        let m = &r.motifs[0];
        for (row, line) in r.image.iter().enumerate() {
            for (col, ch) in line.chars().enumerate() {
                if ch == '1' {
                    assert!(
                        (m.rows[0]..m.rows[1]).contains(&row)
                            && (m.cols[0]..m.cols[1]).contains(&col)
                    );
                }
            }
        }
    }
    assert!(!out.join("sample_000010.png").exists());
    assert!(is_png(&out.join("grid.png")));
}

#[test]
fn generate_formula_writes_jsonl_and_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("formula");
    let o = sparling(&[
        "generate",
        "--domain",
        "formula",
        "--count",
        "2",
        "--seed",
        "4",
        "--out",
        out.to_str().unwrap(),
        "--boxes",
        "--scale",
        "2",
    ]);
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let records = read_jsonl(out.join("samples.jsonl")).unwrap();
    assert_eq!(records.len(), 2);
    let domain = sparling_domains::Formula::paper();
    for r in &records {
        assert_eq!(r.image.len(), 120);
        assert_eq!(r.to_sample().unwrap(), domain.sample(4, r.index));
        assert!(!r.motifs.is_empty() && r.motifs.iter().all(|m| m.class < 20));
        assert!(is_png(&out.join(format!("sample_{:06}.png", r.index))));
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("domain.json")).unwrap()).unwrap();
    assert_eq!(meta["spec"]["domain"], "formula");
    assert_eq!(meta["spec"]["width"], 360);
}

#[test]
fn generate_reports_impossible_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.json");
    std::fs::write(&cfg, r#"{"radius_max": 40}"#).unwrap();
    let o = sparling(&[
        "generate",
        "--count",
        "1",
        "--out",
        dir.path().join("x").to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("does not fit"), "stderr: {err}");

    std::fs::write(&cfg, r#"{"radius_maxx": 30}"#).unwrap();
    let o = sparling(&[
        "generate",
        "--count",
        "1",
        "--out",
        dir.path().join("y").to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("radius_maxx"), "stderr: {err}");
}

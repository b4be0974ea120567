//! `sparling preset`: the experiment list xtask reads, and every listed experiment's config.

use std::process::Command;

use sparling_train::config::{EXPERIMENTS, TrainConfig};

fn sparling(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sparling"))
        .args(args)
        .output()
        .expect("run sparling")
}

#[test]
fn list_prints_every_experiment_in_order_and_each_builds_a_valid_config() {
    let o = sparling(&["preset", "--list"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listed: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(listed, EXPERIMENTS);
    assert_eq!(
        listed[0], "sparling",
        "xtask relies on Sparling coming first"
    );
    for experiment in &listed {
        let o = sparling(&["preset", "--profile", "full", "--experiment", experiment]);
        assert!(
            o.status.success(),
            "{experiment}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let config = TrainConfig::from_json(&String::from_utf8(o.stdout).unwrap()).unwrap();
        config.validate().unwrap();
    }
}

#[test]
fn list_conflicts_with_an_output_file() {
    let o = sparling(&["preset", "--list", "--out", "x.json"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--out"));
}

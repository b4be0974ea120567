//! `sparling preset`: the experiment list xtask reads, and every listed experiment's config.

use std::process::Command;

use sparling_train::config::{Experiment, TrainConfig};

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
    let lines: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let want: Vec<String> = Experiment::listed()
        .into_iter()
        .map(|(name, _, description)| format!("{name}\t{description}"))
        .collect();
    assert_eq!(lines, want);
    assert!(
        lines[0].starts_with("sparling\t"),
        "xtask relies on Sparling coming first"
    );
    for line in &lines {
        let (name, description) = line.split_once('\t').unwrap();
        assert!(!description.is_empty(), "{name}");
        let mut args = vec!["preset", "--profile", "full", "--experiment", name];
        if name == "retrained" {
            args.extend(["--from", "runs/sparling-seed0/rungs/rung-32.bin"]);
        }
        let o = sparling(&args);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let config = TrainConfig::from_json(&String::from_utf8(o.stdout).unwrap()).unwrap();
        config.validate().unwrap();
    }
}

#[test]
fn any_lambda_is_an_argument_not_a_name() {
    let o = sparling(&["preset", "--experiment", "l1", "--lambda", "0.5"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config = TrainConfig::from_json(&String::from_utf8(o.stdout).unwrap()).unwrap();
    assert_eq!(
        config.bottleneck,
        sparling_train::config::BottleneckConfig::L1 { lambda: 0.5 }
    );
    for bad in [
        vec!["preset", "--experiment", "l1-0.5"],
        vec!["preset", "--experiment", "l1"],
        vec!["preset", "--experiment", "st", "--lambda", "1"],
        vec!["preset", "--experiment", "retrained"],
    ] {
        let o = sparling(&bad);
        assert!(!o.status.success(), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("experiment"),
            "{bad:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn list_conflicts_with_an_output_file() {
    let o = sparling(&["preset", "--list", "--out", "x.json"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--out"));
}

#[test]
fn the_other_domains_have_the_experiments_that_apply_on_the_default_profile() {
    let o = sparling(&["preset", "--domain", "spoken-digits"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config = TrainConfig::from_json(&String::from_utf8(o.stdout).unwrap()).unwrap();
    assert_eq!(config, TrainConfig::spoken_digits());
    // An ablation on the domain: its own preset, changed as on DigitCircle.
    let o = sparling(&["preset", "--domain", "formula", "--experiment", "mt-no-bn"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config = TrainConfig::from_json(&String::from_utf8(o.stdout).unwrap()).unwrap();
    assert_eq!(
        config,
        TrainConfig::experiment_on(TrainConfig::formula().unwrap(), &Experiment::MtNoBn).unwrap()
    );
    assert_eq!(config.domain, TrainConfig::formula().unwrap().domain);
    for (args, want) in [
        (vec!["--profile", "quick"], "the default profile only"),
        (
            vec!["--experiment", "direct"],
            "no single-motif counterpart",
        ),
    ] {
        let mut all = vec!["preset", "--domain", "spoken-digits"];
        all.extend(args);
        let o = sparling(&all);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{err}");
    }
    let o = sparling(&["preset", "--domain", "audio"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("digit-circle, spoken-digits or formula"),
        "{err}"
    );
    let o = sparling(&["preset", "--domain", "formula"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config = TrainConfig::from_json(&String::from_utf8(o.stdout).unwrap()).unwrap();
    assert_eq!(config, TrainConfig::formula().unwrap());
}

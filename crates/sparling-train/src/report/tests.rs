//! The report rendered from hand-made run directories.

use std::path::Path;

use sparling_metrics::confusion::Confusion;

use super::*;
use crate::eval::EvalResult;
use crate::run_info::{Session, record_session};

fn result(fpe: f64, fne: f64, ce: f64, e2ee: f64) -> EvalResult {
    EvalResult {
        density: 5.0226e-5,
        rung: Some(32),
        trained_samples: 248_000,
        first_sample: 0,
        samples: 10_000,
        fpe,
        fne,
        ce,
        ce_many_to_one: ce,
        e2ee,
        exact_match: 1.0 - 3.0 * e2ee,
        observed_density: 5.1e-5,
        assignment: vec![Some(0), Some(1)],
        below_min_density: false,
        confusion: Confusion::new(2, 2),
    }
}

/// A finished, evaluated run directory `root/runs/<name>`.
fn run(root: &Path, name: &str, values: [f64; 4], session: Option<Session>) {
    let dir = root.join("runs").join(name);
    std::fs::create_dir_all(dir.join("eval")).unwrap();
    let config = crate::config::TrainConfig::preset(crate::config::Profile::Default);
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    let [fpe, fne, ce, e2ee] = values;
    let headline = result(fpe, fne, ce, e2ee);
    let eval = RunEvaluation {
        seed: 0,
        min_density: 4.5e-5,
        operating_density: 5.0226e-5,
        reached_operating_point: true,
        curve: vec![headline.clone()],
        headline,
    };
    std::fs::write(
        dir.join("eval").join("eval.json"),
        serde_json::to_string(&eval).unwrap(),
    )
    .unwrap();
    let status = serde_json::json!({
        "finished": "density 3.7670e-5 fell below the target", "seed": 0, "steps": 7750,
        "samples": 248000, "density": 3.767e-5, "wall_seconds": 5444.2, "validations": 124,
    });
    std::fs::write(dir.join("status.json"), status.to_string()).unwrap();
    if let Some(s) = session {
        record_session(&dir, s).unwrap();
    }
}

fn session(revision: &str, machine: &str, threads: usize) -> Session {
    Session {
        revision: revision.into(),
        machine: machine.into(),
        logical_cpus: 2,
        threads,
        started_at_samples: 0,
        started_unix: 0,
    }
}

#[test]
fn one_seed_gets_two_sided_verdicts_and_the_seed_caveat() {
    let root = tempfile::tempdir().unwrap();
    let rev = "4bef697843d70e13ac5c1c987fcdeae4f805d2ab";
    run(
        root.path(),
        "sparling-seed0",
        [0.0001, 0.0065, 0.0004, 0.0111],
        Some(session(rev, "AMD EPYC", 2)),
    );
    let meta = serde_json::json!({"profile": "default", "command": "target/debug/xtask reproduce", "wall_seconds": 0.38});
    let md = std::fs::read_to_string(write_report(root.path(), &meta).unwrap()).unwrap();
    // The verdicts: FPE 0.01% is below the paper's interval (0.07-4.23), the rest inside.
    assert!(
        md.contains("| FPE | 0.01 | 1.48 [0.07-4.23] | below the paper's interval: better |"),
        "{md}"
    );
    assert!(md.contains("| FNE | 0.65 | 0.42 [0.25-0.67] | inside the paper's interval |"));
    assert!(md.contains("| E2EE | 1.11 | 0.74 [0.47-1.15] | inside the paper's interval |"));
    assert!(md.contains("| figure (%) | ours (seed 0) | the paper (mean of 9 seeds)"));
    assert!(md.contains(
        "Overall: **inside the paper's intervals or better on all four figures (better on FPE)**."
    ));
    assert!(md.contains("> Caveat: the paper's intervals are 95% intervals of a mean over 9 seeds; this is one run over 1 seed."));
    // The run's own machine, threads, revision and training time; nothing of the rendering call.
    assert!(
        md.contains("| sparling-seed0 | AMD EPYC (2 logical CPUs) | 2 | `4bef697843d7` | 248000 | 7750 | 90.7 |"),
        "{md}"
    );
    assert!(!md.contains("xtask") && !md.contains("0.0 min"), "{md}");
    // How the run differs from the paper, from its config.
    assert!(md.contains("## How this implementation differs from the paper"));
    assert!(md.contains("| batch | 10 | 32 |"), "{md}");
    assert!(md.contains("| bar decay | 1e-7 per sample | 1e-6 per sample |"));
    // The observed density (the fraction of nonzero map entries) beside the target.
    assert!(
        md.contains("| sparling | 1 | 5.023e-5 | 5.100e-5 | 1/1 |"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["verdict"]["figures"][0]["verdict"], "below");
    assert_eq!(json["verdict"]["figures"][3]["paper"]["upper"], 1.15);
}

#[test]
fn a_mean_above_an_interval_is_worse_and_older_runs_are_not_recorded() {
    let root = tempfile::tempdir().unwrap();
    // Seeds 0 and 1: E2EE 1.10% and 1.40%, a mean of 1.25% (above 1.15); FNE mean 0.70%.
    run(
        root.path(),
        "sparling-seed0",
        [0.01, 0.0065, 0.01, 0.0110],
        None,
    );
    run(
        root.path(),
        "sparling-seed1",
        [0.01, 0.0075, 0.01, 0.0140],
        Some(session("abc", "Xeon", 8)),
    );
    let md = std::fs::read_to_string(
        write_report(root.path(), &serde_json::json!({"profile": "default"})).unwrap(),
    )
    .unwrap();
    assert!(
        md.contains("| figure (%) | ours (mean of 2 seeds) |"),
        "{md}"
    );
    assert!(md.contains("| FNE | 0.70 | 0.42 [0.25-0.67] | above the paper's interval: worse |"));
    assert!(md.contains("Overall: **worse than the paper on FNE, E2EE (above its interval)**."));
    assert!(md.contains("this is a mean over 2 seeds."), "{md}");
    assert!(md.contains("- seed 1: FPE 1.00 (inside the paper's interval); FNE 0.75 (above"));
    assert!(md.contains("| sparling-seed0 | not recorded | not recorded | not recorded |"));
    assert!(md.contains("| sparling-seed1 | Xeon (2 logical CPUs) | 8 | `abc` |"));
    // The headline table gives the number of seeds beside the mean.
    assert!(md.contains("| sparling | 2 |"), "{md}");
}

#[test]
fn experiments_are_drawn_side_by_side_with_their_observed_density() {
    let root = tempfile::tempdir().unwrap();
    run(
        root.path(),
        "sparling-seed0",
        [0.0001, 0.0065, 0.0004, 0.0111],
        None,
    );
    // One experiment alone draws no comparison.
    let meta = serde_json::json!({"profile": "default"});
    let md = std::fs::read_to_string(write_report(root.path(), &meta).unwrap()).unwrap();
    assert!(!md.contains("experiments.png"), "{md}");
    run(root.path(), "st-seed1", [0.0, 0.0098, 0.2219, 0.0211], None);
    let md = std::fs::read_to_string(write_report(root.path(), &meta).unwrap()).unwrap();
    assert!(md.contains("## The experiments side by side"), "{md}");
    for png in ["experiments.png", "density_vs_error.png"] {
        let bytes = std::fs::read(root.path().join(png)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{png}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.path().join("report.json")).unwrap())
            .unwrap();
    let figures: Vec<&str> = json["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(figures.contains(&"experiments.png") && figures.contains(&"density_vs_error.png"));
    assert_eq!(json["headline"][1]["experiment"], "st");
    assert_eq!(json["headline"][1]["observed_density"], 5.1e-5);
}

#[test]
fn the_analyses_of_a_run_appear_beside_the_papers_numbers() {
    let root = tempfile::tempdir().unwrap();
    run(
        root.path(),
        "sparling-seed1",
        [0.0001, 0.0065, 0.0004, 0.0111],
        None,
    );
    let meta = serde_json::json!({"profile": "default"});
    let md = std::fs::read_to_string(write_report(root.path(), &meta).unwrap()).unwrap();
    assert!(!md.contains("## The paper's analyses"), "{md}");
    let dir = root.path().join("runs/sparling-seed1/analysis");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |kind: &str, v: serde_json::Value| {
        std::fs::write(dir.join(format!("{kind}.json")), v.to_string()).unwrap();
    };
    write(
        "direct",
        serde_json::json!({"error": 0.0124, "samples": 10000}),
    );
    write(
        "perturb",
        serde_json::json!({"success_rate": 0.993, "samples": 1000}),
    );
    write(
        "bits",
        serde_json::json!({"unbinned_e2ee": 0.01, "levels": [{"e2ee": 0.03}, {"e2ee": 0.0125}]}),
    );
    write(
        "theorem",
        serde_json::json!({"operating": {"motif_error": 0.02, "e2ee": 0.01, "ratio": 2.0}}),
    );
    write(
        "alpha",
        serde_json::json!({"replace": {"estimate": 1.0}, "remove": {"estimate": 1.0}}),
    );
    let md = std::fs::read_to_string(write_report(root.path(), &meta).unwrap()).unwrap();
    assert!(md.contains("## The paper's analyses"), "{md}");
    assert!(
        md.contains("| sparling-seed1 | 1.24 (10000 samples) | 99.30 (1000 samples) | 1.00 / 3.00 / 1.25 | 2.00 / 1.00 (ratio 2.00) | 1.000 / 1.000 |"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["analyses"][0]["run"], "sparling-seed1");
    assert_eq!(json["analyses"][0]["analyses"]["direct"]["error"], 0.0124);
}

#[test]
fn the_direct_baseline_appears_in_the_analyses_not_in_the_end_to_end_table() {
    let root = tempfile::tempdir().unwrap();
    run(
        root.path(),
        "sparling-seed0",
        [0.0001, 0.0065, 0.0004, 0.0111],
        None,
    );
    // A Direct-baseline run: its config (SingleDigit, motif classes) and its direct evaluation.
    let dir = root.path().join("runs/direct-seed0");
    std::fs::create_dir_all(dir.join("analysis")).unwrap();
    let config = crate::config::TrainConfig::experiment(
        crate::config::Profile::Default,
        &crate::config::Experiment::Direct,
    )
    .unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("analysis/direct.json"),
        serde_json::json!({"error": 0.0003, "samples": 10000}).to_string(),
    )
    .unwrap();
    let meta = serde_json::json!({"profile": "default"});
    let md = std::fs::read_to_string(write_report(root.path(), &meta).unwrap()).unwrap();
    // Still a DigitCircle report, with Sparling's verdicts; no end-to-end row for direct.
    assert!(md.contains("report: DigitCircle"), "{md}");
    assert!(!md.contains("| direct |"), "{md}");
    assert!(
        md.contains("| direct-seed0 | 0.03 (10000 samples) |"),
        "{md}"
    );
}

#[test]
fn a_run_on_another_domain_is_reported_for_itself_without_a_verdict() {
    let root = tempfile::tempdir().unwrap();
    run(
        root.path(),
        "sparling-seed0",
        [0.001, 0.068, 0.005, 0.097],
        None,
    );
    let quick = crate::config::TrainConfig::preset(crate::config::Profile::Quick);
    std::fs::write(
        root.path().join("runs/sparling-seed0/config.json"),
        serde_json::to_string(&quick).unwrap(),
    )
    .unwrap();
    let meta = serde_json::json!({"profile": "quick"});
    let md = std::fs::read_to_string(write_report(root.path(), &meta).unwrap()).unwrap();
    assert!(md.contains("not on the paper's DigitCircle"), "{md}");
    assert!(md.contains("| n/a (another domain) |"), "{md}");
    assert!(!md.contains("## Verdict against"), "{md}");
    assert!(!md.contains("does not match the paper"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.path().join("report.json")).unwrap())
            .unwrap();
    assert!(json["verdict"].is_null());
}

#[test]
fn a_config_written_before_domains_were_tagged_is_on_the_papers_domain() {
    let root = tempfile::tempdir().unwrap();
    run(
        root.path(),
        "sparling-seed0",
        [0.0001, 0.0065, 0.0004, 0.0111],
        None,
    );
    let path = root.path().join("runs/sparling-seed0/config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["domain"].as_object_mut().unwrap().remove("domain");
    std::fs::write(&path, config.to_string()).unwrap();
    let meta = serde_json::json!({"profile": "default"});
    let md = std::fs::read_to_string(write_report(root.path(), &meta).unwrap()).unwrap();
    assert!(md.contains("## Verdict against"), "{md}");
    assert!(!md.contains("n/a (another domain)"), "{md}");
}

#[test]
fn a_spoken_digits_run_is_set_beside_the_papers_means_with_signed_differences() {
    let root = tempfile::tempdir().unwrap();
    run(
        root.path(),
        "sparling-seed0",
        [0.0, 0.0512, 0.0300, 0.0865],
        None,
    );
    let spoken = crate::config::TrainConfig::spoken_digits();
    on_domain(root.path(), "sparling-seed0", &spoken, 10);
    let meta = serde_json::json!({"profile": "default"});
    let md = std::fs::read_to_string(write_report(root.path(), &meta).unwrap()).unwrap();
    assert!(md.starts_with("# Sparling reproduction report: spoken-digit sequences"));
    assert!(md.contains("espeak-ng voices"), "{md}");
    assert!(
        md.contains("FPE 0.00, FNE 4.46, CE 5.47, E2EE 8.65 (means, no interval printed)"),
        "{md}"
    );
    assert!(!md.contains("## Verdict against"), "{md}");
    assert!(md.contains("| FNE | 5.12 | 4.46 | 0.66 points above the paper's mean: worse |"));
    assert!(md.contains("| CE | 3.00 | 5.47 | 2.47 points below the paper's mean: better |"));
    assert!(md.contains("| E2EE | 8.65 | 8.65 | equal to the paper's mean |"));
    assert!(
        md.contains("(many to one, the paper's rule when channels outnumber classes), CE is 3.00%")
    );
    // The differences are the spoken-digit experiment's, not DigitCircle's.
    assert!(md.contains("| recordings | AudioMNIST"), "{md}");
    assert!(!md.contains("32 rungs on the paper's DigitCircle"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["verdict"]["figures"][1]["paper_mean"], 4.46);
    // Digit 3: 1 of 4 missed.
    assert!(md.contains("| `3` | 4 | 25.00 |"), "{md}");
}

/// Rewrites run `name`'s config as `config` and its headline confusion as one over
/// `classes` classes where class 3 has 4 motifs, one missed.
fn on_domain(root: &Path, name: &str, config: &crate::config::TrainConfig, classes: usize) {
    let dir = root.join("runs").join(name);
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(config).unwrap(),
    )
    .unwrap();
    let path = dir.join("eval/eval.json");
    let mut eval: RunEvaluation =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut c = Confusion::new(config.model.motif_channels, classes);
    c.record(Some(0), Some(3), 3).unwrap();
    c.record(None, Some(3), 1).unwrap();
    eval.headline.confusion = c;
    std::fs::write(&path, serde_json::to_string(&eval).unwrap()).unwrap();
}

#[test]
fn a_half_size_formula_run_is_set_beside_the_papers_means_with_many_to_one_ce() {
    let root = tempfile::tempdir().unwrap();
    run(
        root.path(),
        "sparling-seed0",
        [0.005, 0.15, 0.04, 0.01],
        None,
    );
    let path = root.path().join("runs/sparling-seed0/eval/eval.json");
    let mut eval: RunEvaluation =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    eval.headline.ce_many_to_one = 0.02;
    std::fs::write(&path, serde_json::to_string(&eval).unwrap()).unwrap();
    let formula = crate::config::TrainConfig::formula().unwrap();
    on_domain(root.path(), "sparling-seed0", &formula, 20);
    let meta = serde_json::json!({"profile": "default"});
    let md = std::fs::read_to_string(write_report(root.path(), &meta).unwrap()).unwrap();
    assert!(md.starts_with("# Sparling reproduction report: rendered formulas"));
    assert!(
        md.contains("at half the paper's resolution (60 x 180"),
        "{md}"
    );
    assert!(
        md.contains("FPE 0.53, FNE 14.20, CE 2.50, E2EE 0.98 (means, no interval printed)"),
        "{md}"
    );
    // CE is compared by the paper's many-to-one rule; the one-to-one CE is beside it.
    assert!(md.contains("| CE | 2.00 | 2.50 | 0.50 points below the paper's mean: better |"));
    assert!(
        md.contains("by the best one-to-one assignment, CE is 4.00%"),
        "{md}"
    );
    assert!(md.contains("| FNE | 15.00 | 14.20 | 0.80 points above the paper's mean: worse |"));
    assert!(md.contains("### Missed motifs by class"), "{md}");
    assert!(md.contains("| `3` | 4 | 25.00 |"), "{md}");
    assert!(!md.contains("## Verdict against"), "{md}");
}

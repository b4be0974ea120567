//! The reproduction report: merges any set of run directories (`<root>/runs/*`) into
//! `report.md`, `report.json` and PNG figures, with the paper's published numbers beside ours.
//! Every number comes from the runs' own `eval.json`, `log.jsonl` and `status.json`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sparling_metrics::bootstrap::{BootstrapConfig, Interval, bootstrap_mean_ci};
use sparling_plot::{LineChart, Marker, ReferenceLine, Scale, Series};

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::eval::RunEvaluation;
use crate::state::{ValidationRecord, write_atomic};

/// The paper's DigitCircle numbers (SPEC section 6, mean of 9 seeds, percent) for the
/// experiments we run, with the upper end of the 95% interval where the paper gives one.
pub struct PaperRow {
    /// Experiment name (as in the run directory).
    pub experiment: &'static str,
    /// What the paper reports, as text.
    pub text: &'static str,
}

/// The published figures, as text to print beside ours.
pub const PAPER: &[PaperRow] = &[
    PaperRow {
        experiment: "sparling",
        text: "FPE 1.48 [0.07-4.23], FNE 0.42 [0.25-0.67], CE 1.16 [0.03-3.39], E2EE 0.74 [0.47-1.15]",
    },
    PaperRow {
        experiment: "st",
        text: "FPE 0.00, FNE 0.98, CE 22.19, E2EE 2.11",
    },
    PaperRow {
        experiment: "mt-no-bn",
        text: "E2EE 70-74 across seeds",
    },
    PaperRow {
        experiment: "st-no-bn",
        text: "E2EE 52-66 across seeds",
    },
    PaperRow {
        experiment: "no-annealing",
        text: "E2EE 68",
    },
    PaperRow {
        experiment: "no-annealing-penultimate",
        text: "E2EE 71",
    },
    PaperRow {
        experiment: "l1-0.1",
        text: "stays dense (density 37%), FPE >= 99.9%, CE ~48-50%",
    },
    PaperRow {
        experiment: "l1-1",
        text: "stays dense (density 4.6%), FPE >= 99.9%, CE ~48-50%",
    },
    PaperRow {
        experiment: "l1-2",
        text: "density 0.021%, FPE 91.25, FNE 58.1, CE 45.7, E2EE 70.3",
    },
    PaperRow {
        experiment: "l1-5",
        text: "density 0.031%, FPE 95.99, FNE 73.1, CE 50.9, E2EE 75.0",
    },
    PaperRow {
        experiment: "l1-10",
        text: "density 0.02-0.03% but E2EE 70-75%",
    },
    PaperRow {
        experiment: "kl-0.1",
        text: "density never below 0.1%",
    },
    PaperRow {
        experiment: "kl-10",
        text: "density never below 0.1%",
    },
    PaperRow {
        experiment: "non-sparse",
        text: "E2EE about 0.23",
    },
    PaperRow {
        experiment: "retrained",
        text: "E2EE about 0.16",
    },
];

/// The targets of the reproduction (upper ends of the paper's 95% intervals), as fractions.
pub const TARGETS: [(&str, f64); 4] = [
    ("FPE", 0.042),
    ("FNE", 0.007),
    ("CE", 0.034),
    ("E2EE", 0.012),
];

/// One run found under `<root>/runs`.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// Experiment name (directory name without the `-seed<k>` suffix).
    pub experiment: String,
    /// Seed.
    pub seed: u64,
    /// The run directory.
    pub dir: PathBuf,
    /// The evaluation, if the run was evaluated.
    pub eval: Option<RunEvaluation>,
    /// The validation log.
    pub log: Vec<ValidationRecord>,
    /// `status.json` (absent while a run is unfinished).
    pub status: Option<serde_json::Value>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Run(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("reading", path, e)),
    }
}

/// Reads every run directory under `root/runs`.
pub fn collect_runs(root: &Path) -> Result<Vec<RunSummary>> {
    let runs = root.join("runs");
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&runs).map_err(|e| Error::io("listing", &runs, e))?;
    for entry in entries {
        let dir = entry.map_err(|e| Error::io("listing", &runs, e))?.path();
        let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        let Some((experiment, seed)) = name
            .rsplit_once("-seed")
            .and_then(|(e, s)| s.parse::<u64>().ok().map(|s| (e.to_string(), s)))
        else {
            continue;
        };
        let log_path = dir.join("log.jsonl");
        let mut log: Vec<ValidationRecord> = match std::fs::read_to_string(&log_path) {
            Ok(text) => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    serde_json::from_str(l)
                        .map_err(|e| Error::Run(format!("{}: {e}", log_path.display())))
                })
                .collect::<Result<Vec<_>>>()?,
            Err(_) => Vec::new(),
        };
        // Logs written before the `validated` count read it as 0: those validations all
        // scored the whole set, whose size the run's config gives.
        if log.iter().any(|r| r.validated == 0) {
            if let Some(cfg) = read_json::<TrainConfig>(&dir.join("config.json"))? {
                for r in log.iter_mut().filter(|r| r.validated == 0) {
                    r.validated = cfg.validation_samples as u64;
                }
            }
        }
        out.push(RunSummary {
            eval: read_json(&dir.join("eval").join("eval.json"))?,
            status: read_json(&dir.join("status.json"))?,
            experiment,
            seed,
            dir,
            log,
        });
    }
    out.sort_by_key(|r| (order(&r.experiment), r.seed));
    Ok(out)
}

fn order(experiment: &str) -> usize {
    PAPER
        .iter()
        .position(|p| p.experiment == experiment)
        .unwrap_or(PAPER.len())
}

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.2}", 100.0 * v)
    } else {
        "n/a".into()
    }
}

fn pct_ci(i: &Interval) -> String {
    format!("{} [{}-{}]", pct(i.mean), pct(i.lower), pct(i.upper))
}

/// Writes `report.md`, `report.json` and the figures into `root`; `meta` is the machine and
/// command description written by `cargo xtask reproduce`.
pub fn write_report(root: &Path, meta: &serde_json::Value) -> Result<PathBuf> {
    let runs = collect_runs(root)?;
    let mut md = String::new();
    let profile = meta["profile"].as_str().unwrap_or("?");
    let _ = writeln!(
        md,
        "# Sparling reproduction report: DigitCircle (`{profile}` profile)\n"
    );
    let _ = writeln!(
        md,
        "Command: `{}`  \nGit revision: `{}`{}  \nCompiler: `{}`  \nMachine: {} ({} logical CPUs), {} run(s) at a time, {} thread(s) per run  \nWall time of this invocation: {:.1} min\n",
        meta["command"].as_str().unwrap_or("?"),
        meta["git_revision"].as_str().unwrap_or("?"),
        if meta["git_dirty"].as_bool().unwrap_or(false) {
            " (with uncommitted changes)"
        } else {
            ""
        },
        meta["rustc"].as_str().unwrap_or("?"),
        meta["cpu"].as_str().unwrap_or("?"),
        meta["cpus"],
        meta["jobs"],
        meta["threads_per_run"],
        meta["wall_seconds"].as_f64().unwrap_or(f64::NAN) / 60.0,
    );
    if profile == "quick" {
        let _ = writeln!(
            md,
            "> The quick profile uses a tiny model and budget to show that the whole pipeline runs; its numbers are not meant to match the paper.\n"
        );
    }

    // --- headline table -------------------------------------------------------------------
    let _ = writeln!(md, "## Motif and end-to-end errors (%)\n");
    let _ = writeln!(
        md,
        "Evaluated at the operating density (the smallest rung of the ladder 0.5 x 0.75^k at or above the domain's minimum density), or at the run's end state when it never got there.\n"
    );
    let _ = writeln!(
        md,
        "| experiment | seeds | density | reached? | FPE | FNE | CE | E2EE | exact match | test samples | paper |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    let mut experiments: Vec<&str> = runs.iter().map(|r| r.experiment.as_str()).collect();
    experiments.dedup();
    let mut headline_json = Vec::new();
    let boot = BootstrapConfig::default();
    for exp in &experiments {
        let evals: Vec<&RunEvaluation> = runs
            .iter()
            .filter(|r| r.experiment == *exp)
            .filter_map(|r| r.eval.as_ref())
            .collect();
        if evals.is_empty() {
            let _ = writeln!(md, "| {exp} | 0 | | | not evaluated | | | | | | |");
            continue;
        }
        let metric = |f: fn(&RunEvaluation) -> f64| -> Result<Interval> {
            let v: Vec<f64> = evals.iter().map(|e| f(e)).collect();
            if v.len() == 1 {
                Ok(Interval {
                    mean: v[0],
                    lower: v[0],
                    upper: v[0],
                })
            } else {
                Ok(bootstrap_mean_ci(&v, &boot)?)
            }
        };
        let fpe = metric(|e| e.headline.fpe)?;
        let fne = metric(|e| e.headline.fne)?;
        let ce = metric(|e| e.headline.ce)?;
        let e2ee = metric(|e| e.headline.e2ee)?;
        let exact = metric(|e| e.headline.exact_match)?;
        let show = |i: &Interval| {
            if evals.len() > 1 {
                pct_ci(i)
            } else {
                pct(i.mean)
            }
        };
        let reached = evals.iter().filter(|e| e.reached_operating_point).count();
        let density = evals
            .iter()
            .map(|e| e.headline.density)
            .fold(f64::NAN, f64::min);
        let paper = PAPER
            .iter()
            .find(|p| p.experiment == *exp)
            .map(|p| p.text)
            .unwrap_or("");
        let _ = writeln!(
            md,
            "| {exp} | {} | {density:.3e} | {reached}/{} | {} | {} | {} | {} | {} | {} | {paper} |",
            evals.len(),
            evals.len(),
            show(&fpe),
            show(&fne),
            show(&ce),
            show(&e2ee),
            show(&exact),
            evals[0].headline.samples,
        );
        headline_json.push(serde_json::json!({
            "experiment": exp, "seeds": evals.len(), "reached_operating_point": reached,
            "fpe": fpe, "fne": fne, "ce": ce, "e2ee": e2ee, "exact_match": exact,
        }));
    }

    // --- verdict ---------------------------------------------------------------------------
    let sparling: Vec<&RunSummary> = runs.iter().filter(|r| r.experiment == "sparling").collect();
    let _ = writeln!(
        md,
        "\n## Verdict against the paper's 95% intervals (Sparling)\n"
    );
    for r in &sparling {
        match &r.eval {
            None => {
                let _ = writeln!(md, "- seed {}: not evaluated.", r.seed);
            }
            Some(e) => {
                let h = &e.headline;
                let values = [h.fpe, h.fne, h.ce, h.e2ee];
                let parts: Vec<String> = TARGETS
                    .iter()
                    .zip(values)
                    .map(|((name, bound), v)| {
                        format!(
                            "{name} {}% {} {}%",
                            pct(v),
                            if v <= *bound { "<=" } else { "> (MISSED)" },
                            pct(*bound)
                        )
                    })
                    .collect();
                let inside = values.iter().zip(TARGETS).all(|(v, (_, b))| *v <= b);
                let _ = writeln!(
                    md,
                    "- seed {}: {} -> **{}**{}",
                    r.seed,
                    parts.join(", "),
                    if inside {
                        "inside the paper's intervals"
                    } else {
                        "does not match the paper"
                    },
                    if e.reached_operating_point {
                        ""
                    } else {
                        " (the operating density was NOT reached; end state shown)"
                    }
                );
            }
        }
    }

    // --- curve -----------------------------------------------------------------------------
    let mut figures = Vec::new();
    if sparling
        .iter()
        .any(|r| r.eval.as_ref().is_some_and(|e| !e.curve.is_empty()))
    {
        let _ = writeln!(md, "\n## Error vs density (Sparling)\n");
        let _ = writeln!(
            md,
            "| seed | density | x min | FPE | FNE | CE | E2EE | test samples |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        let mut chart = LineChart::new("Sparling: errors vs density")
            .x_label("density (log)")
            .y_label("error (%)")
            .x_scale(Scale::Log10);
        for r in &sparling {
            let Some(e) = &r.eval else { continue };
            for c in &e.curve {
                let _ = writeln!(
                    md,
                    "| {} | {:.3e} | {:.2} | {} | {} | {} | {} | {} |",
                    r.seed,
                    c.density,
                    c.density / e.min_density,
                    pct(c.fpe),
                    pct(c.fne),
                    pct(c.ce),
                    pct(c.e2ee),
                    c.samples
                );
            }
            let pts = |f: fn(&crate::eval::EvalResult) -> f64| -> Vec<(f64, f64)> {
                e.curve.iter().map(|c| (c.density, 100.0 * f(c))).collect()
            };
            chart = chart
                .series(
                    Series::new(format!("FPE s{}", r.seed), pts(|c| c.fpe)).marker(Marker::Circle),
                )
                .series(
                    Series::new(format!("FNE s{}", r.seed), pts(|c| c.fne)).marker(Marker::Square),
                )
                .series(
                    Series::new(format!("CE s{}", r.seed), pts(|c| c.ce)).marker(Marker::Triangle),
                )
                .series(
                    Series::new(format!("E2EE s{}", r.seed), pts(|c| c.e2ee))
                        .marker(Marker::Diamond),
                );
        }
        chart
            .render(900, 560)
            .save_png(root.join("error_vs_density.png"))
            .map_err(|e| Error::Run(e.to_string()))?;
        figures.push("error_vs_density.png");
        let _ = writeln!(md, "\n![error vs density](error_vs_density.png)");
    }

    // --- training curves -------------------------------------------------------------------
    if runs.iter().any(|r| !r.log.is_empty()) {
        let mut acc = LineChart::new("Validation exact-match accuracy")
            .x_label("training samples")
            .y_label("accuracy");
        let mut dens = LineChart::new("Density")
            .x_label("training samples")
            .y_label("density (log)")
            .y_scale(Scale::Log10);
        let logged = runs.iter().filter(|r| !r.log.is_empty()).count();
        for r in &runs {
            if r.log.is_empty() {
                continue;
            }
            let name = format!("{} s{}", r.experiment, r.seed);
            acc = acc.series(Series::new(
                name.clone(),
                r.log.iter().map(|v| (v.samples as f64, v.accuracy)),
            ));
            let bar: Vec<(f64, f64)> = r
                .log
                .iter()
                .filter(|v| v.bar.is_finite())
                .map(|v| (v.samples as f64, v.bar))
                .collect();
            if logged == 1 && !bar.is_empty() {
                acc = acc.series(Series::new(format!("{name} bar"), bar).dashed(true));
            }
            dens = dens.series(Series::new(
                name,
                r.log.iter().map(|v| (v.samples as f64, v.density)),
            ));
        }
        if let Some(e) = sparling.iter().find_map(|r| r.eval.as_ref()) {
            dens = dens.reference_line(ReferenceLine::new(e.min_density, "minimum density"));
        }
        acc.render(900, 480)
            .save_png(root.join("training_accuracy.png"))
            .map_err(|e| Error::Run(e.to_string()))?;
        dens.render(900, 480)
            .save_png(root.join("training_density.png"))
            .map_err(|e| Error::Run(e.to_string()))?;
        figures.extend(["training_accuracy.png", "training_density.png"]);
        let _ = writeln!(
            md,
            "\n## Training curves\n\nValidation accuracy and density against training samples. A validation that stopped once the bar was out of reach shows the accuracy of the samples it scored (at least 50); with one run, the dashed line is the bar.\n\n![accuracy](training_accuracy.png)\n\n![density](training_density.png)"
        );
    }

    // --- pictures of the first evaluated Sparling run ----------------------------------------
    if let Some(r) = sparling.iter().find(|r| r.eval.is_some()) {
        for name in ["motifs.png", "confusion.png"] {
            let src = r.dir.join("eval").join(name);
            if src.exists() {
                std::fs::copy(&src, root.join(name)).map_err(|e| Error::io("copying", &src, e))?;
                figures.push(name);
            }
        }
        let _ = writeln!(
            md,
            "\n## Motif maps (Sparling, seed {})\n\nTest inputs with the Sparse layer's surviving activations (one colour per channel) and the ground-truth footprints outlined:\n\n![motifs](motifs.png)\n\nConfusion (channels x digits, optimal permutation applied):\n\n![confusion](confusion.png)",
            r.seed
        );
    }

    // --- runs ------------------------------------------------------------------------------
    let _ = writeln!(
        md,
        "\n## Runs\n\n| run | samples | steps | wall time (min) | samples/s | ended |\n|---|---|---|---|---|---|"
    );
    for r in &runs {
        // A finished run has `status.json`; an interrupted one is described by its last
        // validation (what its checkpoint holds).
        let (samples, steps, wall, ended) = match (r.status.as_ref(), r.log.last()) {
            (Some(s), _) => (
                s["samples"].as_u64().unwrap_or(0),
                s["steps"].as_u64().unwrap_or(0),
                s["wall_seconds"].as_f64().unwrap_or(f64::NAN),
                s["finished"].as_str().unwrap_or("finished").to_string(),
            ),
            (None, Some(v)) => (
                v.samples,
                v.step,
                v.wall_seconds,
                "interrupted (to the last validation)".to_string(),
            ),
            (None, None) => (0, 0, f64::NAN, "not started".to_string()),
        };
        let _ = writeln!(
            md,
            "| {}-seed{} | {samples} | {steps} | {:.1} | {:.1} | {ended} |",
            r.experiment,
            r.seed,
            wall / 60.0,
            samples as f64 / wall,
        );
    }

    let report_md = root.join("report.md");
    write_atomic(&report_md, md.as_bytes())?;
    let json = serde_json::json!({
        "meta": meta,
        "headline": headline_json,
        "runs": runs,
        "figures": figures,
    });
    write_atomic(
        &root.join("report.json"),
        serde_json::to_string_pretty(&json)
            .map_err(|e| Error::Run(e.to_string()))?
            .as_bytes(),
    )?;
    Ok(report_md)
}

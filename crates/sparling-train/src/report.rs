//! The reproduction report: merges any set of run directories (`<root>/runs/*`) into
//! `report.md`, `report.json` and PNG figures, with the paper's published numbers beside ours
//! ([`paper`]), two-sided verdicts against its intervals, and how this implementation differs
//! from the paper ([`differences`]). Every number comes from the runs' own `config.json`,
//! `eval/eval.json`, `log.jsonl`, `status.json` and `run-info.json`, never from the call that
//! renders the report, so a report can be re-rendered anywhere, any time.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sparling_domains::{DigitCircleConfig, DomainSpec, FormulaConfig, SpokenDigitsConfig};
use sparling_metrics::bootstrap::{BootstrapConfig, Interval, bootstrap_mean_ci};

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::eval::RunEvaluation;
use crate::run_info::{RunInfo, read_run_info};
use crate::state::{ValidationRecord, write_atomic};

pub mod analyses;
pub mod differences;
pub mod figures;
mod means;
pub mod paper;

pub use paper::{
    PAPER_FORMULA, PAPER_SEEDS, PAPER_SPARLING, PAPER_SPOKEN_DIGITS, PAPER_TEXT, PaperDomain,
    PaperFigure, PaperMeans, Verdict, verdict,
};

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
    /// `config.json`, as written (absent if the run directory has none).
    pub config: Option<serde_json::Value>,
    /// `run-info.json`: where and with what the run trained (absent for runs trained before
    /// it was recorded).
    pub info: Option<RunInfo>,
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
            config: read_json(&dir.join("config.json"))?,
            info: read_run_info(&dir)?,
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
    PAPER_TEXT
        .iter()
        .position(|(e, _)| *e == experiment)
        .unwrap_or(PAPER_TEXT.len())
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

/// Writes `report.md`, `report.json` and the figures into `root`. `meta` names the profile
/// (`{"profile": "default", ...}`, from `cargo xtask reproduce`) and is kept in `report.json`;
/// the report itself describes each run from the run's own files.
pub fn write_report(root: &Path, meta: &serde_json::Value) -> Result<PathBuf> {
    let all_runs = collect_runs(root)?;
    // The Direct baseline trains g alone on single motifs: it has no end-to-end numbers and
    // appears in the analyses (its direct evaluation) and the table of runs only.
    let runs: Vec<RunSummary> = all_runs
        .iter()
        .filter(|r| trains_sequence(r))
        .cloned()
        .collect();
    let mut md = String::new();
    let profile = meta["profile"].as_str().unwrap_or("merge");
    let domain = report_domain(&runs);
    let title = match domain {
        PaperDomain::DigitCircle => "DigitCircle".to_string(),
        PaperDomain::SpokenDigits => "spoken-digit sequences".to_string(),
        PaperDomain::Formula => "rendered formulas".to_string(),
        PaperDomain::Other => {
            let mut names: Vec<&str> = runs.iter().map(|r| run_domain(r).name()).collect();
            names.dedup();
            names.join(", ")
        }
    };
    let _ = writeln!(
        md,
        "# Sparling reproduction report: {title} (`{profile}` profile)\n\nEvery number below is read from the run directories under `runs/`: where each run trained (machine, threads, source revision) and for how long are in the table \"Runs\" at the end.\n"
    );
    // The paper's figures are for its own configurations; a run on another one (the quick
    // profile's smaller DigitCircle) is reported for itself, never against them.
    match domain {
        PaperDomain::Other if runs.iter().all(|r| run_domain(r).name() == "digit-circle") => {
            let _ = writeln!(
                md,
                "> These runs are not on the paper's DigitCircle (100 x 100 images, 3-6 digits): the quick profile trains a small model on 48 x 48 images with 2-3 digits, annealed to that domain's own minimum density, in minutes. Low FPE and CE there say the same thing as in the paper: the surviving activations sit on the digits and each channel fires on one digit. The paper's intervals are for its domain, so no verdict against them is drawn.\n"
            );
        }
        PaperDomain::Other => {
            let _ = writeln!(
                md,
                "> These runs are not on one of the paper's configurations, so they are reported for themselves, without the paper's figures.\n"
            );
        }
        PaperDomain::SpokenDigits => {
            let _ = writeln!(
                md,
                "> The paper's spoken digits are AudioMNIST recordings of 60 people; ours are said by 60 synthetic espeak-ng voices (no download is possible here), 9 of them held out for testing as in the paper. The test samples below are all spoken by the held-out voices. The paper prints means over {PAPER_SEEDS} seeds without intervals for this domain, so ours are set beside those means as signed differences, not verdicts.\n"
            );
        }
        PaperDomain::Formula => {
            let half = runs.iter().any(|r| {
                matches!(run_domain(r), DomainSpec::Formula(f) if f != FormulaConfig::default())
            });
            let _ = writeln!(
                md,
                "> The paper's formulas are typeset by pdflatex in Computer Modern at 120 x 360; ours are laid out by this project's own engine with Latin Modern glyphs{}. The paper prints means over {PAPER_SEEDS} seeds without intervals for this domain, so ours are set beside those means as signed differences, not verdicts. CE maps each channel to the class it meets most often (many to one), the paper's rule for this domain's 32 channels and 20 classes.\n",
                if half {
                    ", at half the paper's resolution (60 x 180, half-scale glyphs) so that a run fits in hours on 2 cores"
                } else {
                    ""
                }
            );
        }
        PaperDomain::DigitCircle => {}
    }
    let headline_json = headline_table(&mut md, &runs, domain)?;
    let sparling: Vec<&RunSummary> = runs.iter().filter(|r| r.experiment == "sparling").collect();
    let verdict_json = match (domain, domain.means()) {
        (PaperDomain::DigitCircle, _) => verdict_section(&mut md, &sparling),
        (_, Some(means)) => {
            let json = means::means_section(&mut md, &sparling, means);
            means::missed_by_class_section(&mut md, &sparling)?;
            json
        }
        (_, None) => serde_json::Value::Null,
    };
    let configs: Vec<(String, &serde_json::Value)> = sparling
        .iter()
        .filter_map(|r| {
            let name = format!("runs/{}-seed{}", r.experiment, r.seed);
            r.config.as_ref().map(|c| (name, c))
        })
        .collect();
    if !configs.is_empty() {
        let _ = writeln!(md, "\n{}", differences::differences_markdown(&configs));
    }
    let mut figures = Vec::new();
    figures::curve_section(
        &mut md,
        root,
        &sparling,
        domain == PaperDomain::DigitCircle,
        &mut figures,
    )?;
    figures::experiments_section(&mut md, root, &runs, &mut figures)?;
    figures::training_section(&mut md, root, &runs, &sparling, &mut figures)?;
    figures::pictures_section(&mut md, root, &sparling, &mut figures)?;
    let analyses_json = analyses::analyses_section(&mut md, &all_runs)?;
    runs_table(&mut md, &all_runs);

    let report_md = root.join("report.md");
    write_atomic(&report_md, md.as_bytes())?;
    let json = serde_json::json!({
        "meta": meta,
        "headline": headline_json,
        "verdict": verdict_json,
        "runs": all_runs,
        "figures": figures,
        "analyses": analyses_json,
    });
    write_atomic(
        &root.join("report.json"),
        serde_json::to_string_pretty(&json)
            .map_err(|e| Error::Run(e.to_string()))?
            .as_bytes(),
    )?;
    Ok(report_md)
}

/// A run's `config.json` read as `sparling train` reads it (None when absent or unreadable).
fn run_config(run: &RunSummary) -> Option<TrainConfig> {
    run.config
        .as_ref()
        .and_then(|c| TrainConfig::from_json(&c.to_string()).ok())
}

/// The domain a run trained on (older, untagged configs are on the paper's DigitCircle, as is
/// a run without a readable `config.json`).
fn run_domain(run: &RunSummary) -> DomainSpec {
    run_config(run).map_or_else(
        || DomainSpec::DigitCircle(DigitCircleConfig::default()),
        |c| c.domain,
    )
}

/// Whether a run trained the sequence task (every run but the Direct baseline; a run without a
/// readable config counts as one).
fn trains_sequence(run: &RunSummary) -> bool {
    run_config(run).is_none_or(|c| c.objective.is_sequence())
}

/// The paper's setup all of `runs` are on, or [`PaperDomain::Other`].
fn report_domain(runs: &[RunSummary]) -> PaperDomain {
    let all = |spec: DomainSpec| runs.iter().all(|r| run_domain(r) == spec);
    if all(DomainSpec::DigitCircle(DigitCircleConfig::default())) {
        PaperDomain::DigitCircle
    } else if all(DomainSpec::SpokenDigits(SpokenDigitsConfig::default())) {
        PaperDomain::SpokenDigits
    } else if runs
        .iter()
        .all(|r| matches!(run_domain(r), DomainSpec::Formula(_)))
    {
        PaperDomain::Formula
    } else {
        PaperDomain::Other
    }
}

/// The table of every experiment's errors at the operating density (mean and bootstrap
/// interval over seeds, with the number of seeds); returns its JSON.
fn headline_table(
    md: &mut String,
    runs: &[RunSummary],
    domain: PaperDomain,
) -> Result<Vec<serde_json::Value>> {
    let _ = writeln!(md, "## Motif and end-to-end errors (%)\n");
    let _ = writeln!(
        md,
        "Evaluated at the operating density (the smallest rung of the ladder 0.5 x 0.75^k at or above the domain's minimum density), or at the run's end state when it never got there. With several seeds: the mean over seeds [bootstrap 95% interval]. The paper's figures are means over {PAPER_SEEDS} seeds [95% interval].\n"
    );
    let _ = writeln!(
        md,
        "| experiment | seeds | density | observed density | reached? | FPE | FNE | CE | E2EE | exact match | test samples | the paper ({PAPER_SEEDS} seeds) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|");
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
            let _ = writeln!(md, "| {exp} | 0 | | | | not evaluated | | | | | | |");
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
        // The fraction of nonzero map entries on the test samples (mean over seeds): for a
        // bottleneck without a density target (L1, KL) the only density there is.
        let observed = evals
            .iter()
            .map(|e| e.headline.observed_density)
            .sum::<f64>()
            / evals.len() as f64;
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
        let paper = match domain {
            PaperDomain::DigitCircle => PAPER_TEXT
                .iter()
                .find(|(e, _)| e == exp)
                .map(|(_, t)| t.to_string())
                .unwrap_or_default(),
            PaperDomain::SpokenDigits | PaperDomain::Formula => match domain.means() {
                Some(means) if *exp == "sparling" => {
                    let parts: Vec<String> = means
                        .figures
                        .iter()
                        .map(|(name, mean)| format!("{name} {mean:.2}"))
                        .collect();
                    format!("{} (means, no interval printed)", parts.join(", "))
                }
                _ => String::new(),
            },
            PaperDomain::Other => "n/a (another domain)".to_string(),
        };
        let _ = writeln!(
            md,
            "| {exp} | {} | {density:.3e} | {observed:.3e} | {reached}/{} | {} | {} | {} | {} | {} | {} | {paper} |",
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
            "observed_density": observed,
            "fpe": fpe, "fne": fne, "ce": ce, "e2ee": e2ee, "exact_match": exact,
        }));
    }
    Ok(headline_json)
}

/// The two-sided verdict of Sparling's mean over seeds against the paper's intervals, the
/// caveat on the number of seeds, and one line per seed; returns its JSON.
fn verdict_section(md: &mut String, sparling: &[&RunSummary]) -> serde_json::Value {
    let _ = writeln!(
        md,
        "\n## Verdict against the paper's 95% intervals (Sparling)\n"
    );
    let Some(evals) = evaluated(md, sparling) else {
        return serde_json::Value::Null;
    };
    let n = evals.len();
    let values = |e: &RunEvaluation| {
        [
            e.headline.fpe,
            e.headline.fne,
            e.headline.ce,
            e.headline.e2ee,
        ]
    };
    let mut means = [0.0f64; 4];
    for (_, e) in &evals {
        for (m, v) in means.iter_mut().zip(values(e)) {
            *m += v / n as f64;
        }
    }
    let verdicts: Vec<Verdict> = PAPER_SPARLING
        .iter()
        .zip(means)
        .map(|(f, m)| verdict(m, f))
        .collect();
    if let Some(caveat) = paper::seed_caveat(n) {
        let _ = writeln!(md, "> {caveat}\n");
    }
    let ours = if n == 1 {
        format!("ours (seed {})", evals[0].0)
    } else {
        format!("ours (mean of {n} seeds)")
    };
    let _ = writeln!(
        md,
        "| figure (%) | {ours} | the paper (mean of {PAPER_SEEDS} seeds) [95% interval] | verdict |\n|---|---|---|---|"
    );
    for ((f, m), v) in PAPER_SPARLING.iter().zip(means).zip(&verdicts) {
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} [{:.2}-{:.2}] | {} |",
            f.name,
            pct(m),
            f.mean,
            f.lower,
            f.upper,
            v.text()
        );
    }
    let names = |want: Verdict| -> Vec<&str> {
        PAPER_SPARLING
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| **v == want)
            .map(|(f, _)| f.name)
            .collect()
    };
    let (above, below) = (names(Verdict::Above), names(Verdict::Below));
    let overall = if !above.is_empty() {
        format!(
            "worse than the paper on {} (above its interval)",
            above.join(", ")
        )
    } else if !below.is_empty() {
        format!(
            "inside the paper's intervals or better on all four figures (better on {})",
            below.join(", ")
        )
    } else {
        "inside the paper's intervals on all four figures".to_string()
    };
    let _ = writeln!(md, "\nOverall: **{overall}**.");
    unreached_note(md, &evals);
    if n > 1 {
        let _ = writeln!(md, "\nPer seed:\n");
        for (seed, e) in &evals {
            let parts: Vec<String> = PAPER_SPARLING
                .iter()
                .zip(values(e))
                .map(|(f, v)| format!("{} {} ({})", f.name, pct(v), verdict(v, f).text()))
                .collect();
            let _ = writeln!(md, "- seed {seed}: {}", parts.join("; "));
        }
    }
    serde_json::json!({
        "seeds": n,
        "paper_seeds": PAPER_SEEDS,
        "figures": PAPER_SPARLING.iter().zip(means).zip(&verdicts).map(|((f, m), v)| {
            serde_json::json!({"name": f.name, "ours": m, "paper": f, "verdict": v})
        }).collect::<Vec<_>>(),
    })
}

/// The evaluated Sparling runs as `(seed, evaluation)`; None (after saying so in `md`) when
/// none has been evaluated.
fn evaluated<'a>(
    md: &mut String,
    sparling: &[&'a RunSummary],
) -> Option<Vec<(u64, &'a RunEvaluation)>> {
    let evals: Vec<(u64, &RunEvaluation)> = sparling
        .iter()
        .filter_map(|r| r.eval.as_ref().map(|e| (r.seed, e)))
        .collect();
    if evals.is_empty() {
        let _ = writeln!(md, "No Sparling run has been evaluated yet.");
        return None;
    }
    Some(evals)
}

/// Names the seeds of `evals` that never reached the operating density.
fn unreached_note(md: &mut String, evals: &[(u64, &RunEvaluation)]) {
    let unreached: Vec<String> = evals
        .iter()
        .filter(|(_, e)| !e.reached_operating_point)
        .map(|(s, _)| s.to_string())
        .collect();
    if !unreached.is_empty() {
        let _ = writeln!(
            md,
            "\nSeed(s) {} did NOT reach the operating density: their end state is scored instead.",
            unreached.join(", ")
        );
    }
}

/// "a, b" of the distinct values of a run's sessions, or "not recorded".
fn sessions(info: Option<&RunInfo>, f: impl Fn(&crate::run_info::Session) -> String) -> String {
    match info {
        Some(i) if !i.sessions.is_empty() => i.distinct(f).join("; "),
        _ => "not recorded".to_string(),
    }
}

/// The table of runs: where each trained (from `run-info.json`), how far and for how long
/// (from `status.json`, or the last validation of an unfinished run).
fn runs_table(md: &mut String, runs: &[RunSummary]) {
    let _ = writeln!(
        md,
        "\n## Runs\n\nTraining time is the run's own (summed over its sessions when it was resumed), from its `status.json`; machine, threads and revision are recorded by `sparling train` in `run-info.json` (\"not recorded\" for runs trained before it did).\n\n| run | machine | threads | revision | samples | steps | training time (min) | samples/s | ended |\n|---|---|---|---|---|---|---|---|---|"
    );
    for r in runs {
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
        let info = r.info.as_ref();
        let _ = writeln!(
            md,
            "| {}-seed{} | {} | {} | {} | {samples} | {steps} | {:.1} | {:.1} | {ended} |",
            r.experiment,
            r.seed,
            sessions(info, |s| format!(
                "{} ({} logical CPUs)",
                s.machine, s.logical_cpus
            )),
            sessions(info, |s| s.threads.to_string()),
            sessions(info, |s| {
                format!("`{}`", s.revision.chars().take(12).collect::<String>())
            }),
            wall / 60.0,
            samples as f64 / wall,
        );
    }
}

#[cfg(test)]
mod tests;

//! The report's section on the paper's analyses: what `sparling analyze` wrote into each
//! run's `analysis/` directory (direct evaluation, perturbation, bits per activation, the
//! theorem's motif error, alpha), beside the paper's DigitCircle numbers.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::{RunSummary, pct};
use crate::error::{Error, Result};

/// The analyses a run's `analysis/` directory can hold, in the order the section shows them.
const KINDS: [&str; 5] = ["direct", "perturb", "bits", "theorem", "alpha"];

/// Reads `dir/analysis/<kind>.json` (None when absent).
fn read(dir: &Path, kind: &str) -> Result<Option<Value>> {
    let path = dir.join("analysis").join(format!("{kind}.json"));
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Run(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("reading", &path, e)),
    }
}

/// A fraction as a percentage, or "n/a" when the field is missing.
fn pct_of(v: &Value) -> String {
    v.as_f64().map_or_else(|| "n/a".into(), pct)
}

/// Appends the section when any run has an analysis; returns the analyses' JSON per run.
pub(super) fn analyses_section(md: &mut String, runs: &[RunSummary]) -> Result<Vec<Value>> {
    let mut rows = Vec::new();
    for r in runs {
        let mut found = serde_json::Map::new();
        for kind in KINDS {
            if let Some(v) = read(&r.dir, kind)? {
                found.insert(kind.to_string(), v);
            }
        }
        if !found.is_empty() {
            rows.push((format!("{}-seed{}", r.experiment, r.seed), found));
        }
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let _ = writeln!(
        md,
        "\n## The paper's analyses\n\nWritten by `sparling analyze` into each run's `analysis/` (see docs/analyses.md); each fits what it needs on samples disjoint from the ones it scores. Errors in %.\n\n| run | direct error | perturbation success | E2EE unbinned / 2 / 4 / 8 / 16 levels | E_m / E2EE at the operating rung | alpha (replace / remove) |\n|---|---|---|---|---|---|\n| the paper (DigitCircle) | 1.24 (Direct baseline: 0.01) | 99.3 | about +2 points with 2 levels, < 0.25 with 8, about 0 with 16 | E_m < k x E2EE | |"
    );
    let mut json = Vec::new();
    for (name, a) in &rows {
        let direct = a.get("direct").map_or(String::new(), |d| {
            format!("{} ({} samples)", pct_of(&d["error"]), d["samples"])
        });
        let perturb = a.get("perturb").map_or(String::new(), |p| {
            format!("{} ({} samples)", pct_of(&p["success_rate"]), p["samples"])
        });
        let bits = a.get("bits").map_or(String::new(), |b| {
            let mut parts = vec![pct_of(&b["unbinned_e2ee"])];
            if let Some(levels) = b["levels"].as_array() {
                parts.extend(levels.iter().map(|l| pct_of(&l["e2ee"])));
            }
            parts.join(" / ")
        });
        let theorem = a.get("theorem").map_or(String::new(), |t| {
            let op = &t["operating"];
            if op.is_null() {
                "no snapshot of the operating rung".into()
            } else {
                format!(
                    "{} / {} (ratio {})",
                    pct_of(&op["motif_error"]),
                    pct_of(&op["e2ee"]),
                    op["ratio"]
                        .as_f64()
                        .map_or_else(|| "undefined".into(), |x| format!("{x:.2}"))
                )
            }
        });
        let alpha = a.get("alpha").map_or(String::new(), |al| {
            let est = |v: &Value| {
                v.as_f64()
                    .map_or_else(|| "n/a".into(), |x| format!("{x:.3}"))
            };
            format!(
                "{} / {}",
                est(&al["replace"]["estimate"]),
                est(&al["remove"]["estimate"])
            )
        });
        let _ = writeln!(
            md,
            "| {name} | {direct} | {perturb} | {bits} | {theorem} | {alpha} |"
        );
        json.push(serde_json::json!({"run": name, "analyses": a}));
    }
    Ok(json)
}

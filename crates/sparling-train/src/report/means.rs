//! The report's sections for the paper's domains that it prints only means for (the spoken
//! digits, the formulas): our figures beside those means, and the motifs missed by class.

use std::fmt::Write as _;

use super::paper::{self, PAPER_SEEDS, PaperMeans};
use super::{RunSummary, evaluated, pct, run_domain, unreached_note};
use crate::error::{Error, Result};

/// Sparling's mean over seeds beside the paper's `means` (a domain the paper prints no
/// interval for): the signed difference of each figure, CE by the paper's rule for the domain
/// and the other rule beside it; returns its JSON.
pub(super) fn means_section(
    md: &mut String,
    sparling: &[&RunSummary],
    means: &PaperMeans,
) -> serde_json::Value {
    let _ = writeln!(md, "\n## Against the paper's means (Sparling)\n");
    let Some(evals) = evaluated(md, sparling) else {
        return serde_json::Value::Null;
    };
    let n = evals.len();
    // [FPE, FNE, CE by the paper's rule, E2EE, CE by the other rule], mean over seeds.
    let mut ours = [0.0f64; 5];
    for (_, e) in &evals {
        let h = &e.headline;
        let (ce, other) = if means.ce_many_to_one {
            (h.ce_many_to_one, h.ce)
        } else {
            (h.ce, h.ce_many_to_one)
        };
        for (m, v) in ours.iter_mut().zip([h.fpe, h.fne, ce, h.e2ee, other]) {
            *m += v / n as f64;
        }
    }
    let who = if n == 1 {
        format!("ours (seed {})", evals[0].0)
    } else {
        format!("ours (mean of {n} seeds)")
    };
    let _ = writeln!(
        md,
        "{} seed{} against the paper's mean of {PAPER_SEEDS}: a single run varies more than a {PAPER_SEEDS}-seed mean, and without the paper's interval the difference says where our number falls, not that the methods differ or agree.\n",
        n,
        if n == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        md,
        "| figure (%) | {who} | the paper (mean of {PAPER_SEEDS} seeds) | difference |\n|---|---|---|---|"
    );
    for ((name, paper), m) in means.figures.iter().zip(ours) {
        let _ = writeln!(
            md,
            "| {name} | {} | {paper:.2} | {} |",
            pct(m),
            paper::against_mean(m, *paper)
        );
    }
    let (rule, other_rule) = if means.ce_many_to_one {
        (
            "maps each channel to the class it meets most often (many to one, the paper's rule here)",
            "by the best one-to-one assignment",
        )
    } else {
        (
            "assigns channels to classes one to one (the Hungarian assignment)",
            "with each channel mapped to the class it meets most often instead (many to one, the paper's rule when channels outnumber classes)",
        )
    };
    let _ = writeln!(
        md,
        "\nCE above {rule}; {other_rule}, CE is {}%.",
        pct(ours[4])
    );
    unreached_note(md, &evals);
    serde_json::json!({
        "seeds": n,
        "paper_seeds": PAPER_SEEDS,
        "ce_many_to_one": means.ce_many_to_one,
        "ce_other_rule": ours[4],
        "figures": means.figures.iter().zip(ours).map(|((name, paper), m)| {
            serde_json::json!({"name": name, "ours": m, "paper_mean": paper})
        }).collect::<Vec<_>>(),
    })
}

/// Per class, how many of the Sparling runs' true motifs no channel found (FNE by class, summed
/// over seeds): on the formulas this is where the paper's high FNE comes from (fraction bars
/// and brackets, which h does not need localised).
pub(super) fn missed_by_class_section(md: &mut String, sparling: &[&RunSummary]) -> Result<()> {
    let Some(first) = sparling.iter().find(|r| r.eval.is_some()) else {
        return Ok(());
    };
    let domain = run_domain(first)
        .build()
        .map_err(|e| Error::Run(e.to_string()))?;
    let names = domain.class_names();
    let classes = names.len();
    let mut found = vec![0u64; classes];
    let mut missed = vec![0u64; classes];
    for r in sparling {
        let Some(e) = &r.eval else { continue };
        let c = &e.headline.confusion;
        if c.classes() != classes {
            return Err(Error::Run(format!(
                "{}: {} classes in eval.json, the domain has {classes}",
                r.dir.display(),
                c.classes()
            )));
        }
        for k in 0..classes {
            missed[k] += c.count(None, Some(k));
            found[k] += (0..c.channels())
                .map(|ch| c.count(Some(ch), Some(k)))
                .sum::<u64>();
        }
    }
    let _ = writeln!(
        md,
        "\n### Missed motifs by class (Sparling, operating density)\n\n| class | true motifs | missed (%) |\n|---|---|---|"
    );
    for k in 0..classes {
        let total = found[k] + missed[k];
        let symbol = &names[k];
        let share = if total > 0 {
            pct(missed[k] as f64 / total as f64)
        } else {
            "n/a".into()
        };
        let _ = writeln!(md, "| `{symbol}` | {total} | {share} |");
    }
    Ok(())
}

//! The report's figures and the sections that show them: error vs density, the training
//! curves, and the motif pictures of the first evaluated Sparling run.

use std::fmt::Write as _;
use std::path::Path;

use sparling_plot::{LineChart, Marker, ReferenceLine, Scale, Series};

use super::{RunSummary, pct};
use crate::error::{Error, Result};
use crate::eval::EvalResult;

/// The error-vs-density table and figure of the Sparling runs.
pub(super) fn curve_section(
    md: &mut String,
    root: &Path,
    sparling: &[&RunSummary],
    figures: &mut Vec<&'static str>,
) -> Result<()> {
    if !sparling
        .iter()
        .any(|r| r.eval.as_ref().is_some_and(|e| !e.curve.is_empty()))
    {
        return Ok(());
    }
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
    for r in sparling {
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
        let pts = |f: fn(&EvalResult) -> f64| -> Vec<(f64, f64)> {
            e.curve.iter().map(|c| (c.density, 100.0 * f(c))).collect()
        };
        chart = chart
            .series(Series::new(format!("FPE s{}", r.seed), pts(|c| c.fpe)).marker(Marker::Circle))
            .series(Series::new(format!("FNE s{}", r.seed), pts(|c| c.fne)).marker(Marker::Square))
            .series(Series::new(format!("CE s{}", r.seed), pts(|c| c.ce)).marker(Marker::Triangle))
            .series(
                Series::new(format!("E2EE s{}", r.seed), pts(|c| c.e2ee)).marker(Marker::Diamond),
            );
    }
    chart
        .render(900, 560)
        .save_png(root.join("error_vs_density.png"))
        .map_err(|e| Error::Run(e.to_string()))?;
    figures.push("error_vs_density.png");
    let _ = writeln!(md, "\n![error vs density](error_vs_density.png)");
    Ok(())
}

/// Validation accuracy and density against training samples, for every run with a log.
pub(super) fn training_section(
    md: &mut String,
    root: &Path,
    runs: &[RunSummary],
    sparling: &[&RunSummary],
    figures: &mut Vec<&'static str>,
) -> Result<()> {
    if runs.iter().all(|r| r.log.is_empty()) {
        return Ok(());
    }
    let mut acc = LineChart::new("Validation exact-match accuracy")
        .x_label("training samples")
        .y_label("accuracy");
    let mut dens = LineChart::new("Density")
        .x_label("training samples")
        .y_label("density (log)")
        .y_scale(Scale::Log10);
    let logged = runs.iter().filter(|r| !r.log.is_empty()).count();
    for r in runs {
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
    Ok(())
}

/// The motif overlay and the confusion matrix of the first evaluated Sparling run (copied
/// from its `eval/`).
pub(super) fn pictures_section(
    md: &mut String,
    root: &Path,
    sparling: &[&RunSummary],
    figures: &mut Vec<&'static str>,
) -> Result<()> {
    let Some(r) = sparling.iter().find(|r| r.eval.is_some()) else {
        return Ok(());
    };
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
    Ok(())
}

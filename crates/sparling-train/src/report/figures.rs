//! The report's figures and the sections that show them: error vs density, the experiments
//! side by side, the training curves, and the motif pictures of the first evaluated Sparling
//! run.

use std::fmt::Write as _;
use std::path::Path;

use sparling_plot::{Heatmap, LineChart, Marker, ReferenceLine, Scale, Series};

use super::{PAPER_SEEDS, PAPER_SPARLING, RunSummary, pct};
use crate::error::{Error, Result};
use crate::eval::{EvalResult, write_confusion_png};

/// The paper's operating density for DigitCircle (0.5 x 0.75^32).
const PAPER_DENSITY: f64 = 5.0226e-5;

/// Errors below this (in percent) are drawn at it on the log axis.
const FLOOR: f64 = 0.01;

/// One metric of the curve: its name, its value in an evaluation, its marker.
type Metric = (&'static str, fn(&EvalResult) -> f64, Marker);

/// The metrics of the curve.
const METRICS: [Metric; 4] = [
    ("FPE", |c| c.fpe, Marker::Circle),
    ("FNE", |c| c.fne, Marker::Square),
    ("CE", |c| c.ce, Marker::Triangle),
    ("E2EE", |c| c.e2ee, Marker::Diamond),
];

/// Errors (%) against density, both on log axes fitted to the data: one line per metric (and
/// seed), and the paper's values at its operating density (mean marker and interval bar per
/// metric, side by side just left of it) in the metric's colour when `with_paper` (runs on the
/// paper's domain).
pub(super) fn error_vs_density_chart(sparling: &[&RunSummary], with_paper: bool) -> LineChart {
    let mut chart =
        LineChart::new("Sparling on DigitCircle: motif and end-to-end errors vs density")
            .x_label("density of the motif map (log)")
            .y_label("error (%, log)")
            .x_scale(Scale::Log10)
            .y_scale(Scale::Log10)
            .y_range(FLOOR, 100.0)
            .font_scale(2);
    let several = sparling.iter().filter(|r| r.eval.is_some()).count() > 1;
    for r in sparling {
        let Some(e) = &r.eval else { continue };
        for (m, (name, f, marker)) in METRICS.iter().enumerate() {
            let pts: Vec<(f64, f64)> = e
                .curve
                .iter()
                .map(|c| (c.density, (100.0 * f(c)).max(FLOOR)))
                .collect();
            let label = if several {
                format!("{name}, seed {}", r.seed)
            } else {
                format!("{name} (ours)")
            };
            chart = chart.series(
                Series::new(label, pts)
                    .marker(*marker)
                    .color(sparling_plot::palette(m))
                    .thickness(2),
            );
        }
    }
    if !with_paper {
        return chart;
    }
    for (m, paper) in PAPER_SPARLING.iter().enumerate() {
        let x = PAPER_DENSITY * 0.93f64.powi(m as i32 + 1);
        let colour = sparling_plot::palette(m);
        chart = chart
            .series(
                Series::new("", [(x, paper.lower), (x, paper.upper)])
                    .color(colour)
                    .marker(Marker::Plus)
                    .thickness(2),
            )
            .series(
                Series::new("", [(x, paper.mean)])
                    .color(colour)
                    .marker(Marker::Cross),
            );
    }
    // A legend entry for the paper's marks (no point of its own).
    chart.series(
        Series::new(
            format!("paper: {PAPER_SEEDS}-seed mean, 95% CI"),
            [(f64::NAN, f64::NAN)],
        )
        .color(sparling_plot::Color::rgb(60, 60, 60))
        .marker(Marker::Cross),
    )
}

/// The error-vs-density table and figure of the Sparling runs, with the paper's values when
/// `with_paper` (runs on the paper's domain).
pub(super) fn curve_section(
    md: &mut String,
    root: &Path,
    sparling: &[&RunSummary],
    with_paper: bool,
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
    }
    let chart = error_vs_density_chart(sparling, with_paper);
    chart
        .render(1200, 760)
        .save_png(root.join("error_vs_density.png"))
        .map_err(|e| Error::Run(e.to_string()))?;
    figures.push("error_vs_density.png");
    let paper = if with_paper {
        format!(
            " The paper's values (means over {PAPER_SEEDS} seeds with their 95% intervals) are the x markers and bars just left of the operating density {PAPER_DENSITY:.4e}."
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        md,
        "\nBoth axes are logarithmic; an error of 0 is drawn at {FLOOR}%.{paper}\n\n![error vs density](error_vs_density.png)"
    );
    Ok(())
}

/// The experiments side by side, once at least two were evaluated: their errors at the
/// operating density (mean over seeds) as a table of coloured cells (`experiments.png`), and
/// each run's end-to-end error against the density its map actually had
/// (`density_vs_error.png`): the baselines without a density target (L1, KL) next to the
/// annealed ones.
pub(super) fn experiments_section(
    md: &mut String,
    root: &Path,
    runs: &[RunSummary],
    figures: &mut Vec<&'static str>,
) -> Result<()> {
    let mut names: Vec<&str> = runs
        .iter()
        .filter(|r| r.eval.is_some())
        .map(|r| r.experiment.as_str())
        .collect();
    names.dedup();
    if names.len() < 2 {
        return Ok(());
    }
    let evals = |exp: &str| -> Vec<&EvalResult> {
        runs.iter()
            .filter(|r| r.experiment == exp)
            .filter_map(|r| r.eval.as_ref().map(|e| &e.headline))
            .collect()
    };
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for exp in &names {
        let e = evals(exp);
        let n = e.len() as f64;
        values.push(
            METRICS
                .iter()
                .map(|(_, f, _)| 100.0 * e.iter().map(|r| f(r)).sum::<f64>() / n)
                .collect(),
        );
        labels.push(format!(
            "{exp} ({} seed{})",
            e.len(),
            if e.len() == 1 { "" } else { "s" }
        ));
    }
    let plot = |e: sparling_plot::Error| Error::Run(e.to_string());
    Heatmap::new(
        "Errors at the operating density (%, mean over seeds)",
        values,
    )
    .map_err(plot)?
    .row_labels(labels)
    .map_err(plot)?
    .col_labels(METRICS.iter().map(|(n, _, _)| *n))
    .map_err(plot)?
    .x_label("metric")
    .y_label("experiment")
    .render()
    .save_png(root.join("experiments.png"))
    .map_err(plot)?;
    figures.push("experiments.png");

    let mut chart = LineChart::new("End-to-end error against the density the map had")
        .x_label("observed density of the motif map (log)")
        .y_label("E2EE (%, log)")
        .x_scale(Scale::Log10)
        .y_scale(Scale::Log10)
        .y_range(FLOOR, 100.0)
        .font_scale(2);
    for (i, exp) in names.iter().enumerate() {
        // One series per run, so that seeds are points, not a line; the first names the
        // experiment in the legend.
        for (k, e) in evals(exp).into_iter().enumerate() {
            let name = if k == 0 {
                exp.to_string()
            } else {
                String::new()
            };
            chart = chart.series(
                Series::new(name, [(e.observed_density, (100.0 * e.e2ee).max(FLOOR))])
                    .marker(Marker::ALL[i % Marker::ALL.len()])
                    .color(sparling_plot::palette(i)),
            );
        }
    }
    chart
        .render(1000, 640)
        .save_png(root.join("density_vs_error.png"))
        .map_err(plot)?;
    figures.push("density_vs_error.png");
    let _ = writeln!(
        md,
        "\n## The experiments side by side\n\nEach experiment's errors at its operating density (the mean over its seeds; the table above has the intervals), and each run's end-to-end error against the fraction of nonzero entries its map actually had on the test samples (an error of 0 is drawn at {FLOOR}%):\n\n![experiments](experiments.png)\n\n![density vs error](density_vs_error.png)"
    );
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
    let mut acc = LineChart::new("Validation exact-match accuracy during training")
        .x_label("training samples")
        .y_label("accuracy");
    let mut dens = LineChart::new("Density of the motif map during training (annealing)")
        .x_label("training samples")
        .y_label("density (log)")
        .y_scale(Scale::Log10);
    let logged = runs.iter().filter(|r| !r.log.is_empty()).count();
    for r in runs {
        if r.log.is_empty() {
            continue;
        }
        let name = format!("{}, seed {}", r.experiment, r.seed);
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
            acc = acc.series(Series::new("the schedule's bar", bar).dashed(true));
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

/// The motif overlay (copied from the run's `eval/`: it needs the model) and the confusion
/// matrix (drawn from `eval.json`) of the first evaluated Sparling run.
pub(super) fn pictures_section(
    md: &mut String,
    root: &Path,
    sparling: &[&RunSummary],
    figures: &mut Vec<&'static str>,
) -> Result<()> {
    let Some((r, e)) = sparling
        .iter()
        .find_map(|r| r.eval.as_ref().map(|e| (r, e)))
    else {
        return Ok(());
    };
    let _ = writeln!(md, "\n## Motif maps (Sparling, seed {})\n", r.seed);
    let src = r.dir.join("eval").join("motifs.png");
    if src.exists() {
        std::fs::copy(&src, root.join("motifs.png")).map_err(|e| Error::io("copying", &src, e))?;
        figures.push("motifs.png");
        let _ = writeln!(
            md,
            "Test inputs with their true footprints (boxes) and the Sparse layer's surviving activations (squares):\n\n![motifs](motifs.png)\n"
        );
    }
    write_confusion_png(
        &root.join("confusion.png"),
        &e.headline.confusion,
        e.headline.density,
    )?;
    figures.push("confusion.png");
    let _ = writeln!(
        md,
        "The confusion matrix on the {} test samples: which channel fired on which digit's footprint, rows ordered so that the optimal one-to-one assignment (framed) lies on the diagonal:\n\n![confusion](confusion.png)",
        e.headline.samples
    );
    Ok(())
}

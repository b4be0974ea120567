//! `sparling analyze <KIND> --run DIR [--out DIR] [--samples N]`: one of the paper's analyses
//! of a trained run, written as `<out>/<kind>.json` and a PNG figure (default out:
//! `<run>/analysis/`).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use sparling_train::analysis::alpha::analyze_alpha;
use sparling_train::analysis::theorem::{TheoremOptions, analyze_theorem};
use sparling_train::data::DataSeeds;
use sparling_train::state::{RunDir, load_train_state};

use crate::progress::EvalBar;

/// Which analysis.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The theorem's motif error E_m against E2EE at every rung, the ratio at the operating
    /// density, and the theorem's assumptions checked on the domain.
    Theorem,
    /// alpha (how often changing one motif changes the output) by simulation, DigitCircle.
    Alpha,
}

/// Arguments of `sparling analyze`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The analysis.
    #[arg(value_enum)]
    kind: Kind,
    /// The run directory.
    #[arg(long)]
    run: PathBuf,
    /// Output directory (default: `<run>/analysis`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Samples: theorem, test samples scored at every rung (default 1000); alpha, samples
    /// drawn (default 100000).
    #[arg(long)]
    samples: Option<usize>,
    /// theorem: test samples of the calibration slice the channel permutation is chosen on,
    /// taken after the scored ones (default 1000).
    #[arg(long)]
    calibration_samples: Option<usize>,
}

/// Runs `sparling analyze`.
pub fn run(args: Args) -> Result<()> {
    let run = RunDir::new(&args.run);
    let out = args.out.unwrap_or_else(|| args.run.join("analysis"));
    match args.kind {
        Kind::Theorem => {
            let defaults = TheoremOptions::default();
            let opts = TheoremOptions {
                samples: args.samples.unwrap_or(defaults.samples),
                calibration: args.calibration_samples.unwrap_or(defaults.calibration),
            };
            let mut bar = EvalBar::new(std::io::stderr().is_terminal());
            let r = analyze_theorem(&run, &out, &opts, &mut bar)
                .with_context(|| format!("analysing run {}", args.run.display()))?;
            bar.finish();
            match &r.operating {
                Some(op) => println!(
                    "{} rungs; at the operating rung {}: E_m {:.3}% E2EE {:.3}% ratio {}; wrote {}",
                    r.rungs.len(),
                    op.rung,
                    100.0 * op.motif_error,
                    100.0 * op.e2ee,
                    op.ratio
                        .map_or_else(|| "undefined (E2EE 0)".into(), |x| format!("{x:.3}")),
                    out.join("theorem.json").display()
                ),
                None => println!(
                    "{} rungs; the run has no snapshot of the operating rung {}; wrote {}",
                    r.rungs.len(),
                    r.operating_rung,
                    out.join("theorem.json").display()
                ),
            }
        }
        Kind::Alpha => {
            anyhow::ensure!(
                args.calibration_samples.is_none(),
                "--calibration-samples applies to the theorem analysis only"
            );
            let last = load_train_state(&run.checkpoint())
                .with_context(|| format!("loading {}", run.checkpoint().display()))?;
            let samples = args.samples.unwrap_or(100_000) as u64;
            let seed = DataSeeds::for_run(last.model.seed).test;
            let r = analyze_alpha(&last.model.config, seed, samples, &out)
                .with_context(|| format!("estimating alpha for run {}", args.run.display()))?;
            println!(
                "alpha: replace {:.4} [{:.4}, {:.4}], remove {:.4} [{:.4}, {:.4}] on {} samples; wrote {}",
                r.replace.estimate,
                r.replace.lower,
                r.replace.upper,
                r.remove.estimate,
                r.remove.lower,
                r.remove.upper,
                r.replace.trials,
                out.join("alpha.json").display()
            );
        }
    }
    Ok(())
}

//! `sparling analyze KIND --run DIR [--out DIR] [--samples N]`: one of the paper's analyses
//! of a trained run at its operating point, writing `<kind>.json` and `<kind>.png` into the
//! output directory (default `DIR/analysis`).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sparling_train::analysis::alpha::analyze_alpha;
use sparling_train::analysis::theorem::{TheoremOptions, analyze_theorem};
use sparling_train::analysis::{bits, direct, perturb};
use sparling_train::data::DataSeeds;
use sparling_train::limits::MAX_TEST_SAMPLES;
use sparling_train::state::{RunDir, load_train_state};

use crate::progress::EvalBar;

/// The analyses.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The motif channels as a classifier of single-motif inputs (argmax of each channel's
    /// spatial maximum of z - t, each channel mapped to its majority class).
    Direct,
    /// Moves the activations of one output symbol's channel into another symbol's channel
    /// and checks that h's output changes that symbol only.
    Perturb,
    /// Quantile-bins the nonzero activations into 2, 4, 8 and 16 levels and measures E2EE.
    Bits,
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
    /// The run directory (its model at the operating density is analysed).
    #[arg(long)]
    run: PathBuf,
    /// Output directory (default: RUN/analysis).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Samples. direct: scored single-motif samples (default 10,000; the channel map is fitted
    /// on as many more). perturb: correctly decoded test samples to perturb (default 1,000).
    /// bits: scored test samples (default 1,000). theorem: test samples scored at every rung
    /// (default 1,000). alpha: samples drawn (default 100,000).
    #[arg(long)]
    samples: Option<usize>,
    /// Calibration samples. perturb: for the channel -> class assignment, from test sample
    /// 1,000,000 on (default 1,000). bits: for the bins, from test sample 1,000,000 on
    /// (default 10,000). theorem: for the channel permutation, just after the scored samples
    /// (default 1,000). Not for direct, whose calibration slice is as large as the scored one,
    /// nor for alpha, which fits nothing.
    #[arg(long)]
    calibration_samples: Option<usize>,
}

/// Refuses a sample count above the limit (scored in chunks: it bounds time, not memory).
fn check_samples(n: Option<usize>, option: &str) -> Result<()> {
    if let Some(n) = n.filter(|&n| n > MAX_TEST_SAMPLES) {
        bail!("{option} {n} is above the limit of {MAX_TEST_SAMPLES}");
    }
    Ok(())
}

/// Runs `sparling analyze`.
pub fn run(args: Args) -> Result<()> {
    check_samples(args.samples, "--samples")?;
    check_samples(args.calibration_samples, "--calibration-samples")?;
    let dir = RunDir::new(&args.run);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.run.join("analysis"));
    let mut bar = EvalBar::new(std::io::stderr().is_terminal());
    let context = || format!("analysing run {}", args.run.display());
    let line = match args.kind {
        Kind::Direct => {
            if args.calibration_samples.is_some() {
                bail!(
                    "--calibration-samples does not apply to direct: its channel map is fitted \
                     on as many samples as --samples, just after them"
                );
            }
            let samples = args.samples.unwrap_or(direct::DEFAULT_SAMPLES);
            let r = direct::analyze_direct(&dir, &out, samples, &mut bar).with_context(context)?;
            format!(
                "direct evaluation at density {:.4e}: error {:.2}% on {} {} samples \
                 (unmapped channels: {:?})",
                r.density,
                100.0 * r.error,
                r.samples,
                r.domain,
                r.unmapped_channels
            )
        }
        Kind::Perturb => {
            let defaults = perturb::PerturbOptions::default();
            let opts = perturb::PerturbOptions {
                samples: args.samples.unwrap_or(defaults.samples),
                calibration_samples: args
                    .calibration_samples
                    .unwrap_or(defaults.calibration_samples),
            };
            let r =
                perturb::analyze_perturbation(&dir, &out, &opts, &mut bar).with_context(context)?;
            format!(
                "perturbation at density {:.4e}: {:.2}% of {} correctly decoded samples (of {} \
                 scanned) follow the move; failures {:?}",
                r.density,
                100.0 * r.success_rate,
                r.samples,
                r.scanned,
                r.failures
            )
        }
        Kind::Bits => {
            let defaults = bits::BitsOptions::default();
            let opts = bits::BitsOptions {
                samples: args.samples.unwrap_or(defaults.samples),
                calibration_samples: args
                    .calibration_samples
                    .unwrap_or(defaults.calibration_samples),
            };
            let r = bits::analyze_bits(&dir, &out, &opts, &mut bar).with_context(context)?;
            let levels: Vec<String> = r
                .levels
                .iter()
                .map(|l| format!("{} levels {:.2}%", l.levels, 100.0 * l.e2ee))
                .collect();
            format!(
                "binned activations at density {:.4e}, E2EE on {} samples: unbinned {:.2}%, {}",
                r.density,
                r.samples,
                100.0 * r.unbinned_e2ee,
                levels.join(", ")
            )
        }
        Kind::Theorem => {
            let defaults = TheoremOptions::default();
            let opts = TheoremOptions {
                samples: args.samples.unwrap_or(defaults.samples),
                calibration: args.calibration_samples.unwrap_or(defaults.calibration),
            };
            let r = analyze_theorem(&dir, &out, &opts, &mut bar).with_context(context)?;
            match &r.operating {
                Some(op) => format!(
                    "{} rungs; at the operating rung {}: E_m {:.3}% E2EE {:.3}% ratio {}; wrote {}",
                    r.rungs.len(),
                    op.rung,
                    100.0 * op.motif_error,
                    100.0 * op.e2ee,
                    op.ratio
                        .map_or_else(|| "undefined (E2EE 0)".into(), |x| format!("{x:.3}")),
                    out.join("theorem.json").display()
                ),
                None => format!(
                    "{} rungs; the run has no snapshot of the operating rung {}; wrote {}",
                    r.rungs.len(),
                    r.operating_rung,
                    out.join("theorem.json").display()
                ),
            }
        }
        Kind::Alpha => {
            if args.calibration_samples.is_some() {
                bail!("--calibration-samples does not apply to alpha: it fits nothing");
            }
            let last = load_train_state(&dir.checkpoint())
                .with_context(|| format!("loading {}", dir.checkpoint().display()))?;
            let samples = args.samples.unwrap_or(100_000) as u64;
            let seed = DataSeeds::for_run(last.model.seed).test;
            let r = analyze_alpha(&last.model.config, seed, samples, &out)
                .with_context(|| format!("estimating alpha for run {}", args.run.display()))?;
            format!(
                "alpha: replace {:.4} [{:.4}, {:.4}], remove {:.4} [{:.4}, {:.4}] on {} samples; wrote {}",
                r.replace.estimate,
                r.replace.lower,
                r.replace.upper,
                r.remove.estimate,
                r.remove.lower,
                r.remove.upper,
                r.replace.trials,
                out.join("alpha.json").display()
            )
        }
    };
    bar.finish();
    println!("{line}");
    Ok(())
}

//! `sparling eval`: scores a run (`--run DIR`: the operating point and the error-vs-density
//! curve) or one checkpoint (`--checkpoint FILE`).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sparling_train::eval::{RunEvalOptions, evaluate_checkpoint, evaluate_run_with_progress};

use crate::progress::EvalBar;
use sparling_train::state::{RunDir, load_model_snapshot, load_train_state};

/// Arguments of `sparling eval`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A run directory: evaluates its operating point and its error-vs-density curve.
    #[arg(long, conflicts_with = "checkpoint")]
    run: Option<PathBuf>,
    /// One checkpoint (a rung snapshot or a run's checkpoint.bin).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Test samples (default: the run config's `test_samples`).
    #[arg(long)]
    samples: Option<usize>,
    /// With --checkpoint: score the test samples from this index on (e.g. 10000 with the
    /// default 10,000 samples: a held-out slice for choosing between variants, disjoint
    /// from the samples that reports are scored on).
    #[arg(long, default_value_t = 0, conflicts_with = "run")]
    first_sample: u64,
    /// Test samples per point of the error-vs-density curve.
    #[arg(long, default_value_t = 1000)]
    curve_samples: usize,
    /// Output directory (eval.json, motifs.png, confusion.png).
    #[arg(long)]
    out: PathBuf,
    /// Also write the motif maps of the scored test samples (with --run: the operating
    /// point's) to this JSONL file, one sample per line with its surviving activations and
    /// true motifs, in the format `sparling score-motifs` reads.
    #[arg(long, value_name = "FILE.jsonl")]
    dump_maps: Option<PathBuf>,
    /// Evaluate even if the memory estimate exceeds the machine's memory.
    #[arg(long)]
    force: bool,
}

/// Refuses an evaluation whose memory estimate exceeds the machine's (unless `force`).
fn check_memory(
    config: &sparling_train::config::TrainConfig,
    samples: usize,
    curve_samples: usize,
    force: bool,
) -> Result<()> {
    use sparling_train::limits;
    for (n, option) in [(samples, "--samples"), (curve_samples, "--curve-samples")] {
        if n > limits::MAX_TEST_SAMPLES {
            bail!(
                "{option} {n} is above the limit of {}",
                limits::MAX_TEST_SAMPLES
            );
        }
    }
    Ok(limits::check_memory(
        &limits::eval_memory(config, samples, curve_samples),
        force,
    )?)
}

/// Runs `sparling eval`.
pub fn run(args: Args) -> Result<()> {
    match (&args.run, &args.checkpoint) {
        (Some(dir), None) => {
            let run = RunDir::new(dir);
            let last = load_train_state(&run.checkpoint())
                .with_context(|| format!("loading {}", run.checkpoint().display()))?;
            let samples = args.samples.unwrap_or(last.model.config.test_samples);
            let opts = RunEvalOptions {
                samples,
                curve_samples: args.curve_samples.min(samples),
                dump_maps: args.dump_maps.clone(),
                ..RunEvalOptions::default()
            };
            check_memory(
                &last.model.config,
                opts.samples,
                opts.curve_samples,
                args.force,
            )?;
            let mut bar = EvalBar::new(std::io::stderr().is_terminal());
            let result = evaluate_run_with_progress(&run, &args.out, &opts, &mut bar)
                .with_context(|| format!("evaluating run {}", dir.display()))?;
            bar.finish();
            let h = &result.headline;
            println!(
                "density {:.4e} (operating point {:.4e}{}): FPE {:.2}% FNE {:.2}% CE {:.2}% E2EE {:.2}% exact {:.2}% on {} samples",
                h.density,
                result.operating_density,
                if result.reached_operating_point {
                    ""
                } else {
                    ", NOT reached"
                },
                100.0 * h.fpe,
                100.0 * h.fne,
                100.0 * h.ce,
                100.0 * h.e2ee,
                100.0 * h.exact_match,
                h.samples
            );
            Ok(())
        }
        (None, Some(file)) => {
            let snap =
                load_model_snapshot(file).with_context(|| format!("loading {}", file.display()))?;
            let samples = args.samples.unwrap_or(snap.config.test_samples);
            check_memory(&snap.config, samples, 0, args.force)?;
            let overlay = RunEvalOptions::default().overlay_samples.min(samples);
            let mut bar = EvalBar::new(std::io::stderr().is_terminal());
            let result = evaluate_checkpoint(
                &snap,
                args.first_sample,
                samples,
                overlay,
                &args.out,
                args.dump_maps.as_deref(),
                &mut bar,
            )
            .with_context(|| format!("evaluating {}", file.display()))?;
            bar.finish();
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        _ => bail!("give exactly one of --run DIR or --checkpoint FILE"),
    }
}

//! `sparling eval`: scores a run (`--run DIR`: the operating point and the error-vs-density
//! curve) or one checkpoint (`--checkpoint FILE`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sparling_train::eval::{RunEvalOptions, evaluate_checkpoint, evaluate_run};
use sparling_train::state::{
    LEGACY_TRAIN_KIND, MODEL_KIND, ModelSnapshot, RunDir, TRAIN_KIND, V2_TRAIN_KIND,
    load_train_state,
};

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
                ..RunEvalOptions::default()
            };
            check_memory(
                &last.model.config,
                opts.samples,
                opts.curve_samples,
                args.force,
            )?;
            let result = evaluate_run(&run, &args.out, &opts)
                .with_context(|| format!("evaluating run {}", dir.display()))?;
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
            let snap: ModelSnapshot = match sparling_train::checkpoint_kind(file)?.as_str() {
                MODEL_KIND => sparling_nn_load(file, MODEL_KIND)?,
                TRAIN_KIND | V2_TRAIN_KIND | LEGACY_TRAIN_KIND => {
                    load_train_state(file)
                        .with_context(|| format!("loading {}", file.display()))?
                        .model
                }
                other => bail!("{} is a {other:?} file, not a model", file.display()),
            };
            let samples = args.samples.unwrap_or(snap.config.test_samples);
            check_memory(&snap.config, samples, 0, args.force)?;
            let overlay = RunEvalOptions::default().overlay_samples.min(samples);
            let result = evaluate_checkpoint(&snap, args.first_sample, samples, overlay, &args.out)
                .with_context(|| format!("evaluating {}", file.display()))?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        _ => bail!("give exactly one of --run DIR or --checkpoint FILE"),
    }
}

fn sparling_nn_load<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    kind: &str,
) -> Result<T> {
    sparling_train::load_checkpoint(path, kind)
        .with_context(|| format!("loading {}", path.display()))
}

//! `sparling branch --from RUN (--config FILE | --continue-below K) --out DIR`: starts a run
//! directory from another run's training state under a config that changes only how the run
//! ends (the schedule's late phase, its stopping density, the sample budget); with
//! `--continue-below K`, the config that continues the finished run K rungs below its
//! operating density.

use std::path::PathBuf;

use anyhow::{Context, Result};
use sparling_train::branch::{branch, continue_below};
use sparling_train::config::TrainConfig;
use sparling_train::state::{RunDir, load_train_state, write_atomic};

/// Arguments of `sparling branch`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["config", "continue_below"])))]
pub struct Args {
    /// The source run directory (its per-density snapshots are copied along).
    #[arg(long)]
    from: PathBuf,
    /// The training state to branch from: a `checkpoint.bin` of the source run, or a copy of
    /// one kept from earlier in the run (default: the source's current `checkpoint.bin`).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// The branch's configuration: the source's, with another `schedule.late_phase`,
    /// `schedule.done_at_density` or `max_samples`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue the (finished) source K rungs below its operating density: the source's
    /// config with `schedule.done_at_density` lowered so that the branch trains and
    /// snapshots K more rungs (written to `<out>/config.json`).
    #[arg(long, value_name = "K")]
    continue_below: Option<u32>,
    /// With --continue-below: the branch's sample budget (`max_samples`), when the source's
    /// is spent or too small for K more rungs.
    #[arg(long, requires = "continue_below")]
    max_samples: Option<u64>,
    /// The new run directory (must not hold a run).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `sparling branch`.
pub fn run(args: Args) -> Result<()> {
    let source = RunDir::new(&args.from);
    let checkpoint = args.checkpoint.unwrap_or_else(|| source.checkpoint());
    let (config, text, config_path) = match (&args.config, args.continue_below) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let config = TrainConfig::from_json(&text)
                .with_context(|| format!("in config file {}", path.display()))?;
            (config, text, path.clone())
        }
        (None, Some(k)) => {
            let state = load_train_state(&checkpoint)
                .with_context(|| format!("loading {}", checkpoint.display()))?;
            let config = continue_below(&state.model.config, k, args.max_samples)
                .with_context(|| format!("continuing {} {k} rungs below", args.from.display()))?;
            let text = serde_json::to_string_pretty(&config)?;
            (config, text, args.out.join("config.json"))
        }
        (None, None) => anyhow::bail!("give --config FILE or --continue-below K"),
    };
    let b = branch(&checkpoint, &source, &config, &RunDir::new(&args.out))
        .with_context(|| format!("branching {}", checkpoint.display()))?;
    let copy = args.out.join("config.json");
    write_atomic(&copy, text.as_bytes()).with_context(|| format!("writing {}", copy.display()))?;
    eprintln!(
        "branched at {} samples with {} rung snapshots; continue with: sparling train --config {} --seed {} --out {}",
        b.samples,
        b.rungs.len(),
        config_path.display(),
        b.seed,
        args.out.display()
    );
    Ok(())
}

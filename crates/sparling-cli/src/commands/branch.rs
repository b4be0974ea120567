//! `sparling branch --from RUN --config FILE --out DIR`: starts a run directory from another
//! run's training state under a config that changes only the schedule's late phase.

use std::path::PathBuf;

use anyhow::{Context, Result};
use sparling_train::branch::branch;
use sparling_train::config::TrainConfig;
use sparling_train::state::{RunDir, write_atomic};

/// Arguments of `sparling branch`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The source run directory (its per-density snapshots are copied along).
    #[arg(long)]
    from: PathBuf,
    /// The training state to branch from: a `checkpoint.bin` of the source run, or a copy of
    /// one kept from earlier in the run (default: the source's current `checkpoint.bin`).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// The branch's configuration: the source's, with another `schedule.late_phase`.
    #[arg(long)]
    config: PathBuf,
    /// The new run directory (must not hold a run).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `sparling branch`.
pub fn run(args: Args) -> Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config = TrainConfig::from_json(&text)
        .with_context(|| format!("in config file {}", args.config.display()))?;
    let source = RunDir::new(&args.from);
    let checkpoint = args.checkpoint.unwrap_or_else(|| source.checkpoint());
    let b = branch(&checkpoint, &source, &config, &RunDir::new(&args.out))
        .with_context(|| format!("branching {}", checkpoint.display()))?;
    let copy = args.out.join("config.json");
    write_atomic(&copy, text.as_bytes()).with_context(|| format!("writing {}", copy.display()))?;
    eprintln!(
        "branched at {} samples with {} rung snapshots; continue with: sparling train --config {} --seed {} --out {}",
        b.samples,
        b.rungs.len(),
        args.config.display(),
        b.seed,
        args.out.display()
    );
    Ok(())
}

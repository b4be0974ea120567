//! `sparling preset --profile P --experiment E --out FILE`: writes a training configuration.
//! `sparling preset --list`: prints the experiments a preset can build, one per line (what
//! `cargo xtask reproduce --full` runs).

use std::path::PathBuf;

use anyhow::{Context, Result};
use sparling_train::config::{EXPERIMENTS, Profile, TrainConfig};

/// Arguments of `sparling preset`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// quick, default or full.
    #[arg(long, default_value = "default")]
    profile: String,
    /// sparling, st, no-batchnorm, no-annealing, l1-LAMBDA, kl-LAMBDA.
    #[arg(long, default_value = "sparling")]
    experiment: String,
    /// Where to write the JSON (standard output if absent).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the experiments a preset can build, one per line, and exit.
    #[arg(long, conflicts_with_all = ["experiment", "out"])]
    list: bool,
}

/// Runs `sparling preset`.
pub fn run(args: Args) -> Result<()> {
    if args.list {
        for experiment in EXPERIMENTS {
            println!("{experiment}");
        }
        return Ok(());
    }
    let profile: Profile = args.profile.parse()?;
    let config = TrainConfig::experiment(profile, &args.experiment)?;
    let text = serde_json::to_string_pretty(&config)? + "\n";
    match args.out {
        Some(path) => sparling_train::state::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

//! `sparling preset --profile P --experiment E --out FILE`: writes a training configuration.

use std::path::PathBuf;

use anyhow::{Context, Result};
use sparling_train::config::{Profile, TrainConfig};

/// Arguments of `sparling preset`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// quick, default or full.
    #[arg(long, default_value = "default")]
    profile: String,
    /// sparling, st, no-batchnorm, no-annealing, l1-<lambda>, kl-<lambda>.
    #[arg(long, default_value = "sparling")]
    experiment: String,
    /// Where to write the JSON (standard output if absent).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `sparling preset`.
pub fn run(args: Args) -> Result<()> {
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

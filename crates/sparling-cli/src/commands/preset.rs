//! `sparling preset --profile P --experiment E [--lambda X] [--from CHECKPOINT] --out FILE`:
//! writes a training configuration (DigitCircle). `--domain spoken-digits` or `--domain
//! formula`: the same experiments on the paper's spoken-digit sequences or rendered formulas
//! (default profile). `sparling preset --list`: prints the experiments of the paper's table,
//! one per line as `name<TAB>description` (the names are what `cargo xtask reproduce --full`
//! runs).

use std::path::PathBuf;

use anyhow::{Context, Result};
use sparling_train::config::{Experiment, Profile, TrainConfig};

/// Arguments of `sparling preset`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// digit-circle (every profile), spoken-digits or formula (the default profile); every
    /// experiment that applies to the domain (Direct needs a single-motif counterpart, which
    /// only DigitCircle has).
    #[arg(long, default_value = "digit-circle")]
    domain: String,
    /// quick, default or full.
    #[arg(long, default_value = "default")]
    profile: String,
    /// A name `--list` prints, or `l1` / `kl` with `--lambda`.
    #[arg(long, default_value = "sparling")]
    experiment: String,
    /// The penalty weight of `--experiment l1` or `kl` (any value).
    #[arg(long)]
    lambda: Option<f32>,
    /// The Sparling model `--experiment retrained` starts from (a rung snapshot or a
    /// checkpoint.bin).
    #[arg(long)]
    from: Option<PathBuf>,
    /// Where to write the JSON (standard output if absent).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the experiments, one per line (`name<TAB>description`), and exit.
    #[arg(long, conflicts_with_all = ["experiment", "out", "lambda", "from"])]
    list: bool,
}

/// Runs `sparling preset`.
pub fn run(args: Args) -> Result<()> {
    if args.list {
        for (name, _, description) in Experiment::listed() {
            println!("{name}\t{description}");
        }
        return Ok(());
    }
    let profile: Profile = args.profile.parse()?;
    let experiment = Experiment::from_name(&args.experiment, args.lambda, args.from)?;
    let config = match args.domain.as_str() {
        "digit-circle" => TrainConfig::experiment(profile, &experiment)?,
        domain @ ("spoken-digits" | "formula") => {
            if profile != Profile::Default {
                anyhow::bail!(
                    "--domain {domain} has the default profile only (got {})",
                    args.profile
                );
            }
            let sparling = if domain == "formula" {
                TrainConfig::formula()?
            } else {
                TrainConfig::spoken_digits()
            };
            TrainConfig::experiment_on(sparling, &experiment)?
        }
        other => anyhow::bail!("--domain {other:?}: digit-circle, spoken-digits or formula"),
    };
    let text = serde_json::to_string_pretty(&config)? + "\n";
    match args.out {
        Some(path) => sparling_train::state::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

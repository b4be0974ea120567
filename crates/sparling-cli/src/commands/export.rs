//! `sparling export --checkpoint FILE --out model.safetensors`: a trained model as a
//! safetensors file (see `sparling_train::export` for the names and the metadata).

use std::path::PathBuf;

use anyhow::{Context, Result};
use sparling_train::export::{export_safetensors, export_tensors};
use sparling_train::state::load_model_snapshot;

/// Arguments of `sparling export`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The checkpoint: a rung snapshot (`rungs/rung-KK.bin`) or a run's `checkpoint.bin`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The safetensors file to write.
    #[arg(long, value_name = "FILE.safetensors")]
    out: PathBuf,
}

/// Runs `sparling export`.
pub fn run(args: Args) -> Result<()> {
    let snap = load_model_snapshot(&args.checkpoint)
        .with_context(|| format!("loading {}", args.checkpoint.display()))?;
    let revision = env!("SPARLING_REVISION");
    export_safetensors(&snap, &args.out, Some(revision))
        .with_context(|| format!("exporting to {}", args.out.display()))?;
    let tensors = export_tensors(&snap)?;
    let scalars: usize = tensors.iter().map(|t| t.data.len()).sum();
    eprintln!(
        "wrote {}: {} tensors, {scalars} values (model at density {:.4e}, {} training samples)",
        args.out.display(),
        tensors.len(),
        snap.density,
        snap.samples
    );
    Ok(())
}

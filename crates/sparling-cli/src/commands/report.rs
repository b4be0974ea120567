//! `sparling report --root DIR [--meta FILE]`: merges the runs under `DIR/runs` into
//! `DIR/report.md`, `DIR/report.json` and PNG figures.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Arguments of `sparling report`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The reproduction directory (holding `runs/`).
    #[arg(long)]
    root: PathBuf,
    /// Machine and command description (JSON) written by `cargo xtask reproduce`.
    #[arg(long)]
    meta: Option<PathBuf>,
}

/// Runs `sparling report`.
pub fn run(args: Args) -> Result<()> {
    let meta = match &args.meta {
        Some(p) => serde_json::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("parsing {}", p.display()))?,
        None => serde_json::json!({ "profile": "merge" }),
    };
    let path = sparling_train::report::write_report(&args.root, &meta)
        .with_context(|| format!("writing the report in {}", args.root.display()))?;
    println!("{}", path.display());
    Ok(())
}

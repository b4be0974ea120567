//! `sparling`: the command-line tool of sparling-rs. One subcommand per module in `commands/`.

use clap::{Parser, Subcommand};

mod commands;

/// Sparling: end-to-end spatial concept learning via extremely sparse activations.
#[derive(Parser, Debug)]
#[command(name = "sparling", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the build's version information.
    Info,
    /// Generate samples of a synthetic domain: samples.jsonl plus PNG pictures.
    Generate(commands::generate::Args),
    /// Score motif maps (JSONL) against ground-truth motifs: FPE, FNE, CE as JSON.
    #[command(name = "score-motifs")]
    ScoreMotifs(commands::score_motifs::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Info => commands::info::run(),
        Command::Generate(args) => commands::generate::run(args),
        Command::ScoreMotifs(args) => commands::score_motifs::run(args),
    }
}

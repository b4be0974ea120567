//! `cargo xtask`: project automation, in the style of rust-analyzer's xtask: one binary, one
//! module per task. xtask builds in the dev profile, so heavy work runs in release-built
//! `sparling` processes (`cargo run --release -p sparling-cli --bin sparling -- ...`).

use clap::{Parser, Subcommand};

mod audio;
mod bench;
mod formula_glyphs;
mod reproduce;
mod speech_bank;
mod util;

/// Project automation for sparling-rs.
#[derive(Parser, Debug)]
#[command(name = "xtask", about = "Project automation for sparling-rs")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand, Debug)]
enum Task {
    /// Reproduce the paper's DigitCircle results: train, evaluate, write the report.
    Reproduce(reproduce::Reproduce),
    /// Run the criterion benchmarks with recorded thread settings and collect the summaries.
    Bench(bench::Bench),
    /// Rasterise the formula domain's glyph asset from Latin Modern Math.
    FormulaGlyphs(formula_glyphs::FormulaGlyphs),
    /// Render the bank of spoken digits with espeak-ng into the sparling-domains asset.
    SpeechBank(speech_bank::SpeechBank),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Reproduce(r) => r.run(),
        Task::Bench(b) => b.run(),
        Task::FormulaGlyphs(g) => g.run(),
        Task::SpeechBank(s) => s.run(),
    }
}

//! `sparling`: the command-line tool of sparling-rs. One subcommand per module in `commands/`.

use clap::{Parser, Subcommand};

mod commands;
mod progress;

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
    /// Write a training configuration (a profile's preset for one experiment).
    Preset(commands::preset::Args),
    /// Train a Sparling model (resumes if the output directory holds a checkpoint).
    Train(commands::train::Args),
    /// Start a run directory from another run's checkpoint under another late phase of the
    /// schedule, or continue a finished run rungs below its operating density
    /// (bit-identical to a fresh run with that config).
    Branch(commands::branch::Args),
    /// Evaluate a run (operating point and error-vs-density curve) or one checkpoint.
    Eval(commands::eval::Args),
    /// Run one of the paper's analyses of a trained run (direct, perturb, bits, theorem,
    /// alpha): writes KIND.json and KIND.png.
    Analyze(commands::analyze::Args),
    /// Export a checkpoint's model as a safetensors file (PyTorch `state_dict` names, the
    /// config in the metadata).
    Export(commands::export::Args),
    /// Merge run directories into report.md, report.json and PNG figures.
    Report(commands::report::Args),
}

/// Training allocates and frees many activation buffers of several MB per step. glibc serves
/// those with fresh `mmap`s, so every step pays page faults and zeroing for memory it just
/// returned; keeping them on the heap lets malloc reuse the pages.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only adjusts allocator parameters; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// Rust ignores SIGPIPE, so a write to a closed pipe (`sparling eval ... | head -c 10`) fails
/// and `println!` panics. Restoring the default action ends the process quietly at that
/// write instead, as every Unix filter does. (`train` writes nothing to standard output; a
/// closed standard error ends it as a `kill -9` would, and it resumes from its checkpoint.)
#[cfg(unix)]
fn default_sigpipe() {
    // SAFETY: resetting a signal's disposition to its default has no memory-safety
    // preconditions; it is done before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn default_sigpipe() {}

/// The error and its causes, each cause once: a cause whose text the message before it
/// already contains (many errors print their source in their own message) is skipped.
fn report(error: &anyhow::Error) -> String {
    let mut out = format!("Error: {error}");
    let mut previous = error.to_string();
    let mut causes = Vec::new();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !previous.contains(&text) {
            causes.push(text.clone());
        }
        previous = text;
    }
    match causes.as_slice() {
        [] => {}
        [one] => out.push_str(&format!("\n\nCaused by:\n    {one}")),
        many => {
            out.push_str("\n\nCaused by:");
            for (i, c) in many.iter().enumerate() {
                out.push_str(&format!("\n    {i}: {c}"));
            }
        }
    }
    out
}

fn main() -> std::process::ExitCode {
    tune_allocator();
    default_sigpipe();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Info => commands::info::run(),
        Command::Generate(args) => commands::generate::run(args),
        Command::ScoreMotifs(args) => commands::score_motifs::run(args),
        Command::Preset(args) => commands::preset::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Branch(args) => commands::branch::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Analyze(args) => commands::analyze::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Report(args) => commands::report::run(args),
    }
}

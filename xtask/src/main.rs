//! `cargo xtask`: project automation (see `cargo xtask --help`).

use clap::{Parser, Subcommand};

/// Project automation for sparling-rs.
#[derive(Parser, Debug)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand, Debug)]
enum Task {
    /// Print the project root.
    Root,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Root => {
            println!("{}", project_root().display());
            Ok(())
        }
    }
}

/// The workspace root (the parent of xtask's manifest directory).
fn project_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

//! `sparling info`: version and thread information.

/// Prints the version and the rayon thread count.
pub fn run() -> anyhow::Result<()> {
    println!(
        "sparling {} (rayon threads: {})",
        env!("CARGO_PKG_VERSION"),
        rayon::current_num_threads()
    );
    Ok(())
}

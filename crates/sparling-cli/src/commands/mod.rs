//! One module per subcommand.

pub mod analyze;
pub mod branch;
pub mod eval;
pub mod export;
pub mod generate;
pub mod info;
pub mod preset;
pub mod report;
pub mod score_motifs;
pub mod train;

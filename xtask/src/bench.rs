//! `cargo xtask bench`: runs the criterion benchmarks with recorded thread settings and copies
//! the criterion summaries into `target/bench-results/<baseline>/`.

use std::process::Command;

use anyhow::{Context, Result};
use clap::Args;

use crate::util::{cargo, cpu_model, project_root, run_checked};

/// Options of `cargo xtask bench`.
#[derive(Args, Debug)]
pub struct Bench {
    /// Rayon threads for the benchmarks.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Criterion baseline name to save.
    #[arg(long, default_value = "main")]
    baseline: String,
    /// Only benchmarks whose name matches this filter.
    #[arg(long)]
    filter: Option<String>,
}

impl Bench {
    /// Runs the benchmarks.
    pub fn run(self) -> Result<()> {
        let root = project_root();
        let mut cmd = Command::new(cargo());
        cmd.current_dir(&root)
            .env("RAYON_NUM_THREADS", self.threads.to_string())
            .env("MATMUL_NUM_THREADS", "1")
            .args(["bench", "--workspace", "--"])
            .args(["--save-baseline", &self.baseline]);
        if let Some(f) = &self.filter {
            cmd.arg(f);
        }
        run_checked(&mut cmd, "cargo bench")?;
        let out = root.join("target/bench-results").join(&self.baseline);
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let meta = serde_json::json!({
            "rayon_threads": self.threads,
            "matmul_threads": 1,
            "cpu": cpu_model(),
            "baseline": self.baseline,
        });
        std::fs::write(
            out.join("settings.json"),
            serde_json::to_string_pretty(&meta)?,
        )?;
        let criterion = root.join("target/criterion");
        let mut summaries = Vec::new();
        collect_estimates(&criterion, &self.baseline, &mut summaries)?;
        let text = summaries.join("\n");
        std::fs::write(out.join("estimates.tsv"), &text)?;
        println!("{text}\nsaved to {}", out.display());
        Ok(())
    }
}

/// Collects `<bench id>\t<median ns>` for every criterion result saved under `baseline`.
fn collect_estimates(dir: &std::path::Path, baseline: &str, out: &mut Vec<String>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        let est = path.join(baseline).join("estimates.json");
        if est.exists() {
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&est)?)?;
            let median = v["median"]["point_estimate"].as_f64().unwrap_or(f64::NAN);
            out.push(format!("{}\t{median:.1} ns", path.display()));
        } else {
            collect_estimates(&path, baseline, out)?;
        }
    }
    Ok(())
}

//! `cargo xtask reproduce`: from nothing to the paper's DigitCircle table and a report
//! (`--domain spoken-digits` or `--domain formula`: Sparling on the paper's other domains).
//!
//! Every stage is one `sparling` process with one job spec in and one result directory out:
//! `preset` writes a run's config, `train` trains (resuming from the run's checkpoint if there
//! is one), `eval` scores the run's per-density checkpoints, and `report` merges any set of run
//! directories into `report.md`, `report.json` and the PNGs. Because of that, a sweep can be
//! split across machines or a scheduler and merged afterwards with `--merge`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::util::{capture, cargo, cpu_count, cpu_model, project_root, run_checked};

/// Options of `cargo xtask reproduce`.
#[derive(Args, Debug)]
pub struct Reproduce {
    /// The domain: digit-circle (every profile), spoken-digits or formula (Sparling, default
    /// profile).
    #[arg(long, default_value = "digit-circle", value_parser = ["digit-circle", "spoken-digits", "formula"])]
    domain: String,
    /// Tiny budgets: the whole pipeline in minutes (shows that everything runs).
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// Three seeds of Sparling plus the ablations and baselines.
    #[arg(long)]
    full: bool,
    /// Training seeds (comma separated); default 0 (0,1,2 with --full).
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Number of runs trained at the same time.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Rayon threads per run (default: the machine's cores divided by --jobs).
    #[arg(long)]
    threads: Option<usize>,
    /// Output directory (default `target/reproduce/<profile>`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only this experiment (e.g. `sparling`, `st`, `l1-1`).
    #[arg(long)]
    only: Option<String>,
    /// Test samples per evaluation (default: the profile's).
    #[arg(long)]
    eval_samples: Option<usize>,
    /// Do not train: write the report from the runs already under DIR/runs (for example runs
    /// gathered from several machines).
    #[arg(long, value_name = "DIR")]
    merge: Option<PathBuf>,
}

/// One training run: an experiment of the profile and a seed.
#[derive(Clone, Debug)]
struct Job {
    experiment: String,
    seed: u64,
    /// The model an experiment starts from (`sparling preset --from`: Retrained starts from
    /// the first Sparling run's final state, the model at its operating point).
    from: Option<PathBuf>,
    /// Scored by `sparling analyze direct` instead of `sparling eval` (the Direct baseline,
    /// which trains g alone).
    direct: bool,
}

/// An experiment of `sparling preset --list`, with what its description says of it.
struct Listed {
    name: String,
    /// It starts from a Sparling model (`--from`).
    needs_source: bool,
    /// It is scored by `sparling analyze direct`.
    direct: bool,
}

impl Job {
    fn dir(&self, out: &Path) -> PathBuf {
        out.join("runs")
            .join(format!("{}-seed{}", self.experiment, self.seed))
    }
}

impl Reproduce {
    fn profile(&self) -> &'static str {
        if self.quick {
            "quick"
        } else if self.full {
            "full"
        } else {
            "default"
        }
    }

    /// The experiments of the profile: with `--full`, every one `sparling preset --list` names
    /// (the training crate's list, so xtask keeps no copy), each with whether it starts from a
    /// Sparling model (`--from`) and whether direct evaluation scores it; otherwise Sparling
    /// alone.
    fn experiments(&self, root: &Path) -> Result<Vec<Listed>> {
        if !self.full {
            return Ok(vec![Listed {
                name: "sparling".to_string(),
                needs_source: false,
                direct: false,
            }]);
        }
        let output = sparling(root, 1)
            .args(["preset", "--list"])
            .stderr(Stdio::inherit())
            .output()
            .context("starting `sparling preset --list`")?;
        if !output.status.success() {
            bail!("`sparling preset --list` failed ({})", output.status);
        }
        let text = String::from_utf8(output.stdout).context("`sparling preset --list` output")?;
        // `name<TAB>description`; the description of an experiment that starts from a
        // Sparling model (Retrained) says `--from`, that of one scored by direct evaluation
        // (the Direct baseline) `sparling analyze direct`.
        let list: Vec<Listed> = text
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(name, description)| Listed {
                name: name.to_string(),
                needs_source: description.contains("--from"),
                direct: description.contains("sparling analyze direct"),
            })
            .collect();
        if list.first().map(|l| l.name.as_str()) != Some("sparling") {
            bail!("`sparling preset --list` did not start with `sparling`:\n{text}");
        }
        Ok(list)
    }

    fn jobs(&self, root: &Path, out: &Path) -> Result<Vec<Job>> {
        let seeds = self
            .seeds
            .clone()
            .unwrap_or_else(|| if self.full { vec![0, 1, 2] } else { vec![0] });
        let mut jobs = Vec::new();
        for Listed {
            name: exp,
            needs_source,
            direct,
        } in self.experiments(root)?
        {
            if self.only.as_deref().is_some_and(|o| o != exp) {
                continue;
            }
            let from = needs_source.then(|| {
                Job {
                    experiment: "sparling".into(),
                    seed: seeds[0],
                    from: None,
                    direct: false,
                }
                .dir(out)
                .join("checkpoint.bin")
            });
            // Ablations and baselines run on the first seed only; Sparling on every seed.
            let exp_seeds = if exp == "sparling" {
                seeds.clone()
            } else {
                seeds[..1].to_vec()
            };
            for seed in exp_seeds {
                jobs.push(Job {
                    experiment: exp.clone(),
                    seed,
                    from: from.clone(),
                    direct,
                });
            }
        }
        Ok(jobs)
    }

    /// Runs the reproduction.
    pub fn run(self) -> Result<()> {
        let root = project_root();
        let profile = self.profile();
        let out = match (&self.merge, &self.out) {
            (Some(m), _) => m.clone(),
            (None, Some(o)) => o.clone(),
            (None, None) if self.domain == "digit-circle" => {
                root.join("target/reproduce").join(profile)
            }
            (None, None) => root.join("target/reproduce").join(&self.domain),
        };
        if self.domain != "digit-circle" && (self.quick || self.full) {
            bail!(
                "--domain {} has the default profile only (no --quick or --full)",
                self.domain
            );
        }
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let jobs = self.jobs.max(1);
        let threads = self.threads.unwrap_or_else(|| (cpu_count() / jobs).max(1));
        let started = Instant::now();

        eprintln!("[xtask] building the release binary");
        run_checked(
            Command::new(cargo()).current_dir(&root).args([
                "build",
                "--release",
                "-p",
                "sparling-cli",
                "--bin",
                "sparling",
            ]),
            "cargo build --release",
        )?;

        if self.merge.is_none() {
            let list = self.jobs(&root, &out)?;
            if list.is_empty() {
                bail!("no experiment matches --only {:?}", self.only);
            }
            // The jobs that start from a Sparling model run once the others have finished.
            let (list, after): (Vec<Job>, Vec<Job>) =
                list.into_iter().partition(|j| j.from.is_none());
            eprintln!(
                "[xtask] profile {profile}: {} run(s), {jobs} at a time, {threads} thread(s) each, in {}",
                list.len(),
                out.display()
            );
            self.run_jobs(&list, &out, profile, jobs, threads)?;
            if !after.is_empty() {
                self.run_jobs(&after, &out, profile, jobs, threads)?;
            }
        }

        let meta = serde_json::json!({
            "profile": if self.merge.is_some() { "merge" } else { profile },
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "git_revision": capture("git", &["rev-parse", "HEAD"]),
            "git_dirty": !capture("git", &["status", "--porcelain"]).is_empty(),
            "rustc": capture("rustc", &["-V"]),
            "cpu": cpu_model(),
            "cpus": cpu_count(),
            "jobs": jobs,
            "threads_per_run": threads,
            "wall_seconds": started.elapsed().as_secs_f64(),
        });
        let meta_path = out.join("meta.json");
        std::fs::write(&meta_path, serde_json::to_string_pretty(&meta)?)
            .with_context(|| format!("writing {}", meta_path.display()))?;
        sparling(&root, threads)
            .args(["report", "--root"])
            .arg(&out)
            .arg("--meta")
            .arg(&meta_path)
            .status()
            .context("starting `sparling report`")
            .and_then(|s| {
                if s.success() {
                    Ok(())
                } else {
                    bail!("`sparling report` failed ({s})")
                }
            })?;
        eprintln!(
            "[xtask] done in {:.1} min: {}",
            started.elapsed().as_secs_f64() / 60.0,
            out.join("report.md").display()
        );
        Ok(())
    }

    /// Trains and evaluates every job, `jobs` at a time. Each job is preset -> train -> eval;
    /// each stage skips what is already finished and resumes what was interrupted.
    fn run_jobs(
        &self,
        list: &[Job],
        out: &Path,
        profile: &str,
        jobs: usize,
        threads: usize,
    ) -> Result<()> {
        let root = project_root();
        let queue = Mutex::new(list.to_vec());
        let errors = Mutex::new(Vec::<String>::new());
        let quiet = jobs > 1;
        std::thread::scope(|s| {
            for _ in 0..jobs.min(list.len()) {
                s.spawn(|| {
                    loop {
                        let Some(job) = queue.lock().expect("queue").pop() else {
                            break;
                        };
                        if let Err(e) = self.run_job(&root, &job, out, profile, threads, quiet) {
                            errors
                                .lock()
                                .expect("errors")
                                .push(format!("{}-seed{}: {e:#}", job.experiment, job.seed));
                        }
                    }
                });
            }
        });
        let errors = errors.into_inner().expect("errors");
        if !errors.is_empty() {
            bail!("{} run(s) failed:\n{}", errors.len(), errors.join("\n"));
        }
        Ok(())
    }

    fn run_job(
        &self,
        root: &Path,
        job: &Job,
        out: &Path,
        profile: &str,
        threads: usize,
        quiet: bool,
    ) -> Result<()> {
        let dir = job.dir(out);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let config = dir.join("config.json");
        if !config.exists() {
            let status = sparling(root, threads)
                .args([
                    "preset",
                    "--domain",
                    &self.domain,
                    "--profile",
                    profile,
                    "--experiment",
                    &job.experiment,
                ])
                .args(
                    job.from
                        .iter()
                        .flat_map(|f| [OsStr::new("--from"), f.as_os_str()]),
                )
                .arg("--out")
                .arg(&config)
                .status()
                .context("starting `sparling preset`")?;
            if !status.success() {
                bail!("`sparling preset` failed ({status})");
            }
        }
        let log = |name: &str| -> Result<Stdio> {
            if quiet {
                let f = std::fs::File::create(dir.join(name))
                    .with_context(|| format!("creating {name}"))?;
                Ok(Stdio::from(f))
            } else {
                Ok(Stdio::inherit())
            }
        };
        eprintln!("[xtask] train {}-seed{}", job.experiment, job.seed);
        let mut train = sparling(root, threads);
        train
            .args(["train", "--config"])
            .arg(&config)
            .args(["--seed", &job.seed.to_string(), "--out"])
            .arg(&dir);
        if quiet {
            // Its stderr goes to train.log: one line per validation, no bar.
            train.arg("--quiet");
        }
        let status = train
            .stderr(log("train.log")?)
            .status()
            .context("starting `sparling train`")?;
        if !status.success() {
            bail!("`sparling train` failed ({status}); see {}", dir.display());
        }
        if job.direct {
            return self.run_direct(root, job, &dir, threads, log("analyze.log")?);
        }
        let eval_json = dir.join("eval").join("eval.json");
        if eval_json.exists() {
            eprintln!(
                "[xtask] eval {}-seed{}: already done",
                job.experiment, job.seed
            );
            return Ok(());
        }
        eprintln!("[xtask] eval {}-seed{}", job.experiment, job.seed);
        let mut cmd = sparling(root, threads);
        cmd.args(["eval", "--run"])
            .arg(&dir)
            .arg("--out")
            .arg(dir.join("eval"));
        if let Some(n) = self.eval_samples {
            cmd.args(["--samples", &n.to_string()]);
        }
        let status = cmd
            .stderr(log("eval.log")?)
            .status()
            .context("starting `sparling eval`")?;
        if !status.success() {
            bail!("`sparling eval` failed ({status}); see {}", dir.display());
        }
        Ok(())
    }

    /// Scores a Direct-baseline run with `sparling analyze direct` (into its `analysis/`,
    /// where the report reads it), unless that is done.
    fn run_direct(
        &self,
        root: &Path,
        job: &Job,
        dir: &Path,
        threads: usize,
        log: Stdio,
    ) -> Result<()> {
        let what = format!("{}-seed{}", job.experiment, job.seed);
        if dir.join("analysis").join("direct.json").exists() {
            eprintln!("[xtask] direct evaluation {what}: already done");
            return Ok(());
        }
        eprintln!("[xtask] direct evaluation {what}");
        let status = sparling(root, threads)
            .args(["analyze", "direct", "--run"])
            .arg(dir)
            .stderr(log)
            .status()
            .context("starting `sparling analyze direct`")?;
        if !status.success() {
            bail!(
                "`sparling analyze direct` failed ({status}); see {}",
                dir.display()
            );
        }
        Ok(())
    }
}

/// `cargo run --release -p sparling-cli --bin sparling --` with the thread settings.
fn sparling(root: &Path, threads: usize) -> Command {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "sparling-cli",
            "--bin",
            "sparling",
            "--",
        ]);
    cmd
}

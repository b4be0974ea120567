//! `sparling train --config FILE --seed S --out DIR`: trains (or resumes) a run.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use sparling_train::config::TrainConfig;
use sparling_train::run_info::{Session, record_session};
use sparling_train::state::RunDir;
use sparling_train::trainer::{Outcome, Trainer};

use crate::progress::{Bar, Lines};

/// Arguments of `sparling train`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The training configuration (JSON; see `sparling preset`).
    #[arg(long)]
    config: PathBuf,
    /// The run's seed (model initialisation and training stream).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The run directory (resumed if it holds a checkpoint).
    #[arg(long)]
    out: PathBuf,
    /// Stop (with a checkpoint) after this many steps in this session.
    #[arg(long)]
    max_steps: Option<u64>,
    /// No progress bar: one line per validation (also what happens when stderr is not a
    /// terminal).
    #[arg(long)]
    quiet: bool,
    /// Train even if the config's memory estimate exceeds the machine's memory.
    #[arg(long)]
    force: bool,
}

/// Runs `sparling train`.
pub fn run(args: Args) -> Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config = TrainConfig::from_json(&text)
        .with_context(|| format!("in config file {}", args.config.display()))?;
    sparling_train::limits::check_memory(
        &sparling_train::limits::train_memory(&config),
        args.force,
    )
    .with_context(|| format!("in config file {}", args.config.display()))?;
    let bar_config = config.clone();
    let mut trainer = Trainer::open(config, args.seed, RunDir::new(&args.out))
        .with_context(|| format!("opening run directory {}", args.out.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                eprintln!("second interrupt: exiting without a final checkpoint");
                std::process::exit(130);
            }
            eprintln!(
                "interrupt (SIGINT or SIGTERM): finishing the step and writing a checkpoint \
                 (again to abort)"
            );
        })
        .context("installing the SIGINT/SIGTERM handler")?;
    }
    let resumed = trainer.state().model.samples;
    if resumed > 0 {
        eprintln!("resuming {} at {resumed} samples", args.out.display());
    }
    if trainer.state().finished.is_none() {
        // Where this session trains, for the report (read back from the run directory).
        let session = Session::here(
            env!("SPARLING_REVISION"),
            rayon::current_num_threads(),
            resumed,
        );
        record_session(&args.out, session)
            .with_context(|| format!("recording the session in {}", args.out.display()))?;
    }
    // Without a terminal (a log file, `--jobs` > 1, a cluster) a bar would print nothing,
    // validations included: plain lines instead.
    let outcome = if args.quiet || !std::io::stderr().is_terminal() {
        trainer.run(&stop, args.max_steps, &mut Lines)?
    } else {
        let mut bar = Bar::new(&bar_config, trainer.state());
        let outcome = trainer.run(&stop, args.max_steps, &mut bar)?;
        bar.finish();
        outcome
    };
    let s = trainer.state();
    match outcome {
        Outcome::Finished(reason) => eprintln!(
            "finished: {reason}; {} steps, {} samples, {:.1} min of training",
            s.step,
            s.model.samples,
            s.wall_seconds / 60.0
        ),
        Outcome::Interrupted => {
            eprintln!(
                "stopped at {} samples; checkpoint written, run the same command to resume",
                s.model.samples
            );
            if stop.load(Ordering::SeqCst) {
                std::process::exit(130);
            }
        }
    }
    Ok(())
}

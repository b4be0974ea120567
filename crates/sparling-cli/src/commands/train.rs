//! `sparling train --config FILE --seed S --out DIR`: trains (or resumes) a run.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sparling_train::config::TrainConfig;
use sparling_train::run_info::{Session, record_session};
use sparling_train::state::{RunDir, TrainState, ValidationRecord};
use sparling_train::trainer::{Outcome, Progress, Trainer};

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
    /// No progress bar (one line per validation instead).
    #[arg(long)]
    quiet: bool,
}

/// A progress bar with step, loss, density and last accuracy, plus one printed line per
/// validation.
struct Bar {
    bar: ProgressBar,
    every: u64,
    last_acc: f64,
}

impl Progress for Bar {
    fn step(&mut self, state: &TrainState, loss: f32, density: f64) {
        self.bar.set_position(state.model.samples);
        if self.every > 0 && state.step % self.every == 0 {
            self.bar.set_message(format!(
                "step {} loss {loss:.4} density {density:.3e} acc {:.3}",
                state.step, self.last_acc
            ));
        }
    }

    fn validation(&mut self, r: &ValidationRecord) {
        self.last_acc = r.accuracy;
        self.bar.println(format_record(r));
    }
}

fn format_record(r: &ValidationRecord) -> String {
    format!(
        "[validation] samples {:>8} step {:>6} loss {:.4} acc {:.4} on {} bar {:.4} density {:.4e}{} ({:.0}s)",
        r.samples,
        r.step,
        r.train_loss,
        r.accuracy,
        r.validated,
        r.bar,
        r.density,
        if r.reduced { " -> reduced" } else { "" },
        r.wall_seconds
    )
}

/// Validation lines only.
struct Lines;

impl Progress for Lines {
    fn validation(&mut self, r: &ValidationRecord) {
        eprintln!("{}", format_record(r));
    }
}

/// Runs `sparling train`.
pub fn run(args: Args) -> Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config = TrainConfig::from_json(&text)
        .with_context(|| format!("in config file {}", args.config.display()))?;
    let budget = config.max_samples;
    let every = config.log_every_steps;
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
                "interrupt: finishing the step and writing a checkpoint (Ctrl-C again to abort)"
            );
        })
        .context("installing the Ctrl-C handler")?;
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
    let outcome = if args.quiet {
        trainer.run(&stop, args.max_steps, &mut Lines)?
    } else {
        let bar = ProgressBar::new(budget);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} samples {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_position(resumed);
        let mut p = Bar {
            bar,
            every: every.max(1),
            last_acc: f64::NAN,
        };
        let outcome = trainer.run(&stop, args.max_steps, &mut p)?;
        p.bar.finish_and_clear();
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

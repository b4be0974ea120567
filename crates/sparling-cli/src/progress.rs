//! Progress output of `sparling train`: a bar measured in density reductions (the annealing
//! ladder's rungs down to the stopping density) with the sample rate and an ETA, or, when
//! stderr is not a terminal (a log file, `--jobs` > 1, a cluster) or with `--quiet`, one plain
//! line per validation. And of `sparling eval`: a bar per scoring pass ([`EvalBar`]).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use sparling_train::config::{ScheduleConfig, TrainConfig};
use sparling_train::eval::EvalProgress;
use sparling_train::state::{TrainState, ValidationRecord};
use sparling_train::trainer::Progress;

/// What the bar counts: the density reductions of an annealing schedule, or the samples of a
/// constant-density run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    /// Reductions from `initial` by `factor` until the density falls below `done` (the last
    /// one stops the run).
    Rungs {
        /// The starting density.
        initial: f64,
        /// The factor of each reduction.
        factor: f64,
        /// Reductions until the run stops.
        total: u64,
    },
    /// Training samples up to the budget.
    Samples {
        /// The sample budget.
        total: u64,
    },
}

impl Measure {
    /// The measure of a config's schedule.
    pub fn of(config: &TrainConfig) -> Measure {
        match config.schedule {
            ScheduleConfig::Annealing {
                initial_density,
                factor,
                done_at_density,
                ..
            } if factor > 0.0 && factor < 1.0 && done_at_density < initial_density => {
                let k = ((done_at_density / initial_density).ln() / factor.ln()).floor();
                Measure::Rungs {
                    initial: initial_density,
                    factor,
                    total: k.max(0.0) as u64 + 1,
                }
            }
            _ => Measure::Samples {
                total: config.max_samples,
            },
        }
    }

    /// The bar's length.
    pub fn total(&self) -> u64 {
        match *self {
            Measure::Rungs { total, .. } | Measure::Samples { total } => total,
        }
    }

    /// The bar's position at `density` after `samples` training samples.
    pub fn position(&self, density: f64, samples: u64) -> u64 {
        match *self {
            Measure::Rungs {
                initial,
                factor,
                total,
            } => {
                let k = ((density / initial).ln() / factor.ln()).round();
                if k.is_finite() {
                    (k.max(0.0) as u64).min(total)
                } else {
                    0
                }
            }
            Measure::Samples { total } => samples.min(total),
        }
    }
}

/// The ETA as text: the time per unit of progress made in this session times what is left;
/// "after the first rung" until this session has made any.
pub fn eta_text(elapsed: Duration, done_this_session: u64, remaining: u64) -> String {
    if done_this_session == 0 {
        return "ETA after the first reduction".to_string();
    }
    let secs = elapsed.as_secs_f64() / done_this_session as f64 * remaining as f64;
    let (h, m) = ((secs / 3600.0) as u64, ((secs % 3600.0) / 60.0) as u64);
    if h > 0 {
        format!("ETA {h} h {m:02} min")
    } else {
        format!("ETA {} min", m.max(1))
    }
}

/// One validation as a plain line.
pub fn format_record(r: &ValidationRecord) -> String {
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

/// Validation lines only (stderr not a terminal, or `--quiet`).
pub struct Lines;

impl Progress for Lines {
    fn validation(&mut self, r: &ValidationRecord) {
        eprintln!("{}", format_record(r));
    }
}

/// The interactive bar: reductions (or samples) with the sample rate and an ETA, the latest
/// loss, density and accuracy; validations printed above it.
pub struct Bar {
    bar: ProgressBar,
    measure: Measure,
    every: u64,
    last_acc: f64,
    started: Instant,
    start_samples: u64,
    start_position: u64,
}

impl Bar {
    /// A bar for `config`, starting at `state` (a resumed run starts part-way).
    pub fn new(config: &TrainConfig, state: &TrainState) -> Bar {
        let measure = Measure::of(config);
        let unit = match measure {
            Measure::Rungs { .. } => "density reductions",
            Measure::Samples { .. } => "samples",
        };
        let bar = ProgressBar::new(measure.total());
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}}"
            ))
            .expect("valid template")
            .progress_chars("=> "),
        );
        let position = measure.position(state.model.density, state.model.samples);
        bar.set_position(position);
        Bar {
            bar,
            measure,
            every: config.log_every_steps.max(1),
            last_acc: f64::NAN,
            started: Instant::now(),
            start_samples: state.model.samples,
            start_position: position,
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn step(&mut self, state: &TrainState, loss: f32, density: f64) {
        let position = self.measure.position(density, state.model.samples);
        self.bar.set_position(position);
        if state.step % self.every == 0 {
            let elapsed = self.started.elapsed();
            let rate =
                (state.model.samples - self.start_samples) as f64 / elapsed.as_secs_f64().max(1e-9);
            let eta = eta_text(
                elapsed,
                position.saturating_sub(self.start_position),
                self.measure.total().saturating_sub(position),
            );
            self.bar.set_message(format!(
                "| {eta} | {} samples, {rate:.1}/s | density {density:.3e} loss {loss:.4} acc {:.3}",
                state.model.samples, self.last_acc
            ));
        }
    }

    fn validation(&mut self, r: &ValidationRecord) {
        self.last_acc = r.accuracy;
        self.bar.println(format_record(r));
    }
}

/// The progress of `sparling eval`: on a terminal, a bar per scoring pass (test samples
/// scored, rate, ETA); otherwise one line per pass.
pub struct EvalBar {
    bar: Option<ProgressBar>,
    terminal: bool,
}

impl EvalBar {
    /// A bar when `terminal`, plain lines otherwise.
    pub fn new(terminal: bool) -> EvalBar {
        EvalBar {
            bar: None,
            terminal,
        }
    }

    /// Removes the last bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl EvalProgress for EvalBar {
    fn stage(&mut self, label: &str, samples: u64) {
        self.finish();
        if !self.terminal {
            eprintln!("[eval] scoring the model at {label} on {samples} test samples");
            return;
        }
        let bar = ProgressBar::new(samples);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} test samples, {per_sec}, ETA {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("(model at {label})"));
        self.bar = Some(bar);
    }

    fn scored(&mut self, samples: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(samples);
        }
    }
}

#[cfg(test)]
mod tests {
    use sparling_train::config::Profile;

    use super::*;

    #[test]
    fn the_default_run_counts_33_reductions() {
        let config = TrainConfig::preset(Profile::Default);
        let m = Measure::of(&config);
        // 0.5 x 0.75^32 = 5.0226e-5 is the operating rung; the next reduction stops the run.
        assert_eq!(m.total(), 33);
        assert_eq!(m.position(0.5, 0), 0);
        assert_eq!(m.position(0.5 * 0.75f64.powi(7), 123), 7);
        assert_eq!(m.position(5.0226e-5, 0), 32);
        assert_eq!(m.position(3.767e-5, 0), 33);
        assert_eq!(m.position(1e-9, 0), 33, "clamped");
    }

    #[test]
    fn a_constant_density_counts_samples() {
        let mut config = TrainConfig::preset(Profile::Default);
        config.schedule = ScheduleConfig::Constant { density: 5e-5 };
        let m = Measure::of(&config);
        assert_eq!(
            m,
            Measure::Samples {
                total: config.max_samples
            }
        );
        assert_eq!(m.position(5e-5, 640), 640);
    }

    #[test]
    fn the_eta_scales_the_time_per_reduction() {
        assert_eq!(
            eta_text(Duration::from_secs(600), 0, 10),
            "ETA after the first reduction"
        );
        assert_eq!(eta_text(Duration::from_secs(600), 2, 10), "ETA 50 min");
        assert_eq!(eta_text(Duration::from_secs(600), 1, 20), "ETA 3 h 20 min");
        assert_eq!(eta_text(Duration::from_secs(5), 1, 1), "ETA 1 min");
    }
}

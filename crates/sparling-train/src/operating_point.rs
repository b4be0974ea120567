//! Where a run's schedule meets its domain: the domain's minimum density, the operating rung
//! (the smallest rung of the annealing ladder at or above it) and, for a run directory, the
//! model at that rung, which every evaluation and analysis of a run scores.

use serde::{Deserialize, Serialize};
use sparling_domains::{Domain, min_density};
use sparling_nn::checkpoint;

use crate::config::TrainConfig;
use crate::error::Result;
use crate::state::{MODEL_KIND, ModelSnapshot, RunDir, TrainState, load_train_state};

/// Where a run's schedule meets the domain: the theoretical minimum density and the
/// operating rung (the smallest ladder rung at or above it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// The domain's minimum density: E[#motifs] / (positions x channels), exact when the
    /// domain knows E[#motifs] (DigitCircle: 4.5), else estimated on 1,000 samples.
    pub min_density: f64,
    /// The operating rung (0 when the density never moves).
    pub rung: u32,
    /// Its density, `initial * factor^rung`.
    pub density: f64,
}

impl OperatingPoint {
    /// The operating point of runs under `config` on `domain` (its generator).
    pub fn of(config: &TrainConfig, domain: &dyn Domain) -> OperatingPoint {
        let channels = config.model.motif_channels;
        let dmin = match domain.expected_motifs() {
            Some(m) => m / (domain.positions() * channels) as f64,
            None => min_density(domain, channels, 1000),
        };
        let (initial, factor) = config.schedule.ladder();
        let rung = operating_rung(dmin, initial, factor);
        OperatingPoint {
            min_density: dmin,
            rung,
            density: rung_density(config, rung),
        }
    }
}

/// The smallest rung `k` of the ladder `initial * factor^k` whose density is at or above
/// `min_density` (0 when the density never moves, `factor >= 1`).
pub fn operating_rung(min_density: f64, initial: f64, factor: f64) -> u32 {
    if factor < 1.0 {
        ((min_density / initial).ln() / factor.ln())
            .floor()
            .max(0.0) as u32
    } else {
        0
    }
}

/// The density of rung `k` of `config`'s ladder, `initial * factor^k`.
pub fn rung_density(config: &TrainConfig, k: u32) -> f64 {
    let (initial, factor) = config.schedule.ladder();
    initial * factor.powi(i32::try_from(k).unwrap_or(i32::MAX))
}

/// A run's operating point loaded: the model at the smallest ladder rung at or above the
/// domain's minimum density ([`OperatingPoint`]), as every evaluation of a run directory scores
/// it.
pub struct RunOperatingPoint {
    /// The run's final training state.
    pub last: TrainState,
    /// The theoretical minimum density of the domain ([`OperatingPoint::min_density`]).
    pub min_density: f64,
    /// The operating rung ([`OperatingPoint::rung`]).
    pub rung: u32,
    /// The operating density.
    pub density: f64,
    /// Whether training reached the operating density.
    pub reached: bool,
    /// The model at the operating density (or the run's end state when it never got there).
    pub snapshot: ModelSnapshot,
    /// Every rung snapshot of the run, sorted by rung.
    pub rungs: Vec<(u32, std::path::PathBuf)>,
}

/// Finds and loads the operating point of the run in `dir` (see [`RunOperatingPoint`]).
pub fn operating_point(dir: &RunDir) -> Result<RunOperatingPoint> {
    let last = load_train_state(&dir.checkpoint())?;
    let config = &last.model.config;
    let domain = config.build_domain()?;
    let point = OperatingPoint::of(config, domain.as_ref());
    let (_, factor) = config.schedule.ladder();
    let rungs = dir.rung_files()?;
    let snapshot = match rungs.iter().find(|(k, _)| *k == point.rung) {
        Some((_, p)) if factor < 1.0 => checkpoint::load(p, MODEL_KIND)?,
        _ => last.model.clone(),
    };
    let reached = factor < 1.0 && snapshot.rung == Some(point.rung);
    Ok(RunOperatingPoint {
        min_density: point.min_density,
        rung: point.rung,
        density: point.density,
        reached,
        snapshot,
        rungs,
        last,
    })
}

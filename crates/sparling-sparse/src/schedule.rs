//! Density schedules: the annealing state machine of the paper and a constant
//! density for ablations.
//!
//! Annealing: density starts at 0.5 and an accuracy bar `T` at 1.0. At each validation (every
//! V training samples), with `A` the validation accuracy (any metric in [0, 1]):
//!
//! ```text
//! if samples_since_last < min_update_interval: ignore this validation entirely
//! T = clamp(T - decay * samples_since_last, min_bar, max_bar)      (decay 1e-7 per sample)
//! if A > T:  density = density * 0.75                                (strict)
//! T = max(T, A)                                                      (the ratchet)
//! ```
//!
//! Training stops once `density < done_at_density` (DigitCircle: 4.492e-5, so the last rung
//! trained is 0.5 * 0.75^32 = 5.0226e-5). The reference stores the sparsity and updates it as
//! `1 - (1 - s) * 0.75`; storing the density itself gives the same ladder without the
//! cancellation of `1 - s` at tiny densities. The state serialises with serde; a restored
//! schedule continues bit-for-bit.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Settings of an [`AnnealingSchedule`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnnealingConfig {
    /// Density at the start (0.5).
    pub initial_density: f64,
    /// Factor applied to the density when the bar is cleared (0.75).
    pub multiplier: f64,
    /// Accuracy bar at the start (1.0).
    pub initial_bar: f64,
    /// Bar decrease per training sample since the last validation (1e-7).
    pub bar_decay_per_sample: f64,
    /// Lower clamp of the decayed bar (0).
    pub min_bar: f64,
    /// Upper clamp of the decayed bar (1).
    pub max_bar: f64,
    /// Validations fewer than this many samples after the last accepted one are ignored (0).
    pub min_update_interval: u64,
    /// Training is done once the density falls below this (DigitCircle: 4.492e-5).
    pub done_at_density: f64,
}

impl Default for AnnealingConfig {
    fn default() -> Self {
        AnnealingConfig {
            initial_density: 0.5,
            multiplier: 0.75,
            initial_bar: 1.0,
            bar_decay_per_sample: 1e-7,
            min_bar: 0.0,
            max_bar: 1.0,
            min_update_interval: 0,
            done_at_density: 4.492e-5,
        }
    }
}

impl AnnealingConfig {
    /// Checks the ranges (density in (0, 1], multiplier in (0, 1), min_bar <= max_bar, ...).
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| {
            Err(Error::Config {
                op: "annealing schedule",
                msg,
            })
        };
        if !(self.initial_density > 0.0 && self.initial_density <= 1.0) {
            return bad(format!(
                "initial density {} is not in (0, 1]",
                self.initial_density
            ));
        }
        if !(self.multiplier > 0.0 && self.multiplier < 1.0) {
            return bad(format!("multiplier {} is not in (0, 1)", self.multiplier));
        }
        if self.min_bar.is_nan()
            || self.max_bar.is_nan()
            || self.min_bar > self.max_bar
            || !self.bar_decay_per_sample.is_finite()
        {
            return bad(format!(
                "bar clamp [{}, {}] or decay {} invalid",
                self.min_bar, self.max_bar, self.bar_decay_per_sample
            ));
        }
        if self.done_at_density.is_nan() || self.done_at_density < 0.0 {
            return bad(format!(
                "done_at_density {} is negative",
                self.done_at_density
            ));
        }
        Ok(())
    }
}

/// What a validation did to the schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    /// Too soon after the last accepted validation (`min_update_interval`): nothing changed.
    TooSoon,
    /// The accuracy did not clear the bar; the density is unchanged.
    Keep {
        /// The bar after the update.
        bar: f64,
    },
    /// The accuracy cleared the bar: the density was multiplied.
    Reduce {
        /// Density before.
        from: f64,
        /// Density after.
        to: f64,
        /// The bar after the update.
        bar: f64,
    },
}

/// The annealing state machine (see the module docs). All fields are the state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnnealingSchedule {
    /// Settings.
    pub config: AnnealingConfig,
    /// Current density.
    pub density: f64,
    /// Current accuracy bar T.
    pub bar: f64,
    /// Samples seen at the last accepted validation.
    pub last_samples: u64,
    /// Number of density reductions so far (the rung: density = initial * multiplier^reductions).
    pub reductions: u32,
}

impl AnnealingSchedule {
    /// A schedule at its initial density and bar, with no samples seen.
    pub fn new(config: AnnealingConfig) -> Result<AnnealingSchedule> {
        config.validate()?;
        Ok(AnnealingSchedule {
            density: config.initial_density,
            bar: config.initial_bar,
            last_samples: 0,
            reductions: 0,
            config,
        })
    }

    /// The bar an observation at `samples_seen` would be compared with (the current bar after
    /// its decay, clamped), or `None` if that observation would be rejected or ignored (samples
    /// going backwards, or too soon). An accuracy at most this value leaves the schedule exactly
    /// as the true accuracy would, as long as that is at most this value too: the density stays
    /// and the bar becomes this value. So a validation may stop scoring as soon as it can no
    /// longer clear it.
    pub fn bar_for(&self, samples_seen: u64) -> Option<f64> {
        self.bar_for_with_decay(samples_seen, self.config.bar_decay_per_sample)
    }

    /// [`bar_for`](Self::bar_for) with the bar falling `decay` per sample since the last
    /// validation instead of the configured rate: for schedules whose decay depends on the
    /// density reached (a slower bar at the last rungs), which the caller decides.
    pub fn bar_for_with_decay(&self, samples_seen: u64, decay: f64) -> Option<f64> {
        let since = samples_seen.checked_sub(self.last_samples)?;
        if since < self.config.min_update_interval {
            return None;
        }
        let decayed = self.bar - decay * since as f64;
        Some(decayed.max(self.config.min_bar).min(self.config.max_bar))
    }

    /// Feeds one validation: `samples_seen` training samples so far (monotone), `accuracy` the
    /// validation metric. Errors if `samples_seen` goes backwards or the accuracy is NaN.
    pub fn observe(&mut self, samples_seen: u64, accuracy: f64) -> Result<Decision> {
        self.observe_with_decay(samples_seen, accuracy, self.config.bar_decay_per_sample)
    }

    /// [`observe`](Self::observe) with the bar falling `decay` per sample over the interval
    /// since the last validation instead of the configured rate (see
    /// [`bar_for_with_decay`](Self::bar_for_with_decay)). Errors also if `decay` is not
    /// finite (like the configured rate, it may be negative: a rising bar).
    pub fn observe_with_decay(
        &mut self,
        samples_seen: u64,
        accuracy: f64,
        decay: f64,
    ) -> Result<Decision> {
        if !decay.is_finite() {
            return Err(Error::Config {
                op: "annealing schedule",
                msg: format!("bar decay {decay} per sample is not finite"),
            });
        }
        if samples_seen < self.last_samples || accuracy.is_nan() {
            return Err(Error::Config {
                op: "annealing schedule",
                msg: format!(
                    "observation at {samples_seen} samples (last {}) with accuracy {accuracy}",
                    self.last_samples
                ),
            });
        }
        // `None` here only means too soon: going backwards was rejected above.
        let Some(bar) = self.bar_for_with_decay(samples_seen, decay) else {
            return Ok(Decision::TooSoon);
        };
        self.bar = bar;
        self.last_samples = samples_seen;
        let decision = if accuracy > self.bar {
            let from = self.density;
            self.density *= self.config.multiplier;
            self.reductions += 1;
            Some((from, self.density))
        } else {
            None
        };
        self.bar = self.bar.max(accuracy);
        Ok(match decision {
            Some((from, to)) => Decision::Reduce {
                from,
                to,
                bar: self.bar,
            },
            None => Decision::Keep { bar: self.bar },
        })
    }

    /// Current density.
    pub fn density(&self) -> f64 {
        self.density
    }

    /// The stopping rule: `density < done_at_density`.
    pub fn done(&self) -> bool {
        self.density < self.config.done_at_density
    }
}

/// A schedule that never changes the density (ablations: "no annealing, start at the final
/// density").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConstantDensity {
    /// The density.
    pub density: f64,
}

/// Either schedule, behind one interface for a trainer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DensitySchedule {
    /// The annealing state machine.
    Annealing(AnnealingSchedule),
    /// A fixed density.
    Constant(ConstantDensity),
}

impl DensitySchedule {
    /// The default annealing schedule of the paper with the given stopping density.
    pub fn annealing(done_at_density: f64) -> Result<DensitySchedule> {
        Ok(DensitySchedule::Annealing(AnnealingSchedule::new(
            AnnealingConfig {
                done_at_density,
                ..AnnealingConfig::default()
            },
        )?))
    }

    /// A constant density (errors unless in (0, 1]).
    pub fn constant(density: f64) -> Result<DensitySchedule> {
        crate::layer::check_density(density)?;
        Ok(DensitySchedule::Constant(ConstantDensity { density }))
    }

    /// Feeds one validation (see [`AnnealingSchedule::observe`]); a constant schedule keeps.
    pub fn observe(&mut self, samples_seen: u64, accuracy: f64) -> Result<Decision> {
        match self {
            DensitySchedule::Annealing(s) => s.observe(samples_seen, accuracy),
            DensitySchedule::Constant(_) => Ok(Decision::Keep { bar: f64::NAN }),
        }
    }

    /// Current density.
    pub fn density(&self) -> f64 {
        match self {
            DensitySchedule::Annealing(s) => s.density,
            DensitySchedule::Constant(c) => c.density,
        }
    }

    /// True once annealing reached its stopping density (never for a constant schedule: the
    /// sample budget ends those runs).
    pub fn done(&self) -> bool {
        match self {
            DensitySchedule::Annealing(s) => s.done(),
            DensitySchedule::Constant(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(
        bar: f64,
        min: f64,
        max: f64,
        decay: f64,
        interval: u64,
        mult: f64,
    ) -> AnnealingSchedule {
        AnnealingSchedule::new(AnnealingConfig {
            initial_density: 0.5,
            multiplier: mult,
            initial_bar: bar,
            bar_decay_per_sample: decay,
            min_bar: min,
            max_bar: max,
            min_update_interval: interval,
            done_at_density: 0.0,
        })
        .unwrap()
    }

    #[test]
    fn schedule_fixed_bar_and_min_interval() {
        // Bar pinned at 0.8; validations closer than 10 samples to the last accepted one are
        // ignored (305 after 300), 311 is accepted.
        let mut s = sched(0.8, 0.8, 0.8, 1e-5, 10, 0.1);
        assert!(matches!(
            s.observe(100, 0.9).unwrap(),
            Decision::Reduce { .. }
        ));
        assert_eq!(s.density, 0.5 * 0.1);
        assert!(matches!(
            s.observe(200, 0.7).unwrap(),
            Decision::Keep { .. }
        ));
        assert_eq!(s.density, 0.5 * 0.1);
        s.observe(300, 0.9).unwrap();
        assert_eq!(s.density, 0.5 * 0.1 * 0.1);
        assert_eq!(s.observe(305, 0.9).unwrap(), Decision::TooSoon);
        assert_eq!((s.density, s.last_samples), (0.5 * 0.1 * 0.1, 300));
        s.observe(311, 0.9).unwrap();
        assert_eq!(s.density, 0.5 * 0.1 * 0.1 * 0.1);
        assert_eq!(s.reductions, 3);
    }

    #[test]
    fn bar_for_is_the_bar_the_next_observation_compares_with() {
        // Bar 0.9 in [0.6, 0.9], decay 0.01 per sample, at least 5 samples apart.
        let mut s = sched(0.9, 0.6, 0.9, 0.01, 5, 0.5);
        s.observe(10, 0.5).unwrap(); // bar 0.8, kept
        assert_eq!(s.bar_for(12), None); // too soon
        assert_eq!(s.bar_for(9), None); // backwards
        let t = s.bar_for(15).unwrap();
        assert!((t - 0.75).abs() < 1e-12);
        assert_eq!(s.bar_for(100), Some(0.6)); // clamped
        // Any accuracy <= bar_for leaves the same state as any other such accuracy.
        let (mut a, mut b) = (s.clone(), s.clone());
        assert!(matches!(a.observe(15, t).unwrap(), Decision::Keep { .. }));
        assert!(matches!(b.observe(15, 0.1).unwrap(), Decision::Keep { .. }));
        assert_eq!(a, b);
        assert_eq!(a.bar, t);
        assert!(matches!(
            s.observe(15, t + 1e-9).unwrap(),
            Decision::Reduce { .. }
        ));
    }

    #[test]
    fn schedule_decay_clamp_and_ratchet() {
        // Bar 0.9, clamp [0.8, 0.9], decay 0.01 per sample.
        let mut s = sched(0.9, 0.8, 0.9, 0.01, 0, 0.1);
        // 3 samples: T = 0.9 - 0.03 = 0.87 < 0.89: reduce; ratchet T = 0.89.
        assert!(matches!(
            s.observe(3, 0.89).unwrap(),
            Decision::Reduce { .. }
        ));
        assert!((s.bar - 0.89).abs() < 1e-12);
        // 1 sample: T = 0.88 > 0.875: keep; T stays 0.88.
        assert!(matches!(
            s.observe(4, 0.875).unwrap(),
            Decision::Keep { .. }
        ));
        assert!((s.bar - 0.88).abs() < 1e-12);
        // 96 samples: T = 0.88 - 0.96 clamped to 0.8 > 0.79: keep.
        s.observe(100, 0.79).unwrap();
        assert!((s.bar - 0.8).abs() < 1e-12);
        // T = 0.79 clamped to 0.8 < 0.83: reduce; T = 0.83.
        assert!(matches!(
            s.observe(101, 0.83).unwrap(),
            Decision::Reduce { .. }
        ));
        // T = 0.82 > 0.819: keep.
        assert!(matches!(
            s.observe(102, 0.819).unwrap(),
            Decision::Keep { .. }
        ));
        assert_eq!(s.density, 0.5 * 0.1 * 0.1);
    }

    #[test]
    fn schedule_strict_comparison_and_upper_clamp() {
        let mut s = sched(0.5, 0.0, 1.0, 0.0, 0, 0.75);
        // Equal is not above.
        assert!(matches!(s.observe(1, 0.5).unwrap(), Decision::Keep { .. }));
        assert_eq!(s.density, 0.5);
        assert!(matches!(
            s.observe(2, 0.6).unwrap(),
            Decision::Reduce {
                from: 0.5,
                to: 0.375,
                ..
            }
        ));
        // The bar ratchets to 0.6; 0.55 no longer clears it.
        assert!(matches!(s.observe(3, 0.55).unwrap(), Decision::Keep { .. }));
        // A negative decay raises the bar, clamped to max 0.6 here.
        let mut s = sched(0.5, 0.0, 0.6, -0.1, 0, 0.5);
        assert!(matches!(
            s.observe(100, 0.7).unwrap(),
            Decision::Reduce { .. }
        ));
        assert_eq!(s.bar, 0.7);
    }

    #[test]
    fn schedule_spec_defaults_reach_the_digitcircle_rung() {
        // Perfect accuracy every validation: the bar decays 1e-7 per sample (V = 20,000) and
        // 1.0 > 0.998 clears it each time; the ladder is 0.5 * 0.75^k and training stops after
        // the rung 0.5 * 0.75^32 = 5.0226e-5 (the next, 3.77e-5, is below 4.492e-5).
        let mut s = AnnealingSchedule::new(AnnealingConfig::default()).unwrap();
        let mut samples = 0;
        let mut rungs = vec![s.density];
        while !s.done() {
            samples += 20_000;
            if let Decision::Reduce { .. } = s.observe(samples, 1.0).unwrap() {
                rungs.push(s.density);
            }
            // The ratchet pins the bar at 1.0 after each perfect validation.
            assert_eq!(s.bar, 1.0);
        }
        assert_eq!(s.reductions, 33);
        let last_trained = rungs[rungs.len() - 2];
        assert!((last_trained - 5.0226e-5).abs() < 1e-8, "{last_trained}");
        assert!(s.density < 4.492e-5);
    }

    #[test]
    fn schedule_rejects_time_going_backwards() {
        let mut s = AnnealingSchedule::new(AnnealingConfig::default()).unwrap();
        s.observe(100, 0.1).unwrap();
        assert!(s.observe(50, 0.1).is_err());
        assert!(s.observe(150, f64::NAN).is_err());
        assert!(
            AnnealingSchedule::new(AnnealingConfig {
                multiplier: 1.5,
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn decay_override_replaces_the_configured_rate_for_one_interval() {
        let cfg = AnnealingConfig {
            bar_decay_per_sample: 1e-3,
            ..Default::default()
        };
        let mut a = AnnealingSchedule::new(cfg.clone()).unwrap();
        let mut b = AnnealingSchedule::new(cfg).unwrap();
        // The configured rate, passed explicitly, is the plain observation, bit for bit.
        assert_eq!(a.bar_for(100), b.bar_for_with_decay(100, 1e-3));
        assert_eq!(
            a.observe(100, 0.5).unwrap(),
            b.observe_with_decay(100, 0.5, 1e-3).unwrap()
        );
        assert_eq!(a, b);
        // A slower rate: the bar 0.9 falls by 1e-4 * 100 instead of 1e-3 * 100.
        assert_eq!(b.bar_for_with_decay(200, 1e-4), Some(0.9 - 1e-4 * 100.0));
        assert_eq!(
            b.observe_with_decay(200, 0.85, 1e-4).unwrap(),
            Decision::Keep {
                bar: 0.9 - 1e-4 * 100.0
            }
        );
        assert_eq!(b.density, 0.5);
        // The plain rate would have let 0.85 clear 0.8.
        assert!(matches!(
            a.observe(200, 0.85).unwrap(),
            Decision::Reduce { .. }
        ));
        for bad in [f64::NAN, f64::INFINITY] {
            assert!(b.observe_with_decay(300, 0.5, bad).is_err(), "{bad}");
        }
        assert_eq!(
            b.last_samples, 200,
            "a rejected observation changes nothing"
        );
    }

    #[test]
    fn schedule_serde_roundtrip_continues_bit_for_bit() {
        let mut a = DensitySchedule::annealing(4.492e-5).unwrap();
        let accs = [0.3, 0.97, 0.999, 0.9991, 0.5, 0.99995, 0.99996, 0.9];
        for (i, &acc) in accs.iter().enumerate() {
            a.observe(20_000 * (i as u64 + 1), acc).unwrap();
        }
        let json = serde_json::to_string(&a).unwrap();
        let mut b: DensitySchedule = serde_json::from_str(&json).unwrap();
        assert_eq!(a, b);
        for i in 0..40u64 {
            let acc = 0.9 + 0.1 * ((i * 37 % 11) as f64 / 10.0);
            let da = a.observe(400_000 + 20_000 * i, acc).unwrap();
            let db = b.observe(400_000 + 20_000 * i, acc).unwrap();
            assert_eq!(format!("{da:?}"), format!("{db:?}"));
            assert_eq!(a.density().to_bits(), b.density().to_bits());
        }
        let mut c = DensitySchedule::constant(5.0226e-5).unwrap();
        c.observe(10, 1.0).unwrap();
        assert_eq!(c.density(), 5.0226e-5);
        assert!(!c.done());
    }
}

//! The paper's runs as data: [`Profile`] (the budgets of `cargo xtask reproduce`) and
//! [`Experiment`] (Sparling and every ablation and baseline of the paper's table), each a
//! [`TrainConfig`] built by [`TrainConfig::experiment`]. `sparling preset --list` prints
//! [`Experiment::listed`].

use std::path::PathBuf;

use sparling_domains::{DigitCircleConfig, Domain, DomainSpec, FormulaConfig, SpokenDigitsConfig};

use crate::analysis::direct::single_motif_spec;
use crate::bottleneck::{BottleneckConfig, ThresholdKind};
use crate::config::{ModelConfig, TrainConfig};
use crate::error::{Error, Result};
use crate::objective::Objective;
use crate::optimizer::OptimizerConfig;
use crate::schedule::{LatePhase, ScheduleConfig};
use crate::validate::invalid;

/// The DigitCircle operating density of the paper, `0.5 * 0.75^32`.
pub const PAPER_OPERATING_DENSITY: f64 = 5.0226e-5;
/// The paper's stopping density for DigitCircle.
pub const DIGIT_CIRCLE_DONE_AT: f64 = 4.492e-5;

/// The quick profile's domain: DigitCircle on 48 x 48 images with 2-3 digits on a circle of
/// radius 8-12 (the padding, 9, is the smallest the stamps allow: shift 3 + half a 12-pixel
/// stamp).
pub fn quick_domain() -> DigitCircleConfig {
    DigitCircleConfig {
        size: 48,
        radius_min: 8,
        radius_max: 12,
        padding: 9,
        digits_min: 2,
        digits_max: 3,
        ..DigitCircleConfig::default()
    }
}

/// The density the experiments without annealing hold under `profile`: the paper's operating
/// density, or for the quick profile's domain the rung of the same ladder (0.5 x 0.75^k) at or
/// above its own minimum density.
pub fn operating_density(profile: Profile) -> f64 {
    match profile {
        Profile::Quick => {
            let rung = crate::operating_point::operating_rung(QUICK_DONE_AT, 0.5, 0.75);
            0.5 * 0.75f64.powi(rung as i32)
        }
        Profile::Default | Profile::Full => PAPER_OPERATING_DENSITY,
    }
}

/// The spoken-digit domain's minimum density, the paper's stopping density there: 7.5
/// expected digits over 642 frames x 10 channels.
pub const SPOKEN_DIGITS_DONE_AT: f64 = 7.5 / (642.0 * 10.0);
/// The spoken-digit preset's sample cap (see [`TrainConfig::spoken_digits`]).
pub const SPOKEN_DIGITS_MAX_SAMPLES: u64 = 200_000;

/// The formula preset's sample cap (see [`TrainConfig::formula`]): about 100 minutes of
/// training on 2 cores (about 17 samples/s).
pub const FORMULA_MAX_SAMPLES: u64 = 104_000;
/// The formula preset's bar decay per sample (0.1 per validation): exact matches come slowly
/// (under 1% at 16,000 samples with the spoken digits' 1e-5, whose bar would reach that only
/// after about 95,000 samples); at 5e-5 the 34 rungs fit in the budget.
pub const FORMULA_BAR_DECAY: f64 = 5e-5;

/// The quick profile's stopping density: its domain's minimum density, 2.5 expected digits
/// over 48 x 48 positions x 10 channels.
pub const QUICK_DONE_AT: f64 = 2.5 / (48.0 * 48.0 * 10.0);
/// The presets' cap on the hold of the last rung ([`LatePhase::hold_limit_samples`]): more
/// than three times the 6,000 samples seed 0 needed to clear it, about 9 minutes on 2 cores.
pub const LAST_RUNG_HOLD_LIMIT: u64 = 20_000;

/// Named budgets of `cargo xtask reproduce`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Tiny model and budget: shows that the pipeline runs, in minutes.
    Quick,
    /// The headline configuration.
    Default,
    /// Same as default (the full profile adds seeds and experiments, not a bigger model).
    Full,
}

impl std::str::FromStr for Profile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Profile> {
        match s {
            "quick" => Ok(Profile::Quick),
            "default" => Ok(Profile::Default),
            "full" => Ok(Profile::Full),
            other => Err(invalid(
                "profile",
                format!("unknown profile {other:?} (quick, default, full)"),
            )),
        }
    }
}

/// One run of the paper's table: Sparling, an ablation or a baseline. Everything else (the
/// domain, the model, the optimizer) comes from the [`Profile`].
#[derive(Clone, Debug, PartialEq)]
pub enum Experiment {
    /// Sparling: BatchNorm + per-channel thresholds (MT), annealed.
    Sparling,
    /// One threshold for all channels (ST).
    St,
    /// MT without the BatchNorm in front.
    MtNoBn,
    /// ST without the BatchNorm in front.
    StNoBn,
    /// No annealing: held at the operating density from the start.
    NoAnnealing,
    /// No annealing: held at the rung above the operating density from the start.
    NoAnnealingPenultimate,
    /// The L1 baseline with penalty `lambda`, stopped the first time validation clears the bar.
    L1 {
        /// Penalty weight.
        lambda: f32,
    },
    /// The KL baseline with penalty `lambda`.
    Kl {
        /// Penalty weight.
        lambda: f32,
    },
    /// The noise bottleneck, information-matched to the operating density.
    Noise,
    /// The same model held at density 0.5.
    NonSparse,
    /// The paper's Direct baseline: g alone, supervised on the single-motif counterpart of the
    /// domain (SingleDigit for DigitCircle) through its channels' spatial maxima
    /// ([`Objective::MotifClasses`]), no bottleneck; scored by direct evaluation.
    Direct,
    /// From a Sparling model: g copied and frozen, the bottleneck replaced by the identity,
    /// the rest trained on.
    Retrained {
        /// The Sparling model (a rung snapshot or a `checkpoint.bin`).
        from: PathBuf,
    },
}

/// What `sparling preset --list` says of the Direct baseline (`cargo xtask reproduce` scores
/// an experiment whose description names `sparling analyze direct` with that, not `eval`).
pub const DIRECT_DESCRIPTION: &str = "g alone supervised on single motifs (cross-entropy on \
     its channels' spatial maxima), scored by `sparling analyze direct` (baseline)";

/// The Direct baseline's training samples (the paper trains 1,000,000).
pub const DIRECT_MAX_SAMPLES: u64 = 200_000;

/// The lambdas of the paper's L1 sweep.
const L1_SWEEP: [f32; 5] = [0.1, 1.0, 2.0, 5.0, 10.0];
/// The KL lambdas the full profile runs: one where the paper's model still learns the task
/// and one where its accuracy collapses (from 1000 on); its density never fell below 0.1%
/// for any lambda from 0.01 to 1e5.
const KL_SWEEP: [f32; 2] = [1.0, 1000.0];

impl Experiment {
    /// The experiments of the paper's table, in the order `cargo xtask reproduce --full` runs
    /// them (Sparling first), with their names and a one-line description. Retrained needs
    /// a source model (`--from`).
    pub fn listed() -> Vec<(String, Experiment, String)> {
        let mut out = vec![
            named(
                Experiment::Sparling,
                "BatchNorm + per-channel thresholds, annealed (the paper's method)",
            ),
            named(Experiment::St, "one threshold for all channels (ablation)"),
            named(
                Experiment::MtNoBn,
                "per-channel thresholds without BatchNorm (ablation)",
            ),
            named(
                Experiment::StNoBn,
                "one threshold without BatchNorm (ablation)",
            ),
            named(
                Experiment::NoAnnealing,
                "held at the operating density from the start (ablation)",
            ),
            named(
                Experiment::NoAnnealingPenultimate,
                "held at the rung above the operating density from the start (ablation)",
            ),
        ];
        for lambda in L1_SWEEP {
            out.push(named(
                Experiment::L1 { lambda },
                "L1 penalty on BatchNorm -> ReLU, stopped at the first clear of the bar (baseline)",
            ));
        }
        for lambda in KL_SWEEP {
            out.push(named(
                Experiment::Kl { lambda },
                "KL penalty towards the operating density on BatchNorm -> sigmoid (baseline)",
            ));
        }
        out.push(named(
            Experiment::Noise,
            "BatchNorm + Gaussian noise information-matched to the operating density (baseline)",
        ));
        out.push(named(
            Experiment::NonSparse,
            "the same model held at density 0.5",
        ));
        out.push(named(Experiment::Direct, DIRECT_DESCRIPTION));
        out.push((
            "retrained".to_string(),
            Experiment::Retrained {
                from: PathBuf::new(),
            },
            "(needs --from CHECKPOINT) a Sparling model's g frozen, identity bottleneck, the \
             rest trained on"
                .to_string(),
        ));
        out
    }

    /// The experiment called `name`: one of [`Experiment::listed`]'s names, or `l1` / `kl`
    /// with `lambda`, or `retrained` with `from`.
    pub fn from_name(name: &str, lambda: Option<f32>, from: Option<PathBuf>) -> Result<Experiment> {
        let bad = |msg: String| Err(invalid("experiment", msg));
        let exp = match (name, lambda) {
            ("l1", Some(lambda)) => Experiment::L1 { lambda },
            ("kl", Some(lambda)) => Experiment::Kl { lambda },
            ("l1" | "kl", None) => return bad(format!("{name} needs a lambda (--lambda X)")),
            (_, Some(_)) => return bad(format!("{name:?} takes no lambda (only l1 and kl do)")),
            ("retrained", None) => match from {
                Some(from) => return Ok(Experiment::Retrained { from }),
                None => return bad("retrained needs the Sparling model (--from CHECKPOINT)".into()),
            },
            (_, None) => match Experiment::listed().into_iter().find(|(n, ..)| n == name) {
                Some((_, e, _)) => e,
                None => {
                    let names: Vec<String> =
                        Experiment::listed().into_iter().map(|(n, ..)| n).collect();
                    return bad(format!(
                        "unknown experiment {name:?}; one of {}, or l1 / kl with --lambda",
                        names.join(", ")
                    ));
                }
            },
        };
        if from.is_some() {
            return bad(format!(
                "{name:?} takes no source model (only retrained does)"
            ));
        }
        Ok(exp)
    }

    /// The experiment's name (`l1-2` for `L1 { lambda: 2 }`).
    pub fn name(&self) -> String {
        match self {
            Experiment::Sparling => "sparling".into(),
            Experiment::St => "st".into(),
            Experiment::MtNoBn => "mt-no-bn".into(),
            Experiment::StNoBn => "st-no-bn".into(),
            Experiment::NoAnnealing => "no-annealing".into(),
            Experiment::NoAnnealingPenultimate => "no-annealing-penultimate".into(),
            Experiment::L1 { lambda } => format!("l1-{lambda}"),
            Experiment::Kl { lambda } => format!("kl-{lambda}"),
            Experiment::Noise => "noise".into(),
            Experiment::NonSparse => "non-sparse".into(),
            Experiment::Direct => "direct".into(),
            Experiment::Retrained { .. } => "retrained".into(),
        }
    }
}

fn named(e: Experiment, description: &str) -> (String, Experiment, String) {
    (e.name(), e, description.to_string())
}

impl TrainConfig {
    /// The Sparling (per-channel thresholds) configuration of a profile.
    pub fn preset(profile: Profile) -> TrainConfig {
        let sparse = sparse(ThresholdKind::PerChannel, true);
        // The paper's probe with validation every 2,000 samples on 1,000 samples, the bar
        // falling 1e-6 per sample, and at the last rung (the late phase below 6e-5) half the
        // step and a bar that does not fall, capped at `LAST_RUNG_HOLD_LIMIT` samples. Each
        // choice and what it was measured against is in docs/history.md.
        let annealing = ScheduleConfig::Annealing {
            initial_density: 0.5,
            factor: 0.75,
            bar_decay_per_sample: 1e-6,
            done_at_density: DIGIT_CIRCLE_DONE_AT,
            late_phase: Some(LatePhase {
                below_density: 6e-5,
                bar_decay_per_sample: 0.0,
                lr_scale: 0.5,
                hold_limit_samples: Some(LAST_RUNG_HOLD_LIMIT),
            }),
        };
        let optimizer = OptimizerConfig {
            lr: 3e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            grad_clip: Some(1.0),
            warmup_steps: 200,
            lr_decay_per_reduction: 1.0,
            rung_decay: None,
        };
        match profile {
            Profile::Default | Profile::Full => TrainConfig {
                domain: DomainSpec::DigitCircle(DigitCircleConfig::default()),
                model: ModelConfig {
                    g_width: 16,
                    g_blocks: 4,
                    motif_channels: 10,
                    pool: 8,
                    d_model: 128,
                    heads: 4,
                    ff: 512,
                    encoder_layers: 3,
                    decoder_layers: 3,
                    position_scale: 3.0,
                    token_norm: true,
                },
                bottleneck: sparse,
                schedule: annealing,
                optimizer,
                batch_size: 32,
                // The paper's table caps every run at 300,000 samples; Sparling reaches its
                // operating density before that (about 248,000 on seed 0).
                max_samples: 300_000,
                validation_every: 2_000,
                validation_samples: 1_000,
                validation_early_stop: true,
                test_samples: 10_000,
                log_every_steps: 50,
                retrain_from: None,
                objective: Objective::Sequence,
            },
            Profile::Quick => TrainConfig {
                // A smaller DigitCircle (48 x 48, 2-3 digits on a circle of radius 8-12) and
                // model, annealed to that domain's own minimum density: the motifs are found
                // in minutes (docs/results.md, "The quick profile").
                domain: DomainSpec::DigitCircle(quick_domain()),
                model: ModelConfig {
                    g_width: 8,
                    g_blocks: 4,
                    motif_channels: 10,
                    pool: 8,
                    d_model: 64,
                    heads: 4,
                    ff: 128,
                    encoder_layers: 2,
                    decoder_layers: 2,
                    position_scale: 3.0,
                    token_norm: true,
                },
                bottleneck: sparse,
                schedule: ScheduleConfig::Annealing {
                    initial_density: 0.5,
                    factor: 0.75,
                    // The bar falls ten times faster than the default's, so the small model
                    // (which plateaus lower at density 0.5) starts annealing within minutes.
                    bar_decay_per_sample: 1e-5,
                    done_at_density: QUICK_DONE_AT,
                    late_phase: None,
                },
                optimizer: OptimizerConfig {
                    lr: 1e-3,
                    warmup_steps: 20,
                    ..optimizer
                },
                batch_size: 16,
                max_samples: 200_000,
                validation_every: 2_000,
                validation_samples: 300,
                validation_early_stop: true,
                test_samples: 1_000,
                log_every_steps: 25,
                retrain_from: None,
                objective: Objective::Sequence,
            },
        }
    }

    /// Sparling on the paper's spoken-digit sequences (its third domain): the paper's g (a
    /// 1x1 convolution from the 64 mel bands to width 64, 8 residual units of 3-tap
    /// convolutions over time, a receptive field of 33 frames, 10 motif channels), non-affine
    /// BatchNorm and accumulated thresholds, batch 8, annealed from 0.5 by 0.75 to the
    /// domain's minimum density 7.5 / (642 x 10) (stopping after rung 21, 1.189e-3). Sized
    /// to a run of about two hours on 2 cores: the bar falls 1e-5 per sample (the quick
    /// profile's rate) and validation scores 500 samples every 2,000.
    pub fn spoken_digits() -> TrainConfig {
        let base = TrainConfig::preset(Profile::Default);
        TrainConfig {
            domain: DomainSpec::SpokenDigits(SpokenDigitsConfig::default()),
            model: ModelConfig {
                g_width: 64,
                g_blocks: 8,
                motif_channels: 10,
                pool: 8,
                d_model: 128,
                heads: 8,
                ff: 512,
                encoder_layers: 6,
                decoder_layers: 3,
                ..base.model
            },
            bottleneck: accumulated_non_affine(),
            schedule: ScheduleConfig::Annealing {
                initial_density: 0.5,
                factor: 0.75,
                bar_decay_per_sample: 1e-5,
                done_at_density: SPOKEN_DIGITS_DONE_AT,
                late_phase: None,
            },
            batch_size: 8,
            max_samples: SPOKEN_DIGITS_MAX_SAMPLES,
            validation_samples: 500,
            log_every_steps: 100,
            ..base
        }
    }

    /// Sparling on the paper's rendered formulas at half its resolution (60 x 180 images,
    /// half-scale glyphs; [`FormulaConfig::half`]): 32 motif channels, g of width 16 with 8
    /// residual units (a 33 x 33 receptive field, the paper's 65 x 65 at half the scale),
    /// non-affine BatchNorm and accumulated thresholds, batches of 16, annealed from 0.5 by
    /// 0.75 to the domain's minimum density (its mean number of rendered symbols over 32
    /// channels x 60 x 180 positions), the bar falling [`FORMULA_BAR_DECAY`] per sample, at
    /// most [`FORMULA_MAX_SAMPLES`] samples. The paper's size is one config change away
    /// (`FormulaConfig::default()`), at four times the cost per sample.
    pub fn formula() -> Result<TrainConfig> {
        let domain = FormulaConfig::half();
        let built = sparling_domains::Formula::new(domain.clone())
            .map_err(|e| invalid("domain", e.to_string()))?;
        let channels = 32;
        let motifs = built
            .expected_motifs()
            .expect("formulas know their expected number of symbols");
        // Rounded to 1e-9 (five significant digits here), so that the value written to
        // config.json reads back bit for bit.
        let done_at_density = (motifs / (channels * built.positions()) as f64 * 1e9).round() / 1e9;
        let base = TrainConfig::preset(Profile::Default);
        let cfg = TrainConfig {
            domain: DomainSpec::Formula(domain),
            model: ModelConfig {
                g_width: 16,
                g_blocks: 8,
                motif_channels: channels,
                ..base.model
            },
            bottleneck: accumulated_non_affine(),
            schedule: ScheduleConfig::Annealing {
                initial_density: 0.5,
                factor: 0.75,
                bar_decay_per_sample: FORMULA_BAR_DECAY,
                done_at_density,
                late_phase: None,
            },
            batch_size: 16,
            max_samples: FORMULA_MAX_SAMPLES,
            validation_samples: 500,
            log_every_steps: 100,
            ..base
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The configuration of `experiment` under `profile` (DigitCircle).
    pub fn experiment(profile: Profile, experiment: &Experiment) -> Result<TrainConfig> {
        // Without annealing the run stops at the profile's sample cap (the paper trains these
        // runs for 600,000 samples; every run of the table here is capped at 300,000).
        Self::vary(
            TrainConfig::preset(profile),
            operating_density(profile),
            experiment,
        )
    }

    /// `experiment` on the domain of `sparling`, a Sparling config such as
    /// [`TrainConfig::formula`] or [`TrainConfig::spoken_digits`]: the same change to it as on
    /// DigitCircle, the held densities at its domain's operating rung. The BatchNorm ablations
    /// keep the rest of its bottleneck (the accumulated estimator, affine or not); ST has one
    /// threshold estimated per batch (the accumulated estimator has per-channel thresholds).
    pub fn experiment_on(sparling: TrainConfig, experiment: &Experiment) -> Result<TrainConfig> {
        let domain = sparling.build_domain()?;
        let operating =
            crate::operating_point::OperatingPoint::of(&sparling, domain.as_ref()).density;
        Self::vary(sparling, operating, experiment)
    }

    /// `experiment` as a change to the Sparling config `cfg`, whose operating density is
    /// `operating`.
    fn vary(mut cfg: TrainConfig, operating: f64, experiment: &Experiment) -> Result<TrainConfig> {
        let held = |cfg: &mut TrainConfig, density: f64| {
            cfg.schedule = ScheduleConfig::Constant { density };
        };
        match experiment {
            Experiment::Sparling => {}
            Experiment::St => cfg.bottleneck = ablated(&cfg.bottleneck, true, true)?,
            Experiment::MtNoBn => cfg.bottleneck = ablated(&cfg.bottleneck, false, false)?,
            Experiment::StNoBn => cfg.bottleneck = ablated(&cfg.bottleneck, true, false)?,
            Experiment::NoAnnealing => held(&mut cfg, operating),
            Experiment::NoAnnealingPenultimate => {
                held(&mut cfg, operating / 0.75);
            }
            Experiment::L1 { lambda } => {
                // The annealed run's bar, but the run ends at its first clear.
                let bar_decay_per_sample = match cfg.schedule {
                    ScheduleConfig::Annealing {
                        bar_decay_per_sample,
                        ..
                    } => bar_decay_per_sample,
                    _ => 1e-6,
                };
                cfg.bottleneck = BottleneckConfig::L1 { lambda: *lambda };
                held(&mut cfg, operating);
                cfg.schedule = ScheduleConfig::FirstClear {
                    density: operating,
                    bar_decay_per_sample,
                };
            }
            Experiment::Kl { lambda } => {
                cfg.bottleneck = BottleneckConfig::Kl { lambda: *lambda };
                held(&mut cfg, operating);
            }
            Experiment::Noise => {
                cfg.bottleneck = BottleneckConfig::Noise;
                held(&mut cfg, operating);
            }
            Experiment::NonSparse => held(&mut cfg, 0.5),
            Experiment::Direct => {
                cfg.domain = single_motif_spec(&cfg.domain)?;
                cfg.bottleneck = BottleneckConfig::Identity;
                held(&mut cfg, 1.0);
                cfg.objective = Objective::MotifClasses;
                // The paper's batch of 200; its budget of 1,000,000 samples is capped here.
                cfg.batch_size = 200;
                cfg.max_samples = DIRECT_MAX_SAMPLES;
                cfg.validation_every = 20_000;
                cfg.validation_samples = 1_000;
                cfg.log_every_steps = 10;
            }
            Experiment::Retrained { from } => {
                cfg.bottleneck = BottleneckConfig::Identity;
                held(&mut cfg, 1.0);
                cfg.retrain_from = Some(from.clone());
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The paper's bottleneck for its formula and audio domains: non-affine BatchNorm and
/// accumulated per-channel thresholds.
fn accumulated_non_affine() -> BottleneckConfig {
    BottleneckConfig::Sparse {
        thresholds: ThresholdKind::Accumulated,
        batch_norm: true,
        affine: false,
        momentum: 0.1,
    }
}

/// The Sparse bottleneck `base` with one threshold for all channels (`single`) and with or
/// without its BatchNorm; the rest (affine or not, momentum) kept. Errors if `base` is not a
/// Sparse bottleneck.
fn ablated(base: &BottleneckConfig, single: bool, batch_norm: bool) -> Result<BottleneckConfig> {
    match base {
        BottleneckConfig::Sparse {
            thresholds,
            affine,
            momentum,
            ..
        } => Ok(BottleneckConfig::Sparse {
            thresholds: if single {
                ThresholdKind::Single
            } else {
                *thresholds
            },
            batch_norm,
            affine: *affine,
            momentum: *momentum,
        }),
        other => Err(invalid(
            "bottleneck",
            format!(
                "the threshold and BatchNorm ablations vary a Sparse bottleneck, not {other:?}"
            ),
        )),
    }
}

fn sparse(thresholds: ThresholdKind, batch_norm: bool) -> BottleneckConfig {
    BottleneckConfig::Sparse {
        thresholds,
        batch_norm,
        affine: true,
        momentum: 0.1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_profile_anneals_to_its_own_domains_minimum_density() {
        let cfg = TrainConfig::preset(Profile::Quick);
        let domain = cfg.build_domain().unwrap();
        let point = crate::operating_point::OperatingPoint::of(&cfg, domain.as_ref());
        assert_eq!(point.min_density, QUICK_DONE_AT);
        assert!(point.density >= QUICK_DONE_AT && point.density * 0.75 < QUICK_DONE_AT);
        // The experiments without annealing hold that domain's operating rung.
        let held = TrainConfig::experiment(Profile::Quick, &Experiment::NoAnnealing).unwrap();
        assert_eq!(
            held.schedule,
            ScheduleConfig::Constant {
                density: point.density
            }
        );
        let paper = TrainConfig::experiment(Profile::Default, &Experiment::NoAnnealing).unwrap();
        assert_eq!(
            paper.schedule,
            ScheduleConfig::Constant {
                density: PAPER_OPERATING_DENSITY
            }
        );
    }

    #[test]
    fn the_spoken_digit_preset_is_the_papers_model_annealed_to_rung_21() {
        let cfg = TrainConfig::spoken_digits();
        cfg.validate().unwrap();
        let domain = cfg.build_domain().unwrap();
        assert_eq!(domain.input_shape(), vec![64, 642]);
        let point = crate::operating_point::OperatingPoint::of(&cfg, domain.as_ref());
        assert_eq!(point.min_density, SPOKEN_DIGITS_DONE_AT);
        assert_eq!(point.rung, 21);
        assert!(
            (point.density - 1.189204e-3).abs() < 1e-9,
            "{}",
            point.density
        );
        // g: 8 residual units of 3-tap convolutions, a receptive field of 33 frames.
        assert_eq!((cfg.model.g_width, cfg.model.g_blocks), (64, 8));
        assert_eq!(1 + 4 * cfg.model.g_blocks, 33);
        assert_eq!(
            cfg.bottleneck,
            BottleneckConfig::Sparse {
                thresholds: ThresholdKind::Accumulated,
                batch_norm: true,
                affine: false,
                momentum: 0.1,
            }
        );
        assert_eq!(cfg.batch_size, 8);
        // Its test stream is spoken by the held-out voices only.
        let DomainSpec::SpokenDigits(test) = cfg.domain.test_stream() else {
            panic!("not spoken digits")
        };
        assert_eq!(test.split, sparling_domains::SpeakerSplit::Test);
        let (train, test) = (domain, cfg.build_test_domain().unwrap());
        assert_ne!(train.sample(1, 0).input, test.sample(1, 0).input);
    }

    #[test]
    fn the_formula_preset_anneals_to_the_half_size_domains_minimum_density() {
        let cfg = TrainConfig::formula().unwrap();
        let domain = cfg.build_domain().unwrap();
        assert_eq!(domain.input_shape(), vec![1, 60, 180]);
        let point = crate::operating_point::OperatingPoint::of(&cfg, domain.as_ref());
        let ScheduleConfig::Annealing {
            done_at_density, ..
        } = cfg.schedule
        else {
            panic!("{:?}", cfg.schedule)
        };
        assert!((point.min_density / done_at_density - 1.0).abs() < 1e-4);
        // About 9.6 symbols over 32 channels x 60 x 180 positions: rung 34 (2.81e-5).
        let expected = domain.expected_motifs().unwrap();
        assert!((expected - 9.64).abs() < 0.4, "{expected}");
        assert_eq!(point.rung, 34);
        assert_eq!((cfg.model.motif_channels, cfg.model.g_blocks), (32, 8));
        assert_eq!(
            cfg.bottleneck,
            BottleneckConfig::Sparse {
                thresholds: ThresholdKind::Accumulated,
                batch_norm: true,
                affine: false,
                momentum: 0.1,
            }
        );
    }

    #[test]
    fn the_experiments_on_another_domain_change_its_own_preset() {
        let formula = TrainConfig::formula().unwrap();
        let rung34 = 0.5 * 0.75f64.powi(34);
        let on = |e: Experiment| TrainConfig::experiment_on(formula.clone(), &e).unwrap();
        assert_eq!(on(Experiment::Sparling), formula);
        match on(Experiment::NoAnnealing).schedule {
            ScheduleConfig::Constant { density } => {
                assert!((density / rung34 - 1.0).abs() < 1e-12, "{density}")
            }
            other => panic!("{other:?}"),
        }
        let sparse_of = |c: TrainConfig| match c.bottleneck {
            BottleneckConfig::Sparse {
                thresholds,
                batch_norm,
                affine,
                ..
            } => (thresholds, batch_norm, affine),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            sparse_of(on(Experiment::St)),
            (ThresholdKind::Single, true, false)
        );
        assert_eq!(
            sparse_of(on(Experiment::MtNoBn)),
            (ThresholdKind::Accumulated, false, false)
        );
        let l1 = on(Experiment::L1 { lambda: 2.0 });
        assert_eq!(
            l1.schedule,
            ScheduleConfig::FirstClear {
                density: {
                    let d = formula.build_domain().unwrap();
                    crate::operating_point::OperatingPoint::of(&formula, d.as_ref()).density
                },
                bar_decay_per_sample: FORMULA_BAR_DECAY,
            }
        );
        assert_eq!(l1.domain, formula.domain);
        // Direct needs a single-motif counterpart, which formulas do not have.
        let err = TrainConfig::experiment_on(formula.clone(), &Experiment::Direct)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no single-motif counterpart"), "{err}");
        // On DigitCircle the same change gives what `experiment` gives.
        let dc = TrainConfig::preset(Profile::Default);
        for e in [Experiment::St, Experiment::MtNoBn, Experiment::StNoBn] {
            assert_eq!(
                TrainConfig::experiment_on(dc.clone(), &e)
                    .unwrap()
                    .bottleneck,
                TrainConfig::experiment(Profile::Default, &e)
                    .unwrap()
                    .bottleneck
            );
        }
    }

    #[test]
    fn every_listed_experiment_builds_under_every_profile() {
        let listed = Experiment::listed();
        assert_eq!(listed[0].0, "sparling");
        for p in [Profile::Quick, Profile::Default, Profile::Full] {
            for (name, e, description) in &listed {
                assert!(!description.is_empty(), "{name}");
                let e = match e {
                    Experiment::Retrained { .. } => Experiment::Retrained {
                        from: "rung-32.bin".into(),
                    },
                    e => e.clone(),
                };
                TrainConfig::experiment(p, &e).unwrap();
                assert_eq!(&e.name(), name);
            }
        }
    }

    #[test]
    fn names_parse_and_lambdas_are_arguments() {
        assert_eq!(
            Experiment::from_name("mt-no-bn", None, None).unwrap(),
            Experiment::MtNoBn
        );
        assert_eq!(
            Experiment::from_name("l1-2", None, None).unwrap(),
            Experiment::L1 { lambda: 2.0 }
        );
        assert_eq!(
            Experiment::from_name("kl", Some(1e3), None).unwrap(),
            Experiment::Kl { lambda: 1e3 }
        );
        for (name, lambda, from) in [
            ("l1-0.5", None, None),
            ("nope", None, None),
            ("l1", None, None),
            ("st", Some(1.0), None),
            ("retrained", None, None),
            ("st", None, Some(PathBuf::from("x"))),
        ] {
            let e = Experiment::from_name(name, lambda, from).unwrap_err();
            assert!(e.to_string().contains("experiment"), "{name}: {e}");
        }
    }

    #[test]
    fn each_experiment_changes_what_makes_it_that_experiment() {
        let base = TrainConfig::preset(Profile::Default);
        let of = |e: Experiment| TrainConfig::experiment(Profile::Default, &e).unwrap();
        assert_eq!(of(Experiment::Sparling), base);
        let st = of(Experiment::StNoBn);
        assert_eq!(
            st.bottleneck,
            BottleneckConfig::Sparse {
                thresholds: ThresholdKind::Single,
                batch_norm: false,
                affine: true,
                momentum: 0.1
            }
        );
        assert_eq!(
            (st.model, st.schedule),
            (base.model.clone(), base.schedule.clone())
        );
        let held = of(Experiment::NonSparse);
        assert_eq!(held.schedule, ScheduleConfig::Constant { density: 0.5 });
        assert_eq!(held.max_samples, 300_000);
        let l1 = of(Experiment::L1 { lambda: 5.0 });
        assert_eq!(
            l1.schedule,
            ScheduleConfig::FirstClear {
                density: PAPER_OPERATING_DENSITY,
                bar_decay_per_sample: 1e-6
            }
        );
        let r = of(Experiment::Retrained {
            from: "a/rung-32.bin".into(),
        });
        assert_eq!(r.bottleneck, BottleneckConfig::Identity);
        assert_eq!(r.retrain_from, Some(PathBuf::from("a/rung-32.bin")));
    }
}

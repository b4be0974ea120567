//! alpha of the paper's theorem, estimated by simulation: the probability mass on which
//! changing one motif changes the output (the theorem's "alpha-necessity": every motif
//! matters to the output with probability at least alpha).
//!
//! For each of `samples` samples of the domain's stream (its latent trace, noise irrelevant):
//! pick one motif uniformly, then
//! * **replace** its class by another one, uniformly among the classes absent from the
//!   sample (DigitCircle draws distinct digits; when every class is present, among all the
//!   other classes), keeping its position, and
//! * **remove** it,
//!
//! recompute the output with the domain's own rule ([`Domain::canonical_output`] of the
//! changed placements) and count how
//! often it differs from the sample's. Each estimate comes with a Wilson 95% interval.
//! Samples without motifs are skipped (there is nothing to change). Only DigitCircle exposes
//! its output rule; other domains are refused with an error.

use std::path::Path;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sparling_domains::{DigitCircle, Domain, DomainSpec, TokenId, sample_rng};

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::state::write_atomic;

/// The two-sided 95% normal quantile.
const Z95: f64 = 1.959_963_984_540_054;

/// The seed of the choices (which motif, which class): independent of the samples' own.
const CHOICE_SEED: u64 = 0xa1fa_5eed;

/// A binomial proportion with its Wilson 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proportion {
    /// Trials.
    pub trials: u64,
    /// Trials where the output changed.
    pub changed: u64,
    /// `changed / trials`.
    pub estimate: f64,
    /// Lower end of the Wilson 95% interval.
    pub lower: f64,
    /// Upper end of the Wilson 95% interval.
    pub upper: f64,
}

impl Proportion {
    /// `changed` of `trials`, with its Wilson 95% interval. Errors if `trials` is 0 or
    /// `changed > trials`.
    pub fn wilson(changed: u64, trials: u64) -> Result<Proportion> {
        if trials == 0 || changed > trials {
            return Err(Error::Run(format!(
                "a proportion of {changed} in {trials} trials is undefined"
            )));
        }
        let n = trials as f64;
        let p = changed as f64 / n;
        let z2 = Z95 * Z95;
        let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
        let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
        Ok(Proportion {
            trials,
            changed,
            estimate: p,
            lower: (centre - half).max(0.0),
            upper: (centre + half).min(1.0),
        })
    }
}

/// What `sparling analyze alpha` writes (`alpha.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlphaReport {
    /// The domain's name.
    pub domain: String,
    /// The stream the samples were drawn from (the run's test stream).
    pub stream_seed: u64,
    /// Samples drawn (indices `0..samples`).
    pub samples: u64,
    /// One motif's class replaced by another: how often the output changes.
    pub replace: Proportion,
    /// One motif removed: how often the output changes.
    pub remove: Proportion,
    /// How the estimates were made, in words.
    pub method: String,
}

/// Estimates alpha on samples `0..samples` of the stream `stream_seed` of `config`'s domain.
/// Errors for a domain other than DigitCircle, or when no sample has a motif.
pub fn estimate_alpha(config: &TrainConfig, stream_seed: u64, samples: u64) -> Result<AlphaReport> {
    let DomainSpec::DigitCircle(dc) = &config.domain else {
        return Err(Error::Run(format!(
            "alpha is estimated only for DigitCircle, whose output rule is public; the run's \
             domain is {}",
            config.build_domain()?.name()
        )));
    };
    let domain = DigitCircle::new(dc.clone()).map_err(|e| Error::Run(e.to_string()))?;
    let classes = domain.stamps().len();
    let (mut trials, mut replaced, mut removed) = (0u64, 0u64, 0u64);
    for i in 0..samples {
        let trace = domain.trace(stream_seed, i);
        let digits = trace.digits();
        if digits.is_empty() {
            continue;
        }
        let mut rng = sample_rng(CHOICE_SEED ^ stream_seed, i);
        let j = rng.random_range(0..digits.len());
        let absent: Vec<u8> = (0..classes as u8).filter(|c| !digits.contains(c)).collect();
        let others: Vec<u8> = if absent.is_empty() {
            (0..classes as u8).filter(|&c| c != digits[j]).collect()
        } else {
            absent
        };
        if others.is_empty() {
            return Err(Error::Run(
                "a domain with one class has no other class to change a motif to".into(),
            ));
        }
        let mut changed = digits.clone();
        changed[j] = others[rng.random_range(0..others.len())];
        let mut fewer = digits.clone();
        fewer.remove(j);
        trials += 1;
        let output = |d: &[u8]| {
            let placed: Vec<TokenId> = d.iter().map(|&g| usize::from(g)).collect();
            domain.canonical_output(&placed)
        };
        replaced += u64::from(output(&changed) != trace.tokens);
        removed += u64::from(output(&fewer) != trace.tokens);
    }
    if trials == 0 {
        return Err(Error::Run(format!(
            "none of the {samples} samples has a motif to change"
        )));
    }
    Ok(AlphaReport {
        domain: "digit-circle".into(),
        stream_seed,
        samples,
        replace: Proportion::wilson(replaced, trials)?,
        remove: Proportion::wilson(removed, trials)?,
        method: "per sample, one motif chosen uniformly; replace: its class set to a class \
                 absent from the sample (any other class if none is), position kept; remove: \
                 the motif dropped; changed: the domain's output rule gives another sequence; \
                 Wilson 95% intervals"
            .into(),
    })
}

/// [`estimate_alpha`], writing `alpha.json` and `alpha.png` (the two estimates with their
/// intervals) into `out`.
pub fn analyze_alpha(
    config: &TrainConfig,
    stream_seed: u64,
    samples: u64,
    out: &Path,
) -> Result<AlphaReport> {
    let report = estimate_alpha(config, stream_seed, samples)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::Run(e.to_string()))?;
    write_atomic(&out.join("alpha.json"), json.as_bytes())?;
    crate::eval::write_png(&out.join("alpha.png"), &alpha_figure(&report))?;
    Ok(report)
}

/// The two estimates as points with their 95% intervals as vertical bars.
fn alpha_figure(r: &AlphaReport) -> sparling_plot::Canvas {
    use sparling_plot::{LineChart, Marker, Series};
    let mut chart = LineChart::new(format!(
        "alpha on {} ({} samples): P(output changes | one motif changed)",
        r.domain, r.samples
    ))
    .x_label("1: a motif's class replaced, 2: a motif removed")
    .y_label("probability")
    .x_range(0.5, 2.5)
    .y_range(0.0, 1.05);
    for (m, (x, p, name)) in [(1.0, &r.replace, "replace"), (2.0, &r.remove, "remove")]
        .into_iter()
        .enumerate()
    {
        let colour = sparling_plot::palette(m);
        chart = chart
            .series(
                Series::new(format!("{name}: {:.4}", p.estimate), [(x, p.estimate)])
                    .color(colour)
                    .marker(Marker::Circle),
            )
            .series(
                Series::new("", [(x, p.lower), (x, p.upper)])
                    .color(colour)
                    .thickness(2),
            );
    }
    chart.render(900, 520)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;

    #[test]
    fn wilson_interval_known_values() {
        // 50 of 100: centre 0.5, half-width 1.96 * sqrt(0.25/100 + 1.96^2/40000) / 1.0384.
        let p = Proportion::wilson(50, 100).unwrap();
        assert_eq!(p.estimate, 0.5);
        assert!(
            (p.lower - 0.4038).abs() < 1e-4 && (p.upper - 0.5962).abs() < 1e-4,
            "{p:?}"
        );
        // All successes: the interval reaches 1 and stays below it at the lower end.
        let p = Proportion::wilson(20, 20).unwrap();
        assert_eq!((p.estimate, p.upper), (1.0, 1.0));
        assert!((p.lower - 0.8389).abs() < 1e-4, "{p:?}");
        assert!(Proportion::wilson(0, 0).is_err());
        assert!(Proportion::wilson(3, 2).is_err());
    }

    #[test]
    fn alpha_of_digit_circle_is_one() {
        // Changing or removing one digit always changes the rotated sequence.
        let config = TrainConfig::preset(Profile::Quick);
        let r = estimate_alpha(&config, 7, 40).unwrap();
        assert_eq!((r.replace.trials, r.replace.changed), (40, 40));
        assert_eq!((r.remove.trials, r.remove.changed), (40, 40));
        assert!(r.replace.lower > 0.9 && r.replace.lower < 1.0);
        // Deterministic in the stream seed.
        assert_eq!(estimate_alpha(&config, 7, 40).unwrap(), r);
    }

    #[test]
    fn alpha_refuses_other_domains() {
        let mut config = TrainConfig::preset(Profile::Quick);
        config.domain = DomainSpec::SingleDigit(Default::default());
        let e = estimate_alpha(&config, 0, 10).unwrap_err();
        assert!(e.to_string().contains("only for DigitCircle"), "{e}");
    }
}

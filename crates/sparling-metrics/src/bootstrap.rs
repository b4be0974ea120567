//! Seeded percentile bootstrap of a mean (the paper reports the mean over 9 training seeds with
//! a bootstrap 95% interval).
//!
//! Each of `resamples` resamples draws `n` values with replacement from the `n` inputs
//! (ChaCha8 seeded by `seed`) and takes their mean; the interval is the `(1 - confidence) / 2`
//! and `(1 + confidence) / 2` quantiles of the sorted resample means, with linear interpolation
//! between order statistics (NumPy's default `"linear"` method: position `q * (resamples - 1)`).
//! The same inputs, configuration and seed always give the same interval, on any machine.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Parameters of [`bootstrap_mean_ci`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Number of resamples (default 1,000).
    pub resamples: usize,
    /// Confidence level in (0, 1) (default 0.95).
    pub confidence: f64,
    /// Seed of the resampling RNG (default 0).
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig {
            resamples: 1000,
            confidence: 0.95,
            seed: 0,
        }
    }
}

/// A mean and its bootstrap confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The mean of the inputs.
    pub mean: f64,
    /// Lower end of the interval.
    pub lower: f64,
    /// Upper end of the interval.
    pub upper: f64,
}

/// The mean of `values` with a seeded percentile-bootstrap confidence interval. Errors if
/// `values` is empty or holds a non-finite value, or the configuration is invalid.
///
/// ```
/// use sparling_metrics::{bootstrap_mean_ci, BootstrapConfig};
/// let ce_per_seed = [0.012, 0.0003, 0.034, 0.008, 0.0, 0.015, 0.002, 0.01, 0.02];
/// let ci = bootstrap_mean_ci(&ce_per_seed, &BootstrapConfig::default()).unwrap();
/// assert!(ci.lower <= ci.mean && ci.mean <= ci.upper);
/// ```
pub fn bootstrap_mean_ci(values: &[f64], config: &BootstrapConfig) -> Result<Interval> {
    if values.is_empty() {
        return Err(Error::Empty {
            what: "bootstrap input",
        });
    }
    if let Some((i, &v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "bootstrap input",
            index: i,
            value: v,
        });
    }
    if config.resamples == 0 {
        return Err(Error::InvalidParameter {
            name: "resamples",
            msg: "must be at least 1".into(),
        });
    }
    if !(config.confidence > 0.0 && config.confidence < 1.0) {
        return Err(Error::InvalidParameter {
            name: "confidence",
            msg: format!("{} is not in (0, 1)", config.confidence),
        });
    }
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut means: Vec<f64> = (0..config.resamples)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let alpha = (1.0 - config.confidence) / 2.0;
    Ok(Interval {
        mean,
        lower: quantile(&means, alpha),
        upper: quantile(&means, 1.0 - alpha),
    })
}

/// Linear-interpolation quantile of sorted, non-empty data.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: [f64; 9] = [1.48, 0.07, 4.23, 0.5, 2.0, 0.9, 1.1, 3.3, 0.2];

    #[test]
    fn bootstrap_reproducible_by_seed() {
        let cfg = BootstrapConfig {
            seed: 11,
            ..Default::default()
        };
        let a = bootstrap_mean_ci(&VALUES, &cfg).unwrap();
        let b = bootstrap_mean_ci(&VALUES, &cfg).unwrap();
        assert_eq!(a, b);
        let c = bootstrap_mean_ci(&VALUES, &BootstrapConfig { seed: 12, ..cfg }).unwrap();
        assert_ne!(
            (a.lower, a.upper),
            (c.lower, c.upper),
            "another seed, another interval"
        );
        assert_eq!(a.mean, c.mean);
        let mean = VALUES.iter().sum::<f64>() / 9.0;
        assert!((a.mean - mean).abs() < 1e-12);
        assert!(a.lower < a.mean && a.mean < a.upper);
        assert!(a.lower >= 0.07 && a.upper <= 4.23);
        // The interval of a mean of 9 values this spread is roughly mean -/+ 2 standard errors.
        let sd = (VALUES.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 8.0).sqrt();
        let se = sd / 3.0;
        assert!((a.upper - a.lower) > 2.0 * se && (a.upper - a.lower) < 6.0 * se);
    }

    #[test]
    fn bootstrap_degenerate_and_invalid() {
        let ci = bootstrap_mean_ci(&[0.3; 5], &BootstrapConfig::default()).unwrap();
        assert_eq!(
            ci,
            Interval {
                mean: 0.3,
                lower: 0.3,
                upper: 0.3
            }
        );
        let ci = bootstrap_mean_ci(&[2.0], &BootstrapConfig::default()).unwrap();
        assert_eq!(
            ci,
            Interval {
                mean: 2.0,
                lower: 2.0,
                upper: 2.0
            }
        );
        let cfg = BootstrapConfig::default();
        assert!(matches!(
            bootstrap_mean_ci(&[], &cfg),
            Err(Error::Empty { .. })
        ));
        assert!(matches!(
            bootstrap_mean_ci(&[1.0, f64::NAN], &cfg),
            Err(Error::NonFinite { index: 1, .. })
        ));
        let bad = BootstrapConfig {
            confidence: 1.0,
            ..cfg
        };
        assert!(bootstrap_mean_ci(&[1.0], &bad).is_err());
        let bad = BootstrapConfig {
            resamples: 0,
            ..cfg
        };
        assert!(bootstrap_mean_ci(&[1.0], &bad).is_err());
    }

    #[test]
    fn bootstrap_quantile_interpolates() {
        let s = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&s, 0.0), 0.0);
        assert_eq!(quantile(&s, 1.0), 4.0);
        assert_eq!(quantile(&s, 0.5), 2.0);
        assert!((quantile(&s, 0.025) - 0.1).abs() < 1e-12);
        assert_eq!(quantile(&[5.0], 0.975), 5.0);
    }
}

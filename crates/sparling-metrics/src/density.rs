//! A table of errors across densities, for the error-vs-density curve (the paper's results: at 10x
//! the minimum density FPE and CE are high; both fall as the density approaches the minimum).
//!
//! Each row holds one density and, for every metric, the mean over training seeds with a
//! bootstrap interval ([`crate::bootstrap_mean_ci`]). Rows are kept sorted by decreasing
//! density (the order in which annealing visits them).

use serde::{Deserialize, Serialize};

use crate::bootstrap::{BootstrapConfig, Interval, bootstrap_mean_ci};
use crate::confusion::MotifErrors;
use crate::error::{Error, Result};

/// The errors of one trained model (one seed) at one density, as fractions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedErrors {
    /// The motif errors.
    pub motif: MotifErrors,
    /// The end-to-end error, if measured.
    pub e2ee: Option<f64>,
}

/// One density's row: means over seeds with bootstrap intervals (fractions, not percent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DensityRow {
    /// The density (fraction of nonzero entries the Sparse layer keeps).
    pub density: f64,
    /// Number of seeds aggregated.
    pub n_seeds: usize,
    /// False-positive error.
    pub fpe: Interval,
    /// False-negative error.
    pub fne: Interval,
    /// Confusion error (one-to-one).
    pub ce: Interval,
    /// Confusion error (many-to-one).
    pub ce_many_to_one: Interval,
    /// End-to-end error, when every seed has one.
    pub e2ee: Option<Interval>,
}

/// Errors across densities; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DensityTable {
    /// The rows, by decreasing density.
    pub rows: Vec<DensityRow>,
}

impl DensityTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the row of `density` from the per-seed errors (each metric bootstrapped with
    /// `config`). Errors if `seeds` is empty, the density is not in (0, 1] or already present,
    /// or a value is not finite. The E2EE column is filled only if every seed has one.
    pub fn push(
        &mut self,
        density: f64,
        seeds: &[SeedErrors],
        config: &BootstrapConfig,
    ) -> Result<()> {
        if !(density > 0.0 && density <= 1.0) {
            return Err(Error::InvalidParameter {
                name: "density",
                msg: format!("{density} is not in (0, 1]"),
            });
        }
        if self.rows.iter().any(|r| r.density == density) {
            return Err(Error::InvalidParameter {
                name: "density",
                msg: format!("density {density} is already in the table"),
            });
        }
        let ci = |f: &dyn Fn(&SeedErrors) -> f64| {
            let v: Vec<f64> = seeds.iter().map(f).collect();
            bootstrap_mean_ci(&v, config)
        };
        let e2ee = match seeds.iter().map(|s| s.e2ee).collect::<Option<Vec<f64>>>() {
            Some(v) if !v.is_empty() => Some(bootstrap_mean_ci(&v, config)?),
            _ => None,
        };
        let row = DensityRow {
            density,
            n_seeds: seeds.len(),
            fpe: ci(&|s| s.motif.fpe)?,
            fne: ci(&|s| s.motif.fne)?,
            ce: ci(&|s| s.motif.ce)?,
            ce_many_to_one: ci(&|s| s.motif.ce_many_to_one)?,
            e2ee,
        };
        let at = self.rows.partition_point(|r| r.density > density);
        self.rows.insert(at, row);
        Ok(())
    }

    /// The table as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// The table as Markdown, values in percent as `mean [lower, upper]`.
    ///
    /// ```text
    /// | density | seeds | FPE % | FNE % | CE % | CE many-to-one % | E2EE % |
    /// |---:|---:|---|---|---|---|---|
    /// | 5.0226e-5 | 9 | 1.48 [0.07, 4.23] | ... |
    /// ```
    pub fn to_markdown(&self) -> String {
        let mut s = String::from(
            "| density | seeds | FPE % | FNE % | CE % | CE many-to-one % | E2EE % |\n\
             |---:|---:|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            let e2ee = r.e2ee.as_ref().map_or_else(|| "-".to_string(), percent);
            s.push_str(&format!(
                "| {:.4e} | {} | {} | {} | {} | {} | {} |\n",
                r.density,
                r.n_seeds,
                percent(&r.fpe),
                percent(&r.fne),
                percent(&r.ce),
                percent(&r.ce_many_to_one),
                e2ee
            ));
        }
        s
    }
}

/// `mean [lower, upper]` in percent with two decimals.
pub(crate) fn percent(i: &Interval) -> String {
    format!(
        "{:.2} [{:.2}, {:.2}]",
        100.0 * i.mean,
        100.0 * i.lower,
        100.0 * i.upper
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(fpe: f64, ce: f64, e2ee: Option<f64>) -> SeedErrors {
        SeedErrors {
            motif: MotifErrors {
                fpe,
                fne: 0.01,
                ce,
                ce_many_to_one: ce / 2.0,
            },
            e2ee,
        }
    }

    #[test]
    fn density_table_sorted_rows_and_markdown() {
        let cfg = BootstrapConfig::default();
        let mut t = DensityTable::new();
        t.push(
            5.0226e-5,
            &[seed(0.01, 0.02, Some(0.01)), seed(0.03, 0.0, Some(0.02))],
            &cfg,
        )
        .unwrap();
        t.push(
            5.0e-4,
            &[seed(0.77, 0.43, None), seed(0.75, 0.41, Some(0.0))],
            &cfg,
        )
        .unwrap();
        t.push(1.0e-4, &[seed(0.2, 0.1, Some(0.0))], &cfg).unwrap();
        let d: Vec<f64> = t.rows.iter().map(|r| r.density).collect();
        assert_eq!(d, vec![5.0e-4, 1.0e-4, 5.0226e-5]);
        assert!((t.rows[0].fpe.mean - 0.76).abs() < 1e-12);
        assert!(t.rows[0].e2ee.is_none(), "one seed lacks an E2EE");
        assert_eq!(
            t.rows[1].ce,
            Interval {
                mean: 0.1,
                lower: 0.1,
                upper: 0.1
            }
        );
        assert_eq!(t.rows[2].n_seeds, 2);

        let md = t.to_markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[0],
            "| density | seeds | FPE % | FNE % | CE % | CE many-to-one % | E2EE % |"
        );
        assert_eq!(
            lines[3],
            "| 1.0000e-4 | 1 | 20.00 [20.00, 20.00] | 1.00 [1.00, 1.00] | 10.00 [10.00, 10.00] \
             | 5.00 [5.00, 5.00] | 0.00 [0.00, 0.00] |"
        );
        assert!(lines[2].ends_with("| - |"));

        let back: DensityTable = serde_json::from_str(&t.to_json().unwrap()).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn density_table_rejects_bad_rows() {
        let cfg = BootstrapConfig::default();
        let mut t = DensityTable::new();
        assert!(t.push(0.0, &[seed(0.1, 0.1, None)], &cfg).is_err());
        assert!(t.push(0.5, &[], &cfg).is_err());
        t.push(0.5, &[seed(0.1, 0.1, None)], &cfg).unwrap();
        assert!(t.push(0.5, &[seed(0.1, 0.1, None)], &cfg).is_err());
        assert!(t.push(0.25, &[seed(f64::NAN, 0.1, None)], &cfg).is_err());
        assert_eq!(t.rows.len(), 1);
    }
}

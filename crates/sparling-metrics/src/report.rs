//! Reporting a [`Confusion`]: JSON (the `sparling score-motifs` output), Markdown, and the row
//! order that puts the optimal assignment on the diagonal (shared with the PNG heatmap).

use serde::{Deserialize, Serialize};

use crate::confusion::Confusion;
use crate::error::Result;

/// The motif scores of a table, in the JSON form printed by `sparling score-motifs`.
///
/// Keys (in this order): `fpe`, `fne`, `ce`, `ce_many_to_one` (fractions in `[0, 1]`),
/// `n_motifs` (`#(true != none)`), `n_predictions` (`#(pred != none)`), `assignment` (for
/// each channel, the class label it is matched to by the optimal one-to-one assignment, or
/// `null`), and `confusion` (the full table, see [`Confusion`]'s serialisation: `counts[i][k]`
/// with row `channels` = "pred none" and column `classes` = "true none").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MotifReport {
    /// False-positive error.
    pub fpe: f64,
    /// False-negative error.
    pub fne: f64,
    /// Confusion error with the optimal one-to-one assignment.
    pub ce: f64,
    /// Confusion error with each channel mapped to its most frequent class.
    pub ce_many_to_one: f64,
    /// Number of ground-truth motifs.
    pub n_motifs: u64,
    /// Number of predictions (claimed motifs plus false positives).
    pub n_predictions: u64,
    /// For each channel, the label of its class in the optimal assignment, or `None`.
    pub assignment: Vec<Option<String>>,
    /// The full count table.
    pub confusion: Confusion,
}

impl MotifReport {
    /// Computes the report of a table; [`crate::Error::NoSamples`] for an empty one.
    pub fn new(confusion: &Confusion) -> Result<Self> {
        let e = confusion.errors()?;
        Ok(MotifReport {
            fpe: e.fpe,
            fne: e.fne,
            ce: e.ce,
            ce_many_to_one: e.ce_many_to_one,
            n_motifs: confusion.n_motifs(),
            n_predictions: confusion.n_predictions(),
            assignment: confusion
                .optimal_assignment()
                .into_iter()
                .map(|k| k.map(|k| confusion.class_label(k)))
                .collect(),
            confusion: confusion.clone(),
        })
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// The report as Markdown: a table of the metrics (percent), then the confusion table with
    /// rows in [`aligned_row_order`] (the optimal assignment on the diagonal).
    pub fn to_markdown(&self) -> String {
        let c = &self.confusion;
        let mut s = String::from("| metric | value |\n|---|---:|\n");
        for (name, v) in [
            ("FPE", self.fpe),
            ("FNE", self.fne),
            ("CE", self.ce),
            ("CE (many-to-one)", self.ce_many_to_one),
        ] {
            s.push_str(&format!("| {name} | {:.2}% |\n", 100.0 * v));
        }
        s.push_str(&format!("| motifs | {} |\n", self.n_motifs));
        s.push_str(&format!("| predictions | {} |\n", self.n_predictions));
        if c.multi_channel_footprints() > 0 {
            s.push_str(&format!(
                "| footprints hit by several channels | {} |\n",
                c.multi_channel_footprints()
            ));
        }
        s.push_str("\n| pred \\ true |");
        for k in 0..c.classes() {
            s.push_str(&format!(" {} |", c.class_label(k)));
        }
        s.push_str(" none |\n|---|");
        s.push_str(&"---:|".repeat(c.classes() + 1));
        s.push('\n');
        for row in aligned_row_order(c) {
            match row {
                Some(ch) => s.push_str(&format!("| channel {ch} |")),
                None => s.push_str("| none |"),
            }
            for k in (0..c.classes()).map(Some).chain([None]) {
                if row.is_none() && k.is_none() {
                    s.push_str(" - |");
                } else {
                    s.push_str(&format!(" {} |", c.count(row, k)));
                }
            }
            s.push('\n');
        }
        s
    }
}

/// The order in which to show the rows of a table so that the optimal one-to-one assignment
/// lies on the diagonal: for each class in order, the channel assigned to it (if any); then the
/// unassigned channels by index; then `None`, the "pred = none" row.
pub fn aligned_row_order(confusion: &Confusion) -> Vec<Option<usize>> {
    let assignment = confusion.optimal_assignment();
    let mut order = Vec::with_capacity(confusion.channels() + 1);
    for k in 0..confusion.classes() {
        if let Some(ch) = assignment.iter().position(|&a| a == Some(k)) {
            order.push(Some(ch));
        }
    }
    order.extend(
        (0..confusion.channels())
            .filter(|&ch| assignment[ch].is_none())
            .map(Some),
    );
    order.push(None);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Confusion {
        // Channel 2 detects class "a", channel 0 detects class "b", channel 1 only fires outside
        // footprints.
        let mut c = Confusion::with_class_names(3, vec!["a".into(), "b".into()]);
        c.record(Some(2), Some(0), 4).unwrap();
        c.record(Some(0), Some(1), 3).unwrap();
        c.record(Some(0), Some(0), 1).unwrap();
        c.record(Some(1), None, 2).unwrap();
        c.record(None, Some(1), 1).unwrap();
        c
    }

    #[test]
    fn report_json_keys_and_values() {
        let r = MotifReport::new(&table()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut want = vec![
            "fpe",
            "fne",
            "ce",
            "ce_many_to_one",
            "n_motifs",
            "n_predictions",
            "assignment",
            "confusion",
        ];
        want.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(v["n_motifs"], 9);
        assert_eq!(v["n_predictions"], 10);
        assert_eq!(v["assignment"], serde_json::json!(["b", null, "a"]));
        assert!((r.fpe - 0.2).abs() < 1e-15);
        assert!((r.fne - 1.0 / 9.0).abs() < 1e-15);
        assert!((r.ce - 1.0 / 8.0).abs() < 1e-15);
        let back: MotifReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn report_markdown_aligns_the_assignment() {
        let c = table();
        assert_eq!(aligned_row_order(&c), vec![Some(2), Some(0), Some(1), None]);
        let md = MotifReport::new(&c).unwrap().to_markdown();
        assert!(md.contains("| FPE | 20.00% |"), "{md}");
        assert!(md.contains("| CE | 12.50% |"), "{md}");
        let tail: Vec<&str> = md
            .lines()
            .skip_while(|l| !l.starts_with("| pred \\"))
            .collect();
        assert_eq!(
            tail,
            vec![
                "| pred \\ true | a | b | none |",
                "|---|---:|---:|---:|",
                "| channel 2 | 4 | 0 | 0 |",
                "| channel 0 | 1 | 3 | 0 |",
                "| channel 1 | 0 | 0 | 2 |",
                "| none | 0 | 1 | - |",
            ]
        );
    }
}

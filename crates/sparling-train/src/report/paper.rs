//! The paper's published DigitCircle numbers (Gupta, Bastani, Solar-Lezama, "Sparling:
//! End-to-End Spatial Concept Learning via Extremely Sparse Activations", ICLR 2026: means
//! over 9 seeds, in percent, at density 5.0226e-5) and the two-sided verdict of a number
//! against their 95% intervals.

use serde::Serialize;

/// The number of seeds behind each of the paper's means.
pub const PAPER_SEEDS: usize = 9;

/// One of the paper's figures for Sparling (MT): the mean over seeds and its 95% interval, in
/// percent, as printed (two decimals).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PaperFigure {
    /// The metric's name.
    pub name: &'static str,
    /// The mean over [`PAPER_SEEDS`] seeds (%).
    pub mean: f64,
    /// The lower end of the 95% interval (%).
    pub lower: f64,
    /// The upper end of the 95% interval (%).
    pub upper: f64,
}

/// Sparling (per-channel thresholds) on DigitCircle: FPE, FNE, CE, E2EE.
pub const PAPER_SPARLING: [PaperFigure; 4] = [
    PaperFigure {
        name: "FPE",
        mean: 1.48,
        lower: 0.07,
        upper: 4.23,
    },
    PaperFigure {
        name: "FNE",
        mean: 0.42,
        lower: 0.25,
        upper: 0.67,
    },
    PaperFigure {
        name: "CE",
        mean: 1.16,
        lower: 0.03,
        upper: 3.39,
    },
    PaperFigure {
        name: "E2EE",
        mean: 0.74,
        lower: 0.47,
        upper: 1.15,
    },
];

/// Where a number falls against one of the paper's intervals (all four are errors: lower is
/// better).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Below the interval's lower end: better than the paper.
    Below,
    /// Inside the interval, ends included.
    Inside,
    /// Above the interval's upper end: worse than the paper.
    Above,
}

impl Verdict {
    /// The verdict in words.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Below => "below the paper's interval: better",
            Verdict::Inside => "inside the paper's interval",
            Verdict::Above => "above the paper's interval: worse",
        }
    }
}

/// Where the error `value` (a fraction, e.g. 0.0065 for 0.65%) falls against `figure`'s
/// interval. The value is compared at the paper's precision (hundredths of a percent), the
/// precision the report prints it at, so a printed 0.07 is inside an interval that starts at
/// 0.07 and a printed 0.06 is below it.
pub fn verdict(value: f64, figure: &PaperFigure) -> Verdict {
    let hundredths = |pct: f64| (pct * 100.0).round();
    let v = hundredths(100.0 * value);
    if v < hundredths(figure.lower) {
        Verdict::Below
    } else if v > hundredths(figure.upper) {
        Verdict::Above
    } else {
        Verdict::Inside
    }
}

/// What the paper reports for the other experiments, as text to print beside ours.
pub const PAPER_TEXT: &[(&str, &str)] = &[
    (
        "sparling",
        "FPE 1.48 [0.07-4.23], FNE 0.42 [0.25-0.67], CE 1.16 [0.03-3.39], E2EE 0.74 [0.47-1.15]",
    ),
    ("st", "FPE 0.00, FNE 0.98, CE 22.19, E2EE 2.11"),
    ("mt-no-bn", "E2EE 70-74 across seeds"),
    ("st-no-bn", "E2EE 52-66 across seeds"),
    ("no-annealing", "E2EE 68"),
    ("no-annealing-penultimate", "E2EE 71"),
    (
        "l1-0.1",
        "stays dense: density 37%, FPE 99.99, FNE 0, CE 50.3, E2EE 0.68",
    ),
    (
        "l1-1",
        "stays dense: density 4.6%, FPE 99.90, FNE 0, CE 47.8, E2EE 2.85",
    ),
    (
        "l1-2",
        "density 0.021%, FPE 91.25, FNE 58.1, CE 45.7, E2EE 70.3",
    ),
    (
        "l1-5",
        "density 0.031%, FPE 95.99, FNE 73.1, CE 50.9, E2EE 75.0",
    ),
    (
        "l1-10",
        "density 0.028%, FPE 97.63, FNE 84.5, CE 33.8, E2EE 73.2",
    ),
    ("kl-1", "density never below 0.1%"),
    (
        "kl-1000",
        "density never below 0.1%; accuracy collapses from lambda 1000 on",
    ),
    ("non-sparse", "E2EE about 0.23"),
    ("retrained", "E2EE about 0.16"),
];

/// Which of the paper's setups a report's runs are on: the one its figures are compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaperDomain {
    /// The paper's DigitCircle: [`PAPER_SPARLING`] with its intervals, [`PAPER_TEXT`].
    DigitCircle,
    /// The paper's spoken-digit sequences: [`PAPER_SPOKEN_DIGITS`], means only.
    SpokenDigits,
    /// The paper's rendered formulas (at any resolution): [`PAPER_FORMULA`], means only.
    Formula,
    /// Another domain or configuration (the quick profile's smaller DigitCircle): reported for
    /// itself, without the paper's figures.
    Other,
}

impl PaperDomain {
    /// The paper's means for the domains it prints no intervals for.
    pub fn means(self) -> Option<&'static PaperMeans> {
        match self {
            PaperDomain::SpokenDigits => Some(&PAPER_SPOKEN_DIGITS),
            PaperDomain::Formula => Some(&PAPER_FORMULA),
            PaperDomain::DigitCircle | PaperDomain::Other => None,
        }
    }
}

/// Sparling's means on one of the paper's other domains: FPE, FNE, CE and E2EE in percent,
/// over [`PAPER_SEEDS`] seeds (the paper prints no interval for them).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PaperMeans {
    /// `(name, mean %)` of FPE, FNE, CE and E2EE.
    pub figures: [(&'static str, f64); 4],
    /// Whether the paper's CE maps each channel to its most frequent class (many to one)
    /// rather than by the one-to-one assignment.
    pub ce_many_to_one: bool,
}

/// The paper's spoken-digit sequences (10 channels for 10 digits: CE one to one).
pub const PAPER_SPOKEN_DIGITS: PaperMeans = PaperMeans {
    figures: [("FPE", 0.00), ("FNE", 4.46), ("CE", 5.47), ("E2EE", 8.65)],
    ce_many_to_one: false,
};

/// The paper's rendered formulas (32 channels for 20 classes: CE many to one).
pub const PAPER_FORMULA: PaperMeans = PaperMeans {
    figures: [("FPE", 0.53), ("FNE", 14.20), ("CE", 2.50), ("E2EE", 0.98)],
    ce_many_to_one: true,
};

/// Where our `value` (a fraction) stands against one of the paper's means without an interval
/// (in percent): the signed difference in percentage points at the paper's precision, in words.
pub fn against_mean(value: f64, paper_mean: f64) -> String {
    let diff = ((100.0 * value - paper_mean) * 100.0).round() / 100.0;
    if diff > 0.0 {
        format!("{diff:.2} points above the paper's mean: worse")
    } else if diff < 0.0 {
        format!("{:.2} points below the paper's mean: better", -diff)
    } else {
        "equal to the paper's mean".to_string()
    }
}

/// The caveat printed when `seeds` of our runs meet the paper's 9-seed intervals.
pub fn seed_caveat(seeds: usize) -> Option<String> {
    (seeds < PAPER_SEEDS).then(|| {
        format!(
            "Caveat: the paper's intervals are 95% intervals of a mean over {PAPER_SEEDS} seeds; \
             this is {} over {seeds} seed{}. One seed varies more than a {PAPER_SEEDS}-seed mean, \
             so \"inside\" or \"outside\" here says where our number falls, not that the two \
             methods differ or agree.",
            if seeds == 1 { "one run" } else { "a mean" },
            if seeds == 1 { "" } else { "s" }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_intervals_are_the_papers() {
        let ends: Vec<(f64, f64)> = PAPER_SPARLING.iter().map(|f| (f.lower, f.upper)).collect();
        assert_eq!(
            ends,
            [(0.07, 4.23), (0.25, 0.67), (0.03, 3.39), (0.47, 1.15)]
        );
        assert!(
            PAPER_SPARLING
                .iter()
                .all(|f| f.lower <= f.mean && f.mean <= f.upper)
        );
        assert!(PAPER_TEXT[0].1.contains("[0.07-4.23]"));
    }

    #[test]
    fn verdicts_at_and_around_the_ends() {
        let [fpe, fne, ce, e2ee] = PAPER_SPARLING;
        // FPE [0.07, 4.23]: 0.01% is below (the old verdict called it inside).
        assert_eq!(verdict(0.0001, &fpe), Verdict::Below);
        assert_eq!(verdict(0.0006, &fpe), Verdict::Below);
        assert_eq!(verdict(0.0007, &fpe), Verdict::Inside);
        assert_eq!(verdict(0.0423, &fpe), Verdict::Inside);
        assert_eq!(verdict(0.0424, &fpe), Verdict::Above);
        // FNE [0.25, 0.67]: 0.70% (the old bar) is above.
        assert_eq!(verdict(0.0024, &fne), Verdict::Below);
        assert_eq!(verdict(0.0025, &fne), Verdict::Inside);
        assert_eq!(verdict(0.0065, &fne), Verdict::Inside);
        assert_eq!(verdict(0.0067, &fne), Verdict::Inside);
        assert_eq!(verdict(0.0068, &fne), Verdict::Above);
        assert_eq!(verdict(0.0070, &fne), Verdict::Above);
        // CE [0.03, 3.39].
        assert_eq!(verdict(0.0, &ce), Verdict::Below);
        assert_eq!(verdict(0.0003, &ce), Verdict::Inside);
        assert_eq!(verdict(0.0339, &ce), Verdict::Inside);
        assert_eq!(verdict(0.0340, &ce), Verdict::Above);
        // E2EE [0.47, 1.15]: 1.20% (the old bar) is above; a value printed as 1.15 is inside.
        assert_eq!(verdict(0.0046, &e2ee), Verdict::Below);
        assert_eq!(verdict(0.0047, &e2ee), Verdict::Inside);
        assert_eq!(verdict(0.011_549, &e2ee), Verdict::Inside);
        assert_eq!(verdict(0.0111, &e2ee), Verdict::Inside);
        assert_eq!(verdict(0.0116, &e2ee), Verdict::Above);
        assert_eq!(verdict(0.0120, &e2ee), Verdict::Above);
        assert_eq!(Verdict::Below.text(), "below the paper's interval: better");
        assert_eq!(Verdict::Above.text(), "above the paper's interval: worse");
    }

    #[test]
    fn differences_from_a_mean_are_signed_at_the_papers_precision() {
        assert_eq!(
            against_mean(0.0500, 4.46),
            "0.54 points above the paper's mean: worse"
        );
        assert_eq!(
            against_mean(0.0400, 4.46),
            "0.46 points below the paper's mean: better"
        );
        assert_eq!(against_mean(0.04461, 4.46), "equal to the paper's mean");
        assert_eq!(against_mean(0.0, 0.0), "equal to the paper's mean");
    }

    #[test]
    fn the_caveat_names_the_seeds() {
        let one = seed_caveat(1).unwrap();
        assert!(
            one.contains("one run over 1 seed.") && one.contains("9 seeds"),
            "{one}"
        );
        assert!(seed_caveat(3).unwrap().contains("a mean over 3 seeds"));
        assert_eq!(seed_caveat(9), None);
    }
}

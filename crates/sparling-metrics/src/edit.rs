//! End-to-end error: normalised Levenshtein distance and exact-match accuracy (as defined in the paper).
//!
//! `E2EE = mean over samples of d(y, y') / max(|y|, |y'|)`, with `d` the Levenshtein distance
//! (unit-cost insertions, deletions and substitutions). The normalised distance of two empty
//! sequences is 0. Over an empty set of samples there is no score: [`E2eAccumulator::e2ee`] and
//! [`E2eAccumulator::exact_match_accuracy`] return [`Error::NoSamples`] (their vacuous values,
//! 0 and 1, would read as a perfect model).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The Levenshtein distance between two sequences: the least number of single-element
/// insertions, deletions and substitutions turning `a` into `b`. `O(|a| * |b|)` time,
/// `O(min(|a|, |b|))` memory.
///
/// ```
/// use sparling_metrics::levenshtein;
/// assert_eq!(levenshtein(b"kitten", b"sitting"), 3);
/// assert_eq!(levenshtein(&[1, 2, 3], &[1, 3]), 1);
/// ```
pub fn levenshtein<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let (a, b) = if a.len() < b.len() { (b, a) } else { (a, b) };
    // prev[j] = distance between a[..i] and b[..j].
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(x != y);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// `levenshtein(y, y_hat) / max(|y|, |y_hat|)`, in `[0, 1]`; 0 when both are empty.
///
/// ```
/// use sparling_metrics::normalized_edit_distance;
/// assert_eq!(normalized_edit_distance(&[3, 1, 4], &[3, 1, 4, 1]), 0.25);
/// assert_eq!(normalized_edit_distance::<u8>(&[], &[]), 0.0);
/// ```
pub fn normalized_edit_distance<T: PartialEq>(y: &[T], y_hat: &[T]) -> f64 {
    let n = y.len().max(y_hat.len());
    if n == 0 {
        0.0
    } else {
        levenshtein(y, y_hat) as f64 / n as f64
    }
}

/// Streaming end-to-end error and exact-match accuracy over many samples; mergeable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct E2eAccumulator {
    /// Number of samples added.
    pub n: u64,
    /// Number of samples whose prediction equals the target exactly.
    pub exact: u64,
    /// Sum over samples of the normalised edit distance.
    pub sum_normalized: f64,
}

impl E2eAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one (target, prediction) pair.
    pub fn add<T: PartialEq>(&mut self, y: &[T], y_hat: &[T]) {
        self.n += 1;
        self.exact += u64::from(y == y_hat);
        self.sum_normalized += normalized_edit_distance(y, y_hat);
    }

    /// Adds another accumulator's samples. (Floating-point sums are added in call order, so
    /// merge partial results in a fixed order for bit-reproducible totals.)
    pub fn merge(&mut self, other: &E2eAccumulator) {
        self.n += other.n;
        self.exact += other.exact;
        self.sum_normalized += other.sum_normalized;
    }

    /// Mean normalised edit distance; [`Error::NoSamples`] over no samples.
    pub fn e2ee(&self) -> Result<f64> {
        if self.n == 0 {
            return Err(Error::NoSamples {
                what: "the end-to-end error",
            });
        }
        Ok(self.sum_normalized / self.n as f64)
    }

    /// Fraction of exact matches; [`Error::NoSamples`] over no samples.
    pub fn exact_match_accuracy(&self) -> Result<f64> {
        if self.n == 0 {
            return Err(Error::NoSamples {
                what: "the exact-match accuracy",
            });
        }
        Ok(self.exact as f64 / self.n as f64)
    }
}

/// The end-to-end error of paired lists of targets and predictions. Errors if the lists have
/// different lengths, and [`Error::NoSamples`] for empty lists.
pub fn e2ee<T: PartialEq>(targets: &[Vec<T>], predictions: &[Vec<T>]) -> Result<f64> {
    if targets.len() != predictions.len() {
        return Err(Error::SizeMismatch {
            what: "predictions (one per target)",
            expected: targets.len(),
            actual: predictions.len(),
        });
    }
    let mut acc = E2eAccumulator::new();
    for (y, y_hat) in targets.iter().zip(predictions) {
        acc.add(y, y_hat);
    }
    acc.e2ee()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_known_pairs() {
        let cases: [(&str, &str, usize); 10] = [
            ("kitten", "sitting", 3),
            ("sitting", "kitten", 3),
            ("flaw", "lawn", 2),
            ("", "", 0),
            ("", "abc", 3),
            ("abc", "", 3),
            ("abc", "abc", 0),
            ("intention", "execution", 5),
            ("saturday", "sunday", 3),
            ("ab", "ba", 2), // no transpositions in Levenshtein
        ];
        for (a, b, d) in cases {
            assert_eq!(levenshtein(a.as_bytes(), b.as_bytes()), d, "{a} vs {b}");
        }
        assert_eq!(levenshtein(&[1, 2, 3, 4], &[2, 3, 4, 5]), 2);
    }

    #[test]
    fn normalized_edit_distance_literal() {
        assert_eq!(normalized_edit_distance(b"kitten", b"sitting"), 3.0 / 7.0);
        assert_eq!(normalized_edit_distance(b"abc", b""), 1.0);
        assert_eq!(normalized_edit_distance(b"abc", b"abc"), 0.0);
        assert_eq!(normalized_edit_distance(&[7], &[8]), 1.0);
    }

    #[test]
    fn e2e_accumulator_mean_exact_and_merge() {
        let mut a = E2eAccumulator::new();
        assert!(matches!(a.e2ee(), Err(Error::NoSamples { .. })));
        assert!(matches!(
            a.exact_match_accuracy(),
            Err(Error::NoSamples { .. })
        ));
        assert!(matches!(e2ee::<u8>(&[], &[]), Err(Error::NoSamples { .. })));
        a.add(&[1, 2, 3], &[1, 2, 3]); // 0
        a.add(&[1, 2, 3, 4], &[1, 2, 4]); // 1/4
        let mut b = E2eAccumulator::new();
        b.add(&[5], &[6, 5]); // 1/2
        a.merge(&b);
        assert_eq!(a.n, 3);
        assert_eq!(a.exact_match_accuracy().unwrap(), 1.0 / 3.0);
        assert!((a.e2ee().unwrap() - 0.25).abs() < 1e-15);
        let t = vec![vec![1, 2, 3], vec![1, 2, 3, 4], vec![5]];
        let p = vec![vec![1, 2, 3], vec![1, 2, 4], vec![6, 5]];
        assert!((e2ee(&t, &p).unwrap() - 0.25).abs() < 1e-15);
        assert!(e2ee(&t, &p[..2]).is_err());
    }
}

//! Data streams of a run: disjoint seeds for training, validation and test, and the fixed
//! validation set.

use sparling_domains::{Domain, TokenId};
use sparling_tensor::Tensor;

use crate::error::Result;
use crate::model::SparlingModel;
use crate::objective::Objective;

/// The seeds of a run's three sample streams. Training depends on the run seed; validation
/// and test are fixed across runs (so every run is scored on the same samples) and are
/// distinct from every training stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataSeeds {
    /// The training stream.
    pub train: u64,
    /// The validation stream.
    pub validation: u64,
    /// The test stream.
    pub test: u64,
}

/// Seed of the validation stream (shared by all runs).
pub const VALIDATION_SEED: u64 = 0x5641_4c49_4441_5445;
/// Seed of the test stream (shared by all runs).
pub const TEST_SEED: u64 = 0x5445_5354_5345_5421;

impl DataSeeds {
    /// The streams of run `seed`.
    pub fn for_run(seed: u64) -> DataSeeds {
        // Training streams live in the range [2^63, 2^64), away from the two fixed seeds.
        DataSeeds {
            train: (1u64 << 63) | splitmix64(seed),
            validation: VALIDATION_SEED,
            test: TEST_SEED,
        }
    }
}

/// SplitMix64: a bijective mix of the run seed (distinct seeds give distinct streams).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The fixed validation set, generated once and kept in memory.
pub struct ValidationSet {
    chunks: Vec<(Tensor, Vec<Vec<TokenId>>)>,
    len: usize,
}

/// The outcome of a validation: exact matches among the samples scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidationScore {
    /// Exactly matched sequences.
    pub correct: usize,
    /// Samples scored (all of them unless the validation stopped early).
    pub scored: usize,
    /// Size of the validation set.
    pub total: usize,
}

impl ValidationScore {
    /// Whether every sample was scored.
    pub fn complete(&self) -> bool {
        self.scored == self.total
    }

    /// Exact-match accuracy on the samples scored.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.scored.max(1) as f64
    }

    /// The highest accuracy on the whole set still possible: the accuracy itself when
    /// complete, else as if every sample not scored were right. This is what the schedule is
    /// fed: after an early stop it is at most the bar, which leaves the schedule exactly as the
    /// true accuracy (also at most the bar) would.
    pub fn best_possible(&self) -> f64 {
        (self.correct + self.total - self.scored) as f64 / self.total.max(1) as f64
    }
}

/// Samples per forward pass during validation and evaluation.
pub const EVAL_CHUNK: usize = 50;

impl ValidationSet {
    /// Samples `0..n` of the stream `seed`.
    pub fn generate(domain: &dyn Domain, seed: u64, n: usize) -> ValidationSet {
        let indices: Vec<u64> = (0..n as u64).collect();
        let chunks = indices
            .chunks(EVAL_CHUNK)
            .map(|idx| {
                let b = domain.batch_arrays(seed, idx);
                (Tensor::new(b.inputs), b.tokens)
            })
            .collect();
        ValidationSet { chunks, len: n }
    }

    /// The accuracy under `objective` on the whole set (exact matches of greedy decoding for
    /// the sequence task).
    pub fn accuracy(&self, model: &SparlingModel, objective: Objective) -> Result<f64> {
        Ok(self.score(model, objective, None)?.accuracy())
    }

    /// Scores the model under `objective` (greedy decoding for the sequence task) chunk by
    /// chunk, in order. With `stop_at_or_below = Some(bar)` it
    /// stops after the first chunk where even an all-correct rest could not lift the accuracy
    /// on the whole set above `bar` (the schedule's strict `>`).
    pub fn score(
        &self,
        model: &SparlingModel,
        objective: Objective,
        stop_at_or_below: Option<f64>,
    ) -> Result<ValidationScore> {
        let mut score = ValidationScore {
            correct: 0,
            scored: 0,
            total: self.len,
        };
        for (x, tokens) in &self.chunks {
            score.correct += objective.correct(model, x, tokens)?;
            score.scored += tokens.len();
            let decided = stop_at_or_below.is_some_and(|bar| score.best_possible() <= bar);
            if decided && !score.complete() {
                break;
            }
        }
        Ok(score)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_disjoint() {
        let mut seen = std::collections::HashSet::new();
        for s in 0..1000u64 {
            let d = DataSeeds::for_run(s);
            assert!(seen.insert(d.train));
            assert_ne!(d.train, d.validation);
            assert_ne!(d.train, d.test);
        }
        assert_ne!(VALIDATION_SEED, TEST_SEED);
    }
}

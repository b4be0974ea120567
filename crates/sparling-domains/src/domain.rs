//! The [`Domain`] interface, the per-sample random stream, batches and the minimum density.

use ndarray::ArrayD;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::sample::{Motif, Sample};
use crate::vocab::{TokenId, Vocab};

/// The random stream of sample `index` under `seed`: ChaCha8 keyed by `seed`
/// (`ChaCha8Rng::seed_from_u64(seed)`) on stream number `index` (`set_stream(index)`).
///
/// It depends on `(seed, index)` only, so samples generate in any order, on any number of threads,
/// and any one of them can be regenerated alone. Training, validation and test sets are disjoint
/// by taking different seeds (different ChaCha keys give unrelated streams).
pub fn sample_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// The 32-bit threshold of a Bernoulli(p) flip: a pixel flips when a uniform `u32` draw is below
/// `round(p * 2^32)`, so p = 0 never flips, p = 1 always flips, and every pixel consumes exactly
/// one `u32` whatever p is (the latent draws after the noise do not depend on the noise rate).
pub(crate) fn flip_threshold(p: f64) -> u64 {
    debug_assert!((0.0..=1.0).contains(&p));
    (p * 4_294_967_296.0).round() as u64
}

/// Draws an (h, w) mask of independent Bernoulli flips, row-major, one `u32` per pixel.
pub(crate) fn flip_mask(
    rng: &mut ChaCha8Rng,
    h: usize,
    w: usize,
    threshold: u64,
) -> ndarray::Array2<bool> {
    ndarray::Array2::from_shape_simple_fn((h, w), || u64::from(rng.next_u32()) < threshold)
}

/// A seeded generator of (input, target tokens, ground-truth motifs) samples.
///
/// Implementations draw every random choice of sample `index` from [`sample_rng`]`(seed, index)`,
/// so [`Domain::sample`] is a pure function of `(seed, index)`.
pub trait Domain: Send + Sync {
    /// A short kebab-case name (`"digit-circle"`, `"single-digit"`).
    fn name(&self) -> &'static str;

    /// The output vocabulary (class symbols plus start/end/pad).
    fn vocab(&self) -> &Vocab;

    /// Number of motif classes.
    fn num_classes(&self) -> usize {
        self.vocab().num_classes()
    }

    /// The names of the motif classes, by class id: by default the vocabulary's symbols (the
    /// digit domains, whose classes are their output tokens); the formula domain names its 20
    /// symbol kinds, which are not its 26 tokens.
    fn class_names(&self) -> Vec<String> {
        (0..self.num_classes())
            .map(|k| {
                self.vocab()
                    .symbol(k)
                    .map_or_else(|_| k.to_string(), str::to_string)
            })
            .collect()
    }

    /// The per-sample input shape a model sees: `[1, H, W]` for images, `[C, L]` for signals.
    fn input_shape(&self) -> Vec<usize>;

    /// Number of motif positions per channel in one sample (H*W, or L).
    fn positions(&self) -> usize;

    /// The longest possible target (class tokens, without start/end).
    fn max_tokens(&self) -> usize;

    /// The exact expected number of motifs per sample, when the domain knows it.
    fn expected_motifs(&self) -> Option<f64> {
        None
    }

    /// Generates sample `index` of the stream `seed`.
    fn sample(&self, seed: u64, index: u64) -> Sample;

    /// Puts a sequence of class tokens read off this domain's motifs into the order the
    /// domain writes its outputs in: as given, unless the domain canonicalises (DigitCircle
    /// reads its circle from the smallest digit, [`crate::canonical_rotation`]). For example
    /// the output a model should give once one of its motifs is replaced is the canonical
    /// output of the true output with that symbol substituted.
    fn canonical_output(&self, tokens: &[TokenId]) -> Vec<TokenId> {
        tokens.to_vec()
    }

    /// Generates the samples `indices` in parallel (rayon), in the order given.
    fn batch(&self, seed: u64, indices: &[u64]) -> Vec<Sample> {
        indices.par_iter().map(|&i| self.sample(seed, i)).collect()
    }

    /// Generates the samples `indices` in parallel into a dense input array of shape
    /// `[N, input_shape..]` (e.g. (N, 1, H, W)) plus their tokens and motifs.
    fn batch_arrays(&self, seed: u64, indices: &[u64]) -> Batch {
        let per = self.input_shape().iter().product::<usize>();
        let mut data = vec![0.0f32; per * indices.len()];
        let labels: Vec<(Vec<TokenId>, Vec<Motif>)> = data
            .par_chunks_mut(per.max(1))
            .zip(indices.par_iter())
            .map(|(chunk, &i)| {
                let s = self.sample(seed, i);
                let a = s.input.array();
                assert_eq!(
                    a.len(),
                    chunk.len(),
                    "{}: sample input has {} values, input_shape says {}",
                    self.name(),
                    a.len(),
                    chunk.len()
                );
                for (dst, &v) in chunk.iter_mut().zip(a.iter()) {
                    *dst = v;
                }
                (s.tokens, s.motifs)
            })
            .collect();
        let mut shape = vec![indices.len()];
        shape.extend(self.input_shape());
        let inputs = ArrayD::from_shape_vec(shape, data).expect("buffer sized from the shape");
        let (tokens, motifs) = labels.into_iter().unzip();
        Batch {
            inputs,
            tokens,
            motifs,
        }
    }
}

/// A dense batch: inputs `[N, input_shape..]`, and per sample its tokens and motifs.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The inputs, shape `[N, input_shape..]`.
    pub inputs: ArrayD<f32>,
    /// The target class tokens of each sample (no start/end).
    pub tokens: Vec<Vec<TokenId>>,
    /// The ground-truth motifs of each sample, in placement order.
    pub motifs: Vec<Vec<Motif>>,
}

/// The seed [`min_density`] draws its samples from.
pub const MIN_DENSITY_SEED: u64 = 0x5eed_de05;

/// The theoretical minimum density E[#motifs] / (positions * channels), with E[#motifs]
/// estimated on `n_samples` samples of the stream [`MIN_DENSITY_SEED`] (indices `0..n_samples`).
///
/// The motif count of a sample does not depend on the noise (every noise draw is consumed
/// whatever the rate), so this equals the estimate on noise-free samples. For DigitCircle with
/// 10 channels it is about 4.5e-5 (the spec measured 4.492e-5 on 1,000 samples).
///
/// Panics if `channels` or `n_samples` is 0.
pub fn min_density(domain: &dyn Domain, channels: usize, n_samples: u64) -> f64 {
    min_density_with_seed(domain, channels, n_samples, MIN_DENSITY_SEED)
}

/// [`min_density`] on the stream `seed` (panics if `channels` or `n_samples` is 0).
pub fn min_density_with_seed(
    domain: &dyn Domain,
    channels: usize,
    n_samples: u64,
    seed: u64,
) -> f64 {
    assert!(
        n_samples > 0 && channels > 0,
        "min_density needs samples and channels"
    );
    let total: u64 = (0..n_samples)
        .into_par_iter()
        .map(|i| domain.sample(seed, i).motifs.len() as u64)
        .sum();
    let mean = total as f64 / n_samples as f64;
    mean / (domain.positions() as f64 * channels as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn sample_rng_depends_on_seed_and_index_only() {
        let a: Vec<u32> = (0..8).map(|_| sample_rng(1, 2).next_u32()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut x = sample_rng(1, 2);
        let mut y = sample_rng(1, 3);
        let mut z = sample_rng(2, 2);
        let xs: Vec<u64> = (0..4).map(|_| x.random()).collect();
        let ys: Vec<u64> = (0..4).map(|_| y.random()).collect();
        let zs: Vec<u64> = (0..4).map(|_| z.random()).collect();
        assert_ne!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn flip_threshold_extremes() {
        assert_eq!(flip_threshold(0.0), 0);
        assert_eq!(flip_threshold(1.0), 1 << 32);
        let mut rng = sample_rng(0, 0);
        assert!(
            flip_mask(&mut rng, 5, 7, flip_threshold(1.0))
                .iter()
                .all(|&b| b)
        );
        assert!(flip_mask(&mut rng, 5, 7, 0).iter().all(|&b| !b));
        // one u32 per pixel whatever the rate
        let mut a = sample_rng(0, 0);
        let mut b = sample_rng(0, 0);
        flip_mask(&mut a, 3, 3, 0);
        flip_mask(&mut b, 3, 3, flip_threshold(0.3));
        assert_eq!(a.next_u64(), b.next_u64());
    }
}

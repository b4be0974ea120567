//! SingleDigit: one centred digit stamp on a small noisy image, with the same noise as
//! DigitCircle; the output is that digit. Used to evaluate motif channels as a classifier.

use ndarray::{Array2, s};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::digit_circle::check_noise;
use crate::domain::{Domain, flip_mask, flip_threshold, sample_rng};
use crate::error::{Error, Result};
use crate::sample::{Footprint, Input, Motif, Sample};
use crate::stamps::{StampSet, StampSource};
use crate::vocab::Vocab;

/// Every parameter of SingleDigit; the defaults are the paper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SingleDigitConfig {
    /// Image side. Paper: 32.
    pub size: usize,
    /// Pre-noise as a multiple of the stamps' mean ink fraction (as in DigitCircle). Paper: 0.5.
    pub pre_noise: f64,
    /// Post-noise flip probability. Paper: 0.05.
    pub post_noise: f64,
    /// The stamps. Paper: the embedded glyphs.
    pub stamps: StampSource,
}

impl Default for SingleDigitConfig {
    fn default() -> Self {
        Self {
            size: 32,
            pre_noise: 0.5,
            post_noise: 0.05,
            stamps: StampSource::Paper,
        }
    }
}

/// The SingleDigit generator.
#[derive(Debug, Clone)]
pub struct SingleDigit {
    config: SingleDigitConfig,
    stamps: StampSet,
    vocab: Vocab,
    pre_threshold: u64,
    post_threshold: u64,
}

/// Every latent draw of one SingleDigit sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SingleDigitTrace {
    /// The digit drawn.
    pub digit: u8,
    /// The stamp's rows `[r0, r1)`.
    pub rows: [usize; 2],
    /// The stamp's columns `[c0, c1)`.
    pub cols: [usize; 2],
    /// Pixels set by the pre-noise.
    pub pre_flips: Array2<bool>,
    /// Pixels flipped by the post-noise.
    pub post_flips: Array2<bool>,
    /// The stamp alone on a blank image.
    pub clean: Array2<bool>,
    /// The final image.
    pub image: Array2<bool>,
}

impl SingleDigit {
    /// A generator for `config`, or an error naming the parameter that cannot work.
    pub fn new(config: SingleDigitConfig) -> Result<Self> {
        let stamps = config.stamps.load()?;
        let (pre, post) = check_noise(
            "SingleDigit",
            config.pre_noise,
            config.post_noise,
            stamps.mean_ink_fraction(),
        )?;
        let c = config.size / 2;
        if config.size > u32::MAX as usize / 2 {
            return Err(Error::InvalidConfig {
                domain: "SingleDigit",
                message: format!("size {} is too large", config.size),
            });
        }
        for st in stamps.stamps() {
            let (h, w) = (st.height(), st.width());
            if c < h / 2 || c < w / 2 || c - h / 2 + h > config.size || c - w / 2 + w > config.size
            {
                return Err(Error::InvalidConfig {
                    domain: "SingleDigit",
                    message: format!(
                        "the {h}x{w} stamp of digit {} does not fit a {}x{} image when centred",
                        st.digit, config.size, config.size
                    ),
                });
            }
        }
        Ok(Self {
            pre_threshold: flip_threshold(pre),
            post_threshold: flip_threshold(post),
            config,
            stamps,
            vocab: Vocab::digits(),
        })
    }

    /// The paper's configuration.
    pub fn paper() -> Self {
        Self::new(SingleDigitConfig::default()).expect("the paper's configuration is valid")
    }

    /// The configuration.
    pub fn config(&self) -> &SingleDigitConfig {
        &self.config
    }

    /// The stamps.
    pub fn stamps(&self) -> &StampSet {
        &self.stamps
    }

    /// Generates sample `index` with its latent draws. Draws from [`sample_rng`]`(seed, index)`:
    /// pre-noise (one `u32` per pixel, row-major), the stamp uniform over the stamps (sorted by
    /// digit; `random_range` on `u32`), then post-noise. The stamp's centre point is
    /// `(size/2, size/2)` and its top-left `(size/2 - h/2, size/2 - w/2)`; it overwrites its
    /// rectangle.
    pub fn trace(&self, seed: u64, index: u64) -> SingleDigitTrace {
        let size = self.config.size;
        let mut rng = sample_rng(seed, index);
        let pre_flips = flip_mask(&mut rng, size, size, self.pre_threshold);
        let mut image = pre_flips.clone();
        let k = rng.random_range(0..self.stamps.len() as u32) as usize;
        let stamp = &self.stamps.stamps()[k];
        let (h, w) = (stamp.height(), stamp.width());
        let (r0, c0) = (size / 2 - h / 2, size / 2 - w / 2);
        let mut clean = Array2::from_elem((size, size), false);
        image
            .slice_mut(s![r0..r0 + h, c0..c0 + w])
            .assign(&stamp.pixels);
        clean
            .slice_mut(s![r0..r0 + h, c0..c0 + w])
            .assign(&stamp.pixels);
        let post_flips = flip_mask(&mut rng, size, size, self.post_threshold);
        ndarray::Zip::from(&mut image)
            .and(&post_flips)
            .for_each(|p, &f| *p ^= f);
        SingleDigitTrace {
            digit: stamp.digit,
            rows: [r0, r0 + h],
            cols: [c0, c0 + w],
            pre_flips,
            post_flips,
            clean,
            image,
        }
    }
}

impl Domain for SingleDigit {
    fn name(&self) -> &'static str {
        "single-digit"
    }

    fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    fn input_shape(&self) -> Vec<usize> {
        vec![1, self.config.size, self.config.size]
    }

    fn positions(&self) -> usize {
        self.config.size * self.config.size
    }

    fn max_tokens(&self) -> usize {
        1
    }

    fn expected_motifs(&self) -> Option<f64> {
        Some(1.0)
    }

    fn sample(&self, seed: u64, index: u64) -> Sample {
        let t = self.trace(seed, index);
        let c = self.config.size / 2;
        Sample {
            input: Input::Image(t.image.mapv(|b| if b { 1.0 } else { 0.0 })),
            tokens: vec![usize::from(t.digit)],
            motifs: vec![Motif {
                class: usize::from(t.digit),
                footprint: Footprint::Rect {
                    rows: t.rows,
                    cols: t.cols,
                },
                anchor: vec![c, c],
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_digit_centred_stamp_and_token() {
        let d = SingleDigit::paper();
        assert_eq!(d.input_shape(), vec![1, 32, 32]);
        let mut seen = [0usize; 10];
        for i in 0..2000 {
            let t = d.trace(4, i);
            let stamp = d.stamps().get(t.digit).unwrap();
            assert_eq!(t.rows, [10, 22]);
            assert_eq!(
                t.cols,
                [
                    16 - stamp.width() / 2,
                    16 - stamp.width() / 2 + stamp.width()
                ]
            );
            assert_eq!(
                t.clean.slice(s![10..22, t.cols[0]..t.cols[1]]),
                stamp.pixels
            );
            let sample = d.sample(4, i);
            assert_eq!(sample.tokens, vec![usize::from(t.digit)]);
            assert_eq!(sample.motifs.len(), 1);
            assert_eq!(sample.motifs[0].anchor, vec![16, 16]);
            seen[usize::from(t.digit)] += 1;
        }
        // uniform over 10 digits: 200 expected each, sd ~13.4
        for (digit, &n) in seen.iter().enumerate() {
            assert!((140..=260).contains(&n), "digit {digit} drawn {n} times");
        }
    }

    #[test]
    fn single_digit_noise_rates() {
        let d = SingleDigit::paper();
        let (mut pre, mut post, mut px) = (0usize, 0usize, 0usize);
        for i in 0..2000 {
            let t = d.trace(8, i);
            pre += t.pre_flips.iter().filter(|&&b| b).count();
            post += t.post_flips.iter().filter(|&&b| b).count();
            px += t.image.len();
        }
        let (pre, post) = (pre as f64 / px as f64, post as f64 / px as f64);
        // 2,048,000 pixels: sd 2.3e-4 and 1.5e-4
        assert!((pre - 0.12519).abs() < 1.2e-3, "pre {pre}");
        assert!((post - 0.05).abs() < 8e-4, "post {post}");
    }

    #[test]
    fn single_digit_rejects_bad_configs() {
        let small = SingleDigitConfig {
            size: 8,
            ..Default::default()
        };
        let e = SingleDigit::new(small).unwrap_err().to_string();
        assert!(e.contains("does not fit"), "{e}");
        let noisy = SingleDigitConfig {
            post_noise: 2.0,
            ..Default::default()
        };
        assert!(
            SingleDigit::new(noisy)
                .unwrap_err()
                .to_string()
                .contains("post_noise")
        );
        // the smallest size that fits 12x9 stamps
        assert!(
            SingleDigit::new(SingleDigitConfig {
                size: 12,
                ..Default::default()
            })
            .is_ok()
        );
        assert!(
            SingleDigit::new(SingleDigitConfig {
                size: 11,
                ..Default::default()
            })
            .is_err()
        );
    }
}

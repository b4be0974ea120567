//! DigitCircle: 3-6 distinct digit stamps placed around a random circle on a noisy binary image;
//! the output is the digits read around the circle starting from the smallest (the paper's main synthetic domain).

use std::f64::consts::TAU;

use ndarray::{Array2, s};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::domain::{Domain, flip_mask, flip_threshold, sample_rng};
use crate::error::{Error, Result};
use crate::sample::{Footprint, Input, Motif, Sample};
use crate::stamps::{StampSet, StampSource};
use crate::vocab::{TokenId, Vocab};

/// Every parameter of DigitCircle; the defaults are the paper's.
///
/// Serde: every field is optional (missing fields take the default) and unknown fields are an
/// error, so `{"post_noise": 0.1}` is a valid configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DigitCircleConfig {
    /// Image side (the image is `size x size`). Paper: 100.
    pub size: usize,
    /// Smallest circle radius (inclusive). Paper: 20.
    pub radius_min: usize,
    /// Largest circle radius (inclusive). Paper: 34 (the largest that fits `size` and `padding`).
    pub radius_max: usize,
    /// Margin between the circle and the image edge: the centre is drawn in
    /// `(r + padding)..(size - r - padding)`. The reference uses `shift` + the largest stamp side
    /// (3 + 12 = 15).
    pub padding: usize,
    /// Largest random shift of a stamp's centre on each axis (uniform in `-shift..=shift`).
    /// Paper: 3.
    pub shift: usize,
    /// Fewest digits per image (inclusive). Paper: 3.
    pub digits_min: usize,
    /// Most digits per image (inclusive). Paper: 6.
    pub digits_max: usize,
    /// Pre-noise as a multiple of the stamps' mean ink fraction b: each pixel is set with
    /// probability `b * pre_noise` before the stamps are drawn. Paper: 0.5 (rate 0.12519).
    pub pre_noise: f64,
    /// Post-noise: each pixel flips with this probability after the stamps. Paper: 0.05.
    pub post_noise: f64,
    /// The stamps. Paper: the embedded glyphs.
    pub stamps: StampSource,
}

impl Default for DigitCircleConfig {
    fn default() -> Self {
        Self {
            size: 100,
            radius_min: 20,
            radius_max: 34,
            padding: 15,
            shift: 3,
            digits_min: 3,
            digits_max: 6,
            pre_noise: 0.5,
            post_noise: 0.05,
            stamps: StampSource::Paper,
        }
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidConfig {
        domain: "DigitCircle",
        message,
    }
}

/// Checks a noise rate (shared with SingleDigit).
pub(crate) fn check_noise(
    domain: &'static str,
    pre_noise: f64,
    post_noise: f64,
    ink: f64,
) -> Result<(f64, f64)> {
    let err = |message: String| Error::InvalidConfig { domain, message };
    if !post_noise.is_finite() || !(0.0..=1.0).contains(&post_noise) {
        return Err(err(format!(
            "post_noise {post_noise} is not a probability in [0, 1]"
        )));
    }
    let mut pre_rate = pre_noise * ink;
    if pre_rate > 1.0 && pre_rate <= 1.0 + 1e-9 {
        pre_rate = 1.0; // `1/b` times b, up to rounding
    }
    if !pre_noise.is_finite() || pre_noise < 0.0 || !(0.0..=1.0).contains(&pre_rate) {
        return Err(err(format!(
            "pre_noise {pre_noise} times the stamps' ink fraction {ink:.6} gives a flip rate \
             {pre_rate} outside [0, 1]"
        )));
    }
    Ok((pre_rate, post_noise))
}

impl DigitCircleConfig {
    /// Loads the stamps and checks that every parameter can work; returns the stamps.
    pub fn validate(&self) -> Result<StampSet> {
        let stamps = self.stamps.load()?;
        self.validate_with(&stamps)?;
        Ok(stamps)
    }

    fn validate_with(&self, stamps: &StampSet) -> Result<()> {
        if self.radius_min > self.radius_max {
            return Err(invalid(format!(
                "radius_min {} > radius_max {}",
                self.radius_min, self.radius_max
            )));
        }
        // The centre is drawn in (r + padding)..(size - r - padding), which must be non-empty.
        let need = 2 * (self.radius_max + self.padding);
        if need >= self.size {
            return Err(invalid(format!(
                "a circle of radius {} with padding {} does not fit a {}x{} image (the centre \
                 range (r+padding)..(size-r-padding) is empty; radius_max can be at most {})",
                self.radius_max,
                self.padding,
                self.size,
                self.size,
                (self.size.saturating_sub(1) / 2).saturating_sub(self.padding)
            )));
        }
        if self.digits_min == 0 {
            return Err(invalid("digits_min must be at least 1".into()));
        }
        if self.digits_min > self.digits_max {
            return Err(invalid(format!(
                "digits_min {} > digits_max {}",
                self.digits_min, self.digits_max
            )));
        }
        if self.digits_max > stamps.len() {
            return Err(invalid(format!(
                "digits_max {} exceeds the {} stamps (digits are drawn without replacement)",
                self.digits_max,
                stamps.len()
            )));
        }
        // A stamp centre lies in [padding - shift, size - padding - 1 + shift] on each axis, and
        // its rectangle spans [p - d/2, p - d/2 + d): it stays inside iff
        // padding >= shift + d/2 (which also covers the far edge, since d - d/2 - 1 <= d/2).
        let half = stamps.max_height().max(stamps.max_width()) / 2;
        if self.padding < self.shift + half {
            return Err(invalid(format!(
                "padding {} is too small for shift {} and stamps of up to {}x{} (needs at least \
                 shift + half the largest stamp side = {})",
                self.padding,
                self.shift,
                stamps.max_height(),
                stamps.max_width(),
                self.shift + half
            )));
        }
        if self.size > u32::MAX as usize / 2 {
            return Err(invalid(format!("size {} is too large", self.size)));
        }
        check_noise(
            "DigitCircle",
            self.pre_noise,
            self.post_noise,
            stamps.mean_ink_fraction(),
        )?;
        Ok(())
    }
}

/// The DigitCircle generator (construct with [`DigitCircle::new`] or [`DigitCircle::paper`]).
#[derive(Debug, Clone)]
pub struct DigitCircle {
    config: DigitCircleConfig,
    stamps: StampSet,
    vocab: Vocab,
    pre_rate: f64,
    pre_threshold: u64,
    post_threshold: u64,
}

/// Where one stamp went.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The digit.
    pub digit: u8,
    /// Its angle on the circle (radians, `(cumsum + offset) * 2 pi`).
    pub angle: f64,
    /// `round(centre + r * (cos a, sin a))` as (row, col), before the shift.
    pub circle_point: [i64; 2],
    /// The random shift (row, col), each in `-shift..=shift`.
    pub shift: [i64; 2],
    /// The stamp's centre point: `circle_point + shift`.
    pub point: [usize; 2],
    /// The stamp's rows `[r0, r1)`; `r0 = point.row - h/2`.
    pub rows: [usize; 2],
    /// The stamp's columns `[c0, c1)`; `c0 = point.col - w/2`.
    pub cols: [usize; 2],
}

/// Every latent draw of one DigitCircle sample, for tests and pictures.
#[derive(Debug, Clone, PartialEq)]
pub struct DigitCircleTrace {
    /// Circle radius.
    pub radius: usize,
    /// Circle centre (row, col).
    pub centre: [usize; 2],
    /// The accepted normalised gaps (sum 1, each `>= 1/(2n)`), in placement order.
    pub gaps: Vec<f64>,
    /// How many times the n uniforms were drawn (1 = the first draw was accepted).
    pub angle_draws: usize,
    /// The uniform angular offset (as a fraction of a turn).
    pub offset: f64,
    /// The stamps in placement order (increasing angle).
    pub placements: Vec<Placement>,
    /// Pixels set by the pre-noise.
    pub pre_flips: Array2<bool>,
    /// Pixels flipped by the post-noise.
    pub post_flips: Array2<bool>,
    /// The stamps alone on a blank image (no noise at all).
    pub clean: Array2<bool>,
    /// The final image: pre-noise, stamps overwriting their rectangles, then post-noise flips.
    pub image: Array2<bool>,
    /// The output y: the placed digits rotated so that the smallest comes first.
    pub tokens: Vec<TokenId>,
}

impl DigitCircleTrace {
    /// The digits in placement order.
    pub fn digits(&self) -> Vec<u8> {
        self.placements.iter().map(|p| p.digit).collect()
    }

    /// The ground-truth motifs (placement order).
    pub fn motifs(&self) -> Vec<Motif> {
        self.placements
            .iter()
            .map(|p| Motif {
                class: usize::from(p.digit),
                footprint: Footprint::Rect {
                    rows: p.rows,
                    cols: p.cols,
                },
                anchor: p.point.to_vec(),
            })
            .collect()
    }

    /// The sample (image as 0/1 f32).
    pub fn to_sample(&self) -> Sample {
        Sample {
            input: Input::Image(self.image.mapv(|b| if b { 1.0 } else { 0.0 })),
            tokens: self.tokens.clone(),
            motifs: self.motifs(),
        }
    }

    /// The noise-free sample (the stamps alone, same motifs and tokens).
    pub fn to_clean_sample(&self) -> Sample {
        Sample {
            input: Input::Image(self.clean.mapv(|b| if b { 1.0 } else { 0.0 })),
            tokens: self.tokens.clone(),
            motifs: self.motifs(),
        }
    }
}

/// Rotates `seq` so that its smallest element comes first (the first occurrence, if repeated).
pub fn canonical_rotation<T: Ord + Clone>(seq: &[T]) -> Vec<T> {
    let Some(start) = (0..seq.len()).min_by(|&a, &b| seq[a].cmp(&seq[b])) else {
        return Vec::new();
    };
    seq[start..].iter().chain(&seq[..start]).cloned().collect()
}

impl DigitCircle {
    /// A generator for `config`, or an error naming the parameter that cannot work.
    pub fn new(config: DigitCircleConfig) -> Result<Self> {
        let stamps = config.validate()?;
        let (pre_rate, post_rate) = check_noise(
            "DigitCircle",
            config.pre_noise,
            config.post_noise,
            stamps.mean_ink_fraction(),
        )?;
        Ok(Self {
            pre_threshold: flip_threshold(pre_rate),
            post_threshold: flip_threshold(post_rate),
            pre_rate,
            config,
            stamps,
            vocab: Vocab::digits(),
        })
    }

    /// The paper's configuration.
    pub fn paper() -> Self {
        Self::new(DigitCircleConfig::default()).expect("the paper's configuration is valid")
    }

    /// The configuration.
    pub fn config(&self) -> &DigitCircleConfig {
        &self.config
    }

    /// The stamps.
    pub fn stamps(&self) -> &StampSet {
        &self.stamps
    }

    /// The pre-noise flip probability (`b * pre_noise`; 0.12519 for the paper).
    pub fn pre_noise_rate(&self) -> f64 {
        self.pre_rate
    }

    /// Generates sample `index` of stream `seed` with all its latent draws.
    ///
    /// The draws, from [`sample_rng`]`(seed, index)`, in this order:
    /// 1. pre-noise: one `u32` per pixel, row-major; a pixel is set when its draw is below
    ///    `round(rate * 2^32)` (so every rate consumes the same draws);
    /// 2. radius `r` uniform in `radius_min..=radius_max`, then the centre row and the centre
    ///    column, each uniform in `(r + padding)..(size - r - padding)`;
    /// 3. the digit count n uniform in `digits_min..=digits_max`, then n distinct stamps by a
    ///    partial Fisher-Yates shuffle of the stamps (sorted by digit): for i in 0..n, swap i
    ///    with a uniform j in `i..len`;
    /// 4. angles: n uniform `f64` in [0, 1), normalised to sum 1, redrawn until every one is
    ///    `>= 1/(2n)`; then one uniform offset; angle_i = (cumsum_i + offset) * 2 pi;
    /// 5. for each digit in order: the shift row then the shift column, each uniform in
    ///    `-shift..=shift`; point = round-half-even(centre + r (cos a, sin a)) + shift; the stamp's
    ///    top-left = point - (h/2, w/2); the stamp overwrites its whole rectangle;
    /// 6. post-noise: one `u32` per pixel, row-major, flipping the pixel.
    ///
    /// Integer draws use rand 0.9's `random_range` on `u32` (`i32` for the shifts).
    pub fn trace(&self, seed: u64, index: u64) -> DigitCircleTrace {
        let cfg = &self.config;
        let size = cfg.size;
        let mut rng = sample_rng(seed, index);

        // 1. pre-noise
        let pre_flips = flip_mask(&mut rng, size, size, self.pre_threshold);
        let mut image = pre_flips.clone();
        let mut clean = Array2::from_elem((size, size), false);

        // 2. circle
        let radius = rng.random_range(cfg.radius_min as u32..=cfg.radius_max as u32) as usize;
        let lo = (radius + cfg.padding) as u32;
        let hi = (size - radius - cfg.padding) as u32;
        let centre_row = rng.random_range(lo..hi) as usize;
        let centre_col = rng.random_range(lo..hi) as usize;

        // 3. digits, distinct
        let n = rng.random_range(cfg.digits_min as u32..=cfg.digits_max as u32) as usize;
        let mut pool: Vec<usize> = (0..self.stamps.len()).collect();
        for i in 0..n {
            let j = rng.random_range(i as u32..pool.len() as u32) as usize;
            pool.swap(i, j);
        }
        let chosen = &pool[..n];

        // 4. angles
        let min_gap = 1.0 / (2.0 * n as f64);
        let mut angle_draws = 0;
        let gaps = loop {
            angle_draws += 1;
            let u: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
            let total: f64 = u.iter().sum();
            let g: Vec<f64> = u.iter().map(|x| x / total).collect();
            if g.iter().all(|&x| x >= min_gap) {
                break g;
            }
        };
        let offset = rng.random::<f64>();
        let mut cum = 0.0;
        let angles: Vec<f64> = gaps
            .iter()
            .map(|g| {
                cum += g;
                (cum + offset) * TAU
            })
            .collect();

        // 5. stamps
        let shift = cfg.shift as i32;
        let mut placements = Vec::with_capacity(n);
        for (&k, &angle) in chosen.iter().zip(&angles) {
            let stamp = &self.stamps.stamps()[k];
            let r = radius as f64;
            let circle_point = [
                (centre_row as f64 + r * angle.cos()).round_ties_even() as i64,
                (centre_col as f64 + r * angle.sin()).round_ties_even() as i64,
            ];
            let sr = i64::from(rng.random_range(-shift..=shift));
            let sc = i64::from(rng.random_range(-shift..=shift));
            let (h, w) = (stamp.height(), stamp.width());
            let pr = circle_point[0] + sr;
            let pc = circle_point[1] + sc;
            let r0 = pr - (h / 2) as i64;
            let c0 = pc - (w / 2) as i64;
            assert!(
                r0 >= 0 && c0 >= 0 && r0 as usize + h <= size && c0 as usize + w <= size,
                "DigitCircle: stamp {} at top-left ({r0}, {c0}) leaves the {size}x{size} image \
                 (config validation should make this impossible)",
                stamp.digit
            );
            let (r0, c0) = (r0 as usize, c0 as usize);
            image
                .slice_mut(s![r0..r0 + h, c0..c0 + w])
                .assign(&stamp.pixels);
            clean
                .slice_mut(s![r0..r0 + h, c0..c0 + w])
                .assign(&stamp.pixels);
            placements.push(Placement {
                digit: stamp.digit,
                angle,
                circle_point,
                shift: [sr, sc],
                point: [pr as usize, pc as usize],
                rows: [r0, r0 + h],
                cols: [c0, c0 + w],
            });
        }

        // 6. post-noise
        let post_flips = flip_mask(&mut rng, size, size, self.post_threshold);
        ndarray::Zip::from(&mut image)
            .and(&post_flips)
            .for_each(|p, &f| *p ^= f);

        let digits: Vec<TokenId> = placements.iter().map(|p| usize::from(p.digit)).collect();
        DigitCircleTrace {
            radius,
            centre: [centre_row, centre_col],
            gaps,
            angle_draws,
            offset,
            placements,
            pre_flips,
            post_flips,
            clean,
            image,
            tokens: canonical_rotation(&digits),
        }
    }
}

impl Domain for DigitCircle {
    fn name(&self) -> &'static str {
        "digit-circle"
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
        self.config.digits_max
    }

    fn expected_motifs(&self) -> Option<f64> {
        Some((self.config.digits_min + self.config.digits_max) as f64 / 2.0)
    }

    fn sample(&self, seed: u64, index: u64) -> Sample {
        self.trace(seed, index).to_sample()
    }

    /// The circle read from its smallest digit ([`canonical_rotation`]): the order of
    /// [`DigitCircleTrace::tokens`].
    fn canonical_output(&self, tokens: &[TokenId]) -> Vec<TokenId> {
        canonical_rotation(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DigitCircleConfig {
        DigitCircleConfig::default()
    }

    fn message(c: DigitCircleConfig) -> String {
        match DigitCircle::new(c) {
            Err(e @ Error::InvalidConfig { .. }) => e.to_string(),
            Err(e) => panic!("expected InvalidConfig, got {e}"),
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn digit_circle_canonical_output_is_the_traces_order() {
        let d = DigitCircle::paper();
        for i in 0..20 {
            let t = d.trace(3, i);
            let placed: Vec<TokenId> = t.digits().iter().map(|&g| usize::from(g)).collect();
            assert_eq!(d.canonical_output(&placed), t.tokens);
            // Any rotation of the circle has the same canonical output.
            let mut turned = t.tokens.clone();
            turned.rotate_left(1);
            assert_eq!(d.canonical_output(&turned), t.tokens);
        }
        // A substituted symbol can move the start: 3 5 1 with 1 -> 9 reads 3 5 9.
        assert_eq!(d.canonical_output(&[1, 3, 5]), vec![1, 3, 5]);
        assert_eq!(d.canonical_output(&[9, 3, 5]), vec![3, 5, 9]);
    }

    #[test]
    fn digit_circle_paper_defaults() {
        let d = DigitCircle::paper();
        assert!(
            (d.pre_noise_rate() - 0.12519).abs() < 1e-5,
            "{}",
            d.pre_noise_rate()
        );
        assert_eq!(d.input_shape(), vec![1, 100, 100]);
        assert_eq!(d.max_tokens(), 6);
        assert_eq!(d.expected_motifs(), Some(4.5));
        assert_eq!(d.vocab().len(), 13);
        // the paper's radius_max is the largest that fits
        let mut c = cfg();
        c.radius_max = 35;
        assert!(DigitCircle::new(c).is_err());
    }

    #[test]
    fn digit_circle_config_serde_defaults_and_unknown_fields() {
        let c: DigitCircleConfig = serde_json::from_str(r#"{"post_noise": 0.1}"#).unwrap();
        assert_eq!(
            c,
            DigitCircleConfig {
                post_noise: 0.1,
                ..cfg()
            }
        );
        assert!(serde_json::from_str::<DigitCircleConfig>(r#"{"post_nose": 0.1}"#).is_err());
        let back: DigitCircleConfig =
            serde_json::from_str(&serde_json::to_string(&cfg()).unwrap()).unwrap();
        assert_eq!(back, cfg());
    }

    #[test]
    fn digit_circle_rejects_radius_that_cannot_fit() {
        let m = message(DigitCircleConfig {
            radius_min: 20,
            radius_max: 40,
            ..cfg()
        });
        assert!(
            m.contains("does not fit") && m.contains("at most 34"),
            "{m}"
        );
        let m = message(DigitCircleConfig { size: 40, ..cfg() });
        assert!(m.contains("does not fit"), "{m}");
    }

    #[test]
    fn digit_circle_rejects_min_above_max() {
        let m = message(DigitCircleConfig {
            radius_min: 30,
            radius_max: 25,
            ..cfg()
        });
        assert!(m.contains("radius_min 30 > radius_max 25"), "{m}");
        let m = message(DigitCircleConfig {
            digits_min: 5,
            digits_max: 4,
            ..cfg()
        });
        assert!(m.contains("digits_min 5 > digits_max 4"), "{m}");
        let m = message(DigitCircleConfig {
            digits_min: 0,
            ..cfg()
        });
        assert!(m.contains("at least 1"), "{m}");
    }

    #[test]
    fn digit_circle_rejects_more_digits_than_stamps() {
        let m = message(DigitCircleConfig {
            digits_max: 11,
            ..cfg()
        });
        assert!(m.contains("digits_max 11 exceeds the 10 stamps"), "{m}");
        let three = "digit 1  3x3\n...\n.#.\n...\n\ndigit 2  3x3\n...\n##.\n...\n\ndigit 3  3x3\n...\n###\n...\n";
        let c = DigitCircleConfig {
            stamps: StampSource::Text(three.into()),
            ..cfg()
        };
        let m = message(c.clone());
        assert!(m.contains("digits_max 6 exceeds the 3 stamps"), "{m}");
        let d = DigitCircle::new(DigitCircleConfig { digits_max: 3, ..c }).unwrap();
        let t = d.trace(0, 0);
        let mut digits = t.digits();
        digits.sort();
        assert_eq!(digits, vec![1, 2, 3]);
    }

    #[test]
    fn digit_circle_rejects_noise_outside_unit_interval() {
        for post in [-0.1, 1.5, f64::NAN] {
            let m = message(DigitCircleConfig {
                post_noise: post,
                ..cfg()
            });
            assert!(m.contains("post_noise"), "{m}");
        }
        for pre in [-0.5, 4.1, f64::INFINITY] {
            let m = message(DigitCircleConfig {
                pre_noise: pre,
                ..cfg()
            });
            assert!(m.contains("pre_noise"), "{m}");
        }
        // pre_noise 1/b gives a rate of 1: allowed, and every background pixel is ink
        let d = DigitCircle::new(DigitCircleConfig {
            pre_noise: 3.99,
            post_noise: 1.0,
            ..cfg()
        });
        assert!(d.is_ok());
    }

    #[test]
    fn digit_circle_rejects_padding_too_small_for_shift() {
        let m = message(DigitCircleConfig { shift: 10, ..cfg() });
        assert!(m.contains("padding 15 is too small"), "{m}");
    }

    #[test]
    fn digit_circle_malformed_stamps_are_an_error() {
        let c = DigitCircleConfig {
            stamps: StampSource::Text("digit 1  2x2\n#.\n#\n".into()),
            ..cfg()
        };
        assert!(matches!(
            DigitCircle::new(c),
            Err(Error::StampRaggedRow { .. })
        ));
    }

    #[test]
    fn digit_circle_literal_small_case() {
        // One digit, no noise, no shift: the stamp's centre is round(centre + r (cos a, sin a)).
        let c = DigitCircleConfig {
            digits_min: 1,
            digits_max: 1,
            shift: 0,
            pre_noise: 0.0,
            post_noise: 0.0,
            ..cfg()
        };
        let d = DigitCircle::new(c).unwrap();
        for i in 0..20 {
            let t = d.trace(5, i);
            assert_eq!(t.placements.len(), 1);
            assert_eq!(t.gaps, vec![1.0]);
            assert_eq!(t.angle_draws, 1);
            let p = &t.placements[0];
            assert!((p.angle - (1.0 + t.offset) * TAU).abs() < 1e-12);
            let r = t.radius as f64;
            let expect = [
                (t.centre[0] as f64 + r * p.angle.cos()).round() as usize,
                (t.centre[1] as f64 + r * p.angle.sin()).round() as usize,
            ];
            assert_eq!(p.point, expect);
            let stamp = d.stamps().get(p.digit).unwrap();
            assert_eq!(p.rows, [expect[0] - 6, expect[0] + 6]);
            assert_eq!(p.cols[0], expect[1] - stamp.width() / 2);
            // exactly the stamp's ink, nothing else
            assert_eq!(t.image, t.clean);
            assert_eq!(
                t.image.iter().filter(|&&b| b).count(),
                stamp.pixels.iter().filter(|&&b| b).count()
            );
            assert_eq!(
                t.image
                    .slice(s![p.rows[0]..p.rows[1], p.cols[0]..p.cols[1]]),
                stamp.pixels
            );
            assert_eq!(t.tokens, vec![usize::from(p.digit)]);
        }
    }

    #[test]
    fn digit_circle_stamps_overwrite_their_rectangle() {
        // Full pre-noise (every pixel ink): each stamp's rectangle must equal the stamp,
        // border included, except where a later stamp overwrote it.
        let c = DigitCircleConfig {
            pre_noise: 1.0 / StampSet::paper().mean_ink_fraction(),
            post_noise: 0.0,
            ..cfg()
        };
        let d = DigitCircle::new(c).unwrap();
        for i in 0..50 {
            let t = d.trace(9, i);
            let last = t.placements.last().unwrap();
            let stamp = d.stamps().get(last.digit).unwrap();
            assert_eq!(
                t.image
                    .slice(s![last.rows[0]..last.rows[1], last.cols[0]..last.cols[1]]),
                stamp.pixels
            );
            // outside all rectangles: still the pre-noise (all ink)
            let covered = |r: usize, c: usize| {
                t.placements.iter().any(|p| {
                    (p.rows[0]..p.rows[1]).contains(&r) && (p.cols[0]..p.cols[1]).contains(&c)
                })
            };
            for ((r, c), &v) in t.image.indexed_iter() {
                if !covered(r, c) {
                    assert!(v);
                }
            }
            // the blank border really is blank in the image
            assert!(!t.image[[last.rows[0], last.cols[0]]]);
        }
    }

    #[test]
    fn digit_circle_image_is_noise_stamps_then_flips() {
        let d = DigitCircle::paper();
        for i in 0..30 {
            let t = d.trace(1, i);
            let mut expect = t.pre_flips.clone();
            for p in &t.placements {
                let stamp = d.stamps().get(p.digit).unwrap();
                expect
                    .slice_mut(s![p.rows[0]..p.rows[1], p.cols[0]..p.cols[1]])
                    .assign(&stamp.pixels);
            }
            ndarray::Zip::from(&mut expect)
                .and(&t.post_flips)
                .for_each(|e, &f| *e ^= f);
            assert_eq!(expect, t.image);
            assert_eq!(t.to_sample(), d.sample(1, i));
            let clean = t.to_clean_sample();
            assert_eq!(clean.motifs, t.motifs());
        }
    }

    #[test]
    fn digit_circle_noise_does_not_change_latents() {
        let noisy = DigitCircle::paper();
        let quiet = DigitCircle::new(DigitCircleConfig {
            pre_noise: 0.0,
            post_noise: 0.0,
            ..cfg()
        })
        .unwrap();
        for i in 0..20 {
            let a = noisy.trace(3, i);
            let b = quiet.trace(3, i);
            assert_eq!(a.placements, b.placements);
            assert_eq!(a.clean, b.clean);
            assert_eq!(b.image, b.clean);
        }
    }

    #[test]
    fn canonical_rotation_starts_at_min() {
        assert_eq!(canonical_rotation(&[5, 2, 7, 1, 9]), vec![1, 9, 5, 2, 7]);
        assert_eq!(canonical_rotation(&[0, 3]), vec![0, 3]);
        assert_eq!(canonical_rotation::<u8>(&[]), Vec::<u8>::new());
        assert_eq!(canonical_rotation(&[4, 1, 3, 1]), vec![1, 3, 1, 4]);
    }
}

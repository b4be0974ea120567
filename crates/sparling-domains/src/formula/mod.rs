//! Formula: the paper's LaTeX-OCR domain, self-contained. A formula drawn from the paper's
//! grammar ([`grammar`]) at a target length uniform in `len_min..=len_max` tokens, laid out by
//! our own engine ([`layout`]) with Latin Modern glyphs ([`glyphs`]), centred on a binary image
//! (paper = 1, ink = 0), then 25% of the paper pixels set to 0. The output is the token sequence
//! (26 tokens); the ground truth is one motif per rendered symbol (20 classes, see
//! [`MOTIF_CLASSES`]), its footprint the symbol's ink box padded by `padding` pixels.
//!
//! A formula too large for the image (after the padding margin) is redrawn at the same target
//! length, from the same stream, until one fits. The paper centre-crops such formulas instead;
//! cropping would cut symbols and their footprints, so a redraw keeps every motif whole and the
//! length distribution exactly uniform, at the cost of slightly fewer wide formulas at the
//! longest lengths (see [`FormulaTrace::redraws`]).

pub mod glyphs;
pub mod grammar;
pub mod layout;

use std::sync::OnceLock;

use ndarray::Array2;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::domain::{Domain, MIN_DENSITY_SEED, flip_mask, flip_threshold, sample_rng};
use crate::error::{Error, Result};
use crate::sample::{Footprint, Input, Motif, Sample};
use crate::vocab::{TokenId, Vocab};
use glyphs::{FORMULA_GLYPHS_TEXT, GlyphSet, parse_glyphs};
use grammar::{Node, TOKEN_SYMBOLS, sample_exact, to_tokens};
use layout::{HBox, Typesetter, paint};

pub use grammar::MOTIF_CLASSES;

/// The glyph scale: the paper's (10 pt at 200 dpi, digits about 18 px tall) or half of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlyphScale {
    /// The paper's scale; the image should be about 120 x 360.
    Full,
    /// Half the paper's scale (digits about 9 px tall); the image should be about 60 x 180.
    Half,
}

impl GlyphScale {
    /// The smallest image (height, width) accepted at this scale: the paper's 120 x 360, or half
    /// of it (smaller images reject too many long formulas).
    pub fn min_size(self) -> (usize, usize) {
        match self {
            GlyphScale::Full => (120, 360),
            GlyphScale::Half => (60, 180),
        }
    }

    fn set_names(self) -> (&'static str, &'static str) {
        match self {
            GlyphScale::Full => ("full-text", "full-script"),
            GlyphScale::Half => ("half-text", "half-script"),
        }
    }
}

/// Every parameter of the formula domain; the defaults are the paper's (120 x 360).
///
/// Serde: every field is optional and unknown fields are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FormulaConfig {
    /// Image height. Paper: 120.
    pub height: usize,
    /// Image width. Paper: 360.
    pub width: usize,
    /// Glyph scale. Paper: full.
    pub scale: GlyphScale,
    /// Fraction of paper pixels set to 0 (ink-like noise). Paper: 0.25.
    pub noise: f64,
    /// Shortest target length in tokens (inclusive). Paper: 1.
    pub len_min: usize,
    /// Longest target length in tokens (inclusive, at most 30). Paper: 30.
    pub len_max: usize,
    /// Pixels added around a symbol's ink box to make its footprint; the formula keeps this
    /// margin from the image edge. Paper: 2.
    pub padding: usize,
}

impl Default for FormulaConfig {
    fn default() -> Self {
        Self {
            height: 120,
            width: 360,
            scale: GlyphScale::Full,
            noise: 0.25,
            len_min: 1,
            len_max: 30,
            padding: 2,
        }
    }
}

impl FormulaConfig {
    /// The paper's configuration at half the resolution: 60 x 180, half-scale glyphs.
    pub fn half() -> Self {
        Self {
            height: 60,
            width: 180,
            scale: GlyphScale::Half,
            ..Self::default()
        }
    }

    /// Checks every parameter; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let err = |message: String| {
            Err(Error::InvalidConfig {
                domain: "Formula",
                message,
            })
        };
        let (h, w) = self.scale.min_size();
        if self.height < h || self.width < w {
            return err(format!(
                "height {} x width {} is smaller than {h} x {w}, the smallest image for scale {:?}",
                self.height, self.width, self.scale
            ));
        }
        if self.height > 4096 || self.width > 4096 {
            return err(format!(
                "height {} x width {} is too large (at most 4096 each)",
                self.height, self.width
            ));
        }
        if !self.noise.is_finite() || !(0.0..=1.0).contains(&self.noise) {
            return err(format!(
                "noise {} is not a probability in [0, 1]",
                self.noise
            ));
        }
        if self.len_min == 0 || self.len_min > self.len_max || self.len_max > MAX_LEN {
            return err(format!(
                "len_min {} and len_max {} must satisfy 1 <= len_min <= len_max <= {MAX_LEN}",
                self.len_min, self.len_max
            ));
        }
        if self.padding > 8 {
            return err(format!("padding {} is more than 8 pixels", self.padding));
        }
        Ok(())
    }
}

/// The longest formula in tokens (the paper decodes up to 30).
pub const MAX_LEN: usize = 30;

/// Samples [`Formula::expected_motifs`] averages over (stream [`MIN_DENSITY_SEED`]).
pub const EXPECTED_MOTIF_SAMPLES: u64 = 10_000;

/// The formula generator (construct with [`Formula::new`] or [`Formula::paper`]).
#[derive(Debug, Clone)]
pub struct Formula {
    config: FormulaConfig,
    text: GlyphSet,
    script: GlyphSet,
    vocab: Vocab,
    threshold: u64,
    expected: OnceLock<f64>,
}

/// One rendered symbol of a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Its motif class (see [`MOTIF_CLASSES`]).
    pub class: usize,
    /// Ink rows `[r0, r1)`.
    pub rows: [usize; 2],
    /// Ink columns `[c0, c1)`.
    pub cols: [usize; 2],
}

/// Every latent draw of one formula sample.
#[derive(Debug, Clone, PartialEq)]
pub struct FormulaTrace {
    /// The target length drawn.
    pub len: usize,
    /// The formula tree.
    pub formula: Vec<Node>,
    /// Its tokens (`len` of them).
    pub tokens: Vec<TokenId>,
    /// Formulas of this length drawn and discarded because they did not fit the image.
    pub redraws: usize,
    /// The image row just below the baseline.
    pub baseline: usize,
    /// The rendered symbols in token order.
    pub symbols: Vec<Placed>,
    /// The ink alone (`true` = ink).
    pub ink: Array2<bool>,
    /// The noise mask (`true` = a paper pixel set to 0).
    pub noise: Array2<bool>,
}

impl Formula {
    /// A generator for `config`, or an error naming the parameter that cannot work.
    pub fn new(config: FormulaConfig) -> Result<Self> {
        config.validate()?;
        let mut sets = parse_glyphs(FORMULA_GLYPHS_TEXT)?;
        let (t, s) = config.scale.set_names();
        let missing = |name: &str| Error::InvalidConfig {
            domain: "Formula",
            message: format!("the glyph asset has no set {name}"),
        };
        let text = sets.remove(t).ok_or_else(|| missing(t))?;
        let script = sets.remove(s).ok_or_else(|| missing(s))?;
        Ok(Self {
            threshold: flip_threshold(config.noise),
            config,
            text,
            script,
            vocab: Vocab::new(TOKEN_SYMBOLS).expect("the formula tokens are a valid vocabulary"),
            expected: OnceLock::new(),
        })
    }

    /// The paper's configuration (120 x 360).
    pub fn paper() -> Self {
        Self::new(FormulaConfig::default()).expect("the paper's configuration is valid")
    }

    /// The configuration.
    pub fn config(&self) -> &FormulaConfig {
        &self.config
    }

    fn typesetter(&self) -> Typesetter<'_> {
        Typesetter {
            text: &self.text,
            script: &self.script,
        }
    }

    /// Draws the formula and places it: the target length, then formulas of that length until
    /// one fits the image inside the padding margin. Returns (len, formula, box, redraws, the
    /// box's pen origin as (baseline row, left column)).
    fn draw(&self, rng: &mut ChaCha8Rng) -> (usize, Vec<Node>, HBox, usize, (i32, i32)) {
        let c = &self.config;
        let len = rng.random_range(c.len_min as u32..=c.len_max as u32) as usize;
        let ts = self.typesetter();
        let pad = c.padding as i32;
        let (h, w) = (c.height as i32 - 2 * pad, c.width as i32 - 2 * pad);
        let mut redraws = 0;
        loop {
            let formula = sample_exact(rng, len);
            let b = ts.layout(&formula);
            let (x0, x1) = ink_columns(&b);
            let (asc, desc) = (b.ascent(), b.descent());
            if x1 - x0 <= w && asc + desc <= h {
                let top = pad + (h - asc - desc) / 2;
                let left = pad + (w - (x1 - x0)) / 2 - x0;
                return (len, formula, b, redraws, (top + asc, left));
            }
            redraws += 1;
        }
    }

    /// Generates sample `index` with its latent draws. Draws from [`sample_rng`]`(seed, index)`:
    /// the target length (`random_range` on `u32`), the grammar's choices (see
    /// [`grammar::sample_exact`]), redrawn until the formula fits, then the noise mask (one
    /// `u32` per pixel, row-major, whatever the rate).
    pub fn trace(&self, seed: u64, index: u64) -> FormulaTrace {
        let c = &self.config;
        let mut rng = sample_rng(seed, index);
        let (len, formula, b, redraws, (baseline, left)) = self.draw(&mut rng);
        let ts = self.typesetter();
        let mut ink = Array2::from_elem((c.height, c.width), false);
        let symbols = b
            .items
            .iter()
            .map(|it| {
                let (r0, c0) = ((baseline + it.y) as usize, (left + it.x) as usize);
                paint(&mut ink, &ts, it, r0, c0);
                Placed {
                    class: it.class,
                    rows: [r0, r0 + it.h as usize],
                    cols: [c0, c0 + it.w as usize],
                }
            })
            .collect();
        let noise = flip_mask(&mut rng, c.height, c.width, self.threshold);
        FormulaTrace {
            len,
            tokens: to_tokens(&formula),
            formula,
            redraws,
            baseline: baseline as usize,
            symbols,
            ink,
            noise,
        }
    }
}

/// The leftmost and one-past-rightmost ink columns of a box (0, 0 if empty).
fn ink_columns(b: &HBox) -> (i32, i32) {
    let x0 = b.items.iter().map(|i| i.x).min().unwrap_or(0);
    let x1 = b.items.iter().map(|i| i.x + i.w).max().unwrap_or(0);
    (x0, x1)
}

impl Domain for Formula {
    fn name(&self) -> &'static str {
        "formula"
    }

    fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    fn num_classes(&self) -> usize {
        MOTIF_CLASSES.len()
    }

    fn class_names(&self) -> Vec<String> {
        MOTIF_CLASSES.iter().map(|s| s.to_string()).collect()
    }

    fn input_shape(&self) -> Vec<usize> {
        vec![1, self.config.height, self.config.width]
    }

    fn positions(&self) -> usize {
        self.config.height * self.config.width
    }

    fn max_tokens(&self) -> usize {
        self.config.len_max
    }

    /// The mean number of rendered symbols, over the layouts of [`EXPECTED_MOTIF_SAMPLES`]
    /// samples of the stream [`MIN_DENSITY_SEED`] (computed once, without rendering).
    fn expected_motifs(&self) -> Option<f64> {
        Some(*self.expected.get_or_init(|| {
            let total: usize = (0..EXPECTED_MOTIF_SAMPLES)
                .map(|i| {
                    self.draw(&mut sample_rng(MIN_DENSITY_SEED, i))
                        .2
                        .items
                        .len()
                })
                .sum();
            total as f64 / EXPECTED_MOTIF_SAMPLES as f64
        }))
    }

    fn sample(&self, seed: u64, index: u64) -> Sample {
        let t = self.trace(seed, index);
        let pad = self.config.padding;
        let image = ndarray::Zip::from(&t.ink)
            .and(&t.noise)
            .map_collect(|&ink, &noise| if ink || noise { 0.0 } else { 1.0 });
        let motifs = t
            .symbols
            .iter()
            .map(|p| Motif {
                class: p.class,
                footprint: Footprint::Rect {
                    rows: [p.rows[0] - pad, p.rows[1] + pad],
                    cols: [p.cols[0] - pad, p.cols[1] + pad],
                },
                anchor: vec![(p.rows[0] + p.rows[1]) / 2, (p.cols[0] + p.cols[1]) / 2],
            })
            .collect();
        Sample {
            input: Input::Image(image),
            tokens: t.tokens,
            motifs,
        }
    }
}

#[cfg(test)]
mod tests;

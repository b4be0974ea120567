//! SpokenDigits: the paper's spoken-digit sequences ("AudioMNIST-Sequence"). 5-10 spoken digits
//! placed without overlap in 15 s of 8 kHz audio, seen as a 64-band log-mel spectrogram of 642
//! frames; the output is the digits in time order, and each digit's motif is its frame interval.
//!
//! The clips come from the [`SpeechBank`]; its speakers are split once by a fixed shuffle into
//! training speakers (train and validation streams) and held-out speakers (the test stream only),
//! 51 and 9 of 60 as in the paper.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::bank::{BankSource, SpeechBank};
use crate::domain::{Domain, sample_rng};
use crate::error::{Error, Result};
use crate::sample::{Footprint, Input, Motif, Sample};
use crate::spectrogram::{MelSpectrogram, SpectrogramParams};
use crate::vocab::Vocab;

/// The seed of the fixed shuffle that splits the bank's speakers.
pub const SPEAKER_SHUFFLE_SEED: u64 = 0x5bea_4e55;

/// Which speakers a stream draws from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpeakerSplit {
    /// The training speakers.
    #[default]
    Train,
    /// The training speakers too (validation differs from training by its seed).
    Validation,
    /// The held-out speakers, never seen in training.
    Test,
}

/// Every parameter of SpokenDigits; the defaults are the paper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpokenDigitsConfig {
    /// The speakers drawn from. Default: train.
    pub split: SpeakerSplit,
    /// Fewest digits in a sample. Paper: 5.
    pub min_digits: usize,
    /// Most digits in a sample. Paper: 10.
    pub max_digits: usize,
    /// Length of the audio in samples. Paper: 120,000 (15 s at 8 kHz).
    pub length: usize,
    /// Scale of the noise (a standard normal truncated to +-1, times this). Paper: 2^-10.
    pub noise_scale: f64,
    /// How many speakers are held out for testing. Paper: 9 (of 60).
    pub test_speakers: usize,
    /// The bank of clips. Default: the embedded one.
    pub bank: BankSource,
    /// The spectrogram. Default: the paper's.
    pub spectrogram: SpectrogramParams,
}

impl Default for SpokenDigitsConfig {
    fn default() -> Self {
        Self {
            split: SpeakerSplit::Train,
            min_digits: 5,
            max_digits: 10,
            length: 120_000,
            noise_scale: 1.0 / 1024.0,
            test_speakers: 9,
            bank: BankSource::Embedded,
            spectrogram: SpectrogramParams::default(),
        }
    }
}

/// One clip placed in a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedClip {
    /// The digit said.
    pub digit: usize,
    /// The bank's speaker number.
    pub speaker: usize,
    /// The take.
    pub take: usize,
    /// The first sample.
    pub start: usize,
    /// The clip's length in samples.
    pub len: usize,
}

/// Every latent draw of one SpokenDigits sample, and its audio.
#[derive(Debug, Clone, PartialEq)]
pub struct SpokenDigitsTrace {
    /// The clips in time order.
    pub clips: Vec<PlacedClip>,
    /// How many sets of start times were rejected before one fitted.
    pub rejected: usize,
    /// The audio: the clips pasted on zeros, plus the noise.
    pub audio: Vec<f32>,
}

/// The SpokenDigits generator.
#[derive(Debug, Clone)]
pub struct SpokenDigits {
    config: SpokenDigitsConfig,
    bank: Arc<SpeechBank>,
    spectrogram: MelSpectrogram,
    speakers: Vec<usize>,
    held_out: Vec<usize>,
    frames: usize,
    vocab: Vocab,
}

fn invalid(message: String) -> Error {
    Error::InvalidConfig {
        domain: "SpokenDigits",
        message,
    }
}

/// The held-out speakers of a bank of `speakers`: the last `held_out` of a Fisher-Yates shuffle
/// of `0..speakers` driven by `ChaCha8Rng::seed_from_u64(SPEAKER_SHUFFLE_SEED)`, sorted.
pub fn held_out_speakers(speakers: usize, held_out: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..speakers).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(SPEAKER_SHUFFLE_SEED);
    for i in (1..speakers).rev() {
        let j = rng.random_range(0..=i as u64) as usize;
        order.swap(i, j);
    }
    let mut out = order[speakers - held_out.min(speakers)..].to_vec();
    out.sort_unstable();
    out
}

impl SpokenDigits {
    /// A generator for `config` (loading its bank), or an error naming the field that cannot
    /// work.
    pub fn new(config: SpokenDigitsConfig) -> Result<Self> {
        let bank = config.bank.load()?;
        Self::with_bank(config, Arc::new(bank))
    }

    /// A generator for `config` on an already loaded bank (`config.bank` is then not read).
    pub fn with_bank(config: SpokenDigitsConfig, bank: Arc<SpeechBank>) -> Result<Self> {
        let c = &config;
        if c.min_digits == 0 || c.min_digits > c.max_digits {
            return Err(invalid(format!(
                "need 1 <= min_digits <= max_digits, got min_digits {} and max_digits {}",
                c.min_digits, c.max_digits
            )));
        }
        if !(c.noise_scale.is_finite() && c.noise_scale >= 0.0) {
            return Err(invalid(format!(
                "noise_scale must be finite and non-negative, got {}",
                c.noise_scale
            )));
        }
        if c.test_speakers == 0 || c.test_speakers >= bank.speakers() {
            return Err(invalid(format!(
                "test_speakers must be in 1..{} (the bank's speakers), got {}",
                bank.speakers(),
                c.test_speakers
            )));
        }
        if bank.sample_rate() != c.spectrogram.sample_rate {
            return Err(invalid(format!(
                "the bank is sampled at {} Hz, spectrogram.sample_rate is {}",
                bank.sample_rate(),
                c.spectrogram.sample_rate
            )));
        }
        // Sorted uniform starts fit clips of total length S in `length` with probability
        // (1 - S / length)^n (continuous approximation); refuse settings whose worst case needs
        // more than about a million redraws.
        let worst = c.max_digits as f64 * bank.longest() as f64 / c.length as f64;
        if worst >= 1.0 || (1.0 - worst).powi(c.max_digits.min(1 << 20) as i32) < 1e-6 {
            return Err(invalid(format!(
                "length {} cannot reliably hold max_digits {} clips of up to {} samples \
                 without overlap (the placement would be redrawn about {:.0e} times)",
                c.length,
                c.max_digits,
                bank.longest(),
                (1.0 - worst.min(1.0))
                    .powi(c.max_digits.min(1 << 20) as i32)
                    .recip()
            )));
        }
        let spectrogram = MelSpectrogram::new(c.spectrogram.clone())?;
        if c.length <= c.spectrogram.n_fft / 2 {
            return Err(invalid(format!(
                "length {} is too short for the spectrogram (n_fft {})",
                c.length, c.spectrogram.n_fft
            )));
        }
        let frames = spectrogram.frames(c.length);
        if bank.shortest() * frames < c.length {
            return Err(invalid(format!(
                "the bank's shortest clip ({} samples) can cover no frame of {} in {} samples",
                bank.shortest(),
                frames,
                c.length
            )));
        }
        let held_out = held_out_speakers(bank.speakers(), c.test_speakers);
        let speakers = match c.split {
            SpeakerSplit::Test => held_out.clone(),
            SpeakerSplit::Train | SpeakerSplit::Validation => (0..bank.speakers())
                .filter(|s| !held_out.contains(s))
                .collect(),
        };
        Ok(Self {
            config,
            bank,
            spectrogram,
            speakers,
            held_out,
            frames,
            vocab: Vocab::digits(),
        })
    }

    /// The paper's configuration on the training speakers, with the embedded bank.
    pub fn paper() -> Self {
        Self::new(SpokenDigitsConfig::default())
            .expect("the paper's configuration and the embedded bank are valid")
    }

    /// The configuration.
    pub fn config(&self) -> &SpokenDigitsConfig {
        &self.config
    }

    /// The bank.
    pub fn bank(&self) -> &Arc<SpeechBank> {
        &self.bank
    }

    /// The speakers this stream draws from (sorted).
    pub fn speakers(&self) -> &[usize] {
        &self.speakers
    }

    /// The held-out (test) speakers of the bank (sorted), whatever the split.
    pub fn held_out(&self) -> &[usize] {
        &self.held_out
    }

    /// The frame interval `[start * F / length, (start + len) * F / length)` of a clip, with `F`
    /// the number of frames (642) and integer division.
    pub fn frame_span(&self, start: usize, len: usize) -> [usize; 2] {
        let (f, l) = (self.frames, self.config.length);
        [start * f / l, (start + len) * f / l]
    }

    /// Generates the audio of sample `index` with its latent draws. Draws from
    /// [`sample_rng`]`(seed, index)`: the number of digits (uniform in min..=max); for each
    /// digit in turn, the digit (uniform 0..10), the speaker (uniform over the split's) and the
    /// take (uniform); then sets of start times, each uniform in `0..length`, sorted and
    /// assigned to the clips in order, until every clip ends at or before the next start (and
    /// the last within `length`); then one noise value per audio sample (a standard normal
    /// redrawn until it lies within +-1, times `noise_scale`).
    pub fn trace(&self, seed: u64, index: u64) -> SpokenDigitsTrace {
        let c = &self.config;
        let mut rng = sample_rng(seed, index);
        let n = rng.random_range(c.min_digits as u64..=c.max_digits as u64) as usize;
        let mut clips: Vec<PlacedClip> = (0..n)
            .map(|_| {
                let digit = rng.random_range(0..10u64) as usize;
                let speaker =
                    self.speakers[rng.random_range(0..self.speakers.len() as u64) as usize];
                let take = rng.random_range(0..self.bank.takes() as u64) as usize;
                let len = self.bank.clip_len(speaker, digit, take);
                PlacedClip {
                    digit,
                    speaker,
                    take,
                    start: 0,
                    len,
                }
            })
            .collect();
        let mut rejected = 0;
        let mut starts = vec![0usize; n];
        loop {
            for s in starts.iter_mut() {
                *s = rng.random_range(0..c.length as u64) as usize;
            }
            starts.sort_unstable();
            let fits = (0..n).all(|i| {
                let next = if i + 1 < n { starts[i + 1] } else { c.length };
                starts[i] + clips[i].len <= next
            });
            if fits {
                break;
            }
            rejected += 1;
        }
        let mut audio = vec![0.0f32; c.length];
        for (clip, &start) in clips.iter_mut().zip(&starts) {
            clip.start = start;
            let samples = self.bank.clip(clip.speaker, clip.digit, clip.take);
            audio[start..start + clip.len].copy_from_slice(&samples);
        }
        for a in audio.iter_mut() {
            let z = loop {
                let z: f64 = rng.sample(StandardNormal);
                if z.abs() <= 1.0 {
                    break z;
                }
            };
            *a += (z * c.noise_scale) as f32;
        }
        SpokenDigitsTrace {
            clips,
            rejected,
            audio,
        }
    }
}

impl Domain for SpokenDigits {
    fn name(&self) -> &'static str {
        "spoken-digits"
    }

    fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    fn input_shape(&self) -> Vec<usize> {
        vec![self.config.spectrogram.n_mels, self.frames]
    }

    fn positions(&self) -> usize {
        self.frames
    }

    fn max_tokens(&self) -> usize {
        self.config.max_digits
    }

    fn expected_motifs(&self) -> Option<f64> {
        Some((self.config.min_digits + self.config.max_digits) as f64 / 2.0)
    }

    fn sample(&self, seed: u64, index: u64) -> Sample {
        let trace = self.trace(seed, index);
        let spec = self
            .spectrogram
            .log_mel(&trace.audio)
            .expect("the configuration checked the length and the audio is finite");
        let motifs = trace
            .clips
            .iter()
            .map(|c| {
                let span = self.frame_span(c.start, c.len);
                Motif {
                    class: c.digit,
                    footprint: Footprint::Interval { span },
                    anchor: vec![(span[0] + span[1]) / 2],
                }
            })
            .collect();
        Sample {
            input: Input::Signal(spec),
            tokens: trace.clips.iter().map(|c| c.digit).collect(),
            motifs,
        }
    }
}

//! `cargo xtask speech-bank`: renders the bank of spoken digits with `espeak-ng` and writes it as
//! the compressed asset `crates/sparling-domains/assets/spoken_digits.bin`.
//!
//! Each of the `--speakers` speakers is a fixed espeak-ng voice (an English accent plus a voice
//! variant) with its own pitch, speed and amplitude, all drawn from a splitmix64 stream keyed by
//! the speaker's number; each speaker says each of the ten digit words `--takes` times, every
//! take with a small jitter of speed (+-6%) and pitch (+-4). Every clip is resampled to 8 kHz
//! (windowed sinc), trimmed of leading and trailing silence, and stored as 8-bit mu-law.
//!
//! The file format (all integers little-endian), read by `sparling_domains::bank`:
//!
//! | offset | size | field                                                           |
//! |--------|------|-----------------------------------------------------------------|
//! | 0      | 8    | magic `SPDIGBNK`                                                |
//! | 8      | 4    | version, 1                                                      |
//! | 12     | 4    | sample rate in Hz (8000)                                        |
//! | 16     | 4    | speakers                                                        |
//! | 20     | 4    | digits (10)                                                     |
//! | 24     | 4    | takes per speaker and digit                                     |
//! | 28     | 4    | encoding: 1 = 8-bit mu-law (mu = 255)                           |
//! | 32     | 8    | length of the decompressed body in bytes                        |
//! | 40     | 8    | length of the compressed body in bytes (the rest of the file)   |
//! | 48     | 8    | FNV-1a 64 checksum of the decompressed body                     |
//! | 56     | ..   | the body, zlib-compressed                                       |
//!
//! The body: one `u32` clip length (in samples) per (speaker, digit, take), speaker-major, then
//! the clips' mu-law bytes concatenated in the same order. A mu-law byte `q` (as `i8`) decodes
//! to `sign(q) (256^(|q|/127) - 1) / 255`.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use clap::Args;

use crate::audio;
use crate::util::project_root;

/// The asset's magic bytes.
const MAGIC: &[u8; 8] = b"SPDIGBNK";
/// The format version written.
const VERSION: u32 = 1;
/// Encoding code of 8-bit mu-law.
const MU_LAW: u32 = 1;
/// The bank's sample rate.
const RATE: u32 = 8000;
/// The digit words, index = digit.
const WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];
/// The English accents of espeak-ng used as base voices.
const ACCENTS: [&str; 8] = [
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
];
/// The voice variants (formant and voice-quality settings) used; robotic and whispered ones
/// are left out.
const VARIANTS: [&str; 14] = [
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "edward", "linda",
];

/// Options of `cargo xtask speech-bank`.
#[derive(Args, Debug)]
pub struct SpeechBank {
    /// Number of speakers (the paper's corpus has 60).
    #[arg(long, default_value_t = 60)]
    speakers: u32,
    /// Takes per speaker and digit.
    #[arg(long, default_value_t = 3)]
    takes: u32,
    /// Where to write the asset (default: crates/sparling-domains/assets/spoken_digits.bin).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The espeak-ng program.
    #[arg(long, default_value = "espeak-ng")]
    espeak: String,
}

/// One speaker's fixed espeak-ng settings.
#[derive(Debug, Clone, PartialEq)]
struct Speaker {
    voice: String,
    pitch: f64,
    speed: f64,
    amplitude: u32,
}

/// splitmix64: a tiny, fixed, well-known generator (the bank must not depend on a crate's
/// algorithm choices).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn index(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize
    }
}

fn speaker(i: u32) -> Speaker {
    let mut g = SplitMix(0x5eec_0000 + u64::from(i));
    let accent = ACCENTS[i as usize % ACCENTS.len()];
    let variant = VARIANTS[g.index(VARIANTS.len())];
    Speaker {
        voice: format!("{accent}+{variant}"),
        pitch: g.range(25.0, 75.0),
        speed: g.range(135.0, 195.0),
        amplitude: g.range(70.0, 130.0).round() as u32,
    }
}

/// The (pitch, speed) of `take` of `digit` by a speaker: the speaker's own with a small jitter.
fn take_settings(s: &Speaker, i: u32, digit: usize, take: u32) -> (u32, u32) {
    let mut g = SplitMix(((u64::from(i) * 10 + digit as u64) << 16) + u64::from(take) + 1);
    let pitch = (s.pitch + g.range(-4.0, 4.0)).round().clamp(0.0, 99.0) as u32;
    let speed = (s.speed * g.range(0.94, 1.06)).round() as u32;
    (pitch, speed)
}

impl SpeechBank {
    /// Renders the bank and writes the asset.
    pub fn run(self) -> Result<()> {
        ensure!(self.speakers > 0, "--speakers must be positive");
        ensure!(self.takes > 0, "--takes must be positive");
        let version = Command::new(&self.espeak)
            .arg("--version")
            .output()
            .with_context(|| {
                format!(
                    "cannot run {} (install it: apt-get install espeak-ng)",
                    self.espeak
                )
            })?;
        eprintln!("{}", String::from_utf8_lossy(&version.stdout).trim());
        let mut lengths: Vec<u32> = Vec::new();
        let mut samples: Vec<u8> = Vec::new();
        for i in 0..self.speakers {
            let s = speaker(i);
            for (digit, word) in WORDS.iter().enumerate() {
                for take in 0..self.takes {
                    let (pitch, speed) = take_settings(&s, i, digit, take);
                    let clip = self.render(&s, word, pitch, speed).with_context(|| {
                        format!("speaker {i} ({s:?}), digit {digit}, take {take}")
                    })?;
                    lengths.push(u32::try_from(clip.len())?);
                    samples.extend(clip.iter().map(|&x| audio::mu_law_encode(x)));
                }
            }
            eprintln!(
                "speaker {i:2}: {} pitch {:.0} speed {:.0} amplitude {}",
                s.voice, s.pitch, s.speed, s.amplitude
            );
        }
        let mut body = Vec::with_capacity(4 * lengths.len() + samples.len());
        for l in &lengths {
            body.extend_from_slice(&l.to_le_bytes());
        }
        body.extend_from_slice(&samples);
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&body)?;
        let compressed = enc.finish()?;
        let mut file = Vec::with_capacity(56 + compressed.len());
        file.extend_from_slice(MAGIC);
        for v in [VERSION, RATE, self.speakers, 10, self.takes, MU_LAW] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        file.extend_from_slice(&(body.len() as u64).to_le_bytes());
        file.extend_from_slice(&(compressed.len() as u64).to_le_bytes());
        file.extend_from_slice(&audio::fnv1a64(&body).to_le_bytes());
        file.extend_from_slice(&compressed);
        let out = self.out.unwrap_or_else(|| {
            project_root().join("crates/sparling-domains/assets/spoken_digits.bin")
        });
        let tmp = out.with_extension("bin.tmp");
        std::fs::write(&tmp, &file).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &out).with_context(|| format!("renaming to {}", out.display()))?;
        let total: u64 = lengths.iter().map(|&l| u64::from(l)).sum();
        eprintln!(
            "wrote {}: {} clips, {:.1} s of audio (mean {:.3} s, longest {:.3} s), {} bytes",
            out.display(),
            lengths.len(),
            total as f64 / f64::from(RATE),
            total as f64 / lengths.len() as f64 / f64::from(RATE),
            f64::from(*lengths.iter().max().unwrap_or(&0)) / f64::from(RATE),
            file.len()
        );
        Ok(())
    }

    /// One clip: espeak-ng's WAV on stdout, resampled to 8 kHz and trimmed.
    fn render(&self, s: &Speaker, word: &str, pitch: u32, speed: u32) -> Result<Vec<f32>> {
        let out = Command::new(&self.espeak)
            .args(["-v", &s.voice])
            .args(["-p", &pitch.to_string()])
            .args(["-s", &speed.to_string()])
            .args(["-a", &s.amplitude.to_string()])
            .arg("--stdout")
            .arg(word)
            .output()
            .with_context(|| format!("running {}", self.espeak))?;
        if !out.status.success() {
            bail!(
                "{} failed ({}): {}",
                self.espeak,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let (rate, signal) = audio::parse_wav(&out.stdout)?;
        let resampled = audio::resample(&signal, rate, RATE);
        let clip = audio::trim_silence(&resampled, RATE);
        ensure!(
            clip.len() >= RATE as usize / 10,
            "the clip is only {} samples long after trimming",
            clip.len()
        );
        Ok(clip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speakers_are_fixed_and_distinct() {
        assert_eq!(speaker(3), speaker(3));
        let all: Vec<Speaker> = (0..60).map(speaker).collect();
        for (i, a) in all.iter().enumerate() {
            assert!((25.0..75.0).contains(&a.pitch) && (135.0..195.0).contains(&a.speed));
            for b in &all[..i] {
                assert_ne!(a, b);
            }
        }
        let s = speaker(0);
        let (p0, v0) = take_settings(&s, 0, 1, 0);
        let (p1, v1) = take_settings(&s, 0, 1, 1);
        assert!((p0, v0) != (p1, v1));
        assert!((f64::from(v0) / s.speed - 1.0).abs() <= 0.061);
    }
}

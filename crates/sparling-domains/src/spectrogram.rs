//! The paper's log-mel spectrogram of spoken-digit audio, with the conventions of torchaudio's
//! `MelSpectrogram` followed by `AmplitudeToDB(stype="power", top_db=80)`.
//!
//! For a signal `x` of `len` samples at `sample_rate` Hz:
//! 1. centre: pad `n_fft / 2` samples on each side by reflection (the edge sample is not
//!    repeated: `x[2], x[1] | x[0], x[1], ..`);
//! 2. frames `t = 0..frames` start at `t * hop` in the padded signal, `frames = 1 + (len + 2 *
//!    (n_fft / 2) - n_fft) / hop` (642 for the paper's 120,000 samples);
//! 3. each frame is multiplied by the periodic Hann window `w[n] = 0.5 - 0.5 cos(2 pi n /
//!    n_fft)` (`torch.hann_window`'s default) and transformed by a real FFT of `n_fft` points;
//!    the power is `|X[k]|^2`, `k = 0..=n_fft / 2`, unnormalised;
//! 4. mel bands: triangular filters on the HTK scale `mel(f) = 2595 log10(1 + f / 700)`, with
//!    `n_mels + 2` points equally spaced in mel from `f_min` to `f_max`, evaluated at the bin
//!    frequencies `linspace(0, sample_rate / 2, n_fft / 2 + 1)` (torchaudio's convention, also for
//!    odd `n_fft`), without area normalisation;
//! 5. decibels `10 log10(max(p, 1e-10))`, then every value below the spectrogram's maximum minus
//!    `top_db` is raised to it.
//!
//! The paper's settings ([`SpectrogramParams::default`]): 8 kHz, `n_fft` 375, hop 187, 64 bands
//! from 0 to 4000 Hz, `top_db` 80: 64 bands x 642 frames for 15 s of audio.

use std::sync::Arc;

use ndarray::Array2;
use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The power below which decibels are clamped (torchaudio's `amin`).
pub const POWER_FLOOR: f64 = 1e-10;

/// Every parameter of the spectrogram; the defaults are the paper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpectrogramParams {
    /// Sample rate in Hz. Paper: 8000.
    pub sample_rate: u32,
    /// FFT size, also the Hann window's length. Paper: 375.
    pub n_fft: usize,
    /// Frame step in samples. Paper: 187.
    pub hop: usize,
    /// Number of mel bands. Paper: 64.
    pub n_mels: usize,
    /// Lowest band edge in Hz. Paper: 0.
    pub f_min: f64,
    /// Highest band edge in Hz. Paper: 4000 (the Nyquist frequency).
    pub f_max: f64,
    /// Dynamic range kept below the maximum, in dB. Paper: 80.
    pub top_db: f64,
}

impl Default for SpectrogramParams {
    fn default() -> Self {
        Self {
            sample_rate: 8000,
            n_fft: 375,
            hop: 187,
            n_mels: 64,
            f_min: 0.0,
            f_max: 4000.0,
            top_db: 80.0,
        }
    }
}

/// A planned log-mel spectrogram (window, filterbank and FFT plan built once).
#[derive(Clone)]
pub struct MelSpectrogram {
    params: SpectrogramParams,
    window: Vec<f64>,
    /// (n_mels, n_fft / 2 + 1).
    filterbank: Array2<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl std::fmt::Debug for MelSpectrogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MelSpectrogram")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidConfig {
        domain: "spectrogram",
        message,
    }
}

/// The periodic Hann window of `n` points, `0.5 - 0.5 cos(2 pi i / n)`.
pub fn hann_periodic(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
        .collect()
}

/// Hz to mel on the HTK scale: `2595 log10(1 + f / 700)`.
pub fn hz_to_mel(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}

/// Mel to Hz on the HTK scale: `700 (10^(m / 2595) - 1)`.
pub fn mel_to_hz(m: f64) -> f64 {
    700.0 * (10f64.powf(m / 2595.0) - 1.0)
}

/// The triangular HTK mel filterbank, shape (n_mels, n_freqs), unnormalised: band `m` rises
/// linearly from 0 at `f[m]` to 1 at `f[m + 1]` and falls back to 0 at `f[m + 2]`, where `f` are
/// `n_mels + 2` points equally spaced in mel between `f_min` and `f_max`, evaluated at the bin
/// frequencies `linspace(0, sample_rate / 2, n_freqs)`.
pub fn mel_filterbank(
    n_freqs: usize,
    n_mels: usize,
    sample_rate: u32,
    f_min: f64,
    f_max: f64,
) -> Array2<f64> {
    let nyquist = f64::from(sample_rate / 2);
    let freqs: Vec<f64> = (0..n_freqs)
        .map(|k| {
            if n_freqs == 1 {
                0.0
            } else {
                nyquist * k as f64 / (n_freqs - 1) as f64
            }
        })
        .collect();
    let (m_min, m_max) = (hz_to_mel(f_min), hz_to_mel(f_max));
    let pts: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(m_min + (m_max - m_min) * i as f64 / (n_mels + 1) as f64))
        .collect();
    Array2::from_shape_fn((n_mels, n_freqs), |(m, k)| {
        let f = freqs[k];
        let down = (f - pts[m]) / (pts[m + 1] - pts[m]);
        let up = (pts[m + 2] - f) / (pts[m + 2] - pts[m + 1]);
        down.min(up).max(0.0)
    })
}

impl MelSpectrogram {
    /// A spectrogram for `params`, or an error naming the parameter that cannot work.
    pub fn new(params: SpectrogramParams) -> Result<Self> {
        let p = &params;
        if p.sample_rate == 0 {
            return Err(invalid("sample_rate must be positive".into()));
        }
        if p.n_fft < 2 {
            return Err(invalid(format!(
                "n_fft must be at least 2, got {}",
                p.n_fft
            )));
        }
        if p.hop == 0 {
            return Err(invalid("hop must be positive".into()));
        }
        if p.n_mels == 0 {
            return Err(invalid("n_mels must be positive".into()));
        }
        let nyquist = f64::from(p.sample_rate / 2);
        if !(p.f_min.is_finite() && p.f_max.is_finite() && 0.0 <= p.f_min && p.f_min < p.f_max)
            || p.f_max > nyquist
        {
            return Err(invalid(format!(
                "need 0 <= f_min < f_max <= {nyquist} Hz (half the sample rate), got f_min {} and f_max {}",
                p.f_min, p.f_max
            )));
        }
        if !(p.top_db.is_finite() && p.top_db > 0.0) {
            return Err(invalid(format!(
                "top_db must be positive and finite, got {}",
                p.top_db
            )));
        }
        let n_freqs = p.n_fft / 2 + 1;
        Ok(Self {
            window: hann_periodic(p.n_fft),
            filterbank: mel_filterbank(n_freqs, p.n_mels, p.sample_rate, p.f_min, p.f_max),
            fft: RealFftPlanner::<f64>::new().plan_fft_forward(p.n_fft),
            params,
        })
    }

    /// The paper's spectrogram.
    pub fn paper() -> Self {
        Self::new(SpectrogramParams::default()).expect("the paper's parameters are valid")
    }

    /// The parameters.
    pub fn params(&self) -> &SpectrogramParams {
        &self.params
    }

    /// The mel filterbank, shape (n_mels, n_fft / 2 + 1).
    pub fn filterbank(&self) -> &Array2<f64> {
        &self.filterbank
    }

    /// The number of frames of a signal of `len` samples (`len` must exceed `n_fft / 2`).
    pub fn frames(&self, len: usize) -> usize {
        let pad = self.params.n_fft / 2;
        1 + (len + 2 * pad - self.params.n_fft) / self.params.hop
    }

    /// The power spectrogram |STFT|^2, shape (n_fft / 2 + 1, frames). Errors when the signal is
    /// too short to reflect (at most `n_fft / 2` samples) or holds a non-finite value.
    pub fn power(&self, signal: &[f32]) -> Result<Array2<f64>> {
        let (n_fft, hop) = (self.params.n_fft, self.params.hop);
        let pad = n_fft / 2;
        if signal.len() <= pad {
            return Err(invalid(format!(
                "a signal of {} samples is too short for reflect padding of {pad} (needs more than {pad})",
                signal.len()
            )));
        }
        if let Some(i) = signal.iter().position(|v| !v.is_finite()) {
            return Err(invalid(format!(
                "sample {i} of the signal is {}",
                signal[i]
            )));
        }
        let n = signal.len();
        // The centred signal: `pad` reflected samples, the signal, `pad` reflected samples.
        let mut padded: Vec<f64> = Vec::with_capacity(n + 2 * pad);
        padded.extend((1..=pad).rev().map(|i| f64::from(signal[i])));
        padded.extend(signal.iter().map(|&v| f64::from(v)));
        padded.extend((1..=pad).map(|i| f64::from(signal[n - 1 - i])));
        let frames = self.frames(n);
        let n_freqs = n_fft / 2 + 1;
        let mut out = Array2::zeros((n_freqs, frames));
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        for t in 0..frames {
            let frame = &padded[t * hop..t * hop + n_fft];
            for ((slot, &x), &w) in input.iter_mut().zip(frame).zip(&self.window) {
                *slot = x * w;
            }
            self.fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .expect("buffers sized by the plan");
            for (k, c) in spectrum.iter().enumerate() {
                out[[k, t]] = c.norm_sqr();
            }
        }
        Ok(out)
    }

    /// The log-mel spectrogram in dB, shape (n_mels, frames), floored at `top_db` below its
    /// maximum (see the module documentation).
    pub fn log_mel(&self, signal: &[f32]) -> Result<Array2<f32>> {
        let power = self.power(signal)?;
        let mel = self.filterbank.dot(&power);
        let db = mel.mapv(|p| 10.0 * p.max(POWER_FLOOR).log10());
        let max = db.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let floor = max - self.params.top_db;
        Ok(db.mapv(|v| v.max(floor) as f32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The power spectrum of one frame by the O(n^2) DFT.
    fn naive_power(frame: &[f64]) -> Vec<f64> {
        let n = frame.len();
        (0..=n / 2)
            .map(|k| {
                let (mut re, mut im) = (0.0, 0.0);
                for (j, &x) in frame.iter().enumerate() {
                    let a = -2.0 * std::f64::consts::PI * (k * j % n) as f64 / n as f64;
                    re += x * a.cos();
                    im += x * a.sin();
                }
                re * re + im * im
            })
            .collect()
    }

    /// The whole power spectrogram by explicit padding and the naive DFT.
    fn naive_spectrogram(signal: &[f32], n_fft: usize, hop: usize) -> Array2<f64> {
        let pad = n_fft / 2;
        let n = signal.len();
        let mut padded: Vec<f64> = (1..=pad).rev().map(|i| f64::from(signal[i])).collect();
        padded.extend(signal.iter().map(|&v| f64::from(v)));
        padded.extend((1..=pad).map(|i| f64::from(signal[n - 1 - i])));
        let frames = 1 + (padded.len() - n_fft) / hop;
        let w = hann_periodic(n_fft);
        let mut out = Array2::zeros((n_fft / 2 + 1, frames));
        for t in 0..frames {
            let frame: Vec<f64> = (0..n_fft).map(|k| padded[t * hop + k] * w[k]).collect();
            for (k, p) in naive_power(&frame).into_iter().enumerate() {
                out[[k, t]] = p;
            }
        }
        out
    }

    fn random_signal(seed: u64, n: usize) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    #[test]
    fn power_matches_the_naive_dft_on_random_signals() {
        // The paper's odd n_fft, an even one, and the edge lengths: the shortest signal that
        // reflects (pad + 1), one that is exactly n_fft, one frame more, and a ragged end.
        for (n_fft, hop, lens) in [
            (375usize, 187usize, vec![188usize, 375, 562, 1000]),
            (16, 5, vec![9, 16, 17, 40]),
            (7, 3, vec![4, 7, 11]),
        ] {
            let spec = MelSpectrogram::new(SpectrogramParams {
                n_fft,
                hop,
                n_mels: 4,
                ..Default::default()
            })
            .unwrap();
            for (s, &len) in lens.iter().enumerate() {
                let x = random_signal(s as u64 + 10 * n_fft as u64, len);
                let fast = spec.power(&x).unwrap();
                let slow = naive_spectrogram(&x, n_fft, hop);
                assert_eq!(fast.dim(), slow.dim(), "n_fft {n_fft}, len {len}");
                assert_eq!(fast.ncols(), spec.frames(len));
                let scale = slow.iter().copied().fold(0.0, f64::max);
                for (a, b) in fast.iter().zip(slow.iter()) {
                    assert!((a - b).abs() <= 1e-9 * scale, "{a} vs {b} (n_fft {n_fft})");
                }
            }
        }
    }

    #[test]
    fn paper_frame_count_and_shape() {
        let spec = MelSpectrogram::paper();
        assert_eq!(spec.frames(120_000), 642);
        let x = random_signal(1, 120_000);
        let s = spec.log_mel(&x).unwrap();
        assert_eq!(s.dim(), (64, 642));
        let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let min = s.iter().copied().fold(f32::INFINITY, f32::min);
        assert!(max - min <= 80.0 + 1e-3, "{max} {min}");
    }

    #[test]
    fn filterbank_matches_its_formula() {
        let fb = mel_filterbank(188, 64, 8000, 0.0, 4000.0);
        assert_eq!(fb.dim(), (64, 188));
        let mel_max = hz_to_mel(4000.0);
        assert!((mel_max - 2146.0645).abs() < 1e-3, "{mel_max}");
        for (m, k) in [
            (0usize, 0usize),
            (0, 1),
            (5, 10),
            (31, 60),
            (63, 180),
            (63, 187),
        ] {
            let f = 4000.0 * k as f64 / 187.0;
            let edge = |i: usize| 700.0 * (10f64.powf(mel_max * i as f64 / 65.0 / 2595.0) - 1.0);
            let (lo, mid, hi) = (edge(m), edge(m + 1), edge(m + 2));
            let want = if f <= lo || f >= hi {
                0.0
            } else if f <= mid {
                (f - lo) / (mid - lo)
            } else {
                (hi - f) / (hi - mid)
            };
            assert!((fb[[m, k]] - want).abs() < 1e-12, "band {m} bin {k}");
        }
        // Every weight lies in [0, 1], each band peaks near 1 and is zero far from its centre.
        assert!(fb.iter().all(|&w| (0.0..=1.0).contains(&w)));
        for m in 0..64 {
            let row = fb.row(m);
            let peak = row.iter().copied().fold(0.0, f64::max);
            assert!(peak > 0.3, "band {m} peaks at {peak}");
        }
        assert!((hz_to_mel(mel_to_hz(1234.5)) - 1234.5).abs() < 1e-9);
    }

    #[test]
    fn a_pure_tone_lands_in_its_band() {
        let spec = MelSpectrogram::paper();
        let pts: Vec<f64> = (0..66)
            .map(|i| mel_to_hz(hz_to_mel(4000.0) * i as f64 / 65.0))
            .collect();
        for band in [10usize, 30, 50] {
            let f = pts[band + 1]; // the band's centre frequency
            let x: Vec<f32> = (0..8000)
                .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / 8000.0).sin() as f32)
                .collect();
            let s = spec.log_mel(&x).unwrap();
            let mid = s.column(s.ncols() / 2);
            let best = (0..64).max_by(|&a, &b| mid[a].total_cmp(&mid[b])).unwrap();
            assert_eq!(best, band, "a {f:.1} Hz tone");
        }
    }

    #[test]
    fn bad_parameters_and_signals_are_errors() {
        let bad = |p: SpectrogramParams| MelSpectrogram::new(p).unwrap_err().to_string();
        assert!(
            bad(SpectrogramParams {
                hop: 0,
                ..Default::default()
            })
            .contains("hop")
        );
        assert!(
            bad(SpectrogramParams {
                f_max: 5000.0,
                ..Default::default()
            })
            .contains("f_max")
        );
        assert!(
            bad(SpectrogramParams {
                n_fft: 1,
                ..Default::default()
            })
            .contains("n_fft")
        );
        let spec = MelSpectrogram::paper();
        let err = spec.power(&[0.0; 187]).unwrap_err().to_string();
        assert!(err.contains("too short"), "{err}");
        let mut x = vec![0.0f32; 400];
        x[3] = f32::NAN;
        assert!(
            spec.log_mel(&x)
                .unwrap_err()
                .to_string()
                .contains("sample 3")
        );
        // silence is the floor everywhere, not NaN
        let s = spec.log_mel(&[0.0; 400]).unwrap();
        assert!(s.iter().all(|&v| v == -100.0));
    }
}

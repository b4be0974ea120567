//! Small audio helpers for `speech-bank`: WAV parsing, windowed-sinc resampling, silence
//! trimming, mu-law encoding and the FNV-1a checksum.

use anyhow::{Result, bail, ensure};

/// Parses a mono 16-bit PCM WAV (as espeak-ng writes it, possibly with an unknown data length on
/// a pipe): returns the sample rate and the samples in [-1, 1).
pub fn parse_wav(bytes: &[u8]) -> Result<(u32, Vec<f32>)> {
    ensure!(
        bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "not a RIFF/WAVE file"
    );
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let mut pos = 12;
    let mut rate = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32_at(pos + 4) as usize;
        let start = pos + 8;
        if id == b"fmt " {
            ensure!(start + 16 <= bytes.len(), "truncated fmt chunk");
            let (format, channels, bits) = (u16_at(start), u16_at(start + 2), u16_at(start + 14));
            ensure!(
                format == 1 && channels == 1 && bits == 16,
                "expected mono 16-bit PCM, got format {format}, {channels} channels, {bits} bits"
            );
            rate = Some(u32_at(start + 4));
        } else if id == b"data" {
            let Some(rate) = rate else {
                bail!("data chunk before the fmt chunk")
            };
            let end = start.saturating_add(len).min(bytes.len());
            let samples = bytes[start..end]
                .chunks_exact(2)
                .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
                .collect();
            return Ok((rate, samples));
        }
        pos = start.saturating_add(len + (len & 1));
    }
    bail!("no data chunk")
}

/// Resamples `x` from `from` Hz to `to` Hz with a Blackman-windowed sinc low-pass at 95% of the
/// lower Nyquist frequency, 16 zero crossings on each side.
pub fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    let ratio = f64::from(from) / f64::from(to);
    let cutoff = 0.475 * f64::from(from.min(to)) / f64::from(from); // cycles per input sample
    let half = (16.0 / (2.0 * cutoff)).ceil() as isize; // input samples on each side
    let n_out = (x.len() as f64 / ratio).floor() as usize;
    (0..n_out)
        .map(|n| {
            let centre = n as f64 * ratio;
            let c = centre.floor() as isize;
            let mut acc = 0.0;
            for k in (c - half)..=(c + half + 1) {
                if k < 0 || k as usize >= x.len() {
                    continue;
                }
                let d = centre - k as f64;
                let u = d / (half as f64 + 1.0); // in (-1, 1)
                if u.abs() >= 1.0 {
                    continue;
                }
                let phase = std::f64::consts::PI * (u + 1.0); // 0..2pi over the window
                let window = 0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos();
                let arg = 2.0 * cutoff * d;
                let sinc = if arg == 0.0 {
                    1.0
                } else {
                    (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
                };
                acc += f64::from(x[k as usize]) * 2.0 * cutoff * sinc * window;
            }
            acc as f32
        })
        .collect()
}

/// Cuts the leading and trailing parts quieter than 2% of the clip's peak, keeping 10 ms of
/// margin on each side.
pub fn trim_silence(x: &[f32], rate: u32) -> Vec<f32> {
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if peak == 0.0 {
        return Vec::new();
    }
    let loud = |v: &f32| v.abs() > 0.02 * peak;
    let first = x.iter().position(loud).unwrap_or(0);
    let last = x.iter().rposition(loud).unwrap_or(0);
    let margin = rate as usize / 100;
    x[first.saturating_sub(margin)..(last + 1 + margin).min(x.len())].to_vec()
}

/// 8-bit mu-law (mu = 255) of a sample in [-1, 1]: `round(127 sign(x) ln(1 + 255|x|) / ln 256)`
/// as an `i8`, stored as its byte.
pub fn mu_law_encode(x: f32) -> u8 {
    let x = f64::from(x.clamp(-1.0, 1.0));
    let y = x.signum() * (1.0 + 255.0 * x.abs()).ln() / 256f64.ln();
    ((y * 127.0).round() as i8) as u8
}

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_a_low_tone_and_removes_a_high_one() {
        let tone = |f: f64| -> Vec<f32> {
            (0..22050)
                .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / 22050.0).sin() as f32)
                .collect()
        };
        let rms = |x: &[f32]| {
            let m = &x[500..x.len() - 500];
            (m.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / m.len() as f64).sqrt()
        };
        let low = resample(&tone(440.0), 22050, 8000);
        assert_eq!(low.len(), 8000);
        assert!((rms(&low) - 0.5f64.sqrt()).abs() < 0.01, "{}", rms(&low));
        // the resampled 440 Hz tone matches the tone sampled at 8 kHz
        for n in [1000usize, 4321] {
            let want = (2.0 * std::f64::consts::PI * 440.0 * n as f64 / 8000.0).sin();
            assert!((f64::from(low[n]) - want).abs() < 0.01);
        }
        let high = resample(&tone(6000.0), 22050, 8000);
        assert!(rms(&high) < 0.01, "{}", rms(&high));
    }

    #[test]
    fn trimming_mu_law_and_wav() {
        let mut x = vec![0.0f32; 1000];
        x[400] = 0.5;
        x[600] = -0.3;
        let t = trim_silence(&x, 8000);
        assert_eq!(t.len(), 201 + 160);
        assert_eq!(mu_law_encode(0.0), 0);
        assert_eq!(mu_law_encode(1.0) as i8, 127);
        assert_eq!(mu_law_encode(-1.0) as i8, -127);
        let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x22\x56\0\0\x44\xac\0\0\x02\0\x10\0data\xff\xff\xff\xff".to_vec();
        wav.extend_from_slice(&16384i16.to_le_bytes());
        let (rate, s) = parse_wav(&wav).unwrap();
        assert_eq!((rate, s), (22050, vec![0.5]));
        assert!(parse_wav(b"RIFX").is_err());
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}

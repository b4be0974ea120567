//! A SpokenDigits preview: `cargo run -p sparling-domains --example spoken_digits -- OUT_DIR
//! [SEED INDEX]` writes, for that sample of the test stream (held-out speakers):
//!
//! - `spoken_digits.png`: the log-mel spectrogram (64 bands top to bottom from 0 Hz, 642 frames,
//!   2 pixels per cell, dark = loud) with each digit's frame interval outlined in its colour;
//! - `spoken_digits.wav`: the 15 s of audio (8 kHz, 16-bit mono PCM);
//!
//! and prints the digits, their speakers and intervals, and the time per sample.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use sparling_domains::picture::render_sample;
use sparling_domains::{Domain, SpeakerSplit, SpokenDigits, SpokenDigitsConfig};

/// Writes mono 16-bit PCM WAV atomically (a temporary file renamed into place).
fn write_wav(path: &Path, rate: u32, samples: &[f32]) -> std::io::Result<()> {
    let data_len = u32::try_from(2 * samples.len()).expect("a short clip");
    let mut bytes = Vec::with_capacity(44 + 2 * samples.len());
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(2 * rate).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for &x in samples {
        let v = (x.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let tmp = path.with_extension("wav.tmp");
    std::fs::File::create(&tmp)?.write_all(&bytes)?;
    std::fs::rename(&tmp, path)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let seed: u64 = args.next().map_or(Ok(0), |s| s.parse())?;
    let index: u64 = args.next().map_or(Ok(0), |s| s.parse())?;
    std::fs::create_dir_all(&out)?;
    let d = SpokenDigits::new(SpokenDigitsConfig {
        split: SpeakerSplit::Test,
        ..Default::default()
    })?;
    let trace = d.trace(seed, index);
    let sample = d.sample(seed, index);
    render_sample(&sample, 2, true).save_png(out.join("spoken_digits.png"))?;
    write_wav(
        &out.join("spoken_digits.wav"),
        d.bank().sample_rate(),
        &trace.audio,
    )?;
    println!("held-out speakers {:?}", d.held_out());
    println!("digits {:?}", sample.tokens);
    for (c, m) in trace.clips.iter().zip(&sample.motifs) {
        println!(
            "  {} by speaker {:2} (take {}): samples {}..{}, {:?}",
            c.digit,
            c.speaker,
            c.take,
            c.start,
            c.start + c.len,
            m.footprint
        );
    }
    let t = Instant::now();
    let n = 20;
    for i in 0..n {
        std::hint::black_box(d.sample(seed, index + i));
    }
    println!(
        "{:.1} ms per sample (one thread); files in {}",
        t.elapsed().as_secs_f64() * 1e3 / n as f64,
        out.display()
    );
    Ok(())
}

//! Resource limits, checked before anything is allocated or written.
//!
//! Two kinds of check:
//! * [`check_caps`]: hard caps on single fields where a memory estimate says nothing useful
//!   (layer counts, head counts, set sizes that cost time rather than memory) or where larger
//!   values could only be typos; they also keep every size product of the estimate finite.
//!   Part of [`TrainConfig::validate`], so no config beyond them is ever accepted.
//! * [`train_memory`], [`eval_memory`], [`generate_memory`]: an estimate of the peak memory
//!   of a command, by the field that drives each part, compared with the machine's memory by
//!   [`check_memory`], which refuses (naming the estimate and the field) unless forced
//!   (`--force` on the command line).
//!
//! The estimates are deliberately generous (every activation kept for the backward pass
//! counted twice, for its gradient) and meant to catch the orders of magnitude that end in
//! "memory allocation failed", not to predict the resident size to the megabyte.

use crate::config::TrainConfig;
use crate::data::EVAL_CHUNK;
use crate::error::{Error, Result};

/// Largest image side (`domain.size`) accepted: the paper's is 100.
pub const MAX_IMAGE_SIDE: usize = 4096;
/// Largest value of any one width or channel count of the model.
pub const MAX_WIDTH: usize = 1 << 16;
/// Largest number of layers (g's residual units, encoder or decoder layers).
pub const MAX_LAYERS: usize = 256;
/// Largest batch.
pub const MAX_BATCH: usize = 1 << 16;
/// Largest validation set (it is held in memory and scored at every validation).
pub const MAX_VALIDATION_SAMPLES: usize = 10_000_000;
/// Largest number of test samples (scored in chunks: this bounds time, not memory).
pub const MAX_TEST_SAMPLES: usize = 100_000_000;
/// Largest pixel scale of generated pictures.
pub const MAX_PICTURE_SCALE: usize = 64;
/// The memory assumed when the machine's cannot be read (no `/proc/meminfo`).
pub const ASSUMED_MEMORY: u64 = 8 << 30;

fn cap(field: &str, value: usize, max: usize) -> Result<()> {
    if value > max {
        return Err(Error::Config {
            field: field.to_string(),
            msg: format!("{value} is above the limit of {max}"),
        });
    }
    Ok(())
}

/// The domain's sizes the estimates grow with, read from its generator (built, not run).
struct DomainSizes {
    /// The largest input axis (the image side, the signal's length or features).
    side: usize,
    /// Positions per motif channel (`H * W`, or `L`).
    positions: f64,
    /// Floats of one input.
    input: f64,
    /// Tokens after the collapse's pool.
    tokens: f64,
    /// Decoder steps (the longest output plus start and end).
    out: f64,
}

/// The sizes of `c`'s domain; all zero when its config does not build (validation then names
/// the field).
fn domain_sizes(c: &TrainConfig) -> DomainSizes {
    let Ok(domain) = c.domain.build() else {
        return DomainSizes {
            side: 0,
            positions: 0.0,
            input: 0.0,
            tokens: 0.0,
            out: 0.0,
        };
    };
    let shape = domain.input_shape();
    let spatial = shape.get(1..).unwrap_or(&[]);
    let pool = c.model.pool.max(1) as f64;
    DomainSizes {
        side: shape.iter().copied().max().unwrap_or(0),
        positions: spatial.iter().map(|&v| v as f64).product(),
        input: shape.iter().map(|&v| v as f64).product(),
        tokens: spatial.iter().map(|&v| (v as f64 / pool).ceil()).product(),
        out: (domain.max_tokens() + 2) as f64,
    }
}

/// The hard per-field caps (see the module docs); the error names the first field over its cap.
pub fn check_caps(c: &TrainConfig) -> Result<()> {
    let m = &c.model;
    cap("domain.size", domain_sizes(c).side, MAX_IMAGE_SIDE)?;
    for (field, v) in [
        ("model.g_width", m.g_width),
        ("model.motif_channels", m.motif_channels),
        ("model.d_model", m.d_model),
        ("model.heads", m.heads),
        ("model.ff", m.ff),
    ] {
        cap(field, v, MAX_WIDTH)?;
    }
    for (field, v) in [
        ("model.g_blocks", m.g_blocks),
        ("model.encoder_layers", m.encoder_layers),
        ("model.decoder_layers", m.decoder_layers),
    ] {
        cap(field, v, MAX_LAYERS)?;
    }
    cap("batch_size", c.batch_size, MAX_BATCH)?;
    cap(
        "validation_samples",
        c.validation_samples,
        MAX_VALIDATION_SAMPLES,
    )?;
    cap("test_samples", c.test_samples, MAX_TEST_SAMPLES)
}

/// An estimate of a command's peak memory: its parts, each with the field that drives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// What the estimate is for (`"training"`, `"evaluation"`, `"generate"`).
    pub what: &'static str,
    /// `(field, bytes)`: each part and the config field or option it grows with.
    pub parts: Vec<(String, f64)>,
}

impl Estimate {
    /// The total, in bytes.
    pub fn bytes(&self) -> f64 {
        self.parts.iter().map(|(_, b)| b).sum()
    }

    /// The field of the largest part.
    pub fn dominant_field(&self) -> &str {
        self.parts
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or("", |(f, _)| f.as_str())
    }
}

/// Bytes as a short human figure (`"1.5 GiB"`).
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Floats of one sample's activations through the model, as saved for the backward pass.
fn floats_per_sample(c: &TrainConfig) -> f64 {
    let m = &c.model;
    let sizes = domain_sizes(c);
    let (pixels, tokens, out) = (sizes.positions, sizes.tokens, sizes.out);
    let (d, ff, heads) = (m.d_model as f64, m.ff as f64, m.heads as f64);
    // g: the input, the 1x1 stem, then per residual unit two BatchNorms, two ReLUs, two convs
    // and the sum.
    let g = sizes.input + pixels * m.g_width as f64 * (1.0 + 7.0 * m.g_blocks as f64);
    // S: the motif conv, its BatchNorm, the sparse output and its mask.
    let s = pixels * m.motif_channels as f64 * 4.0;
    // The collapse: the pooled tokens and their arg-max positions (and, on a 1-D signal, the
    // 1x1 convolution's unpooled map, `pool` times as long).
    let collapse = tokens * d * (2.0 + m.pool as f64);
    // h: per layer about ten d-wide tensors and two ff-wide ones per position, and the
    // attention weights (before and after the softmax) per head.
    let enc =
        m.encoder_layers as f64 * (tokens * (10.0 * d + 2.0 * ff) + 2.0 * heads * tokens * tokens);
    let dec = m.decoder_layers as f64
        * (out * (14.0 * d + 2.0 * ff) + 2.0 * heads * out * (out + tokens));
    g + s + collapse + enc + dec + tokens * d
}

/// Floats of the parameters.
fn parameter_floats(c: &TrainConfig) -> f64 {
    let m = &c.model;
    let tokens = domain_sizes(c).tokens;
    let (gw, d, ff) = (m.g_width as f64, m.d_model as f64, m.ff as f64);
    let g = gw + m.g_blocks as f64 * 18.0 * gw * gw + gw * m.motif_channels as f64;
    let collapse = m.motif_channels as f64 * d + d;
    let h = m.encoder_layers as f64 * (4.0 * d * d + 2.0 * d * ff)
        + m.decoder_layers as f64 * (8.0 * d * d + 2.0 * d * ff)
        + tokens * d;
    g + collapse + h
}

/// The estimate of `sparling train` with config `c`.
pub fn train_memory(c: &TrainConfig) -> Estimate {
    let sizes = domain_sizes(c);
    let input = sizes.input * 4.0;
    let out = sizes.out * 8.0;
    Estimate {
        what: "training",
        parts: vec![
            // Activations and their gradients.
            (
                "batch_size".to_string(),
                c.batch_size as f64 * floats_per_sample(c) * 4.0 * 2.0,
            ),
            // Parameters, gradients, Adam's two moments, and the copies in a checkpoint.
            ("model".to_string(), parameter_floats(c) * 4.0 * 6.0),
            // The validation inputs and targets, kept in memory; one chunk's forward pass.
            (
                "validation_samples".to_string(),
                c.validation_samples as f64 * (input + out)
                    + EVAL_CHUNK.min(c.validation_samples) as f64 * floats_per_sample(c) * 4.0,
            ),
        ],
    }
}

/// The estimate of `sparling eval` of a model of config `c` on `samples` test samples (and
/// `curve_samples` per point of the curve): chunks of [`EVAL_CHUNK`] samples at a time.
pub fn eval_memory(c: &TrainConfig, samples: usize, curve_samples: usize) -> Estimate {
    let chunk = EVAL_CHUNK.min(samples.max(curve_samples)) as f64;
    Estimate {
        what: "evaluation",
        parts: vec![
            ("--samples".to_string(), chunk * floats_per_sample(c) * 4.0),
            ("model".to_string(), parameter_floats(c) * 4.0 * 2.0),
        ],
    }
}

/// The estimate of `sparling generate` of `count` samples of shape `input_shape` in chunks of
/// `chunk`, pictures at `scale` pixels per pixel on `threads` threads, and a grid of `grid`.
pub fn generate_memory(
    input_shape: &[usize],
    count: u64,
    chunk: u64,
    scale: usize,
    threads: usize,
    grid: usize,
) -> Estimate {
    let pixels: f64 = input_shape.iter().map(|&n| n as f64).product();
    let picture = pixels * (scale as f64).powi(2) * 3.0;
    let per_chunk = count.min(chunk) as f64;
    let grid_n = (grid as u64).min(count) as f64;
    Estimate {
        what: "generate",
        parts: vec![
            // The chunk's samples (the image and its motifs) and their JSON lines.
            ("--count".to_string(), per_chunk * pixels * 8.0),
            // A picture and its PNG encoding per thread, and the grid (its pictures and the
            // tiled image).
            (
                "--scale".to_string(),
                threads as f64 * picture * 2.0 + grid_n * picture * 2.0,
            ),
        ],
    }
}

/// The machine's memory in bytes (`MemTotal` of `/proc/meminfo`), if it can be read.
pub fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_total(&text)
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => kib.checked_mul(1024),
        Some(_) => None,
    }
}

/// Refuses `estimate` if it exceeds the machine's memory ([`machine_memory`], else
/// [`ASSUMED_MEMORY`]), unless `force`.
pub fn check_memory(estimate: &Estimate, force: bool) -> Result<()> {
    let (memory, source) = match machine_memory() {
        Some(m) => (m, "this machine has"),
        None => (ASSUMED_MEMORY, "assumed, /proc/meminfo being unreadable:"),
    };
    check_memory_against(estimate, memory, source, force)
}

fn check_memory_against(estimate: &Estimate, memory: u64, source: &str, force: bool) -> Result<()> {
    let bytes = estimate.bytes();
    if force || bytes <= memory as f64 {
        return Ok(());
    }
    let field = estimate.dominant_field();
    let part = estimate
        .parts
        .iter()
        .find(|(f, _)| f == field)
        .map_or(0.0, |p| p.1);
    Err(Error::TooLarge {
        field: field.to_string(),
        msg: format!(
            "{} would need about {} ({} of it for `{field}`), more than the {} {source}; \
             lower `{field}`, or pass --force to try anyway",
            estimate.what,
            human(bytes),
            human(part),
            human(memory as f64)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;

    #[test]
    fn limits_presets_fit_in_a_small_machine() {
        for p in [Profile::Quick, Profile::Default] {
            let c = TrainConfig::preset(p);
            check_caps(&c).unwrap();
            let t = train_memory(&c);
            // The default run trains in well under 4 GiB.
            assert!(
                t.bytes() < (4u64 << 30) as f64,
                "{p:?}: {}",
                human(t.bytes())
            );
            assert!(
                t.bytes() > (1u64 << 20) as f64,
                "{p:?}: {}",
                human(t.bytes())
            );
            check_memory_against(&t, 4 << 30, "test", false).unwrap();
            check_memory_against(&eval_memory(&c, 10_000, 1_000), 4 << 30, "test", false).unwrap();
        }
    }

    #[test]
    fn limits_huge_fields_are_refused_with_the_field_named() {
        let base = TrainConfig::preset(Profile::Quick);
        let mut c = base.clone();
        c.batch_size = 60_000;
        let e = check_memory_against(&train_memory(&c), 16 << 30, "test", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`batch_size`") && e.contains("--force"), "{e}");
        check_memory_against(&train_memory(&c), 16 << 30, "test", true).unwrap();
        let mut c = base.clone();
        c.validation_samples = 5_000_000;
        let e = check_memory_against(&train_memory(&c), 16 << 30, "test", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`validation_samples`"), "{e}");
        for (field, set) in [
            (
                "batch_size",
                &(|c: &mut TrainConfig| c.batch_size = 1_000_000_000) as &dyn Fn(&mut TrainConfig),
            ),
            ("model.d_model", &|c: &mut TrainConfig| {
                c.model.d_model = 1 << 30
            }),
            ("model.motif_channels", &|c: &mut TrainConfig| {
                c.model.motif_channels = 1 << 20
            }),
            ("domain.size", &|c: &mut TrainConfig| {
                c.digit_circle_mut().unwrap().size = 1_000_000
            }),
            ("test_samples", &|c: &mut TrainConfig| {
                c.test_samples = usize::MAX
            }),
            ("validation_samples", &|c: &mut TrainConfig| {
                c.validation_samples = 1 << 40
            }),
        ] {
            let mut c = base.clone();
            set(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(
                e.contains(&format!("`{field}`")) && e.contains("limit"),
                "{field}: {e}"
            );
        }
    }

    #[test]
    fn limits_generate_scale_is_estimated() {
        let small = generate_memory(&[1, 100, 100], 10, 1024, 4, 2, 64);
        assert!(
            small.bytes() < (64u64 << 20) as f64,
            "{}",
            human(small.bytes())
        );
        let huge = generate_memory(&[1, 100, 100], 10, 1024, 1_000_000, 2, 64);
        let e = check_memory_against(&huge, 16 << 30, "test", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`--scale`"), "{e}");
    }

    #[test]
    fn limits_meminfo_is_parsed() {
        let text = "MemTotal:       16314708 kB\nMemFree:         1234 kB\n";
        assert_eq!(meminfo_total(text), Some(16_314_708 * 1024));
        assert_eq!(meminfo_total("MemFree: 1 kB\n"), None);
        assert_eq!(meminfo_total("MemTotal: x kB\n"), None);
        assert_eq!(human(1536.0 * 1024.0 * 1024.0), "1.5 GiB");
    }
}

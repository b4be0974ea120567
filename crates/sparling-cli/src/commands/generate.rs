//! `sparling generate`: samples of a synthetic domain as `samples.jsonl` plus PNG pictures.
//! The file format is documented in `crates/sparling-domains/README.md`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use rayon::prelude::*;
use sparling_domains::picture::{sample_grid, save_sample_png};
use sparling_domains::record::write_jsonl;
use sparling_domains::{DomainSpec, Sample, SampleRecord};

/// The domains `generate` knows.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainName {
    /// DigitCircle: 3-6 digits around a circle on a noisy 100 x 100 image.
    DigitCircle,
    /// SingleDigit: one centred digit on a noisy 32 x 32 image.
    SingleDigit,
    /// Formula: a formula from the paper's grammar on a noisy 120 x 360 image (paper = 1).
    Formula,
}

impl DomainName {
    fn as_str(self) -> &'static str {
        match self {
            DomainName::DigitCircle => "digit-circle",
            DomainName::SingleDigit => "single-digit",
            DomainName::Formula => "formula",
        }
    }
}

/// Arguments of `sparling generate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The domain.
    #[arg(long, value_enum, default_value_t = DomainName::DigitCircle)]
    pub domain: DomainName,
    /// Number of samples.
    #[arg(long)]
    pub count: u64,
    /// The stream's seed (use different seeds for training, validation and test sets).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Index of the first sample (samples are `start..start+count` of the stream).
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// A JSON file overriding the domain's parameters, e.g. {"post_noise": 0.1}; missing
    /// fields keep the paper's values.
    #[arg(long, value_name = "FILE.json")]
    pub config: Option<PathBuf>,
    /// Pixels per image pixel in the PNGs.
    #[arg(long, default_value_t = 4)]
    pub scale: usize,
    /// Outline each motif's footprint in the PNGs.
    #[arg(long)]
    pub boxes: bool,
    /// Write no per-sample PNG (samples.jsonl and grid.png only).
    #[arg(long)]
    pub no_png: bool,
    /// Number of samples in grid.png (0: no grid).
    #[arg(long, default_value_t = 64)]
    pub grid: usize,
    /// Generate even if the memory estimate exceeds the machine's memory.
    #[arg(long)]
    pub force: bool,
}

/// Samples generated per parallel batch (bounds the memory of large runs).
const CHUNK: u64 = 1024;

/// The domain specification: the paper's configuration, overridden by `--config`.
fn spec(args: &Args) -> anyhow::Result<DomainSpec> {
    let name = args.domain.as_str();
    let Some(path) = &args.config else {
        return Ok(DomainSpec::from_name(name).expect("known domain name"));
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut value: serde_json::Value = sparling_train::input::parse_json(&text)
        .with_context(|| format!("in {}", path.display()))?;
    let Some(obj) = value.as_object_mut() else {
        bail!(
            "{}: the configuration must be a JSON object",
            path.display()
        );
    };
    match obj.get("domain") {
        Some(serde_json::Value::String(d)) if d == name => {}
        Some(other) => bail!(
            "{}: \"domain\" is {other}, but --domain is {name}",
            path.display()
        ),
        None => {
            obj.insert("domain".into(), name.into());
        }
    }
    serde_json::from_value(value)
        .with_context(|| format!("{}: invalid {name} configuration", path.display()))
}

/// Refuses, before anything is written, an image side or a picture scale over its cap, and
/// a run whose memory estimate exceeds the machine's (unless `--force`).
fn check_limits(args: &Args, input_shape: &[usize]) -> anyhow::Result<()> {
    use sparling_train::limits;
    if let Some(&side) = input_shape.iter().skip(1).max() {
        if side > limits::MAX_IMAGE_SIDE {
            bail!(
                "the domain's image side {side} is above the limit of {}",
                limits::MAX_IMAGE_SIDE
            );
        }
    }
    if args.scale > limits::MAX_PICTURE_SCALE {
        bail!(
            "--scale {} is above the limit of {}",
            args.scale,
            limits::MAX_PICTURE_SCALE
        );
    }
    let threads = if args.no_png {
        0
    } else {
        rayon::current_num_threads()
    };
    let estimate = limits::generate_memory(
        input_shape,
        args.count,
        CHUNK,
        args.scale,
        threads,
        args.grid,
    );
    Ok(limits::check_memory(&estimate, args.force)?)
}

/// Generates the samples and writes `samples.jsonl`, `domain.json`, the PNGs and `grid.png`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = spec(&args)?;
    let domain = spec
        .build()
        .with_context(|| format!("building {}", spec.name()))?;
    if args.scale == 0 {
        bail!("--scale must be at least 1");
    }
    let end = args
        .start
        .checked_add(args.count)
        .context("--start + --count overflows")?;
    check_limits(&args, &domain.input_shape())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;

    let meta = serde_json::json!({
        "seed": args.seed,
        "start": args.start,
        "count": args.count,
        "spec": spec,
    });
    let meta_path = args.out.join("domain.json");
    std::fs::write(&meta_path, serde_json::to_string_pretty(&meta)? + "\n")
        .with_context(|| format!("cannot write {}", meta_path.display()))?;

    let jsonl_path = args.out.join("samples.jsonl");
    let file = File::create(&jsonl_path)
        .with_context(|| format!("cannot create {}", jsonl_path.display()))?;
    let mut jsonl = BufWriter::new(file);
    let mut grid_samples: Vec<Sample> = Vec::new();
    let mut first = args.start;
    while first < end {
        let last = (first + CHUNK).min(end);
        let indices: Vec<u64> = (first..last).collect();
        let samples = domain.batch(args.seed, &indices);
        let records = samples
            .iter()
            .zip(&indices)
            .map(|(s, &i)| SampleRecord::from_sample(args.seed, i, s))
            .collect::<Result<Vec<_>, _>>()?;
        write_jsonl(&mut jsonl, &records)
            .with_context(|| format!("writing {}", jsonl_path.display()))?;
        if !args.no_png {
            samples
                .par_iter()
                .zip(indices.par_iter())
                .try_for_each(|(s, &i)| {
                    let path = args.out.join(format!("sample_{i:06}.png"));
                    save_sample_png(s, &path, args.scale, args.boxes)
                        .with_context(|| format!("writing {}", path.display()))
                })?;
        }
        let room = args.grid.saturating_sub(grid_samples.len());
        grid_samples.extend(samples.into_iter().take(room));
        first = last;
    }
    jsonl
        .flush()
        .with_context(|| format!("writing {}", jsonl_path.display()))?;

    if !grid_samples.is_empty() {
        let cols = (grid_samples.len() as f64).sqrt().ceil() as usize;
        let path = args.out.join("grid.png");
        sample_grid(&grid_samples, cols, args.scale, args.boxes)?
            .save_png(&path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "wrote {} {} samples (seed {}, indices {}..{}) to {}",
        args.count,
        spec.name(),
        args.seed,
        args.start,
        end,
        args.out.display()
    );
    Ok(())
}

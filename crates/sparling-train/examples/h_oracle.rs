//! Trains h alone on oracle motif maps: how fast can the downstream network learn the circular
//! order when the motifs are perfect? A diagnostic for the order plateau.
//!
//! The oracle map of a sample has a single `V` (default 1) per placed digit, in the digit's channel at its
//! anchor point: what a perfectly identified, extremely sparse Sparse layer would output.
//!
//! ```text
//! GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=1073741824 \
//!   cargo run --release -p sparling-train --example h_oracle -- \
//!   [--samples N] [--lr LR] [--warmup STEPS] [--batch B] [--every N] [--value V]
//! ```
//!
//! Prints one line per validation: samples, mean training loss, exact match on 500 fixed
//! validation samples, and seconds.

use std::time::Instant;

use ndarray::Array4;
use sparling_domains::{DigitCircle, Domain, TokenId};
use sparling_nn::optim::{Adam, Optimizer};
use sparling_tensor::Tensor;
use sparling_train::config::{Profile, TrainConfig};
use sparling_train::data::DataSeeds;
use sparling_train::model::SparlingModel;

mod common;
use common::arg;

/// Oracle maps `(N, channels, size, size)` and target sequences of samples `indices`.
fn oracle_batch(
    domain: &DigitCircle,
    seed: u64,
    indices: &[u64],
    channels: usize,
    value: f32,
) -> (Tensor, Vec<Vec<TokenId>>) {
    let batch = domain.batch_arrays(seed, indices);
    let size = domain.config().size;
    let mut map = Array4::<f32>::zeros((indices.len(), channels, size, size));
    for (i, motifs) in batch.motifs.iter().enumerate() {
        for m in motifs {
            map[[i, m.class, m.anchor[0], m.anchor[1]]] = value;
        }
    }
    (Tensor::new(map.into_dyn()), batch.tokens)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut cfg = TrainConfig::preset(Profile::Default);
    let samples: u64 = arg(&args, "--samples", 100_000);
    cfg.optimizer.lr = arg(&args, "--lr", cfg.optimizer.lr);
    cfg.optimizer.warmup_steps = arg(&args, "--warmup", cfg.optimizer.warmup_steps);
    cfg.batch_size = arg(&args, "--batch", cfg.batch_size);
    let every: u64 = arg(&args, "--every", 4_000);
    let seed: u64 = arg(&args, "--seed", 0);
    let value: f32 = arg(&args, "--value", 1.0);
    println!("# h on oracle maps: {:?}", cfg.optimizer);

    let domain = DigitCircle::new(cfg.digit_circle().expect("a DigitCircle config").clone())
        .expect("domain");
    let seeds = DataSeeds::for_run(seed);
    let model = SparlingModel::new(&cfg, seed).expect("model");
    let channels = cfg.model.motif_channels;
    let validation: Vec<_> = (0..10u64)
        .map(|c| {
            let idx: Vec<u64> = (c * 50..c * 50 + 50).collect();
            oracle_batch(&domain, seeds.validation, &idx, channels, value)
        })
        .collect();
    let mut adam = Adam::new(cfg.optimizer.adam()).expect("adam");
    let schedule = sparling_train::schedule::RunSchedule::new(&cfg.schedule, &cfg.optimizer)
        .expect("schedule");
    let b = cfg.batch_size as u64;
    let start = Instant::now();
    let (mut loss_sum, mut loss_n) = (0.0f64, 0u64);
    let mut step = 0u64;
    while step * b < samples {
        let idx: Vec<u64> = (step * b..(step + 1) * b).collect();
        let (map, targets) = oracle_batch(&domain, seeds.train, &idx, channels, value);
        let loss = model.sequence_loss(&map, &targets).expect("loss");
        loss_sum += loss.item() as f64;
        loss_n += 1;
        let mut grads = loss.backward();
        let params = model.store().params();
        if let Some(c) = cfg.optimizer.grad_clip {
            grads.clip_global_norm(&params, c);
        }
        adam.set_learning_rate(schedule.learning_rate(step, 0));
        adam.step(model.store(), &grads);
        step += 1;
        if (step * b) % every < b {
            let mut correct = 0;
            for (map, targets) in &validation {
                let pred = model.predict_from_map(map);
                correct += pred.iter().zip(targets).filter(|(p, t)| p == t).count();
            }
            println!(
                "{:>8} loss {:.4} acc {:.3} {:>6.0}s",
                step * b,
                loss_sum / loss_n as f64,
                correct as f64 / 500.0,
                start.elapsed().as_secs_f64()
            );
            (loss_sum, loss_n) = (0.0, 0);
        }
    }
}

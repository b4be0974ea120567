//! Continues training a per-density snapshot at its own density for a few thousand samples,
//! then scores it: does the model at the operating point improve with more samples there?
//! (A diagnostic for the FNE/E2EE gap of docs/history.md; not part of the pipeline.)
//!
//! ```text
//! cargo run --release -p sparling-train --example polish -- RUNG_FILE [--samples N] [--lr LR] [--test N] [--eval-every N]
//! ```
//!
//! Training continues the run's training stream from the snapshot's position, with a fresh
//! Adam (lr warmed up over 50 steps) and the snapshot's density held fixed.

use sparling_domains::{DigitCircle, Domain};
use sparling_nn::checkpoint;
use sparling_nn::optim::{Adam, AdamConfig, Optimizer};
use sparling_tensor::Tensor;
use sparling_train::data::DataSeeds;
use sparling_train::eval::evaluate;
use sparling_train::model::SparlingModel;
use sparling_train::state::{MODEL_KIND, ModelSnapshot};

mod common;
use common::arg;

fn report(label: &str, model: &SparlingModel, domain: &DigitCircle, n: usize, s: &ModelSnapshot) {
    let r = evaluate(model, domain, n, s).expect("evaluate");
    println!(
        "{label}: FPE {:.2}% FNE {:.2}% CE {:.2}% E2EE {:.2}% exact {:.2}% on {n}",
        100.0 * r.fpe,
        100.0 * r.fne,
        100.0 * r.ce,
        100.0 * r.e2ee,
        100.0 * r.exact_match
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: polish RUNG_FILE [options]");
    let samples: u64 = arg(&args, "--samples", 16_000);
    let lr: f32 = arg(&args, "--lr", 3e-4);
    let test: usize = arg(&args, "--test", 2_000);
    let eval_every: u64 = arg(&args, "--eval-every", 0);
    let snap: ModelSnapshot = checkpoint::load(path, MODEL_KIND).expect("snapshot");
    let cfg = snap.config.clone();
    let model = SparlingModel::from_snapshot(&snap).expect("model");
    model
        .bottleneck()
        .set_density(snap.density)
        .expect("density");
    let domain = DigitCircle::new(cfg.digit_circle().expect("a DigitCircle config").clone())
        .expect("domain");
    report("before", &model, &domain, test, &snap);
    let mut adam = Adam::new(AdamConfig {
        lr,
        weight_decay: 0.0,
        ..cfg.optimizer.adam()
    })
    .expect("adam");
    let seeds = DataSeeds::for_run(snap.seed);
    let b = cfg.batch_size as u64;
    let mut step = 0u64;
    let mut loss_sum = 0.0f64;
    while step * b < samples {
        let start = snap.samples + step * b;
        let idx: Vec<u64> = (start..start + b).collect();
        let batch = domain.batch_arrays(seeds.train, &idx);
        let out = model
            .loss(&Tensor::new(batch.inputs), &batch.tokens, true)
            .expect("loss");
        loss_sum += out.loss.item() as f64;
        let mut grads = out.loss.backward();
        drop(out);
        if let Some(c) = cfg.optimizer.grad_clip {
            grads.clip_global_norm(&model.store().params(), c);
        }
        adam.set_learning_rate(lr * ((step + 1) as f32 / 50.0).min(1.0));
        adam.step(model.store(), &grads);
        step += 1;
        if step % 125 == 0 {
            println!("{:>7} samples, mean loss {:.4}", step * b, loss_sum / 125.0);
            loss_sum = 0.0;
        }
        if eval_every > 0 && (step * b) % eval_every < b && step * b < samples {
            report(&format!("at {:>6}", step * b), &model, &domain, test, &snap);
        }
    }
    report("after", &model, &domain, test, &snap);
}

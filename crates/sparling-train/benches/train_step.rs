//! Training throughput: one optimizer step (batch generation, forward, backward, clipping,
//! Adam) of the preset models, in samples/s (`Throughput::Elements(batch)`).
//!
//! ```text
//! cargo bench -p sparling-train --bench train_step
//! ```

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sparling_train::config::{Profile, TrainConfig};
use sparling_train::state::RunDir;
use sparling_train::trainer::Trainer;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(20));
    for (label, profile) in [
        ("quick_model", Profile::Quick),
        ("default_model", Profile::Default),
    ] {
        let mut cfg = TrainConfig::preset(profile);
        cfg.validation_samples = 1;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut trainer = Trainer::open(cfg.clone(), 0, RunDir::new(dir.path())).expect("trainer");
        group.throughput(Throughput::Elements(cfg.batch_size as u64));
        group.bench_function(format!("{label}/b{}", cfg.batch_size), |b| {
            b.iter(|| trainer.train_step().expect("step"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

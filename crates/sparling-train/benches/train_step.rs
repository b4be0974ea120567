//! Training throughput: one optimizer step (batch generation, forward, backward, clipping,
//! Adam) of the preset models, in samples/s (`Throughput::Elements(batch)`). The default model
//! is measured at the first density of its schedule (0.5) and at its operating density
//! (5e-5), where the collapse skips almost every position.
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
    for (label, profile, density) in [
        ("quick_model", Profile::Quick, None),
        ("default_model", Profile::Default, None),
        ("default_model_d5e-5", Profile::Default, Some(5e-5)),
    ] {
        let mut cfg = TrainConfig::preset(profile);
        cfg.validation_samples = 1;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut trainer = Trainer::open(cfg.clone(), 0, RunDir::new(dir.path())).expect("trainer");
        if let Some(d) = density {
            trainer
                .model()
                .bottleneck()
                .set_density(d)
                .expect("density");
        }
        group.throughput(Throughput::Elements(cfg.batch_size as u64));
        group.bench_function(format!("{label}/b{}", cfg.batch_size), |b| {
            b.iter(|| trainer.train_step().expect("step"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

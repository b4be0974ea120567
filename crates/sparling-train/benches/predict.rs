//! Inference throughput (validation and evaluation): greedy prediction of the default preset's
//! model on one evaluation chunk, whole and by stage, in samples/s
//! (`Throughput::Elements(chunk)`).
//!
//! ```text
//! cargo bench -p sparling-train --bench predict
//! ```
//!
//! The model is freshly initialised: its cost does not depend on its weights, except that an
//! untrained decoder rarely emits the end token, so greedy decoding runs all its steps (the
//! worst case; a trained model stops after the longest sequence of the chunk, usually all 7 for a chunk of 50).

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sparling_domains::{DigitCircle, Domain};
use sparling_tensor::{Tensor, no_grad};
use sparling_train::config::{Profile, TrainConfig};
use sparling_train::data::{DataSeeds, EVAL_CHUNK};
use sparling_train::model::SparlingModel;

fn bench(c: &mut Criterion) {
    let cfg = TrainConfig::preset(Profile::Default);
    let model = SparlingModel::new(&cfg, 0).expect("model");
    model.store().set_training(false);
    let domain =
        DigitCircle::new(cfg.digit_circle().expect("DigitCircle").clone()).expect("domain");
    let idx: Vec<u64> = (0..EVAL_CHUNK as u64).collect();
    let x = Tensor::new(
        domain
            .batch_arrays(DataSeeds::for_run(0).validation, &idx)
            .inputs,
    );
    let map = no_grad(|| model.motifs(&x, false).expect("motifs").map);
    let memory = no_grad(|| model.encode(&map));

    let mut group = c.benchmark_group("predict");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(EVAL_CHUNK as u64));
    let b = EVAL_CHUNK;
    group.bench_function(format!("whole/b{b}"), |bench| {
        bench.iter(|| model.predict(&x).expect("predict"))
    });
    group.bench_function(format!("g_and_bottleneck/b{b}"), |bench| {
        bench.iter(|| no_grad(|| model.motifs(&x, false).expect("motifs")))
    });
    group.bench_function(format!("collapse_and_encoder/b{b}"), |bench| {
        bench.iter(|| no_grad(|| model.encode(&map)))
    });
    let max_t = cfg.digit_circle().expect("DigitCircle").digits_max + 1;
    // The memory's cross-attention keys and values projected at every step, as before
    // `prepare_memory`: the ratio of these two is the saving.
    group.bench_function(
        format!("greedy_decoder_{max_t}_steps_reprojecting/b{b}"),
        |bench| {
            bench.iter(|| {
                no_grad(|| {
                    for t in 1..=max_t {
                        let inputs = vec![model.vocab().start(); b * t];
                        model.decode(&memory, &inputs, t);
                    }
                })
            })
        },
    );
    group.bench_function(format!("greedy_decoder_{max_t}_steps/b{b}"), |bench| {
        bench.iter(|| {
            no_grad(|| {
                let prepared = model.prepare_memory(&memory);
                for t in 1..=max_t {
                    let inputs = vec![model.vocab().start(); b * t];
                    model.decode_prepared(&prepared, &inputs, t);
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

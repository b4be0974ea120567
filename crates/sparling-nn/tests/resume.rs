//! Bit-for-bit continuation: training 5 steps, saving parameters, buffers and optimizer state
//! through the checkpoint container, restoring into freshly built objects and training 5 more
//! steps gives exactly the state of 10 uninterrupted steps.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sparling_nn::optim::{AdamState, SgdState};
use sparling_nn::{
    Adam, AdamConfig, BatchNorm, BatchNormConfig, Conv2d, ConvConfig, Linear, Optimizer,
    ParamStore, Sgd, SgdConfig, StateDict, batch_norm2d, checkpoint, conv2d, linear,
};
use sparling_tensor::testing::random_array;
use sparling_tensor::{Module, ModuleT, Tensor};

/// conv 3x3 (1 -> 4) -> BatchNorm2d -> ReLU -> flatten -> Linear (4*4*4 -> 3).
struct Model {
    conv: Conv2d,
    bn: BatchNorm,
    head: Linear,
}

fn model(store: &ParamStore) -> Model {
    Model {
        conv: conv2d(&store.sub("conv"), 1, 4, 3, ConvConfig::same(3)),
        bn: batch_norm2d(&store.sub("bn"), 4, BatchNormConfig::default()),
        head: linear(&store.sub("head"), 64, 3),
    }
}

impl Model {
    fn loss(&self, step: u64) -> Tensor {
        let x = Tensor::new(random_array(&[5, 1, 4, 4], 1000 + step));
        let targets: Vec<usize> = (0..5).map(|i| ((i as u64 + step) % 3) as usize).collect();
        let h = self.bn.forward_t(&self.conv.forward(&x), true).relu();
        self.head
            .forward(&h.reshape(&[5, 64]))
            .cross_entropy(&targets, None)
    }
}

#[derive(Serialize, Deserialize)]
struct TrainState<O> {
    model: StateDict,
    optimizer: O,
    step: u64,
}

fn temp_path(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sparling-nn-resume-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("state.ckpt")
}

fn train(m: &Model, store: &ParamStore, opt: &mut impl Optimizer, steps: std::ops::Range<u64>) {
    for step in steps {
        let grads = m.loss(step).backward();
        opt.step(store, &grads);
    }
}

fn bits(dict: &StateDict) -> Vec<(String, Vec<u32>)> {
    dict.params
        .iter()
        .chain(&dict.buffers)
        .map(|e| (e.name.clone(), e.data.iter().map(|v| v.to_bits()).collect()))
        .collect()
}

#[test]
fn adam_resume_is_bit_exact() {
    let cfg = AdamConfig {
        weight_decay: 1e-2,
        ..AdamConfig::with_lr(0.01)
    };
    // Ten uninterrupted steps.
    let store = ParamStore::new(42);
    let m = model(&store);
    let mut opt = Adam::new(cfg).unwrap();
    train(&m, &store, &mut opt, 0..10);
    let straight = store.export();

    // Five steps, checkpoint, fresh objects (another init seed), restore, five more.
    let store_a = ParamStore::new(42);
    let m_a = model(&store_a);
    let mut opt_a = Adam::new(cfg).unwrap();
    train(&m_a, &store_a, &mut opt_a, 0..5);
    let path = temp_path("adam");
    let state = TrainState {
        model: store_a.export(),
        optimizer: opt_a.state(),
        step: 5,
    };
    checkpoint::save_atomic(&path, "train-state", &state).unwrap();
    drop((m_a, store_a, opt_a));

    let loaded: TrainState<AdamState> = checkpoint::load(&path, "train-state").unwrap();
    let store_b = ParamStore::new(7);
    let m_b = model(&store_b);
    store_b.import(&loaded.model).unwrap();
    let mut opt_b = Adam::from_state(loaded.optimizer, &store_b).unwrap();
    train(&m_b, &store_b, &mut opt_b, loaded.step..10);
    assert_eq!(bits(&store_b.export()), bits(&straight));
    // The running statistics are part of the restored state and did move.
    assert_ne!(straight.get("bn.running_mean").unwrap().data, vec![0.0; 4]);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn sgd_momentum_resume_is_bit_exact() {
    let cfg = SgdConfig {
        nesterov: true,
        weight_decay: 1e-3,
        ..SgdConfig::with_momentum(0.05, 0.9)
    };
    let store = ParamStore::new(3);
    let m = model(&store);
    let mut opt = Sgd::new(cfg).unwrap();
    train(&m, &store, &mut opt, 0..10);
    let straight = store.export();

    let store_a = ParamStore::new(3);
    let m_a = model(&store_a);
    let mut opt_a = Sgd::new(cfg).unwrap();
    train(&m_a, &store_a, &mut opt_a, 0..5);
    let path = temp_path("sgd");
    let state = TrainState {
        model: store_a.export(),
        optimizer: opt_a.state(),
        step: 5,
    };
    checkpoint::save_atomic(&path, "train-state", &state).unwrap();

    let loaded: TrainState<SgdState> = checkpoint::load(&path, "train-state").unwrap();
    let store_b = ParamStore::new(11);
    let m_b = model(&store_b);
    store_b.import(&loaded.model).unwrap();
    let mut opt_b = Sgd::from_state(loaded.optimizer, &store_b).unwrap();
    train(&m_b, &store_b, &mut opt_b, loaded.step..10);
    assert_eq!(bits(&store_b.export()), bits(&straight));
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn training_reduces_the_loss() {
    // A sanity check that the layers, the loss and Adam fit together: 60 steps on one fixed
    // batch drive the loss well down.
    let store = ParamStore::new(1);
    let m = model(&store);
    let mut opt = Adam::new(AdamConfig::with_lr(0.02)).unwrap();
    let first = m.loss(0).item();
    for _ in 0..60 {
        let grads = m.loss(0).backward();
        opt.step(&store, &grads);
    }
    let last = m.loss(0).item();
    assert!(last < 0.3 * first, "loss {first} -> {last}");
}

#[test]
fn loading_into_a_different_architecture_fails_clearly() {
    let store = ParamStore::new(0);
    let m = model(&store);
    let path = temp_path("arch");
    checkpoint::save_atomic(&path, "model", &store.export()).unwrap();
    let other = ParamStore::new(0);
    let _conv = conv2d(&other.sub("conv"), 1, 8, 3, ConvConfig::same(3));
    let dict: StateDict = checkpoint::load(&path, "model").unwrap();
    let err = other.import(&dict).unwrap_err().to_string();
    assert!(
        err.contains("\"conv.weight\" has shape [4, 1, 3, 3] in the dict, [8, 1, 3, 3]"),
        "{err}"
    );
    assert!(
        err.contains("unexpected parameter \"head.weight\""),
        "{err}"
    );
    assert!(
        err.contains("unexpected buffer \"bn.running_mean\""),
        "{err}"
    );
    // The optimizer state of one model does not restore against another.
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    opt.step(&store, &m.loss(0).backward());
    assert!(Adam::from_state(opt.state(), &other).is_err());
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

//! Adam (Kingma & Ba), bias-corrected, with optional L2 weight decay (added to the gradient) or
//! decoupled weight decay (AdamW, Loshchilov & Hutter). Follows PyTorch's `torch.optim.Adam`
//! and `AdamW` update order:
//!
//! ```text
//! g   = grad + wd * p                      (L2 mode only)
//! p   = p * (1 - lr * wd)                  (decoupled mode only)
//! m   = b1 * m + (1 - b1) * g
//! v   = b2 * v + (1 - b2) * g^2
//! p   = p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//! ```
//!
//! `t` counts the steps of each parameter (a parameter without a gradient does not advance).

use std::collections::HashMap;

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sparling_tensor::Gradients;

use super::{Optimizer, UPDATE_CHUNK, value_and_grad};
use crate::error::{Error, Result};
use crate::store::ParamStore;

/// Hyper-parameters of [`Adam`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to the denominator.
    pub eps: f32,
    /// Weight decay factor (0 disables it).
    pub weight_decay: f32,
    /// `false`: L2 penalty added to the gradient (Adam); `true`: decoupled decay (AdamW).
    pub decoupled: bool,
}

impl Default for AdamConfig {
    /// PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay.
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }
}

impl AdamConfig {
    /// Adam with learning rate `lr` and the other defaults.
    pub fn with_lr(lr: f32) -> AdamConfig {
        AdamConfig {
            lr,
            ..AdamConfig::default()
        }
    }

    /// AdamW: decoupled weight decay `weight_decay`, learning rate `lr`.
    pub fn adamw(lr: f32, weight_decay: f32) -> AdamConfig {
        AdamConfig {
            lr,
            weight_decay,
            decoupled: true,
            ..AdamConfig::default()
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidConfig { what: "Adam", msg });
        if !(self.lr >= 0.0 && self.lr.is_finite()) {
            return bad(format!("learning rate {} must be finite and >= 0", self.lr));
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(format!("{name} = {b} must lie in [0, 1)"));
            }
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return bad(format!("eps {} must be finite and > 0", self.eps));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(format!(
                "weight decay {} must be finite and >= 0",
                self.weight_decay
            ));
        }
        Ok(())
    }
}

/// The moments and step count of one parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamSlot {
    /// Full parameter name.
    pub name: String,
    /// Number of steps taken by this parameter.
    pub step: u64,
    /// First moment, row-major.
    pub m: Vec<f32>,
    /// Second moment, row-major.
    pub v: Vec<f32>,
}

/// The serializable state of an [`Adam`] optimizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamState {
    /// Hyper-parameters (including the current learning rate).
    pub config: AdamConfig,
    /// Per-parameter state, in the order parameters first received a gradient.
    pub slots: Vec<AdamSlot>,
}

/// The Adam optimizer; see the module documentation for the update.
#[derive(Clone, Debug)]
pub struct Adam {
    config: AdamConfig,
    slots: Vec<AdamSlot>,
    index: HashMap<String, usize>,
}

impl Adam {
    /// A fresh optimizer (no state yet).
    pub fn new(config: AdamConfig) -> Result<Adam> {
        config.validate()?;
        Ok(Adam {
            config,
            slots: Vec::new(),
            index: HashMap::new(),
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// A copy of the full state, for checkpoints.
    pub fn state(&self) -> AdamState {
        AdamState {
            config: self.config,
            slots: self.slots.clone(),
        }
    }

    /// Rebuilds an optimizer from saved state, checking it against `store`: every slot must
    /// name a parameter of the store, once, with moments of the parameter's size.
    pub fn from_state(state: AdamState, store: &ParamStore) -> Result<Adam> {
        state.config.validate()?;
        let mut problems = Vec::new();
        let mut index = HashMap::new();
        for (i, slot) in state.slots.iter().enumerate() {
            if index.insert(slot.name.clone(), i).is_some() {
                problems.push(format!("{:?} appears twice", slot.name));
            }
            match store.get_param(&slot.name) {
                None => problems.push(format!("no parameter {:?} in the store", slot.name)),
                Some(p) if slot.m.len() != p.len() || slot.v.len() != p.len() => {
                    problems.push(format!(
                        "{:?}: moments of length {}/{} for a parameter of {} values",
                        slot.name,
                        slot.m.len(),
                        slot.v.len(),
                        p.len()
                    ))
                }
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            return Err(Error::OptimizerStateMismatch {
                details: problems.join("; "),
            });
        }
        Ok(Adam {
            config: state.config,
            slots: state.slots,
            index,
        })
    }

    /// The state of parameter `name`, if it has taken a step.
    pub fn slot(&self, name: &str) -> Option<&AdamSlot> {
        self.index.get(name).map(|&i| &self.slots[i])
    }
}

impl Optimizer for Adam {
    fn step(&mut self, store: &ParamStore, grads: &Gradients) {
        let c = self.config;
        for param in store.named_params() {
            let Some(grad) = grads.get(&param.get()) else {
                continue;
            };
            let (mut value, grad) = value_and_grad("Adam::step", &param, grad);
            let i = *self
                .index
                .entry(param.name().to_string())
                .or_insert_with(|| {
                    self.slots.push(AdamSlot {
                        name: param.name().to_string(),
                        step: 0,
                        m: vec![0.0; param.len()],
                        v: vec![0.0; param.len()],
                    });
                    self.slots.len() - 1
                });
            let slot = &mut self.slots[i];
            slot.step += 1;
            let t = slot.step.min(i32::MAX as u64) as i32;
            let bc1 = 1.0 - (c.beta1 as f64).powi(t);
            let bc2_sqrt = (1.0 - (c.beta2 as f64).powi(t)).sqrt() as f32;
            let step_size = (c.lr as f64 / bc1) as f32;
            let l2 = if c.decoupled { 0.0 } else { c.weight_decay };
            let shrink = if c.decoupled {
                1.0 - c.lr * c.weight_decay
            } else {
                1.0
            };
            let update = |p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]| {
                for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
                    let g = if l2 != 0.0 { g + l2 * *p } else { g };
                    if shrink != 1.0 {
                        *p *= shrink;
                    }
                    *m = c.beta1 * *m + (1.0 - c.beta1) * g;
                    *v = c.beta2 * *v + (1.0 - c.beta2) * g * g;
                    *p -= step_size * *m / (v.sqrt() / bc2_sqrt + c.eps);
                }
            };
            if value.len() >= sparling_tensor::kernels::par::MIN_PAR_ELEMS {
                value
                    .par_chunks_mut(UPDATE_CHUNK)
                    .zip(slot.m.par_chunks_mut(UPDATE_CHUNK))
                    .zip(slot.v.par_chunks_mut(UPDATE_CHUNK))
                    .zip(grad.par_chunks(UPDATE_CHUNK))
                    .for_each(|(((p, m), v), g)| update(p, m, v, g));
            } else {
                update(&mut value, &mut slot.m, &mut slot.v, &grad);
            }
            param.set(ArrayD::from_shape_vec(IxDyn(param.shape()), value).expect("same length"));
        }
    }

    fn learning_rate(&self) -> f32 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.config.lr = lr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Init;

    /// A deterministic "gradient": g = p^3 - 0.5 p + 0.1 (computed in f32).
    fn fake_grads(store: &ParamStore) -> Gradients {
        let mut g = Gradients::new();
        for t in store.params() {
            g.insert(&t, t.data().mapv(|p| p * p * p - 0.5 * p + 0.1));
        }
        g
    }

    #[test]
    fn adam_one_step_matches_formula() {
        // After one step m = (1-b1) g, v = (1-b2) g^2, so with bias correction
        // p1 = p0 - lr * g / (|g| + eps) (up to eps * sqrt(1-b2) rounding).
        let store = ParamStore::new(0);
        let w = store.param("w", &[3], Init::Zeros);
        w.set(ndarray::arr1(&[1.0f32, -2.0, 0.5]).into_dyn());
        let mut grads = Gradients::new();
        grads.insert(&w.get(), ndarray::arr1(&[0.3f32, -0.02, 0.0]).into_dyn());
        let cfg = AdamConfig {
            lr: 0.1,
            beta1: 0.8,
            beta2: 0.9,
            eps: 1e-3,
            weight_decay: 0.0,
            decoupled: false,
        };
        let mut opt = Adam::new(cfg).unwrap();
        opt.step(&store, &grads);
        let p0 = [1.0f64, -2.0, 0.5];
        let g = [0.3f64, -0.02, 0.0];
        let got = w.get().to_vec();
        for i in 0..3 {
            let m = 0.2 * g[i];
            let v = 0.1 * g[i] * g[i];
            let mhat = m / 0.2;
            let vhat = v / 0.1;
            let expected = p0[i] - 0.1 * mhat / (vhat.sqrt() + 1e-3);
            assert!(
                (got[i] as f64 - expected).abs() < 1e-6,
                "{i}: {} vs {expected}",
                got[i]
            );
        }
        let slot = opt.slot("w").unwrap();
        assert_eq!(slot.step, 1);
        assert!((slot.m[0] - 0.06).abs() < 1e-7);
        assert!((slot.v[0] - 0.009).abs() < 1e-7);
    }

    #[test]
    fn adam_two_steps_with_l2_and_decoupled_decay() {
        // Hand-unrolled in f64 for one scalar parameter, two steps with grads 0.5 then -0.25.
        for decoupled in [false, true] {
            let (lr, b1, b2, eps, wd) = (0.05f64, 0.9f64, 0.99f64, 1e-8f64, 0.1f64);
            let store = ParamStore::new(0);
            let w = store.param("w", &[1], Init::Constant(2.0));
            let mut opt = Adam::new(AdamConfig {
                lr: lr as f32,
                beta1: b1 as f32,
                beta2: b2 as f32,
                eps: eps as f32,
                weight_decay: wd as f32,
                decoupled,
            })
            .unwrap();
            let (mut p, mut m, mut v) = (2.0f64, 0.0f64, 0.0f64);
            for (t, g0) in [(1, 0.5f64), (2, -0.25f64)] {
                let mut grads = Gradients::new();
                grads.insert(&w.get(), ndarray::arr1(&[g0 as f32]).into_dyn());
                opt.step(&store, &grads);
                let g = if decoupled { g0 } else { g0 + wd * p };
                if decoupled {
                    p *= 1.0 - lr * wd;
                }
                m = b1 * m + (1.0 - b1) * g;
                v = b2 * v + (1.0 - b2) * g * g;
                let bc1 = 1.0 - b1.powi(t);
                let bc2 = 1.0 - b2.powi(t);
                p -= lr / bc1 * m / (v.sqrt() / bc2.sqrt() + eps);
            }
            let got = w.get().to_vec()[0] as f64;
            assert!(
                (got - p).abs() < 1e-5,
                "decoupled={decoupled}: {got} vs {p}"
            );
        }
    }

    #[test]
    fn adam_skips_params_without_grad() {
        let store = ParamStore::new(0);
        let a = store.param("a", &[2], Init::Ones);
        let b = store.param("b", &[2], Init::Ones);
        let mut grads = Gradients::new();
        grads.insert(&a.get(), ndarray::arr1(&[1.0f32, 1.0]).into_dyn());
        let mut opt = Adam::new(AdamConfig::default()).unwrap();
        let b_before = b.get();
        opt.step(&store, &grads);
        assert_eq!(b.get().id(), b_before.id());
        assert!(opt.slot("b").is_none());
        assert!(a.get().to_vec().iter().all(|&x| x < 1.0));
    }

    #[test]
    fn adam_rejects_bad_config_and_mismatched_state() {
        assert!(
            Adam::new(AdamConfig {
                beta1: 1.0,
                ..AdamConfig::default()
            })
            .is_err()
        );
        assert!(
            Adam::new(AdamConfig {
                eps: 0.0,
                ..AdamConfig::default()
            })
            .is_err()
        );
        assert!(
            Adam::new(AdamConfig {
                lr: f32::NAN,
                ..AdamConfig::default()
            })
            .is_err()
        );
        let store = ParamStore::new(0);
        store.param("w", &[3], Init::Ones);
        let mut opt = Adam::new(AdamConfig::default()).unwrap();
        opt.step(&store, &fake_grads(&store));
        let mut state = opt.state();
        state.slots[0].m.pop();
        let err = Adam::from_state(state, &store).unwrap_err().to_string();
        assert!(
            err.contains("moments of length 2/3 for a parameter of 3 values"),
            "{err}"
        );
        let mut state = opt.state();
        state.slots[0].name = "other".into();
        let err = Adam::from_state(state, &store).unwrap_err().to_string();
        assert!(err.contains("no parameter \"other\""), "{err}");
    }

    #[test]
    fn adam_large_param_is_thread_count_independent() {
        let run = || {
            let store = ParamStore::new(3);
            store.param("w", &[70_001], Init::Uniform { lo: -1.0, hi: 1.0 });
            let mut opt = Adam::new(AdamConfig::with_lr(0.01)).unwrap();
            for _ in 0..3 {
                opt.step(&store, &fake_grads(&store));
            }
            store.params()[0].to_vec()
        };
        let one = sparling_tensor::testing::with_threads(1, run);
        let many = sparling_tensor::testing::with_threads(4, run);
        assert!(
            one.iter()
                .zip(&many)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }
}

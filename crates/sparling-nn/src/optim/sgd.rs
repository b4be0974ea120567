//! Stochastic gradient descent with momentum, following PyTorch's `torch.optim.SGD`:
//!
//! ```text
//! g = grad + wd * p
//! b = g                                    (first step of this parameter)
//! b = momentum * b + (1 - dampening) * g   (later steps)
//! d = g + momentum * b  (Nesterov)   or   d = b
//! p = p - lr * d
//! ```
//!
//! With `momentum = 0` no buffer is kept and `d = g`.

use std::collections::HashMap;

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sparling_tensor::Gradients;

use super::{Optimizer, UPDATE_CHUNK, value_and_grad};
use crate::error::{Error, Result};
use crate::store::ParamStore;

/// Hyper-parameters of [`Sgd`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f32,
    /// Momentum factor (0 disables momentum).
    pub momentum: f32,
    /// Dampening of the gradient added to the momentum buffer.
    pub dampening: f32,
    /// Nesterov momentum (requires `momentum > 0` and `dampening = 0`).
    pub nesterov: bool,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f32,
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f32) -> SgdConfig {
        SgdConfig {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }

    /// SGD with learning rate `lr` and momentum `momentum`.
    pub fn with_momentum(lr: f32, momentum: f32) -> SgdConfig {
        SgdConfig {
            momentum,
            ..SgdConfig::new(lr)
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidConfig { what: "Sgd", msg });
        if !(self.lr >= 0.0 && self.lr.is_finite()) {
            return bad(format!("learning rate {} must be finite and >= 0", self.lr));
        }
        if !(self.momentum >= 0.0 && self.momentum.is_finite()) {
            return bad(format!(
                "momentum {} must be finite and >= 0",
                self.momentum
            ));
        }
        if !(0.0..=1.0).contains(&self.dampening) {
            return bad(format!("dampening {} must lie in [0, 1]", self.dampening));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return bad("Nesterov momentum needs momentum > 0 and dampening = 0".into());
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

/// The momentum buffer of one parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdSlot {
    /// Full parameter name.
    pub name: String,
    /// Momentum buffer, row-major.
    pub buffer: Vec<f32>,
}

/// The serializable state of an [`Sgd`] optimizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdState {
    /// Hyper-parameters (including the current learning rate).
    pub config: SgdConfig,
    /// Momentum buffers, in the order parameters first received a gradient.
    pub slots: Vec<SgdSlot>,
}

/// SGD with momentum; see the module documentation for the update.
#[derive(Clone, Debug)]
pub struct Sgd {
    config: SgdConfig,
    slots: Vec<SgdSlot>,
    index: HashMap<String, usize>,
}

impl Sgd {
    /// A fresh optimizer.
    pub fn new(config: SgdConfig) -> Result<Sgd> {
        config.validate()?;
        Ok(Sgd {
            config,
            slots: Vec::new(),
            index: HashMap::new(),
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// A copy of the full state, for checkpoints.
    pub fn state(&self) -> SgdState {
        SgdState {
            config: self.config,
            slots: self.slots.clone(),
        }
    }

    /// Rebuilds an optimizer from saved state, checking every buffer against `store`.
    pub fn from_state(state: SgdState, store: &ParamStore) -> Result<Sgd> {
        state.config.validate()?;
        let mut problems = Vec::new();
        let mut index = HashMap::new();
        for (i, slot) in state.slots.iter().enumerate() {
            if index.insert(slot.name.clone(), i).is_some() {
                problems.push(format!("{:?} appears twice", slot.name));
            }
            match store.get_param(&slot.name) {
                None => problems.push(format!("no parameter {:?} in the store", slot.name)),
                Some(p) if slot.buffer.len() != p.len() => problems.push(format!(
                    "{:?}: momentum buffer of length {} for a parameter of {} values",
                    slot.name,
                    slot.buffer.len(),
                    p.len()
                )),
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            return Err(Error::OptimizerStateMismatch {
                details: problems.join("; "),
            });
        }
        Ok(Sgd {
            config: state.config,
            slots: state.slots,
            index,
        })
    }

    /// The momentum buffer of parameter `name`, if any.
    pub fn slot(&self, name: &str) -> Option<&SgdSlot> {
        self.index.get(name).map(|&i| &self.slots[i])
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, store: &ParamStore, grads: &Gradients) {
        let c = self.config;
        for param in store.named_params() {
            let Some(grad) = grads.get(&param.get()) else {
                continue;
            };
            let (mut value, grad) = value_and_grad("Sgd::step", &param, grad);
            if c.momentum == 0.0 {
                let update = |p: &mut [f32], g: &[f32]| {
                    for (p, &g) in p.iter_mut().zip(g) {
                        *p -= c.lr * (g + c.weight_decay * *p);
                    }
                };
                if value.len() >= sparling_tensor::kernels::par::MIN_PAR_ELEMS {
                    value
                        .par_chunks_mut(UPDATE_CHUNK)
                        .zip(grad.par_chunks(UPDATE_CHUNK))
                        .for_each(|(p, g)| update(p, g));
                } else {
                    update(&mut value, &grad);
                }
            } else {
                let (i, first) = match self.index.get(param.name()) {
                    Some(&i) => (i, false),
                    None => {
                        self.slots.push(SgdSlot {
                            name: param.name().to_string(),
                            buffer: vec![0.0; param.len()],
                        });
                        let i = self.slots.len() - 1;
                        self.index.insert(param.name().to_string(), i);
                        (i, true)
                    }
                };
                let slot = &mut self.slots[i];
                let update = |p: &mut [f32], b: &mut [f32], g: &[f32]| {
                    for ((p, b), &g) in p.iter_mut().zip(b).zip(g) {
                        let g = g + c.weight_decay * *p;
                        *b = if first {
                            g
                        } else {
                            c.momentum * *b + (1.0 - c.dampening) * g
                        };
                        let d = if c.nesterov { g + c.momentum * *b } else { *b };
                        *p -= c.lr * d;
                    }
                };
                if value.len() >= sparling_tensor::kernels::par::MIN_PAR_ELEMS {
                    value
                        .par_chunks_mut(UPDATE_CHUNK)
                        .zip(slot.buffer.par_chunks_mut(UPDATE_CHUNK))
                        .zip(grad.par_chunks(UPDATE_CHUNK))
                        .for_each(|((p, b), g)| update(p, b, g));
                } else {
                    update(&mut value, &mut slot.buffer, &grad);
                }
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

    fn step_with(opt: &mut Sgd, store: &ParamStore, p: &crate::Param, g: f32) {
        let mut grads = Gradients::new();
        grads.insert(&p.get(), ndarray::arr1(&[g]).into_dyn());
        opt.step(store, &grads);
        let _ = store;
    }

    #[test]
    fn sgd_plain_step() {
        // p = 1 - 0.1 * (2 + 0.5 * 1) = 0.75.
        let store = ParamStore::new(0);
        let w = store.param("w", &[1], Init::Ones);
        let mut opt = Sgd::new(SgdConfig {
            weight_decay: 0.5,
            ..SgdConfig::new(0.1)
        })
        .unwrap();
        step_with(&mut opt, &store, &w, 2.0);
        assert!((w.get().to_vec()[0] - 0.75).abs() < 1e-7);
        assert!(opt.slot("w").is_none());
    }

    #[test]
    fn sgd_momentum_literal() {
        // momentum 0.9, lr 0.1, grads 1 then 1:
        // step 1: b = 1, p = 1 - 0.1 = 0.9; step 2: b = 0.9 + 1 = 1.9, p = 0.9 - 0.19 = 0.71.
        let store = ParamStore::new(0);
        let w = store.param("w", &[1], Init::Ones);
        let mut opt = Sgd::new(SgdConfig::with_momentum(0.1, 0.9)).unwrap();
        step_with(&mut opt, &store, &w, 1.0);
        assert!((w.get().to_vec()[0] - 0.9).abs() < 1e-6);
        step_with(&mut opt, &store, &w, 1.0);
        assert!((w.get().to_vec()[0] - 0.71).abs() < 1e-6);
        assert!((opt.slot("w").unwrap().buffer[0] - 1.9).abs() < 1e-6);
    }

    #[test]
    fn sgd_nesterov_and_dampening_literal() {
        // Nesterov, momentum 0.5, lr 1, grads 1 then 2:
        // step 1: b = 1, d = 1 + 0.5 = 1.5, p = -0.5; step 2: b = 0.5 + 2 = 2.5,
        // d = 2 + 1.25 = 3.25, p = -3.75.
        let store = ParamStore::new(0);
        let w = store.param("w", &[1], Init::Zeros);
        w.set(ndarray::arr1(&[1.0f32]).into_dyn());
        let mut opt = Sgd::new(SgdConfig {
            nesterov: true,
            ..SgdConfig::with_momentum(1.0, 0.5)
        })
        .unwrap();
        step_with(&mut opt, &store, &w, 1.0);
        step_with(&mut opt, &store, &w, 2.0);
        assert!((w.get().to_vec()[0] + 3.75).abs() < 1e-6);
        // Dampening 0.5, momentum 0.5, lr 1, grads 1 then 2: b1 = 1 (undampened first step),
        // b2 = 0.5 + 0.5 * 2 = 1.5; p = 1 - 1 - 1.5 = -1.5.
        let store = ParamStore::new(0);
        let w = store.param("w", &[1], Init::Ones);
        let mut opt = Sgd::new(SgdConfig {
            dampening: 0.5,
            ..SgdConfig::with_momentum(1.0, 0.5)
        })
        .unwrap();
        step_with(&mut opt, &store, &w, 1.0);
        step_with(&mut opt, &store, &w, 2.0);
        assert!((w.get().to_vec()[0] + 1.5).abs() < 1e-6);
    }

    #[test]
    fn sgd_rejects_bad_config_and_state() {
        assert!(
            Sgd::new(SgdConfig {
                nesterov: true,
                ..SgdConfig::new(0.1)
            })
            .is_err()
        );
        assert!(Sgd::new(SgdConfig::new(-1.0)).is_err());
        let store = ParamStore::new(0);
        store.param("w", &[2], Init::Ones);
        let state = SgdState {
            config: SgdConfig::with_momentum(0.1, 0.9),
            slots: vec![SgdSlot {
                name: "w".into(),
                buffer: vec![0.0; 5],
            }],
        };
        let err = Sgd::from_state(state, &store).unwrap_err().to_string();
        assert!(
            err.contains("momentum buffer of length 5 for a parameter of 2 values"),
            "{err}"
        );
    }
}

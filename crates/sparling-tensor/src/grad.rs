//! [`Gradients`]: the map from leaf tensors to their gradients that `backward` returns.

use std::collections::HashMap;

use ndarray::ArrayD;

use crate::tensor::{Tensor, TensorId};

/// Gradients of leaf tensors, keyed by [`TensorId`]. Build a fresh one (or [`clear`] it) to
/// zero gradients; [`accumulate`] sums the gradients of several backward passes.
///
/// [`clear`]: Gradients::clear
/// [`accumulate`]: Gradients::accumulate
#[derive(Debug, Default, Clone)]
pub struct Gradients {
    map: HashMap<TensorId, ArrayD<f32>>,
}

impl Gradients {
    /// An empty map (all gradients zero).
    pub fn new() -> Gradients {
        Gradients::default()
    }

    /// The gradient of `t`, if any reached it.
    pub fn get(&self, t: &Tensor) -> Option<&ArrayD<f32>> {
        self.map.get(&t.id())
    }

    /// The gradient with the given id.
    pub fn get_id(&self, id: TensorId) -> Option<&ArrayD<f32>> {
        self.map.get(&id)
    }

    /// Removes and returns the gradient of `t`.
    pub fn remove(&mut self, t: &Tensor) -> Option<ArrayD<f32>> {
        self.map.remove(&t.id())
    }

    /// Sets the gradient for `t`, replacing any previous one.
    pub fn insert(&mut self, t: &Tensor, grad: ArrayD<f32>) {
        self.map.insert(t.id(), grad);
    }

    pub(crate) fn insert_id(&mut self, id: TensorId, grad: ArrayD<f32>) {
        self.map.insert(id, grad);
    }

    /// Number of tensors with a gradient.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if no gradient is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Zeroes all gradients.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Adds every gradient of `other` into `self` (gradient accumulation).
    pub fn accumulate(&mut self, other: Gradients) {
        for (id, g) in other.map {
            match self.map.get_mut(&id) {
                Some(acc) => crate::kernels::par::add_assign(acc, &g),
                None => {
                    self.map.insert(id, g);
                }
            }
        }
    }

    /// Multiplies every gradient by `factor`.
    pub fn scale(&mut self, factor: f32) {
        for g in self.map.values_mut() {
            g.mapv_inplace(|v| v * factor);
        }
    }

    /// The global L2 norm of the gradients of `params`, summed in the order given (so the
    /// result is deterministic).
    pub fn global_norm(&self, params: &[Tensor]) -> f32 {
        let mut total = 0.0f64;
        for p in params {
            if let Some(g) = self.get(p) {
                total += g.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>();
            }
        }
        total.sqrt() as f32
    }

    /// Rescales the gradients of `params` so that their global norm is at most `max_norm`;
    /// returns the norm before clipping.
    pub fn clip_global_norm(&mut self, params: &[Tensor], max_norm: f32) -> f32 {
        let norm = self.global_norm(params);
        if norm > max_norm && norm > 0.0 {
            let factor = max_norm / norm;
            for p in params {
                if let Some(g) = self.map.get_mut(&p.id()) {
                    g.mapv_inplace(|v| v * factor);
                }
            }
        }
        norm
    }
}

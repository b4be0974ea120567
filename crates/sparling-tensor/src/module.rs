//! The layer traits, defined here so that every crate that builds on the tensor core (layers,
//! the Sparse layer, models) can implement them without depending on each other.

use crate::Tensor;

/// A layer whose forward pass does not depend on a training/evaluation mode.
pub trait Module {
    /// Applies the layer.
    fn forward(&self, x: &Tensor) -> Tensor;
}

/// A layer that behaves differently in training and evaluation (BatchNorm, dropout, ...).
pub trait ModuleT {
    /// Applies the layer; `train` selects training behaviour (batch statistics, state updates).
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor;
}

impl<M: Module> ModuleT for M {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Tensor {
        self.forward(x)
    }
}

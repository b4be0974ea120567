//! Optimizers: [`Adam`] (bias-corrected, optional L2 or decoupled weight decay) and [`Sgd`]
//! (momentum, optional Nesterov and weight decay), both with serializable state keyed by
//! parameter name so a restored run continues bit for bit.

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig, AdamSlot, AdamState};
pub use sgd::{Sgd, SgdConfig, SgdSlot, SgdState};

use sparling_tensor::Gradients;

use crate::store::ParamStore;

/// An optimizer updates the parameters of a [`ParamStore`] from their gradients.
pub trait Optimizer {
    /// One update of every parameter that has a gradient in `grads` (the gradients of the
    /// leaves returned by [`ParamStore::params`] before the step). Parameters without a
    /// gradient are left untouched and their state does not advance, as in PyTorch.
    ///
    /// # Panics
    /// If a gradient's shape differs from its parameter's.
    fn step(&mut self, store: &ParamStore, grads: &Gradients);

    /// The current learning rate.
    fn learning_rate(&self) -> f32;

    /// Sets the learning rate (for schedules).
    fn set_learning_rate(&mut self, lr: f32);
}

/// The current value of `param` as an owned row-major vector and its gradient as a row-major
/// slice-backed array, after checking shapes.
pub(crate) fn value_and_grad(
    op: &'static str,
    param: &crate::store::Param,
    grad: &ndarray::ArrayD<f32>,
) -> (Vec<f32>, Vec<f32>) {
    sparling_tensor::shape_check!(
        grad.shape() == param.shape(),
        op,
        "gradient of {:?} has shape {:?}, parameter has {:?}",
        param.name(),
        grad.shape(),
        param.shape()
    );
    let value = param.get().to_vec();
    let grad = grad.iter().copied().collect();
    (value, grad)
}

/// Fixed chunk length of parallel elementwise updates (elementwise, so thread-count independent).
pub(crate) const UPDATE_CHUNK: usize = 1 << 14;

//! The op pattern: the [`Backward`] trait, the [`GradSink`] an op writes its input gradients
//! into, and [`record`], which builds a graph node only when some input needs a gradient.
//!
//! Each op lives in its own file and holds, in this order: the public method on [`Tensor`]
//! (shape checks first), the forward kernel, the private `<Op>Backward` struct with only what
//! the backward needs, its `impl Backward`, and `#[cfg(test)] mod tests` with a hand-derived
//! literal test and a finite-difference gradient check.

use std::fmt;
use std::sync::Arc;

use ndarray::ArrayD;

use crate::tape::is_grad_enabled;
use crate::tensor::{Node, Tensor};

// --- elementwise, broadcasting ---
mod add;
mod compare;
mod div;
mod exp;
mod gelu;
mod log;
mod mul;
mod neg;
mod powf;
mod relu;
mod scalar;
mod select;
mod sigmoid;
mod sqrt;
mod sub;
mod tanh;
// --- reductions ---
mod max;
mod mean;
mod sum;
mod var;
// --- shape ---
mod broadcast_to;
mod concat;
mod gather;
mod index_select;
mod narrow;
mod permute;
mod reshape;
mod stack;
// --- linear algebra, convolution, pooling ---
pub mod conv;
mod matmul;
mod pool;
// --- normalisation, probabilities, attention ---
mod attention;
mod batch_norm;
mod cross_entropy;
mod layer_norm;
mod softmax;

pub use attention::AttentionMask;
pub use batch_norm::BatchNormStats;
pub use conv::{Conv1dParams, Conv2dParams};

/// The backward half of a recorded op.
///
/// `backward` receives the gradient of the loss with respect to the op's output (owned, so it
/// may be reused in place) and writes the gradient of each input that needs one into `grads`
/// by the input's position in the `parents` slice given to [`record`].
pub trait Backward: Send + Sync + fmt::Debug {
    /// The op's name, for debugging and error messages.
    fn name(&self) -> &'static str;
    /// Computes the input gradients from the output gradient.
    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink);
}

/// Where a [`Backward`] puts the gradients of its inputs.
pub struct GradSink {
    needs: Vec<bool>,
    grads: Vec<Option<ArrayD<f32>>>,
}

impl GradSink {
    pub(crate) fn new(needs: Vec<bool>) -> GradSink {
        let n = needs.len();
        GradSink {
            needs,
            grads: vec![None; n],
        }
    }

    /// True if input `i` needs a gradient (skip the work otherwise).
    pub fn needs(&self, i: usize) -> bool {
        self.needs[i]
    }

    /// Adds `grad` to the gradient of input `i` (the same input may appear twice, as in
    /// `x * x`). Ignored if the input needs no gradient.
    pub fn put(&mut self, i: usize, grad: ArrayD<f32>) {
        if !self.needs[i] {
            return;
        }
        match &mut self.grads[i] {
            Some(g) => crate::kernels::par::add_assign(g, &grad),
            slot => *slot = Some(grad),
        }
    }

    pub(crate) fn into_grads(self) -> Vec<Option<ArrayD<f32>>> {
        self.grads
    }
}

/// Wraps a forward result into a [`Tensor`], recording a graph node only when gradient mode is
/// on and some parent requires a gradient. `make` receives, for each parent, whether it needs a
/// gradient, so the backward state can save an operand only when the other side needs it; it
/// is not called at all when no node is recorded.
pub fn record<F>(data: ArrayD<f32>, parents: &[&Tensor], make: F) -> Tensor
where
    F: FnOnce(&[bool]) -> Box<dyn Backward>,
{
    let needs: Vec<bool> = parents.iter().map(|p| p.requires_grad()).collect();
    if !is_grad_enabled() || !needs.iter().any(|&n| n) {
        return Tensor::from_op(data, None);
    }
    let op = make(&needs);
    let node = Node {
        op,
        parents: parents.iter().map(|p| Arc::clone(p.meta())).collect(),
    };
    Tensor::from_op(data, Some(node))
}

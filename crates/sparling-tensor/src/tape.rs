//! Reverse-mode traversal: gradient mode, the topological sort of the recorded graph and the
//! accumulation of gradients into a [`Gradients`] map. No op-specific code lives here.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

use crate::grad::Gradients;
use crate::ops::GradSink;
use crate::tensor::{Meta, Tensor, TensorId};

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// True unless inside [`no_grad`] (or while a [`NoGradGuard`] lives) on this thread.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// While alive, ops on this thread record no graph. Restores the previous mode on drop.
pub struct NoGradGuard {
    previous: bool,
}

impl NoGradGuard {
    /// Turns gradient recording off on this thread until the guard is dropped.
    pub fn new() -> NoGradGuard {
        let previous = GRAD_ENABLED.with(|g| g.replace(false));
        NoGradGuard { previous }
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        NoGradGuard::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Runs `f` without recording any graph (inference, evaluation, optimizer updates).
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = NoGradGuard::new();
    f()
}

/// Nodes reachable from `root` that carry a gradient, parents before children.
fn topo_order(root: &Arc<Meta>) -> Vec<Arc<Meta>> {
    let mut order = Vec::new();
    let mut visited: HashSet<TensorId> = HashSet::new();
    // Iterative post-order DFS: (node, next parent index to visit).
    let mut stack: Vec<(Arc<Meta>, usize)> = vec![(Arc::clone(root), 0)];
    visited.insert(root.id);
    while let Some((meta, next)) = stack.pop() {
        let parents = meta
            .node
            .as_ref()
            .map(|n| n.parents.as_slice())
            .unwrap_or(&[]);
        if next < parents.len() {
            let parent = Arc::clone(&parents[next]);
            stack.push((meta, next + 1));
            if parent.requires_grad && visited.insert(parent.id) {
                stack.push((parent, 0));
            }
        } else {
            order.push(meta);
        }
    }
    order
}

impl Tensor {
    /// Back-propagates from this scalar (seed gradient 1) and returns the gradients of every leaf
    /// that requires one.
    ///
    /// # Panics
    /// If the tensor has more than one element.
    pub fn backward(&self) -> Gradients {
        crate::shape_check!(
            self.len() == 1,
            "backward",
            "needs a scalar, got shape {:?}; use backward_with",
            self.shape()
        );
        self.backward_with(ArrayD::from_elem(IxDyn(self.shape()), 1.0))
    }

    /// Back-propagates the given output gradient (same shape as `self`).
    pub fn backward_with(&self, grad: ArrayD<f32>) -> Gradients {
        crate::shape_check!(
            grad.shape() == self.shape(),
            "backward_with",
            "gradient shape {:?} differs from tensor shape {:?}",
            grad.shape(),
            self.shape()
        );
        let mut result = Gradients::new();
        if !self.requires_grad() {
            return result;
        }
        let order = topo_order(self.meta());
        let mut pending: HashMap<TensorId, ArrayD<f32>> = HashMap::new();
        pending.insert(self.id(), grad);
        for meta in order.iter().rev() {
            let Some(mut g) = pending.remove(&meta.id) else {
                continue;
            };
            if !g.is_standard_layout() {
                // Backward kernels may rely on row-major gradients.
                g = g.as_standard_layout().into_owned();
            }
            let Some(node) = &meta.node else {
                result.insert_id(meta.id, g);
                continue;
            };
            let needs = node.parents.iter().map(|p| p.requires_grad).collect();
            let mut sink = GradSink::new(needs);
            node.op.backward(g, &mut sink);
            for (parent, pg) in node.parents.iter().zip(sink.into_grads()) {
                let Some(pg) = pg else { continue };
                match pending.get_mut(&parent.id) {
                    Some(acc) => {
                        crate::shape_check!(
                            acc.shape() == pg.shape(),
                            node.op.name(),
                            "backward produced gradient of shape {:?}, expected {:?}",
                            pg.shape(),
                            acc.shape()
                        );
                        crate::kernels::par::add_assign(acc, &pg);
                    }
                    None => {
                        pending.insert(parent.id, pg);
                    }
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    #[test]
    fn no_grad_records_nothing() {
        let x = Tensor::param(arr1(&[1.0f32, 2.0]));
        let y = no_grad(|| x.relu());
        assert!(!y.requires_grad());
        assert!(x.relu().requires_grad());
        assert!(is_grad_enabled());
    }

    #[test]
    fn constants_build_no_graph() {
        let x = Tensor::new(arr1(&[1.0f32, 2.0]));
        let y = x.relu();
        assert!(!y.is_tracked());
        assert!(y.sum_all().backward().is_empty());
    }

    #[test]
    fn shared_subexpression_accumulates() {
        // y = relu(x) + relu(x): dy/dx = 2 where x > 0.
        let x = Tensor::param(arr1(&[1.0f32, -1.0]));
        let r = x.relu();
        let y = r.add(&r).sum_all();
        let g = y.backward();
        assert_eq!(g.get(&x).unwrap().as_slice().unwrap(), &[2.0, 0.0]);
    }

    #[test]
    fn detach_stops_gradient() {
        let x = Tensor::param(arr1(&[1.0f32, 2.0]));
        let y = x.relu().detach().add(&x).sum_all();
        let g = y.backward();
        assert_eq!(g.get(&x).unwrap().as_slice().unwrap(), &[1.0, 1.0]);
    }
}

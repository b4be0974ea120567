//! [`Tensor`]: a cheap, immutable handle to an `f32` array plus its place in the autodiff graph.
//! This file holds constructors and accessors only; all math lives in `ops/`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{ArrayD, ArrayViewD, Dimension, IxDyn};

use crate::error::{Error, Result};
use crate::ops::Backward;

/// A process-wide unique identifier of a tensor (of its graph node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TensorId(u64);

impl TensorId {
    fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TensorId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The recorded operation that produced a tensor: its backward state and its parents' graph
/// metadata. Parents are held as [`Meta`] only, so recording an op never keeps a parent's data
/// alive; an op that needs an operand in its backward saves it explicitly.
pub(crate) struct Node {
    pub(crate) op: Box<dyn Backward>,
    pub(crate) parents: Vec<Arc<Meta>>,
}

/// Graph metadata of a tensor.
pub(crate) struct Meta {
    pub(crate) id: TensorId,
    pub(crate) requires_grad: bool,
    pub(crate) node: Option<Node>,
}

/// An n-dimensional `f32` tensor: a cheap handle (cloning copies two `Arc`s) to immutable data
/// and to its node in the autodiff graph.
#[derive(Clone)]
pub struct Tensor {
    data: Arc<ArrayD<f32>>,
    meta: Arc<Meta>,
}

impl Tensor {
    fn make(data: ArrayD<f32>, requires_grad: bool, node: Option<Node>) -> Tensor {
        Tensor {
            data: Arc::new(data),
            meta: Arc::new(Meta {
                id: TensorId::fresh(),
                requires_grad,
                node,
            }),
        }
    }

    /// A constant (no gradient) from any-dimensional array.
    pub fn new<D: Dimension>(data: ndarray::Array<f32, D>) -> Tensor {
        Tensor::make(data.into_dyn(), false, None)
    }

    /// A leaf that requires a gradient (a trainable parameter or an input under study).
    pub fn param<D: Dimension>(data: ndarray::Array<f32, D>) -> Tensor {
        Tensor::make(data.into_dyn(), true, None)
    }

    /// The result of a recorded op. Used by `ops::record`.
    pub(crate) fn from_op(data: ArrayD<f32>, node: Option<Node>) -> Tensor {
        let requires_grad = node.is_some();
        Tensor::make(data, requires_grad, node)
    }

    /// A constant from a flat vector and a shape; errors if the lengths disagree.
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        let len = data.len();
        ArrayD::from_shape_vec(IxDyn(shape), data)
            .map(Tensor::new)
            .map_err(|_| Error::ElementCount {
                op: "from_vec",
                len,
                shape: shape.to_vec(),
            })
    }

    /// A constant filled with `value`.
    pub fn full(shape: &[usize], value: f32) -> Tensor {
        Tensor::new(ArrayD::from_elem(IxDyn(shape), value))
    }

    /// A constant filled with zeros.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 0.0)
    }

    /// A constant filled with ones.
    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 1.0)
    }

    /// A 0-dimensional constant.
    pub fn scalar(value: f32) -> Tensor {
        Tensor::new(ndarray::arr0(value))
    }

    /// This tensor's unique id (the key of its gradient in [`crate::Gradients`]).
    pub fn id(&self) -> TensorId {
        self.meta.id
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.data.ndim()
    }

    /// Total number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The underlying array.
    pub fn data(&self) -> &ArrayD<f32> {
        &self.data
    }

    /// A shared handle to the underlying array (cheap), for backward states that must keep it.
    pub fn data_arc(&self) -> Arc<ArrayD<f32>> {
        Arc::clone(&self.data)
    }

    /// A read-only view of the data.
    pub fn view(&self) -> ArrayViewD<'_, f32> {
        self.data.view()
    }

    /// The data in row-major order, copied into a vector.
    pub fn to_vec(&self) -> Vec<f32> {
        self.data.iter().copied().collect()
    }

    /// The data as an owned array (a copy).
    pub fn to_array(&self) -> ArrayD<f32> {
        (*self.data).clone()
    }

    /// The single value of a tensor with one element.
    ///
    /// # Panics
    /// If the tensor does not hold exactly one element.
    pub fn item(&self) -> f32 {
        crate::shape_check!(
            self.len() == 1,
            "item",
            "tensor of shape {:?} is not a scalar",
            self.shape()
        );
        *self.data.iter().next().expect("one element")
    }

    /// True if a gradient flows to or through this tensor.
    pub fn requires_grad(&self) -> bool {
        self.meta.requires_grad
    }

    /// True if this tensor was produced by a recorded op (it is not a leaf).
    pub fn is_tracked(&self) -> bool {
        self.meta.node.is_some()
    }

    /// The same data cut from the graph: a constant leaf sharing the storage.
    pub fn detach(&self) -> Tensor {
        Tensor {
            data: Arc::clone(&self.data),
            meta: Arc::new(Meta {
                id: TensorId::fresh(),
                requires_grad: false,
                node: None,
            }),
        }
    }

    /// The same data as a new leaf that requires a gradient (sharing the storage).
    pub fn detach_param(&self) -> Tensor {
        Tensor {
            data: Arc::clone(&self.data),
            meta: Arc::new(Meta {
                id: TensorId::fresh(),
                requires_grad: true,
                node: None,
            }),
        }
    }

    /// Errors if any value is NaN or infinite, naming the first offending index.
    pub fn check_finite(&self, op: &'static str) -> Result<()> {
        match self.data.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(index) => Err(Error::NonFinite {
                op,
                index,
                value: self.data.iter().nth(index).copied().unwrap_or(f32::NAN),
            }),
        }
    }

    pub(crate) fn meta(&self) -> &Arc<Meta> {
        &self.meta
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.meta.node.as_ref().map(|n| n.op.name());
        f.debug_struct("Tensor")
            .field("id", &self.meta.id)
            .field("shape", &self.shape())
            .field("requires_grad", &self.meta.requires_grad)
            .field("op", &op)
            .finish()
    }
}

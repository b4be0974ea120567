//! `sparling-tensor`: a small, hand-written reverse-mode automatic differentiation engine on
//! `f32` [`ndarray`] arrays.
//!
//! * A [`Tensor`] is a cheap handle (two `Arc`s): cloning it never copies data.
//! * A graph node is recorded only when some input requires a gradient and gradient mode is on
//!   (see [`no_grad`]), so inference builds no graph at all.
//! * [`Tensor::backward`] sorts the recorded graph topologically and returns a [`Gradients`] map
//!   holding the gradient of every leaf that requires one.
//! * Each op lives in its own file under `ops/`: its public method, its forward kernel, its
//!   private `<Op>Backward` struct (keeping only what the backward needs) and its tests. The tape
//!   (`tape.rs`) contains no op-specific code.
//! * Gradients are first order only: backward kernels work on plain arrays, not on tensors.
//! * Results do not depend on the number of threads: every parallel reduction combines
//!   fixed-size chunks in a fixed order (see [`kernels::par`]).
//!
//! ```
//! use sparling_tensor::Tensor;
//! let x = Tensor::param(ndarray::arr1(&[1.0f32, -2.0, 3.0]).into_dyn());
//! let y = x.relu().sum_all();
//! let grads = y.backward();
//! assert_eq!(grads.get(&x).unwrap().as_slice().unwrap(), &[1.0, 0.0, 1.0]);
//! ```

#![doc = include_str!("../README.md")]

pub mod error;
pub mod grad;
pub mod kernels;
pub mod module;
pub mod ops;
pub mod shape;
pub mod tape;
pub mod tensor;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::{Error, Result};
pub use grad::Gradients;
pub use module::{Module, ModuleT};
pub use ops::{Backward, GradSink};
pub use tape::{NoGradGuard, is_grad_enabled, no_grad};
pub use tensor::{Tensor, TensorId};

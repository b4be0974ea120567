//! [`Linear`]: `y = x W^T + b` over the last axis.

use std::sync::Arc;

use sparling_tensor::{Module, Tensor};

use crate::init::Init;
use crate::store::{Param, Path};

/// Settings of [`linear_with`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearConfig {
    /// Whether the layer has a bias.
    pub bias: bool,
    /// Initialiser of the `(out, in)` weight (default: PyTorch's Kaiming uniform, `a = sqrt(5)`).
    pub weight_init: Init,
    /// Initialiser of the bias (default: uniform in `±1/sqrt(in)`, PyTorch's); `None` uses
    /// that default.
    pub bias_init: Option<Init>,
}

impl Default for LinearConfig {
    fn default() -> Self {
        LinearConfig {
            bias: true,
            weight_init: Init::kaiming_uniform_default(),
            bias_init: None,
        }
    }
}

/// A fully connected layer. The weight is stored `(out, in)` as in PyTorch (so fans and
/// state dicts follow PyTorch's convention); the bias is `(out,)`. Parameters: `weight`,
/// `bias`.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Arc<Param>,
    bias: Option<Arc<Param>>,
    in_dim: usize,
    out_dim: usize,
}

/// A [`Linear`] layer `in_dim -> out_dim` with bias and PyTorch's default initialisation,
/// registered under `p` (`p.weight`, `p.bias`).
pub fn linear(p: &Path, in_dim: usize, out_dim: usize) -> Linear {
    linear_with(p, in_dim, out_dim, LinearConfig::default())
}

/// A [`Linear`] layer without bias.
pub fn linear_no_bias(p: &Path, in_dim: usize, out_dim: usize) -> Linear {
    linear_with(
        p,
        in_dim,
        out_dim,
        LinearConfig {
            bias: false,
            ..LinearConfig::default()
        },
    )
}

/// A [`Linear`] layer with explicit settings.
pub fn linear_with(p: &Path, in_dim: usize, out_dim: usize, cfg: LinearConfig) -> Linear {
    let weight = p.param("weight", &[out_dim, in_dim], cfg.weight_init);
    let bias = cfg.bias.then(|| {
        let init = cfg
            .bias_init
            .unwrap_or(Init::FanInUniform { fan_in: in_dim });
        p.param("bias", &[out_dim], init)
    });
    Linear {
        weight,
        bias,
        in_dim,
        out_dim,
    }
}

impl Linear {
    /// The `(out, in)` weight.
    pub fn weight(&self) -> &Arc<Param> {
        &self.weight
    }

    /// The `(out,)` bias, if any.
    pub fn bias(&self) -> Option<&Arc<Param>> {
        self.bias.as_ref()
    }

    /// Input features.
    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    /// Output features.
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }
}

impl Module for Linear {
    /// `x (..., in) -> (..., out)`; a 1-D `x (in,)` gives `(out,)`.
    ///
    /// # Panics
    /// If `x` is 0-D or its last dimension is not `in_dim`.
    fn forward(&self, x: &Tensor) -> Tensor {
        let shape = x.shape();
        sparling_tensor::shape_check!(
            !shape.is_empty() && shape[shape.len() - 1] == self.in_dim,
            "Linear",
            "input of shape {shape:?} does not end in {} features ({:?})",
            self.in_dim,
            self.weight.name()
        );
        let wt = self.weight.get().transpose(0, 1);
        let y = if shape.len() == 1 {
            x.reshape(&[1, self.in_dim])
                .matmul(&wt)
                .reshape(&[self.out_dim])
        } else {
            x.matmul(&wt)
        };
        match &self.bias {
            Some(b) => y.add(&b.get()),
            None => y,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use crate::test_util::check_layer_grads;
    use ndarray::{arr1, arr2};
    use sparling_tensor::testing::random_array;

    #[test]
    fn linear_literal() {
        // W = [[1, 2], [3, 4], [5, 6]], b = [0.5, -1, 2], x = [[1, -1], [2, 0.5]]:
        // y = x W^T + b = [[1-2+0.5, 3-4-1, 5-6+2], [2+1+0.5, 6+2-1, 10+3+2]]
        //   = [[-0.5, -2, 1], [3.5, 7, 15]].
        let store = ParamStore::new(0);
        let lin = linear(&store.sub("fc"), 2, 3);
        lin.weight()
            .set(arr2(&[[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]).into_dyn());
        lin.bias()
            .unwrap()
            .set(arr1(&[0.5f32, -1.0, 2.0]).into_dyn());
        let x = Tensor::new(arr2(&[[1.0f32, -1.0], [2.0, 0.5]]));
        let y = lin.forward(&x);
        assert_eq!(y.shape(), &[2, 3]);
        assert_eq!(y.to_vec(), vec![-0.5, -2.0, 1.0, 3.5, 7.0, 15.0]);
        // d sum(y) / dW[o, i] = sum over rows of x[:, i] = [3, -0.5] for every o;
        // d sum(y) / db = number of rows = 2.
        let g = y.sum_all().backward();
        let gw = g.get(&lin.weight().get()).unwrap();
        assert_eq!(
            gw.iter().copied().collect::<Vec<_>>(),
            [3.0, -0.5, 3.0, -0.5, 3.0, -0.5]
        );
        let gb = g.get(&lin.bias().unwrap().get()).unwrap();
        assert_eq!(gb.iter().copied().collect::<Vec<_>>(), [2.0, 2.0, 2.0]);
        // A 1-D input.
        let y1 = lin.forward(&Tensor::new(arr1(&[1.0f32, -1.0])));
        assert_eq!(y1.to_vec(), vec![-0.5, -2.0, 1.0]);
    }

    #[test]
    fn linear_names_shapes_and_init_bounds() {
        let store = ParamStore::new(3);
        let lin = linear(&store.sub("head"), 16, 5);
        assert_eq!(lin.weight().name(), "head.weight");
        assert_eq!(lin.weight().shape(), &[5, 16]);
        assert_eq!(lin.bias().unwrap().name(), "head.bias");
        // Weight and bias both uniform in +-1/sqrt(16) = 0.25.
        for t in store.params() {
            assert!(t.to_vec().iter().all(|v| v.abs() <= 0.25));
        }
        let nb = linear_no_bias(&store.sub("nb"), 4, 2);
        assert!(nb.bias().is_none());
        assert_eq!(store.params().len(), 3);
    }

    #[test]
    fn linear_grad_matches_fd_batched() {
        let store = ParamStore::new(7);
        let lin = linear(&store.sub("fc"), 4, 3);
        let x = random_array(&[2, 3, 4], 11);
        check_layer_grads(&store, &[x], |t| lin.forward(&t[0]));
    }

    #[test]
    #[should_panic(expected = "Linear: input of shape [2, 5] does not end in 4 features")]
    fn linear_rejects_wrong_width() {
        let store = ParamStore::new(0);
        let lin = linear(&store.sub("fc"), 4, 3);
        lin.forward(&Tensor::zeros(&[2, 5]));
    }
}

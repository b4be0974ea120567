//! Convolution layers: [`Conv2d`] on `(N, Cin, H, W)` and [`Conv1d`] on `(N, Cin, L)`, with
//! PyTorch's weight layout `(Cout, Cin, k...)` and default initialisation.

use std::sync::Arc;

use sparling_tensor::ops::{Conv1dParams, Conv2dParams};
use sparling_tensor::{Module, Tensor};

use crate::init::Init;
use crate::store::{Param, Path};

/// Settings of a convolution layer (square kernels, equal stride/padding/dilation on both
/// spatial axes for [`Conv2d`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvConfig {
    /// Step between output positions (at least 1).
    pub stride: usize,
    /// Zeros added on each side of each spatial axis.
    pub padding: usize,
    /// Spacing between kernel taps (at least 1).
    pub dilation: usize,
    /// Whether the layer has a bias.
    pub bias: bool,
    /// Initialiser of the weight (default: PyTorch's Kaiming uniform, `a = sqrt(5)`).
    pub weight_init: Init,
}

impl Default for ConvConfig {
    /// Stride 1, no padding, dilation 1, with bias, PyTorch's default initialisation.
    fn default() -> Self {
        ConvConfig {
            stride: 1,
            padding: 0,
            dilation: 1,
            bias: true,
            weight_init: Init::kaiming_uniform_default(),
        }
    }
}

impl ConvConfig {
    /// Stride 1 and padding `k / 2`: "same" output size for an odd kernel `k`.
    pub fn same(k: usize) -> ConvConfig {
        ConvConfig {
            padding: k / 2,
            ..ConvConfig::default()
        }
    }
}

fn conv_params(p: &Path, shape: &[usize], cfg: &ConvConfig) -> (Arc<Param>, Option<Arc<Param>>) {
    let fan_in: usize = shape[1..].iter().product();
    let weight = p.param("weight", shape, cfg.weight_init);
    let bias = cfg
        .bias
        .then(|| p.param("bias", &[shape[0]], Init::FanInUniform { fan_in }));
    (weight, bias)
}

/// A 2-D convolution layer. Parameters: `weight (Cout, Cin, k, k)`, `bias (Cout,)`.
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Arc<Param>,
    bias: Option<Arc<Param>>,
    params: Conv2dParams,
}

/// A [`Conv2d`] `in_channels -> out_channels` with a `kernel x kernel` kernel, registered
/// under `p`.
pub fn conv2d(
    p: &Path,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    cfg: ConvConfig,
) -> Conv2d {
    let (weight, bias) = conv_params(p, &[out_channels, in_channels, kernel, kernel], &cfg);
    Conv2d {
        weight,
        bias,
        params: Conv2dParams {
            stride: [cfg.stride; 2],
            padding: [cfg.padding; 2],
            dilation: [cfg.dilation; 2],
        },
    }
}

impl Conv2d {
    /// The `(Cout, Cin, k, k)` weight.
    pub fn weight(&self) -> &Arc<Param> {
        &self.weight
    }

    /// The `(Cout,)` bias, if any.
    pub fn bias(&self) -> Option<&Arc<Param>> {
        self.bias.as_ref()
    }

    /// Stride, padding and dilation.
    pub fn params(&self) -> Conv2dParams {
        self.params
    }
}

impl Module for Conv2d {
    /// `(N, Cin, H, W) -> (N, Cout, Ho, Wo)`.
    fn forward(&self, x: &Tensor) -> Tensor {
        let b = self.bias.as_ref().map(|b| b.get());
        x.conv2d(&self.weight.get(), b.as_ref(), self.params)
    }
}

/// A 1-D convolution layer. Parameters: `weight (Cout, Cin, k)`, `bias (Cout,)`.
#[derive(Clone, Debug)]
pub struct Conv1d {
    weight: Arc<Param>,
    bias: Option<Arc<Param>>,
    params: Conv1dParams,
}

/// A [`Conv1d`] `in_channels -> out_channels` with a kernel of `kernel` taps, registered
/// under `p`.
pub fn conv1d(
    p: &Path,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    cfg: ConvConfig,
) -> Conv1d {
    let (weight, bias) = conv_params(p, &[out_channels, in_channels, kernel], &cfg);
    Conv1d {
        weight,
        bias,
        params: Conv1dParams {
            stride: cfg.stride,
            padding: cfg.padding,
            dilation: cfg.dilation,
        },
    }
}

impl Conv1d {
    /// The `(Cout, Cin, k)` weight.
    pub fn weight(&self) -> &Arc<Param> {
        &self.weight
    }

    /// The `(Cout,)` bias, if any.
    pub fn bias(&self) -> Option<&Arc<Param>> {
        self.bias.as_ref()
    }

    /// Stride, padding and dilation.
    pub fn params(&self) -> Conv1dParams {
        self.params
    }
}

impl Module for Conv1d {
    /// `(N, Cin, L) -> (N, Cout, Lo)`.
    fn forward(&self, x: &Tensor) -> Tensor {
        let b = self.bias.as_ref().map(|b| b.get());
        x.conv1d(&self.weight.get(), b.as_ref(), self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use crate::test_util::check_layer_grads;
    use ndarray::{Array, arr1};
    use sparling_tensor::testing::random_array;

    #[test]
    fn conv2d_literal_3x3_kernel_same_padding() {
        // One input channel holding 1..=9 in a 3x3 grid, one output channel, kernel of all
        // ones, bias 0.5, padding 1: each output is the sum of its 3x3 neighbourhood + 0.5.
        // Centre: 45 + 0.5; top-left: 1+2+4+5 + 0.5 = 12.5; top-middle: 1+2+3+4+5+6 + 0.5.
        let store = ParamStore::new(0);
        let conv = conv2d(&store.sub("c"), 1, 1, 3, ConvConfig::same(3));
        conv.weight().set(Array::ones((1, 1, 3, 3)).into_dyn());
        conv.bias().unwrap().set(arr1(&[0.5f32]).into_dyn());
        let x = Tensor::new(Array::from_shape_fn((1, 1, 3, 3), |(_, _, i, j)| {
            (3 * i + j + 1) as f32
        }));
        let y = conv.forward(&x);
        assert_eq!(y.shape(), &[1, 1, 3, 3]);
        let v = y.to_vec();
        assert_eq!(v[4], 45.5);
        assert_eq!(v[0], 12.5);
        assert_eq!(v[1], 21.5);
        assert_eq!(v[8], 5.0 + 6.0 + 8.0 + 9.0 + 0.5);
    }

    #[test]
    fn conv2d_names_and_init_bounds() {
        let store = ParamStore::new(1);
        let conv = conv2d(&store.sub("g.0"), 4, 6, 3, ConvConfig::default());
        assert_eq!(conv.weight().name(), "g.0.weight");
        assert_eq!(conv.weight().shape(), &[6, 4, 3, 3]);
        // fan_in = 4 * 9 = 36: weight and bias within 1/6.
        for t in store.params() {
            assert!(t.to_vec().iter().all(|v| v.abs() <= 1.0 / 6.0));
        }
    }

    #[test]
    fn conv2d_grad_matches_fd() {
        let store = ParamStore::new(2);
        let conv = conv2d(
            &store.sub("c"),
            2,
            3,
            3,
            ConvConfig {
                stride: 2,
                padding: 1,
                ..ConvConfig::default()
            },
        );
        let x = random_array(&[2, 2, 5, 4], 3);
        check_layer_grads(&store, &[x], |t| conv.forward(&t[0]));
    }

    #[test]
    fn conv1d_literal_and_grad() {
        // Kernel [1, -1] (a difference), no bias: y[i] = x[i] - x[i+1].
        let store = ParamStore::new(0);
        let conv = conv1d(
            &store.sub("c"),
            1,
            1,
            2,
            ConvConfig {
                bias: false,
                ..ConvConfig::default()
            },
        );
        conv.weight()
            .set(ndarray::arr3(&[[[1.0f32, -1.0]]]).into_dyn());
        let x = Tensor::new(ndarray::arr3(&[[[1.0f32, 4.0, 9.0, 16.0]]]));
        assert_eq!(conv.forward(&x).to_vec(), vec![-3.0, -5.0, -7.0]);

        let store = ParamStore::new(4);
        let conv = conv1d(&store.sub("c"), 3, 2, 3, ConvConfig::same(3));
        let x = random_array(&[2, 3, 5], 5);
        check_layer_grads(&store, &[x], |t| conv.forward(&t[0]));
    }
}

//! g, the local motif model, in a 2-D form (images `(N, 1, H, W)`, 3x3 convolutions) and a
//! 1-D form (signals `(N, C, L)`, convolutions of 3 taps over time with the input's features
//! as channels, as the paper's audio model): a 1x1 convolution, pre-activation residual units
//! (BatchNorm, ReLU, conv, BatchNorm, ReLU, conv, skip) and a 1x1 convolution to the motif
//! channels. The receptive field is `1 + 4 * blocks` positions wide (17 with 4 units).

use sparling_nn::{
    BatchNorm, BatchNormConfig, Conv1d, Conv2d, ConvConfig, Path, batch_norm1d, batch_norm2d,
    conv1d, conv2d,
};
use sparling_tensor::{Module, ModuleT, Tensor};

use crate::config::ModelConfig;

/// A convolution over one or two spatial axes.
#[derive(Debug)]
pub(crate) enum Conv {
    /// Over `(N, C, H, W)`.
    D2(Conv2d),
    /// Over `(N, C, L)`.
    D1(Conv1d),
}

impl Conv {
    /// A `k`-wide convolution `cin -> cout` over `dims` spatial axes, registered under `p`.
    pub(crate) fn new(
        p: &Path,
        dims: usize,
        cin: usize,
        cout: usize,
        k: usize,
        cfg: ConvConfig,
    ) -> Conv {
        match dims {
            1 => Conv::D1(conv1d(p, cin, cout, k, cfg)),
            _ => Conv::D2(conv2d(p, cin, cout, k, cfg)),
        }
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Conv::D2(c) => c.forward(x),
            Conv::D1(c) => c.forward(x),
        }
    }
}

/// A BatchNorm over the channels of maps with `dims` spatial axes.
pub(crate) fn batch_norm(p: &Path, dims: usize, channels: usize) -> BatchNorm {
    let cfg = BatchNormConfig::default();
    match dims {
        1 => batch_norm1d(p, channels, cfg),
        _ => batch_norm2d(p, channels, cfg),
    }
}

/// One pre-activation residual unit of g.
#[derive(Debug)]
struct ResidualUnit {
    bn1: BatchNorm,
    conv1: Conv,
    bn2: BatchNorm,
    conv2: Conv,
}

impl ResidualUnit {
    fn new(p: &Path, dims: usize, width: usize) -> ResidualUnit {
        ResidualUnit {
            bn1: batch_norm(&p.sub("bn1"), dims, width),
            conv1: Conv::new(&p.sub("conv1"), dims, width, width, 3, ConvConfig::same(3)),
            bn2: batch_norm(&p.sub("bn2"), dims, width),
            conv2: Conv::new(&p.sub("conv2"), dims, width, width, 3, ConvConfig::same(3)),
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.conv1.forward(&self.bn1.forward_t(x, train).relu());
        let h = self.conv2.forward(&self.bn2.forward_t(&h, train).relu());
        x.add(&h)
    }
}

/// g: `(N, in_channels, ..) -> (N, motif_channels, ..)`, the spatial shape kept.
#[derive(Debug)]
pub struct MotifModel {
    input: Conv,
    units: Vec<ResidualUnit>,
    output: Conv,
}

impl MotifModel {
    /// Builds g under `p` for inputs with `in_channels` channels and `dims` spatial axes.
    pub fn new(p: &Path, cfg: &ModelConfig, in_channels: usize, dims: usize) -> MotifModel {
        let one = ConvConfig::default();
        MotifModel {
            input: Conv::new(&p.sub("input"), dims, in_channels, cfg.g_width, 1, one),
            units: (0..cfg.g_blocks)
                .map(|i| ResidualUnit::new(&p.sub("units").sub(&i.to_string()), dims, cfg.g_width))
                .collect(),
            output: Conv::new(
                &p.sub("output"),
                dims,
                cfg.g_width,
                cfg.motif_channels,
                1,
                one,
            ),
        }
    }

    /// The pre-bottleneck motif logits.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.input.forward(x);
        for unit in &self.units {
            h = unit.forward(&h, train);
        }
        self.output.forward(&h)
    }
}

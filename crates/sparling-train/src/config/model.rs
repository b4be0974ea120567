//! The model's sizes: g (the motif model), the collapse and h (the downstream transformer).

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::validate::{invalid, nonzero, positive};

/// Sizes of g (motif model), the collapse and h (downstream transformer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "ModelConfigFile")]
pub struct ModelConfig {
    /// Width of g's residual stack.
    pub g_width: usize,
    /// Number of pre-activation residual units (two 3x3 convs each) in g.
    pub g_blocks: usize,
    /// Number of motif channels (the Sparse layer's channels).
    pub motif_channels: usize,
    /// Side of the max-pool window (and stride) of the collapse, whose 1x1 convolution maps
    /// the motif channels to `d_model`.
    pub pool: usize,
    /// Transformer width.
    pub d_model: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward width.
    pub ff: usize,
    /// Encoder layers.
    pub encoder_layers: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Multiplier of the encoder's fixed 2-D sinusoidal positions (default 1). At density 0.5
    /// the collapsed tokens vary about three times as much across the grid as the unit
    /// sinusoid does, which drowns the positions h needs for the circular order.
    pub position_scale: f32,
    /// A LayerNorm (affine) on the collapsed tokens before the positions are added (default
    /// off). g's digit peaks reach tens of standard deviations, so the tokens of the cells that
    /// hold a digit deviate from the others about 17 times as much as the unit positions vary
    /// (`examples/token_scale.rs`); normalising the tokens keeps position and content on one
    /// scale, which is what h needs to learn the circular order.
    pub token_norm: bool,
}

/// [`ModelConfig`] as it is read from a file: configs and checkpoints written before
/// 2026-12 carry a `collapse_channels` that the model never used (the collapse maps the motif
/// channels straight to `d_model`); it is accepted and dropped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelConfigFile {
    g_width: usize,
    g_blocks: usize,
    motif_channels: usize,
    #[serde(default, rename = "collapse_channels")]
    _collapse_channels: Option<usize>,
    pool: usize,
    d_model: usize,
    heads: usize,
    ff: usize,
    encoder_layers: usize,
    decoder_layers: usize,
    #[serde(default = "unit_scale")]
    position_scale: f32,
    #[serde(default)]
    token_norm: bool,
}

impl From<ModelConfigFile> for ModelConfig {
    fn from(f: ModelConfigFile) -> ModelConfig {
        ModelConfig {
            g_width: f.g_width,
            g_blocks: f.g_blocks,
            motif_channels: f.motif_channels,
            pool: f.pool,
            d_model: f.d_model,
            heads: f.heads,
            ff: f.ff,
            encoder_layers: f.encoder_layers,
            decoder_layers: f.decoder_layers,
            position_scale: f.position_scale,
            token_norm: f.token_norm,
        }
    }
}

fn unit_scale() -> f32 {
    1.0
}

impl ModelConfig {
    /// Checks every field (errors name `model.<field>`); `positions` is the side of the input
    /// the pool runs along (the image side, the sequence length).
    pub fn validate(&self, positions: usize) -> Result<()> {
        let m = self;
        nonzero("model.g_width", m.g_width as u64)?;
        nonzero("model.motif_channels", m.motif_channels as u64)?;
        nonzero("model.pool", m.pool as u64)?;
        nonzero("model.d_model", m.d_model as u64)?;
        nonzero("model.heads", m.heads as u64)?;
        nonzero("model.ff", m.ff as u64)?;
        nonzero("model.encoder_layers", m.encoder_layers as u64)?;
        nonzero("model.decoder_layers", m.decoder_layers as u64)?;
        positive("model.position_scale", m.position_scale as f64)?;
        if m.d_model % m.heads != 0 {
            return Err(invalid(
                "model.heads",
                format!(
                    "d_model {} is not divisible by {} heads",
                    m.d_model, m.heads
                ),
            ));
        }
        if m.d_model % 4 != 0 {
            return Err(invalid(
                "model.d_model",
                "must be a multiple of 4 (2-D sinusoidal positions)",
            ));
        }
        if m.pool > positions {
            return Err(invalid("model.pool", "larger than the input"));
        }
        Ok(())
    }
}

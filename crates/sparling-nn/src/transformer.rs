//! Pre-norm transformer layers and stacks (no dropout).
//!
//! Encoder layer: `x = x + SelfAttn(LN1(x)); x = x + FF(LN2(x))`.
//! Decoder layer: `x = x + CausalSelfAttn(LN1(x)); x = x + CrossAttn(LN2(x), memory);
//! x = x + FF(LN3(x))`, with `FF(h) = W2 act(W1 h + b1) + b2` and `act` ReLU or exact GELU.
//!
//! Pre-norm layers leave the residual stream unnormalised, so the stacks
//! ([`TransformerEncoder`], [`TransformerDecoder`]) end with a final [`LayerNorm`], as in
//! PyTorch's `norm_first=True` recipes. The pre-norm form trains without learning-rate warm-up
//! (the project's notes: a post-norm model stalled at the token prior).

use sparling_tensor::ops::AttentionMask;
use sparling_tensor::{Module, Tensor};

use crate::attention::{MultiHeadAttention, ProjectedKeyValue, multi_head_attention};
use crate::linear::{Linear, linear};
use crate::norm::{LayerNorm, LayerNormConfig, layer_norm};
use crate::store::Path;

/// The feed-forward non-linearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Activation {
    /// `max(0, x)`.
    #[default]
    Relu,
    /// The exact (erf-based) GELU.
    Gelu,
}

impl Activation {
    /// Applies the activation.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        match self {
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu(),
        }
    }
}

/// Sizes and settings shared by the encoder and decoder layers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerConfig {
    /// Model width.
    pub d_model: usize,
    /// Attention heads (must divide `d_model`).
    pub num_heads: usize,
    /// Hidden width of the feed-forward block.
    pub d_ff: usize,
    /// Feed-forward non-linearity.
    pub activation: Activation,
    /// Epsilon of the layer norms.
    pub ln_eps: f32,
}

impl TransformerConfig {
    /// A configuration with ReLU and `ln_eps = 1e-5`.
    pub fn new(d_model: usize, num_heads: usize, d_ff: usize) -> TransformerConfig {
        TransformerConfig {
            d_model,
            num_heads,
            d_ff,
            activation: Activation::Relu,
            ln_eps: 1e-5,
        }
    }

    /// The same configuration with another activation.
    pub fn with_activation(self, activation: Activation) -> TransformerConfig {
        TransformerConfig { activation, ..self }
    }

    fn ln(&self, p: &Path) -> LayerNorm {
        layer_norm(
            p,
            self.d_model,
            LayerNormConfig {
                eps: self.ln_eps,
                affine: true,
            },
        )
    }
}

/// The position-wise feed-forward block `W2 act(W1 x + b1) + b2`. Parameters: `linear1`,
/// `linear2`.
#[derive(Clone, Debug)]
pub struct FeedForward {
    linear1: Linear,
    linear2: Linear,
    activation: Activation,
}

/// A [`FeedForward`] `d_model -> d_ff -> d_model`, registered under `p`.
pub fn feed_forward(p: &Path, d_model: usize, d_ff: usize, activation: Activation) -> FeedForward {
    FeedForward {
        linear1: linear(&p.sub("linear1"), d_model, d_ff),
        linear2: linear(&p.sub("linear2"), d_ff, d_model),
        activation,
    }
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.linear2
            .forward(&self.activation.apply(&self.linear1.forward(x)))
    }
}

/// A pre-norm transformer encoder layer. Parameters: `self_attn`, `norm1`, `norm2`, `ff`.
#[derive(Clone, Debug)]
pub struct TransformerEncoderLayer {
    self_attn: MultiHeadAttention,
    norm1: LayerNorm,
    norm2: LayerNorm,
    ff: FeedForward,
}

/// A [`TransformerEncoderLayer`] registered under `p`.
pub fn transformer_encoder_layer(p: &Path, cfg: TransformerConfig) -> TransformerEncoderLayer {
    TransformerEncoderLayer {
        self_attn: multi_head_attention(&p.sub("self_attn"), cfg.d_model, cfg.num_heads),
        norm1: cfg.ln(&p.sub("norm1")),
        norm2: cfg.ln(&p.sub("norm2")),
        ff: feed_forward(&p.sub("ff"), cfg.d_model, cfg.d_ff, cfg.activation),
    }
}

impl TransformerEncoderLayer {
    /// `x (B, L, d) -> (B, L, d)`; `mask` hides keys (usually only padding).
    pub fn forward_masked(&self, x: &Tensor, mask: &AttentionMask) -> Tensor {
        let h = self.norm1.forward(x);
        let x = x.add(&self.self_attn.self_attend(&h, mask));
        let h = self.norm2.forward(&x);
        x.add(&self.ff.forward(&h))
    }

    /// The self-attention block.
    pub fn self_attn(&self) -> &MultiHeadAttention {
        &self.self_attn
    }
}

impl Module for TransformerEncoderLayer {
    /// Unmasked encoder layer.
    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_masked(x, &AttentionMask::default())
    }
}

/// Key-padding masks of a decoder pass (`true` = padded position, ignored as a key).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecoderMasks {
    /// `B x L_tgt` padding flags of the target sequence (its self-attention is always causal).
    pub tgt_key_padding: Option<Vec<Vec<bool>>>,
    /// `B x L_mem` padding flags of the memory (encoder output).
    pub memory_key_padding: Option<Vec<Vec<bool>>>,
}

impl DecoderMasks {
    fn attention_masks(&self) -> (AttentionMask, AttentionMask) {
        (
            AttentionMask::new(true, self.tgt_key_padding.clone()),
            AttentionMask::new(false, self.memory_key_padding.clone()),
        )
    }
}

/// A pre-norm transformer decoder layer. Parameters: `self_attn`, `cross_attn`, `norm1`,
/// `norm2`, `norm3`, `ff`.
#[derive(Clone, Debug)]
pub struct TransformerDecoderLayer {
    self_attn: MultiHeadAttention,
    cross_attn: MultiHeadAttention,
    norm1: LayerNorm,
    norm2: LayerNorm,
    norm3: LayerNorm,
    ff: FeedForward,
}

/// A [`TransformerDecoderLayer`] registered under `p`.
pub fn transformer_decoder_layer(p: &Path, cfg: TransformerConfig) -> TransformerDecoderLayer {
    TransformerDecoderLayer {
        self_attn: multi_head_attention(&p.sub("self_attn"), cfg.d_model, cfg.num_heads),
        cross_attn: multi_head_attention(&p.sub("cross_attn"), cfg.d_model, cfg.num_heads),
        norm1: cfg.ln(&p.sub("norm1")),
        norm2: cfg.ln(&p.sub("norm2")),
        norm3: cfg.ln(&p.sub("norm3")),
        ff: feed_forward(&p.sub("ff"), cfg.d_model, cfg.d_ff, cfg.activation),
    }
}

impl TransformerDecoderLayer {
    /// `x (B, Lt, d)` attending causally to itself and to `memory (B, Lm, d)`; returns
    /// `(B, Lt, d)`.
    pub fn forward_masked(&self, x: &Tensor, memory: &Tensor, masks: &DecoderMasks) -> Tensor {
        let (self_mask, mem_mask) = masks.attention_masks();
        self.forward_with(x, &self.project_memory(memory), &self_mask, &mem_mask)
    }

    /// Unmasked memory, causal self-attention.
    pub fn forward(&self, x: &Tensor, memory: &Tensor) -> Tensor {
        self.forward_masked(x, memory, &DecoderMasks::default())
    }

    /// The memory's keys and values for this layer's cross-attention, projected once.
    pub fn project_memory(&self, memory: &Tensor) -> ProjectedKeyValue {
        self.cross_attn.project_key_value(memory)
    }

    fn forward_with(
        &self,
        x: &Tensor,
        memory: &ProjectedKeyValue,
        self_mask: &AttentionMask,
        mem_mask: &AttentionMask,
    ) -> Tensor {
        let h = self.norm1.forward(x);
        let x = x.add(&self.self_attn.self_attend(&h, self_mask));
        let h = self.norm2.forward(&x);
        let x = x.add(&self.cross_attn.attend_projected(&h, memory, mem_mask));
        let h = self.norm3.forward(&x);
        x.add(&self.ff.forward(&h))
    }
}

/// A stack of pre-norm encoder layers followed by a final layer norm. Parameters:
/// `layers.{i}`, `norm`.
#[derive(Clone, Debug)]
pub struct TransformerEncoder {
    layers: Vec<TransformerEncoderLayer>,
    norm: LayerNorm,
}

/// A [`TransformerEncoder`] of `num_layers` layers registered under `p`.
pub fn transformer_encoder(
    p: &Path,
    num_layers: usize,
    cfg: TransformerConfig,
) -> TransformerEncoder {
    let layers = (0..num_layers)
        .map(|i| transformer_encoder_layer(&p.sub("layers").sub(&i.to_string()), cfg))
        .collect();
    TransformerEncoder {
        layers,
        norm: cfg.ln(&p.sub("norm")),
    }
}

impl TransformerEncoder {
    /// `x (B, L, d) -> (B, L, d)` under `mask`.
    pub fn forward_masked(&self, x: &Tensor, mask: &AttentionMask) -> Tensor {
        let mut x = x.clone();
        for layer in &self.layers {
            x = layer.forward_masked(&x, mask);
        }
        self.norm.forward(&x)
    }

    /// The layers.
    pub fn layers(&self) -> &[TransformerEncoderLayer] {
        &self.layers
    }
}

impl Module for TransformerEncoder {
    /// Unmasked encoder.
    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_masked(x, &AttentionMask::default())
    }
}

/// The encoder memory as a [`TransformerDecoder`]'s layers see it: each layer's
/// cross-attention keys and values, from [`TransformerDecoder::prepare_memory`].
#[derive(Clone, Debug)]
pub struct DecoderMemory {
    layers: Vec<ProjectedKeyValue>,
}

/// A stack of pre-norm decoder layers followed by a final layer norm. Parameters:
/// `layers.{i}`, `norm`.
#[derive(Clone, Debug)]
pub struct TransformerDecoder {
    layers: Vec<TransformerDecoderLayer>,
    norm: LayerNorm,
}

/// A [`TransformerDecoder`] of `num_layers` layers registered under `p`.
pub fn transformer_decoder(
    p: &Path,
    num_layers: usize,
    cfg: TransformerConfig,
) -> TransformerDecoder {
    let layers = (0..num_layers)
        .map(|i| transformer_decoder_layer(&p.sub("layers").sub(&i.to_string()), cfg))
        .collect();
    TransformerDecoder {
        layers,
        norm: cfg.ln(&p.sub("norm")),
    }
}

impl TransformerDecoder {
    /// `x (B, Lt, d)` over `memory (B, Lm, d)` -> `(B, Lt, d)`.
    pub fn forward_masked(&self, x: &Tensor, memory: &Tensor, masks: &DecoderMasks) -> Tensor {
        self.forward_prepared(x, &self.prepare_memory(memory), masks)
    }

    /// Every layer's cross-attention keys and values of `memory (B, Lm, d)`, projected once:
    /// greedy decoding runs the decoder once per output token over the same memory, and this
    /// projection (`Lm` rows per layer, against the few target rows) would otherwise dominate.
    pub fn prepare_memory(&self, memory: &Tensor) -> DecoderMemory {
        DecoderMemory {
            layers: self
                .layers
                .iter()
                .map(|l| l.project_memory(memory))
                .collect(),
        }
    }

    /// [`TransformerDecoder::forward_masked`] over a memory projected by
    /// [`TransformerDecoder::prepare_memory`] (of this decoder), bit for bit the same result.
    ///
    /// # Panics
    /// If `memory` was prepared by a decoder with another number of layers, or shapes mismatch.
    pub fn forward_prepared(
        &self,
        x: &Tensor,
        memory: &DecoderMemory,
        masks: &DecoderMasks,
    ) -> Tensor {
        sparling_tensor::shape_check!(
            memory.layers.len() == self.layers.len(),
            "TransformerDecoder",
            "memory prepared for {} layers, the decoder has {}",
            memory.layers.len(),
            self.layers.len()
        );
        let (self_mask, mem_mask) = masks.attention_masks();
        let mut x = x.clone();
        for (layer, kv) in self.layers.iter().zip(&memory.layers) {
            x = layer.forward_with(&x, kv, &self_mask, &mem_mask);
        }
        self.norm.forward(&x)
    }

    /// Unmasked memory, causal self-attention.
    pub fn forward(&self, x: &Tensor, memory: &Tensor) -> Tensor {
        self.forward_masked(x, memory, &DecoderMasks::default())
    }

    /// The layers.
    pub fn layers(&self) -> &[TransformerDecoderLayer] {
        &self.layers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use crate::test_util::check_layer_grads;
    use sparling_tensor::testing::random_array;

    fn all_params_get_gradients(store: &ParamStore, loss: &Tensor) {
        let g = loss.backward();
        for p in store.named_params() {
            let grad = g
                .get(&p.get())
                .unwrap_or_else(|| panic!("no gradient for {}", p.name()));
            assert!(
                grad.iter().any(|&v| v != 0.0) && grad.iter().all(|v| v.is_finite()),
                "gradient of {} is zero or not finite",
                p.name()
            );
        }
    }

    #[test]
    fn encoder_layer_shape_and_gradient_flow() {
        let store = ParamStore::new(0);
        let cfg = TransformerConfig::new(8, 2, 16).with_activation(Activation::Gelu);
        let enc = transformer_encoder(&store.sub("enc"), 2, cfg);
        let x = Tensor::param(random_array(&[2, 5, 8], 1));
        let y = enc.forward(&x);
        assert_eq!(y.shape(), &[2, 5, 8]);
        let r = Tensor::new(random_array(&[2, 5, 8], 2));
        all_params_get_gradients(&store, &y.mul(&r).sum_all());
        assert!(store.get_param("enc.layers.1.ff.linear2.bias").is_some());
        assert!(store.get_param("enc.norm.weight").is_some());
    }

    #[test]
    fn decoder_layer_shape_gradient_flow_and_causality() {
        let store = ParamStore::new(1);
        let cfg = TransformerConfig::new(8, 4, 12);
        let dec = transformer_decoder(&store.sub("dec"), 2, cfg);
        let x = random_array(&[2, 4, 8], 3);
        let mem = random_array(&[2, 6, 8], 4);
        let y = dec.forward(&Tensor::new(x.clone()), &Tensor::new(mem.clone()));
        assert_eq!(y.shape(), &[2, 4, 8]);
        let r = Tensor::new(random_array(&[2, 4, 8], 5));
        all_params_get_gradients(&store, &y.mul(&r).sum_all());
        // Changing target position 3 leaves positions 0..3 unchanged.
        let mut x2 = x.clone();
        x2[[0, 3, 0]] += 1.0;
        x2[[1, 3, 5]] -= 1.0;
        let y2 = dec.forward(&Tensor::new(x2), &Tensor::new(mem.clone()));
        let (a, b) = (y.to_array(), y2.to_array());
        for batch in 0..2 {
            for pos in 0..3 {
                for c in 0..8 {
                    assert_eq!(a[[batch, pos, c]], b[[batch, pos, c]]);
                }
            }
            assert_ne!(a[[batch, 3, 0]], b[[batch, 3, 0]]);
        }
    }

    #[test]
    fn decoder_ignores_padded_memory() {
        let store = ParamStore::new(2);
        let dec = transformer_decoder_layer(&store.sub("dec"), TransformerConfig::new(4, 2, 8));
        let x = Tensor::new(random_array(&[1, 3, 4], 6));
        let mem = random_array(&[1, 5, 4], 7);
        let masks = DecoderMasks {
            tgt_key_padding: None,
            memory_key_padding: Some(vec![vec![false, false, false, true, true]]),
        };
        let y = dec.forward_masked(&x, &Tensor::new(mem.clone()), &masks);
        let mut mem2 = mem.clone();
        for c in 0..4 {
            mem2[[0, 3, c]] = 9.0;
            mem2[[0, 4, c]] = -9.0;
        }
        let y2 = dec.forward_masked(&x, &Tensor::new(mem2.clone()), &masks);
        assert_eq!(y.to_vec(), y2.to_vec());
        // Without the mask the padded positions matter.
        let y3 = dec.forward(&x, &Tensor::new(mem2));
        assert_ne!(y.to_vec(), y3.to_vec());
    }

    #[test]
    fn prepared_memory_decodes_bit_identically_and_passes_gradients() {
        let store = ParamStore::new(5);
        let dec = transformer_decoder(&store.sub("dec"), 2, TransformerConfig::new(8, 2, 12));
        let mem = Tensor::new(random_array(&[2, 5, 8], 10));
        let masks = DecoderMasks {
            tgt_key_padding: None,
            memory_key_padding: Some(vec![vec![false; 5], vec![false, false, true, true, true]]),
        };
        let prepared = dec.prepare_memory(&mem);
        // Growing prefixes over one prepared memory, as in greedy decoding.
        for t in 1..=3 {
            let x = Tensor::new(random_array(&[2, t, 8], 11 + t as u64));
            assert_eq!(
                dec.forward_prepared(&x, &prepared, &masks).to_vec(),
                dec.forward_masked(&x, &mem, &masks).to_vec()
            );
        }
        // The projection is part of the graph: the memory gets its gradient through it.
        let mem = Tensor::param(random_array(&[2, 5, 8], 20));
        let x = Tensor::new(random_array(&[2, 2, 8], 21));
        let loss = dec
            .forward_prepared(&x, &dec.prepare_memory(&mem), &masks)
            .sum_all();
        let direct = dec.forward_masked(&x, &mem, &masks).sum_all();
        let (g1, g2) = (loss.backward(), direct.backward());
        let (a, b) = (g1.get(&mem).unwrap(), g2.get(&mem).unwrap());
        assert!(a.iter().any(|&v| v != 0.0));
        assert_eq!(a, b);
    }

    #[test]
    #[should_panic(expected = "TransformerDecoder")]
    fn prepared_memory_of_another_depth_is_rejected() {
        let store = ParamStore::new(6);
        let cfg = TransformerConfig::new(4, 2, 8);
        let one = transformer_decoder(&store.sub("one"), 1, cfg);
        let two = transformer_decoder(&store.sub("two"), 2, cfg);
        let mem = Tensor::zeros(&[1, 3, 4]);
        let _ = two.forward_prepared(
            &Tensor::zeros(&[1, 1, 4]),
            &one.prepare_memory(&mem),
            &DecoderMasks::default(),
        );
    }

    #[test]
    fn encoder_ignores_padded_keys() {
        let store = ParamStore::new(3);
        let enc = transformer_encoder_layer(&store.sub("enc"), TransformerConfig::new(4, 1, 4));
        let x = random_array(&[1, 3, 4], 8);
        let mask = AttentionMask::new(false, Some(vec![vec![false, false, true]]));
        let y = enc.forward_masked(&Tensor::new(x.clone()), &mask);
        let mut x2 = x.clone();
        x2[[0, 2, 1]] += 3.0;
        let y2 = enc.forward_masked(&Tensor::new(x2), &mask);
        // Unpadded positions are unaffected by the padded one.
        assert_eq!(&y.to_vec()[..8], &y2.to_vec()[..8]);
    }

    #[test]
    fn encoder_layer_grad_matches_fd() {
        let store = ParamStore::new(4);
        let enc = transformer_encoder_layer(
            &store.sub("enc"),
            TransformerConfig::new(4, 2, 6).with_activation(Activation::Gelu),
        );
        let x = random_array(&[1, 3, 4], 9);
        check_layer_grads(&store, &[x], |t| enc.forward(&t[0]));
    }

    #[test]
    fn decoder_layer_grad_matches_fd() {
        let store = ParamStore::new(5);
        let dec = transformer_decoder_layer(
            &store.sub("dec"),
            TransformerConfig::new(4, 2, 6).with_activation(Activation::Gelu),
        );
        let x = random_array(&[1, 3, 4], 10);
        let mem = random_array(&[1, 2, 4], 11);
        check_layer_grads(&store, &[x, mem], |t| dec.forward(&t[0], &t[1]));
    }
}

//! `sparling-nn`: layers, initialisers, optimizers and serialization on top of
//! [`sparling_tensor`].
//!
//! * [`ParamStore`] registers named parameters and buffers (`store.sub("enc").sub("0")`),
//!   initialises them from a seed ([`Init`]), exports/imports a [`StateDict`].
//! * Layers are structs built by free functions taking a [`Path`] and implement
//!   [`Module`](sparling_tensor::Module) (or [`ModuleT`](sparling_tensor::ModuleT) for
//!   [`BatchNorm`]): [`Linear`], [`Conv2d`], [`Conv1d`], [`BatchNorm`], [`LayerNorm`],
//!   [`Embedding`], [`MultiHeadAttention`], pre-norm [`TransformerEncoderLayer`] /
//!   [`TransformerDecoderLayer`] and their stacks.
//! * [`posenc`]: fixed sinusoidal positional encodings, 1-D and 2-D.
//! * [`optim`]: [`Adam`] / AdamW and [`Sgd`] with serializable state.
//! * [`checkpoint`]: a versioned, checksummed, atomically written file container for any
//!   serde payload.
//!
//! Gradients are first order only, as everywhere in `sparling-tensor`.
#![doc = include_str!("../README.md")]

pub mod atomic;
pub mod attention;
pub mod checkpoint;
pub mod conv;
pub mod embedding;
pub mod error;
pub mod fault;
pub mod init;
pub mod linear;
pub mod norm;
pub mod optim;
pub mod posenc;
pub mod store;
#[cfg(test)]
mod test_util;
pub mod transformer;

pub use attention::{MultiHeadAttention, ProjectedKeyValue, multi_head_attention};
pub use conv::{Conv1d, Conv2d, ConvConfig, conv1d, conv2d};
pub use embedding::{Embedding, embedding, embedding_with};
pub use error::{Error, Result};
pub use init::Init;
pub use linear::{Linear, LinearConfig, linear, linear_no_bias, linear_with};
pub use norm::{
    BatchNorm, BatchNormConfig, LayerNorm, LayerNormConfig, batch_norm1d, batch_norm2d, layer_norm,
};
pub use optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
pub use store::{Buffer, NamedArray, Param, ParamStore, Path, STATE_DICT_KIND, StateDict};
pub use transformer::{
    Activation, DecoderMasks, DecoderMemory, FeedForward, TransformerConfig, TransformerDecoder,
    TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer, feed_forward,
    transformer_decoder, transformer_decoder_layer, transformer_encoder, transformer_encoder_layer,
};

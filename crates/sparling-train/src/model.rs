//! The Sparling model `h(collapse(S(g(x))))` for any domain: the input shape, the vocabulary
//! and the output length come from the domain, 2-D (images) and 1-D (signals) alike.
//!
//! * g ([`MotifModel`]): a local residual conv stack, 2-D or 1-D
//!   ([`crate::motif_model`]).
//! * S ([`crate::bottleneck::Bottleneck`]): BatchNorm + the Sparse layer, or a baseline.
//! * collapse: a 1x1 conv and a max-pool of `pool` positions per axis (as the paper).
//! * h: optionally a LayerNorm on the pooled tokens, then a pre-norm transformer encoder over
//!   the pooled grid (learned positions plus fixed 2-D or 1-D sinusoidal ones, scaled by
//!   `position_scale`) and a pre-norm autoregressive decoder with greedy decoding. h learns the
//!   circular order and the canonical rotation itself: no geometry is coded in.

use std::sync::Arc;

use sparling_domains::{TokenId, Vocab};
use sparling_nn::{
    ConvConfig, DecoderMasks, DecoderMemory, Embedding, Init, LayerNorm, LayerNormConfig, Linear,
    Param, ParamStore, TransformerConfig, TransformerDecoder, TransformerEncoder, embedding_with,
    layer_norm, linear, posenc, transformer_decoder, transformer_encoder,
};
use sparling_tensor::{Module, Tensor, no_grad};

use crate::bottleneck::{Bottleneck, BottleneckOutput};
use crate::config::{ModelConfig, TrainConfig};
use crate::error::{Error, Result};
use crate::motif_model::Conv;
pub use crate::motif_model::MotifModel;

/// The full model and its parameters.
pub struct SparlingModel {
    store: ParamStore,
    cfg: ModelConfig,
    vocab: Vocab,
    max_tokens: usize,
    g: MotifModel,
    /// Spatial axes of the input (2 for images, 1 for signals).
    dims: usize,
    /// g runs in evaluation mode without gradients (the Retrained experiment).
    frozen_g: bool,
    bottleneck: Bottleneck,
    collapse: Conv,
    /// The pooled grid: `[rows, cols]` (2-D) or `[1, steps]` (1-D).
    grid: [usize; 2],
    token_norm: Option<LayerNorm>,
    enc_pos: Arc<Param>,
    enc_pos_fixed: Tensor,
    encoder: TransformerEncoder,
    tok_embed: Embedding,
    dec_pos: Arc<Param>,
    dec_pos_fixed: Tensor,
    decoder: TransformerDecoder,
    head: Linear,
}

/// What one teacher-forced forward pass produces.
pub struct ForwardOutput {
    /// Mean token cross-entropy.
    pub ce: Tensor,
    /// The bottleneck's auxiliary loss, if any (already weighted).
    pub aux: Option<Tensor>,
    /// Total loss `ce + aux`.
    pub loss: Tensor,
}

impl ForwardOutput {
    /// The task's loss `ce` plus the bottleneck's penalty `aux`, if any.
    pub fn new(ce: Tensor, aux: Option<Tensor>) -> ForwardOutput {
        let loss = match &aux {
            Some(a) => ce.add(a),
            None => ce.clone(),
        };
        ForwardOutput { ce, aux, loss }
    }
}

impl SparlingModel {
    /// Builds the model for `config`, parameters initialised from `seed`.
    pub fn new(config: &TrainConfig, seed: u64) -> Result<SparlingModel> {
        let cfg = config.model.clone();
        let domain = config.build_domain()?;
        let vocab = domain.vocab().clone();
        let max_tokens = domain.max_tokens();
        let shape = domain.input_shape();
        let dims = shape.len() - 1;
        let grid = match dims {
            1 => [1, shape[1] / cfg.pool],
            _ => [shape[1] / cfg.pool, shape[2] / cfg.pool],
        };
        let store = ParamStore::new(seed);
        let root = store.root();
        let d = cfg.d_model;
        let g = MotifModel::new(&root.sub("g"), &cfg, shape[0], dims);
        let bottleneck = Bottleneck::new(
            &root.sub("bottleneck"),
            &config.bottleneck,
            config.schedule.initial_density(),
            cfg.motif_channels,
            dims,
            seed,
        )?;
        let collapse = Conv::new(
            &root.sub("collapse"),
            dims,
            cfg.motif_channels,
            d,
            1,
            ConvConfig::default(),
        );
        let cells = grid[0] * grid[1];
        let small = Init::Normal {
            mean: 0.0,
            std: 0.02,
        };
        let tcfg = TransformerConfig::new(d, cfg.heads, cfg.ff);
        let dec_len = max_tokens + 1;
        let model = SparlingModel {
            token_norm: cfg.token_norm.then(|| {
                layer_norm(
                    &root.sub("h").sub("token_norm"),
                    d,
                    LayerNormConfig::default(),
                )
            }),
            enc_pos: root.sub("h").param("enc_pos", &[cells, d], small),
            enc_pos_fixed: match dims {
                1 => posenc::sinusoidal_1d(cells, d),
                _ => posenc::sinusoidal_2d(grid[0], grid[1], d),
            }
            .mul_scalar(cfg.position_scale),
            encoder: transformer_encoder(&root.sub("h").sub("encoder"), cfg.encoder_layers, tcfg),
            tok_embed: embedding_with(&root.sub("h").sub("embed"), vocab.len(), d, small),
            dec_pos: root.sub("h").param("dec_pos", &[dec_len, d], small),
            dec_pos_fixed: posenc::sinusoidal_1d(dec_len, d),
            decoder: transformer_decoder(&root.sub("h").sub("decoder"), cfg.decoder_layers, tcfg),
            head: linear(&root.sub("h").sub("head"), d, vocab.len()),
            store,
            cfg,
            vocab,
            max_tokens,
            g,
            dims,
            frozen_g: config.retrain_from.is_some(),
            bottleneck,
            collapse,
            grid,
        };
        Ok(model)
    }

    /// The parameter store (parameters in creation order, buffers, train/eval flag).
    pub fn store(&self) -> &ParamStore {
        &self.store
    }

    /// The bottleneck (Sparse layer or baseline).
    pub fn bottleneck(&self) -> &Bottleneck {
        &self.bottleneck
    }

    /// The input's spatial axes: 2 for images `(N, 1, H, W)`, 1 for signals `(N, C, L)`.
    pub fn spatial_dims(&self) -> usize {
        self.dims
    }

    /// The output vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// The model sizes.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// g followed by the bottleneck: the motif map `(N, C, ..)` (post-ReLU for Sparse).
    pub fn motifs(&self, x: &Tensor, train: bool) -> Result<BottleneckOutput> {
        let z = if self.frozen_g {
            no_grad(|| self.g.forward(x, false))
        } else {
            self.g.forward(x, train)
        };
        self.bottleneck.forward(&z, train)
    }

    /// g's output followed by the bottleneck's `z - t` without the ReLU, in evaluation mode
    /// (see [`Bottleneck::shifted`]): what the paper's direct evaluation scores.
    pub fn shifted_motifs(&self, x: &Tensor) -> Result<Tensor> {
        no_grad(|| self.bottleneck.shifted(&self.g.forward(x, false)))
    }

    /// Copies g's parameters and BatchNorm statistics from the model in `path` (a rung
    /// snapshot or a training checkpoint), for the Retrained experiment. Errors name the file
    /// and the first entry that is missing or shaped differently.
    pub fn load_frozen_g(&self, path: &std::path::Path) -> Result<()> {
        let params = match crate::checkpoint_kind(path)?.as_str() {
            crate::state::MODEL_KIND => {
                crate::load_checkpoint::<crate::state::ModelSnapshot>(
                    path,
                    crate::state::MODEL_KIND,
                )?
                .params
            }
            _ => crate::state::load_train_state(path)?.model.params,
        };
        let bad = |what: String| Error::Run(format!("{}: {what}", path.display()));
        let mut copied = 0;
        for p in self.store.named_params() {
            if let Some(name) = p.name().strip_prefix("g.") {
                let src = params
                    .params
                    .iter()
                    .find(|a| a.name == p.name())
                    .ok_or_else(|| bad(format!("no parameter g.{name}")))?;
                p.set(named_array(src, p.shape()).map_err(bad)?);
                copied += 1;
            }
        }
        for b in self.store.buffers() {
            if b.name().starts_with("g.") {
                let src = params
                    .buffers
                    .iter()
                    .find(|a| a.name == b.name())
                    .ok_or_else(|| bad(format!("no buffer {}", b.name())))?;
                b.set(named_array(src, b.shape()).map_err(bad)?);
            }
        }
        if copied == 0 {
            return Err(bad("the model has no g parameters to copy".into()));
        }
        Ok(())
    }

    /// collapse + encoder: the memory `(N, cells, d)` from a motif map.
    pub fn encode(&self, map: &Tensor) -> Tensor {
        self.encoder
            .forward(&self.tokens(map).add(&self.encoder_positions()))
    }

    /// collapse alone (and the token LayerNorm, if configured): the encoder's input tokens
    /// `(N, cells, d)` from a motif map, before the positional encodings are added.
    pub fn tokens(&self, map: &Tensor) -> Tensor {
        let n = map.shape()[0];
        let d = self.cfg.d_model;
        let pooled = match &self.collapse {
            // The 1x1 conv and the max-pool, fused: the (N, d, H, W) map is never built.
            Conv::D2(c) => {
                let bias = c.bias().map(|b| b.get());
                map.conv1x1_max_pool2d(&c.weight().get(), bias.as_ref(), [self.cfg.pool; 2])
            }
            Conv::D1(c) => c.forward(map).max_pool1d(self.cfg.pool, self.cfg.pool),
        };
        let cells = self.grid[0] * self.grid[1];
        let tokens = pooled.reshape(&[n, d, cells]).transpose(1, 2);
        match &self.token_norm {
            Some(norm) => norm.forward(&tokens),
            None => tokens,
        }
    }

    /// The encoder's positional encodings `(cells, d)`: learned plus fixed sinusoidal.
    pub fn encoder_positions(&self) -> Tensor {
        self.enc_pos.get().add(&self.enc_pos_fixed)
    }

    /// Decoder logits `(N, T, vocab)` for decoder inputs `(N, T)` (row-major ids).
    pub fn decode(&self, memory: &Tensor, inputs: &[TokenId], t: usize) -> Tensor {
        self.decode_prepared(&self.prepare_memory(memory), inputs, t)
    }

    /// The decoder's view of `memory (N, cells, d)`: every decoder layer's cross-attention
    /// keys and values, projected once for all the steps of greedy decoding.
    pub fn prepare_memory(&self, memory: &Tensor) -> DecoderMemory {
        self.decoder.prepare_memory(memory)
    }

    /// [`SparlingModel::decode`] over a memory whose cross-attention keys and values were
    /// projected once ([`SparlingModel::prepare_memory`]), for the steps of greedy
    /// decoding; bit for bit the same logits.
    pub fn decode_prepared(&self, memory: &DecoderMemory, inputs: &[TokenId], t: usize) -> Tensor {
        let n = inputs.len() / t.max(1);
        let x = self.tok_embed.embed(inputs, &[n, t]);
        let pos = self
            .dec_pos
            .get()
            .narrow(0, 0, t)
            .add(&self.dec_pos_fixed.narrow(0, 0, t));
        let h = self
            .decoder
            .forward_prepared(&x.add(&pos), memory, &DecoderMasks::default());
        self.head.forward(&h)
    }

    /// Teacher-forced loss on inputs `(N, ..input_shape)` and target class sequences.
    pub fn loss(&self, x: &Tensor, targets: &[Vec<TokenId>], train: bool) -> Result<ForwardOutput> {
        let out = self.motifs(x, train)?;
        let ce = self.sequence_loss(&out.map, targets)?;
        Ok(ForwardOutput::new(ce, out.aux))
    }

    /// h's teacher-forced mean token cross-entropy on a motif map `(N, C, ..)`: collapse,
    /// encoder and decoder, without g or the bottleneck (used by [`SparlingModel::loss`], and
    /// on its own to train h on oracle motif maps).
    pub fn sequence_loss(&self, map: &Tensor, targets: &[Vec<TokenId>]) -> Result<Tensor> {
        let n = targets.len();
        let t = self.max_tokens + 1;
        let memory = self.encode(map);
        let mut inputs = Vec::with_capacity(n * t);
        let mut labels = Vec::with_capacity(n * t);
        for y in targets {
            let enc = self.vocab.encode_padded(y, t + 1)?;
            inputs.extend_from_slice(&enc[..t]);
            labels.extend_from_slice(&enc[1..]);
        }
        let logits = self.decode(&memory, &inputs, t);
        let v = self.vocab.len();
        Ok(logits
            .reshape(&[n * t, v])
            .cross_entropy(&labels, Some(self.vocab.pad())))
    }

    /// Greedy decoding (evaluation mode, no graph): the predicted class sequences and the
    /// motif maps that produced them.
    pub fn predict(&self, x: &Tensor) -> Result<(Vec<Vec<TokenId>>, Tensor)> {
        no_grad(|| {
            let out = self.motifs(x, false)?;
            let decoded = self.predict_from_map(&out.map);
            Ok((decoded, out.map))
        })
    }

    /// h alone, greedy (no graph): the predicted class sequences for motif maps `(N, C, ..)`.
    pub fn predict_from_map(&self, map: &Tensor) -> Vec<Vec<TokenId>> {
        no_grad(|| {
            let memory = self.prepare_memory(&self.encode(map));
            let n = map.shape()[0];
            let max_t = self.max_tokens + 1;
            let mut seqs: Vec<Vec<TokenId>> = vec![vec![self.vocab.start()]; n];
            let mut done = vec![false; n];
            for t in 1..=max_t {
                let inputs: Vec<TokenId> = seqs.iter().flatten().copied().collect();
                let logits = self.decode_prepared(&memory, &inputs, t);
                let last = logits.narrow(1, t - 1, 1).reshape(&[n, self.vocab.len()]);
                let best = last.argmax(1);
                for (i, seq) in seqs.iter_mut().enumerate() {
                    let tok = if done[i] { self.vocab.pad() } else { best[[i]] };
                    if tok == self.vocab.end() {
                        done[i] = true;
                    }
                    seq.push(tok);
                }
                if done.iter().all(|&d| d) {
                    break;
                }
            }
            seqs.iter()
                .map(|s| decode_lenient(&self.vocab, s))
                .collect()
        })
    }
}

/// A stored array with the shape `shape`, or what differs.
fn named_array(
    a: &sparling_nn::NamedArray,
    shape: &[usize],
) -> std::result::Result<ndarray::ArrayD<f32>, String> {
    if a.shape != shape {
        return Err(format!(
            "{} has shape {:?}, the model wants {shape:?}",
            a.name, a.shape
        ));
    }
    ndarray::ArrayD::from_shape_vec(a.shape.clone(), a.data.clone()).map_err(|e| e.to_string())
}

/// The class ids of a greedy output: after the start token, up to the first end token,
/// skipping any other special token (a malformed prediction is simply wrong, not an error).
fn decode_lenient(vocab: &Vocab, seq: &[TokenId]) -> Vec<TokenId> {
    seq.iter()
        .skip(1)
        .take_while(|&&t| t != vocab.end())
        .filter(|&&t| vocab.is_class(t))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;

    #[test]
    fn position_scale_multiplies_the_fixed_sinusoid_only() {
        let mut cfg = TrainConfig::preset(Profile::Quick);
        let grid = cfg.digit_circle_mut().unwrap().size / cfg.model.pool;
        let d = cfg.model.d_model;
        for scale in [1.0f32, 2.5] {
            cfg.model.position_scale = scale;
            let model = SparlingModel::new(&cfg, 7).unwrap();
            let learned = model.enc_pos.get().to_array();
            let got = model.encoder_positions().to_array();
            let sinusoid = posenc::sinusoidal_2d_array(grid, grid, d);
            for ((g, l), s) in got.iter().zip(learned.iter()).zip(sinusoid.iter()) {
                assert_eq!(*g, l + s * scale);
            }
        }
    }

    #[test]
    fn token_norm_normalises_each_token() {
        let mut cfg = TrainConfig::preset(Profile::Quick);
        let d = cfg.model.d_model;
        let map = Tensor::new(
            sparling_tensor::testing::random_array(&[2, cfg.model.motif_channels, 48, 48], 5)
                .mapv(|v| v.max(0.0) * 30.0),
        );
        for norm in [false, true] {
            cfg.model.token_norm = norm;
            let model = SparlingModel::new(&cfg, 1).unwrap();
            let tokens = model.tokens(&map).to_vec();
            let (mut max_mean, mut max_var_err) = (0.0f32, 0.0f32);
            for t in tokens.chunks(d) {
                let mean = t.iter().sum::<f32>() / d as f32;
                let var = t.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / d as f32;
                max_mean = max_mean.max(mean.abs());
                max_var_err = max_var_err.max((var - 1.0).abs());
            }
            // At init the LayerNorm is the identity affine: zero mean, unit variance per token.
            assert_eq!(norm, max_mean < 1e-4 && max_var_err < 1e-3, "{norm}");
        }
    }

    #[test]
    fn a_1d_domain_gets_a_1d_g_and_a_1d_collapse() {
        // SingleDigit read column by column: 32 steps of 32 features.
        let mut cfg = TrainConfig::preset(Profile::Quick);
        cfg.domain = sparling_domains::DomainSpec::from_name("single-digit-columns").unwrap();
        cfg.model.pool = 4;
        cfg.validate().unwrap();
        let model = SparlingModel::new(&cfg, 2).unwrap();
        assert_eq!(model.spatial_dims(), 1);
        let w = model.store().get_param("g.input.weight").unwrap();
        assert_eq!(
            w.shape(),
            &[cfg.model.g_width, 32, 1],
            "features as channels"
        );
        let domain = cfg.build_domain().unwrap();
        let batch = domain.batch_arrays(1, &[0, 1, 2]);
        let x = Tensor::new(batch.inputs);
        let out = model.motifs(&x, true).unwrap();
        assert_eq!(out.map.shape(), &[3, cfg.model.motif_channels, 32]);
        assert_eq!(model.tokens(&out.map).shape(), &[3, 8, cfg.model.d_model]);
        let loss = model.loss(&x, &batch.tokens, true).unwrap().loss;
        assert!(loss.item().is_finite());
        let grads = loss.backward();
        assert!(
            grads.get(&w.get()).is_some(),
            "g trains through the 1-D path"
        );
        let (pred, _) = model.predict(&x).unwrap();
        assert_eq!(pred.len(), 3);
    }

    #[test]
    fn h_alone_agrees_with_the_full_model() {
        // `loss` is g + bottleneck + `sequence_loss`; `predict` is g + `predict_from_map`.
        let cfg = TrainConfig::preset(Profile::Quick);
        let model = SparlingModel::new(&cfg, 3).unwrap();
        let domain = cfg.build_domain().unwrap();
        let batch = domain.batch_arrays(11, &[0, 1, 2]);
        let x = Tensor::new(batch.inputs);
        let full = model.loss(&x, &batch.tokens, false).unwrap();
        let map = model.motifs(&x, false).unwrap().map;
        let h = model.sequence_loss(&map, &batch.tokens).unwrap();
        assert_eq!(full.ce.item(), h.item());
        let (pred, _) = model.predict(&x).unwrap();
        assert_eq!(pred, model.predict_from_map(&map));
    }
}

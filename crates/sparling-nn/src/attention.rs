//! [`MultiHeadAttention`]: query/key/value projections, scaled dot-product attention per head
//! (the fused [`Tensor::scaled_dot_product_attention`] op) and an output projection.

use sparling_tensor::ops::AttentionMask;
use sparling_tensor::{Module, Tensor};

use crate::init::Init;
use crate::linear::{Linear, LinearConfig, linear_with};
use crate::store::Path;

/// Multi-head attention over `(B, L, d_model)` sequences, as `torch.nn.MultiheadAttention`
/// with `batch_first=True` and separate projections.
///
/// `out = W_o concat_h(softmax(Q_h K_h^T / sqrt(d_head) + mask) V_h) + b_o`, with
/// `Q = q W_q^T + b_q` etc. Parameters: `q_proj`, `k_proj`, `v_proj`, `out_proj` (each a
/// [`Linear`] `d_model -> d_model`). Initialisation follows PyTorch's: Xavier-uniform `q/k/v`
/// weights, Kaiming-uniform (`a = sqrt(5)`) output weight, zero biases.
#[derive(Clone, Debug)]
pub struct MultiHeadAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    d_model: usize,
    num_heads: usize,
}

/// A [`MultiHeadAttention`] of width `d_model` with `num_heads` heads, registered under `p`.
///
/// # Panics
/// If `num_heads` is 0 or does not divide `d_model`.
pub fn multi_head_attention(p: &Path, d_model: usize, num_heads: usize) -> MultiHeadAttention {
    sparling_tensor::shape_check!(
        num_heads > 0 && d_model % num_heads == 0,
        "MultiHeadAttention",
        "{num_heads} heads do not divide d_model = {d_model}"
    );
    let in_cfg = LinearConfig {
        bias: true,
        weight_init: Init::XavierUniform { gain: 1.0 },
        bias_init: Some(Init::Zeros),
    };
    let out_cfg = LinearConfig {
        bias: true,
        weight_init: Init::kaiming_uniform_default(),
        bias_init: Some(Init::Zeros),
    };
    MultiHeadAttention {
        q_proj: linear_with(&p.sub("q_proj"), d_model, d_model, in_cfg),
        k_proj: linear_with(&p.sub("k_proj"), d_model, d_model, in_cfg),
        v_proj: linear_with(&p.sub("v_proj"), d_model, d_model, in_cfg),
        out_proj: linear_with(&p.sub("out_proj"), d_model, d_model, out_cfg),
        d_model,
        num_heads,
    }
}

impl MultiHeadAttention {
    /// Model width.
    pub fn d_model(&self) -> usize {
        self.d_model
    }

    /// Number of heads.
    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    /// The query projection.
    pub fn q_proj(&self) -> &Linear {
        &self.q_proj
    }

    /// The key projection.
    pub fn k_proj(&self) -> &Linear {
        &self.k_proj
    }

    /// The value projection.
    pub fn v_proj(&self) -> &Linear {
        &self.v_proj
    }

    /// The output projection.
    pub fn out_proj(&self) -> &Linear {
        &self.out_proj
    }

    /// Attention of `query (B, Lq, d)` over `key_value (B, Lk, d)` (cross-attention; pass the
    /// same tensor twice for self-attention) under `mask`; returns `(B, Lq, d)`.
    ///
    /// # Panics
    /// If the inputs are not `(B, L, d_model)` with equal `B`, or the mask does not fit.
    pub fn attend(&self, query: &Tensor, key_value: &Tensor, mask: &AttentionMask) -> Tensor {
        let (qs, ks) = (query.shape(), key_value.shape());
        sparling_tensor::shape_check!(
            qs.len() == 3
                && ks.len() == 3
                && qs[0] == ks[0]
                && qs[2] == self.d_model
                && ks[2] == self.d_model,
            "MultiHeadAttention",
            "expects query (B, Lq, {d}) and key/value (B, Lk, {d}), got {qs:?} and {ks:?}",
            d = self.d_model
        );
        self.attend_projected(query, &self.project_key_value(key_value), mask)
    }

    /// The keys and values of `key_value (B, Lk, d)`, projected and split into heads once, for
    /// many queries against the same sequence (a decoder's cross-attention to the encoder's
    /// memory during greedy decoding). `attend_projected(q, &project_key_value(kv), m)` is
    /// `attend(q, kv, m)`, bit for bit: it is how `attend` computes.
    ///
    /// # Panics
    /// If `key_value` is not `(B, Lk, d_model)`.
    pub fn project_key_value(&self, key_value: &Tensor) -> ProjectedKeyValue {
        let ks = key_value.shape();
        sparling_tensor::shape_check!(
            ks.len() == 3 && ks[2] == self.d_model,
            "MultiHeadAttention",
            "expects key/value (B, Lk, {d}), got {ks:?}",
            d = self.d_model
        );
        let (b, lk) = (ks[0], ks[1]);
        ProjectedKeyValue {
            k: self.split_heads(&self.k_proj.forward(key_value), b, lk),
            v: self.split_heads(&self.v_proj.forward(key_value), b, lk),
        }
    }

    /// Attention of `query (B, Lq, d)` over keys and values projected by
    /// [`MultiHeadAttention::project_key_value`] (of this layer) under `mask`; returns
    /// `(B, Lq, d)`.
    ///
    /// # Panics
    /// If `query` is not `(B, Lq, d_model)` with the projection's `B`, or the mask does not fit.
    pub fn attend_projected(
        &self,
        query: &Tensor,
        key_value: &ProjectedKeyValue,
        mask: &AttentionMask,
    ) -> Tensor {
        let (qs, ks) = (query.shape(), key_value.k.shape());
        sparling_tensor::shape_check!(
            qs.len() == 3 && qs[0] == ks[0] && qs[2] == self.d_model,
            "MultiHeadAttention",
            "expects query (B = {}, Lq, {d}), got {qs:?}",
            ks[0],
            d = self.d_model
        );
        let (b, lq) = (qs[0], qs[1]);
        let q = self.split_heads(&self.q_proj.forward(query), b, lq);
        let heads = Tensor::scaled_dot_product_attention(&q, &key_value.k, &key_value.v, mask);
        let merged = heads.permute(&[0, 2, 1, 3]).reshape(&[b, lq, self.d_model]);
        self.out_proj.forward(&merged)
    }

    /// Self-attention of `x (B, L, d)` under `mask`.
    pub fn self_attend(&self, x: &Tensor, mask: &AttentionMask) -> Tensor {
        self.attend(x, x, mask)
    }

    /// `(B, L, d) -> (B, H, L, d_head)`.
    fn split_heads(&self, x: &Tensor, b: usize, l: usize) -> Tensor {
        let dh = self.d_model / self.num_heads;
        x.reshape(&[b, l, self.num_heads, dh])
            .permute(&[0, 2, 1, 3])
    }
}

/// Keys and values projected and split into heads, `(B, H, Lk, d_head)` each: what
/// [`MultiHeadAttention::project_key_value`] returns. They carry the autodiff graph like any
/// tensor, so gradients flow through a projection reused by several queries.
#[derive(Clone, Debug)]
pub struct ProjectedKeyValue {
    k: Tensor,
    v: Tensor,
}

impl Module for MultiHeadAttention {
    /// Unmasked self-attention.
    fn forward(&self, x: &Tensor) -> Tensor {
        self.self_attend(x, &AttentionMask::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use crate::test_util::{check_layer_grads, check_layer_grads_tol};
    use ndarray::{Array3, ArrayD};
    use sparling_tensor::testing::random_array;

    /// `x W^T + b` in f64 for `x (L, d)`.
    fn proj(x: &[Vec<f64>], lin: &Linear) -> Vec<Vec<f64>> {
        let w = lin.weight().get().to_array();
        let b = lin.bias().unwrap().get().to_array();
        x.iter()
            .map(|row| {
                (0..w.shape()[0])
                    .map(|o| {
                        b[[o]] as f64
                            + (0..w.shape()[1])
                                .map(|i| w[[o, i]] as f64 * row[i])
                                .sum::<f64>()
                    })
                    .collect()
            })
            .collect()
    }

    /// Naive multi-head attention for one batch row, in f64, straight from the definition.
    fn naive(
        mha: &MultiHeadAttention,
        q_in: &[Vec<f64>],
        kv_in: &[Vec<f64>],
        allowed: impl Fn(usize, usize) -> bool,
    ) -> Vec<Vec<f64>> {
        let (q, k, v) = (
            proj(q_in, &mha.q_proj),
            proj(kv_in, &mha.k_proj),
            proj(kv_in, &mha.v_proj),
        );
        let h = mha.num_heads;
        let dh = mha.d_model / h;
        let mut concat = vec![vec![0.0f64; mha.d_model]; q.len()];
        for head in 0..h {
            let cols = head * dh..(head + 1) * dh;
            for i in 0..q.len() {
                let scores: Vec<Option<f64>> = (0..k.len())
                    .map(|j| {
                        allowed(i, j).then(|| {
                            cols.clone().map(|c| q[i][c] * k[j][c]).sum::<f64>()
                                / (dh as f64).sqrt()
                        })
                    })
                    .collect();
                let max = scores
                    .iter()
                    .flatten()
                    .fold(f64::NEG_INFINITY, |m, &s| m.max(s));
                let z: f64 = scores.iter().flatten().map(|s| (s - max).exp()).sum();
                for (j, s) in scores.iter().enumerate() {
                    if let Some(s) = s {
                        let p = (s - max).exp() / z;
                        for c in cols.clone() {
                            concat[i][c] += p * v[j][c];
                        }
                    }
                }
            }
        }
        proj(&concat, &mha.out_proj)
    }

    fn rows(a: &ArrayD<f32>, b: usize) -> Vec<Vec<f64>> {
        let a = a.view().into_dimensionality::<ndarray::Ix3>().unwrap();
        a.index_axis(ndarray::Axis(0), b)
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|&v| v as f64).collect())
            .collect()
    }

    fn randomise_biases(store: &ParamStore) {
        for (i, p) in store.named_params().iter().enumerate() {
            if p.name().ends_with("bias") {
                p.set(random_array(p.shape(), 100 + i as u64).mapv(|v| 0.3 * v));
            }
        }
    }

    #[test]
    fn mha_matches_naive_cross_attention_with_padding() {
        let store = ParamStore::new(1);
        let mha = multi_head_attention(&store.sub("attn"), 6, 2);
        randomise_biases(&store);
        let q_in = random_array(&[2, 3, 6], 2);
        let kv_in = random_array(&[2, 4, 6], 3);
        let pad = vec![
            vec![false, false, true, false],
            vec![false, true, true, true],
        ];
        let mask = AttentionMask::new(false, Some(pad.clone()));
        let y = mha.attend(
            &Tensor::new(q_in.clone()),
            &Tensor::new(kv_in.clone()),
            &mask,
        );
        assert_eq!(y.shape(), &[2, 3, 6]);
        for b in 0..2 {
            let want = naive(&mha, &rows(&q_in, b), &rows(&kv_in, b), |_, j| !pad[b][j]);
            let got = rows(&y.to_array(), b);
            for (gr, wr) in got.iter().zip(&want) {
                for (g, w) in gr.iter().zip(wr) {
                    assert!((g - w).abs() < 1e-5, "batch {b}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn mha_matches_naive_causal_self_attention() {
        let store = ParamStore::new(2);
        let mha = multi_head_attention(&store.sub("attn"), 8, 4);
        randomise_biases(&store);
        let x = random_array(&[1, 5, 8], 4);
        let y = mha.self_attend(&Tensor::new(x.clone()), &AttentionMask::new(true, None));
        let want = naive(&mha, &rows(&x, 0), &rows(&x, 0), |i, j| j <= i);
        for (gr, wr) in rows(&y.to_array(), 0).iter().zip(&want) {
            for (g, w) in gr.iter().zip(wr) {
                assert!((g - w).abs() < 1e-5, "{g} vs {w}");
            }
        }
        // Causality: changing the last position leaves the earlier outputs unchanged.
        let mut x2 = x.clone();
        for c in 0..8 {
            x2[[0, 4, c]] += 1.0;
        }
        let y2 = mha.self_attend(&Tensor::new(x2), &AttentionMask::new(true, None));
        let (a, b) = (y.to_vec(), y2.to_vec());
        assert_eq!(&a[..32], &b[..32]);
        assert_ne!(&a[32..], &b[32..]);
    }

    #[test]
    fn projected_key_value_reuse_is_bit_identical() {
        let store = ParamStore::new(5);
        let mha = multi_head_attention(&store.sub("attn"), 8, 2);
        randomise_biases(&store);
        let kv = Tensor::new(random_array(&[2, 5, 8], 7));
        let projected = mha.project_key_value(&kv);
        let mask = AttentionMask::new(
            false,
            Some(vec![vec![false; 5], vec![true, false, false, false, true]]),
        );
        for (lq, seed) in [(1, 8), (3, 9)] {
            let q = Tensor::new(random_array(&[2, lq, 8], seed));
            assert_eq!(
                mha.attend_projected(&q, &projected, &mask).to_vec(),
                mha.attend(&q, &kv, &mask).to_vec()
            );
        }
    }

    #[test]
    #[should_panic(expected = "MultiHeadAttention")]
    fn projected_key_value_rejects_another_batch() {
        let store = ParamStore::new(6);
        let mha = multi_head_attention(&store.sub("attn"), 4, 2);
        let projected = mha.project_key_value(&Tensor::zeros(&[2, 3, 4]));
        let _ = mha.attend_projected(
            &Tensor::zeros(&[1, 1, 4]),
            &projected,
            &AttentionMask::default(),
        );
    }

    #[test]
    fn mha_names_and_init() {
        let store = ParamStore::new(0);
        let _mha = multi_head_attention(&store.sub("sa"), 4, 2);
        let names: Vec<String> = store
            .named_params()
            .iter()
            .map(|p| p.name().into())
            .collect();
        assert_eq!(
            names,
            [
                "sa.q_proj.weight",
                "sa.q_proj.bias",
                "sa.k_proj.weight",
                "sa.k_proj.bias",
                "sa.v_proj.weight",
                "sa.v_proj.bias",
                "sa.out_proj.weight",
                "sa.out_proj.bias"
            ]
        );
        // Xavier bound sqrt(6 / 8); zero biases.
        let q = store.get_param("sa.q_proj.weight").unwrap().get().to_vec();
        assert!(q.iter().all(|v| v.abs() <= (0.75f32).sqrt()));
        assert!(
            store
                .get_param("sa.out_proj.bias")
                .unwrap()
                .get()
                .to_vec()
                .iter()
                .all(|&v| v == 0.0)
        );
    }

    #[test]
    fn mha_grad_matches_fd() {
        let store = ParamStore::new(3);
        let mha = multi_head_attention(&store.sub("attn"), 4, 2);
        randomise_biases(&store);
        let q = random_array(&[2, 2, 4], 5);
        let kv = random_array(&[2, 3, 4], 6);
        let mask = AttentionMask::new(false, Some(vec![vec![false, false, true], vec![false; 3]]));
        check_layer_grads(&store, &[q, kv], |t| mha.attend(&t[0], &t[1], &mask));
    }

    #[test]
    fn mha_self_attention_grad_matches_fd() {
        // The same tensor feeds queries, keys and values: gradients from all three add up.
        let store = ParamStore::new(4);
        let mha = multi_head_attention(&store.sub("attn"), 4, 1);
        let x = Array3::from_shape_fn((1, 3, 4), |(_, i, j)| ((i * 4 + j) as f32 * 0.37).sin())
            .into_dyn();
        check_layer_grads_tol(
            &store,
            &[x],
            |t| mha.self_attend(&t[0], &AttentionMask::new(true, None)),
            1e-2,
            2e-3,
            2e-2,
        );
    }
}

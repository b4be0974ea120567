//! [`Embedding`]: a lookup table of learned vectors.

use std::sync::Arc;

use sparling_tensor::{Module, Tensor};

use crate::init::Init;
use crate::store::{Param, Path};

/// A `(vocab, dim)` table; row `i` is the vector of token `i`. Parameter: `weight`,
/// initialised `N(0, 1)` as in PyTorch.
#[derive(Clone, Debug)]
pub struct Embedding {
    weight: Arc<Param>,
    vocab: usize,
    dim: usize,
}

/// An [`Embedding`] of `vocab` tokens into `dim` features, registered under `p`.
pub fn embedding(p: &Path, vocab: usize, dim: usize) -> Embedding {
    embedding_with(
        p,
        vocab,
        dim,
        Init::Normal {
            mean: 0.0,
            std: 1.0,
        },
    )
}

/// An [`Embedding`] with an explicit initialiser.
pub fn embedding_with(p: &Path, vocab: usize, dim: usize, init: Init) -> Embedding {
    Embedding {
        weight: p.param("weight", &[vocab, dim], init),
        vocab,
        dim,
    }
}

impl Embedding {
    /// The `(vocab, dim)` table.
    pub fn weight(&self) -> &Arc<Param> {
        &self.weight
    }

    /// Number of tokens.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Vector size.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The vectors of `ids` (row-major over `batch_shape`): output `(*batch_shape, dim)`.
    ///
    /// # Panics
    /// If `ids.len()` is not the product of `batch_shape` or an id is `>= vocab`.
    pub fn embed(&self, ids: &[usize], batch_shape: &[usize]) -> Tensor {
        sparling_tensor::shape_check!(
            ids.len() == batch_shape.iter().product::<usize>(),
            "Embedding",
            "{} ids do not fill batch shape {batch_shape:?}",
            ids.len()
        );
        if let Some(&bad) = ids.iter().find(|&&i| i >= self.vocab) {
            panic!(
                "Embedding: token id {bad} out of range for vocabulary {} ({:?})",
                self.vocab,
                self.weight.name()
            );
        }
        let mut shape = batch_shape.to_vec();
        shape.push(self.dim);
        self.weight.get().index_select(0, ids).reshape(&shape)
    }
}

impl Module for Embedding {
    /// Looks up a tensor of token ids stored as `f32` integers: `(...) -> (..., dim)`.
    ///
    /// # Panics
    /// If a value is not a non-negative integer below `vocab`.
    fn forward(&self, ids: &Tensor) -> Tensor {
        let idx: Vec<usize> = ids
            .data()
            .iter()
            .map(|&v| {
                sparling_tensor::shape_check!(
                    v >= 0.0 && v.fract() == 0.0 && (v as usize) < self.vocab,
                    "Embedding",
                    "value {v} is not a token id below {}",
                    self.vocab
                );
                v as usize
            })
            .collect();
        self.embed(&idx, ids.shape())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use ndarray::arr2;

    #[test]
    fn embedding_literal_and_grad_accumulates_repeats() {
        let store = ParamStore::new(0);
        let emb = embedding(&store.sub("tok"), 3, 2);
        emb.weight()
            .set(arr2(&[[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]).into_dyn());
        // ids [[2, 0], [2, 1]] -> rows 2, 0, 2, 1.
        let y = emb.embed(&[2, 0, 2, 1], &[2, 2]);
        assert_eq!(y.shape(), &[2, 2, 2]);
        assert_eq!(y.to_vec(), vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0, 3.0, 4.0]);
        // d sum(y * r) / dW: row 2 gets r[0] + r[2], row 0 gets r[1], row 1 gets r[3].
        let r = ndarray::Array::from_shape_vec(
            (2, 2, 2),
            vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        )
        .unwrap()
        .into_dyn();
        let g = y.backward_with(r);
        let gw = g.get(&emb.weight().get()).unwrap();
        assert_eq!(
            gw.iter().copied().collect::<Vec<_>>(),
            [3.0, 4.0, 7.0, 8.0, 6.0, 8.0]
        );
        // The same through Module::forward with f32 ids.
        let y2 = emb.forward(&Tensor::new(arr2(&[[2.0f32, 0.0], [2.0, 1.0]])));
        assert_eq!(y2.to_vec(), y.to_vec());
    }

    #[test]
    fn embedding_init_is_standard_normal() {
        let store = ParamStore::new(9);
        let emb = embedding(&store.sub("e"), 100, 50);
        let v = emb.weight().get().to_vec();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.08,
            "mean {mean} var {var}"
        );
    }

    #[test]
    #[should_panic(expected = "Embedding: token id 3 out of range for vocabulary 3")]
    fn embedding_rejects_out_of_range_ids() {
        let store = ParamStore::new(0);
        embedding(&store.sub("e"), 3, 2).embed(&[0, 3], &[2]);
    }
}

//! Layers give bit-identical outputs and gradients on 1 thread and on several, and the same
//! seed builds the same model. Shapes are chosen large enough to cross the parallel
//! thresholds of the underlying ops.

use sparling_nn::{
    Activation, Adam, AdamConfig, BatchNormConfig, ConvConfig, DecoderMasks, Optimizer, ParamStore,
    TransformerConfig, batch_norm2d, conv2d, embedding, posenc, transformer_decoder,
    transformer_encoder,
};
use sparling_tensor::ops::AttentionMask;
use sparling_tensor::testing::{random_array, with_threads};
use sparling_tensor::{Module, ModuleT, Tensor};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// One forward/backward/Adam step of a small encoder-decoder; returns the output, the loss
/// and every parameter after the step.
fn seq2seq_step() -> Vec<Vec<u32>> {
    let store = ParamStore::new(5);
    let cfg = TransformerConfig::new(64, 4, 128).with_activation(Activation::Gelu);
    let enc = transformer_encoder(&store.sub("enc"), 1, cfg);
    let dec = transformer_decoder(&store.sub("dec"), 1, cfg);
    let tok = embedding(&store.sub("tok"), 12, 64);
    let (b, lm, lt) = (4, 48, 9);
    let src = Tensor::new(random_array(&[b, lm, 64], 1)).add(&posenc::sinusoidal_2d(6, 8, 64));
    let mut pad = vec![vec![false; lm]; b];
    pad[1][40..].iter_mut().for_each(|p| *p = true);
    let memory = enc.forward_masked(&src, &AttentionMask::new(false, Some(pad.clone())));
    let ids: Vec<usize> = (0..b * lt).map(|i| (i * 7) % 12).collect();
    let tgt = tok
        .embed(&ids, &[b, lt])
        .add(&posenc::sinusoidal_1d(lt, 64));
    let masks = DecoderMasks {
        tgt_key_padding: None,
        memory_key_padding: Some(pad),
    };
    let out = dec.forward_masked(&tgt, &memory, &masks);
    let targets: Vec<usize> = (0..b * lt).map(|i| (i * 5) % 64).collect();
    let loss = out.reshape(&[b * lt, 64]).cross_entropy(&targets, None);
    let grads = loss.backward();
    let mut opt = Adam::new(AdamConfig::with_lr(1e-3)).unwrap();
    opt.step(&store, &grads);
    let mut all = vec![bits(&out.to_vec()), bits(&[loss.item()])];
    all.extend(store.params().iter().map(|p| bits(&p.to_vec())));
    all
}

#[test]
fn transformer_is_thread_count_independent() {
    let one = with_threads(1, seq2seq_step);
    let many = with_threads(4, seq2seq_step);
    assert_eq!(one.len(), many.len());
    for (i, (a, b)) in one.iter().zip(&many).enumerate() {
        assert!(a == b, "tensor {i} differs between 1 and 4 threads");
    }
}

fn conv_bn_step() -> Vec<Vec<u32>> {
    let store = ParamStore::new(9);
    let conv = conv2d(&store.sub("conv"), 3, 8, 3, ConvConfig::same(3));
    let bn = batch_norm2d(&store.sub("bn"), 8, BatchNormConfig::default());
    let x = Tensor::new(random_array(&[4, 3, 32, 32], 2));
    let y = bn.forward_t(&conv.forward(&x), true).relu();
    let r = Tensor::new(random_array(&[4, 8, 32, 32], 3));
    let grads = y.mul(&r).sum_all().backward();
    let mut out = vec![bits(&y.to_vec())];
    for p in store.params() {
        out.push(bits(
            &grads.get(&p).unwrap().iter().copied().collect::<Vec<_>>(),
        ));
    }
    for b in store.buffers() {
        out.push(bits(&b.get().iter().copied().collect::<Vec<_>>()));
    }
    out
}

#[test]
fn conv_batch_norm_is_thread_count_independent() {
    let one = with_threads(1, conv_bn_step);
    let many = with_threads(3, conv_bn_step);
    assert!(
        one == many,
        "conv + batch norm differ between 1 and 3 threads"
    );
}

#[test]
fn same_seed_same_model_and_outputs() {
    let a = with_threads(2, seq2seq_step);
    let b = with_threads(2, seq2seq_step);
    assert!(a == b);
}

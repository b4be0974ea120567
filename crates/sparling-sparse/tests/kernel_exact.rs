//! The fast k-th value kernel against the sort-based reference: random shapes and values,
//! ties, duplicates, all-equal channels, signed zeros, tiny and large P, every sparsity regime,
//! hints carried across calls (drifting data), and 1 vs many threads.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sparling_sparse::kernel::{
    ChannelLayout, SelectHint, kth_index, kth_smallest, kth_smallest_per_channel_sorted,
};
use sparling_tensor::testing::with_threads;

/// Value generators that stress different paths.
fn values(rng: &mut ChaCha8Rng, len: usize, kind: usize) -> Vec<f32> {
    (0..len)
        .map(|i| match kind {
            0 => rng.random_range(-1.0f32..1.0),
            // Few distinct values: massive ties.
            1 => rng.random_range(0..4) as f32,
            // Mostly one value with rare others (ties at the answer).
            2 => {
                if rng.random::<f32>() < 0.9 {
                    1.5
                } else {
                    rng.random_range(-3.0f32..3.0)
                }
            }
            // Sorted increasing: adversarial for strided sampling.
            3 => i as f32 * 0.25,
            // Signed zeros and tiny/huge magnitudes.
            4 => match rng.random_range(0..5) {
                0 => 0.0,
                1 => -0.0,
                2 => rng.random_range(-1e-38f32..1e-38),
                3 => rng.random_range(-1.5e38f32..1.5e38),
                _ => rng.random_range(-1.0f32..1.0),
            },
            // Heavy tail.
            _ => {
                let u: f32 = rng.random_range(1e-6f32..1.0);
                u.powf(-3.0) * if rng.random::<bool>() { 1.0 } else { -1.0 }
            }
        })
        .collect()
}

fn check(data: &[f32], layout: &ChannelLayout, sparsity: f64, hints: &mut [Option<SelectHint>]) {
    let k = kth_index(layout.positions(), sparsity);
    let ks = vec![k; layout.channels];
    let fast = kth_smallest(data, layout, &ks, hints).unwrap();
    let slow = kth_smallest_per_channel_sorted(data, layout, &ks).unwrap();
    for (c, (f, s)) in fast.iter().zip(&slow).enumerate() {
        assert_eq!(
            f.to_bits(),
            s.to_bits(),
            "channel {c}: fast {f} vs sorted {s}, layout {layout:?}, k {k}, sparsity {sparsity}"
        );
    }
}

const SPARSITIES: [f64; 8] = [0.0, 0.01, 0.3, 0.5, 0.9, 0.999, 0.99995, 1.0 - 1e-9];

#[test]
fn kth_matches_sorted_reference_on_random_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let inners = [1usize, 2, 7, 64, 333, 2048, 6000];
    for trial in 0..120 {
        let n = rng.random_range(1..5);
        let c = rng.random_range(1..4);
        let inner = inners[rng.random_range(0..inners.len())];
        let layout = ChannelLayout {
            batch: n,
            channels: c,
            inner,
        };
        let kind = trial % 6;
        let data = values(&mut rng, layout.len(), kind);
        let sparsity = if trial % 3 == 0 {
            rng.random_range(0.0..1.0)
        } else {
            SPARSITIES[rng.random_range(0..SPARSITIES.len())]
        };
        check(&data, &layout, sparsity, &mut vec![None; c]);
    }
}

#[test]
fn kth_matches_on_edge_sizes_and_all_equal_channels() {
    // P = 1.
    let one = ChannelLayout {
        batch: 1,
        channels: 3,
        inner: 1,
    };
    for s in SPARSITIES {
        check(&[2.0, -1.0, 0.0], &one, s, &mut [None; 3]);
    }
    // All-equal channels, small and large, next to a normal one.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for inner in [5usize, 9000] {
        let layout = ChannelLayout {
            batch: 2,
            channels: 2,
            inner,
        };
        let mut data = vec![0.75f32; layout.len()];
        for n in 0..2 {
            for v in &mut data[(2 * n + 1) * inner..(2 * n + 2) * inner] {
                *v = rng.random_range(-1.0..1.0);
            }
        }
        let mut hints = vec![None; 2];
        for s in SPARSITIES {
            check(&data, &layout, s, &mut hints);
        }
    }
}

#[test]
fn kth_matches_on_large_channels_with_hints_across_calls() {
    // A drifting, rescaled distribution: the hints from the previous call bracket the answer
    // well, badly (jumps), or not at all; every answer must stay exact.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let layout = ChannelLayout {
        batch: 3,
        channels: 2,
        inner: 40_000,
    };
    for &sparsity in &[0.5, 0.9, 0.999, 0.99995, 0.0] {
        let mut hints = vec![None; 2];
        for step in 0..8 {
            let shift = match step {
                5 => 50.0,
                6 => -3.0,
                _ => 0.01 * step as f32,
            };
            let scale = if step == 7 { 1e-3 } else { 1.0 };
            let data: Vec<f32> = (0..layout.len())
                .map(|_| shift + scale * rng.random_range(-1.0f32..1.0))
                .collect();
            check(&data, &layout, sparsity, &mut hints);
        }
        // Ties appear after a non-tied history and vanish again.
        let tied = vec![1.0f32; layout.len()];
        check(&tied, &layout, sparsity, &mut hints);
        let data = values(&mut rng, layout.len(), 0);
        check(&data, &layout, sparsity, &mut hints);
        let data = values(&mut rng, layout.len(), 1);
        check(&data, &layout, sparsity, &mut hints);
    }
}

#[test]
fn kth_is_thread_count_independent() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let layout = ChannelLayout {
        batch: 2,
        channels: 3,
        inner: 30_000,
    };
    let data = values(&mut rng, layout.len(), 0);
    let ks = vec![kth_index(layout.positions(), 0.999); 3];
    let run = |threads| {
        with_threads(threads, || {
            let mut hints = vec![None; 3];
            let a = kth_smallest(&data, &layout, &ks, &mut hints).unwrap();
            let b = kth_smallest(&data, &layout, &ks, &mut hints).unwrap();
            (a, b)
        })
    };
    assert_eq!(run(1), run(4));
}

#[test]
fn kth_rejects_nan_and_infinity_naming_the_channel() {
    let layout = ChannelLayout {
        batch: 2,
        channels: 4,
        inner: 3000,
    };
    for (pos, bad) in [
        (3 * 3000 + 5, f32::NAN),
        (6 * 3000 + 2999, f32::NEG_INFINITY),
    ] {
        let mut data = vec![0.25f32; layout.len()];
        data[pos] = bad;
        let err = kth_smallest(&data, &layout, &[1; 4], &mut [None; 4]).unwrap_err();
        let (channel, _, _) = layout.locate(pos);
        let msg = err.to_string();
        assert!(msg.contains(&format!("channel {channel}")), "{msg}");
    }
}

#[test]
fn kth_and_forward_agree_between_vector_and_portable_kernels() {
    // 77 x 61 maps take the all-channel passes; 64 x 80 maps the per-channel pipeline.
    for (h, w) in [(77usize, 61usize), (64, 80)] {
        simd_case(h, w);
    }
}

fn simd_case(h: usize, w: usize) {
    use sparling_sparse::kernel::set_simd_enabled;
    use sparling_sparse::{SparseConfig, SparseLayer};
    use sparling_tensor::Tensor;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let shape = [3usize, 2, h, w];
    let layout = ChannelLayout {
        batch: 3,
        channels: 2,
        inner: h * w,
    };
    let data = values(&mut rng, layout.len(), 0);
    let run = |simd: bool| {
        set_simd_enabled(simd);
        let mut out = Vec::new();
        for &s in &[0.5, 0.999] {
            let ks = vec![kth_index(layout.positions(), s); 2];
            out.push(kth_smallest(&data, &layout, &ks, &mut [None; 2]).unwrap());
            let layer = SparseLayer::new(SparseConfig::new(2).with_density(1.0 - s)).unwrap();
            let x =
                Tensor::param(ndarray::ArrayD::from_shape_vec(&shape[..], data.clone()).unwrap());
            let y = layer.forward(&x, true).unwrap();
            let g = y.backward_with(sparling_tensor::testing::random_array(&shape, 6));
            out.push(y.to_vec());
            out.push(g.get(&x).unwrap().iter().copied().collect());
            out.push(layer.thresholds());
            // BatchNorm + Sparse over several steps (the one-pass path at high sparsity).
            let bn =
                sparling_sparse::BatchNormSparse::new(sparling_sparse::BatchNormSparseConfig::new(
                    SparseConfig::new(2).with_density(1.0 - s),
                ))
                .unwrap();
            for step in 0..3 {
                let xs = Tensor::param(
                    ndarray::ArrayD::from_shape_vec(
                        &shape[..],
                        data.iter().map(|v| v + step as f32 * 0.01).collect(),
                    )
                    .unwrap(),
                );
                let y = bn.forward(&xs, true).unwrap();
                let g = y.backward_with(sparling_tensor::testing::random_array(&shape, 7));
                out.push(y.to_vec());
                out.push(g.get(&xs).unwrap().iter().copied().collect());
                out.push(bn.thresholds());
            }
        }
        set_simd_enabled(true);
        out
    };
    let portable = run(false);
    let vector = run(true);
    assert_eq!(portable.len(), vector.len());
    for (a, b) in portable.iter().zip(&vector) {
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}

//! The Sparse layer end to end: literals, variants, statistical calibration, save/restore,
//! thread-count independence and errors.

use ndarray::{ArrayD, IxDyn};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sparling_sparse::kernel::{ChannelLayout, channel_values, kth_index, kth_smallest_sorted};
use sparling_sparse::{
    BatchNormSparse, BatchNormSparseConfig, SparseConfig, SparseLayer, ThresholdMode,
};
use sparling_tensor::testing::{random_array, with_threads};
use sparling_tensor::{Tensor, no_grad};

fn tensor(shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::new(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
}

#[test]
fn sparse_layer_training_updates_before_subtracting() {
    // One channel, P = 4, density 0.5: k = 2, q = 2, t = 0.9 * 0 + 0.1 * 2 = 0.2, and the same
    // batch already uses it: out = x - 0.2. Second step: t = 0.9 * 0.2 + 0.2 = 0.38.
    let l = SparseLayer::new(SparseConfig::new(1)).unwrap();
    let x = tensor(&[4, 1], vec![1.0, 2.0, 3.0, 4.0]);
    let y = l.forward(&x, true).unwrap();
    assert_eq!(l.thresholds(), vec![0.2]);
    assert_eq!(y.to_vec(), vec![0.8, 1.8, 2.8, 3.8]);
    l.forward(&x, true).unwrap();
    assert_eq!(l.thresholds(), vec![0.9f32 * 0.2 + 0.1 * 2.0]);
    // Eval: frozen.
    let t = l.thresholds();
    let y = l
        .forward(&tensor(&[4, 1], vec![0.0, 0.5, 9.0, 0.3]), false)
        .unwrap();
    assert_eq!(l.thresholds(), t);
    assert_eq!(y.to_vec()[..2], [0.0, 0.5 - t[0]]);
}

#[test]
fn sparse_layer_per_channel_vs_single_threshold() {
    // Two channels with very different scales. MT: each channel keeps its top half; ST: the
    // single threshold is the median of all 8 values.
    let x = tensor(
        &[2, 2, 2],
        vec![1.0, 2.0, 100.0, 200.0, 3.0, 4.0, 300.0, 400.0],
    );
    let mt = SparseLayer::new(SparseConfig::new(2).with_momentum(1.0)).unwrap();
    mt.forward(&x, true).unwrap();
    assert_eq!(mt.thresholds(), vec![2.0, 200.0]);
    let st = SparseLayer::new(SparseConfig::new(2).single_threshold().with_momentum(1.0)).unwrap();
    let y = st.forward(&x, true).unwrap();
    assert_eq!(st.thresholds(), vec![4.0]);
    // Every value of channel 0 is at or below 4: the whole channel is silenced.
    assert_eq!(y.to_vec()[..2], [0.0, 0.0]);
    assert_eq!(st.config().mode, ThresholdMode::Single);
}

#[test]
fn shifted_is_the_output_before_the_relu() {
    // z - t with frozen thresholds, per channel (MT) or one for all (ST); its ReLU is the
    // evaluation output, bit for bit.
    for layer in [
        SparseLayer::new(SparseConfig::new(3).with_density(0.2)).unwrap(),
        SparseLayer::new(SparseConfig::new(3).with_density(0.2).single_threshold()).unwrap(),
    ] {
        for step in 0..3 {
            layer
                .forward(&Tensor::new(random_array(&[4, 3, 5, 6], step)), true)
                .unwrap();
        }
        let t = layer.thresholds();
        let x = Tensor::new(random_array(&[2, 3, 5, 6], 9));
        let before = layer.state();
        let shifted = layer.shifted(&x).unwrap();
        assert_eq!(layer.state(), before, "the thresholds are frozen");
        let xs = x.to_vec();
        for (i, (&s, &v)) in shifted.to_vec().iter().zip(&xs).enumerate() {
            let c = (i / 30) % 3;
            let tc = if t.len() == 1 { t[0] } else { t[c] };
            assert_eq!(s, v - tc);
        }
        let eval = layer.forward(&x, false).unwrap().to_vec();
        let relu: Vec<f32> = shifted.to_vec().iter().map(|&v| v.max(0.0)).collect();
        assert_eq!(eval, relu);
        // Some values sit below their threshold: the map is not clipped.
        assert!(shifted.to_vec().iter().any(|&v| v < 0.0));
        assert!(
            layer
                .shifted(&Tensor::new(random_array(&[2, 4, 5], 1)))
                .is_err()
        );
    }
}

#[test]
fn sparse_layer_accumulated_updates_on_the_concatenation() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let density = 0.01;
    let shape = [2usize, 3, 4, 5];
    let layout = ChannelLayout::of_shape("t", &shape, None).unwrap();
    let l = SparseLayer::new(SparseConfig::new(3).with_density(density).accumulated(10.0)).unwrap();
    let mut t = [0.0f32; 3];
    let mut pending: Vec<Vec<f32>> = vec![Vec::new(); 3];
    let mut updates = 0;
    for _ in 0..60 {
        let v: Vec<f32> = (0..layout.len())
            .map(|_| rng.random_range(-2.0..2.0))
            .collect();
        for c in 0..3 {
            pending[c].extend(channel_values(&v, &layout, c));
        }
        let y = l.forward(&tensor(&shape, v.clone()), true).unwrap();
        // 40 positions per batch: an update every 25 batches (1000 * 0.01 = 10).
        if pending[0].len() as f64 * density >= 10.0 {
            let k = kth_index(pending[0].len(), 1.0 - density);
            for c in 0..3 {
                t[c] = t[c] * 0.9 + kth_smallest_sorted(&pending[c], k) * 0.1;
            }
            pending.iter_mut().for_each(Vec::clear);
            updates += 1;
        }
        assert_eq!(l.thresholds(), t.to_vec());
        let want: Vec<f32> = v
            .iter()
            .enumerate()
            .map(|(i, &z)| (z - t[layout.channel_of(i)]).max(0.0))
            .collect();
        assert_eq!(y.to_vec(), want);
    }
    assert_eq!(updates, 2);
}

/// Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// A Gaussian batch `(2, C, P/2)` with per-channel mean and scale, stratified (one value per
/// probability stratum `[j/P, (j+1)/P)`, jittered uniformly, then shuffled): every value is
/// N(mean, scale^2), and the batch's empirical quantiles match the distribution's to within one
/// stratum, so the calibration can be checked to 1% at densities down to 1e-4 with a few
/// million values instead of the ~1e8 that independent draws would need.
fn stratified_batch(rng: &mut ChaCha8Rng, p: usize, mean: &[f64], scale: &[f64]) -> Tensor {
    let c_n = mean.len();
    let layout = ChannelLayout {
        batch: 2,
        channels: c_n,
        inner: p / 2,
    };
    let mut data = vec![0.0f32; layout.len()];
    for c in 0..c_n {
        let mut v: Vec<f32> = (0..p)
            .map(|j| {
                let u = (j as f64 + rng.random::<f64>()) / p as f64;
                (mean[c] + scale[c] * normal_quantile(u.clamp(1e-300, 1.0 - 1e-16))) as f32
            })
            .collect();
        v.shuffle(rng);
        for (pos, val) in v.into_iter().enumerate() {
            data[layout.flat_index(c, pos)] = val;
        }
    }
    tensor(&[2, c_n, p / 2], data)
}

#[test]
fn sparse_layer_statistical_calibration() {
    // After warm-up on Gaussian inputs with per-channel means and scales that differ, the
    // fraction of values kept per channel (in eval, on a fresh batch) is within 1% of the
    // target density, relative to the density, for densities 0.5 down to 1e-4.
    let mean = [-1.5, 3.0];
    let scale = [0.5, 2.0];
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for &density in &[0.5, 0.1, 1e-2, 1e-3, 1e-4] {
        // At least 300 expected survivors per channel and batch (the quantisation of the
        // measured density is 1 / (P * density)).
        let p = ((300.0 / density) as usize).max(40_000) / 2 * 2;
        let batches: Vec<Tensor> = (0..3)
            .map(|_| stratified_batch(&mut rng, p, &mean, &scale))
            .collect();
        let layer = SparseLayer::new(SparseConfig::new(2).with_density(density)).unwrap();
        no_grad(|| {
            for step in 0..120 {
                layer.forward(&batches[step % 3], true).unwrap();
            }
        });
        let fresh = stratified_batch(&mut rng, p, &mean, &scale);
        let y = no_grad(|| layer.forward(&fresh, false)).unwrap();
        let layout = ChannelLayout {
            batch: 2,
            channels: 2,
            inner: p / 2,
        };
        let out = y.to_vec();
        for c in 0..2 {
            let kept = channel_values(&out, &layout, c)
                .iter()
                .filter(|&&v| v > 0.0)
                .count();
            let measured = kept as f64 / p as f64;
            let rel = (measured - density).abs() / density;
            assert!(
                rel <= 0.01,
                "density {density}, channel {c}: kept {measured:.6e} ({:.3}% off), P = {p}",
                100.0 * rel
            );
        }
    }
}

/// What the Sparse layer and the fused BatchNorm + Sparse layer share, for the tests that run
/// both: a forward, the density, and the state (as JSON, to compare and restore).
trait Layer {
    fn fwd(&self, x: &Tensor, train: bool) -> Tensor;
    fn density_now(&self) -> f64;
    fn set_density_to(&self, density: f64);
    fn state_json(&self) -> String;
    fn load_json(&self, json: &str);
}

impl Layer for SparseLayer {
    fn fwd(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward(x, train).unwrap()
    }
    fn density_now(&self) -> f64 {
        self.density()
    }
    fn set_density_to(&self, density: f64) {
        self.set_density(density).unwrap()
    }
    fn state_json(&self) -> String {
        serde_json::to_string(&self.state()).unwrap()
    }
    fn load_json(&self, json: &str) {
        self.load_state(serde_json::from_str(json).unwrap())
            .unwrap()
    }
}

impl Layer for BatchNormSparse {
    fn fwd(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward(x, train).unwrap()
    }
    fn density_now(&self) -> f64 {
        self.density()
    }
    fn set_density_to(&self, density: f64) {
        self.set_density(density).unwrap()
    }
    fn state_json(&self) -> String {
        serde_json::to_string(&self.state()).unwrap()
    }
    fn load_json(&self, json: &str) {
        self.load_state(serde_json::from_str(json).unwrap())
            .unwrap()
    }
}

fn check_resume(make: &dyn Fn() -> Box<dyn Layer>, shape: &[usize], steps: usize) {
    let a = make();
    let input =
        |i: usize| Tensor::param(random_array(shape, 100 + i as u64).mapv(|v| 3.0 * v + 0.2));
    for i in 0..steps {
        a.fwd(&input(i), true);
        if i == 2 {
            a.set_density_to(a.density_now() * 0.75);
        }
    }
    let b = make();
    b.load_json(&a.state_json());
    for i in steps..steps + 6 {
        let train = i % 4 != 3;
        let x = input(i);
        let ya = a.fwd(&x, train);
        let yb = b.fwd(&x, train);
        let bits = |t: &Tensor| t.to_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&ya), bits(&yb));
        assert_eq!(a.state_json(), b.state_json());
    }
}

#[test]
fn sparse_layers_save_and_restore_bit_for_bit() {
    let shape = [2usize, 3, 9, 11];
    check_resume(
        &|| Box::new(SparseLayer::new(SparseConfig::new(3)).unwrap()),
        &shape,
        5,
    );
    check_resume(
        &|| {
            Box::new(
                SparseLayer::new(SparseConfig::new(3).single_threshold().with_density(0.01))
                    .unwrap(),
            )
        },
        &shape,
        5,
    );
    check_resume(
        &|| {
            Box::new(
                SparseLayer::new(SparseConfig::new(3).with_density(0.002).accumulated(10.0))
                    .unwrap(),
            )
        },
        &shape,
        7,
    );
    check_resume(
        &|| {
            Box::new(
                BatchNormSparse::new(BatchNormSparseConfig::new(
                    SparseConfig::new(3).with_density(0.05),
                ))
                .unwrap(),
            )
        },
        &shape,
        5,
    );
    check_resume(
        &|| {
            Box::new(
                BatchNormSparse::new(
                    BatchNormSparseConfig::new(
                        SparseConfig::new(3).with_density(0.002).accumulated(10.0),
                    )
                    .with_affine(false),
                )
                .unwrap(),
            )
        },
        &[2, 3, 40],
        9,
    );
    // The layer itself (config + state) also serialises.
    let l = SparseLayer::new(SparseConfig::new(3).with_density(0.1)).unwrap();
    l.forward(&Tensor::new(random_array(&shape, 1)), true)
        .unwrap();
    let back: SparseLayer = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
    assert_eq!(back.state(), l.state());
    assert_eq!(back.config(), l.config());
}

#[test]
fn sparse_layer_is_thread_count_independent() {
    let shape = [3usize, 4, 50, 60];
    for cfg in [
        SparseConfig::new(4).with_density(0.5),
        SparseConfig::new(4).with_density(1e-3),
        SparseConfig::new(4).single_threshold().with_density(0.05),
    ] {
        let run = |threads| {
            with_threads(threads, || {
                let l = SparseLayer::new(cfg.clone()).unwrap();
                let mut out = Vec::new();
                for step in 0..3 {
                    let x = Tensor::param(random_array(&shape, 7 + step));
                    let y = l.forward(&x, true).unwrap();
                    let g = y.backward_with(random_array(&shape, 17 + step));
                    out.push(y.to_vec());
                    out.push(g.get(&x).unwrap().iter().copied().collect());
                    out.push(l.thresholds());
                }
                out
            })
        };
        assert_eq!(run(1), run(4));
    }
}

#[test]
fn sparse_layer_errors() {
    let l = SparseLayer::new(SparseConfig::new(3)).unwrap();
    assert!(l.forward(&Tensor::zeros(&[2, 4, 5]), true).is_err());
    assert!(l.forward(&Tensor::zeros(&[5]), true).is_err());
    assert!(l.forward(&Tensor::zeros(&[0, 3, 5]), true).is_err());
    assert!(
        l.set_density(0.0).is_err()
            && l.set_density(1.5).is_err()
            && l.set_density(f64::NAN).is_err()
    );
    assert!(SparseLayer::new(SparseConfig::new(3).with_momentum(0.0)).is_err());
    let mut v = random_array(&[2, 3, 4], 2);
    v[[1, 2, 3]] = f32::NAN;
    let before = l.state();
    let err = l.forward(&Tensor::new(v), true).unwrap_err().to_string();
    assert!(
        err.contains("channel 2") && err.contains("batch item 1"),
        "{err}"
    );
    assert_eq!(l.state(), before);
}

#[test]
fn single_pass_and_two_pass_training_agree_bit_for_bit() {
    // A layer that keeps its selection hints takes the one-pass path at high sparsity (the
    // selection pass also zeroes the output); a twin restored from the same state before every
    // step has no hints and takes the two-pass path. Outputs, gradients and states must agree.
    let shape = [3usize, 3, 40, 50];
    let bits = |v: Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for density in [1e-3, 0.5] {
        let make = || -> Vec<Box<dyn Layer>> {
            vec![
                Box::new(SparseLayer::new(SparseConfig::new(3).with_density(density)).unwrap()),
                Box::new(
                    BatchNormSparse::new(BatchNormSparseConfig::new(
                        SparseConfig::new(3).with_density(density),
                    ))
                    .unwrap(),
                ),
            ]
        };
        for (a, b) in make().into_iter().zip(make()) {
            for step in 0..6 {
                b.load_json(&a.state_json());
                let x = Tensor::param(random_array(&shape, 300 + step).mapv(|v| 2.0 * v + 0.3));
                let ya = a.fwd(&x, true);
                let yb = b.fwd(&x, true);
                assert_eq!(
                    bits(ya.to_vec()),
                    bits(yb.to_vec()),
                    "density {density} step {step}"
                );
                let g = random_array(&shape, 400 + step);
                let ga = ya.backward_with(g.clone());
                let gb = yb.backward_with(g);
                assert_eq!(
                    bits(ga.get(&x).unwrap().iter().copied().collect()),
                    bits(gb.get(&x).unwrap().iter().copied().collect())
                );
                assert_eq!(a.state_json(), b.state_json());
            }
        }
    }
}

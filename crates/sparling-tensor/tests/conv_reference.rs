//! The fast convolutions (im2col + GEMM, 1x1 fast path, stride-1 input gradient as a flipped
//! forward convolution, col2im otherwise) against a naive direct convolution in f64: forward
//! output and all three gradients, on fixed edge cases and random shapes (odd sizes, stride 2,
//! dilation 2, padding, 1x1, Cin = 1, several im2col row tiles, the parallel path), plus
//! thread-count independence.

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sparling_tensor::Tensor;
use sparling_tensor::ops::{Conv1dParams, Conv2dParams};

/// One 2-D case: input (n, cin, h, w), weight (cout, cin, kh, kw), parameters, bias or not.
#[derive(Clone, Copy, Debug)]
struct Case {
    n: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    p: Conv2dParams,
    bias: bool,
}

impl Case {
    fn out_hw(&self) -> (usize, usize) {
        let [sh, sw] = self.p.stride;
        let [ph, pw] = self.p.padding;
        let [dh, dw] = self.p.dilation;
        (
            (self.h + 2 * ph - dh * (self.kh - 1) - 1) / sh + 1,
            (self.w + 2 * pw - dw * (self.kw - 1) - 1) / sw + 1,
        )
    }
}

fn random(shape: &[usize], rng: &mut ChaCha8Rng) -> ArrayD<f32> {
    ArrayD::from_shape_fn(IxDyn(shape), |_| rng.random_range(-1.0f32..1.0))
}

/// Direct convolution in f64: returns (y, dx, dw, db) for upstream gradient `dy`.
fn naive(
    c: &Case,
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    b: Option<&ArrayD<f32>>,
    dy: &ArrayD<f32>,
) -> [ArrayD<f32>; 4] {
    let (ho, wo) = c.out_hw();
    let [sh, sw] = c.p.stride;
    let [ph, pw] = c.p.padding;
    let [dh, dwd] = c.p.dilation;
    let mut y = ArrayD::<f64>::zeros(IxDyn(&[c.n, c.cout, ho, wo]));
    let mut dx = ArrayD::<f64>::zeros(IxDyn(x.shape()));
    let mut dw = ArrayD::<f64>::zeros(IxDyn(w.shape()));
    let mut db = ArrayD::<f64>::zeros(IxDyn(&[c.cout]));
    for n in 0..c.n {
        for co in 0..c.cout {
            for oy in 0..ho {
                for ox in 0..wo {
                    let g = dy[[n, co, oy, ox]] as f64;
                    let mut acc = b.map_or(0.0, |b| b[[co]] as f64);
                    db[[co]] += g;
                    for ci in 0..c.cin {
                        for i in 0..c.kh {
                            for j in 0..c.kw {
                                let iy = (oy * sh + i * dh) as isize - ph as isize;
                                let ix = (ox * sw + j * dwd) as isize - pw as isize;
                                if iy < 0 || ix < 0 || iy >= c.h as isize || ix >= c.w as isize {
                                    continue;
                                }
                                let (iy, ix) = (iy as usize, ix as usize);
                                let xv = x[[n, ci, iy, ix]] as f64;
                                let wv = w[[co, ci, i, j]] as f64;
                                acc += wv * xv;
                                dx[[n, ci, iy, ix]] += wv * g;
                                dw[[co, ci, i, j]] += xv * g;
                            }
                        }
                    }
                    y[[n, co, oy, ox]] = acc;
                }
            }
        }
    }
    [y, dx, dw, db].map(|a| a.mapv(|v| v as f32))
}

#[track_caller]
fn assert_close(what: &str, case: &Case, got: &ArrayD<f32>, want: &ArrayD<f32>) {
    assert_eq!(got.shape(), want.shape(), "{what} shape, {case:?}");
    for (i, (a, b)) in got.iter().zip(want.iter()).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 + 1e-4 * b.abs(),
            "{what} element {i}: {a} vs {b}, {case:?}"
        );
    }
}

fn check(case: &Case, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = random(&[case.n, case.cin, case.h, case.w], &mut rng);
    let w = random(&[case.cout, case.cin, case.kh, case.kw], &mut rng);
    let b = case.bias.then(|| random(&[case.cout], &mut rng));
    let (ho, wo) = case.out_hw();
    let dy = random(&[case.n, case.cout, ho, wo], &mut rng);
    let [y_ref, dx_ref, dw_ref, db_ref] = naive(case, &x, &w, b.as_ref(), &dy);

    let xt = Tensor::param(x);
    let wt = Tensor::param(w);
    let bt = b.map(Tensor::param);
    let y = xt.conv2d(&wt, bt.as_ref(), case.p);
    assert_close("forward", case, y.data(), &y_ref);
    let g = y.backward_with(dy);
    assert_close("dx", case, g.get(&xt).expect("dx"), &dx_ref);
    assert_close("dw", case, g.get(&wt).expect("dw"), &dw_ref);
    if let Some(bt) = &bt {
        assert_close("db", case, g.get(bt).expect("db"), &db_ref);
    }
}

fn params(s: [usize; 2], p: [usize; 2], d: [usize; 2]) -> Conv2dParams {
    Conv2dParams {
        stride: s,
        padding: p,
        dilation: d,
    }
}

#[test]
fn conv2d_matches_direct_convolution_on_edge_cases() {
    let cases = [
        // 3x3 "same", odd sizes.
        Case {
            n: 2,
            cin: 3,
            h: 7,
            w: 5,
            cout: 4,
            kh: 3,
            kw: 3,
            p: params([1, 1], [1, 1], [1, 1]),
            bias: true,
        },
        // 1x1 fast path, Cin = 1.
        Case {
            n: 3,
            cin: 1,
            h: 5,
            w: 3,
            cout: 2,
            kh: 1,
            kw: 1,
            p: Conv2dParams::default(),
            bias: true,
        },
        // 1x1 with stride 2 (not the fast path).
        Case {
            n: 1,
            cin: 3,
            h: 7,
            w: 6,
            cout: 2,
            kh: 1,
            kw: 1,
            p: params([2, 2], [0, 0], [1, 1]),
            bias: false,
        },
        // Stride 2, padding 1: the input gradient goes through col2im.
        Case {
            n: 2,
            cin: 2,
            h: 9,
            w: 8,
            cout: 3,
            kh: 3,
            kw: 3,
            p: params([2, 2], [1, 1], [1, 1]),
            bias: true,
        },
        // Dilation 2, padding 2.
        Case {
            n: 1,
            cin: 2,
            h: 9,
            w: 11,
            cout: 2,
            kh: 3,
            kw: 3,
            p: params([1, 1], [2, 2], [2, 2]),
            bias: false,
        },
        // Padding beyond the kernel reach (stride 1, col2im path).
        Case {
            n: 1,
            cin: 1,
            h: 3,
            w: 4,
            cout: 2,
            kh: 3,
            kw: 2,
            p: params([1, 1], [3, 2], [1, 1]),
            bias: true,
        },
        // Kernel as large as the image, no padding: a 1x1 output.
        Case {
            n: 2,
            cin: 2,
            h: 4,
            w: 3,
            cout: 3,
            kh: 4,
            kw: 3,
            p: Conv2dParams::default(),
            bias: true,
        },
        // Anisotropic everything.
        Case {
            n: 1,
            cin: 2,
            h: 10,
            w: 7,
            cout: 3,
            kh: 2,
            kw: 3,
            p: params([3, 1], [0, 2], [2, 1]),
            bias: true,
        },
        // im2col path (cout < 8), 8 row tiles per image (k = 144, 400-wide rows: 4 rows per
        // 1 MiB tile), parallel; the input gradient is the flipped forward convolution.
        Case {
            n: 1,
            cin: 16,
            h: 30,
            w: 400,
            cout: 3,
            kh: 3,
            kw: 3,
            p: params([1, 1], [1, 1], [1, 1]),
            bias: true,
        },
        // Stride 2 with 4 row tiles per image: col2im input gradient over several tiles.
        Case {
            n: 1,
            cin: 16,
            h: 40,
            w: 700,
            cout: 4,
            kh: 3,
            kw: 3,
            p: params([2, 2], [1, 1], [1, 1]),
            bias: true,
        },
        // Parallel 1x1 (pointwise) path.
        Case {
            n: 4,
            cin: 64,
            h: 30,
            w: 30,
            cout: 16,
            kh: 1,
            kw: 1,
            p: Conv2dParams::default(),
            bias: true,
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        check(case, i as u64);
    }
}

#[test]
fn conv2d_winograd_path_matches_direct_convolution() {
    // 3x3, stride 1, no dilation, at least 8 channels on both sides: Winograd F(2x2, 3x3) for
    // the forward, the weight gradient and (through the flipped kernel) the input gradient.
    let s1 = |p: [usize; 2]| params([1, 1], p, [1, 1]);
    let cases = [
        Case {
            n: 2,
            cin: 8,
            h: 7,
            w: 5,
            cout: 9,
            kh: 3,
            kw: 3,
            p: s1([1, 1]),
            bias: true,
        },
        Case {
            n: 1,
            cin: 9,
            h: 6,
            w: 9,
            cout: 8,
            kh: 3,
            kw: 3,
            p: s1([0, 0]),
            bias: false,
        },
        Case {
            n: 1,
            cin: 8,
            h: 5,
            w: 8,
            cout: 8,
            kh: 3,
            kw: 3,
            p: s1([2, 1]),
            bias: true,
        },
        Case {
            n: 2,
            cin: 8,
            h: 3,
            w: 3,
            cout: 8,
            kh: 3,
            kw: 3,
            p: s1([0, 2]),
            bias: true,
        },
        Case {
            n: 1,
            cin: 8,
            h: 1,
            w: 12,
            cout: 8,
            kh: 3,
            kw: 3,
            p: s1([1, 1]),
            bias: false,
        },
        // Several blocks of tile rows per image, parallel path.
        Case {
            n: 3,
            cin: 32,
            h: 41,
            w: 37,
            cout: 16,
            kh: 3,
            kw: 3,
            p: s1([1, 1]),
            bias: true,
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        check(case, 500 + i as u64);
    }
}

#[test]
fn conv2d_matches_direct_convolution_on_random_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    for i in 0..40 {
        let kh = rng.random_range(1..4);
        let kw = rng.random_range(1..4);
        let p = params(
            [rng.random_range(1..3), rng.random_range(1..3)],
            [rng.random_range(0..3), rng.random_range(0..3)],
            [rng.random_range(1..3), rng.random_range(1..3)],
        );
        let min_h = (p.dilation[0] * (kh - 1) + 1)
            .saturating_sub(2 * p.padding[0])
            .max(1);
        let min_w = (p.dilation[1] * (kw - 1) + 1)
            .saturating_sub(2 * p.padding[1])
            .max(1);
        let case = Case {
            n: rng.random_range(1..4),
            cin: rng.random_range(1..5),
            h: rng.random_range(min_h..min_h + 8),
            w: rng.random_range(min_w..min_w + 8),
            cout: rng.random_range(1..5),
            kh,
            kw,
            p,
            bias: rng.random_range(0..2) == 1,
        };
        check(&case, 1000 + i);
    }
}

#[test]
fn conv1d_matches_direct_convolution() {
    // conv1d(x, w) equals conv2d on the (N, C, 1, L) view, checked against the direct 2-D
    // reference with h = kh = 1.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for i in 0..12 {
        let k = rng.random_range(1..5);
        let p1 = Conv1dParams {
            stride: rng.random_range(1..3),
            padding: rng.random_range(0..3),
            dilation: rng.random_range(1..3),
        };
        let reach = p1.dilation * (k - 1) + 1;
        let len = reach.saturating_sub(2 * p1.padding).max(1) + rng.random_range(0..9);
        let case = Case {
            n: rng.random_range(1..3),
            cin: rng.random_range(1..4),
            h: 1,
            w: len,
            cout: rng.random_range(1..4),
            kh: 1,
            kw: k,
            p: params([1, p1.stride], [0, p1.padding], [1, p1.dilation]),
            bias: i % 2 == 0,
        };
        let x = random(&[case.n, case.cin, 1, case.w], &mut rng);
        let w = random(&[case.cout, case.cin, 1, k], &mut rng);
        let b = case.bias.then(|| random(&[case.cout], &mut rng));
        let (_, wo) = case.out_hw();
        let dy = random(&[case.n, case.cout, 1, wo], &mut rng);
        let [y_ref, dx_ref, dw_ref, db_ref] = naive(&case, &x, &w, b.as_ref(), &dy);
        let squeeze = |a: ArrayD<f32>| {
            let s = a.shape().to_vec();
            a.into_shape_with_order(IxDyn(&[s[0], s[1], s[3]])).unwrap()
        };
        let xt = Tensor::param(squeeze(x));
        let wt = Tensor::param(squeeze(w));
        let bt = b.map(Tensor::param);
        let y = xt.conv1d(&wt, bt.as_ref(), p1);
        assert_close("conv1d forward", &case, y.data(), &squeeze(y_ref));
        let g = y.backward_with(squeeze(dy));
        assert_close("conv1d dx", &case, g.get(&xt).unwrap(), &squeeze(dx_ref));
        assert_close("conv1d dw", &case, g.get(&wt).unwrap(), &squeeze(dw_ref));
        if let Some(bt) = &bt {
            assert_close("conv1d db", &case, g.get(bt).unwrap(), &db_ref);
        }
    }
}

#[test]
fn conv2d_is_thread_count_independent_on_all_paths() {
    let cases = [
        (Conv2dParams::same(3), 3),
        (params([2, 2], [1, 1], [1, 1]), 3),
        (Conv2dParams::default(), 1),
    ];
    for (i, &(p, k)) in cases.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
        let x = random(&[6, 12, 30, 30], &mut rng);
        let w = random(&[10, 12, k, k], &mut rng);
        let b = random(&[10], &mut rng);
        let run = || {
            let (xt, wt, bt) = (
                Tensor::param(x.clone()),
                Tensor::param(w.clone()),
                Tensor::param(b.clone()),
            );
            let y = xt.conv2d(&wt, Some(&bt), p);
            let dy = ArrayD::from_shape_fn(IxDyn(y.shape()), |d| {
                ((d[0] * 7 + d[1] * 5 + d[2] * 3 + d[3]) % 11) as f32 - 5.0
            });
            let g = y.backward_with(dy);
            let grads = [&xt, &wt, &bt].map(|t| g.get(t).unwrap().clone());
            (y.to_vec(), grads)
        };
        let pool = |t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        };
        let one = pool(1).install(run);
        let many = pool(3).install(run);
        assert!(one == many, "case {i}: results depend on the thread count");
    }
}

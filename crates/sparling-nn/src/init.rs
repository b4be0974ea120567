//! Seeded parameter initialisers.
//!
//! Fans follow PyTorch's convention for a weight of shape `(out, in, k...)`: `fan_in = in *
//! prod(k)`, `fan_out = out * prod(k)`. A 1-D shape `(n,)` has `fan_in = fan_out = n`, a 0-D
//! shape has fans of 1. Layers of this crate store their weights in that layout (a [`Linear`]
//! weight is `(out, in)`), so the default initialisers match PyTorch's:
//!
//! * weights: [`Init::kaiming_uniform_default`] (Kaiming uniform with `a = sqrt(5)`, i.e.
//!   uniform in `±1/sqrt(fan_in)`),
//! * biases: [`Init::FanInUniform`] (uniform in `±1/sqrt(fan_in)` of the *weight*).
//!
//! Each parameter draws from its own [`ChaCha8Rng`] seeded by [`param_seed`] from the store's
//! seed and the parameter's full name, so a parameter's initial value does not depend on which
//! other layers were built, or in which order.
//!
//! [`Linear`]: crate::Linear

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How to fill a new parameter or buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Every entry equal to the value.
    Constant(f32),
    /// Uniform in `[lo, hi)`.
    Uniform {
        /// Lower bound (inclusive).
        lo: f32,
        /// Upper bound (exclusive).
        hi: f32,
    },
    /// Gaussian with the given mean and standard deviation (Box-Muller on the seeded stream).
    Normal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        std: f32,
    },
    /// Kaiming (He) uniform: uniform in `±gain * sqrt(3 / fan_in)` with the leaky-ReLU gain
    /// `sqrt(2 / (1 + a^2))`. `a = 0` suits ReLU; `a = sqrt(5)` is PyTorch's Linear/Conv
    /// default (see [`Init::kaiming_uniform_default`]).
    KaimingUniform {
        /// Negative slope of the leaky ReLU that follows.
        a: f32,
    },
    /// Xavier (Glorot) uniform: uniform in `±gain * sqrt(6 / (fan_in + fan_out))`.
    XavierUniform {
        /// Scale factor (1 for linear/sigmoid layers).
        gain: f32,
    },
    /// Uniform in `±1/sqrt(fan_in)` with an explicit fan-in: PyTorch's default bias
    /// initialisation, where `fan_in` is the fan-in of the layer's weight.
    FanInUniform {
        /// The fan-in of the weight the bias belongs to.
        fan_in: usize,
    },
}

impl Init {
    /// PyTorch's default weight initialisation of Linear and Conv layers: Kaiming uniform with
    /// `a = sqrt(5)`, which is uniform in `±1/sqrt(fan_in)`.
    pub fn kaiming_uniform_default() -> Init {
        Init::KaimingUniform { a: 5.0f32.sqrt() }
    }

    /// An array of `shape` filled according to `self`, drawing from `rng`.
    pub fn fill(&self, shape: &[usize], rng: &mut ChaCha8Rng) -> ArrayD<f32> {
        let (fan_in, fan_out) = fans(shape);
        let uniform = |bound: f32, rng: &mut ChaCha8Rng| {
            ArrayD::from_shape_fn(IxDyn(shape), |_| {
                if bound > 0.0 {
                    rng.random_range(-bound..bound)
                } else {
                    0.0
                }
            })
        };
        match *self {
            Init::Zeros => ArrayD::zeros(IxDyn(shape)),
            Init::Ones => ArrayD::ones(IxDyn(shape)),
            Init::Constant(v) => ArrayD::from_elem(IxDyn(shape), v),
            Init::Uniform { lo, hi } => ArrayD::from_shape_fn(IxDyn(shape), |_| {
                if hi > lo {
                    rng.random_range(lo..hi)
                } else {
                    lo
                }
            }),
            Init::Normal { mean, std } => {
                ArrayD::from_shape_fn(IxDyn(shape), |_| mean + std * standard_normal(rng))
            }
            Init::KaimingUniform { a } => {
                let gain = (2.0 / (1.0 + a as f64 * a as f64)).sqrt();
                uniform((gain * (3.0 / fan_in.max(1) as f64).sqrt()) as f32, rng)
            }
            Init::XavierUniform { gain } => {
                let bound = gain as f64 * (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
                uniform(bound as f32, rng)
            }
            Init::FanInUniform { fan_in } => {
                uniform((1.0 / (fan_in.max(1) as f64).sqrt()) as f32, rng)
            }
        }
    }
}

/// `(fan_in, fan_out)` of a parameter shape, PyTorch convention (`(out, in, k...)`); see the
/// module documentation for 0-D and 1-D shapes.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape.len() {
        0 => (1, 1),
        1 => (shape[0], shape[0]),
        _ => {
            let receptive: usize = shape[2..].iter().product();
            (shape[1] * receptive, shape[0] * receptive)
        }
    }
}

/// The seed of a parameter's private RNG: the store seed mixed with a 64-bit FNV-1a hash of the
/// parameter's full name through SplitMix64 finalisers.
pub fn param_seed(store_seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix64(splitmix64(store_seed) ^ h)
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A standard normal draw (Box-Muller, computed in f64).
fn standard_normal(rng: &mut ChaCha8Rng) -> f32 {
    // u1 in (0, 1] so that ln(u1) is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// A fresh RNG for the parameter `name` of a store seeded with `store_seed`.
pub fn param_rng(store_seed: u64, name: &str) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(param_seed(store_seed, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_abs(a: &ArrayD<f32>) -> f32 {
        a.iter().fold(0.0f32, |m, v| m.max(v.abs()))
    }

    #[test]
    fn fans_follow_pytorch_convention() {
        assert_eq!(fans(&[]), (1, 1));
        assert_eq!(fans(&[7]), (7, 7));
        assert_eq!(fans(&[4, 3]), (3, 4));
        assert_eq!(fans(&[8, 3, 5, 5]), (75, 200));
    }

    #[test]
    fn kaiming_default_bound_is_inverse_sqrt_fan_in() {
        // a = sqrt(5): gain = sqrt(2/6), bound = sqrt(1/3) * sqrt(3/fan_in) = 1/sqrt(fan_in).
        let w = Init::kaiming_uniform_default().fill(&[64, 100], &mut param_rng(1, "w"));
        let m = max_abs(&w);
        assert!(m <= 0.1 && m > 0.095, "max |w| = {m}");
    }

    #[test]
    fn kaiming_relu_bound() {
        // a = 0: bound = sqrt(6 / fan_in) = sqrt(6/150) = 0.2.
        let w = Init::KaimingUniform { a: 0.0 }.fill(&[50, 6, 5, 5], &mut param_rng(2, "w"));
        let m = max_abs(&w);
        assert!(m <= 0.2 && m > 0.19, "max |w| = {m}");
    }

    #[test]
    fn xavier_bound_and_spread() {
        // bound = sqrt(6 / (40 + 20)) = sqrt(0.1); uniform variance bound^2 / 3 = 1/30.
        let w = Init::XavierUniform { gain: 1.0 }.fill(&[20, 40], &mut param_rng(3, "w"));
        let bound = 0.1f32.sqrt();
        assert!(max_abs(&w) <= bound && max_abs(&w) > 0.95 * bound);
        let var = w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
        assert!((var - 1.0 / 30.0).abs() < 0.006, "var {var}");
    }

    #[test]
    fn fan_in_uniform_bias() {
        let b = Init::FanInUniform { fan_in: 25 }.fill(&[300], &mut param_rng(4, "b"));
        assert!(max_abs(&b) <= 0.2 && max_abs(&b) > 0.19);
    }

    #[test]
    fn normal_moments() {
        let x = Init::Normal {
            mean: 2.0,
            std: 0.5,
        }
        .fill(&[20_000], &mut param_rng(5, "e"));
        let n = x.len() as f64;
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!((mean - 2.0).abs() < 0.02, "mean {mean}");
        assert!((var.sqrt() - 0.5).abs() < 0.02, "std {}", var.sqrt());
    }

    #[test]
    fn constants() {
        let mut rng = param_rng(0, "c");
        assert!(
            Init::Zeros
                .fill(&[2, 2], &mut rng)
                .iter()
                .all(|&v| v == 0.0)
        );
        assert!(Init::Ones.fill(&[3], &mut rng).iter().all(|&v| v == 1.0));
        assert!(
            Init::Constant(-1.5)
                .fill(&[3], &mut rng)
                .iter()
                .all(|&v| v == -1.5)
        );
        let u = Init::Uniform { lo: 2.0, hi: 3.0 }.fill(&[100], &mut rng);
        assert!(u.iter().all(|&v| (2.0..3.0).contains(&v)));
    }

    #[test]
    fn seeds_depend_on_store_seed_and_name() {
        assert_eq!(param_seed(7, "enc.0.w"), param_seed(7, "enc.0.w"));
        assert_ne!(param_seed(7, "enc.0.w"), param_seed(8, "enc.0.w"));
        assert_ne!(param_seed(7, "enc.0.w"), param_seed(7, "enc.1.w"));
        let a = Init::Uniform { lo: -1.0, hi: 1.0 }.fill(&[5], &mut param_rng(7, "x"));
        let b = Init::Uniform { lo: -1.0, hi: 1.0 }.fill(&[5], &mut param_rng(7, "x"));
        assert_eq!(a, b);
    }
}

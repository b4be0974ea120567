//! Run-time dispatch of auto-vectorised loops to the widest vector extension of the CPU.
//!
//! The workspace compiles for the baseline x86-64 target (no `target-cpu=native`), where loops
//! vectorise to 128-bit SSE2 only. [`multiversion!`](crate::multiversion) compiles one
//! `#[inline(always)]` body twice (AVX2+FMA and baseline) and picks the copy at run time with
//! `is_x86_feature_detected!` (cached by the standard library). Rust never contracts
//! `a * b + c` into an FMA on its own, so both copies compute the same bits.
//!
//! AVX-512 is left out on purpose: its target features need Rust 1.89 (the workspace supports
//! 1.86), and on the data-movement-bound loops dispatched here it measured no faster than
//! AVX2 (the GEMMs use `matrixmultiply`'s own AVX-512 kernel).

/// Vector extension available on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// AVX2 and FMA (256-bit vectors).
    Avx2,
    /// The compilation target's baseline.
    Base,
}

/// The widest supported extension (`Base` off x86-64).
#[inline]
pub fn simd_level() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Simd::Avx2;
        }
    }
    Simd::Base
}

/// Defines `fn $name(args)` that calls the `#[inline(always)]` function `$body(args)` compiled
/// for AVX2+FMA when the CPU supports it, for the baseline otherwise.
#[macro_export]
#[doc(hidden)]
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident = $body:ident($($arg:ident: $ty:ty),* $(,)?)) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if $crate::kernels::simd::simd_level() == $crate::kernels::simd::Simd::Avx2 {
                    // SAFETY: `simd_level` checked at run time that the CPU has AVX2 and FMA.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(always)]
    fn axpy_body(a: f32, x: &[f32], y: &mut [f32]) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi += a * xi;
        }
    }

    crate::multiversion!(fn axpy = axpy_body(a: f32, x: &[f32], y: &mut [f32]));

    #[test]
    fn multiversion_runs_the_body_with_identical_bits() {
        // y = [1, 1, 1] + 2 * [1, 2, 3] = [3, 5, 7] on whichever copy the CPU selects.
        let mut y = vec![1.0f32; 3];
        axpy(2.0, &[1.0, 2.0, 3.0], &mut y);
        assert_eq!(y, vec![3.0, 5.0, 7.0]);
        // The dispatched copy and the baseline body agree bit for bit on awkward values.
        let x: Vec<f32> = (0..1003).map(|i| (i as f32 * 0.37).sin() * 1e3).collect();
        let mut fast = vec![0.1f32; x.len()];
        let mut base = fast.clone();
        axpy(1.0 / 3.0, &x, &mut fast);
        axpy_body(1.0 / 3.0, &x, &mut base);
        assert_eq!(fast, base);
        assert!(matches!(simd_level(), Simd::Avx2 | Simd::Base));
    }
}

//! Convolution hyper-parameters ([`Conv2dParams`], [`Conv1dParams`]) and the resolved geometry
//! of one call ([`ConvGeom`]), shared by the 1-D and 2-D ops and their kernels.

use serde::{Deserialize, Serialize};

/// Stride, zero padding and dilation of a 2-D convolution, as `[height, width]` pairs.
///
/// The output size along an axis is `(in + 2 padding - dilation (k - 1) - 1) / stride + 1`
/// (PyTorch's rule; padding is symmetric).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Conv2dParams {
    /// Step between neighbouring output positions, `[sh, sw]` (at least 1).
    pub stride: [usize; 2],
    /// Zeros added on both sides of the input, `[ph, pw]`.
    pub padding: [usize; 2],
    /// Spacing between kernel taps, `[dh, dw]` (at least 1).
    pub dilation: [usize; 2],
}

impl Default for Conv2dParams {
    /// Stride 1, no padding, no dilation.
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
        }
    }
}

impl Conv2dParams {
    /// Stride 1 and the padding `k / 2` that keeps the spatial size for an odd kernel size `k`
    /// ("same" convolution, e.g. `same(3)` pads by 1).
    ///
    /// # Panics
    /// If `k` is even (no symmetric padding keeps the size).
    pub fn same(k: usize) -> Self {
        crate::shape_check!(
            k % 2 == 1,
            "Conv2dParams::same",
            "kernel size {k} is even; symmetric padding cannot keep the size"
        );
        Conv2dParams {
            padding: [k / 2, k / 2],
            ..Default::default()
        }
    }

    /// The same parameters with stride `[s, s]`.
    pub fn with_stride(self, s: usize) -> Self {
        Conv2dParams {
            stride: [s, s],
            ..self
        }
    }

    /// The same parameters with padding `[p, p]`.
    pub fn with_padding(self, p: usize) -> Self {
        Conv2dParams {
            padding: [p, p],
            ..self
        }
    }

    /// The same parameters with dilation `[d, d]`.
    pub fn with_dilation(self, d: usize) -> Self {
        Conv2dParams {
            dilation: [d, d],
            ..self
        }
    }
}

/// Stride, zero padding and dilation of a 1-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Conv1dParams {
    /// Step between neighbouring output positions (at least 1).
    pub stride: usize,
    /// Zeros added on both sides of the input.
    pub padding: usize,
    /// Spacing between kernel taps (at least 1).
    pub dilation: usize,
}

impl Default for Conv1dParams {
    /// Stride 1, no padding, no dilation.
    fn default() -> Self {
        Conv1dParams {
            stride: 1,
            padding: 0,
            dilation: 1,
        }
    }
}

impl Conv1dParams {
    /// Stride 1 and padding `k / 2` ("same" convolution for an odd kernel size `k`).
    ///
    /// # Panics
    /// If `k` is even.
    pub fn same(k: usize) -> Self {
        crate::shape_check!(
            k % 2 == 1,
            "Conv1dParams::same",
            "kernel size {k} is even; symmetric padding cannot keep the size"
        );
        Conv1dParams {
            padding: k / 2,
            ..Default::default()
        }
    }

    /// The 2-D parameters of the same convolution on a `(N, C, 1, L)` input.
    pub(crate) fn to_2d(self) -> Conv2dParams {
        Conv2dParams {
            stride: [1, self.stride],
            padding: [0, self.padding],
            dilation: [1, self.dilation],
        }
    }
}

/// The resolved geometry of one convolution call: input `(n, cin, h, w)`, weight
/// `(cout, cin, kh, kw)`, output `(n, cout, ho, wo)`. A 1-D convolution is the case `h = kh = 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub dh: usize,
    pub dw: usize,
    pub ho: usize,
    pub wo: usize,
}

/// Target size of one im2col tile in bytes: it stays in the L2 cache next to the GEMM's packing
/// buffers (4 rows of a 100-wide map for k = 576; measured fastest among 256 KiB to 4 MiB).
const TILE_BYTES: usize = 1024 * 1024;

impl ConvGeom {
    /// Validates the shapes of a convolution and computes its output size.
    ///
    /// # Panics
    /// With the op name and the shapes if the channels disagree, a stride or dilation is zero,
    /// the kernel is empty or the (padded) input is smaller than the dilated kernel.
    pub fn new(op: &'static str, x: [usize; 4], wt: [usize; 4], p: Conv2dParams) -> ConvGeom {
        let [n, cin, h, w] = x;
        let [cout, cin_w, kh, kw] = wt;
        crate::shape_check!(
            cin == cin_w,
            op,
            "input channels {} of input {:?} differ from {} of weight {:?}",
            cin,
            x,
            cin_w,
            wt
        );
        crate::shape_check!(
            p.stride.iter().all(|&s| s >= 1) && p.dilation.iter().all(|&d| d >= 1),
            op,
            "stride {:?} and dilation {:?} must be at least 1",
            p.stride,
            p.dilation
        );
        crate::shape_check!(kh >= 1 && kw >= 1, op, "empty kernel in weight {:?}", wt);
        let [sh, sw] = p.stride;
        let [ph, pw] = p.padding;
        let [dh, dw] = p.dilation;
        let (eh, ew) = (dh * (kh - 1) + 1, dw * (kw - 1) + 1);
        crate::shape_check!(
            h + 2 * ph >= eh && w + 2 * pw >= ew,
            op,
            "padded input {:?} (padding {:?}) is smaller than the dilated kernel {:?}",
            [h + 2 * ph, w + 2 * pw],
            p.padding,
            [eh, ew]
        );
        ConvGeom {
            n,
            cin,
            h,
            w,
            cout,
            kh,
            kw,
            sh,
            sw,
            ph,
            pw,
            dh,
            dw,
            ho: (h + 2 * ph - eh) / sh + 1,
            wo: (w + 2 * pw - ew) / sw + 1,
        }
    }

    /// The inner dimension of the GEMM: `cin kh kw`.
    pub fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }

    /// Elements of one input channel plane.
    pub fn in_plane(&self) -> usize {
        self.h * self.w
    }

    /// Elements of one output channel plane.
    pub fn out_plane(&self) -> usize {
        self.ho * self.wo
    }

    /// A 1x1, stride-1, unpadded convolution: a plain GEMM per image, no im2col.
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.ph == 0 && self.pw == 0
    }

    /// Output rows per im2col tile, so that a `k x (rows wo)` tile stays near [`TILE_BYTES`].
    /// Depends on the geometry only (never on the thread count).
    pub fn rows_per_tile(&self) -> usize {
        let per_row = (self.k() * self.wo * 4).max(1);
        (TILE_BYTES / per_row).clamp(1, self.ho.max(1))
    }

    /// Floating-point operations of the forward pass (`2 n cout k ho wo`).
    pub fn flops(&self) -> usize {
        2 * self.n * self.cout * self.k() * self.out_plane()
    }

    /// The geometry of the input gradient of a stride-1 convolution written as a forward
    /// convolution of the output gradient with the flipped, transposed kernel, or `None` when
    /// that rewrite does not apply (stride above 1, or padding above the dilated kernel reach).
    pub fn transposed_as_forward(&self) -> Option<ConvGeom> {
        let (rh, rw) = (self.dh * (self.kh - 1), self.dw * (self.kw - 1));
        if self.sh != 1 || self.sw != 1 || self.ph > rh || self.pw > rw {
            return None;
        }
        let g = ConvGeom {
            n: self.n,
            cin: self.cout,
            h: self.ho,
            w: self.wo,
            cout: self.cin,
            kh: self.kh,
            kw: self.kw,
            sh: 1,
            sw: 1,
            ph: rh - self.ph,
            pw: rw - self.pw,
            dh: self.dh,
            dw: self.dw,
            ho: self.h,
            wo: self.w,
        };
        debug_assert_eq!(g.ho, g.h + 2 * g.ph - rh);
        debug_assert_eq!(g.wo, g.w + 2 * g.pw - rw);
        Some(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_geom_output_sizes() {
        // (100 + 2 - 2 - 1) / 1 + 1 = 100; (7 + 2 - 4 - 1) / 2 + 1 = 3 (dilation 2, stride 2).
        let g = ConvGeom::new("t", [2, 3, 100, 100], [4, 3, 3, 3], Conv2dParams::same(3));
        assert_eq!((g.ho, g.wo, g.k()), (100, 100, 27));
        let p = Conv2dParams::default()
            .with_stride(2)
            .with_padding(1)
            .with_dilation(2);
        let g = ConvGeom::new("t", [1, 1, 7, 8], [1, 1, 3, 3], p);
        assert_eq!((g.ho, g.wo), (3, 3));
        assert!(!g.is_pointwise());
        assert!(g.transposed_as_forward().is_none());
        let g = ConvGeom::new("t", [1, 5, 4, 6], [2, 5, 1, 1], Conv2dParams::default());
        assert!(g.is_pointwise());
    }

    #[test]
    fn conv_geom_transposed_as_forward_restores_input_size() {
        for (k, p, d) in [(3, 1, 1), (3, 0, 1), (3, 2, 2), (5, 1, 1), (1, 0, 1)] {
            let prm = Conv2dParams::default().with_padding(p).with_dilation(d);
            let g = ConvGeom::new("t", [1, 2, 11, 9], [3, 2, k, k], prm);
            let t = g.transposed_as_forward().expect("stride 1");
            assert_eq!((t.ho, t.wo, t.cin, t.cout), (11, 9, 3, 2));
        }
    }

    #[test]
    #[should_panic(expected = "conv2d: input channels 3 of input [1, 3, 5, 5] differ from 2")]
    fn conv_geom_rejects_channel_mismatch() {
        ConvGeom::new(
            "conv2d",
            [1, 3, 5, 5],
            [4, 2, 3, 3],
            Conv2dParams::default(),
        );
    }

    #[test]
    #[should_panic(expected = "is smaller than the dilated kernel")]
    fn conv_geom_rejects_small_input() {
        let p = Conv2dParams::default().with_dilation(3);
        ConvGeom::new("conv2d", [1, 1, 6, 6], [1, 1, 3, 3], p);
    }

    #[test]
    #[should_panic(expected = "kernel size 4 is even")]
    fn conv_params_same_rejects_even_kernels() {
        Conv2dParams::same(4);
    }
}

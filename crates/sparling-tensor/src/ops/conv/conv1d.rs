//! `conv1d`: 1-D cross-correlation, run by the 2-D kernels on a `(N, Cin, 1, L)` view.

use super::conv2d::conv_op;
use super::params::{Conv1dParams, ConvGeom};
use crate::Tensor;

impl Tensor {
    /// 1-D convolution (cross-correlation, as PyTorch): `self` is `(N, Cin, L)`, `weight` is
    /// `(Cout, Cin, k)`, `bias` is `(Cout)`; the result is `(N, Cout, Lo)` with
    /// `Lo = (L + 2 padding - dilation (k - 1) - 1) / stride + 1`.
    ///
    /// # Panics
    /// If the ranks or channel counts disagree, the bias is not `(Cout)`, the stride or
    /// dilation is zero or the padded input is shorter than the dilated kernel.
    pub fn conv1d(&self, weight: &Tensor, bias: Option<&Tensor>, params: Conv1dParams) -> Tensor {
        crate::shape_check!(
            self.ndim() == 3 && weight.ndim() == 3,
            "conv1d",
            "expects input (N, Cin, L) and weight (Cout, Cin, k), got {:?} and {:?}",
            self.shape(),
            weight.shape()
        );
        let xs = self.shape();
        let ws = weight.shape();
        let g = ConvGeom::new(
            "conv1d",
            [xs[0], xs[1], 1, xs[2]],
            [ws[0], ws[1], 1, ws[2]],
            params.to_2d(),
        );
        conv_op("conv1d", g, self, weight, bias, vec![g.n, g.cout, g.wo])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn conv1d_literal() {
        // x = [1, 2, 3, 4], w = [1, -1], padding 1, stride 2:
        // padded [0,1,2,3,4,0], windows at 0, 2, 4: [0-1, 2-3, 4-0] = [-1, -1, 4].
        // Upstream G = [1, 2, 3]: dx[p] = sum_o G[o] w[p + 1 - 2o] -> dx = [-1, 2, -2, 3];
        // dw[t] = sum_o G[o] xpad[2o + t] -> dw = [0 + 4 + 12, 1 + 6 + 0] = [16, 7].
        let x = Tensor::param(
            ArrayD::from_shape_vec(IxDyn(&[1, 1, 4]), vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
        );
        let w = Tensor::param(ArrayD::from_shape_vec(IxDyn(&[1, 1, 2]), vec![1.0, -1.0]).unwrap());
        let p = Conv1dParams {
            stride: 2,
            padding: 1,
            dilation: 1,
        };
        let y = x.conv1d(&w, None, p);
        assert_eq!(y.shape(), &[1, 1, 3]);
        assert_eq!(y.to_vec(), vec![-1.0, -1.0, 4.0]);
        let g = y
            .backward_with(ArrayD::from_shape_vec(IxDyn(&[1, 1, 3]), vec![1.0, 2.0, 3.0]).unwrap());
        assert_eq!(
            g.get(&x).unwrap().as_slice().unwrap(),
            &[-1.0, 2.0, -2.0, 3.0]
        );
        assert_eq!(g.get(&w).unwrap().as_slice().unwrap(), &[16.0, 7.0]);
    }

    #[test]
    fn conv1d_grad_matches_fd() {
        let x = random_array(&[2, 3, 9], 1);
        let w = random_array(&[2, 3, 3], 2);
        let b = random_array(&[2], 3);
        let p = Conv1dParams {
            stride: 2,
            padding: 2,
            dilation: 2,
        };
        gradcheck(
            |t| t[0].conv1d(&t[1], Some(&t[2]), p),
            &[x, w, b],
            &GradCheck::default(),
        );
    }

    #[test]
    fn conv1d_grad_matches_fd_same() {
        let x = random_array(&[2, 1, 7], 4);
        let w = random_array(&[3, 1, 5], 5);
        gradcheck(
            |t| t[0].conv1d(&t[1], None, Conv1dParams::same(5)),
            &[x, w],
            &GradCheck::default(),
        );
    }

    #[test]
    #[should_panic(expected = "conv1d: expects input (N, Cin, L)")]
    fn conv1d_rejects_bad_rank() {
        let _ = Tensor::zeros(&[1, 3, 3, 3]).conv1d(
            &Tensor::zeros(&[2, 3, 1]),
            None,
            Conv1dParams::default(),
        );
    }
}

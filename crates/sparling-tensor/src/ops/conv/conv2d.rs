//! `conv2d`: 2-D cross-correlation (PyTorch's `conv2d`) with stride, zero padding, dilation and
//! an optional bias, by im2col + GEMM (see `kernel.rs`).

use std::borrow::Cow;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

use super::kernel::{conv_bwd, conv_fwd};
use super::params::{Conv2dParams, ConvGeom};
use crate::Tensor;
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// 2-D convolution (cross-correlation, as PyTorch): `self` is `(N, Cin, H, W)`, `weight`
    /// is `(Cout, Cin, kh, kw)`, `bias` is `(Cout)`; the result is `(N, Cout, Ho, Wo)` with
    /// `Ho = (H + 2 ph - dh (kh - 1) - 1) / sh + 1` (likewise `Wo`).
    ///
    /// Parallel over the batch (and over row tiles of each image); results do not depend on
    /// the number of threads.
    ///
    /// # Panics
    /// If the ranks or channel counts disagree, the bias is not `(Cout)`, a stride or dilation
    /// is zero or the padded input is smaller than the dilated kernel.
    pub fn conv2d(&self, weight: &Tensor, bias: Option<&Tensor>, params: Conv2dParams) -> Tensor {
        crate::shape_check!(
            self.ndim() == 4 && weight.ndim() == 4,
            "conv2d",
            "expects input (N, Cin, H, W) and weight (Cout, Cin, kh, kw), got {:?} and {:?}",
            self.shape(),
            weight.shape()
        );
        let xs = self.shape();
        let ws = weight.shape();
        let g = ConvGeom::new(
            "conv2d",
            [xs[0], xs[1], xs[2], xs[3]],
            [ws[0], ws[1], ws[2], ws[3]],
            params,
        );
        conv_op(
            "conv2d",
            g,
            self,
            weight,
            bias,
            vec![g.n, g.cout, g.ho, g.wo],
        )
    }
}

/// The array's values in row-major order (borrowed when already contiguous).
pub(super) fn contiguous(a: &ArrayD<f32>) -> Cow<'_, [f32]> {
    match a.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().copied().collect()),
    }
}

/// The shared body of `conv1d` and `conv2d`: checks the bias, runs the forward kernel and
/// records the backward.
pub(super) fn conv_op(
    name: &'static str,
    g: ConvGeom,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    out_shape: Vec<usize>,
) -> Tensor {
    if let Some(b) = bias {
        crate::shape_check!(
            b.shape() == [g.cout],
            name,
            "bias of shape {:?} does not match {} output channels",
            b.shape(),
            g.cout
        );
    }
    let b_data = bias.map(|b| contiguous(b.data()));
    let y = conv_fwd(
        &g,
        &contiguous(x.data()),
        &contiguous(weight.data()),
        b_data.as_deref(),
    );
    let data = ArrayD::from_shape_vec(IxDyn(&out_shape), y).expect("conv output shape");
    let mut parents = vec![x, weight];
    parents.extend(bias);
    record(data, &parents, |needs| {
        Box::new(ConvBackward {
            name,
            geom: g,
            x_shape: x.shape().to_vec(),
            w_shape: weight.shape().to_vec(),
            has_bias: bias.is_some(),
            // dW needs x; dx needs W.
            x: needs[1].then(|| x.data_arc()),
            w: needs[0].then(|| weight.data_arc()),
        })
    })
}

/// Backward of `conv1d` / `conv2d`: keeps the input only if the weight needs a gradient and
/// the weight only if the input needs one.
#[derive(Debug)]
struct ConvBackward {
    name: &'static str,
    geom: ConvGeom,
    x_shape: Vec<usize>,
    w_shape: Vec<usize>,
    has_bias: bool,
    x: Option<Arc<ArrayD<f32>>>,
    w: Option<Arc<ArrayD<f32>>>,
}

impl Backward for ConvBackward {
    fn name(&self) -> &'static str {
        self.name
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // y = W * x + b: dx = W^T-correlation of dy, dW = sum_n dy_n cols(x_n)^T,
        // db = sum of dy over images and positions.
        let dy = contiguous(&grad_out);
        let x = if grads.needs(1) {
            self.x.as_deref().map(contiguous)
        } else {
            None
        };
        let w = if grads.needs(0) {
            self.w.as_deref().map(contiguous)
        } else {
            None
        };
        let need_b = self.has_bias && grads.needs(2);
        let out = conv_bwd(&self.geom, &dy, x.as_deref(), w.as_deref(), need_b);
        let shaped = |v: Vec<f32>, shape: &[usize]| {
            ArrayD::from_shape_vec(IxDyn(shape), v).expect("gradient shape")
        };
        if let Some(dx) = out.dx {
            grads.put(0, shaped(dx, &self.x_shape));
        }
        if let Some(dw) = out.dw {
            grads.put(1, shaped(dw, &self.w_shape));
        }
        if let Some(db) = out.db {
            grads.put(2, shaped(db, &[self.geom.cout]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array, with_threads};
    use ndarray::Array4;

    #[test]
    fn conv2d_literal() {
        // x = [[1,2,3],[4,5,6],[7,8,9]], w = [[1,0],[0,-1]], bias 0.5, stride 1, no padding:
        // y[i,j] = x[i,j] - x[i+1,j+1] + 0.5 = -4 + 0.5 everywhere -> [[-3.5,-3.5],[-3.5,-3.5]].
        // Upstream G = [[1,2],[3,4]]: dW[a,b] = sum G[i,j] x[i+a,j+b]:
        //   dW = [[1+4+12+20, 2+6+15+24],[4+10+21+32, 5+12+24+36]] = [[37,47],[67,77]];
        // db = 1+2+3+4 = 10; dx[p,q] = sum G[i,j] w[p-i,q-j]:
        //   dx = [[1,2,0],[3,3,-2],[0,-3,-4]].
        let x = Tensor::param(Array4::from_shape_fn((1, 1, 3, 3), |(_, _, i, j)| {
            (3 * i + j + 1) as f32
        }));
        let w =
            Tensor::param(Array4::from_shape_vec((1, 1, 2, 2), vec![1.0, 0.0, 0.0, -1.0]).unwrap());
        let b = Tensor::param(ndarray::arr1(&[0.5f32]));
        let y = x.conv2d(&w, Some(&b), Conv2dParams::default());
        assert_eq!(y.shape(), &[1, 1, 2, 2]);
        assert_eq!(y.to_vec(), vec![-3.5; 4]);
        let g = y.backward_with(
            ArrayD::from_shape_vec(IxDyn(&[1, 1, 2, 2]), vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
        );
        assert_eq!(
            g.get(&w).unwrap().as_slice().unwrap(),
            &[37.0, 47.0, 67.0, 77.0]
        );
        assert_eq!(g.get(&b).unwrap().as_slice().unwrap(), &[10.0]);
        assert_eq!(
            g.get(&x).unwrap().as_slice().unwrap(),
            &[1.0, 2.0, 0.0, 3.0, 3.0, -2.0, 0.0, -3.0, -4.0]
        );
    }

    #[test]
    fn conv2d_grad_matches_fd_padded() {
        let x = random_array(&[2, 3, 5, 4], 1);
        let w = random_array(&[2, 3, 3, 3], 2);
        let b = random_array(&[2], 3);
        let p = Conv2dParams::same(3);
        gradcheck(
            |t| t[0].conv2d(&t[1], Some(&t[2]), p),
            &[x, w, b],
            &GradCheck::default(),
        );
    }

    #[test]
    fn conv2d_grad_matches_fd_strided_dilated() {
        let x = random_array(&[2, 2, 7, 6], 4);
        let w = random_array(&[3, 2, 2, 3], 5);
        let p = Conv2dParams {
            stride: [2, 1],
            padding: [1, 2],
            dilation: [2, 1],
        };
        gradcheck(
            |t| t[0].conv2d(&t[1], None, p),
            &[x, w],
            &GradCheck::default(),
        );
    }

    #[test]
    fn conv2d_grad_matches_fd_pointwise() {
        let x = random_array(&[2, 3, 3, 4], 6);
        let w = random_array(&[4, 3, 1, 1], 7);
        let b = random_array(&[4], 8);
        let p = Conv2dParams::default();
        gradcheck(
            |t| t[0].conv2d(&t[1], Some(&t[2]), p),
            &[x, w, b],
            &GradCheck::default(),
        );
    }

    #[test]
    fn conv2d_saves_operand_only_for_the_other_side() {
        // A frozen weight (no grad) with an input that needs one: only W is kept.
        let x = Tensor::param(random_array(&[1, 2, 4, 4], 1));
        let w = Tensor::new(random_array(&[3, 2, 3, 3], 2));
        let (xd, wd) = (x.data_arc(), w.data_arc());
        let y = x.conv2d(&w, None, Conv2dParams::same(3));
        assert_eq!(Arc::strong_count(&xd), 2, "input must not be saved");
        assert_eq!(Arc::strong_count(&wd), 3, "weight must be saved");
        assert!(y.sum_all().backward().get(&x).is_some());
    }

    #[test]
    fn conv2d_is_thread_count_independent() {
        // Large enough to take the parallel path (above PAR_MIN_FLOPS).
        let x = random_array(&[5, 8, 24, 20], 9);
        let w = random_array(&[8, 8, 3, 3], 10);
        let b = random_array(&[8], 11);
        let proj = random_array(&[5, 8, 24, 20], 12);
        let run = || {
            let (x, w, b) = (
                Tensor::param(x.clone()),
                Tensor::param(w.clone()),
                Tensor::param(b.clone()),
            );
            let y = x.conv2d(&w, Some(&b), Conv2dParams::same(3));
            let g = y.backward_with(proj.clone());
            (
                y.to_vec(),
                g.get(&x).unwrap().clone(),
                g.get(&w).unwrap().clone(),
                g.get(&b).unwrap().clone(),
            )
        };
        let one = with_threads(1, run);
        let many = with_threads(3, run);
        assert!(one == many, "conv2d results depend on the thread count");
    }

    #[test]
    #[should_panic(expected = "conv2d: bias of shape [3] does not match 2 output channels")]
    fn conv2d_rejects_bad_bias() {
        let x = Tensor::zeros(&[1, 1, 3, 3]);
        let w = Tensor::zeros(&[2, 1, 1, 1]);
        let _ = x.conv2d(&w, Some(&Tensor::zeros(&[3])), Conv2dParams::default());
    }

    #[test]
    #[should_panic(expected = "conv2d: expects input (N, Cin, H, W)")]
    fn conv2d_rejects_bad_rank() {
        let _ = Tensor::zeros(&[1, 3, 3]).conv2d(
            &Tensor::zeros(&[2, 1, 1, 1]),
            None,
            Conv2dParams::default(),
        );
    }
}

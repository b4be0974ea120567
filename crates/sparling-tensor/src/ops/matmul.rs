//! `matmul`: matrix product through `matrixmultiply` (ndarray's `general_mat_mul` on strided
//! views, so transposed operands in the backward are never copied).
//!
//! Supported shapes:
//! * `(m, k) x (k, n) -> (m, n)`;
//! * batched `(..., m, k) x (..., k, n) -> (..., m, n)` with equal batch dimensions, parallel
//!   over the batch (each GEMM single-threaded inside its rayon task);
//! * `(..., m, k) x (k, n) -> (..., m, n)`: a 2-D right operand broadcast over the left batch
//!   (`x @ W`), computed as one `(B m, k) x (k, n)` product split into fixed output blocks.
//!
//! The backward saves an operand only if the other one needs a gradient (burn's rule):
//! `dA = dC B^T` needs `B`, `dB = A^T dC` needs `A`.

use std::borrow::Cow;
use std::sync::Arc;

use ndarray::{Array3, ArrayD, ArrayView2, ArrayView3, Axis, Ix2, IxDyn};
use rayon::prelude::*;

use crate::Tensor;
use crate::kernels::gemm::{PAR_MIN_FLOPS, gemm, gemm_par};
use crate::ops::{Backward, GradSink, record};

/// How the two operands are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Both operands are matrices, or the right one is a matrix broadcast over the left batch:
    /// one `(rows, k) x (k, n)` product with `rows` = the left operand's leading extent.
    Flat { rows: usize, k: usize, n: usize },
    /// Equal batch dimensions: `batch` products `(m, k) x (k, n)`.
    Batched {
        batch: usize,
        m: usize,
        k: usize,
        n: usize,
    },
}

impl Tensor {
    /// Matrix product `self @ rhs`.
    ///
    /// `self` is `(m, k)` or `(..., m, k)`; `rhs` is `(k, n)` (broadcast over the batch of
    /// `self`) or `(..., k, n)` with the same batch dimensions as `self`. The result is
    /// `(..., m, n)`.
    ///
    /// # Panics
    /// If an operand has fewer than 2 dimensions, the inner dimensions differ or the batch
    /// dimensions differ.
    pub fn matmul(&self, rhs: &Tensor) -> Tensor {
        let (kind, out_shape) = plan(self.shape(), rhs.shape());
        let data = matmul_fwd(kind, self.data(), rhs.data(), &out_shape);
        record(data, &[self, rhs], |needs| {
            Box::new(MatmulBackward {
                kind,
                lhs_shape: self.shape().to_vec(),
                rhs_shape: rhs.shape().to_vec(),
                // dB = A^T dC needs A; dA = dC B^T needs B.
                lhs: needs[1].then(|| self.data_arc()),
                rhs: needs[0].then(|| rhs.data_arc()),
            })
        })
    }
}

/// Validates the shapes; returns the kind of product and the output shape.
fn plan(a: &[usize], b: &[usize]) -> (Kind, Vec<usize>) {
    crate::shape_check!(
        a.len() >= 2 && b.len() >= 2,
        "matmul",
        "operands need at least 2 dimensions, got {:?} and {:?}",
        a,
        b
    );
    let (m, k) = (a[a.len() - 2], a[a.len() - 1]);
    let (k2, n) = (b[b.len() - 2], b[b.len() - 1]);
    crate::shape_check!(
        k == k2,
        "matmul",
        "inner dimensions differ: {:?} x {:?}",
        a,
        b
    );
    let mut out = a[..a.len() - 1].to_vec();
    out.push(n);
    if b.len() == 2 {
        let rows = a[..a.len() - 1].iter().product();
        return (Kind::Flat { rows, k, n }, out);
    }
    crate::shape_check!(
        a.len() == b.len() && a[..a.len() - 2] == b[..b.len() - 2],
        "matmul",
        "batch dimensions differ: {:?} x {:?} (the right operand may also be 2-D)",
        a,
        b
    );
    let batch = a[..a.len() - 2].iter().product();
    (Kind::Batched { batch, m, k, n }, out)
}

/// The array in standard layout (borrowed when it already is, copied otherwise), so that it can
/// be seen as a matrix or a stack of matrices.
fn standard(x: &ArrayD<f32>) -> Cow<'_, ArrayD<f32>> {
    if x.is_standard_layout() {
        Cow::Borrowed(x)
    } else {
        Cow::Owned(x.as_standard_layout().into_owned())
    }
}

fn view2(x: &ArrayD<f32>, rows: usize, cols: usize) -> ArrayView2<'_, f32> {
    x.view()
        .into_shape_with_order((rows, cols))
        .expect("standard layout")
}

fn view3(x: &ArrayD<f32>, b: usize, rows: usize, cols: usize) -> ArrayView3<'_, f32> {
    x.view()
        .into_shape_with_order((b, rows, cols))
        .expect("standard layout")
}

/// Runs `f(i, c_i)` over the batch, in parallel when the total work is large enough.
fn for_each_batch<F>(out: &mut Array3<f32>, flops: usize, f: F)
where
    F: Fn(usize, ndarray::ArrayViewMut2<'_, f32>) + Sync + Send,
{
    if flops >= PAR_MIN_FLOPS && out.shape()[0] > 1 {
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    } else {
        for (i, c) in out.axis_iter_mut(Axis(0)).enumerate() {
            f(i, c);
        }
    }
}

fn matmul_fwd(kind: Kind, a: &ArrayD<f32>, b: &ArrayD<f32>, out_shape: &[usize]) -> ArrayD<f32> {
    match kind {
        Kind::Flat { rows, k, n } => {
            let a = standard(a);
            // A 2-D right operand of any strides is used as a view directly.
            let b2 = b.view().into_dimensionality::<Ix2>().expect("2-D rhs");
            let mut out = ndarray::Array2::<f32>::zeros((rows, n));
            gemm_par(1.0, view2(&a, rows, k), b2, 0.0, out.view_mut());
            out.into_shape_with_order(IxDyn(out_shape))
                .expect("output shape")
        }
        Kind::Batched { batch, m, k, n } => {
            let a = standard(a);
            let b = standard(b);
            let (a3, b3) = (view3(&a, batch, m, k), view3(&b, batch, k, n));
            let mut out = Array3::<f32>::zeros((batch, m, n));
            for_each_batch(&mut out, 2 * batch * m * k * n, |i, c| {
                gemm(
                    1.0,
                    a3.index_axis(Axis(0), i),
                    b3.index_axis(Axis(0), i),
                    0.0,
                    c,
                );
            });
            out.into_shape_with_order(IxDyn(out_shape))
                .expect("output shape")
        }
    }
}

#[derive(Debug)]
struct MatmulBackward {
    kind: Kind,
    lhs_shape: Vec<usize>,
    rhs_shape: Vec<usize>,
    /// The left operand, kept only if the right one needs a gradient.
    lhs: Option<Arc<ArrayD<f32>>>,
    /// The right operand, kept only if the left one needs a gradient.
    rhs: Option<Arc<ArrayD<f32>>>,
}

impl Backward for MatmulBackward {
    fn name(&self) -> &'static str {
        "matmul"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // C = A B: dA = dC B^T, dB = A^T dC (per batch element when batched).
        match self.kind {
            Kind::Flat { rows, k, n } => {
                let dc = view2(&grad_out, rows, n);
                if grads.needs(0) {
                    let b = self
                        .rhs
                        .as_ref()
                        .expect("rhs saved when lhs needs a gradient");
                    let b2 = b.view().into_dimensionality::<Ix2>().expect("2-D rhs");
                    let mut da = ndarray::Array2::<f32>::zeros((rows, k));
                    gemm_par(1.0, dc, b2.t(), 0.0, da.view_mut());
                    let da = da
                        .into_shape_with_order(IxDyn(&self.lhs_shape))
                        .expect("lhs shape");
                    grads.put(0, da);
                }
                if grads.needs(1) {
                    let a = self
                        .lhs
                        .as_ref()
                        .expect("lhs saved when rhs needs a gradient");
                    let a = standard(a);
                    let mut db = ndarray::Array2::<f32>::zeros((k, n));
                    gemm_par(1.0, view2(&a, rows, k).t(), dc, 0.0, db.view_mut());
                    grads.put(1, db.into_dyn());
                }
            }
            Kind::Batched { batch, m, k, n } => {
                let dc = view3(&grad_out, batch, m, n);
                let flops = 2 * batch * m * k * n;
                if grads.needs(0) {
                    let b = self
                        .rhs
                        .as_ref()
                        .expect("rhs saved when lhs needs a gradient");
                    let b = standard(b);
                    let b3 = view3(&b, batch, k, n);
                    let mut da = Array3::<f32>::zeros((batch, m, k));
                    for_each_batch(&mut da, flops, |i, c| {
                        let bi = b3.index_axis(Axis(0), i);
                        gemm(1.0, dc.index_axis(Axis(0), i), bi.t(), 0.0, c);
                    });
                    let da = da
                        .into_shape_with_order(IxDyn(&self.lhs_shape))
                        .expect("lhs shape");
                    grads.put(0, da);
                }
                if grads.needs(1) {
                    let a = self
                        .lhs
                        .as_ref()
                        .expect("lhs saved when rhs needs a gradient");
                    let a = standard(a);
                    let a3 = view3(&a, batch, m, k);
                    let mut db = Array3::<f32>::zeros((batch, k, n));
                    for_each_batch(&mut db, flops, |i, c| {
                        let ai = a3.index_axis(Axis(0), i);
                        gemm(1.0, ai.t(), dc.index_axis(Axis(0), i), 0.0, c);
                    });
                    let db = db
                        .into_shape_with_order(IxDyn(&self.rhs_shape))
                        .expect("rhs shape");
                    grads.put(1, db);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, assert_close, gradcheck, random_array, with_threads};
    use ndarray::arr2;

    /// Naive f64 reference of a batched or broadcast matmul.
    fn naive(a: &ArrayD<f32>, b: &ArrayD<f32>) -> ArrayD<f32> {
        let (kind, out_shape) = plan(a.shape(), b.shape());
        let a = a.as_standard_layout().into_owned();
        let b = b.as_standard_layout().into_owned();
        let (batch, m, k, n, b_batched) = match kind {
            Kind::Flat { rows, k, n } => (1, rows, k, n, false),
            Kind::Batched { batch, m, k, n } => (batch, m, k, n, true),
        };
        let av = a.as_slice().unwrap();
        let bv = b.as_slice().unwrap();
        let mut out = vec![0.0f32; batch * m * n];
        for t in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    let mut acc = 0.0f64;
                    for p in 0..k {
                        let bo = if b_batched { t * k * n } else { 0 };
                        acc += av[t * m * k + i * k + p] as f64 * bv[bo + p * n + j] as f64;
                    }
                    out[t * m * n + i * n + j] = acc as f32;
                }
            }
        }
        ArrayD::from_shape_vec(IxDyn(&out_shape), out).unwrap()
    }

    #[test]
    fn matmul_literal_and_grads() {
        // A = [[1,2],[3,4]], B = [[5,6],[7,8]]: AB = [[19,22],[43,50]].
        // With upstream G = [[1,0],[0,2]]: dA = G B^T = [[5,7],[12,16]],
        // dB = A^T G = [[1,6],[2,8]].
        let a = Tensor::param(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]));
        let b = Tensor::param(arr2(&[[5.0f32, 6.0], [7.0, 8.0]]));
        let c = a.matmul(&b);
        assert_eq!(c.to_vec(), vec![19.0, 22.0, 43.0, 50.0]);
        let g = c.backward_with(arr2(&[[1.0f32, 0.0], [0.0, 2.0]]).into_dyn());
        assert_eq!(
            g.get(&a).unwrap().as_slice().unwrap(),
            &[5.0, 7.0, 12.0, 16.0]
        );
        assert_eq!(
            g.get(&b).unwrap().as_slice().unwrap(),
            &[1.0, 6.0, 2.0, 8.0]
        );
    }

    #[test]
    fn matmul_forward_matches_naive() {
        let cases: &[(&[usize], &[usize])] = &[
            (&[1, 1], &[1, 1]),
            (&[3, 5], &[5, 7]),
            (&[2, 3, 4, 5], &[2, 3, 5, 6]),
            (&[4, 3, 5], &[5, 2]),
            (&[2, 0, 3], &[2, 3, 4]),
            (&[3, 0], &[0, 4]),
        ];
        for (i, (sa, sb)) in cases.iter().enumerate() {
            let a = random_array(sa, 2 * i as u64);
            let b = random_array(sb, 2 * i as u64 + 1);
            let c = Tensor::new(a.clone()).matmul(&Tensor::new(b.clone()));
            assert_close(c.data(), &naive(&a, &b), 1e-5, 1e-5);
        }
    }

    #[test]
    fn matmul_accepts_non_standard_layouts() {
        let a = random_array(&[5, 3], 1);
        let b = random_array(&[5, 4], 2);
        // (3, 5) in Fortran order against the same values in standard layout.
        let want = Tensor::new(a.t().to_owned()).matmul(&Tensor::new(b.clone()));
        let got = Tensor::new(a.clone().reversed_axes()).matmul(&Tensor::new(b.clone()));
        assert_eq!(got.to_vec(), want.to_vec());
        // A permuted batched operand and a transposed 2-D right operand.
        let x = random_array(&[3, 2, 5], 3).permuted_axes(IxDyn(&[1, 0, 2]));
        let w = random_array(&[4, 5], 4).reversed_axes();
        let got = Tensor::new(x.clone()).matmul(&Tensor::new(w.clone()));
        let want = naive(
            &x.as_standard_layout().into_owned(),
            &w.as_standard_layout().into_owned(),
        );
        assert_close(got.data(), &want, 1e-5, 1e-5);
    }

    #[test]
    fn matmul_grad_matches_fd_2d() {
        let a = random_array(&[3, 5], 11);
        let b = random_array(&[5, 4], 12);
        gradcheck(|x| x[0].matmul(&x[1]), &[a, b], &GradCheck::default());
    }

    #[test]
    fn matmul_grad_matches_fd_batched() {
        let a = random_array(&[2, 3, 3, 4], 13);
        let b = random_array(&[2, 3, 4, 2], 14);
        gradcheck(|x| x[0].matmul(&x[1]), &[a, b], &GradCheck::default());
    }

    #[test]
    fn matmul_grad_matches_fd_broadcast_rhs() {
        let a = random_array(&[2, 3, 5], 15);
        let b = random_array(&[5, 3], 16);
        gradcheck(|x| x[0].matmul(&x[1]), &[a, b], &GradCheck::default());
    }

    #[test]
    fn matmul_saves_operand_only_for_the_other_side() {
        // Only `a` needs a gradient: dA = dC B^T keeps `b`, and `a` is not kept.
        let a = Tensor::param(random_array(&[2, 3], 1));
        let b = Tensor::new(random_array(&[3, 2], 2));
        let (a_data, b_data) = (a.data_arc(), b.data_arc());
        let c = a.matmul(&b);
        assert_eq!(Arc::strong_count(&a_data), 2, "lhs must not be saved");
        assert_eq!(Arc::strong_count(&b_data), 3, "rhs must be saved");
        let g = c.sum_all().backward();
        assert!(g.get(&a).is_some());
        assert!(g.get(&b).is_none());
    }

    #[test]
    fn matmul_is_thread_count_independent() {
        let a = random_array(&[6, 40, 70], 21);
        let b = random_array(&[6, 70, 50], 22);
        let w = random_array(&[70, 300], 23);
        let run = || {
            let a = Tensor::param(a.clone());
            let b = Tensor::param(b.clone());
            let w = Tensor::param(w.clone());
            let y = a.matmul(&b).sum_all().add(&a.matmul(&w).sum_all());
            let g = y.backward();
            (
                g.get(&a).unwrap().clone(),
                g.get(&b).unwrap().clone(),
                g.get(&w).unwrap().clone(),
            )
        };
        let one = with_threads(1, run);
        let many = with_threads(4, run);
        assert_eq!(one, many);
    }

    #[test]
    #[should_panic(expected = "matmul: inner dimensions differ: [2, 3] x [4, 5]")]
    fn matmul_rejects_inner_mismatch() {
        let _ = Tensor::zeros(&[2, 3]).matmul(&Tensor::zeros(&[4, 5]));
    }

    #[test]
    #[should_panic(expected = "matmul: batch dimensions differ")]
    fn matmul_rejects_batch_mismatch() {
        let _ = Tensor::zeros(&[2, 2, 3]).matmul(&Tensor::zeros(&[3, 3, 5]));
    }
}

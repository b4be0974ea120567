//! `permute` and `transpose`: reorder axes. The result is a contiguous (standard-layout) copy.

use ndarray::{ArrayD, IxDyn};

use crate::Tensor;
use crate::kernels::elementwise::to_standard;
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// Reorders the axes: output axis `i` is input axis `perm[i]`. The result is contiguous.
    ///
    /// # Panics
    /// If `perm` is not a permutation of `0..ndim`.
    pub fn permute(&self, perm: &[usize]) -> Tensor {
        check_perm("permute", perm, self.shape());
        let data = permute_fwd(self.data(), perm);
        record(data, &[self], |_| {
            Box::new(PermuteBackward {
                inverse: inverse(perm),
            })
        })
    }

    /// Swaps axes `a` and `b`. The result is contiguous.
    ///
    /// # Panics
    /// If an axis is out of range.
    pub fn transpose(&self, a: usize, b: usize) -> Tensor {
        let n = self.ndim();
        crate::shape_check!(
            a < n && b < n,
            "transpose",
            "axes ({a}, {b}) out of range for shape {:?}",
            self.shape()
        );
        let mut perm: Vec<usize> = (0..n).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }
}

fn check_perm(op: &str, perm: &[usize], shape: &[usize]) {
    let mut seen = vec![false; shape.len()];
    let ok = perm.len() == shape.len()
        && perm
            .iter()
            .all(|&p| p < seen.len() && !std::mem::replace(&mut seen[p], true));
    crate::shape_check!(
        ok,
        op,
        "{perm:?} is not a permutation of the axes of shape {shape:?}"
    );
}

fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    inv
}

fn permute_fwd(x: &ArrayD<f32>, perm: &[usize]) -> ArrayD<f32> {
    to_standard(x.view().permuted_axes(IxDyn(perm)))
}

#[derive(Debug)]
struct PermuteBackward {
    /// The inverse permutation.
    inverse: Vec<usize>,
}

impl Backward for PermuteBackward {
    fn name(&self) -> &'static str {
        "permute"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // A permutation moves elements: the gradient moves back by the inverse permutation.
        grads.put(0, permute_fwd(&grad_out, &self.inverse));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::arr2;

    #[test]
    fn permute_literal() {
        // transpose([[1,2,3],[4,5,6]]) = [[1,4],[2,5],[3,6]], contiguous; upstream
        // [[1,2],[3,4],[5,6]] comes back transposed: [[1,3,5],[2,4,6]].
        let x = Tensor::param(arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]));
        let y = x.transpose(0, 1);
        assert_eq!(y.shape(), &[3, 2]);
        assert!(y.data().is_standard_layout());
        assert_eq!(
            y.data().as_slice().unwrap(),
            &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
        let g = y.backward_with(arr2(&[[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]).into_dyn());
        assert_eq!(
            g.get(&x).unwrap().as_slice().unwrap(),
            &[1.0, 3.0, 5.0, 2.0, 4.0, 6.0]
        );
    }

    #[test]
    fn permute_matches_naive_index_map() {
        let x = random_array(&[2, 3, 4], 61);
        let y = Tensor::new(x.clone()).permute(&[2, 0, 1]);
        assert_eq!(y.shape(), &[4, 2, 3]);
        assert!(y.data().is_standard_layout());
        for ((i, j, k), &v) in ndarray::indices((4, 2, 3)).into_iter().zip(y.data().iter()) {
            assert_eq!(v, x[[j, k, i]]);
        }
    }

    #[test]
    fn permute_grad_matches_fd() {
        let x = random_array(&[2, 3, 4], 62);
        gradcheck(
            |x| x[0].permute(&[1, 2, 0]),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        gradcheck(|x| x[0].transpose(0, 2), &[x], &GradCheck::default());
    }

    #[test]
    #[should_panic(expected = "permute: [0, 0, 1] is not a permutation of the axes of shape")]
    fn permute_rejects_repeated_axis() {
        let _ = Tensor::zeros(&[2, 3, 4]).permute(&[0, 0, 1]);
    }
}

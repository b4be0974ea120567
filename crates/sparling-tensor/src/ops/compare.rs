//! Comparisons: `gt`, `ge`, `lt`, `le`, `eq` (with broadcasting) and `gt_scalar`, `lt_scalar`.
//! They return constant 0/1 masks: no graph node is recorded and no gradient flows through
//! them (use the masks with `mul` or [`Tensor::where_`]).

use ndarray::ArrayD;

use crate::Tensor;
use crate::kernels::elementwise::{map, zip_map};
use crate::shape::broadcast_or_panic;

impl Tensor {
    /// `1.0` where `self > rhs`, else `0.0` (broadcasting; a constant).
    ///
    /// # Panics
    /// If the shapes cannot be broadcast together.
    pub fn gt(&self, rhs: &Tensor) -> Tensor {
        compare("gt", self, rhs, |a, b| a > b)
    }

    /// `1.0` where `self >= rhs`, else `0.0` (broadcasting; a constant).
    ///
    /// # Panics
    /// If the shapes cannot be broadcast together.
    pub fn ge(&self, rhs: &Tensor) -> Tensor {
        compare("ge", self, rhs, |a, b| a >= b)
    }

    /// `1.0` where `self < rhs`, else `0.0` (broadcasting; a constant).
    ///
    /// # Panics
    /// If the shapes cannot be broadcast together.
    pub fn lt(&self, rhs: &Tensor) -> Tensor {
        compare("lt", self, rhs, |a, b| a < b)
    }

    /// `1.0` where `self <= rhs`, else `0.0` (broadcasting; a constant).
    ///
    /// # Panics
    /// If the shapes cannot be broadcast together.
    pub fn le(&self, rhs: &Tensor) -> Tensor {
        compare("le", self, rhs, |a, b| a <= b)
    }

    /// `1.0` where `self == rhs` exactly, else `0.0` (broadcasting; a constant).
    ///
    /// # Panics
    /// If the shapes cannot be broadcast together.
    pub fn eq(&self, rhs: &Tensor) -> Tensor {
        compare("eq", self, rhs, |a, b| a == b)
    }

    /// `1.0` where `self > c`, else `0.0` (a constant).
    pub fn gt_scalar(&self, c: f32) -> Tensor {
        Tensor::new(map(self.data(), |a| indicator(a > c)))
    }

    /// `1.0` where `self < c`, else `0.0` (a constant).
    pub fn lt_scalar(&self, c: f32) -> Tensor {
        Tensor::new(map(self.data(), |a| indicator(a < c)))
    }
}

fn compare<F>(op: &str, lhs: &Tensor, rhs: &Tensor, pred: F) -> Tensor
where
    F: Fn(f32, f32) -> bool + Sync + Send,
{
    let shape = broadcast_or_panic(op, lhs.shape(), rhs.shape());
    Tensor::new(compare_fwd(&shape, lhs.data(), rhs.data(), pred))
}

fn compare_fwd<F>(shape: &[usize], a: &ArrayD<f32>, b: &ArrayD<f32>, pred: F) -> ArrayD<f32>
where
    F: Fn(f32, f32) -> bool + Sync + Send,
{
    zip_map(shape, a, b, |x, y| indicator(pred(x, y)))
}

fn indicator(b: bool) -> f32 {
    if b { 1.0 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    #[test]
    fn compare_literal() {
        // [[1, 2, 3], [3, 2, 1]] against the broadcast row [2, 2, 2] (and NaN compares false).
        let a = Tensor::param(arr2(&[[1.0f32, 2.0, 3.0], [3.0, 2.0, f32::NAN]]));
        let b = Tensor::new(arr1(&[2.0f32, 2.0, 2.0]));
        assert_eq!(a.gt(&b).to_vec(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(a.ge(&b).to_vec(), vec![0.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
        assert_eq!(a.lt(&b).to_vec(), vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(a.le(&b).to_vec(), vec![1.0, 1.0, 0.0, 0.0, 1.0, 0.0]);
        assert_eq!(a.eq(&b).to_vec(), vec![0.0, 1.0, 0.0, 0.0, 1.0, 0.0]);
        assert_eq!(
            a.gt_scalar(1.5).to_vec(),
            vec![0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
        );
        assert_eq!(
            a.lt_scalar(1.5).to_vec(),
            vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(b.gt(&a).shape(), &[2, 3]);
    }

    #[test]
    fn compare_masks_are_constants() {
        // A mask carries no gradient even when its inputs do: d(sum(x * (x > 0)))/dx is the
        // mask itself, with no contribution through the comparison.
        let x = Tensor::param(arr1(&[-1.0f32, 2.0, 3.0]));
        let m = x.gt_scalar(0.0);
        assert!(!m.requires_grad());
        assert!(!x.gt(&x).requires_grad());
        let g = x.mul(&m).sum_all().backward();
        assert_eq!(g.get(&x).unwrap().as_slice().unwrap(), &[0.0, 1.0, 1.0]);
    }

    #[test]
    #[should_panic(expected = "le: shapes [2] and [3] cannot be broadcast")]
    fn compare_rejects_incompatible_shapes() {
        let _ = Tensor::zeros(&[2]).le(&Tensor::zeros(&[3]));
    }
}

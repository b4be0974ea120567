//! `add`: elementwise sum with NumPy broadcasting.

use ndarray::ArrayD;

use crate::Tensor;
use crate::ops::{Backward, GradSink, record};
use crate::shape::{broadcast_or_panic, reduce_to_shape};

impl Tensor {
    /// `self + rhs` with broadcasting.
    ///
    /// # Panics
    /// If the shapes cannot be broadcast together.
    pub fn add(&self, rhs: &Tensor) -> Tensor {
        broadcast_or_panic("add", self.shape(), rhs.shape());
        let data = add_fwd(self.data(), rhs.data());
        record(data, &[self, rhs], |_| {
            Box::new(AddBackward {
                lhs_shape: self.shape().to_vec(),
                rhs_shape: rhs.shape().to_vec(),
            })
        })
    }
}

impl std::ops::Add for &Tensor {
    type Output = Tensor;
    fn add(self, rhs: &Tensor) -> Tensor {
        Tensor::add(self, rhs)
    }
}

/// One pass into a fresh array (no copy of `a` first), in parallel for large operands.
fn add_fwd(a: &ArrayD<f32>, b: &ArrayD<f32>) -> ArrayD<f32> {
    if a.shape() == b.shape() {
        crate::kernels::elementwise::zip_map(a.shape(), a, b, |x, y| x + y)
    } else {
        a + b
    }
}

#[derive(Debug)]
struct AddBackward {
    lhs_shape: Vec<usize>,
    rhs_shape: Vec<usize>,
}

impl Backward for AddBackward {
    fn name(&self) -> &'static str {
        "add"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d(a + b)/da = 1, d(a + b)/db = 1, summed over broadcast axes.
        if grads.needs(1) {
            grads.put(1, reduce_to_shape(grad_out.clone(), &self.rhs_shape));
        }
        if grads.needs(0) {
            grads.put(0, reduce_to_shape(grad_out, &self.lhs_shape));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::{arr1, arr2};

    #[test]
    fn add_broadcast_literal() {
        // [[1,2],[3,4]] + [10,20] = [[11,22],[13,24]]; d/db of sum(out * [[1,2],[3,4]]) =
        // column sums [1+3, 2+4] = [4, 6].
        let a = Tensor::param(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]));
        let b = Tensor::param(arr1(&[10.0f32, 20.0]));
        let y = a.add(&b);
        assert_eq!(y.to_vec(), vec![11.0, 22.0, 13.0, 24.0]);
        let g = y.backward_with(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn());
        assert_eq!(g.get(&b).unwrap().as_slice().unwrap(), &[4.0, 6.0]);
        assert_eq!(
            g.get(&a).unwrap().as_slice().unwrap(),
            &[1.0, 2.0, 3.0, 4.0]
        );
    }

    #[test]
    fn add_grad_matches_fd() {
        let a = random_array(&[3, 1, 5], 1);
        let b = random_array(&[4, 1], 2);
        gradcheck(|x| &x[0] + &x[1], &[a, b], &GradCheck::default());
    }

    #[test]
    #[should_panic(expected = "add: shapes [2, 3] and [4] cannot be broadcast")]
    fn add_rejects_incompatible_shapes() {
        let _ = Tensor::zeros(&[2, 3]).add(&Tensor::zeros(&[4]));
    }
}

//! `sub`: elementwise difference with NumPy broadcasting.

use ndarray::ArrayD;

use crate::Tensor;
use crate::kernels::elementwise::{map_inplace, zip_map};
use crate::ops::{Backward, GradSink, record};
use crate::shape::{broadcast_or_panic, reduce_to_shape};

impl Tensor {
    /// `self - rhs` with broadcasting.
    ///
    /// # Panics
    /// If the shapes cannot be broadcast together.
    pub fn sub(&self, rhs: &Tensor) -> Tensor {
        let shape = broadcast_or_panic("sub", self.shape(), rhs.shape());
        let data = sub_fwd(&shape, self.data(), rhs.data());
        record(data, &[self, rhs], |_| {
            Box::new(SubBackward {
                lhs_shape: self.shape().to_vec(),
                rhs_shape: rhs.shape().to_vec(),
            })
        })
    }
}

impl std::ops::Sub for &Tensor {
    type Output = Tensor;
    fn sub(self, rhs: &Tensor) -> Tensor {
        Tensor::sub(self, rhs)
    }
}

fn sub_fwd(shape: &[usize], a: &ArrayD<f32>, b: &ArrayD<f32>) -> ArrayD<f32> {
    zip_map(shape, a, b, |x, y| x - y)
}

#[derive(Debug)]
struct SubBackward {
    lhs_shape: Vec<usize>,
    rhs_shape: Vec<usize>,
}

impl Backward for SubBackward {
    fn name(&self) -> &'static str {
        "sub"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d(a - b)/da = 1, d(a - b)/db = -1, summed over broadcast axes.
        if grads.needs(1) {
            let mut g = reduce_to_shape(grad_out.clone(), &self.rhs_shape);
            map_inplace(&mut g, |v| -v);
            grads.put(1, g);
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
    fn sub_broadcast_literal() {
        // [[1,2],[3,4]] - [10,20] = [[-9,-18],[-7,-16]]; with upstream gradient
        // [[1,2],[3,4]], d/da = upstream and d/db = -(column sums) = [-(1+3), -(2+4)].
        let a = Tensor::param(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]));
        let b = Tensor::param(arr1(&[10.0f32, 20.0]));
        let y = &a - &b;
        assert_eq!(y.to_vec(), vec![-9.0, -18.0, -7.0, -16.0]);
        let g = y.backward_with(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn());
        assert_eq!(
            g.get(&a).unwrap().as_slice().unwrap(),
            &[1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(g.get(&b).unwrap().as_slice().unwrap(), &[-4.0, -6.0]);
    }

    #[test]
    fn sub_grad_matches_fd() {
        let a = random_array(&[3, 1, 5], 1);
        let b = random_array(&[4, 1], 2);
        gradcheck(
            |x| &x[0] - &x[1],
            &[a.clone(), b.clone()],
            &GradCheck::default(),
        );
        gradcheck(|x| x[1].sub(&x[0]), &[a, b], &GradCheck::default());
    }

    #[test]
    fn sub_self_is_zero_gradient() {
        // d(x - x)/dx = 1 - 1 = 0 (the same input in both slots accumulates).
        let x = Tensor::param(arr1(&[1.0f32, 2.0]));
        let g = x.sub(&x).sum_all().backward();
        assert_eq!(g.get(&x).unwrap().as_slice().unwrap(), &[0.0, 0.0]);
    }

    #[test]
    #[should_panic(expected = "sub: shapes [2, 3] and [2] cannot be broadcast")]
    fn sub_rejects_incompatible_shapes() {
        let _ = Tensor::zeros(&[2, 3]).sub(&Tensor::zeros(&[2]));
    }
}

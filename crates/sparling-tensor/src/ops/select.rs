//! `where_`: elementwise selection `cond != 0 ? on_true : on_false` with broadcasting of all
//! three operands. The condition is a constant; the gradient goes to `on_true` where the
//! condition holds and to `on_false` elsewhere.

use std::sync::Arc;

use ndarray::ArrayD;

use crate::Tensor;
use crate::kernels::elementwise::{zip_inplace, zip3_map};
use crate::ops::{Backward, GradSink, record};
use crate::shape::{broadcast_or_panic, reduce_to_shape};

impl Tensor {
    /// `on_true` where `cond != 0`, `on_false` elsewhere (NumPy broadcasting of all three; a
    /// NaN condition counts as true). No gradient flows to `cond`.
    ///
    /// # Panics
    /// If the three shapes cannot be broadcast together.
    pub fn where_(cond: &Tensor, on_true: &Tensor, on_false: &Tensor) -> Tensor {
        let values = broadcast_or_panic("where_", on_true.shape(), on_false.shape());
        let shape = match crate::shape::broadcast_shapes(cond.shape(), &values) {
            Some(s) => s,
            None => panic!(
                "where_: condition shape {:?} cannot be broadcast with value shapes {:?} and {:?}",
                cond.shape(),
                on_true.shape(),
                on_false.shape()
            ),
        };
        let data = where_fwd(&shape, cond.data(), on_true.data(), on_false.data());
        record(data, &[on_true, on_false], |_| {
            Box::new(WhereBackward {
                cond: cond.data_arc(),
                true_shape: on_true.shape().to_vec(),
                false_shape: on_false.shape().to_vec(),
            })
        })
    }
}

fn where_fwd(shape: &[usize], c: &ArrayD<f32>, t: &ArrayD<f32>, f: &ArrayD<f32>) -> ArrayD<f32> {
    zip3_map(shape, c, t, f, |c, t, f| if c != 0.0 { t } else { f })
}

#[derive(Debug)]
struct WhereBackward {
    /// The condition (a shared handle, not a copy).
    cond: Arc<ArrayD<f32>>,
    true_shape: Vec<usize>,
    false_shape: Vec<usize>,
}

impl Backward for WhereBackward {
    fn name(&self) -> &'static str {
        "where_"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d out/d on_true = [cond != 0], d out/d on_false = [cond == 0], summed over broadcast
        // axes.
        if grads.needs(1) {
            let mut g = grad_out.clone();
            zip_inplace(&mut g, &self.cond, |g, c| if c != 0.0 { 0.0 } else { g });
            grads.put(1, reduce_to_shape(g, &self.false_shape));
        }
        if grads.needs(0) {
            let mut g = grad_out;
            zip_inplace(&mut g, &self.cond, |g, c| if c != 0.0 { g } else { 0.0 });
            grads.put(0, reduce_to_shape(g, &self.true_shape));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array};
    use ndarray::{arr0, arr1, arr2};

    #[test]
    fn where_literal() {
        // cond [[1,0,1],[0,0,1]], on_true [[1,2,3],[4,5,6]], on_false the scalar 9:
        // out = [[1,9,3],[9,9,6]]. Upstream [[1,2,3],[4,5,6]]: on_true gets it where cond
        // holds ([[1,0,3],[0,0,6]]), the scalar gets the sum elsewhere (2 + 4 + 5 = 11).
        let c = Tensor::new(arr2(&[[1.0f32, 0.0, 1.0], [0.0, 0.0, 1.0]]));
        let t = Tensor::param(arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]));
        let f = Tensor::param(arr0(9.0f32));
        let y = Tensor::where_(&c, &t, &f);
        assert_eq!(y.to_vec(), vec![1.0, 9.0, 3.0, 9.0, 9.0, 6.0]);
        let g = y.backward_with(arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]).into_dyn());
        assert_eq!(
            g.get(&t).unwrap().as_slice().unwrap(),
            &[1.0, 0.0, 3.0, 0.0, 0.0, 6.0]
        );
        assert_eq!(g.get(&f).unwrap().as_slice().unwrap(), &[11.0]);
    }

    #[test]
    fn where_grad_matches_fd() {
        // The condition broadcasts along the first axis; both values broadcast differently.
        let cond = Tensor::new(arr1(&[1.0f32, 0.0, 0.0, 1.0, 1.0]));
        let t = random_array(&[3, 1], 1);
        let f = random_array(&[3, 5], 2);
        gradcheck(
            |x| Tensor::where_(&cond, &x[0], &x[1]),
            &[t, f],
            &GradCheck::default(),
        );
        // Selecting from the same tensor on both sides gives the identity gradient.
        let x = Tensor::param(arr1(&[1.0f32, 2.0, 3.0, 4.0, 5.0]));
        let g = Tensor::where_(&cond, &x, &x).sum_all().backward();
        assert_eq!(g.get(&x).unwrap().as_slice().unwrap(), &[1.0; 5]);
    }

    #[test]
    #[should_panic(expected = "where_: condition shape [4]")]
    fn where_rejects_incompatible_condition() {
        let _ = Tensor::where_(
            &Tensor::zeros(&[4]),
            &Tensor::zeros(&[2, 3]),
            &Tensor::zeros(&[3]),
        );
    }
}

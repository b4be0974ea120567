//! `index_select`: picks whole slices along one axis by index (embedding lookup:
//! `weight.index_select(0, ids)`). Indices may repeat; their gradients add up.

use ndarray::{ArrayD, Axis, IxDyn};
use rayon::prelude::*;

use crate::Tensor;
use crate::kernels::par::MIN_PAR_ELEMS;
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// The slices `ids[0], ids[1], ...` of `axis`, in that order: the output has length
    /// `ids.len()` along `axis` and the input's lengths elsewhere.
    ///
    /// # Panics
    /// If `axis` is out of range or an index is not below the axis length.
    pub fn index_select(&self, axis: usize, ids: &[usize]) -> Tensor {
        crate::shape_check!(
            axis < self.ndim(),
            "index_select",
            "axis {axis} out of range for shape {:?}",
            self.shape()
        );
        let n = self.shape()[axis];
        if let Some(&bad) = ids.iter().find(|&&i| i >= n) {
            panic!(
                "index_select: index {bad} out of range for axis {axis} of shape {:?}",
                self.shape()
            );
        }
        let data = index_select_fwd(self.data(), axis, ids);
        record(data, &[self], |_| {
            Box::new(IndexSelectBackward {
                in_shape: self.shape().to_vec(),
                axis,
                ids: ids.to_vec(),
            })
        })
    }
}

fn index_select_fwd(x: &ArrayD<f32>, axis: usize, ids: &[usize]) -> ArrayD<f32> {
    let mut shape = x.shape().to_vec();
    shape[axis] = ids.len();
    let mut out = ArrayD::zeros(IxDyn(&shape));
    if out.len() >= MIN_PAR_ELEMS {
        out.axis_iter_mut(Axis(axis))
            .into_par_iter()
            .zip(ids.par_iter())
            .for_each(|(mut o, &i)| o.assign(&x.index_axis(Axis(axis), i)));
    } else {
        for (mut o, &i) in out.axis_iter_mut(Axis(axis)).zip(ids) {
            o.assign(&x.index_axis(Axis(axis), i));
        }
    }
    out
}

#[derive(Debug)]
struct IndexSelectBackward {
    in_shape: Vec<usize>,
    axis: usize,
    ids: Vec<usize>,
}

impl Backward for IndexSelectBackward {
    fn name(&self) -> &'static str {
        "index_select"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // Scatter-add: slice k of the output gradient is added to slice ids[k] of the input
        // gradient, in increasing k (a fixed order, so repeated indices sum deterministically).
        let mut g = ArrayD::zeros(IxDyn(&self.in_shape));
        for (k, &i) in self.ids.iter().enumerate() {
            let mut dst = g.index_axis_mut(Axis(self.axis), i);
            dst += &grad_out.index_axis(Axis(self.axis), k);
        }
        grads.put(0, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array, with_threads};
    use ndarray::arr2;

    #[test]
    fn index_select_literal() {
        // Rows [2, 0, 2] of [[1,2],[3,4],[5,6]] = [[5,6],[1,2],[5,6]]. Upstream
        // [[1,1],[2,2],[3,3]]: row 0 gets [2,2], row 1 nothing, row 2 gets [1+3, 1+3].
        let w = Tensor::param(arr2(&[[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]));
        let y = w.index_select(0, &[2, 0, 2]);
        assert_eq!(y.to_vec(), vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
        assert_eq!(w.index_select(1, &[1]).to_vec(), vec![2.0, 4.0, 6.0]);
        let g = y.backward_with(arr2(&[[1.0f32, 1.0], [2.0, 2.0], [3.0, 3.0]]).into_dyn());
        assert_eq!(
            g.get(&w).unwrap().as_slice().unwrap(),
            &[2.0, 2.0, 0.0, 0.0, 4.0, 4.0]
        );
    }

    #[test]
    fn index_select_grad_matches_fd() {
        let x = random_array(&[4, 3, 2], 111);
        gradcheck(
            |x| x[0].index_select(0, &[3, 1, 3, 0]),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        gradcheck(
            |x| x[0].index_select(1, &[2, 2]),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        gradcheck(|x| x[0].index_select(2, &[]), &[x], &GradCheck::default());
    }

    #[test]
    fn index_select_parallel_matches_serial() {
        let x = Tensor::new(random_array(&[50, 700], 112));
        let ids: Vec<usize> = (0..60).map(|k| (k * 7) % 50).collect();
        let one = with_threads(1, || x.index_select(0, &ids).to_vec());
        let many = with_threads(4, || x.index_select(0, &ids).to_vec());
        assert_eq!(one, many);
        assert_eq!(&one[700..1400], x.data().row_slice(7));
    }

    trait RowSlice {
        fn row_slice(&self, r: usize) -> Vec<f32>;
    }

    impl RowSlice for ArrayD<f32> {
        fn row_slice(&self, r: usize) -> Vec<f32> {
            self.index_axis(Axis(0), r).iter().copied().collect()
        }
    }

    #[test]
    #[should_panic(expected = "index_select: index 3 out of range for axis 0 of shape [3, 2]")]
    fn index_select_rejects_bad_index() {
        let _ = Tensor::zeros(&[3, 2]).index_select(0, &[0, 3]);
    }
}

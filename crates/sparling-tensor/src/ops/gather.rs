//! `gather`: `torch.gather` along one axis. For a 3-D input and `axis = 1`,
//! `out[i][j][k] = x[i][index[i][j][k]][k]`; the output has the shape of `index`.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice, Zip};

use crate::Tensor;
use crate::kernels::par::MIN_PAR_ELEMS;
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// Gathers values along `axis` at the positions in `index` (torch.gather semantics):
    /// `index` has the same number of dimensions as `self`, lengths no larger than `self`'s on
    /// the other axes, and the output has `index`'s shape.
    ///
    /// # Panics
    /// If `axis` is out of range, the dimensions disagree, or an index is out of range.
    pub fn gather(&self, axis: usize, index: &ArrayD<usize>) -> Tensor {
        let shape = self.shape();
        crate::shape_check!(
            axis < shape.len(),
            "gather",
            "axis {axis} out of range for shape {shape:?}"
        );
        let fits = index.ndim() == shape.len()
            && (0..shape.len()).all(|d| d == axis || index.shape()[d] <= shape[d]);
        crate::shape_check!(
            fits,
            "gather",
            "index shape {:?} does not fit input shape {shape:?} off axis {axis}",
            index.shape()
        );
        if let Some(&bad) = index.iter().find(|&&i| i >= shape[axis]) {
            panic!("gather: index {bad} out of range for axis {axis} of shape {shape:?}");
        }
        let data = gather_fwd(self.data(), axis, index);
        record(data, &[self], |_| {
            Box::new(GatherBackward {
                in_shape: self.shape().to_vec(),
                axis,
                index: index.clone(),
            })
        })
    }
}

/// The part of `x` whose lanes along `axis` pair with the lanes of `index`: the other axes
/// are cut to `index`'s lengths.
fn paired<'a>(
    mut x: ArrayViewD<'a, f32>,
    axis: usize,
    index: &ArrayD<usize>,
) -> ArrayViewD<'a, f32> {
    for (d, &len) in index.shape().iter().enumerate() {
        if d != axis {
            x.slice_axis_inplace(Axis(d), Slice::from(0..len));
        }
    }
    x
}

fn gather_fwd(x: &ArrayD<f32>, axis: usize, index: &ArrayD<usize>) -> ArrayD<f32> {
    let src = paired(x.view(), axis, index);
    let mut out = ArrayD::zeros(index.raw_dim());
    let zip = Zip::from(out.lanes_mut(Axis(axis)))
        .and(index.lanes(Axis(axis)))
        .and(src.lanes(Axis(axis)));
    let lane = |mut o: ndarray::ArrayViewMut1<'_, f32>,
                idx: ndarray::ArrayView1<'_, usize>,
                s: ndarray::ArrayView1<'_, f32>| {
        for (o, &i) in o.iter_mut().zip(idx) {
            *o = s[i];
        }
    };
    if index.len() >= MIN_PAR_ELEMS {
        zip.par_for_each(lane);
    } else {
        zip.for_each(lane);
    }
    out
}

#[derive(Debug)]
struct GatherBackward {
    in_shape: Vec<usize>,
    axis: usize,
    index: ArrayD<usize>,
}

impl Backward for GatherBackward {
    fn name(&self) -> &'static str {
        "gather"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // Scatter-add along `axis`: each lane is independent and processed in increasing
        // position, so repeated indices sum in a fixed order for any thread count.
        let mut g = ArrayD::zeros(IxDyn(&self.in_shape));
        let mut dst = g.view_mut();
        for (d, &len) in self.index.shape().iter().enumerate() {
            if d != self.axis {
                dst.slice_axis_inplace(Axis(d), Slice::from(0..len));
            }
        }
        let zip = Zip::from(dst.lanes_mut(Axis(self.axis)))
            .and(self.index.lanes(Axis(self.axis)))
            .and(grad_out.lanes(Axis(self.axis)));
        let lane = |mut d: ndarray::ArrayViewMut1<'_, f32>,
                    idx: ndarray::ArrayView1<'_, usize>,
                    go: ndarray::ArrayView1<'_, f32>| {
            for (&i, &v) in idx.iter().zip(go) {
                d[i] += v;
            }
        };
        if self.index.len() >= MIN_PAR_ELEMS {
            zip.par_for_each(lane);
        } else {
            zip.for_each(lane);
        }
        grads.put(0, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array, with_threads};
    use ndarray::arr2;
    use rand::{Rng, SeedableRng};

    #[test]
    fn gather_literal() {
        // x = [[1,2,3],[4,5,6]], index [[2,0],[1,1]] on axis 1: out = [[3,1],[5,5]].
        // Upstream [[1,2],[3,4]] scatters to [[2,0,1],[0,3+4,0]].
        let x = Tensor::param(arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]));
        let idx = arr2(&[[2usize, 0], [1, 1]]).into_dyn();
        let y = x.gather(1, &idx);
        assert_eq!(y.to_vec(), vec![3.0, 1.0, 5.0, 5.0]);
        let g = y.backward_with(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn());
        assert_eq!(
            g.get(&x).unwrap().as_slice().unwrap(),
            &[2.0, 0.0, 1.0, 0.0, 7.0, 0.0]
        );
        // Axis 0 with a smaller index shape: out[0][j] = x[index[0][j]][j].
        let idx0 = arr2(&[[1usize, 0]]).into_dyn();
        assert_eq!(x.gather(0, &idx0).to_vec(), vec![4.0, 2.0]);
    }

    fn random_index(shape: &[usize], bound: usize, seed: u64) -> ArrayD<usize> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        ArrayD::from_shape_fn(IxDyn(shape), |_| rng.random_range(0..bound))
    }

    #[test]
    fn gather_matches_naive() {
        let x = random_array(&[3, 4, 5], 121);
        for (axis, ishape) in [(0, [2, 4, 5]), (1, [3, 6, 2]), (2, [1, 3, 7])] {
            let idx = random_index(&ishape, x.shape()[axis], 122 + axis as u64);
            let got = Tensor::new(x.clone()).gather(axis, &idx);
            assert_eq!(got.shape(), &ishape);
            for (p, &v) in got.data().indexed_iter() {
                let mut q = p.clone();
                q[axis] = idx[&p];
                assert_eq!(v, x[q]);
            }
        }
    }

    #[test]
    fn gather_grad_matches_fd() {
        let x = random_array(&[3, 4, 5], 123);
        let idx = random_index(&[3, 6, 2], 4, 124);
        gradcheck(
            |x| x[0].gather(1, &idx),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        let idx = random_index(&[2, 4, 5], 3, 125);
        gradcheck(|x| x[0].gather(0, &idx), &[x], &GradCheck::default());
    }

    #[test]
    fn gather_is_thread_count_independent() {
        // Many repeated indices per lane: the scatter-add order must not depend on threads.
        let x = Tensor::param(random_array(&[40, 30], 126));
        let idx = random_index(&[40, 1000], 30, 127);
        let run = || {
            let y = x.gather(1, &idx);
            let up = random_array(y.shape(), 128);
            let g = y.backward_with(up);
            (y.to_vec(), g.get(&x).unwrap().clone())
        };
        let one = with_threads(1, run);
        let many = with_threads(4, run);
        assert_eq!(one, many);
    }

    #[test]
    #[should_panic(expected = "gather: index 3 out of range for axis 1 of shape [2, 3]")]
    fn gather_rejects_bad_index() {
        let _ = Tensor::zeros(&[2, 3]).gather(1, &arr2(&[[0usize, 3]]).into_dyn());
    }
}

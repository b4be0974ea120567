//! `max` and `argmax` along one axis. The gradient of `max` goes to the first maximal index of
//! each lane (a subgradient at ties).

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Zip};

use crate::Tensor;
use crate::ops::sum::keepdim_shape;
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// The maximum along `axis`; `keepdim` keeps the axis with length 1. A NaN in a lane makes
    /// that lane's maximum NaN. The gradient goes to the first maximal element of each lane.
    ///
    /// # Panics
    /// If `axis` is out of range or has length 0.
    pub fn max(&self, axis: usize, keepdim: bool) -> Tensor {
        check_axis("max", self.shape(), axis);
        let idx = argmax_fwd(self.view(), axis);
        let mut data = ArrayD::zeros(idx.raw_dim());
        Zip::from(&mut data)
            .and(&idx)
            .and(self.data().lanes(Axis(axis)))
            .for_each(|v, &i, lane| *v = lane[i]);
        if keepdim {
            data = data
                .into_shape_with_order(IxDyn(&keepdim_shape(self.shape(), &[axis])))
                .expect("keepdim reshape");
        }
        record(data, &[self], |_| {
            Box::new(MaxBackward {
                argmax: idx,
                in_shape: self.shape().to_vec(),
                axis,
            })
        })
    }

    /// The index of the first maximum along `axis` (the axis is removed from the shape). A NaN
    /// counts as the maximum. Not differentiable (no graph).
    ///
    /// # Panics
    /// If `axis` is out of range or has length 0.
    pub fn argmax(&self, axis: usize) -> ArrayD<usize> {
        check_axis("argmax", self.shape(), axis);
        argmax_fwd(self.view(), axis)
    }
}

fn check_axis(op: &str, shape: &[usize], axis: usize) {
    crate::shape_check!(
        axis < shape.len(),
        op,
        "axis {axis} out of range for shape {shape:?}"
    );
    crate::shape_check!(
        shape[axis] > 0,
        op,
        "axis {axis} of shape {shape:?} is empty"
    );
}

/// First index of the maximum of each lane along `axis` (NaN wins, first NaN first).
fn argmax_fwd(x: ArrayViewD<'_, f32>, axis: usize) -> ArrayD<usize> {
    x.map_axis(Axis(axis), |lane| {
        let mut best = 0;
        let mut best_v = lane[0];
        for (i, &v) in lane.iter().enumerate().skip(1) {
            if best_v.is_nan() {
                break;
            }
            if v > best_v || v.is_nan() {
                best = i;
                best_v = v;
            }
        }
        best
    })
}

#[derive(Debug)]
struct MaxBackward {
    /// The first maximal index of each lane (the input shape without `axis`).
    argmax: ArrayD<usize>,
    in_shape: Vec<usize>,
    axis: usize,
}

impl Backward for MaxBackward {
    fn name(&self) -> &'static str {
        "max"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d max / dx_i = 1 at the first maximal index of the lane, 0 elsewhere.
        let g = grad_out
            .into_shape_with_order(self.argmax.raw_dim())
            .expect("max backward reshape");
        let mut gx = ArrayD::zeros(IxDyn(&self.in_shape));
        Zip::from(gx.lanes_mut(Axis(self.axis)))
            .and(&self.argmax)
            .and(&g)
            .for_each(|mut lane, &i, &g| lane[i] = g);
        grads.put(0, gx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck};
    use ndarray::{arr1, arr2};
    use rand::SeedableRng;
    use rand::seq::SliceRandom;

    #[test]
    fn max_literal() {
        // Rows [1, 5, 5] and [7, -1, 2]: maxima 5 (first at index 1) and 7 (index 0).
        // Upstream [2, 3] lands on those positions only. Column maxima: [7, 5, 5].
        let x = Tensor::param(arr2(&[[1.0f32, 5.0, 5.0], [7.0, -1.0, 2.0]]));
        let y = x.max(1, false);
        assert_eq!(y.to_vec(), vec![5.0, 7.0]);
        assert_eq!(x.argmax(1).as_slice().unwrap(), &[1, 0]);
        assert_eq!(x.max(0, true).shape(), &[1, 3]);
        assert_eq!(x.max(0, true).to_vec(), vec![7.0, 5.0, 5.0]);
        let g = y.backward_with(arr1(&[2.0f32, 3.0]).into_dyn());
        assert_eq!(
            g.get(&x).unwrap().as_slice().unwrap(),
            &[0.0, 2.0, 0.0, 3.0, 0.0, 0.0]
        );
    }

    #[test]
    fn max_nan_propagates() {
        let x = Tensor::new(arr1(&[1.0f32, f32::NAN, 3.0, f32::NAN]));
        assert_eq!(x.argmax(0).as_slice().unwrap(), &[1]);
        assert!(x.max(0, false).item().is_nan());
    }

    #[test]
    fn argmax_matches_naive_with_ties() {
        // Small integer values make ties frequent; the naive reference scans for the first
        // strict maximum.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(41);
        for shape in [vec![1usize], vec![4, 1], vec![3, 5, 2], vec![2, 7, 3]] {
            let n: usize = shape.iter().product();
            let mut vals: Vec<f32> = (0..n).map(|i| (i % 3) as f32).collect();
            vals.shuffle(&mut rng);
            let x = ArrayD::from_shape_vec(IxDyn(&shape), vals).unwrap();
            for axis in 0..shape.len() {
                let got = Tensor::new(x.clone()).argmax(axis);
                let want = x.map_axis(Axis(axis), |lane| {
                    let m = lane.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                    lane.iter().position(|&v| v == m).unwrap()
                });
                assert_eq!(got, want, "shape {shape:?} axis {axis}");
            }
        }
    }

    #[test]
    fn max_grad_matches_fd() {
        // Distinct values 0.03 apart in a random order: every lane's maximum is unique and
        // stays the maximum under the finite-difference step (away from the tie kink).
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        let mut vals: Vec<f32> = (0..60).map(|i| i as f32 * 0.03 - 0.9).collect();
        vals.shuffle(&mut rng);
        let x = ArrayD::from_shape_vec(IxDyn(&[3, 4, 5]), vals).unwrap();
        gradcheck(
            |x| x[0].max(1, false),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        gradcheck(|x| x[0].max(2, true), &[x], &GradCheck::default());
    }

    #[test]
    #[should_panic(expected = "max: axis 1 of shape [2, 0] is empty")]
    fn max_rejects_empty_axis() {
        let _ = Tensor::zeros(&[2, 0]).max(1, false);
    }
}

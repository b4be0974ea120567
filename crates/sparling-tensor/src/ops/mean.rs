//! `mean_all` and `mean`: averages over all elements or over chosen axes, accumulated in `f64`
//! with a fixed summation order (the result does not depend on the number of threads). Also
//! holds [`reduce_groups`], the grouped-reduction kernel shared with `var`.

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use crate::Tensor;
use crate::kernels::elementwise::{to_standard, zip_inplace};
use crate::kernels::par::{MIN_PAR_ELEMS, sum_f64};
use crate::ops::sum::{checked_axes, keepdim_shape};
use crate::ops::{Backward, GradSink, record};

impl Tensor {
    /// The mean of all elements, as a 0-dimensional tensor (NaN for an empty tensor).
    pub fn mean_all(&self) -> Tensor {
        let axes: Vec<usize> = (0..self.ndim()).collect();
        self.mean_impl("mean_all", &axes, false)
    }

    /// The mean over `axes` (any order, no repeats); `keepdim` keeps them with length 1.
    ///
    /// # Panics
    /// If an axis is out of range or repeated.
    pub fn mean(&self, axes: &[usize], keepdim: bool) -> Tensor {
        self.mean_impl("mean", axes, keepdim)
    }

    fn mean_impl(&self, op: &'static str, axes: &[usize], keepdim: bool) -> Tensor {
        let axes = checked_axes(op, axes, self.ndim());
        let count = group_len(self.shape(), &axes);
        let mut data = reduce_groups(self.data(), &axes, |g| (mean_f64(g)) as f32);
        if keepdim {
            data = data
                .into_shape_with_order(IxDyn(&keepdim_shape(self.shape(), &axes)))
                .expect("keepdim reshape");
        }
        record(data, &[self], |_| {
            Box::new(MeanBackward {
                in_shape: self.shape().to_vec(),
                axes,
                count,
            })
        })
    }
}

/// Number of elements reduced into each output element.
pub(crate) fn group_len(shape: &[usize], axes: &[usize]) -> usize {
    axes.iter().map(|&a| shape[a]).product()
}

/// The `f64` mean of a slice (fixed-chunk summation), NaN when empty.
pub(crate) fn mean_f64(g: &[f32]) -> f64 {
    sum_f64(g) / g.len() as f64
}

/// Applies `f` to each group of elements that share their indices on the axes not in `axes`
/// (sorted, validated). Each group is passed as one contiguous slice in row-major order of the
/// reduced axes; the result has the shape of the kept axes (no keepdim) in standard layout.
/// Groups are processed in parallel for large inputs, each by one call of `f`, so the result
/// does not depend on the number of threads.
pub(crate) fn reduce_groups<F>(x: &ArrayD<f32>, axes: &[usize], f: F) -> ArrayD<f32>
where
    F: Fn(&[f32]) -> f32 + Sync + Send,
{
    let kept: Vec<usize> = (0..x.ndim()).filter(|a| !axes.contains(a)).collect();
    let out_shape: Vec<usize> = kept.iter().map(|&a| x.shape()[a]).collect();
    let outer: usize = out_shape.iter().product();
    let inner = group_len(x.shape(), axes);
    // Kept axes first, reduced axes last: each group becomes one contiguous run.
    let order: Vec<usize> = kept.iter().chain(axes).copied().collect();
    let moved = x.view().permuted_axes(IxDyn(&order));
    let contiguous;
    let flat: &[f32] = match moved.as_slice() {
        Some(s) => s,
        None => {
            contiguous = to_standard(moved);
            contiguous.as_slice().expect("standard layout")
        }
    };
    let values: Vec<f32> = if inner == 0 {
        vec![f(&[]); outer]
    } else if flat.len() >= MIN_PAR_ELEMS && outer > 1 {
        flat.par_chunks(inner).map(&f).collect()
    } else {
        flat.chunks(inner).map(&f).collect()
    };
    ArrayD::from_shape_vec(IxDyn(&out_shape), values).expect("reduce_groups shape")
}

#[derive(Debug)]
struct MeanBackward {
    in_shape: Vec<usize>,
    axes: Vec<usize>,
    count: usize,
}

impl Backward for MeanBackward {
    fn name(&self) -> &'static str {
        "mean"
    }

    fn backward(&self, grad_out: ArrayD<f32>, grads: &mut GradSink) {
        // d mean / dx_i = 1 / n: broadcast the output gradient back, divided by the count.
        let kept = keepdim_shape(&self.in_shape, &self.axes);
        let scale = 1.0 / self.count as f32;
        let g = grad_out
            .into_shape_with_order(IxDyn(&kept))
            .expect("mean backward reshape");
        let mut gx = ArrayD::zeros(IxDyn(&self.in_shape));
        zip_inplace(&mut gx, &g, |_, g| g * scale);
        grads.put(0, gx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GradCheck, gradcheck, random_array, with_threads};
    use ndarray::{arr1, arr2};

    #[test]
    fn mean_literal() {
        // mean over axis 0 of [[1,2,3],[4,5,6]] = [2.5, 3.5, 4.5]; mean_all = 3.5. The gradient
        // of sum(mean0 * [1, 2, 3]) is column j filled with (j + 1) / 2.
        let x = Tensor::param(arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]));
        let y = x.mean(&[0], false);
        assert_eq!(y.to_vec(), vec![2.5, 3.5, 4.5]);
        assert_eq!(x.mean_all().item(), 3.5);
        assert_eq!(x.mean(&[1], true).shape(), &[2, 1]);
        assert_eq!(x.mean(&[1], true).to_vec(), vec![2.0, 5.0]);
        let g = y.backward_with(arr1(&[1.0f32, 2.0, 3.0]).into_dyn());
        assert_eq!(
            g.get(&x).unwrap().as_slice().unwrap(),
            &[0.5, 1.0, 1.5, 0.5, 1.0, 1.5]
        );
    }

    #[test]
    fn mean_matches_naive_on_random_axes() {
        let x = random_array(&[3, 4, 5, 2], 21);
        for axes in [vec![0], vec![1, 3], vec![0, 2], vec![3, 0, 1], vec![]] {
            let got = Tensor::new(x.clone()).mean(&axes, true);
            let mut naive = x.clone();
            for &a in &axes {
                naive = naive
                    .mean_axis(ndarray::Axis(a))
                    .unwrap()
                    .insert_axis(ndarray::Axis(a));
            }
            crate::testing::assert_close(got.data(), &naive, 1e-6, 1e-5);
        }
    }

    #[test]
    fn mean_grad_matches_fd() {
        let x = random_array(&[3, 4, 5], 22);
        gradcheck(
            |x| x[0].mean(&[2, 0], false),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        gradcheck(
            |x| x[0].mean(&[1], true),
            std::slice::from_ref(&x),
            &GradCheck::default(),
        );
        gradcheck(|x| x[0].mean_all(), &[x], &GradCheck::default());
    }

    #[test]
    fn mean_is_thread_count_independent() {
        // Large enough for the parallel paths (many groups, and one long group).
        let x = Tensor::new(random_array(&[64, 1030], 23));
        for axes in [vec![1], vec![0], vec![0, 1]] {
            let one = with_threads(1, || x.mean(&axes, false).to_vec());
            let many = with_threads(4, || x.mean(&axes, false).to_vec());
            assert_eq!(one, many);
        }
    }

    #[test]
    #[should_panic(expected = "mean: axis 2 out of range for 2 dimensions")]
    fn mean_rejects_bad_axis() {
        let _ = Tensor::zeros(&[2, 3]).mean(&[2], false);
    }
}

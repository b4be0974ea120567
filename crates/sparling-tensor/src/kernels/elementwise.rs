//! Elementwise kernels shared by the unary, binary and shape ops: maps and zips over (possibly
//! broadcast) operands that always write a fresh standard-layout (row-major, contiguous) array
//! (allocated uninitialised: every element is written exactly once, so no memset precedes it),
//! in parallel above [`MIN_PAR_ELEMS`] elements. Each output element depends on its own inputs
//! only, so the results do not depend on the number of threads.

use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};

use crate::kernels::par::MIN_PAR_ELEMS;

/// `f` applied to every element of `a`, into a new standard-layout array.
pub fn map<F>(a: &ArrayD<f32>, f: F) -> ArrayD<f32>
where
    F: Fn(f32) -> f32 + Sync + Send,
{
    let mut out = ArrayD::uninit(IxDyn(a.shape()));
    if out.len() >= MIN_PAR_ELEMS {
        Zip::from(&mut out).and(a).par_for_each(|o, &x| {
            o.write(f(x));
        });
    } else {
        Zip::from(&mut out).and(a).for_each(|o, &x| {
            o.write(f(x));
        });
    }
    // SAFETY: the Zip over `out` (same shape as `a`) wrote every element.
    unsafe { out.assume_init() }
}

/// `a[i] = f(a[i])` in place.
pub fn map_inplace<F>(a: &mut ArrayD<f32>, f: F)
where
    F: Fn(f32) -> f32 + Sync + Send,
{
    if a.len() >= MIN_PAR_ELEMS {
        Zip::from(a).par_for_each(|v| *v = f(*v));
    } else {
        Zip::from(a).for_each(|v| *v = f(*v));
    }
}

/// `out[i] = f(a[i], b[i])` with `a` and `b` broadcast to `shape`, into a new standard-layout
/// array.
///
/// # Panics
/// If an operand cannot be broadcast to `shape` (callers check shapes first).
pub fn zip_map<F>(shape: &[usize], a: &ArrayD<f32>, b: &ArrayD<f32>, f: F) -> ArrayD<f32>
where
    F: Fn(f32, f32) -> f32 + Sync + Send,
{
    let a = broadcast_view("zip_map", a, shape);
    let b = broadcast_view("zip_map", b, shape);
    let mut out = ArrayD::uninit(IxDyn(shape));
    if out.len() >= MIN_PAR_ELEMS {
        Zip::from(&mut out)
            .and(&a)
            .and(&b)
            .par_for_each(|o, &x, &y| {
                o.write(f(x, y));
            });
    } else {
        Zip::from(&mut out).and(&a).and(&b).for_each(|o, &x, &y| {
            o.write(f(x, y));
        });
    }
    // SAFETY: the Zip over `out` wrote every element.
    unsafe { out.assume_init() }
}

/// `out[i] = f(a[i], b[i], c[i])` with all three broadcast to `shape`, into a new
/// standard-layout array.
///
/// # Panics
/// If an operand cannot be broadcast to `shape` (callers check shapes first).
pub fn zip3_map<F>(
    shape: &[usize],
    a: &ArrayD<f32>,
    b: &ArrayD<f32>,
    c: &ArrayD<f32>,
    f: F,
) -> ArrayD<f32>
where
    F: Fn(f32, f32, f32) -> f32 + Sync + Send,
{
    let a = broadcast_view("zip3_map", a, shape);
    let b = broadcast_view("zip3_map", b, shape);
    let c = broadcast_view("zip3_map", c, shape);
    let mut out = ArrayD::uninit(IxDyn(shape));
    if out.len() >= MIN_PAR_ELEMS {
        Zip::from(&mut out)
            .and(&a)
            .and(&b)
            .and(&c)
            .par_for_each(|o, &x, &y, &z| {
                o.write(f(x, y, z));
            });
    } else {
        Zip::from(&mut out)
            .and(&a)
            .and(&b)
            .and(&c)
            .for_each(|o, &x, &y, &z| {
                o.write(f(x, y, z));
            });
    }
    // SAFETY: the Zip over `out` wrote every element.
    unsafe { out.assume_init() }
}

/// `a[i] = f(a[i], b[i])` in place, with `b` broadcast to the shape of `a`.
///
/// # Panics
/// If `b` cannot be broadcast to the shape of `a`.
pub fn zip_inplace<F>(a: &mut ArrayD<f32>, b: &ArrayD<f32>, f: F)
where
    F: Fn(f32, f32) -> f32 + Sync + Send,
{
    let shape = a.shape().to_vec();
    let b = broadcast_view("zip_inplace", b, &shape);
    if a.len() >= MIN_PAR_ELEMS {
        Zip::from(a).and(&b).par_for_each(|v, &y| *v = f(*v, y));
    } else {
        Zip::from(a).and(&b).for_each(|v, &y| *v = f(*v, y));
    }
}

/// `a[i] = f(a[i], b[i], c[i])` in place, with `b` and `c` broadcast to the shape of `a`.
///
/// # Panics
/// If `b` or `c` cannot be broadcast to the shape of `a`.
pub fn zip3_inplace<F>(a: &mut ArrayD<f32>, b: &ArrayD<f32>, c: &ArrayD<f32>, f: F)
where
    F: Fn(f32, f32, f32) -> f32 + Sync + Send,
{
    let shape = a.shape().to_vec();
    let b = broadcast_view("zip3_inplace", b, &shape);
    let c = broadcast_view("zip3_inplace", c, &shape);
    if a.len() >= MIN_PAR_ELEMS {
        Zip::from(a)
            .and(&b)
            .and(&c)
            .par_for_each(|v, &y, &z| *v = f(*v, y, z));
    } else {
        Zip::from(a)
            .and(&b)
            .and(&c)
            .for_each(|v, &y, &z| *v = f(*v, y, z));
    }
}

/// A copy of any view (strided, permuted, broadcast) as a standard-layout array.
pub fn to_standard(view: ArrayViewD<'_, f32>) -> ArrayD<f32> {
    if view.is_standard_layout() {
        return view.to_owned();
    }
    let mut out = ArrayD::uninit(IxDyn(view.shape()));
    if out.len() >= MIN_PAR_ELEMS {
        Zip::from(&mut out).and(&view).par_for_each(|o, &x| {
            o.write(x);
        });
    } else {
        Zip::from(&mut out).and(&view).for_each(|o, &x| {
            o.write(x);
        });
    }
    // SAFETY: the Zip over `out` wrote every element.
    unsafe { out.assume_init() }
}

fn broadcast_view<'a>(op: &str, a: &'a ArrayD<f32>, shape: &[usize]) -> ArrayViewD<'a, f32> {
    match a.broadcast(IxDyn(shape)) {
        Some(v) => v,
        None => panic!(
            "{op}: shape {:?} cannot be broadcast to {shape:?}",
            a.shape()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{random_array, with_threads};

    #[test]
    fn zip_map_broadcasts_and_is_standard() {
        // [[1],[2]] (2,1) - [10, 20, 30] (3) = [[-9,-19,-29],[-8,-18,-28]].
        let a = ndarray::arr2(&[[1.0f32], [2.0]]).into_dyn();
        let b = ndarray::arr1(&[10.0f32, 20.0, 30.0]).into_dyn();
        let out = zip_map(&[2, 3], &a, &b, |x, y| x - y);
        assert!(out.is_standard_layout());
        assert_eq!(
            out.as_slice().unwrap(),
            &[-9.0, -19.0, -29.0, -8.0, -18.0, -28.0]
        );
    }

    #[test]
    fn map_of_transposed_input_is_standard() {
        // The transpose of [[1,2,3],[4,5,6]] doubled, read row-major: [2,8,4,10,6,12].
        let a = ndarray::arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]])
            .reversed_axes()
            .into_dyn();
        let out = map(&a, |x| 2.0 * x);
        assert!(out.is_standard_layout());
        assert_eq!(out.as_slice().unwrap(), &[2.0, 8.0, 4.0, 10.0, 6.0, 12.0]);
        let s = to_standard(a.view());
        assert_eq!(s.as_slice().unwrap(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn zip_is_thread_count_independent() {
        // Large enough to take the parallel path.
        let a = random_array(&[3, MIN_PAR_ELEMS / 2 + 7], 11);
        let b = random_array(&[MIN_PAR_ELEMS / 2 + 7], 12);
        let f = |x: f32, y: f32| (x * y).exp() - y;
        let one = with_threads(1, || zip_map(a.shape(), &a, &b, f));
        let many = with_threads(4, || zip_map(a.shape(), &a, &b, f));
        let seq: Vec<f32> = a
            .outer_iter()
            .flat_map(|row| {
                row.iter()
                    .zip(b.iter())
                    .map(|(&x, &y)| f(x, y))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(one, many);
        assert_eq!(one.as_slice().unwrap(), seq.as_slice());
    }
}

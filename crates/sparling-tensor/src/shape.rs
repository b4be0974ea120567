//! Shape helpers: the `shape_check!` macro, broadcasting rules and reduction of a broadcast
//! gradient back to an operand's shape (shared by every broadcasting op).

use ndarray::{ArrayD, Axis, IxDyn};

/// Panics with `"<op>: <message>"` when a shape condition does not hold. For programmer errors
/// inside tensor math only; user input gets a [`crate::Error`].
#[macro_export]
macro_rules! shape_check {
    ($cond:expr, $op:expr, $($arg:tt)+) => {
        if !$cond {
            panic!("{}: {}", $op, format!($($arg)+));
        }
    };
}

/// The NumPy broadcast of two shapes, or `None` if they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// The broadcast of two shapes; panics with the op name and both shapes if incompatible.
pub fn broadcast_or_panic(op: &str, a: &[usize], b: &[usize]) -> Vec<usize> {
    match broadcast_shapes(a, b) {
        Some(s) => s,
        None => panic!("{op}: shapes {a:?} and {b:?} cannot be broadcast together"),
    }
}

/// Sums a gradient of the broadcast shape back to `shape` (the inverse of broadcasting):
/// leading extra axes are summed away and axes where `shape` has 1 are summed with keepdim.
/// Summation order is fixed (ndarray's lane order), so results do not depend on threads.
pub fn reduce_to_shape(grad: ArrayD<f32>, shape: &[usize]) -> ArrayD<f32> {
    if grad.shape() == shape {
        return grad;
    }
    let mut g = grad;
    while g.ndim() > shape.len() {
        g = g.sum_axis(Axis(0));
    }
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[i] != 1 {
            g = g.sum_axis(Axis(i)).insert_axis(Axis(i));
        }
    }
    debug_assert_eq!(g.shape(), shape);
    g.into_shape_with_order(IxDyn(shape))
        .expect("reduce_to_shape")
}

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_rules() {
        assert_eq!(broadcast_shapes(&[2, 3], &[3]), Some(vec![2, 3]));
        assert_eq!(broadcast_shapes(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast_shapes(&[2, 3], &[4]), None);
        assert_eq!(broadcast_shapes(&[], &[5]), Some(vec![5]));
    }

    #[test]
    fn reduce_to_shape_sums_broadcast_axes() {
        let g = ArrayD::from_elem(IxDyn(&[2, 3, 4]), 1.0f32);
        let r = reduce_to_shape(g, &[3, 1]);
        assert_eq!(r.shape(), &[3, 1]);
        assert!(r.iter().all(|&v| v == 8.0));
    }
}

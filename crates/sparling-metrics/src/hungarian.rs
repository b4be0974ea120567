//! An exact Hungarian (Kuhn-Munkres) solver for rectangular assignment problems.
//!
//! Given an `n x m` weight matrix, find a one-to-one assignment of rows to columns that covers
//! the smaller side completely (every row if `n <= m`, every column otherwise) and maximises the
//! total weight. This is the classic `O(min(n,m)^2 * max(n,m))` shortest augmenting path
//! algorithm with row/column potentials (Kuhn 1955, Munkres 1957, in the formulation of
//! Jonker-Volgenant / e-maxx). With nonnegative weights (counts) a complete assignment of the
//! smaller side is also a maximum-weight matching of any size, since adding a pair never lowers
//! the total.
//!
//! Integer weights are solved exactly in `i128` arithmetic ([`max_weight_assignment`]);
//! floating-point weights are supported too ([`max_weight_assignment_f64`]).

use std::ops::{Add, Sub};

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A one-to-one assignment of rows to columns and its total weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assignment<T> {
    /// For each row, its column (`None` for the rows left over when there are more rows than
    /// columns).
    pub row_to_col: Vec<Option<usize>>,
    /// The sum of the weights of the assigned pairs.
    pub total: T,
}

impl<T> Assignment<T> {
    /// For each of `cols` columns, its row (`None` for the columns left over).
    pub fn col_to_row(&self, cols: usize) -> Vec<Option<usize>> {
        let mut out = vec![None; cols];
        for (r, c) in self.row_to_col.iter().enumerate() {
            if let Some(c) = *c {
                out[c] = Some(r);
            }
        }
        out
    }
}

/// Maximum-weight assignment of an integer weight matrix, exact.
///
/// ```
/// use ndarray::array;
/// use sparling_metrics::max_weight_assignment;
/// let w = array![[5i64, 9, 1], [10, 3, 2]];
/// let a = max_weight_assignment(w.view());
/// assert_eq!(a.row_to_col, vec![Some(1), Some(0)]);
/// assert_eq!(a.total, 19);
/// ```
pub fn max_weight_assignment(weights: ArrayView2<'_, i64>) -> Assignment<i128> {
    // Minimise the negated weights; i128 keeps every intermediate exact.
    let cost = weights.mapv(|w| -(w as i128));
    let row_to_col = min_cost_assignment(cost.view(), i128::MAX / 4, 0);
    let total = total_of(&row_to_col, |r, c| weights[[r, c]] as i128, 0);
    Assignment { row_to_col, total }
}

/// Maximum-weight assignment of a real weight matrix. Errors on a NaN or infinite weight.
pub fn max_weight_assignment_f64(weights: ArrayView2<'_, f64>) -> Result<Assignment<f64>> {
    if let Some((i, &w)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite()) {
        return Err(Error::NonFinite {
            what: "assignment weight",
            index: i,
            value: w,
        });
    }
    let cost = weights.mapv(|w| -w);
    let row_to_col = min_cost_assignment(cost.view(), f64::INFINITY, 0.0);
    let total = total_of(&row_to_col, |r, c| weights[[r, c]], 0.0);
    Ok(Assignment { row_to_col, total })
}

fn total_of<T: Add<Output = T> + Copy>(
    row_to_col: &[Option<usize>],
    w: impl Fn(usize, usize) -> T,
    zero: T,
) -> T {
    row_to_col
        .iter()
        .enumerate()
        .filter_map(|(r, c)| c.map(|c| w(r, c)))
        .fold(zero, |a, b| a + b)
}

/// Minimum-cost assignment covering the smaller side; returns row -> column. `inf` must exceed
/// every reduced cost that can occur (`i128::MAX / 4` for costs of at most 64 bits).
pub(crate) fn min_cost_assignment<T>(cost: ArrayView2<'_, T>, inf: T, zero: T) -> Vec<Option<usize>>
where
    T: Copy + PartialOrd + Add<Output = T> + Sub<Output = T>,
{
    let (n, m) = cost.dim();
    if n == 0 || m == 0 {
        return vec![None; n];
    }
    if n > m {
        // Solve the transpose (rows <= columns), then invert.
        let t: Array2<T> = cost.t().to_owned();
        let col_to_row = min_cost_assignment(t.view(), inf, zero);
        let mut row_to_col = vec![None; n];
        for (c, r) in col_to_row.into_iter().enumerate() {
            let r = r.expect("every column of a wide problem is assigned");
            row_to_col[r] = Some(c);
        }
        return row_to_col;
    }
    // Shortest augmenting paths with potentials; 1-based rows/columns, index 0 is a sentinel.
    let mut u = vec![zero; n + 1];
    let mut v = vec![zero; m + 1];
    let mut p = vec![0usize; m + 1]; // p[j]: row matched to column j (0 = free)
    let mut way = vec![0usize; m + 1];
    let mut minv = vec![inf; m + 1];
    let mut used = vec![false; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        minv.fill(inf);
        used.fill(false);
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = cost[[i0 - 1, j - 1]] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta || j1 == 0 {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] = u[p[j]] + delta;
                    v[j] = v[j] - delta;
                } else {
                    minv[j] = minv[j] - delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut row_to_col = vec![None; n];
    for j in 1..=m {
        if p[j] != 0 {
            row_to_col[p[j] - 1] = Some(j - 1);
        }
    }
    row_to_col
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Best total over all injective maps of the smaller side into the larger one.
    fn brute_force(w: &Array2<i64>) -> i128 {
        // Work on the wide orientation: rows <= columns.
        let w = if w.nrows() <= w.ncols() {
            w.clone()
        } else {
            w.t().to_owned()
        };
        fn rec(k: usize, used: &mut Vec<bool>, w: &Array2<i64>) -> i128 {
            if k == w.nrows() {
                return 0;
            }
            let mut best = i128::MIN;
            for j in 0..w.ncols() {
                if !used[j] {
                    used[j] = true;
                    let t = w[[k, j]] as i128 + rec(k + 1, used, w);
                    used[j] = false;
                    best = best.max(t);
                }
            }
            best
        }
        rec(0, &mut vec![false; w.ncols()], &w)
    }

    fn check_valid<T>(a: &Assignment<T>, n: usize, m: usize) {
        assert_eq!(a.row_to_col.len(), n);
        let cols: Vec<usize> = a.row_to_col.iter().flatten().copied().collect();
        assert_eq!(cols.len(), n.min(m), "the smaller side must be covered");
        let mut sorted = cols.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), cols.len(), "one-to-one");
        assert!(cols.iter().all(|&c| c < m));
    }

    #[test]
    fn hungarian_matches_brute_force_on_random_matrices() {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        for trial in 0..400 {
            let n = rng.random_range(1..=7);
            let m = if trial % 2 == 0 {
                n
            } else {
                rng.random_range(1..=7)
            };
            // Small ranges give many ties; some trials include negative weights.
            let lo = if trial % 3 == 0 { -20 } else { 0 };
            let hi = if trial % 5 == 0 { 3 } else { 1000 };
            let w = Array2::from_shape_fn((n, m), |_| rng.random_range(lo..hi));
            let a = max_weight_assignment(w.view());
            check_valid(&a, n, m);
            let sum: i128 = a
                .row_to_col
                .iter()
                .enumerate()
                .filter_map(|(r, c)| c.map(|c| w[[r, c]] as i128))
                .sum();
            assert_eq!(a.total, sum);
            assert_eq!(a.total, brute_force(&w), "trial {trial}: {w:?}");

            let wf = w.mapv(|x| x as f64 * 0.5);
            let af = max_weight_assignment_f64(wf.view()).unwrap();
            check_valid(&af, n, m);
            assert_eq!(af.total, brute_force(&w) as f64 * 0.5);
        }
    }

    #[test]
    fn hungarian_literal_cases() {
        // Greedy (take the 9 first) would give 9 + 2 = 11; the optimum is 10 + 9 = 19.
        let w = array![[5i64, 9, 1], [10, 3, 2]];
        let a = max_weight_assignment(w.view());
        assert_eq!(
            (a.row_to_col.clone(), a.total),
            (vec![Some(1), Some(0)], 19)
        );
        assert_eq!(a.col_to_row(3), vec![Some(1), Some(0), None]);
        // Tall: 3 rows, 2 columns; row 1 is left over.
        let t = array![[7i64, 1], [6, 6], [1, 8]];
        let a = max_weight_assignment(t.view());
        assert_eq!((a.row_to_col, a.total), (vec![Some(0), None, Some(1)], 15));
        // Huge weights stay exact.
        let big = array![[i64::MAX, 0], [0, i64::MAX]];
        assert_eq!(
            max_weight_assignment(big.view()).total,
            2 * i64::MAX as i128
        );
    }

    #[test]
    fn hungarian_empty_and_non_finite() {
        let e = Array2::<i64>::zeros((0, 3));
        assert_eq!(
            max_weight_assignment(e.view()),
            Assignment {
                row_to_col: vec![],
                total: 0
            }
        );
        let e = Array2::<i64>::zeros((2, 0));
        assert_eq!(max_weight_assignment(e.view()).row_to_col, vec![None, None]);
        let w = array![[1.0, f64::NAN]];
        assert!(matches!(
            max_weight_assignment_f64(w.view()),
            Err(Error::NonFinite { index: 1, .. })
        ));
    }
}

//! Test helpers: a finite-difference gradient check over a layer's *stored parameters* and
//! its inputs (the tensor crate's `gradcheck` only perturbs explicit inputs).

use ndarray::ArrayD;
use sparling_tensor::testing::random_array;
use sparling_tensor::{Tensor, no_grad};

use crate::ParamStore;

/// Checks the analytic gradients of `L = sum(r * f(inputs))` (r a fixed random projection)
/// with respect to every parameter of `store` and every input against central differences
/// in f64. Parameters are perturbed through `Param::set` and restored afterwards.
#[track_caller]
pub(crate) fn check_layer_grads<F>(store: &ParamStore, inputs: &[ArrayD<f32>], f: F)
where
    F: Fn(&[Tensor]) -> Tensor,
{
    check_layer_grads_tol(store, inputs, f, 1e-2, 2e-3, 2e-2)
}

/// [`check_layer_grads`] with explicit step and tolerances.
#[track_caller]
pub(crate) fn check_layer_grads_tol<F>(
    store: &ParamStore,
    inputs: &[ArrayD<f32>],
    f: F,
    eps: f32,
    atol: f32,
    rtol: f32,
) where
    F: Fn(&[Tensor]) -> Tensor,
{
    let xs: Vec<Tensor> = inputs.iter().map(|a| Tensor::param(a.clone())).collect();
    let out = f(&xs);
    let proj = random_array(out.shape(), 0x5eed);
    let grads = out.backward_with(proj.clone());
    let project = |t: &Tensor| -> f64 {
        t.data()
            .iter()
            .zip(proj.iter())
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum()
    };
    let consts: Vec<Tensor> = inputs.iter().map(|a| Tensor::new(a.clone())).collect();
    let check = |what: &str, i: usize, analytic: f32, numeric: f32| {
        assert!(
            (analytic - numeric).abs() <= atol + rtol * numeric.abs(),
            "{what} element {i}: analytic {analytic} vs numeric {numeric}"
        );
    };
    // Parameters.
    for param in store.named_params() {
        let base = param.get();
        let analytic = grads
            .get(&base)
            .cloned()
            .unwrap_or_else(|| ArrayD::zeros(base.shape()))
            .iter()
            .copied()
            .collect::<Vec<f32>>();
        let original = base.to_array();
        for i in 0..original.len() {
            let eval = |delta: f32| {
                let mut a = original.clone();
                a.as_slice_mut().expect("standard layout")[i] += delta;
                param.set(a);
                no_grad(|| project(&f(&consts)))
            };
            let numeric = ((eval(eps) - eval(-eps)) / (2.0 * eps as f64)) as f32;
            check(param.name(), i, analytic[i], numeric);
        }
        param.set(original);
    }
    // Inputs.
    for (which, input) in inputs.iter().enumerate() {
        let analytic = grads
            .get(&xs[which])
            .cloned()
            .unwrap_or_else(|| ArrayD::zeros(input.shape()))
            .iter()
            .copied()
            .collect::<Vec<f32>>();
        for i in 0..input.len() {
            let eval = |delta: f32| {
                let mut ins = consts.clone();
                let mut a = input.clone();
                a.as_slice_mut().expect("standard layout")[i] += delta;
                ins[which] = Tensor::new(a);
                no_grad(|| project(&f(&ins)))
            };
            let numeric = ((eval(eps) - eval(-eps)) / (2.0 * eps as f64)) as f32;
            check(&format!("input {which}"), i, analytic[i], numeric);
        }
    }
}

//! [`ParamStore`]: the named registry of trainable parameters and non-trained buffers, its
//! path-based builder [`Path`] (like candle's `VarBuilder`), and the serializable
//! [`StateDict`].
//!
//! Tensors are immutable, so a [`Param`] holds its *current* value: a leaf created with
//! [`Tensor::param`]. Forward passes read it with [`Param::get`]; the gradients returned by
//! `backward` are keyed by that leaf, and an optimizer replaces it with a fresh leaf after each
//! update ([`Param::set`]).
//!
//! ```
//! use sparling_nn::{Init, ParamStore};
//! let store = ParamStore::new(42);
//! let enc = store.sub("enc").sub("0");
//! let w = enc.param("weight", &[4, 3], Init::kaiming_uniform_default());
//! assert_eq!(w.name(), "enc.0.weight");
//! assert_eq!(store.params().len(), 1);
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use sparling_tensor::Tensor;

use crate::error::{Error, Result};
use crate::init::{Init, param_rng};

/// The checkpoint kind used by [`ParamStore::save`] and [`ParamStore::load`].
pub const STATE_DICT_KIND: &str = "sparling-nn/state-dict";

/// A named trainable parameter: its current value, a leaf tensor that requires a gradient.
#[derive(Debug)]
pub struct Param {
    name: String,
    shape: Vec<usize>,
    value: RwLock<Tensor>,
}

impl Param {
    /// The full dotted name (`"enc.0.weight"`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The (fixed) shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of scalar entries.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True if the parameter has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current value: the leaf tensor to use in forward passes (its id keys its gradient).
    pub fn get(&self) -> Tensor {
        self.value.read().expect("param lock poisoned").clone()
    }

    /// Replaces the value by a fresh leaf holding `value`.
    ///
    /// # Panics
    /// If `value`'s shape differs from the parameter's.
    pub fn set(&self, value: ArrayD<f32>) {
        sparling_tensor::shape_check!(
            value.shape() == self.shape.as_slice(),
            "Param::set",
            "parameter {:?} has shape {:?}, got {:?}",
            self.name,
            self.shape,
            value.shape()
        );
        *self.value.write().expect("param lock poisoned") = Tensor::param(value);
    }
}

/// A named non-trained state array (e.g. BatchNorm running statistics), saved and restored with
/// the parameters but never touched by optimizers.
#[derive(Debug)]
pub struct Buffer {
    name: String,
    shape: Vec<usize>,
    value: RwLock<ArrayD<f32>>,
}

impl Buffer {
    /// The full dotted name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The (fixed) shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// A copy of the current value.
    pub fn get(&self) -> ArrayD<f32> {
        self.value.read().expect("buffer lock poisoned").clone()
    }

    /// The current value as a constant tensor.
    pub fn tensor(&self) -> Tensor {
        Tensor::new(self.get())
    }

    /// Replaces the value.
    ///
    /// # Panics
    /// If `value`'s shape differs from the buffer's.
    pub fn set(&self, value: ArrayD<f32>) {
        sparling_tensor::shape_check!(
            value.shape() == self.shape.as_slice(),
            "Buffer::set",
            "buffer {:?} has shape {:?}, got {:?}",
            self.name,
            self.shape,
            value.shape()
        );
        *self.value.write().expect("buffer lock poisoned") = value;
    }
}

#[derive(Debug, Default)]
struct Registry {
    params: Vec<Arc<Param>>,
    buffers: Vec<Arc<Buffer>>,
    names: HashMap<String, ()>,
}

#[derive(Debug)]
struct Inner {
    seed: u64,
    training: AtomicBool,
    registry: RwLock<Registry>,
}

/// The registry of a model's parameters and buffers, in creation order. Cloning gives another
/// handle to the same store.
///
/// Initial values are seeded per parameter from the store seed and the parameter's full name
/// (see [`crate::init::param_seed`]), so they do not depend on creation order.
#[derive(Clone, Debug)]
pub struct ParamStore {
    inner: Arc<Inner>,
}

impl ParamStore {
    /// An empty store whose initialisers are seeded by `seed`. Starts in training mode.
    pub fn new(seed: u64) -> ParamStore {
        ParamStore {
            inner: Arc::new(Inner {
                seed,
                training: AtomicBool::new(true),
                registry: RwLock::new(Registry::default()),
            }),
        }
    }

    /// The initialisation seed.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The root path (no prefix).
    pub fn root(&self) -> Path<'_> {
        Path {
            store: self,
            prefix: String::new(),
        }
    }

    /// The path `name` below the root (`"enc"`, or a dotted path such as `"encoder.0"`).
    pub fn sub(&self, name: &str) -> Path<'_> {
        self.root().sub(name)
    }

    /// Registers a parameter `name` at the root; see [`Path::param`].
    pub fn param(&self, name: &str, shape: &[usize], init: Init) -> Arc<Param> {
        self.root().param(name, shape, init)
    }

    /// Registers a buffer `name` at the root; see [`Path::buffer`].
    pub fn buffer(&self, name: &str, shape: &[usize], init: Init) -> Arc<Buffer> {
        self.root().buffer(name, shape, init)
    }

    /// Sets the mode layers may consult through [`ParamStore::is_training`] (shared by all
    /// handles). Layers with mode-dependent behaviour implement
    /// [`ModuleT`](sparling_tensor::ModuleT) and take the mode explicitly; this flag is a
    /// convenient single source for it.
    pub fn set_training(&self, training: bool) {
        self.inner.training.store(training, Ordering::SeqCst);
    }

    /// Switches to training mode.
    pub fn train(&self) {
        self.set_training(true);
    }

    /// Switches to evaluation mode.
    pub fn eval(&self) {
        self.set_training(false);
    }

    /// True in training mode (the default).
    pub fn is_training(&self) -> bool {
        self.inner.training.load(Ordering::SeqCst)
    }

    /// The current parameter values (leaf tensors) in creation order: the keys of their
    /// gradients.
    pub fn params(&self) -> Vec<Tensor> {
        self.read().params.iter().map(|p| p.get()).collect()
    }

    /// The parameters in creation order.
    pub fn named_params(&self) -> Vec<Arc<Param>> {
        self.read().params.clone()
    }

    /// The buffers in creation order.
    pub fn buffers(&self) -> Vec<Arc<Buffer>> {
        self.read().buffers.clone()
    }

    /// The parameter with this full name, if registered (e.g. to tie weights).
    pub fn get_param(&self, name: &str) -> Option<Arc<Param>> {
        self.read().params.iter().find(|p| p.name == name).cloned()
    }

    /// The buffer with this full name, if registered.
    pub fn get_buffer(&self, name: &str) -> Option<Arc<Buffer>> {
        self.read().buffers.iter().find(|b| b.name == name).cloned()
    }

    /// Total number of trainable scalars.
    pub fn num_scalars(&self) -> usize {
        self.read().params.iter().map(|p| p.len()).sum()
    }

    /// A copy of every parameter and buffer value, in creation order.
    pub fn export(&self) -> StateDict {
        let reg = self.read();
        StateDict {
            params: reg
                .params
                .iter()
                .map(|p| NamedArray::from_array(&p.name, p.get().data()))
                .collect(),
            buffers: reg
                .buffers
                .iter()
                .map(|b| NamedArray::from_array(&b.name, &b.get()))
                .collect(),
        }
    }

    /// Replaces every parameter and buffer value by the state dict's. The dict must hold
    /// exactly the store's names with the same shapes; otherwise nothing is changed and the
    /// error lists every missing, unexpected or mis-shaped entry.
    pub fn import(&self, dict: &StateDict) -> Result<()> {
        let reg = self.read();
        let mut problems = Vec::new();
        let param_names: Vec<(&str, &[usize])> = reg
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.shape.as_slice()))
            .collect();
        let buffer_names: Vec<(&str, &[usize])> = reg
            .buffers
            .iter()
            .map(|b| (b.name.as_str(), b.shape.as_slice()))
            .collect();
        check_entries("parameter", &param_names, &dict.params, &mut problems);
        check_entries("buffer", &buffer_names, &dict.buffers, &mut problems);
        if !problems.is_empty() {
            return Err(Error::StateDictMismatch {
                details: problems.join("; "),
            });
        }
        for p in &reg.params {
            let entry = dict
                .params
                .iter()
                .find(|e| e.name == p.name)
                .expect("checked");
            p.set(entry.to_array().expect("checked"));
        }
        for b in &reg.buffers {
            let entry = dict
                .buffers
                .iter()
                .find(|e| e.name == b.name)
                .expect("checked");
            b.set(entry.to_array().expect("checked"));
        }
        Ok(())
    }

    /// Writes [`ParamStore::export`] to `path` as a checkpoint of kind [`STATE_DICT_KIND`]
    /// (atomically; see [`crate::checkpoint::save_atomic`]).
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        crate::checkpoint::save_atomic(path, STATE_DICT_KIND, &self.export())
    }

    /// Reads a checkpoint written by [`ParamStore::save`] and imports it (all or nothing).
    pub fn load(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let dict: StateDict = crate::checkpoint::load(path, STATE_DICT_KIND)?;
        self.import(&dict)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.inner
            .registry
            .read()
            .expect("param store lock poisoned")
    }

    fn register_name(&self, name: &str) {
        let mut reg = self
            .inner
            .registry
            .write()
            .expect("param store lock poisoned");
        sparling_tensor::shape_check!(
            !reg.names.contains_key(name),
            "ParamStore",
            "{name:?} is already registered (use get_param to share a parameter)"
        );
        reg.names.insert(name.to_string(), ());
    }
}

fn check_entries(
    what: &str,
    expected: &[(&str, &[usize])],
    found: &[NamedArray],
    problems: &mut Vec<String>,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for e in found {
        *seen.entry(e.name.as_str()).or_insert(0) += 1;
    }
    for (name, count) in &seen {
        if *count > 1 {
            problems.push(format!("{what} {name:?} appears {count} times"));
        }
    }
    for (name, shape) in expected {
        match found.iter().find(|e| e.name == *name) {
            None => problems.push(format!("missing {what} {name:?}")),
            Some(e) if e.shape.as_slice() != *shape => problems.push(format!(
                "{what} {name:?} has shape {:?} in the dict, {:?} in the store",
                e.shape, shape
            )),
            Some(e) if e.data.len() != e.shape.iter().product::<usize>() => problems.push(format!(
                "{what} {name:?} holds {} values for shape {:?}",
                e.data.len(),
                e.shape
            )),
            Some(_) => {}
        }
    }
    for e in found {
        if !expected.iter().any(|(n, _)| *n == e.name) {
            problems.push(format!("unexpected {what} {:?}", e.name));
        }
    }
}

/// A position in a [`ParamStore`]'s name hierarchy: parameters registered through it get the
/// path as a dotted prefix.
#[derive(Clone, Debug)]
pub struct Path<'a> {
    store: &'a ParamStore,
    prefix: String,
}

impl<'a> Path<'a> {
    /// The store this path belongs to.
    pub fn store(&self) -> &'a ParamStore {
        self.store
    }

    /// The dotted prefix (empty at the root).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full name of `name` under this path.
    pub fn full_name(&self, name: &str) -> String {
        check_name(name);
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{}", self.prefix, name)
        }
    }

    /// The child path `name` (may itself be dotted, `"layers.0"`).
    ///
    /// # Panics
    /// If `name` is empty, starts or ends with a dot, or has an empty component.
    pub fn sub(&self, name: &str) -> Path<'a> {
        Path {
            store: self.store,
            prefix: self.full_name(name),
        }
    }

    /// Registers a trainable parameter `name` of `shape`, filled by `init` from its own seeded
    /// RNG, and returns it.
    ///
    /// # Panics
    /// If the full name is already registered (as a parameter or a buffer) or is malformed.
    pub fn param(&self, name: &str, shape: &[usize], init: Init) -> Arc<Param> {
        let full = self.full_name(name);
        self.store.register_name(&full);
        let value = init.fill(shape, &mut param_rng(self.store.seed(), &full));
        let p = Arc::new(Param {
            name: full,
            shape: shape.to_vec(),
            value: RwLock::new(Tensor::param(value)),
        });
        let mut reg = self
            .store
            .inner
            .registry
            .write()
            .expect("param store lock poisoned");
        reg.params.push(Arc::clone(&p));
        p
    }

    /// Registers a non-trained buffer `name` of `shape`, filled by `init`, and returns it.
    ///
    /// # Panics
    /// If the full name is already registered or is malformed.
    pub fn buffer(&self, name: &str, shape: &[usize], init: Init) -> Arc<Buffer> {
        let full = self.full_name(name);
        self.store.register_name(&full);
        let value = init.fill(shape, &mut param_rng(self.store.seed(), &full));
        let b = Arc::new(Buffer {
            name: full,
            shape: shape.to_vec(),
            value: RwLock::new(value),
        });
        let mut reg = self
            .store
            .inner
            .registry
            .write()
            .expect("param store lock poisoned");
        reg.buffers.push(Arc::clone(&b));
        b
    }
}

fn check_name(name: &str) {
    sparling_tensor::shape_check!(
        !name.is_empty() && name.split('.').all(|c| !c.is_empty()),
        "ParamStore",
        "invalid name {name:?}: names are non-empty dot-separated components"
    );
}

/// One named array of a [`StateDict`]: shape plus row-major data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedArray {
    /// Full dotted name.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl NamedArray {
    /// Copies `array` (any layout) under `name`.
    pub fn from_array(name: &str, array: &ArrayD<f32>) -> NamedArray {
        NamedArray {
            name: name.to_string(),
            shape: array.shape().to_vec(),
            data: array.iter().copied().collect(),
        }
    }

    /// The values as an array, or `None` if the data length does not match the shape.
    pub fn to_array(&self) -> Option<ArrayD<f32>> {
        ArrayD::from_shape_vec(IxDyn(&self.shape), self.data.clone()).ok()
    }
}

/// A serializable snapshot of a store's parameters and buffers (see [`ParamStore::export`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateDict {
    /// Parameters in creation order.
    pub params: Vec<NamedArray>,
    /// Buffers in creation order.
    pub buffers: Vec<NamedArray>,
}

impl StateDict {
    /// The parameter or buffer with this name.
    pub fn get(&self, name: &str) -> Option<&NamedArray> {
        self.params
            .iter()
            .chain(&self.buffers)
            .find(|e| e.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(seed: u64) -> ParamStore {
        let store = ParamStore::new(seed);
        let enc = store.sub("enc");
        enc.sub("0")
            .param("w", &[3, 2], Init::kaiming_uniform_default());
        enc.sub("0")
            .param("b", &[3], Init::FanInUniform { fan_in: 2 });
        enc.sub("1").buffer("running_mean", &[3], Init::Zeros);
        store.param("head", &[2], Init::Ones);
        store
    }

    #[test]
    fn store_names_and_order() {
        let store = build(1);
        let names: Vec<String> = store
            .named_params()
            .iter()
            .map(|p| p.name().to_string())
            .collect();
        assert_eq!(names, ["enc.0.w", "enc.0.b", "head"]);
        assert_eq!(store.buffers()[0].name(), "enc.1.running_mean");
        assert_eq!(store.num_scalars(), 6 + 3 + 2);
        assert_eq!(store.sub("a.b").sub("c").full_name("d"), "a.b.c.d");
        assert!(store.params().iter().all(|t| t.requires_grad()));
    }

    #[test]
    fn store_init_is_deterministic_and_order_independent() {
        let a = build(5);
        let b = build(5);
        assert_eq!(a.export(), b.export());
        // Same name, different creation order: same value.
        let c = ParamStore::new(5);
        c.param("head", &[2], Init::Ones);
        let w = c
            .sub("enc.0")
            .param("w", &[3, 2], Init::kaiming_uniform_default());
        assert_eq!(
            w.get().to_vec(),
            a.get_param("enc.0.w").unwrap().get().to_vec()
        );
        assert_ne!(build(6).export(), a.export());
    }

    #[test]
    #[should_panic(expected = "\"enc.0.w\" is already registered")]
    fn store_rejects_duplicate_names() {
        let store = build(1);
        store.sub("enc").sub("0").param("w", &[1], Init::Zeros);
    }

    #[test]
    #[should_panic(expected = "invalid name")]
    fn store_rejects_malformed_names() {
        ParamStore::new(0).sub("a..b");
    }

    #[test]
    fn store_state_dict_round_trip() {
        let a = build(1);
        let b = build(2);
        a.buffers()[0].set(ndarray::arr1(&[1.0f32, 2.0, 3.0]).into_dyn());
        assert_ne!(a.export(), b.export());
        b.import(&a.export()).unwrap();
        assert_eq!(a.export(), b.export());
        // Imported values are fresh leaves that require gradients.
        assert!(
            b.params()
                .iter()
                .all(|t| t.requires_grad() && !t.is_tracked())
        );
    }

    #[test]
    fn store_import_reports_every_mismatch_and_changes_nothing() {
        let a = build(1);
        let before = a.export();
        let mut dict = before.clone();
        dict.params[0].shape = vec![2, 3];
        dict.params.remove(1);
        dict.buffers.push(NamedArray {
            name: "extra".into(),
            shape: vec![1],
            data: vec![0.0],
        });
        let err = a.import(&dict).unwrap_err().to_string();
        assert!(
            err.contains("\"enc.0.w\" has shape [2, 3] in the dict, [3, 2] in the store"),
            "{err}"
        );
        assert!(err.contains("missing parameter \"enc.0.b\""), "{err}");
        assert!(err.contains("unexpected buffer \"extra\""), "{err}");
        assert_eq!(a.export(), before);

        let mut bad_len = before.clone();
        bad_len.params[2].data.push(1.0);
        let err = a.import(&bad_len).unwrap_err().to_string();
        assert!(err.contains("holds 3 values for shape [2]"), "{err}");
    }

    #[test]
    fn store_save_and_load_file() {
        let dir = std::env::temp_dir().join(format!("sparling-nn-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.ckpt");
        let a = build(1);
        a.save(&path).unwrap();
        let b = build(2);
        b.load(&path).unwrap();
        assert_eq!(a.export(), b.export());
        // A store of another shape refuses the file and keeps its values.
        let c = ParamStore::new(0);
        c.param("head", &[3], Init::Ones);
        let err = c.load(&path).unwrap_err();
        assert!(matches!(err, Error::StateDictMismatch { .. }), "{err}");
        assert_eq!(c.params()[0].to_vec(), vec![1.0; 3]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn store_training_flag_is_shared() {
        let a = ParamStore::new(0);
        let b = a.clone();
        assert!(a.is_training());
        b.eval();
        assert!(!a.is_training());
        a.train();
        assert!(b.is_training());
    }

    #[test]
    fn param_set_replaces_leaf() {
        let store = build(0);
        let p = store.get_param("head").unwrap();
        let before = p.get();
        p.set(ndarray::arr1(&[5.0f32, 6.0]).into_dyn());
        let after = p.get();
        assert_ne!(before.id(), after.id());
        assert_eq!(after.to_vec(), vec![5.0, 6.0]);
        assert_eq!(before.to_vec(), vec![1.0, 1.0]);
    }
}

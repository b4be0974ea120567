//! Export of a trained model to the [safetensors](https://huggingface.co/docs/safetensors)
//! format, readable from PyTorch, NumPy, JAX or any other framework without this project.
//!
//! Every tensor is little-endian `f32`, named by its dotted module path the way a PyTorch
//! `state_dict` names it:
//!
//! * the parameters (`weight`, `bias`) and the BatchNorm statistics (`running_mean`,
//!   `running_var`) of g (`g.input`, `g.units.K.bn1`, `g.units.K.conv1`, ..., `g.output`), the
//!   bottleneck's BatchNorm (`bottleneck.norm`), the collapse (`collapse`) and h (`h.*`);
//! * the Sparse layer's thresholds, `bottleneck.sparse.thresholds`: one per motif channel (or
//!   a single one for the single-threshold ablation); in evaluation the layer computes
//!   `relu(bn(z) - thresholds[c])` per channel `c`.
//!
//! Layouts are PyTorch's: conv weights `(out, in, kh, kw)`, linear weights `(out, in)`, maps
//! `NCHW`. The fixed sinusoidal positions are not stored (they follow from the config). There
//! is no `num_batches_tracked` (BatchNorm uses a fixed momentum).
//!
//! The file's metadata (string to string) holds:
//!
//! | key | value |
//! |---|---|
//! | `format` | [`EXPORT_FORMAT`] |
//! | `config` | the training configuration, as the JSON `sparling preset` writes |
//! | `bottleneck` | the bottleneck's full state as JSON (thresholds, density, the accumulated estimator's candidates if any) |
//! | `seed`, `samples`, `density`, `rung` | the run's seed, the training samples seen, the density the model was trained at, its rung of the annealing ladder (`none` without one) |
//! | `revision` | the source revision of the program that trained/exported it (`unknown` if not known) |
//! | `sparling_version` | the version of this crate |

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, View};
use sparling_nn::NamedArray;

use crate::bottleneck::BottleneckState;
use crate::error::{Error, Result};
use crate::state::{ModelSnapshot, write_atomic};

/// The `format` metadata value of the files [`export_safetensors`] writes.
pub const EXPORT_FORMAT: &str = "sparling-safetensors/1";

/// The name of the Sparse layer's thresholds in an exported file.
pub const THRESHOLDS_NAME: &str = "bottleneck.sparse.thresholds";

/// The tensors of a model as they are exported: parameters in creation order, then buffers,
/// then the Sparse thresholds (for a Sparse bottleneck).
pub fn export_tensors(snap: &ModelSnapshot) -> Result<Vec<NamedArray>> {
    let mut out: Vec<NamedArray> = snap
        .params
        .params
        .iter()
        .chain(&snap.params.buffers)
        .cloned()
        .collect();
    if let BottleneckState::Sparse(s) = &snap.bottleneck {
        out.push(NamedArray {
            name: THRESHOLDS_NAME.to_string(),
            shape: vec![s.thresholds.len()],
            data: s.thresholds.clone(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for t in &out {
        if !seen.insert(t.name.as_str()) {
            return Err(Error::Run(format!(
                "export: the tensor name {:?} occurs twice",
                t.name
            )));
        }
        if t.shape.iter().product::<usize>() != t.data.len() {
            return Err(Error::Run(format!(
                "export: tensor {:?} has shape {:?} but {} values",
                t.name,
                t.shape,
                t.data.len()
            )));
        }
    }
    Ok(out)
}

/// The metadata [`export_safetensors`] stores (see the module docs for the keys).
pub fn export_metadata(
    snap: &ModelSnapshot,
    revision: Option<&str>,
) -> Result<HashMap<String, String>> {
    let json = |what: &str, r: serde_json::Result<String>| {
        r.map_err(|e| Error::Run(format!("export: serialising the {what}: {e}")))
    };
    let mut m = HashMap::new();
    m.insert("format".into(), EXPORT_FORMAT.into());
    m.insert(
        "config".into(),
        json("config", serde_json::to_string(&snap.config))?,
    );
    m.insert(
        "bottleneck".into(),
        json("bottleneck state", serde_json::to_string(&snap.bottleneck))?,
    );
    m.insert("seed".into(), snap.seed.to_string());
    m.insert("samples".into(), snap.samples.to_string());
    m.insert("density".into(), format!("{:e}", snap.density));
    m.insert(
        "rung".into(),
        snap.rung
            .map_or_else(|| "none".to_string(), |r| r.to_string()),
    );
    m.insert("revision".into(), revision.unwrap_or("unknown").to_string());
    m.insert(
        "sparling_version".into(),
        env!("CARGO_PKG_VERSION").to_string(),
    );
    Ok(m)
}

/// One tensor as safetensors sees it: `f32` values as little-endian bytes.
struct F32Bytes {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &F32Bytes {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// The safetensors file of `snap` as bytes: [`export_tensors`] and [`export_metadata`].
pub fn safetensors_bytes(snap: &ModelSnapshot, revision: Option<&str>) -> Result<Vec<u8>> {
    let tensors: Vec<(String, F32Bytes)> = export_tensors(snap)?
        .into_iter()
        .map(|t| {
            let bytes = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (
                t.name,
                F32Bytes {
                    shape: t.shape,
                    bytes,
                },
            )
        })
        .collect();
    let views = tensors.iter().map(|(name, t)| (name.as_str(), t));
    safetensors::serialize(views, Some(export_metadata(snap, revision)?))
        .map_err(|e| Error::Run(format!("export: {e}")))
}

/// Writes `snap` to `path` as a safetensors file (atomically); `revision` is the source
/// revision recorded in the metadata.
pub fn export_safetensors(snap: &ModelSnapshot, path: &Path, revision: Option<&str>) -> Result<()> {
    write_atomic(path, &safetensors_bytes(snap, revision)?)
}

#[cfg(test)]
mod tests {
    use safetensors::SafeTensors;
    use sparling_sparse::SparseState;

    use super::*;
    use crate::config::{Profile, TrainConfig};
    use crate::model::SparlingModel;

    /// A snapshot of a freshly built quick-profile model with distinct thresholds.
    fn snapshot() -> ModelSnapshot {
        let config = TrainConfig::preset(Profile::Quick);
        let model = SparlingModel::new(&config, 5).unwrap();
        let mut bottleneck = model.bottleneck().state();
        if let BottleneckState::Sparse(s) = &mut bottleneck {
            s.thresholds = (0..s.thresholds.len()).map(|c| 0.25 + c as f32).collect();
        }
        ModelSnapshot {
            config,
            seed: 5,
            params: model.store().export(),
            bottleneck,
            samples: 1234,
            density: 3.5e-4,
            rung: Some(7),
        }
    }

    #[test]
    fn export_reads_back_with_the_same_names_shapes_and_bits() {
        let snap = snapshot();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        export_safetensors(&snap, &path, Some("abc123")).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let expected = export_tensors(&snap).unwrap();
        assert_eq!(file.len(), expected.len());
        for t in &expected {
            let view = file.tensor(&t.name).unwrap();
            assert_eq!(view.dtype(), Dtype::F32, "{}", t.name);
            assert_eq!(view.shape(), t.shape.as_slice(), "{}", t.name);
            let values: Vec<u32> = view
                .data()
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let bits: Vec<u32> = t.data.iter().map(|v| v.to_bits()).collect();
            assert_eq!(values, bits, "{}", t.name);
        }
        // Every parameter and buffer of the model is there, under its PyTorch-style name.
        for name in [
            "g.input.weight",
            "g.units.0.bn1.running_mean",
            "g.units.0.bn1.running_var",
            "g.units.0.conv1.weight",
            "g.output.bias",
            "bottleneck.norm.weight",
            "bottleneck.norm.running_var",
            "collapse.weight",
            "h.head.weight",
            THRESHOLDS_NAME,
        ] {
            assert!(
                file.tensor(name).is_ok(),
                "{name} missing: {:?}",
                file.names()
            );
        }
        let n_store = snap.params.params.len() + snap.params.buffers.len();
        assert_eq!(file.len(), n_store + 1);
        let thresholds = file.tensor(THRESHOLDS_NAME).unwrap();
        assert_eq!(thresholds.shape(), &[snap.config.model.motif_channels]);

        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().unwrap();
        assert_eq!(meta["format"], EXPORT_FORMAT);
        assert_eq!(meta["revision"], "abc123");
        assert_eq!(meta["seed"], "5");
        assert_eq!(meta["samples"], "1234");
        assert_eq!(meta["rung"], "7");
        assert_eq!(meta["density"].parse::<f64>().unwrap(), 3.5e-4);
        let config = TrainConfig::from_json(&meta["config"]).unwrap();
        assert_eq!(
            serde_json::to_string(&config).unwrap(),
            serde_json::to_string(&snap.config).unwrap()
        );
        let state: BottleneckState = serde_json::from_str(&meta["bottleneck"]).unwrap();
        assert_eq!(state, snap.bottleneck);
    }

    #[test]
    fn the_accumulated_estimator_travels_in_the_metadata() {
        let mut snap = snapshot();
        let mut acc = sparling_sparse::Accumulator::new(2, 10.0);
        acc.kept = vec![vec![3.0, 1.5], vec![]];
        acc.positions = 9;
        snap.bottleneck = BottleneckState::Sparse(SparseState {
            thresholds: vec![0.5],
            density: 1e-3,
            accumulator: Some(acc),
        });
        let bytes = safetensors_bytes(&snap, None).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().unwrap();
        assert_eq!(meta["revision"], "unknown");
        let state: BottleneckState = serde_json::from_str(&meta["bottleneck"]).unwrap();
        assert_eq!(state, snap.bottleneck);
        let file = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(file.tensor(THRESHOLDS_NAME).unwrap().shape(), &[1]);
    }

    #[test]
    fn a_stateless_bottleneck_exports_no_thresholds_and_bad_shapes_are_refused() {
        let mut snap = snapshot();
        snap.bottleneck = BottleneckState::Stateless;
        let names: Vec<String> = export_tensors(&snap)
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert!(!names.iter().any(|n| n == THRESHOLDS_NAME));
        snap.params.params[0].data.pop();
        let err = export_tensors(&snap).unwrap_err().to_string();
        assert!(
            err.contains("g.input.weight") && err.contains("values"),
            "{err}"
        );
    }
}

//! How strongly do the encoder's input tokens vary across the grid, next to the positional
//! encodings they are added to? A diagnostic for the order plateau: prints, for a model
//! snapshot (a rung file), the mean over samples of the RMS deviation of the tokens from their
//! per-sample mean over the cells, the same for the positional encodings, and the map's
//! surviving values.
//!
//! ```text
//! cargo run --release -p sparling-train --example token_scale -- RUNG_FILE [RUNG_FILE..]
//! ```

use sparling_domains::{DigitCircle, Domain};
use sparling_nn::checkpoint;
use sparling_tensor::{Tensor, no_grad};
use sparling_train::model::SparlingModel;
use sparling_train::state::{MODEL_KIND, ModelSnapshot};

/// RMS over `(cells, d)` of `x - mean_cells(x)` for a `(cells, d)` slice.
fn spatial_rms(x: ndarray::ArrayView2<f32>) -> f64 {
    let mean = x.mean_axis(ndarray::Axis(0)).expect("cells");
    let dev = &x - &mean;
    (dev.mapv(|v| (v as f64).powi(2)).mean().expect("values")).sqrt()
}

fn main() {
    for path in std::env::args().skip(1) {
        let snap: ModelSnapshot = checkpoint::load(&path, MODEL_KIND).expect("snapshot");
        let model = SparlingModel::from_snapshot(&snap).expect("model");
        let domain = DigitCircle::new(
            snap.config
                .digit_circle()
                .expect("a DigitCircle run")
                .clone(),
        )
        .expect("domain");
        let idx: Vec<u64> = (0..32).collect();
        let batch = domain.batch_arrays(12345, &idx);
        no_grad(|| {
            let out = model
                .motifs(&Tensor::new(batch.inputs), false)
                .expect("motifs");
            let map = out.map.to_array();
            let nz: Vec<f32> = map.iter().copied().filter(|&v| v != 0.0).collect();
            let tokens = model.tokens(&out.map).to_array();
            let tokens = tokens
                .into_dimensionality::<ndarray::Ix3>()
                .expect("(N, cells, d)");
            let pos = model.encoder_positions().to_array();
            let pos = pos
                .into_dimensionality::<ndarray::Ix2>()
                .expect("(cells, d)");
            let tok_rms: f64 =
                tokens.outer_iter().map(spatial_rms).sum::<f64>() / tokens.shape()[0] as f64;
            let tok_abs = tokens
                .mapv(|v| (v as f64).powi(2))
                .mean()
                .expect("t")
                .sqrt();
            // Per sample: the norms of the tokens' deviations from their mean over the cells,
            // sorted; the top cells are where the digits are.
            let (mut top, mut median) = (0.0f64, 0.0f64);
            for sample in tokens.outer_iter() {
                let mean = sample.mean_axis(ndarray::Axis(0)).expect("cells");
                let mut norms: Vec<f64> = sample
                    .outer_iter()
                    .map(|t| (&t - &mean).mapv(|v| (v as f64).powi(2)).sum().sqrt())
                    .collect();
                norms.sort_by(f64::total_cmp);
                top += norms[norms.len() - 3..].iter().sum::<f64>() / 3.0;
                median += norms[norms.len() / 2];
            }
            let n = tokens.shape()[0] as f64;
            let pos_norm = {
                let mean = pos.mean_axis(ndarray::Axis(0)).expect("cells");
                (&pos - &mean)
                    .mapv(|v| (v as f64).powi(2))
                    .sum_axis(ndarray::Axis(1))
                    .mapv(f64::sqrt)
                    .mean()
                    .expect("cells")
            };
            println!(
                "  token deviation norm: top-3 cells {:.2}, median cell {:.2}; position {pos_norm:.2}",
                top / n,
                median / n
            );
            println!(
                "{path}: density {:.3e}, map nonzero {:.3e}, mean survivor {:.3}, max {:.3}; \
                 token RMS {tok_abs:.3}, spatial RMS {tok_rms:.3}; position spatial RMS {:.3}",
                snap.density,
                nz.len() as f64 / map.len() as f64,
                nz.iter().map(|&v| v as f64).sum::<f64>() / nz.len().max(1) as f64,
                nz.iter().copied().fold(0.0f32, f32::max),
                spatial_rms(pos.view()),
            );
        });
    }
}

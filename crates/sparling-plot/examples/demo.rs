//! Renders an example line chart and heatmap: `cargo run -p sparling-plot --example demo [DIR]`
//! writes `DIR/plot-example-chart.png` and `DIR/plot-example-heatmap.png` (DIR defaults to the
//! system temporary directory).

use sparling_plot::{Heatmap, LineChart, Marker, ReferenceLine, Scale, Series};

fn main() -> Result<(), sparling_plot::Error> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(std::env::temp_dir, Into::into);
    let steps: Vec<f64> = (0..=20).map(|i| i as f64 * 1000.0).collect();
    let density = |floor: f64, rate: f64| -> Vec<(f64, f64)> {
        steps
            .iter()
            .map(|&t| (t, floor + (0.5 - floor) * (-t * rate).exp()))
            .collect()
    };
    let chart = LineChart::new("Activation density during training (DigitCircle)")
        .x_label("training step")
        .y_label("density of the sparse layer")
        .y_scale(Scale::Log10)
        .series(Series::new("Sparling", density(0.012, 4e-4)).marker(Marker::Circle))
        .series(Series::new("no adaptive target", density(0.05, 2e-4)).dashed(true))
        .series(Series::new("L1 baseline", density(0.2, 1e-4)).marker(Marker::Square))
        .reference_line(ReferenceLine::new(0.0148, "paper 1.48%"));
    let chart_path = dir.join("plot-example-chart.png");
    chart.render(800, 500).save_png(&chart_path)?;

    let counts: Vec<Vec<u64>> = (0..10)
        .map(|i| {
            (0..10)
                .map(|j| {
                    if i == j {
                        90 + (i * 7 % 10) as u64
                    } else {
                        ((i * 3 + j * 5) % 7) as u64
                    }
                })
                .collect()
        })
        .collect();
    let heatmap = Heatmap::from_counts("Motif vs digit (validation, counts)", &counts)?
        .row_labels((0..10).map(|i| format!("motif {i}")))?
        .col_labels((0..10).map(|j| j.to_string()))?
        .x_label("digit")
        .y_label("motif");
    let heatmap_path = dir.join("plot-example-heatmap.png");
    heatmap.render().save_png(&heatmap_path)?;
    println!("{}\n{}", chart_path.display(), heatmap_path.display());
    Ok(())
}

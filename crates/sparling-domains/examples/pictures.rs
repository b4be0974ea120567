//! Writes example pictures: `cargo run -p sparling-domains --example pictures -- OUT_DIR`.
//!
//! - `sample.png`: DigitCircle sample (seed 0, index 0) with its footprint boxes;
//! - `grid.png`: the first 16 samples;
//! - `overlay.png`: an ideal motif map (one activation per digit, at its anchor, in the channel
//!   of its class) drawn over sample 0;
//! - `single_digit.png`: the first 10 SingleDigit samples.

use sparling_domains::picture::{
    Activation, MotifMap, OverlayStyle, overlay_motifs, render_sample, sample_grid,
};
use sparling_domains::{DigitCircle, Domain, SingleDigit};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&out)?;
    let d = DigitCircle::paper();
    let s = d.sample(0, 0);
    render_sample(&s, 4, true).save_png(out.join("sample.png"))?;
    let samples = d.batch(0, &(0..16).collect::<Vec<_>>());
    sample_grid(&samples, 4, 2, true)?.save_png(out.join("grid.png"))?;
    let acts: Vec<Activation> = s
        .motifs
        .iter()
        .map(|m| Activation {
            channel: m.class,
            row: m.anchor[0],
            col: m.anchor[1],
            value: 1.0,
        })
        .collect();
    let style = OverlayStyle {
        scale: 4,
        marker: 5,
        boxes: true,
    };
    overlay_motifs(&s, MotifMap::Sparse(&acts), style)?.save_png(out.join("overlay.png"))?;
    let single = SingleDigit::paper().batch(0, &(0..10).collect::<Vec<_>>());
    sample_grid(&single, 5, 4, false)?.save_png(out.join("single_digit.png"))?;
    println!(
        "tokens of sample 0: {:?}; pictures in {}",
        s.tokens,
        out.display()
    );
    Ok(())
}

//! sparling-plot: small, dependency-light PNG charts for the Sparling reproduction report.
//!
//! Everything is drawn on an RGB [`Canvas`] with an embedded 5x9 bitmap font (no system fonts),
//! then encoded with the `png` crate. Two chart types are provided:
//!
//! - [`LineChart`]: title, axis labels, linear or log10 axes with automatic "nice" ticks,
//!   several named [`Series`] (palette colours, optional markers and dashes), labelled
//!   horizontal [`ReferenceLine`]s and a legend;
//! - [`Heatmap`]: a matrix of counts or values on a white-to-dark-blue ramp with row/column
//!   labels, printed values and a colour bar.
//!
//! ```
//! use sparling_plot::{LineChart, Series};
//! let png = LineChart::new("loss")
//!     .series(Series::new("train", [(0.0, 2.3), (1.0, 1.1), (2.0, 0.7)]))
//!     .render(320, 200)
//!     .to_png_bytes()?;
//! assert_eq!(&png[1..4], b"PNG");
//! # Ok::<(), sparling_plot::Error>(())
//! ```

pub mod canvas;
pub mod color;
pub mod error;
pub mod font;
pub mod heatmap;
pub mod line_chart;
pub mod reference;
pub mod ticks;

pub use canvas::{Canvas, Marker, Rect};
pub use color::{Color, PALETTE, blue_ramp, palette};
pub use error::{Error, Result};
pub use heatmap::Heatmap;
pub use line_chart::{LineChart, Series};
pub use reference::ReferenceLine;
pub use ticks::{
    Scale, format_linear_tick, format_log_tick, linear_ticks, log_ticks, nice_step, pow10,
};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

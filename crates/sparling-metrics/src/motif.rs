//! Ground-truth motifs (a class and a footprint), sparse active entries, and map shapes.
//!
//! Conventions used everywhere in this crate:
//! * a 2-D map has shape `C x H x W` (channel, row, column), a 1-D map `C x L`;
//! * footprints are **half-open** ranges, like Rust ranges and Python/PyTorch slices: the
//!   footprint `rows: 3..5, cols: 10..12` covers rows 3 and 4 and columns 10 and 11, i.e. the
//!   entries `m[:, 3:5, 10:12]`;
//! * internally a 1-D map is handled as a 2-D map with a single row, so a 1-D position `l` is
//!   `(row 0, col l)`.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Where a motif lies: a rectangle of a 2-D map or a span of a 1-D map (half-open ranges).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Footprint {
    /// A rectangle `rows x cols` of a `C x H x W` map.
    Rect {
        /// Rows covered, half-open.
        rows: Range<usize>,
        /// Columns covered, half-open.
        cols: Range<usize>,
    },
    /// A span of positions of a `C x L` map, half-open.
    Span(Range<usize>),
}

impl Footprint {
    /// A 2-D footprint covering `rows x cols` (half-open ranges).
    pub fn rect(rows: Range<usize>, cols: Range<usize>) -> Self {
        Footprint::Rect { rows, cols }
    }

    /// A 1-D footprint covering the positions `span` (half-open).
    pub fn span(span: Range<usize>) -> Self {
        Footprint::Span(span)
    }

    /// 2 for a rectangle, 1 for a span.
    pub fn dims(&self) -> usize {
        match self {
            Footprint::Rect { .. } => 2,
            Footprint::Span(_) => 1,
        }
    }

    /// The footprint as (rows, cols) in the internal 2-D view (a span is row `0..1`).
    pub(crate) fn as_rect(&self) -> (Range<usize>, Range<usize>) {
        match self {
            Footprint::Rect { rows, cols } => (rows.clone(), cols.clone()),
            Footprint::Span(span) => (0..1, span.clone()),
        }
    }

    /// Whether the internal 2-D position `(row, col)` lies inside the footprint.
    #[inline]
    pub(crate) fn contains(&self, row: usize, col: usize) -> bool {
        match self {
            Footprint::Rect { rows, cols } => rows.contains(&row) && cols.contains(&col),
            Footprint::Span(span) => row == 0 && span.contains(&col),
        }
    }
}

impl fmt::Display for Footprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Footprint::Rect { rows, cols } => write!(
                f,
                "rows {}..{}, cols {}..{}",
                rows.start, rows.end, cols.start, cols.end
            ),
            Footprint::Span(span) => write!(f, "span {}..{}", span.start, span.end),
        }
    }
}

/// One ground-truth motif of a sample: its class id and its footprint.
///
/// Class ids are arbitrary `usize` labels (`0..classes` of the [`crate::Confusion`] they are
/// recorded into); names can be attached to the table with
/// [`crate::Confusion::with_class_names`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Motif {
    /// The motif's class id.
    pub class: usize,
    /// Where it lies.
    pub footprint: Footprint,
}

impl Motif {
    /// A motif of class `class` covering the rectangle `rows x cols` of a 2-D map.
    pub fn rect(class: usize, rows: Range<usize>, cols: Range<usize>) -> Self {
        Motif {
            class,
            footprint: Footprint::rect(rows, cols),
        }
    }

    /// A motif of class `class` covering the positions `span` of a 1-D map.
    pub fn span(class: usize, span: Range<usize>) -> Self {
        Motif {
            class,
            footprint: Footprint::span(span),
        }
    }
}

/// The shape of one sample's motif map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MapShape {
    /// A `C x H x W` map.
    TwoD {
        /// Number of channels C.
        channels: usize,
        /// Height H (rows).
        height: usize,
        /// Width W (columns).
        width: usize,
    },
    /// A `C x L` map.
    OneD {
        /// Number of channels C.
        channels: usize,
        /// Length L (positions).
        length: usize,
    },
}

impl MapShape {
    /// A `C x H x W` shape.
    pub fn two_d(channels: usize, height: usize, width: usize) -> Self {
        MapShape::TwoD {
            channels,
            height,
            width,
        }
    }

    /// A `C x L` shape.
    pub fn one_d(channels: usize, length: usize) -> Self {
        MapShape::OneD { channels, length }
    }

    /// Number of channels C.
    pub fn channels(&self) -> usize {
        match *self {
            MapShape::TwoD { channels, .. } | MapShape::OneD { channels, .. } => channels,
        }
    }

    /// The shape as a list, `[C, H, W]` or `[C, L]`.
    pub fn to_vec(&self) -> Vec<usize> {
        match *self {
            MapShape::TwoD {
                channels,
                height,
                width,
            } => vec![channels, height, width],
            MapShape::OneD { channels, length } => vec![channels, length],
        }
    }

    /// 2 for a `C x H x W` map, 1 for a `C x L` map.
    pub fn dims(&self) -> usize {
        match self {
            MapShape::TwoD { .. } => 2,
            MapShape::OneD { .. } => 1,
        }
    }

    /// (rows, cols) of the internal 2-D view (a 1-D map has one row).
    pub(crate) fn grid(&self) -> (usize, usize) {
        match *self {
            MapShape::TwoD { height, width, .. } => (height, width),
            MapShape::OneD { length, .. } => (1, length),
        }
    }

    /// The user-facing position of an internal `(row, col)`: `[row, col]` or `[col]`.
    pub(crate) fn position(&self, row: usize, col: usize) -> Vec<usize> {
        match self {
            MapShape::TwoD { .. } => vec![row, col],
            MapShape::OneD { .. } => vec![col],
        }
    }
}

/// One nonzero entry of a motif map, for the sparse scoring path
/// ([`crate::score_sparse`]).
///
/// For a 1-D map `row` is 0 and `col` is the position; use [`Activation::one_d`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Activation {
    /// The channel.
    pub channel: usize,
    /// The row (0 for a 1-D map).
    pub row: usize,
    /// The column, or the position of a 1-D map.
    pub col: usize,
    /// The post-ReLU value: finite and >= 0 (a zero entry is inactive and ignored).
    pub value: f32,
}

impl Activation {
    /// The entry `m[channel, row, col] = value` of a 2-D map.
    pub fn two_d(channel: usize, row: usize, col: usize, value: f32) -> Self {
        Activation {
            channel,
            row,
            col,
            value,
        }
    }

    /// The entry `m[channel, position] = value` of a 1-D map.
    pub fn one_d(channel: usize, position: usize, value: f32) -> Self {
        Activation {
            channel,
            row: 0,
            col: position,
            value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprint_contains_is_half_open() {
        let f = Footprint::rect(2..4, 5..6);
        assert!(f.contains(2, 5) && f.contains(3, 5));
        assert!(!f.contains(4, 5) && !f.contains(1, 5) && !f.contains(2, 6) && !f.contains(2, 4));
        let s = Footprint::span(3..5);
        assert!(s.contains(0, 3) && s.contains(0, 4));
        assert!(!s.contains(0, 5) && !s.contains(1, 3));
        assert_eq!(f.to_string(), "rows 2..4, cols 5..6");
        assert_eq!(s.to_string(), "span 3..5");
    }

    #[test]
    fn map_shape_views() {
        let s = MapShape::two_d(3, 4, 5);
        assert_eq!(
            (s.channels(), s.dims(), s.grid(), s.to_vec()),
            (3, 2, (4, 5), vec![3, 4, 5])
        );
        let s = MapShape::one_d(2, 7);
        assert_eq!(
            (s.channels(), s.dims(), s.grid(), s.to_vec()),
            (2, 1, (1, 7), vec![2, 7])
        );
        assert_eq!(s.position(0, 6), vec![6]);
    }
}

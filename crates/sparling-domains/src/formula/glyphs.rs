//! The formula domain's glyph bitmaps: `assets/formula_glyphs.txt`, written by
//! `cargo xtask formula-glyphs` from Latin Modern Math and embedded at compile time.
//!
//! # File format
//!
//! `#` comment lines and blank lines separate blocks. `set NAME em PX` starts a glyph set (its
//! em in pixels); `glyph S  HxW  left L  top T  advance A` starts a glyph of the current set: S
//! is the symbol (`0`-`9`, `a`, `b`, `c`, `x`, `y`, `z`, `+`, `(`, `)`), the bitmap is cropped to
//! its ink, its first column lies L columns right of the pen, its first row T rows above the
//! baseline, and the pen moves A columns; then H rows of W characters, `#` = ink, `.` = blank.

use std::collections::BTreeMap;

use ndarray::Array2;

use crate::error::{Error, Result};

/// The embedded asset.
pub const FORMULA_GLYPHS_TEXT: &str = include_str!("../../assets/formula_glyphs.txt");

/// The 19 glyph symbols, in motif-class order (the fraction bar, class 19, is drawn).
pub const GLYPH_SYMBOLS: [char; 19] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'x', 'y', 'z', '+', '(', ')',
];

/// One binarised glyph, cropped to its ink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glyph {
    /// Ink pixels, shape (rows, cols).
    pub pixels: Array2<bool>,
    /// Columns from the pen to the first ink column (may be negative).
    pub left: i32,
    /// Rows from the baseline up to the first ink row.
    pub top: i32,
    /// The pen advance in columns.
    pub advance: i32,
}

/// One glyph set: the 19 glyphs at one size, indexed by motif class.
#[derive(Debug, Clone, PartialEq)]
pub struct GlyphSet {
    /// The em in pixels (spacing and shifts are fractions of it).
    pub em: f64,
    /// The glyphs in [`GLYPH_SYMBOLS`] order.
    pub glyphs: Vec<Glyph>,
}

fn bad(line: usize, message: impl Into<String>) -> Error {
    Error::InvalidConfig {
        domain: "Formula",
        message: format!("glyph asset line {line}: {}", message.into()),
    }
}

/// Parses the asset format (see the module docs) into sets by name, each complete.
pub fn parse_glyphs(text: &str) -> Result<BTreeMap<String, GlyphSet>> {
    let mut sets: BTreeMap<String, (f64, BTreeMap<usize, Glyph>)> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end()));
    while let Some((no, line)) = lines.next() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["set", name, "em", px] => {
                let em: f64 = px.parse().map_err(|_| bad(no, "the em is not a number"))?;
                if !(em.is_finite() && em > 0.0) {
                    return Err(bad(no, "the em must be positive"));
                }
                if sets
                    .insert(name.to_string(), (em, BTreeMap::new()))
                    .is_some()
                {
                    return Err(bad(no, format!("set {name} is defined twice")));
                }
                current = Some(name.to_string());
            }
            ["glyph", sym, size, "left", l, "top", t, "advance", a] => {
                let set = current
                    .as_ref()
                    .ok_or_else(|| bad(no, "a glyph before any `set` line"))?;
                let mut chars = sym.chars();
                let class = match (chars.next(), chars.next()) {
                    (Some(c), None) => GLYPH_SYMBOLS.iter().position(|&g| g == c),
                    _ => None,
                }
                .ok_or_else(|| bad(no, format!("unknown glyph symbol {sym:?}")))?;
                let (h, w) = size
                    .split_once('x')
                    .and_then(|(h, w)| Some((h.parse::<usize>().ok()?, w.parse::<usize>().ok()?)))
                    .filter(|&(h, w)| h > 0 && w > 0)
                    .ok_or_else(|| bad(no, "the size must read HxW, both positive"))?;
                let num = |s: &str| {
                    s.parse::<i32>()
                        .map_err(|_| bad(no, "left, top and advance are integers"))
                };
                let (left, top, advance) = (num(l)?, num(t)?, num(a)?);
                let mut flat = Vec::with_capacity(h * w);
                for _ in 0..h {
                    let (rno, row) = lines
                        .next()
                        .ok_or_else(|| bad(no, "the file ends inside a glyph"))?;
                    if row.chars().count() != w {
                        return Err(bad(
                            rno,
                            format!(
                                "a row of glyph {sym} has {} columns, not {w}",
                                row.chars().count()
                            ),
                        ));
                    }
                    for ch in row.chars() {
                        flat.push(match ch {
                            '#' => true,
                            '.' => false,
                            other => {
                                return Err(bad(
                                    rno,
                                    format!("bad character {other:?} (only '#' and '.')"),
                                ));
                            }
                        });
                    }
                }
                let pixels = Array2::from_shape_vec((h, w), flat).expect("h*w values");
                let glyph = Glyph {
                    pixels,
                    left,
                    top,
                    advance,
                };
                let entry = &mut sets.get_mut(set).expect("current set exists").1;
                if entry.insert(class, glyph).is_some() {
                    return Err(bad(
                        no,
                        format!("glyph {sym} of set {set} is defined twice"),
                    ));
                }
            }
            _ => {
                return Err(bad(
                    no,
                    format!("expected a `set` or `glyph` header, found {line:?}"),
                ));
            }
        }
    }
    sets.into_iter()
        .map(|(name, (em, glyphs))| {
            if glyphs.len() != GLYPH_SYMBOLS.len() {
                let missing: String = GLYPH_SYMBOLS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !glyphs.contains_key(i))
                    .map(|(_, c)| *c)
                    .collect();
                return Err(Error::InvalidConfig {
                    domain: "Formula",
                    message: format!("glyph asset: set {name} lacks the glyphs {missing:?}"),
                });
            }
            Ok((
                name,
                GlyphSet {
                    em,
                    glyphs: glyphs.into_values().collect(),
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_glyph_asset_is_complete_and_sized() {
        let sets = parse_glyphs(FORMULA_GLYPHS_TEXT).unwrap();
        let names: Vec<&str> = sets.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["full-script", "full-text", "half-script", "half-text"]
        );
        // the paper's scale: digits about 18 px tall
        let full = &sets["full-text"];
        for d in 0..10 {
            let h = full.glyphs[d].pixels.nrows();
            assert!((17..=20).contains(&h), "digit {d} is {h} px tall");
        }
        let half = &sets["half-text"];
        assert!((half.em * 2.0 - full.em).abs() < 1e-3);
        for set in sets.values() {
            for g in &set.glyphs {
                // cropped to ink: the first and last rows and columns have ink
                let p = &g.pixels;
                assert!(p.row(0).iter().any(|&b| b) && p.row(p.nrows() - 1).iter().any(|&b| b));
                assert!(
                    p.column(0).iter().any(|&b| b) && p.column(p.ncols() - 1).iter().any(|&b| b)
                );
                assert!(g.advance > 0);
            }
        }
    }

    #[test]
    fn formula_glyph_parser_names_the_problem() {
        let e = |t: &str| parse_glyphs(t).unwrap_err().to_string();
        assert!(e("glyph 1  1x1  left 0  top 1  advance 2\n#\n").contains("before any `set`"));
        assert!(
            e("set s em 10\nglyph q  1x1  left 0  top 1  advance 2\n#\n").contains("unknown glyph")
        );
        assert!(
            e("set s em 10\nglyph 1  2x1  left 0  top 1  advance 2\n#\n").contains("ends inside")
        );
        assert!(e("set s em 10\nglyph 1  1x2  left 0  top 1  advance 2\n#\n").contains("line 3"));
        assert!(
            e("set s em 10\nglyph 1  1x1  left 0  top 1  advance 2\nx\n").contains("bad character")
        );
        assert!(e("set s em 10\nglyph 1  1x1  left 0  top 1  advance 2\n#\n").contains("lacks"));
        assert!(e("bogus\n").contains("line 1"));
    }
}

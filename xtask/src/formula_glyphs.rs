//! `cargo xtask formula-glyphs`: rasterises the formula domain's 19 glyphs (0-9, a b c x y z,
//! `+`, `(`, `)`; the fraction bar is drawn, not a glyph) from Latin Modern Math with `fontdue`,
//! binarises them and writes `crates/sparling-domains/assets/formula_glyphs.txt`.
//!
//! The font is `latinmodern-math.otf` from Debian's `fonts-lmodern` package (GUST Font License),
//! the OpenType descendant of Computer Modern, the font the paper's formulas were typeset in. The
//! letters are its math italic (U+1D44E..), as TeX sets variables. The domain reads only the
//! committed text asset, so it has no font dependency at run time; this task regenerates it.
//!
//! Sizes: the paper renders 10 pt display formulas at 200 dpi, an em of 200 / 72 * 10 = 27.78 px
//! (digits about 18 px tall); script size is TeX's 7 pt (0.7 em). The `half` sets are the same at
//! half the resolution, for the smaller default rendering.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::util::project_root;

/// Where Debian's `fonts-lmodern` installs Latin Modern Math.
const DEFAULT_FONT: &str = "/usr/share/texmf/fonts/opentype/public/lm-math/latinmodern-math.otf";

/// The glyphs: (the asset's symbol name, the character rasterised).
const GLYPHS: [(char, char); 19] = [
    ('0', '0'),
    ('1', '1'),
    ('2', '2'),
    ('3', '3'),
    ('4', '4'),
    ('5', '5'),
    ('6', '6'),
    ('7', '7'),
    ('8', '8'),
    ('9', '9'),
    ('a', '\u{1D44E}'),
    ('b', '\u{1D44F}'),
    ('c', '\u{1D450}'),
    ('x', '\u{1D465}'),
    ('y', '\u{1D466}'),
    ('z', '\u{1D467}'),
    ('+', '+'),
    ('(', '('),
    (')', ')'),
];

/// The glyph sets: (name, em in pixels). 10 pt at 200 dpi, script size 7/10 of it, and both at
/// half the resolution.
const SETS: [(&str, f32); 4] = [
    ("full-text", 2000.0 / 72.0),
    ("full-script", 1400.0 / 72.0),
    ("half-text", 1000.0 / 72.0),
    ("half-script", 700.0 / 72.0),
];

/// Options of `cargo xtask formula-glyphs`.
#[derive(Args, Debug)]
pub struct FormulaGlyphs {
    /// The Latin Modern Math font file (Debian: `apt-get install fonts-lmodern`).
    #[arg(long, default_value = DEFAULT_FONT)]
    font: PathBuf,
    /// The asset to write.
    #[arg(
        long,
        default_value = "crates/sparling-domains/assets/formula_glyphs.txt"
    )]
    out: PathBuf,
}

/// One binarised glyph, cropped to its ink.
struct Glyph {
    /// Columns from the pen position to the first ink column.
    left: i32,
    /// Rows from the baseline up to the top ink row (the bitmap's row 0).
    top: i32,
    /// The pen advance, rounded to pixels.
    advance: i32,
    /// Rows of ink (`true`).
    rows: Vec<Vec<bool>>,
}

fn rasterise(font: &fontdue::Font, ch: char, px: f32) -> Result<Glyph> {
    if font.lookup_glyph_index(ch) == 0 {
        bail!("the font has no glyph for U+{:04X}", ch as u32);
    }
    let (m, coverage) = font.rasterize(ch, px);
    // coverage >= 1/4 is ink: Latin Modern's hairlines cover less than half a pixel at these sizes
    let ink: Vec<Vec<bool>> = coverage
        .chunks(m.width.max(1))
        .take(m.height)
        .map(|r| r.iter().map(|&c| c >= 64).collect())
        .collect();
    let rows_with_ink: Vec<usize> = (0..ink.len())
        .filter(|&r| ink[r].iter().any(|&b| b))
        .collect();
    let (Some(&r0), Some(&r1)) = (rows_with_ink.first(), rows_with_ink.last()) else {
        bail!("U+{:04X} at {px} px binarises to no ink", ch as u32);
    };
    let c0 = (0..m.width)
        .find(|&c| ink.iter().any(|r| r[c]))
        .expect("a row has ink");
    let c1 = (0..m.width)
        .rev()
        .find(|&c| ink.iter().any(|r| r[c]))
        .expect("a row has ink");
    // fontdue: ymin is the bitmap's bottom edge relative to the baseline (up is positive)
    let bitmap_top = m.ymin + m.height as i32;
    Ok(Glyph {
        left: m.xmin + c0 as i32,
        top: bitmap_top - r0 as i32,
        advance: m.advance_width.round() as i32,
        rows: ink[r0..=r1].iter().map(|r| r[c0..=c1].to_vec()).collect(),
    })
}

impl FormulaGlyphs {
    /// Rasterises every glyph of every set and writes the asset atomically.
    pub fn run(self) -> Result<()> {
        let bytes = std::fs::read(&self.font).with_context(|| {
            format!(
                "reading the font {} (install Debian's fonts-lmodern, or pass --font)",
                self.font.display()
            )
        })?;
        let font = fontdue::Font::from_bytes(bytes, fontdue::FontSettings::default())
            .map_err(|e| anyhow::anyhow!("parsing the font {}: {e}", self.font.display()))?;
        let mut text = String::from(
            "# Formula glyphs: Latin Modern Math (latinmodern-math.otf, Debian fonts-lmodern, GUST Font\n\
             # License), rasterised by `cargo xtask formula-glyphs` (fontdue), coverage >= 1/4 = ink.\n\
             # `set NAME em PX` starts a set; `glyph S  HxW  left L  top T  advance A` is a glyph\n\
             # cropped to its ink: L columns right of the pen, its top row T rows above the baseline\n\
             # (the baseline is the line under row T-1), pen advance A; then H rows, '#' = ink.\n",
        );
        for (set, em) in SETS {
            text.push_str(&format!("\nset {set} em {em:.4}\n"));
            for (name, ch) in GLYPHS {
                let g =
                    rasterise(&font, ch, em).with_context(|| format!("glyph {name} of {set}"))?;
                text.push_str(&format!(
                    "\nglyph {name}  {}x{}  left {}  top {}  advance {}\n",
                    g.rows.len(),
                    g.rows[0].len(),
                    g.left,
                    g.top,
                    g.advance
                ));
                for r in &g.rows {
                    text.extend(r.iter().map(|&b| if b { '#' } else { '.' }));
                    text.push('\n');
                }
            }
        }
        let out = project_root().join(&self.out);
        let tmp = out.with_extension("txt.tmp");
        std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &out)
            .with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))?;
        println!(
            "wrote {} ({} sets x {} glyphs, {} bytes)",
            out.display(),
            SETS.len(),
            GLYPHS.len(),
            text.len()
        );
        Ok(())
    }
}

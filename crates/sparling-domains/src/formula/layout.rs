//! A small layout engine in the spirit of TeX's display style: symbols on a baseline with their
//! advance widths, `+` with binary-operator space, superscripts and subscripts at script size
//! (raised / lowered), fractions as numerator over a rule over denominator (centred, nested
//! fractions a size smaller), parentheses stretched vertically to their content.
//!
//! Sizes follow TeX's style rules with two sizes: a display formula and a display fraction's
//! numerator and denominator are set at text size; scripts, and fractions inside a text-size
//! fraction, at script size; deeper levels stay at script size (TeX would go to scriptscript).
//! Distances are fractions of the current em (TeX's values at 10 pt, rounded): superscript
//! raise 0.42 em, subscript drop 0.25 em, `+` space 4/18 em each side, fraction axis 0.25 em,
//! rule 0.04 em (at least 1 px), clearance around the rule 0.12 em (at least 2 px).
//!
//! Every ink item is kept disjoint from its neighbours: a symbol's box ends at least one column
//! after its ink, scripts start after their base's box, and the fraction rule keeps a clearance
//! from its numerator and denominator. Scripts move further when the glyphs need it: a
//! superscript's ink stays above the baseline and its top above its base's top; a subscript's
//! ink reaches below the baseline and below its base's ink, its top below its base's top.

use ndarray::Array2;

use super::glyphs::{Glyph, GlyphSet};
use super::grammar::{CLASS_BAR, CLASS_CLOSE, CLASS_OPEN, CLASS_PLUS, Node, Script};

/// One rendered symbol: its motif class and where its ink is, relative to the box's pen origin
/// (`x` right of the box's left edge, `y` rows relative to the baseline, negative = above).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Motif class (0-18 glyphs, 19 the fraction bar).
    pub class: usize,
    /// Leftmost ink column.
    pub x: i32,
    /// Top ink row (the first row below the baseline is 0).
    pub y: i32,
    /// Ink width.
    pub w: i32,
    /// Ink height (a parenthesis is its glyph stretched to this height).
    pub h: i32,
    /// Whether the item is drawn from the script-size glyph set.
    pub script: bool,
}

/// A laid-out box: width (the pen advance), and its items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HBox {
    /// Pen advance.
    pub width: i32,
    /// The symbols, in token order.
    pub items: Vec<Item>,
}

impl HBox {
    /// Rows above the baseline the ink reaches (0 if none).
    pub fn ascent(&self) -> i32 {
        self.items.iter().map(|i| -i.y).max().unwrap_or(0).max(0)
    }

    /// Rows at and below the baseline the ink reaches (0 if none).
    pub fn descent(&self) -> i32 {
        self.items
            .iter()
            .map(|i| i.y + i.h)
            .max()
            .unwrap_or(0)
            .max(0)
    }

    fn append(&mut self, other: HBox, dx: i32, dy: i32) {
        self.items.extend(other.items.into_iter().map(|mut i| {
            i.x += dx;
            i.y += dy;
            i
        }));
    }
}

/// Text or script size, and whether a fraction here is a display one (its parts stay at text
/// size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Display,
    Text,
    Script,
}

impl Style {
    fn is_script(self) -> bool {
        self == Style::Script
    }
    fn script(self) -> Style {
        Style::Script
    }
    fn fraction(self) -> Style {
        match self {
            Style::Display => Style::Text,
            Style::Text | Style::Script => Style::Script,
        }
    }
}

/// Lays formulas out with a text-size and a script-size glyph set.
#[derive(Debug, Clone, Copy)]
pub struct Typesetter<'a> {
    /// The text-size glyphs.
    pub text: &'a GlyphSet,
    /// The script-size glyphs.
    pub script: &'a GlyphSet,
}

fn px(em: f64, fraction: f64) -> i32 {
    (em * fraction).round() as i32
}

impl Typesetter<'_> {
    fn set(&self, style: Style) -> &GlyphSet {
        if style.is_script() {
            self.script
        } else {
            self.text
        }
    }

    /// A formula (a `start` row) in display style.
    pub fn layout(&self, row: &[Node]) -> HBox {
        self.row(row, Style::Display)
    }

    fn row(&self, row: &[Node], style: Style) -> HBox {
        let mut out = HBox::default();
        for node in row {
            let b = self.node(node, style);
            let w = b.width;
            out.append(b, out.width, 0);
            out.width += w;
        }
        out
    }

    /// A glyph as a box: ink at its left bearing (at least 0), the box at least one column wider
    /// than the ink.
    fn glyph(&self, class: usize, style: Style) -> HBox {
        let g: &Glyph = &self.set(style).glyphs[class];
        let (h, w) = (g.pixels.nrows() as i32, g.pixels.ncols() as i32);
        let x = g.left.max(0);
        HBox {
            width: g.advance.max(x + w + 1),
            items: vec![Item {
                class,
                x,
                y: -g.top,
                w,
                h,
                script: style.is_script(),
            }],
        }
    }

    fn node(&self, node: &Node, style: Style) -> HBox {
        let em = self.set(style).em;
        match node {
            Node::Sym { base, script } => {
                let mut b = self.glyph(usize::from(*base), style);
                if let Some((kind, s)) = script {
                    let sb = self.glyph(usize::from(*s), style.script());
                    let item = &sb.items[0];
                    let (base_top, base_bottom) = (-b.items[0].y, b.items[0].y + b.items[0].h);
                    let dy = match kind {
                        // the script's ink ends at least one row above the baseline, and
                        // its top is above the base's top
                        Script::Sup => -px(em, 0.42)
                            .max(item.y + item.h + 1)
                            .max(base_top + item.y + 1),
                        // the script's ink reaches below the baseline and the base's ink, its
                        // top is below the base's top
                        Script::Sub => px(em, 0.25)
                            .max(1)
                            .max(-item.y - base_top + 1)
                            .max(base_bottom - item.y - item.h + 1),
                    };
                    let w = sb.width;
                    b.append(sb, b.width, dy);
                    b.width += w;
                }
                b
            }
            Node::Plus => {
                let space = px(em, 4.0 / 18.0);
                let g = self.glyph(CLASS_PLUS, style);
                let mut b = HBox {
                    width: g.width + 2 * space,
                    items: Vec::new(),
                };
                b.append(g, space, 0);
                b
            }
            Node::Paren(inner) => {
                let content = self.row(inner, style);
                let open = self.paren(CLASS_OPEN, style, &content);
                let close = self.paren(CLASS_CLOSE, style, &content);
                let mut b = open;
                let (cw, clw) = (content.width, close.width);
                b.append(content, b.width, 0);
                b.width += cw;
                b.append(close, b.width, 0);
                b.width += clw;
                b
            }
            Node::Frac(num, den) => {
                let inner = style.fraction();
                let num = self.row(num, inner);
                let den = self.row(den, inner);
                let rule = px(em, 0.04).max(1);
                let axis = px(em, 0.25);
                let gap = px(em, 0.12).max(2);
                let pad = px(em, 0.1).max(1);
                let bar_w = num.width.max(den.width) + 2 * pad;
                let bar_y = -axis - rule / 2;
                let mut b = HBox {
                    width: bar_w + 2,
                    items: vec![Item {
                        class: CLASS_BAR,
                        x: 1,
                        y: bar_y,
                        w: bar_w,
                        h: rule,
                        script: inner.is_script(),
                    }],
                };
                let num_dy = bar_y - gap - num.descent();
                let den_dy = bar_y + rule + gap + den.ascent();
                let (nx, dx) = (1 + (bar_w - num.width) / 2, 1 + (bar_w - den.width) / 2);
                b.append(num, nx, num_dy);
                b.append(den, dx, den_dy);
                b
            }
        }
    }

    /// A parenthesis glyph stretched vertically to cover `content` with one row to spare.
    fn paren(&self, class: usize, style: Style, content: &HBox) -> HBox {
        let mut b = self.glyph(class, style);
        let item = &mut b.items[0];
        let top = (-item.y).max(content.ascent() + 1);
        let bottom = (item.y + item.h).max(content.descent() + 1);
        item.y = -top;
        item.h = top + bottom;
        b
    }
}

/// Draws an item's ink into `canvas` with its top-left at (`row`, `col`): a glyph (rows
/// stretched by nearest neighbour to the item's height) or the fraction rule.
pub fn paint(canvas: &mut Array2<bool>, ts: &Typesetter<'_>, item: &Item, row: usize, col: usize) {
    if item.class == CLASS_BAR {
        for r in row..row + item.h as usize {
            for c in col..col + item.w as usize {
                canvas[(r, c)] = true;
            }
        }
        return;
    }
    let set = if item.script { ts.script } else { ts.text };
    let src = &set.glyphs[item.class].pixels;
    let (sh, h) = (src.nrows(), item.h as usize);
    for r in 0..h {
        let sr = r * sh / h;
        for (c, &ink) in src.row(sr).iter().enumerate() {
            if ink {
                canvas[(row + r, col + c)] = true;
            }
        }
    }
}

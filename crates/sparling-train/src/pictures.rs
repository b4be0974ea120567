//! The pictures of an evaluation, labelled so that a reader understands them without the text:
//!
//! * [`confusion_figure`]: the confusion matrix, channels x classes, with axis and tick labels,
//!   the count in each cell, rows ordered so the optimal channel-to-class assignment lies on
//!   the diagonal, and the assigned cells framed;
//! * [`motif_figure`]: test inputs with their true footprints and the Sparse layer's surviving
//!   activations, each marker coloured by the class its channel is assigned to (the same
//!   colours as the footprints), a legend, and the true and predicted sequences under each
//!   panel.

use ndarray::ArrayView3;
use sparling_domains::picture::{MotifMap, OverlayStyle, channel_colour, overlay_motifs_by_class};
use sparling_domains::{Sample, TokenId, Vocab};
use sparling_metrics::aligned_row_order;
use sparling_metrics::confusion::Confusion;
use sparling_plot::{Canvas, Color, Heatmap};

use crate::error::{Error, Result};

fn plot_err(e: sparling_plot::Error) -> Error {
    Error::Run(format!("drawing a figure: {e}"))
}

/// The confusion matrix as a labelled heatmap (see the module docs). The last row counts true
/// motifs no channel fired on (false negatives), the last column activations on no motif
/// (false positives).
pub fn confusion_figure(confusion: &Confusion, title: &str) -> Result<Canvas> {
    let classes = confusion.classes();
    let order = aligned_row_order(confusion);
    let assignment = confusion.optimal_assignment();
    let counts: Vec<Vec<u64>> = order
        .iter()
        .map(|&row| {
            (0..=classes)
                .map(|k| confusion.count(row, (k < classes).then_some(k)))
                .collect()
        })
        .collect();
    let row_labels: Vec<String> = order
        .iter()
        .map(|r| match r {
            Some(c) => format!("channel {c}"),
            None => "no channel (missed)".to_string(),
        })
        .collect();
    let col_labels: Vec<String> = (0..classes)
        .map(|k| confusion.class_label(k))
        .chain(std::iter::once("no motif".to_string()))
        .collect();
    let highlighted: Vec<(usize, usize)> = order
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.and_then(|c| assignment[c]).map(|k| (i, k)))
        .collect();
    let map = Heatmap::from_counts(title, &counts)
        .and_then(|h| h.row_labels(row_labels))
        .and_then(|h| h.col_labels(col_labels))
        .map_err(plot_err)?
        .x_label("true class")
        .y_label("channel")
        .highlight(highlighted);
    Ok(map.render())
}

/// One panel of [`motif_figure`]: a test sample, the motif map `(C, H, W)` the model produced
/// on it and the sequence it decoded.
pub struct MotifPanel<'a> {
    /// The sample (input, true sequence, true motifs).
    pub sample: &'a Sample,
    /// The post-bottleneck motif map.
    pub map: ArrayView3<'a, f32>,
    /// The greedily decoded sequence.
    pub predicted: &'a [TokenId],
}

const SCALE: usize = 3;
/// The narrowest panel, in pixels: smaller inputs are drawn at a larger scale.
const MIN_PANEL: usize = 300;
const GAP: i32 = 24;
/// The width a row of motif panels keeps within when its panels allow (wide panels go one
/// per row).
const ROW_WIDTH: i32 = 2400;
const FONT: u32 = 2;
const INK: Color = Color::rgb(30, 30, 30);
const RIGHT: Color = Color::rgb(0, 120, 40);
const WRONG: Color = Color::rgb(200, 30, 30);

fn rgb(c: [u8; 3]) -> Color {
    Color::rgb(c[0], c[1], c[2])
}

fn sequence(vocab: &Vocab, ids: &[TokenId]) -> String {
    let symbols: Vec<&str> = ids
        .iter()
        .map(|&t| vocab.symbol(t).unwrap_or("?"))
        .collect();
    if symbols.is_empty() {
        "(empty)".to_string()
    } else {
        symbols.join(" ")
    }
}

/// The motif maps over `panels` (four per row), titled `title`, markers coloured by
/// `assignment[channel]` (the class each channel is assigned to; see the module docs); the
/// legend names class `k` `class_names[k]` ([`sparling_domains::Domain::class_names`]) and the
/// captions spell sequences in `vocab`.
pub fn motif_figure(
    panels: &[MotifPanel<'_>],
    assignment: &[Option<usize>],
    vocab: &Vocab,
    class_names: &[String],
    title: &str,
) -> Result<Canvas> {
    // Small inputs are drawn larger, so that a panel is wide enough to read its markers.
    let side = panels
        .iter()
        .map(|p| p.map.dim().2)
        .max()
        .unwrap_or(1)
        .max(1);
    let scale = SCALE.max(MIN_PANEL.div_ceil(side));
    let style = OverlayStyle {
        scale,
        marker: 3 + (scale - SCALE) / 2,
        boxes: true,
    };
    let images = panels
        .iter()
        .map(|p| overlay_motifs_by_class(p.sample, MotifMap::Dense(p.map), style, assignment))
        .collect::<sparling_domains::Result<Vec<_>>>()?;
    let Some(first) = images.first() else {
        return Err(Error::Run("a motif figure needs at least one panel".into()));
    };
    let (pw, ph) = (first.width() as i32, first.height() as i32);
    let th = sparling_plot::font::text_height(FONT) as i32;
    // Four panels per row, fewer when panels are wide (a spectrogram of 642 frames): one row
    // stays within `ROW_WIDTH` pixels where it can.
    let cols = (panels.len().min(4) as i32).min((ROW_WIDTH / pw.max(1)).max(1));
    let rows = (panels.len() as i32 + cols - 1) / cols;
    let caption_h = 2 * (th + 6) + 6;
    let cell_h = ph + caption_h + GAP;
    let captions: Vec<(String, String, bool)> = panels
        .iter()
        .map(|p| {
            let right = p.predicted == p.sample.tokens.as_slice();
            let truth = format!("true: {}", sequence(vocab, &p.sample.tokens));
            let pred = format!(
                "predicted: {}{}",
                sequence(vocab, p.predicted),
                if right { "" } else { "  (wrong)" }
            );
            (truth, pred, right)
        })
        .collect();
    // A cell is as wide as its panel or its longest caption, whichever is wider.
    let cell_w = captions
        .iter()
        .flat_map(|(t, p, _)| [t, p])
        .map(|l| Canvas::text_width(l, FONT) as i32)
        .fold(pw, i32::max);
    let notes = [
        "Box: a motif's true footprint, in its class colour. Square: a surviving activation,",
        "coloured by the class its channel is assigned to. Same colour: the motif was found.",
    ];
    let notes_w = notes
        .iter()
        .map(|l| Canvas::text_width(l, FONT) as i32)
        .max()
        .unwrap_or(0);
    let width = (GAP + cols * (cell_w + GAP)).max(notes_w + 2 * GAP);

    // The legend: one swatch per class with its channel, then the unassigned colour.
    let mut items: Vec<(Color, String)> = class_names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let channel = assignment.iter().position(|&a| a == Some(k));
            let label = match channel {
                Some(c) => format!("class {name}: channel {c}"),
                None => format!("class {name}: no channel"),
            };
            (rgb(channel_colour(k)), label)
        })
        .collect();
    items.push((INK, "unassigned channel".to_string()));
    let swatch = th;
    let item_w = items
        .iter()
        .map(|(_, l)| Canvas::text_width(l, FONT) as i32 + swatch + 30)
        .max()
        .unwrap_or(0);
    let per_row = ((width - 2 * GAP) / item_w.max(1)).max(1);
    let legend_rows = (items.len() as i32 + per_row - 1) / per_row;
    let title_h = th + 2 * GAP;
    let legend_top = title_h + rows * cell_h;
    let height = legend_top + legend_rows * (th + 12) + notes.len() as i32 * (th + 8) + GAP;
    let mut c = Canvas::new(width as u32, height as u32, Color::WHITE);
    let tw = Canvas::text_width(title, FONT) as i32;
    c.text((width - tw) / 2, GAP, title, INK, FONT);

    for (i, (img, (truth, pred, right))) in images.iter().zip(&captions).enumerate() {
        let (row, col) = (i as i32 / cols, i as i32 % cols);
        let x = GAP + col * (cell_w + GAP);
        let y = title_h + row * cell_h;
        c.draw_rgb(x, y, pw as u32, ph as u32, img.as_bytes());
        c.rect(x - 1, y - 1, pw as u32 + 2, ph as u32 + 2, Color::GRAY);
        c.text(x, y + ph + 8, truth, INK, FONT);
        c.text(
            x,
            y + ph + 8 + th + 6,
            pred,
            if *right { RIGHT } else { WRONG },
            FONT,
        );
    }

    for (i, (colour, label)) in items.iter().enumerate() {
        let (row, col) = (i as i32 / per_row, i as i32 % per_row);
        let x = GAP + col * item_w;
        let y = legend_top + row * (th + 12);
        c.fill_rect(x, y, swatch as u32, swatch as u32, *colour);
        c.text(x + swatch + 8, y, label, INK, FONT);
    }
    let notes_top = legend_top + legend_rows * (th + 12) + 4;
    for (i, line) in notes.iter().enumerate() {
        c.text(GAP, notes_top + i as i32 * (th + 8), line, INK, FONT);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use sparling_domains::{DigitCircle, Domain};

    use super::*;

    #[test]
    fn the_confusion_figure_is_large_and_frames_the_assignment() {
        let mut confusion = Confusion::new(3, 2);
        confusion.record(Some(2), Some(0), 40).unwrap();
        confusion.record(Some(0), Some(1), 35).unwrap();
        confusion.record(None, Some(1), 3).unwrap();
        confusion.record(Some(1), None, 7).unwrap();
        let c = confusion_figure(&confusion, "Confusion").unwrap();
        assert!(
            c.width() >= 300 && c.height() >= 250,
            "{}x{}",
            c.width(),
            c.height()
        );
        let orange = Color::rgb(255, 127, 14);
        let framed = (0..c.height())
            .flat_map(|y| (0..c.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| c.pixel(x, y) == Some(orange))
            .count();
        assert!(framed > 0, "the assigned cells are framed");
    }

    /// A perfect motif map of each sample (`side x side`): a 1 at each motif's anchor in its
    /// class's channel.
    fn digit_names() -> Vec<String> {
        (0..10).map(|k| k.to_string()).collect()
    }

    fn anchor_maps(samples: &[Sample], side: usize) -> Vec<ndarray::Array3<f32>> {
        samples
            .iter()
            .map(|s| {
                let mut m = ndarray::Array3::zeros((10, side, side));
                for motif in &s.motifs {
                    m[[motif.class, motif.anchor[0], motif.anchor[1]]] = 1.0;
                }
                m
            })
            .collect()
    }

    #[test]
    fn the_motif_figure_has_a_panel_per_sample_and_a_legend() {
        let domain = DigitCircle::new(Default::default()).unwrap();
        let samples = domain.batch(3, &[0, 1]);
        let maps = anchor_maps(&samples, 100);
        let panels: Vec<MotifPanel> = samples
            .iter()
            .zip(&maps)
            .map(|(s, m)| MotifPanel {
                sample: s,
                map: m.view(),
                predicted: &s.tokens,
            })
            .collect();
        let identity: Vec<Option<usize>> = (0..10).map(Some).collect();
        let c = motif_figure(
            &panels,
            &identity,
            &Vocab::digits(),
            &digit_names(),
            "Motifs",
        )
        .unwrap();
        assert!(c.width() >= 2 * 300 && c.height() >= 300 + 100);
        // A marker at a motif's anchor has its class colour.
        let m = &samples[0].motifs[0];
        let (x, y) = (
            GAP as u32 + (m.anchor[1] * SCALE + 1) as u32,
            (sparling_plot::font::text_height(FONT) as i32 + 2 * GAP) as u32
                + (m.anchor[0] * SCALE + 1) as u32,
        );
        assert_eq!(c.pixel(x, y), Some(rgb(channel_colour(m.class))));
        assert!(motif_figure(&[], &identity, &Vocab::digits(), &digit_names(), "none").is_err());
    }

    #[test]
    fn small_inputs_are_drawn_larger_and_captions_do_not_overlap() {
        let domain = DigitCircle::new(crate::experiment::quick_domain()).unwrap();
        let samples = domain.batch(3, &[0, 1, 2, 3]);
        let maps = anchor_maps(&samples, 48);
        let wrong: Vec<TokenId> = vec![0; 6];
        let panels: Vec<MotifPanel> = samples
            .iter()
            .zip(&maps)
            .map(|(s, m)| MotifPanel {
                sample: s,
                map: m.view(),
                predicted: &wrong,
            })
            .collect();
        let identity: Vec<Option<usize>> = (0..10).map(Some).collect();
        let c = motif_figure(
            &panels,
            &identity,
            &Vocab::digits(),
            &digit_names(),
            "Motifs",
        )
        .unwrap();
        // 48 positions at 7 pixels each (the smallest scale reaching 300 pixels).
        let scale = MIN_PANEL.div_ceil(48);
        assert_eq!(scale, 7);
        let m = &samples[0].motifs[0];
        let (x, y) = (
            GAP as u32 + (m.anchor[1] * scale + 1) as u32,
            (sparling_plot::font::text_height(FONT) as i32 + 2 * GAP) as u32
                + (m.anchor[0] * scale + 1) as u32,
        );
        assert_eq!(c.pixel(x, y), Some(rgb(channel_colour(m.class))));
        // Four cells, each at least as wide as its longest caption.
        let caption = "predicted: 0 0 0 0 0 0  (wrong)";
        let cell = Canvas::text_width(caption, FONT) as i32;
        assert!(c.width() as i32 >= GAP + 4 * (cell + GAP), "{}", c.width());
    }

    #[test]
    fn wide_panels_of_spectrograms_go_one_per_row() {
        let domain = sparling_domains::SpokenDigits::paper();
        let samples = domain.batch(5, &[0, 1]);
        let frames = domain.positions();
        let maps: Vec<ndarray::Array3<f32>> = samples
            .iter()
            .map(|s| {
                let mut m = ndarray::Array3::zeros((10, 1, frames));
                for motif in &s.motifs {
                    m[[motif.class, 0, motif.anchor[0]]] = 1.0;
                }
                m
            })
            .collect();
        let panels: Vec<MotifPanel> = samples
            .iter()
            .zip(&maps)
            .map(|(s, m)| MotifPanel {
                sample: s,
                map: m.view(),
                predicted: &s.tokens,
            })
            .collect();
        let identity: Vec<Option<usize>> = (0..10).map(Some).collect();
        let c = motif_figure(
            &panels,
            &identity,
            &Vocab::digits(),
            &digit_names(),
            "Motifs",
        )
        .unwrap();
        let panel_w = (frames * SCALE) as u32;
        assert!(c.width() < 2 * panel_w, "{} wide", c.width());
        // Two rows of panels, each a spectrogram of 64 bands drawn 3 pixels per band.
        assert!(c.height() > 2 * 64 * SCALE as u32, "{} high", c.height());
        // The activation of the first motif is a band of its class colour over the panel.
        let m = &samples[0].motifs[0];
        let top = (sparling_plot::font::text_height(FONT) as i32 + 2 * GAP) as u32;
        let x = GAP as u32 + (m.anchor[0] * SCALE + 1) as u32;
        assert_eq!(c.pixel(x, top + 10), Some(rgb(channel_colour(m.class))));
    }
}

//! [`LineChart`]: titled x/y line charts with linear or log axes, legends and reference lines.

use crate::canvas::{Canvas, Marker, Rect};
use crate::color::{Color, palette};
use crate::font;
use crate::reference::{ReferenceLine, label_position};
use crate::ticks::{Axis, Scale};

/// One named line of a [`LineChart`].
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    name: String,
    points: Vec<(f64, f64)>,
    color: Option<Color>,
    marker: Option<Marker>,
    dashed: bool,
    thickness: Option<u32>,
}

impl Series {
    /// A series called `name` (shown in the legend unless empty) through `points` (x, y), drawn
    /// in the order given. Points that cannot be plotted (non-finite, or non-positive on a log
    /// axis) are skipped and break the line.
    pub fn new(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points: points.into_iter().collect(),
            color: None,
            marker: None,
            dashed: false,
            thickness: None,
        }
    }

    /// Uses `color` instead of the palette colour of the series' position.
    pub fn color(mut self, color: Color) -> Series {
        self.color = Some(color);
        self
    }

    /// Draws `marker` at every plotted point.
    pub fn marker(mut self, marker: Marker) -> Series {
        self.marker = Some(marker);
        self
    }

    /// Draws the line dashed (`true`) or solid (`false`, the default).
    pub fn dashed(mut self, dashed: bool) -> Series {
        self.dashed = dashed;
        self
    }

    /// Line thickness in pixels, clamped to 1..=3 (default: 1 at font scale 1, else 2).
    pub fn thickness(mut self, px: u32) -> Series {
        self.thickness = Some(px.clamp(1, 3));
        self
    }

    /// The series name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The points as given (unplottable ones included).
    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }
}

/// A line chart: title, axis labels, linear or log10 axes with automatic ticks, any number of
/// series, optional reference lines and a legend.
///
/// Built with by-value setters, then drawn with [`LineChart::render`]:
///
/// ```
/// use sparling_plot::{LineChart, Marker, ReferenceLine, Scale, Series};
/// let chart = LineChart::new("Sparsity over training")
///     .x_label("step")
///     .y_label("density")
///     .y_scale(Scale::Log10)
///     .series(Series::new("ours", [(0.0, 0.5), (1000.0, 0.01), (2000.0, 0.002)]).marker(Marker::Circle))
///     .reference_line(ReferenceLine::new(0.0148, "paper 1.48%"));
/// let canvas = chart.render(640, 400);
/// assert_eq!((canvas.width(), canvas.height()), (640, 400));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineChart {
    title: String,
    x_label: String,
    y_label: String,
    x_scale: Scale,
    y_scale: Scale,
    x_range: Option<(f64, f64)>,
    y_range: Option<(f64, f64)>,
    series: Vec<Series>,
    reference_lines: Vec<ReferenceLine>,
    legend: bool,
    font_scale: Option<u32>,
}

/// An axis-space (min, max) pair.
type Extent = (f64, f64);

/// Plot-space geometry shared by the drawing steps.
struct Frame {
    x: Axis,
    y: Axis,
    plot: Rect,
}

impl Frame {
    fn px(&self, ax: f64) -> f64 {
        self.x.to_pixel(
            ax,
            self.plot.x as f64,
            (self.plot.x + self.plot.w as i32 - 1) as f64,
        )
    }

    fn py(&self, ay: f64) -> f64 {
        self.y.to_pixel(
            ay,
            (self.plot.y + self.plot.h as i32 - 1) as f64,
            self.plot.y as f64,
        )
    }
}

impl LineChart {
    /// An empty chart titled `title` (may be empty), linear axes, legend on.
    pub fn new(title: impl Into<String>) -> LineChart {
        LineChart {
            title: title.into(),
            legend: true,
            ..LineChart::default()
        }
    }

    /// Sets the x-axis label (drawn centred under the axis).
    pub fn x_label(mut self, label: impl Into<String>) -> LineChart {
        self.x_label = label.into();
        self
    }

    /// Sets the y-axis label (drawn rotated, reading upwards, left of the axis).
    pub fn y_label(mut self, label: impl Into<String>) -> LineChart {
        self.y_label = label.into();
        self
    }

    /// Sets the x-axis scale (default [`Scale::Linear`]).
    pub fn x_scale(mut self, scale: Scale) -> LineChart {
        self.x_scale = scale;
        self
    }

    /// Sets the y-axis scale (default [`Scale::Linear`]).
    pub fn y_scale(mut self, scale: Scale) -> LineChart {
        self.y_scale = scale;
        self
    }

    /// Fixes the x range to `lo..hi` (data units) instead of fitting the data; ignored if it
    /// is not a valid range for the scale (`lo < hi`, both positive on a log axis).
    pub fn x_range(mut self, lo: f64, hi: f64) -> LineChart {
        self.x_range = Some((lo, hi));
        self
    }

    /// Fixes the y range to `lo..hi`, as [`LineChart::x_range`] does for x.
    pub fn y_range(mut self, lo: f64, hi: f64) -> LineChart {
        self.y_range = Some((lo, hi));
        self
    }

    /// Adds a series; its default colour is the palette entry of its position.
    pub fn series(mut self, series: Series) -> LineChart {
        self.series.push(series);
        self
    }

    /// Adds a horizontal reference line; its y value is included when fitting the y range.
    pub fn reference_line(mut self, line: ReferenceLine) -> LineChart {
        self.reference_lines.push(line);
        self
    }

    /// Shows (default) or hides the legend. The legend lists the series with non-empty names
    /// and is placed in the corner of the plot area that hides the fewest data.
    pub fn legend(mut self, show: bool) -> LineChart {
        self.legend = show;
        self
    }

    /// Sets the integer text scale (font pixels are `scale` x `scale` image pixels, so capitals
    /// are `7 * scale` pixels tall). Default: `width / 300` or `height / 200`, whichever is
    /// smaller, at least 1.
    pub fn font_scale(mut self, scale: u32) -> LineChart {
        self.font_scale = Some(scale.max(1));
        self
    }

    /// The series added so far.
    pub fn series_list(&self) -> &[Series] {
        &self.series
    }

    /// Axis-space extents of the plottable data on both axes (reference lines count for y).
    fn extents(&self) -> (Option<Extent>, Option<Extent>) {
        let grow = |e: &mut Option<(f64, f64)>, v: f64| {
            *e = Some(match *e {
                None => (v, v),
                Some((a, b)) => (a.min(v), b.max(v)),
            })
        };
        let (mut ex, mut ey) = (None, None);
        for s in &self.series {
            for &(x, y) in &s.points {
                if let (Some(ax), Some(ay)) = (self.x_scale.forward(x), self.y_scale.forward(y)) {
                    grow(&mut ex, ax);
                    grow(&mut ey, ay);
                }
            }
        }
        for r in &self.reference_lines {
            if let Some(ay) = self.y_scale.forward(r.y) {
                grow(&mut ey, ay);
            }
        }
        (ex, ey)
    }

    /// Draws the chart on a new white `width` x `height` canvas (each side at least 1 pixel;
    /// sizes too small for the layout produce a cramped but valid image).
    ///
    /// The legend goes inside the plot area, in the corner hiding the fewest data; when every
    /// corner would hide some data and the legend is at most a third of the width, the plot is
    /// narrowed and the legend placed to its right instead.
    pub fn render(&self, width: u32, height: u32) -> Canvas {
        let (width, height) = (width.max(1), height.max(1));
        let s = self
            .font_scale
            .unwrap_or((width / 300).min(height / 200).max(1));
        let (canvas, hidden) = self.draw(width, height, s, false);
        match self.legend_size(s) {
            Some((w, _)) if hidden > 0 && (w as u32) * 3 <= width => {
                self.draw(width, height, s, true).0
            }
            _ => canvas,
        }
    }

    /// The legend entries: (series index, series) of the named series, if the legend is shown.
    fn legend_entries(&self) -> Vec<(usize, &Series)> {
        if !self.legend {
            return Vec::new();
        }
        self.series
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.name.is_empty())
            .collect()
    }

    /// Legend box size in pixels at font scale `s`, or `None` without legend entries.
    fn legend_size(&self, s: u32) -> Option<(i32, i32)> {
        let entries = self.legend_entries();
        if entries.is_empty() {
            return None;
        }
        let si = s as i32;
        let name_w = entries
            .iter()
            .map(|(_, e)| Canvas::text_width(&e.name, s) as i32)
            .max()
            .unwrap_or(0);
        let w = 4 * si + 20 * si + 4 * si + name_w + 4 * si;
        let h = 4 * si + entries.len() as i32 * (font::text_height(s) as i32 + 3 * si) - 3 * si
            + 4 * si;
        Some((w, h))
    }

    /// Draws the chart at font scale `s`, with the legend inside the plot (`legend_outside`
    /// false) or right of it; returns the canvas and the number of data samples the legend hides.
    fn draw(&self, width: u32, height: u32, s: u32, legend_outside: bool) -> (Canvas, usize) {
        let mut c = Canvas::new(width, height, Color::WHITE);
        let si = s as i32;
        let th = font::text_height(s) as i32;
        let pad = 5 * si;
        let tick_len = 3 * si;
        let (ext_x, ext_y) = self.extents();
        let has_data = ext_x.is_some() && self.series.iter().any(|s| !s.points.is_empty());

        // Vertical layout: title, plot, x tick labels, x label.
        let title_h = if self.title.is_empty() { 0 } else { th + pad };
        let xlabel_h = if self.x_label.is_empty() { 0 } else { th + pad };
        let plot_top = pad + title_h + th / 2;
        let plot_bottom = height as i32 - pad - xlabel_h - th - 2 * si - tick_len;
        let plot_h = (plot_bottom - plot_top).max(1);
        let y_max_ticks = ((plot_h / (3 * th)) as usize + 1).clamp(2, 10);
        let y = Axis::new(self.y_scale, ext_y, self.y_range, y_max_ticks);

        // Horizontal layout: y label, y tick labels, plot.
        let ytick_w = y
            .major
            .iter()
            .map(|(_, l)| Canvas::text_width(l, s) as i32)
            .max()
            .unwrap_or(0);
        let ylabel_w = if self.y_label.is_empty() { 0 } else { th + pad };
        let plot_left = pad + ylabel_w + ytick_w + 2 * si + tick_len;
        // Leave room for half of a right-most x tick label.
        let right_margin = match self.legend_size(s) {
            Some((w, _)) if legend_outside => 2 * pad + w + 2 * pad,
            _ => 2 * pad + 3 * th / 2,
        };
        let plot_w = (width as i32 - right_margin - plot_left).max(1);

        // The most x ticks whose labels do not collide.
        let mut x = Axis::new(self.x_scale, ext_x, self.x_range, 2);
        for n in (2..=10).rev() {
            let cand = Axis::new(self.x_scale, ext_x, self.x_range, n);
            let pos: Vec<(f64, f64)> = cand
                .major
                .iter()
                .map(|(a, l)| {
                    (
                        cand.to_pixel(*a, 0.0, plot_w as f64),
                        Canvas::text_width(l, s) as f64,
                    )
                })
                .collect();
            let fits = pos
                .windows(2)
                .all(|w| w[1].0 - w[0].0 >= (w[0].1 + w[1].1) / 2.0 + 3.0 * th as f64);
            if fits {
                x = cand;
                break;
            }
        }
        let f = Frame {
            x,
            y,
            plot: Rect::new(plot_left, plot_top, plot_w as u32, plot_h as u32),
        };
        let plot = f.plot;
        let (pl, pt) = (plot.x, plot.y);
        let (pr, pb) = (plot.x + plot.w as i32 - 1, plot.y + plot.h as i32 - 1);

        // Grid, minor ticks, frame, tick labels.
        for (a, _) in &f.x.major {
            let px = f.px(*a).round() as i32;
            c.line(px, pt, px, pb, Color::LIGHT_GRAY, 1);
        }
        for (a, _) in &f.y.major {
            let py = f.py(*a).round() as i32;
            c.line(pl, py, pr, py, Color::LIGHT_GRAY, 1);
        }
        for a in &f.x.minor {
            let px = f.px(*a).round() as i32;
            c.line(px, pb, px, pb + tick_len / 2, Color::DARK_GRAY, 1);
        }
        for a in &f.y.minor {
            let py = f.py(*a).round() as i32;
            c.line(pl - tick_len / 2, py, pl, py, Color::DARK_GRAY, 1);
        }
        c.rect(pl, pt, plot.w, plot.h, Color::DARK_GRAY);
        for (a, label) in &f.x.major {
            let px = f.px(*a).round() as i32;
            c.line(px, pb, px, pb + tick_len, Color::DARK_GRAY, 1);
            let w = Canvas::text_width(label, s) as i32;
            c.text(px - w / 2, pb + tick_len + 2 * si, label, Color::BLACK, s);
        }
        for (a, label) in &f.y.major {
            let py = f.py(*a).round() as i32;
            c.line(pl - tick_len, py, pl, py, Color::DARK_GRAY, 1);
            let w = Canvas::text_width(label, s) as i32;
            // Centre the capitals (7 of the 9 font rows) on the tick.
            c.text(
                pl - tick_len - 2 * si - w,
                py - 7 * si / 2,
                label,
                Color::BLACK,
                s,
            );
        }

        // Title and axis labels.
        if !self.title.is_empty() {
            let w = Canvas::text_width(&self.title, s) as i32;
            c.text((width as i32 - w) / 2, pad, &self.title, Color::BLACK, s);
        }
        if !self.x_label.is_empty() {
            let w = Canvas::text_width(&self.x_label, s) as i32;
            let ty = height as i32 - pad - th;
            c.text(
                pl + (plot.w as i32 - w) / 2,
                ty,
                &self.x_label,
                Color::BLACK,
                s,
            );
        }
        if !self.y_label.is_empty() {
            let h = Canvas::text_width(&self.y_label, s) as i32;
            c.text_vertical(
                pad,
                pt + (plot.h as i32 - h) / 2,
                &self.y_label,
                Color::BLACK,
                s,
            );
        }

        // Reference lines, then series, clipped to the plot area.
        let thick_default = if s == 1 { 1 } else { 2 };
        c.set_clip(Some(Rect::new(
            pl + 1,
            pt + 1,
            plot.w.saturating_sub(2),
            plot.h.saturating_sub(2),
        )));
        let mut label_boxes = Vec::new();
        for r in &self.reference_lines {
            let Some(ay) = self.y_scale.forward(r.y) else {
                continue;
            };
            let py = f.py(ay).round() as i32;
            c.dashed_line(pl, py, pr, py, r.color, thick_default, 6 * s, 4 * s);
            if !r.label.is_empty() {
                let w = Canvas::text_width(&r.label, s) as i32;
                let points: Vec<(f64, f64)> = self
                    .series
                    .iter()
                    .flat_map(|series| series.points.iter())
                    .filter_map(|&(x, y)| {
                        Some((
                            f.px(self.x_scale.forward(x)?),
                            f.py(self.y_scale.forward(y)?),
                        ))
                    })
                    .collect();
                let (lx, ly) = label_position(py, (pl, pr, pt), (w, th), pad, si, &points);
                c.text(lx, ly, &r.label, r.color, s);
                label_boxes.push(Rect::new(lx, ly, w as u32, th as u32));
            }
        }
        let mut samples: Vec<(f64, f64)> = Vec::new();
        for (i, series) in self.series.iter().enumerate() {
            let color = series.color.unwrap_or(palette(i));
            let thickness = series.thickness.unwrap_or(thick_default);
            let dash = series.dashed.then_some((6 * s, 4 * s));
            let mut phase = 0u32;
            let mut prev: Option<(f64, f64)> = None;
            for &(x, y) in &series.points {
                let p = match (self.x_scale.forward(x), self.y_scale.forward(y)) {
                    (Some(ax), Some(ay)) => Some((f.px(ax), f.py(ay))),
                    _ => None,
                };
                if let (Some(a), Some(b)) = (prev, p) {
                    c.segment(a, b, color, thickness, dash, &mut phase);
                    let n =
                        ((b.0 - a.0).abs().max((b.1 - a.1).abs()) / 4.0).clamp(1.0, 200.0) as usize;
                    samples.extend((1..n).map(|k| {
                        let t = k as f64 / n as f64;
                        (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
                    }));
                }
                if let Some(b) = p {
                    samples.push(b);
                }
                prev = p;
            }
            if let Some(m) = series.marker {
                for &(x, y) in &series.points {
                    if let (Some(ax), Some(ay)) = (self.x_scale.forward(x), self.y_scale.forward(y))
                    {
                        let (px, py) = (f.px(ax), f.py(ay));
                        if px.abs() < 1e9 && py.abs() < 1e9 {
                            c.marker(px.round() as i32, py.round() as i32, m, s + 2, color);
                        }
                    }
                }
            }
        }
        c.set_clip(None);

        if !has_data {
            let msg = "no data";
            let w = Canvas::text_width(msg, s) as i32;
            c.text(
                pl + (plot.w as i32 - w) / 2,
                pt + (plot.h as i32 - th) / 2,
                msg,
                Color::GRAY,
                s,
            );
        }

        let hidden = self.draw_legend(&mut c, &f, s, &samples, &label_boxes, legend_outside);
        (c, hidden)
    }

    /// Draws the legend box, right of the plot when `outside`, else in the plot corner covering
    /// the fewest data samples and no reference-line label; returns the number of samples hidden.
    fn draw_legend(
        &self,
        c: &mut Canvas,
        f: &Frame,
        s: u32,
        samples: &[(f64, f64)],
        avoid: &[Rect],
        outside: bool,
    ) -> usize {
        let entries = self.legend_entries();
        let Some((w, h)) = self.legend_size(s) else {
            return 0;
        };
        let si = s as i32;
        let th = font::text_height(s) as i32;
        let pad = 4 * si;
        let sample_len = 20 * si;
        let row_h = th + 3 * si;
        let plot = f.plot;
        let inset = 3 * si;
        let (left, right) = (plot.x + inset, plot.x + plot.w as i32 - inset - w);
        let (top, bottom) = (plot.y + inset, plot.y + plot.h as i32 - inset - h);
        let corners = [(right, top), (left, top), (right, bottom), (left, bottom)];
        let score = |&(x, y): &(i32, i32)| {
            let r = Rect::new(x, y, w.max(1) as u32, h.max(1) as u32);
            let hidden = samples
                .iter()
                .filter(|p| {
                    p.0.abs() < 1e9
                        && p.1.abs() < 1e9
                        && r.contains(p.0.round() as i64, p.1.round() as i64)
                })
                .count();
            hidden + 10_000 * avoid.iter().filter(|a| a.intersects(&r)).count()
        };
        let ((lx, ly), hidden) = if outside {
            ((plot.x + plot.w as i32 + 10 * si, plot.y), 0)
        } else {
            let best = corners
                .iter()
                .copied()
                .min_by_key(score)
                .expect("four corners");
            (best, score(&best))
        };
        c.fill_rect(lx, ly, w.max(1) as u32, h.max(1) as u32, Color::WHITE);
        c.rect(lx, ly, w.max(1) as u32, h.max(1) as u32, Color::GRAY);
        let thick_default = if s == 1 { 1 } else { 2 };
        for (row, (i, e)) in entries.iter().enumerate() {
            let color = e.color.unwrap_or(palette(*i));
            let ty = ly + pad + row as i32 * row_h;
            let cy = ty + 7 * si / 2;
            let (x0, x1) = (lx + pad, lx + pad + sample_len);
            let thickness = e.thickness.unwrap_or(thick_default);
            if e.dashed {
                c.dashed_line(x0, cy, x1, cy, color, thickness, 6 * s, 4 * s);
            } else {
                c.line(x0, cy, x1, cy, color, thickness);
            }
            if let Some(m) = e.marker {
                c.marker((x0 + x1) / 2, cy, m, s + 2, color);
            }
            c.text(x1 + pad, ty, &e.name, Color::BLACK, s);
        }
        hidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decreasing() -> Series {
        Series::new(
            "decreasing",
            (0..20).map(|i| (i as f64, 1.0 / (1.0 + i as f64))),
        )
    }

    #[test]
    fn line_chart_legend_stays_inside_when_a_corner_is_free() {
        let chart = LineChart::new("t").series(decreasing()).font_scale(1);
        let (inside, hidden) = chart.draw(400, 300, 1, false);
        assert_eq!(hidden, 0);
        assert!(chart.render(400, 300) == inside);
    }

    #[test]
    fn line_chart_legend_moves_outside_when_every_corner_hides_data() {
        // Four horizontal-ish lines along the top and bottom edges and an X fill every corner.
        let chart = LineChart::new("crowded")
            .series(Series::new("top", [(0.0, 1.0), (1.0, 1.0)]))
            .series(Series::new("bottom", [(0.0, 0.0), (1.0, 0.0)]))
            .series(Series::new("rise", [(0.0, 0.0), (1.0, 1.0)]))
            .series(Series::new("fall", [(0.0, 1.0), (1.0, 0.0)]))
            .font_scale(1);
        let (_, hidden) = chart.draw(600, 400, 1, false);
        assert!(hidden > 0);
        let (outside, hidden_out) = chart.draw(600, 400, 1, true);
        assert_eq!(hidden_out, 0);
        assert!(chart.render(600, 400) == outside);
        // A legend wider than a third of the image stays inside.
        let (inside_small, _) = chart.draw(90, 400, 1, false);
        assert!(chart.render(90, 400) == inside_small);
    }

    #[test]
    fn line_chart_without_named_series_has_no_legend() {
        let chart = LineChart::new("").series(Series::new("", [(0.0, 0.0), (1.0, 1.0)]));
        assert_eq!(chart.legend_size(2), None);
        let chart = decreasing_chart_without_legend();
        assert_eq!(chart.legend_size(2), None);
    }

    fn decreasing_chart_without_legend() -> LineChart {
        LineChart::new("").series(decreasing()).legend(false)
    }

    #[test]
    fn line_chart_extents_skip_unplottable_points_and_include_reference_lines() {
        let chart = LineChart::new("")
            .y_scale(Scale::Log10)
            .series(Series::new(
                "s",
                [(f64::NAN, 1.0), (2.0, 10.0), (3.0, -1.0), (4.0, 100.0)],
            ))
            .reference_line(ReferenceLine::new(1000.0, "ref"))
            .reference_line(ReferenceLine::new(0.0, "not on a log axis"));
        let (ex, ey) = chart.extents();
        assert_eq!(ex, Some((2.0, 4.0)));
        assert_eq!(ey, Some((1.0, 3.0)));
    }

    #[test]
    fn line_chart_title_and_labels_are_drawn_where_expected() {
        let bare = LineChart::new("")
            .series(decreasing())
            .legend(false)
            .render(400, 300);
        let full = LineChart::new("Title")
            .x_label("x axis")
            .y_label("y axis")
            .series(decreasing())
            .legend(false)
            .render(400, 300);
        let ink_rows = |c: &Canvas, ys: std::ops::Range<u32>, xs: std::ops::Range<u32>| {
            ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
                .filter(|&(x, y)| c.pixel(x, y) != Some(Color::WHITE))
                .count()
        };
        // The title sits centred in the top rows; without a title those rows are blank.
        assert_eq!(ink_rows(&bare, 0..5, 0..400), 0);
        assert!(ink_rows(&full, 5..14, 150..250) > 20);
        // The rotated y label sits at the left edge, the x label at the bottom.
        assert!(ink_rows(&full, 100..200, 5..14) > 20);
        assert!(ink_rows(&full, 286..295, 100..300) > 20);
    }

    #[test]
    fn line_chart_reference_label_avoids_the_data() {
        let red = Color::rgb(220, 0, 0);
        let ink = |data_x: f64| {
            let chart = LineChart::new("")
                .legend(false)
                .x_range(0.0, 10.0)
                .y_range(0.0, 2.0)
                .series(Series::new(
                    "",
                    (0..=20).map(|k| (data_x + k as f64 * 0.05, 1.04)),
                ))
                .reference_line(ReferenceLine::new(1.0, "reference label").color(red));
            let c = chart.render(600, 300);
            let count = |x0: u32, x1: u32| {
                (0..c.height())
                    .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                    .filter(|&(x, y)| c.pixel(x, y) == Some(red))
                    .count()
            };
            (count(0, 300), count(300, 600))
        };
        // Data at the right end: the label goes left; data at the left end: it stays right.
        let (left, right) = ink(9.0);
        assert!(left > right, "{left} {right}");
        let (left, right) = ink(0.0);
        assert!(right > left, "{left} {right}");
    }
}

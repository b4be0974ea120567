//! End-to-end rendering: charts and heatmaps encode to PNGs of the requested size whose pixels
//! are not all background, edge cases do not panic, and saving is atomic.

use sparling_plot::{Canvas, Color, Heatmap, LineChart, Marker, ReferenceLine, Scale, Series};

/// Decodes a PNG and returns (width, height, RGB bytes).
fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Number of pixels that differ from white.
fn ink(rgb: &[u8]) -> usize {
    rgb.chunks(3).filter(|p| p != &[255, 255, 255]).count()
}

/// Number of pixels of exactly `color`.
fn count(canvas: &Canvas, color: Color) -> usize {
    canvas
        .as_rgb_bytes()
        .chunks(3)
        .filter(|p| p == &[color.r, color.g, color.b])
        .count()
}

fn sample_chart() -> LineChart {
    let pts: Vec<(f64, f64)> = (0..50)
        .map(|i| (i as f64, (i as f64 * 0.2).sin() + 1.5))
        .collect();
    LineChart::new("Loss curve")
        .x_label("epoch")
        .y_label("loss")
        .series(Series::new("train", pts.clone()).marker(Marker::Circle))
        .series(Series::new("val", pts.iter().map(|&(x, y)| (x, y * 1.1))).dashed(true))
        .reference_line(ReferenceLine::new(2.0, "target 2.0"))
}

#[test]
fn render_chart_png_has_requested_size_and_ink() {
    for (w, h) in [(800, 500), (320, 200), (123, 457)] {
        let canvas = sample_chart().render(w, h);
        let (dw, dh, rgb) = decode(&canvas.to_png_bytes().unwrap());
        assert_eq!((dw, dh), (w, h));
        assert_eq!(rgb.len(), (w * h * 3) as usize);
        assert_eq!(rgb, canvas.as_rgb_bytes());
        let inked = ink(&rgb);
        assert!(
            inked > (w * h / 50) as usize,
            "{w}x{h}: only {inked} inked pixels"
        );
        assert!(inked < (w * h) as usize, "{w}x{h}: everything inked");
    }
}

#[test]
fn render_chart_draws_series_in_palette_colours() {
    let canvas = sample_chart().render(640, 400);
    assert!(
        count(&canvas, sparling_plot::palette(0)) > 200,
        "series 0 colour missing"
    );
    assert!(
        count(&canvas, sparling_plot::palette(1)) > 100,
        "series 1 colour missing"
    );
    let custom = Color::rgb(1, 2, 3);
    let canvas = LineChart::new("")
        .series(Series::new("", [(0.0, 0.0), (1.0, 1.0)]).color(custom))
        .render(300, 200);
    assert!(count(&canvas, custom) > 50);
}

#[test]
fn render_heatmap_png_is_decodable_with_ink() {
    let counts = vec![vec![10, 0, 3], vec![1, 25, 4]];
    let canvas = Heatmap::from_counts("counts", &counts)
        .unwrap()
        .row_labels(["a", "b"])
        .unwrap()
        .col_labels(["x", "a long column label", "z"])
        .unwrap()
        .x_label("columns")
        .y_label("rows")
        .render();
    let (w, h, rgb) = decode(&canvas.to_png_bytes().unwrap());
    assert_eq!((w, h), (canvas.width(), canvas.height()));
    assert!(w > 50 && h > 50);
    assert!(ink(&rgb) > 500);
    // The maximum cell is the darkest ramp colour, the zero cell white-ish; both present.
    assert!(count(&canvas, Color::rgb(8, 48, 107)) > 100);
    // Vertical column labels make the image taller than the label-free layout.
    let plain = Heatmap::from_counts("counts", &counts).unwrap().render();
    assert!(canvas.height() > plain.height());
}

#[test]
fn render_heatmap_edge_cases() {
    for values in [
        vec![],
        vec![vec![]],
        vec![vec![f64::NAN]],
        vec![vec![7.0]],
        vec![vec![-1.5, 2.25]],
    ] {
        let canvas = Heatmap::new("edge", values.clone()).unwrap().render();
        let (w, h, rgb) = decode(&canvas.to_png_bytes().unwrap());
        assert!(w > 0 && h > 0, "{values:?}");
        assert!(ink(&rgb) > 0, "{values:?}");
    }
    // Tiny cells hide the values but still draw.
    let canvas = Heatmap::from_counts("", &[vec![1000, 2000]])
        .unwrap()
        .cell_size(3)
        .render();
    assert!(canvas.width() > 0);
}

#[test]
fn render_empty_chart_does_not_panic() {
    for chart in [
        LineChart::new("empty"),
        LineChart::new("empty series").series(Series::new("nothing", [])),
        LineChart::new("log empty")
            .x_scale(Scale::Log10)
            .y_scale(Scale::Log10),
        LineChart::new("only reference").reference_line(ReferenceLine::new(0.5, "ref")),
    ] {
        let canvas = chart.render(400, 300);
        let (w, h, rgb) = decode(&canvas.to_png_bytes().unwrap());
        assert_eq!((w, h), (400, 300));
        assert!(ink(&rgb) > 100);
    }
}

#[test]
fn render_single_point_and_constant_series() {
    let red = Color::rgb(200, 0, 0);
    let canvas = LineChart::new("one point")
        .series(
            Series::new("p", [(3.0, 7.0)])
                .marker(Marker::Square)
                .color(red),
        )
        .render(400, 300);
    assert!(
        count(&canvas, red) > 9,
        "the single marker is drawn inside the plot"
    );
    let canvas = LineChart::new("constant")
        .series(
            Series::new("c", [(0.0, 5.0), (0.0, 5.0)])
                .marker(Marker::Diamond)
                .color(red),
        )
        .x_scale(Scale::Log10)
        .legend(false)
        .render(400, 300);
    // x = 0 cannot be drawn on a log axis: nothing red (the legend is off), but no panic.
    assert_eq!(count(&canvas, red), 0);
    let canvas = LineChart::new("flat")
        .series(Series::new("c", [(1.0, 5.0), (2.0, 5.0), (3.0, 5.0)]).color(red))
        .render(400, 300);
    assert!(count(&canvas, red) > 100, "a flat line is drawn");
}

#[test]
fn render_skips_nan_and_non_positive_log_points() {
    let red = Color::rgb(200, 0, 0);
    let blue = Color::rgb(0, 0, 200);
    let pts = vec![
        (f64::NAN, 1.0),
        (1.0, f64::NAN),
        (1.0, 0.1),
        (2.0, f64::INFINITY),
        (3.0, 0.0),
        (4.0, -1.0),
        (5.0, 0.01),
        (6.0, 0.02),
    ];
    let chart = LineChart::new("nan and log")
        .y_scale(Scale::Log10)
        .series(Series::new("mixed", pts).color(red).marker(Marker::Circle))
        .series(Series::new("all bad", [(0.0, f64::NAN), (1.0, -2.0)]).color(blue));
    let canvas = chart.render(500, 300);
    assert!(count(&canvas, red) > 20);
    // The legend still lists "all bad" (a short blue sample line), but no data is drawn for it.
    let blue_px = count(&canvas, blue);
    assert!(blue_px > 0 && blue_px < 200, "{blue_px}");
}

#[test]
fn render_tiny_and_degenerate_sizes_do_not_panic() {
    for (w, h) in [(1, 1), (0, 0), (10, 300), (300, 10), (40, 40)] {
        let canvas = sample_chart().render(w, h);
        assert_eq!((canvas.width(), canvas.height()), (w.max(1), h.max(1)));
        decode(&canvas.to_png_bytes().unwrap());
    }
}

#[test]
fn render_far_out_fixed_ranges_and_huge_values() {
    let chart = LineChart::new("zoomed")
        .x_range(0.0, 1.0)
        .y_range(0.0, 1.0)
        .series(
            Series::new("s", [(-1e300, -1e300), (0.5, 0.5), (1e300, 1e300)]).marker(Marker::Cross),
        );
    let canvas = chart.render(300, 200);
    decode(&canvas.to_png_bytes().unwrap());
    let chart = LineChart::new("huge").series(Series::new("s", [(0.0, 1e-300), (1.0, 1e300)]));
    decode(&chart.render(300, 200).to_png_bytes().unwrap());
}

#[test]
fn render_save_is_atomic_and_reports_the_path() {
    let dir = std::env::temp_dir().join(format!("sparling-plot-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("chart.png");
    let canvas = sample_chart().render(200, 150);
    canvas.save_png(&path).unwrap();
    // Overwriting works too.
    canvas.save_png(&path).unwrap();
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["chart.png".to_string()], "no .tmp left behind");
    let (w, h, _) = decode(&std::fs::read(&path).unwrap());
    assert_eq!((w, h), (200, 150));

    let bad = dir.join("missing-dir").join("x.png");
    let err = canvas.save_png(&bad).unwrap_err();
    assert!(
        matches!(&err, sparling_plot::Error::Io { path, .. } if path == &bad),
        "{err:?}"
    );
    assert!(err.to_string().contains("missing-dir"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

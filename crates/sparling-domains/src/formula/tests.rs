//! Tests of the formula domain: length and symbol statistics, layout geometry, determinism,
//! motifs against tokens, noise, configuration errors.

use super::grammar::{
    CLASS_BAR, CLASS_CLOSE, CLASS_OPEN, CLASS_PLUS, FRAC_OPEN, PAREN_CLOSE, PAREN_OPEN, PLUS,
    Script, parse, rendered_symbols, token_sym,
};
use super::*;

fn configs() -> [FormulaConfig; 2] {
    [FormulaConfig::default(), FormulaConfig::half()]
}

#[test]
fn formula_lengths_uniform_and_symbols_near_the_paper() {
    let d = Formula::paper();
    let n = 3000u64;
    let mut hist = [0usize; 31];
    let (mut symbols, mut redraws) = (0usize, 0usize);
    for i in 0..n {
        let (len, formula, b, r, _) = d.draw(&mut sample_rng(11, i));
        assert_eq!(to_tokens(&formula).len(), len);
        assert_eq!(b.items.len(), rendered_symbols(&formula));
        hist[len] += 1;
        symbols += b.items.len();
        redraws += r;
    }
    assert_eq!(hist[0], 0);
    // chi-square against uniform 1..=30 (29 degrees of freedom; 58.3 is the 99.9% quantile)
    let expected = n as f64 / 30.0;
    let chi2: f64 = hist[1..]
        .iter()
        .map(|&k| (k as f64 - expected).powi(2) / expected)
        .sum();
    assert!(chi2 < 58.3, "chi-square {chi2}: {hist:?}");
    // the paper's mean is 9.64 rendered symbols (sd of the mean here about 0.1)
    let mean = symbols as f64 / n as f64;
    assert!((mean - 9.64).abs() < 0.4, "mean rendered symbols {mean}");
    // formulas too wide for the image are rare (validation relies on it)
    assert!((redraws as f64 / n as f64) < 0.05, "{redraws} redraws");
}

/// Checks one sample's geometry: ink inside the image, footprints inside, distinct symbols
/// disjoint, scripts on the right side of the baseline, fraction bars between their parts.
fn check_geometry(cfg: &FormulaConfig, t: &FormulaTrace) {
    let (h, w) = (cfg.height, cfg.width);
    for p in &t.symbols {
        assert!(
            p.rows[0] >= cfg.padding && p.rows[1] + cfg.padding <= h,
            "{p:?}"
        );
        assert!(
            p.cols[0] >= cfg.padding && p.cols[1] + cfg.padding <= w,
            "{p:?}"
        );
        assert!(p.rows[0] < p.rows[1] && p.cols[0] < p.cols[1]);
    }
    for (i, a) in t.symbols.iter().enumerate() {
        for b in &t.symbols[i + 1..] {
            let overlap = a.rows[0] < b.rows[1]
                && b.rows[0] < a.rows[1]
                && a.cols[0] < b.cols[1]
                && b.cols[0] < a.cols[1];
            assert!(!overlap, "{a:?} overlaps {b:?} in {:?}", t.tokens);
        }
    }
    // walk the tree beside the symbols (both in token order)
    fn walk(row: &[Node], syms: &mut std::slice::Iter<'_, Placed>, baseline: Option<usize>) {
        for node in row {
            match node {
                Node::Sym { script, .. } => {
                    let base = syms.next().unwrap();
                    if let Some((kind, _)) = script {
                        let s = syms.next().unwrap();
                        assert!(s.cols[0] >= base.cols[1], "script right of its base");
                        match kind {
                            Script::Sup => {
                                assert!(s.rows[0] < base.rows[0] && s.rows[1] < base.rows[1]);
                                if let Some(b) = baseline {
                                    assert!(s.rows[1] <= b, "superscript above the baseline");
                                }
                            }
                            Script::Sub => {
                                assert!(s.rows[1] > base.rows[1] && s.rows[0] > base.rows[0]);
                                if let Some(b) = baseline {
                                    assert!(s.rows[1] > b, "subscript below the baseline");
                                }
                            }
                        }
                    }
                }
                Node::Plus => assert_eq!(syms.next().unwrap().class, CLASS_PLUS),
                Node::Paren(inner) => {
                    let open = syms.next().unwrap().clone();
                    let content: Vec<Placed> = syms
                        .by_ref()
                        .take(rendered_symbols(inner))
                        .cloned()
                        .collect();
                    let close = syms.next().unwrap();
                    assert_eq!((open.class, close.class), (CLASS_OPEN, CLASS_CLOSE));
                    for p in &content {
                        assert!(open.cols[1] <= p.cols[0] && p.cols[1] <= close.cols[0]);
                        // as tall as the content
                        assert!(open.rows[0] < p.rows[0] && p.rows[1] < open.rows[1]);
                        assert!(close.rows[0] < p.rows[0] && p.rows[1] < close.rows[1]);
                    }
                    walk(inner, &mut content.iter(), baseline);
                }
                Node::Frac(num, den) => {
                    let bar = syms.next().unwrap().clone();
                    assert_eq!(bar.class, CLASS_BAR);
                    let n: Vec<Placed> =
                        syms.by_ref().take(rendered_symbols(num)).cloned().collect();
                    let d: Vec<Placed> =
                        syms.by_ref().take(rendered_symbols(den)).cloned().collect();
                    for p in n.iter().chain(&d) {
                        assert!(bar.cols[0] <= p.cols[0] && p.cols[1] <= bar.cols[1]);
                    }
                    assert!(n.iter().all(|p| p.rows[1] < bar.rows[0]), "numerator above");
                    assert!(
                        d.iter().all(|p| p.rows[0] > bar.rows[1]),
                        "denominator below"
                    );
                    walk(num, &mut n.iter(), None);
                    walk(den, &mut d.iter(), None);
                }
            }
        }
    }
    let mut it = t.symbols.iter();
    walk(&t.formula, &mut it, Some(t.baseline));
    assert!(it.next().is_none());
}

#[test]
fn formula_layout_geometry() {
    for cfg in configs() {
        let d = Formula::new(cfg.clone()).unwrap();
        let mut seen = [false; 3]; // a superscript, a subscript, a nested fraction
        for i in 0..300 {
            let t = d.trace(7, i);
            check_geometry(&cfg, &t);
            seen[0] |= t.tokens.contains(&grammar::SUP_OPEN);
            seen[1] |= t.tokens.contains(&grammar::SUB_OPEN);
            seen[2] |= t.tokens.iter().filter(|&&k| k == FRAC_OPEN).count() > 1;
            // the ink drawn is inside the symbols' boxes, and every box has ink on its edges
            for ((r, c), &ink) in t.ink.indexed_iter() {
                if ink {
                    assert!(t.symbols.iter().any(|p| (p.rows[0]..p.rows[1]).contains(&r)
                        && (p.cols[0]..p.cols[1]).contains(&c)));
                }
            }
        }
        assert_eq!(seen, [true; 3], "the draws exercise every construct");
    }
}

#[test]
fn formula_is_a_pure_function_of_seed_and_index() {
    let d = Formula::new(FormulaConfig::half()).unwrap();
    let a = d.sample(3, 17);
    assert_eq!(a, d.sample(3, 17));
    assert_ne!(a.input, d.sample(3, 18).input);
    assert_ne!(a.input, d.sample(4, 17).input);
    let batch = d.batch(3, &[17, 5, 17]);
    assert_eq!(batch[0], a);
    assert_eq!(batch[2], a);
    assert_eq!(batch[1], d.sample(3, 5));
    let arrays = d.batch_arrays(3, &[17, 5]);
    assert_eq!(arrays.inputs.shape(), &[2, 1, 60, 180]);
}

#[test]
fn formula_motifs_match_the_tokens() {
    for cfg in configs() {
        let d = Formula::new(cfg.clone()).unwrap();
        for i in 0..200 {
            let s = d.sample(9, i);
            assert_eq!(
                parse(&s.tokens).map(|f| to_tokens(&f)),
                Ok(s.tokens.clone())
            );
            assert!((1..=30).contains(&s.tokens.len()));
            let expected: Vec<usize> = s
                .tokens
                .iter()
                .filter_map(|&t| match t {
                    PLUS => Some(CLASS_PLUS),
                    PAREN_OPEN => Some(CLASS_OPEN),
                    PAREN_CLOSE => Some(CLASS_CLOSE),
                    FRAC_OPEN => Some(CLASS_BAR),
                    t => token_sym(t).map(usize::from),
                })
                .collect();
            let classes: Vec<usize> = s.motifs.iter().map(|m| m.class).collect();
            assert_eq!(classes, expected, "{:?}", s.tokens);
            let t = d.trace(9, i);
            for (m, p) in s.motifs.iter().zip(&t.symbols) {
                let pad = cfg.padding;
                let fp = Footprint::Rect {
                    rows: [p.rows[0] - pad, p.rows[1] + pad],
                    cols: [p.cols[0] - pad, p.cols[1] + pad],
                };
                assert_eq!(m.footprint, fp);
                assert!(fp.fits_in(&[cfg.height, cfg.width]));
                assert!(fp.contains(&m.anchor));
            }
        }
    }
    assert_eq!(Formula::paper().num_classes(), 20);
    assert_eq!(Formula::paper().vocab().len(), 29);
}

#[test]
fn formula_image_is_paper_one_ink_zero_with_noise_on_paper() {
    let d = Formula::paper();
    let (mut noisy, mut paper) = (0usize, 0usize);
    for i in 0..20 {
        let t = d.trace(5, i);
        let s = d.sample(5, i);
        let img = s.input.as_image().unwrap();
        assert_eq!(img.dim(), (120, 360));
        for ((r, c), &v) in img.indexed_iter() {
            let (ink, noise) = (t.ink[(r, c)], t.noise[(r, c)]);
            assert_eq!(v, if ink || noise { 0.0 } else { 1.0 });
            if !ink {
                paper += 1;
                noisy += usize::from(noise);
            }
        }
    }
    // 860k paper pixels: sd of the rate about 5e-4
    let rate = noisy as f64 / paper as f64;
    assert!((rate - 0.25).abs() < 3e-3, "noise rate {rate}");
    let clean = Formula::new(FormulaConfig {
        noise: 0.0,
        ..Default::default()
    })
    .unwrap();
    // the noise does not move the formula
    assert_eq!(clean.sample(5, 3).motifs, d.sample(5, 3).motifs);
}

#[test]
fn formula_expected_motifs_and_min_density() {
    let d = Formula::paper();
    let e = d.expected_motifs().unwrap();
    assert!((e - 9.64).abs() < 0.4, "expected motifs {e}");
    // the paper's minimum density at 120 x 360 with 32 channels: 6.973e-6
    let min = e / (32.0 * d.positions() as f64);
    assert!((min / 6.973e-6 - 1.0).abs() < 0.05, "min density {min}");
    let half = Formula::new(FormulaConfig::half()).unwrap();
    let eh = half.expected_motifs().unwrap();
    assert!((eh - e).abs() < 0.3, "half {eh} vs full {e}");
    assert_eq!(half.positions(), 60 * 180);
}

#[test]
fn formula_classes_are_named_by_symbol_not_by_token() {
    let names = Formula::paper().class_names();
    assert_eq!(names.len(), 20);
    assert_eq!((names[0].as_str(), names[19].as_str()), ("0", "bar"));
    // The digit domains' classes are their tokens.
    let digits = crate::DigitCircle::paper().class_names();
    assert_eq!(digits, (0..10).map(|k| k.to_string()).collect::<Vec<_>>());
}

#[test]
fn formula_config_errors_name_the_field() {
    let e = |c: FormulaConfig| Formula::new(c).unwrap_err().to_string();
    let d = FormulaConfig::default;
    assert!(e(FormulaConfig { width: 200, ..d() }).contains("width 200"));
    assert!(e(FormulaConfig { noise: 1.5, ..d() }).contains("noise 1.5"));
    assert!(
        e(FormulaConfig {
            noise: f64::NAN,
            ..d()
        })
        .contains("noise")
    );
    assert!(e(FormulaConfig { len_min: 0, ..d() }).contains("len_min 0"));
    assert!(e(FormulaConfig { len_max: 31, ..d() }).contains("len_max 31"));
    assert!(e(FormulaConfig { padding: 9, ..d() }).contains("padding 9"));
    assert!(
        e(FormulaConfig {
            height: 5000,
            ..d()
        })
        .contains("too large")
    );
    // half-scale glyphs on the paper's image are fine; full-scale glyphs on half the image not
    assert!(
        Formula::new(FormulaConfig {
            scale: GlyphScale::Half,
            ..d()
        })
        .is_ok()
    );
    assert!(
        e(FormulaConfig {
            scale: GlyphScale::Full,
            ..FormulaConfig::half()
        })
        .contains("scale Full")
    );
    let parsed: FormulaConfig =
        serde_json::from_str(r#"{"scale": "half", "height": 60, "width": 180}"#).unwrap();
    assert_eq!(parsed, FormulaConfig::half());
    assert!(serde_json::from_str::<FormulaConfig>(r#"{"size": 3}"#).is_err());
}

#[test]
fn formula_short_lengths_restrict_the_draw() {
    let d = Formula::new(FormulaConfig {
        len_min: 4,
        len_max: 4,
        ..Default::default()
    })
    .unwrap();
    for i in 0..50 {
        assert_eq!(d.sample(1, i).tokens.len(), 4);
    }
    assert_eq!(d.max_tokens(), 4);
}

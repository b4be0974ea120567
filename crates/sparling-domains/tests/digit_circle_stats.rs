//! Statistical tests of DigitCircle over 10,000 samples (generated once, in parallel, shared by
//! every test of this file).

use std::f64::consts::TAU;
use std::sync::OnceLock;

use rayon::prelude::*;
use sparling_domains::{DigitCircle, DigitCircleConfig, DigitCircleTrace, Domain, Footprint};

const N: u64 = 10_000;
const SEED: u64 = 2024;

/// Per-sample facts, reduced by summing (integer counts only, so the reduction order is
/// irrelevant).
#[derive(Clone)]
struct Stats {
    samples: u64,
    digit_count_hist: [u64; 7],
    radius_hist: Vec<u64>,
    digit_hist: [u64; 10],
    shift_hist: [u64; 7],
    pixels: u64,
    pre_flips: u64,
    post_flips: u64,
    post_flips_on_ink: u64,
    ink_before_post: u64,
    ink: u64,
    clean_ink: u64,
    /// samples where two footprints overlap
    overlapping: u64,
    angle_redraws: u64,
    offset_below_half: u64,
    /// violations (each should stay 0)
    outside: u64,
    repeated_digit: u64,
    gap_rule: u64,
    angle_formula: u64,
    point_formula: u64,
    not_canonical: u64,
    centre_range: u64,
    motif_mismatch: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            samples: 0,
            digit_count_hist: [0; 7],
            radius_hist: vec![0; 35],
            digit_hist: [0; 10],
            shift_hist: [0; 7],
            pixels: 0,
            pre_flips: 0,
            post_flips: 0,
            post_flips_on_ink: 0,
            ink_before_post: 0,
            ink: 0,
            clean_ink: 0,
            overlapping: 0,
            angle_redraws: 0,
            offset_below_half: 0,
            outside: 0,
            repeated_digit: 0,
            gap_rule: 0,
            angle_formula: 0,
            point_formula: 0,
            not_canonical: 0,
            centre_range: 0,
            motif_mismatch: 0,
        }
    }
}

impl Stats {
    fn merge(mut self, o: Stats) -> Stats {
        macro_rules! add {
            ($($f:ident),*) => { $( self.$f += o.$f; )* };
        }
        add!(
            samples,
            pixels,
            pre_flips,
            post_flips,
            post_flips_on_ink,
            ink_before_post,
            ink,
            clean_ink,
            overlapping,
            angle_redraws,
            offset_below_half,
            outside,
            repeated_digit,
            gap_rule,
            angle_formula,
            point_formula,
            not_canonical,
            centre_range,
            motif_mismatch
        );
        for (a, b) in self.digit_count_hist.iter_mut().zip(o.digit_count_hist) {
            *a += b;
        }
        for (a, b) in self.radius_hist.iter_mut().zip(&o.radius_hist) {
            *a += b;
        }
        for (a, b) in self.digit_hist.iter_mut().zip(o.digit_hist) {
            *a += b;
        }
        for (a, b) in self.shift_hist.iter_mut().zip(o.shift_hist) {
            *a += b;
        }
        self
    }
}

/// Rotation starting at the smallest element, written independently of the crate's helper.
fn rotate_to_min(v: &[usize]) -> Vec<usize> {
    let m = *v.iter().min().unwrap();
    let k = v.iter().position(|&x| x == m).unwrap();
    let mut out = v[k..].to_vec();
    out.extend_from_slice(&v[..k]);
    out
}

fn one(d: &DigitCircle, t: &DigitCircleTrace, index: u64) -> Stats {
    let mut s = Stats {
        samples: 1,
        ..Default::default()
    };
    let n = t.placements.len();
    s.digit_count_hist[n.min(6)] += 1;
    s.radius_hist[t.radius.min(34)] += 1;
    if !(20..=34).contains(&t.radius) {
        s.outside += 1; // also caught by the histogram check
    }
    let (lo, hi) = (t.radius + 15, 100 - t.radius - 15);
    if !(lo..hi).contains(&t.centre[0]) || !(lo..hi).contains(&t.centre[1]) {
        s.centre_range += 1;
    }
    // digits distinct
    let mut digits: Vec<u8> = t.digits();
    for &dg in &digits {
        s.digit_hist[dg as usize] += 1;
    }
    digits.sort();
    digits.dedup();
    if digits.len() != n {
        s.repeated_digit += 1;
    }
    // angular-gap rule: gaps sum to 1, each >= 1/(2n); angles are (cumsum + offset) * 2 pi,
    // so consecutive angles (and the wrap-around) are at least pi/n apart
    let sum: f64 = t.gaps.iter().sum();
    if (sum - 1.0).abs() > 1e-12 || t.gaps.iter().any(|&g| g < 1.0 / (2.0 * n as f64)) {
        s.gap_rule += 1;
    }
    let mut cum = 0.0;
    for (p, g) in t.placements.iter().zip(&t.gaps) {
        cum += g;
        if (p.angle - (cum + t.offset) * TAU).abs() > 1e-9 {
            s.angle_formula += 1;
        }
    }
    for w in t.placements.windows(2) {
        if w[1].angle - w[0].angle < std::f64::consts::PI / n as f64 - 1e-9 {
            s.gap_rule += 1;
        }
    }
    let span = t.placements[n - 1].angle - t.placements[0].angle;
    if TAU - span < std::f64::consts::PI / n as f64 - 1e-9 {
        s.gap_rule += 1;
    }
    s.angle_redraws += (t.angle_draws - 1) as u64;
    if t.offset < 0.5 {
        s.offset_below_half += 1;
    }
    // placement geometry
    let r = t.radius as f64;
    for p in &t.placements {
        let expect = [
            (t.centre[0] as f64 + r * p.angle.cos()).round() as i64,
            (t.centre[1] as f64 + r * p.angle.sin()).round() as i64,
        ];
        let stamp = d.stamps().get(p.digit).unwrap();
        if p.circle_point != expect
            || p.point[0] as i64 != expect[0] + p.shift[0]
            || p.point[1] as i64 != expect[1] + p.shift[1]
            || p.rows
                != [
                    p.point[0] - stamp.height() / 2,
                    p.point[0] - stamp.height() / 2 + 12,
                ]
            || p.cols[1] - p.cols[0] != stamp.width()
            || p.cols[0] != p.point[1] - stamp.width() / 2
        {
            s.point_formula += 1;
        }
        for sh in p.shift {
            if (-3..=3).contains(&sh) {
                s.shift_hist[(sh + 3) as usize] += 1;
            } else {
                s.outside += 1;
            }
        }
        if p.rows[1] > 100 || p.cols[1] > 100 {
            s.outside += 1;
        }
    }
    for i in 0..n {
        for j in 0..i {
            let a = Footprint::Rect {
                rows: t.placements[i].rows,
                cols: t.placements[i].cols,
            };
            let b = Footprint::Rect {
                rows: t.placements[j].rows,
                cols: t.placements[j].cols,
            };
            if a.overlaps(&b) {
                s.overlapping += 1;
            }
        }
    }
    // output: canonical rotation of the placement order
    let placed: Vec<usize> = t.placements.iter().map(|p| p.digit as usize).collect();
    if t.tokens != rotate_to_min(&placed) || t.tokens[0] != *placed.iter().min().unwrap() {
        s.not_canonical += 1;
    }
    // the public sample matches the trace
    let sample = d.sample(SEED, index);
    if sample.tokens != t.tokens
        || sample.motifs.len() != n
        || sample.motifs.iter().zip(&t.placements).any(|(m, p)| {
            m.class != p.digit as usize
                || m.footprint
                    != Footprint::Rect {
                        rows: p.rows,
                        cols: p.cols,
                    }
                || m.anchor != p.point.to_vec()
        })
    {
        s.motif_mismatch += 1;
    }
    // noise
    s.pixels = t.image.len() as u64;
    s.pre_flips = t.pre_flips.iter().filter(|&&b| b).count() as u64;
    s.post_flips = t.post_flips.iter().filter(|&&b| b).count() as u64;
    s.ink = t.image.iter().filter(|&&b| b).count() as u64;
    s.clean_ink = t.clean.iter().filter(|&&b| b).count() as u64;
    for ((&img, &post), _) in t.image.iter().zip(&t.post_flips).zip(0..) {
        let before = img ^ post;
        if before {
            s.ink_before_post += 1;
            if post {
                s.post_flips_on_ink += 1;
            }
        }
    }
    s
}

fn stats() -> &'static Stats {
    static STATS: OnceLock<Stats> = OnceLock::new();
    STATS.get_or_init(|| {
        let d = DigitCircle::paper();
        (0..N)
            .into_par_iter()
            .map(|i| one(&d, &d.trace(SEED, i), i))
            .reduce(Stats::default, Stats::merge)
    })
}

/// Pearson chi-square of counts against equal expected counts.
fn chi2_uniform(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let e = total as f64 / counts.len() as f64;
    counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum()
}

#[test]
fn digit_circle_every_stamp_inside_and_motifs_match() {
    let s = stats();
    assert_eq!(s.samples, N);
    assert_eq!(s.outside, 0);
    assert_eq!(s.centre_range, 0);
    assert_eq!(s.point_formula, 0);
    assert_eq!(s.motif_mismatch, 0);
}

#[test]
fn digit_circle_digits_distinct_and_uniform() {
    let s = stats();
    assert_eq!(s.repeated_digit, 0);
    // each digit appears with probability E[n]/10 = 0.45 per sample; chi-square with 9 degrees
    // of freedom, 33.7 is its 0.9999 quantile
    let c = chi2_uniform(&s.digit_hist);
    assert!(c < 33.7, "digit frequencies {:?} chi2 {c}", s.digit_hist);
}

#[test]
fn digit_circle_digit_count_uniform_3_to_6() {
    let s = stats();
    assert_eq!(&s.digit_count_hist[..3], &[0, 0, 0]);
    // chi-square, 3 degrees of freedom: 21.1 is the 0.9999 quantile
    let c = chi2_uniform(&s.digit_count_hist[3..]);
    assert!(c < 21.1, "counts {:?} chi2 {c}", &s.digit_count_hist[3..]);
}

#[test]
fn digit_circle_radius_uniform_20_to_34() {
    let s = stats();
    assert!(s.radius_hist[..20].iter().all(|&c| c == 0));
    assert!(s.radius_hist[20..].iter().all(|&c| c > 0));
    // 15 values, 14 degrees of freedom: 42.6 is the 0.9999 quantile
    let c = chi2_uniform(&s.radius_hist[20..]);
    assert!(
        c < 42.6,
        "radius counts {:?} chi2 {c}",
        &s.radius_hist[20..]
    );
}

#[test]
fn digit_circle_shift_uniform_within_3() {
    let s = stats();
    // 7 values, 6 degrees of freedom: 27.9 is the 0.9999 quantile
    let c = chi2_uniform(&s.shift_hist);
    assert!(c < 27.9, "shift counts {:?} chi2 {c}", s.shift_hist);
}

#[test]
fn digit_circle_angular_gap_rule_holds() {
    let s = stats();
    assert_eq!(s.gap_rule, 0);
    assert_eq!(s.angle_formula, 0);
    // the rejection loop does reject (for n = 6 most draws fail), so the rule is exercised
    assert!(s.angle_redraws > N, "only {} redraws", s.angle_redraws);
    // offset uniform: P(offset < 1/2) = 1/2, sd 50 over 10,000
    let below = s.offset_below_half as f64;
    assert!((below - 5000.0).abs() < 250.0, "{below}");
}

#[test]
fn digit_circle_output_is_canonical_rotation() {
    assert_eq!(stats().not_canonical, 0);
}

#[test]
fn digit_circle_noise_rates_and_ink_fraction() {
    let s = stats();
    let px = s.pixels as f64;
    assert_eq!(s.pixels, N * 100 * 100);
    // pre-noise: p = 0.5 * 0.250380 = 0.12519; sd over 1e8 pixels = 3.3e-5
    let pre = s.pre_flips as f64 / px;
    assert!((pre - 0.125190).abs() < 2.0e-4, "pre-noise rate {pre}");
    // post-noise: p = 0.05; sd 2.2e-5
    let post = s.post_flips as f64 / px;
    assert!((post - 0.05).abs() < 1.5e-4, "post-noise rate {post}");
    // post-noise flips ink and blank pixels alike
    let on_ink = s.post_flips_on_ink as f64 / s.ink_before_post as f64;
    let on_blank = (s.post_flips - s.post_flips_on_ink) as f64 / (px - s.ink_before_post as f64);
    assert!((on_ink - 0.05).abs() < 5e-4, "post flips on ink {on_ink}");
    assert!(
        (on_blank - 0.05).abs() < 5e-4,
        "post flips on blank {on_blank}"
    );
    // mean ink fraction of an image: about 0.168 (the paper's domain)
    let ink = s.ink as f64 / px;
    assert!((ink - 0.168).abs() < 1.5e-3, "mean ink fraction {ink}");
    // consistency: ink = ink_before * 0.95 + (1 - ink_before) * 0.05
    let before = s.ink_before_post as f64 / px;
    assert!((ink - (before * 0.95 + (1.0 - before) * 0.05)).abs() < 3e-4);
    println!(
        "pre {pre:.6} post {post:.6} ink {ink:.6} clean ink {:.6} overlapping pairs {}",
        s.clean_ink as f64 / px,
        s.overlapping
    );
}

#[test]
fn digit_circle_tight_configs_keep_stamps_inside() {
    // Padding exactly shift + 6 (the least validation allows for 12-row stamps) and the largest
    // radius: the stamps reach the edges but never leave (trace asserts it on every stamp).
    for (size, shift) in [(60usize, 3usize), (41, 0), (70, 5)] {
        let padding = shift + 6;
        let radius_max = (size - 1) / 2 - padding;
        let cfg = DigitCircleConfig {
            size,
            shift,
            padding,
            radius_min: radius_max.saturating_sub(4),
            radius_max,
            ..Default::default()
        };
        let d = DigitCircle::new(cfg).unwrap();
        let (mut min_r0, mut max_r1) = (usize::MAX, 0);
        for i in 0..2000 {
            let t = d.trace(7, i);
            for p in &t.placements {
                assert!(p.rows[1] <= size && p.cols[1] <= size);
                min_r0 = min_r0.min(p.rows[0]);
                max_r1 = max_r1.max(p.rows[1]);
            }
        }
        assert!(
            min_r0 <= 1,
            "size {size}: closest approach to the top {min_r0}"
        );
        assert!(
            max_r1 >= size - 1,
            "size {size}: closest approach to the bottom {max_r1}"
        );
        // one less padding is rejected
        let loose = DigitCircleConfig {
            size,
            shift,
            padding: padding - 1,
            radius_min: 1,
            radius_max: 1,
            ..Default::default()
        };
        assert!(DigitCircle::new(loose).is_err());
    }
}

#[test]
fn digit_circle_min_density() {
    let d = DigitCircle::paper();
    let m = sparling_domains::min_density(&d, 10, 1000);
    // E[#digits] = 4.5 (sd of the 1,000-sample mean 0.035): 4.5e-5 +- 1.5e-6
    assert!((m - 4.5e-5).abs() < 1.5e-6, "min density {m}");
    println!("min density (1,000 samples): {m:.4e}");
}

//! Axis scales, "nice" tick generation and tick label formatting.

/// How data values map to an axis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scale {
    /// Values map linearly; ticks use 1-2-5 steps.
    #[default]
    Linear,
    /// `log10(value)` maps linearly; ticks sit on powers of ten. Non-positive values cannot be
    /// shown and are skipped.
    Log10,
}

impl Scale {
    /// The value in axis space (`v` or `log10(v)`), or `None` when it cannot be plotted
    /// (non-finite, or non-positive on a log axis).
    pub fn forward(self, v: f64) -> Option<f64> {
        match self {
            _ if !v.is_finite() => None,
            Scale::Linear => Some(v),
            Scale::Log10 if v > 0.0 => Some(v.log10()),
            Scale::Log10 => None,
        }
    }

    /// The inverse of [`Scale::forward`].
    pub fn inverse(self, a: f64) -> f64 {
        match self {
            Scale::Linear => a,
            Scale::Log10 => 10f64.powf(a),
        }
    }
}

/// `10^k`, exactly as the literal `1ek` parses (so `pow10(-5) == 1e-5`).
pub fn pow10(k: i32) -> f64 {
    format!("1e{k}")
        .parse()
        .expect("a decimal power of ten always parses")
}

/// The smallest step of the form `{1, 2, 5} x 10^k` for which the multiples of the step inside
/// `[lo, hi]` number at most `max_ticks` (at least 2 is assumed). Returns `None` for an empty,
/// reversed or non-finite range.
pub fn nice_step(lo: f64, hi: f64, max_ticks: usize) -> Option<f64> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return None;
    }
    let max_ticks = max_ticks.max(2);
    let span = hi - lo;
    let mut k = (span / max_ticks as f64).log10().floor() as i32 - 1;
    loop {
        for m in [1.0, 2.0, 5.0] {
            let step = m * pow10(k);
            let first = (lo / step - 1e-9).ceil();
            let last = (hi / step + 1e-9).floor();
            if last - first + 1.0 <= max_ticks as f64 {
                return Some(step);
            }
        }
        k += 1;
    }
}

/// Rounds `v` to the number of decimals that `step` needs, removing binary noise such as
/// `0.30000000000000004`; also turns `-0.0` into `0.0`.
fn round_to_step(v: f64, step: f64) -> f64 {
    let decimals = (-step.log10().floor()).max(0.0) as i32;
    let r = if decimals > 0 && decimals < 300 {
        let f = pow10(decimals);
        (v * f).round() / f
    } else {
        v
    };
    if r == 0.0 { 0.0 } else { r }
}

/// Linear ticks: the multiples of [`nice_step`]`(lo, hi, max_ticks)` inside `[lo, hi]`, in
/// increasing order and rounded to the step's precision. Empty for an invalid range.
///
/// ```
/// assert_eq!(sparling_plot::linear_ticks(0.0, 1.0, 6), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
/// ```
pub fn linear_ticks(lo: f64, hi: f64, max_ticks: usize) -> Vec<f64> {
    let Some(step) = nice_step(lo, hi, max_ticks) else {
        return Vec::new();
    };
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| round_to_step(k as f64 * step, step))
        .collect()
}

/// Log ticks: every power of ten inside `[lo, hi]` (a relative tolerance of 1e-9 keeps the
/// ends), in increasing order. Empty when `lo` is not positive or the range is invalid.
///
/// ```
/// assert_eq!(sparling_plot::log_ticks(1e-5, 0.5), vec![1e-5, 1e-4, 1e-3, 1e-2, 1e-1]);
/// ```
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi >= lo) {
        return Vec::new();
    }
    let first = (lo.log10() - 1e-9).ceil() as i32;
    let last = (hi.log10() + 1e-9).floor() as i32;
    (first..=last).map(pow10).collect()
}

/// The label of a linear tick `v` on an axis whose step is `step`: as many decimals as the step
/// needs (`0.2` -> `"0.2"`, `5` -> `"5"`), or scientific notation (`"2e-5"`, `"3e6"`) when the
/// step is below 1e-4 or the value reaches 1e6 in magnitude.
pub fn format_linear_tick(v: f64, step: f64) -> String {
    let v = round_to_step(v, step);
    if v == 0.0 {
        return "0".to_string();
    }
    if step < 1e-4 || v.abs() >= 1e6 {
        return format!("{v:e}");
    }
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

/// The label of the power of ten `10^exponent` on a log axis: plain decimals (`"0.001"`,
/// `"100"`) when `plain` is set, otherwise `"1e-5"` style.
pub fn format_log_tick(exponent: i32, plain: bool) -> String {
    if !plain {
        return format!("1e{exponent}");
    }
    if exponent < 0 {
        format!("{:.*}", (-exponent) as usize, pow10(exponent))
    } else {
        format!("{:.0}", pow10(exponent))
    }
}

/// One computed axis: its range in axis space (after [`Scale::forward`]) and its labelled and
/// minor ticks.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Axis {
    pub scale: Scale,
    /// Axis-space lower end.
    pub lo: f64,
    /// Axis-space upper end.
    pub hi: f64,
    /// Labelled ticks: axis-space position and label.
    pub major: Vec<(f64, String)>,
    /// Unlabelled minor ticks (log axes: 2..9 x 10^k), axis-space positions.
    pub minor: Vec<f64>,
}

impl Axis {
    /// Builds an axis covering the axis-space data extent `extent` (already forward-mapped; `None`
    /// when there is no data), or exactly `fixed` (data units) when given and valid. Linear data
    /// ranges are padded by 4 % on each side; log ranges by 4 % of their decades, labelled at
    /// 1, 2 and 5 x 10^k if fewer than two powers of ten fall inside, and widened to enclosing
    /// powers of ten only if even those give fewer than two labels. At most `max_ticks` labelled ticks.
    pub fn new(
        scale: Scale,
        extent: Option<(f64, f64)>,
        fixed: Option<(f64, f64)>,
        max_ticks: usize,
    ) -> Axis {
        let fixed = fixed.and_then(|(a, b)| {
            let (fa, fb) = (scale.forward(a)?, scale.forward(b)?);
            (fb > fa).then_some((fa, fb))
        });
        let (lo, hi) = match (fixed, extent) {
            (Some(r), _) => r,
            (None, Some((a, b))) => {
                let (a, b) = if b > a {
                    (a, b)
                } else {
                    // A single value: pad by 10 % of its magnitude (1 unit at 0; half a decade on
                    // log axes).
                    let pad = match scale {
                        Scale::Linear if a != 0.0 => a.abs() * 0.1,
                        Scale::Linear => 1.0,
                        Scale::Log10 => 0.5,
                    };
                    (a - pad, a + pad)
                };
                let margin = (b - a) * 0.04;
                (a - margin, b + margin)
            }
            // No data: 0..1 on a linear axis, 1..10 (0..1 in log space) on a log axis.
            (None, None) => (0.0, 1.0),
        };
        match scale {
            Scale::Linear => {
                let ticks = linear_ticks(lo, hi, max_ticks);
                let step = nice_step(lo, hi, max_ticks).unwrap_or(1.0);
                let major = ticks
                    .iter()
                    .map(|&t| (t, format_linear_tick(t, step)))
                    .collect();
                Axis {
                    scale,
                    lo,
                    hi,
                    major,
                    minor: Vec::new(),
                }
            }
            Scale::Log10 => {
                let (mut lo, mut hi) = (lo, hi);
                let mut first = (lo - 1e-9).ceil() as i32;
                let mut last = (hi + 1e-9).floor() as i32;
                if last - first < 1 {
                    if let Some(axis) = sub_decade_axis(lo, hi) {
                        return axis;
                    }
                }
                if fixed.is_none() && last - first < 1 {
                    lo = lo.floor();
                    hi = hi.ceil().max(lo + 1.0);
                    first = lo as i32;
                    last = hi as i32;
                }
                let decades = (last - first + 1).max(1) as usize;
                let stride = decades.div_ceil(max_ticks.max(2)).max(1) as i32;
                let labelled: Vec<i32> = (first..=last)
                    .filter(|e| (e - first) % stride == 0)
                    .collect();
                let plain = labelled.iter().all(|e| (-3..=4).contains(e));
                let major = labelled
                    .iter()
                    .map(|&e| (e as f64, format_log_tick(e, plain)))
                    .collect();
                let mut minor = Vec::new();
                if stride == 1 && hi - lo <= 8.0 {
                    for e in (lo.floor() as i32)..=(hi.ceil() as i32) {
                        for m in 2..=9 {
                            let a = e as f64 + (m as f64).log10();
                            if a > lo && a < hi {
                                minor.push(a);
                            }
                        }
                    }
                } else {
                    minor = (first..=last)
                        .filter(|e| (e - first) % stride != 0)
                        .map(|e| e as f64)
                        .collect();
                }
                Axis {
                    scale,
                    lo,
                    hi,
                    major,
                    minor,
                }
            }
        }
    }

    /// Maps an axis-space value to a pixel coordinate, `p0` at `lo` and `p1` at `hi`.
    pub fn to_pixel(&self, a: f64, p0: f64, p1: f64) -> f64 {
        p0 + (a - self.lo) / (self.hi - self.lo) * (p1 - p0)
    }
}

/// A log axis over `[lo, hi]` (axis space) that holds fewer than two powers of ten: labelled at
/// the mantissas 1, 2 and 5 inside the range (or at every mantissa 1..9 if those give fewer
/// than two labels), the other mantissas as minor ticks. `None` if even that gives fewer than
/// two labels (the caller then widens the range to whole decades).
fn sub_decade_axis(lo: f64, hi: f64) -> Option<Axis> {
    let inside = |mantissas: &[u32]| -> Vec<(i32, u32)> {
        let mut out = Vec::new();
        for e in (lo.floor() as i32)..=(hi.ceil() as i32) {
            for &m in mantissas {
                let a = e as f64 + (m as f64).log10();
                if a >= lo - 1e-9 && a <= hi + 1e-9 {
                    out.push((e, m));
                }
            }
        }
        out
    };
    let mut labelled = inside(&[1, 2, 5]);
    if labelled.len() < 2 {
        labelled = inside(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
    if labelled.len() < 2 {
        return None;
    }
    let plain = labelled.iter().all(|(e, _)| (-3..=4).contains(e));
    let label = |e: i32, m: u32| {
        if plain {
            let decimals = (-e).max(0) as usize;
            format!("{:.*}", decimals, m as f64 * pow10(e))
        } else {
            format!("{m}e{e}")
        }
    };
    let major = labelled
        .iter()
        .map(|&(e, m)| (e as f64 + (m as f64).log10(), label(e, m)))
        .collect();
    let minor = inside(&[1, 2, 3, 4, 5, 6, 7, 8, 9])
        .into_iter()
        .filter(|t| !labelled.contains(t))
        .map(|(e, m)| e as f64 + (m as f64).log10())
        .collect();
    Some(Axis {
        scale: Scale::Log10,
        lo,
        hi,
        major,
        minor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_linear_zero_to_one() {
        assert_eq!(
            linear_ticks(0.0, 1.0, 6),
            vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        );
        assert_eq!(linear_ticks(0.0, 1.0, 11).len(), 11);
        assert_eq!(linear_ticks(0.0, 1.0, 3), vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn ticks_linear_steps_are_1_2_5() {
        for (lo, hi) in [
            (0.0, 7.3),
            (-13.0, 480.0),
            (0.0012, 0.0391),
            (1e6, 3.5e6),
            (-1.0, -0.2),
        ] {
            for max in 3..10 {
                let t = linear_ticks(lo, hi, max);
                assert!(
                    t.len() >= 2 && t.len() <= max,
                    "{lo}..{hi} max {max}: {t:?}"
                );
                let step = nice_step(lo, hi, max).unwrap();
                let mant = step / pow10(step.log10().floor() as i32);
                assert!(
                    [1.0, 2.0, 5.0].iter().any(|m| (mant - m).abs() < 1e-9),
                    "step {step} is not 1-2-5"
                );
                assert!(
                    t.iter()
                        .all(|&v| v >= lo - 1e-9 * step && v <= hi + 1e-9 * step)
                );
                for w in t.windows(2) {
                    assert!(((w[1] - w[0]) / step - 1.0).abs() < 1e-6);
                }
            }
        }
        assert_eq!(
            linear_ticks(0.0, 100.0, 6),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(linear_ticks(-1.0, 1.0, 5), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
    }

    #[test]
    fn ticks_linear_invalid_ranges_are_empty() {
        assert!(linear_ticks(1.0, 1.0, 5).is_empty());
        assert!(linear_ticks(2.0, 1.0, 5).is_empty());
        assert!(linear_ticks(f64::NAN, 1.0, 5).is_empty());
        assert!(linear_ticks(0.0, f64::INFINITY, 5).is_empty());
    }

    #[test]
    fn ticks_log_decades() {
        assert_eq!(log_ticks(1e-5, 0.5), vec![1e-5, 1e-4, 1e-3, 1e-2, 1e-1]);
        assert_eq!(log_ticks(0.9, 1000.0), vec![1.0, 10.0, 100.0, 1000.0]);
        assert_eq!(log_ticks(0.2, 0.5), Vec::<f64>::new());
        assert!(log_ticks(0.0, 1.0).is_empty());
        assert!(log_ticks(-1.0, 1.0).is_empty());
    }

    #[test]
    fn ticks_labels() {
        assert_eq!(format_linear_tick(0.6000000000000001, 0.2), "0.6");
        assert_eq!(format_linear_tick(40.0, 20.0), "40");
        assert_eq!(format_linear_tick(-0.0, 0.5), "0");
        assert_eq!(format_linear_tick(0.25, 0.05), "0.25");
        assert_eq!(format_linear_tick(3e-5, 1e-5), "3e-5");
        assert_eq!(format_linear_tick(2e6, 1e6), "2e6");
        assert_eq!(format_log_tick(-3, true), "0.001");
        assert_eq!(format_log_tick(2, true), "100");
        assert_eq!(format_log_tick(0, true), "1");
        assert_eq!(format_log_tick(-5, false), "1e-5");
    }

    #[test]
    fn ticks_axis_log_range_and_labels() {
        let ext = (1e-5f64.log10(), 0.5f64.log10());
        let ax = Axis::new(Scale::Log10, Some(ext), None, 8);
        let labels: Vec<&str> = ax.major.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, vec!["1e-5", "1e-4", "1e-3", "1e-2", "1e-1"]);
        assert!(ax.lo < -5.0 && ax.hi > 0.5f64.log10());
        assert!(!ax.minor.is_empty());
        // Less than a decade: fitted to the data, labelled at 1, 2 and 5 x 10^k.
        let ax = Axis::new(
            Scale::Log10,
            Some((0.2f64.log10(), 0.5f64.log10())),
            None,
            8,
        );
        assert!(ax.lo > -1.0 && ax.hi < 0.0);
        let labels: Vec<&str> = ax.major.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, vec!["0.2", "0.5"]);
        assert_eq!(ax.minor.len(), 2, "0.3 and 0.4");
        // One power of ten inside a small range (densities): scientific labels, no widening.
        let ext = (4.5e-5f64.log10(), 4e-4f64.log10());
        let ax = Axis::new(Scale::Log10, Some(ext), None, 8);
        let labels: Vec<&str> = ax.major.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, vec!["5e-5", "1e-4", "2e-4"]);
        assert!(ax.lo > 4e-5f64.log10() && ax.hi < 5e-4f64.log10());
        // Too narrow for two mantissas: widened to enclosing powers of ten.
        let ax = Axis::new(
            Scale::Log10,
            Some((0.21f64.log10(), 0.22f64.log10())),
            None,
            8,
        );
        assert_eq!((ax.lo, ax.hi), (-1.0, 0.0));
        // Very many decades are thinned.
        let ax = Axis::new(Scale::Log10, Some((-100.0, 100.0)), None, 6);
        assert!(ax.major.len() <= 6 && ax.major.len() >= 2);
    }

    #[test]
    fn ticks_axis_single_value_is_padded() {
        let ax = Axis::new(Scale::Linear, Some((3.0, 3.0)), None, 6);
        assert!(ax.lo < 3.0 && ax.hi > 3.0);
        assert!(ax.major.len() >= 2);
        let ax = Axis::new(Scale::Linear, Some((0.0, 0.0)), None, 6);
        assert!(ax.lo < 0.0 && ax.hi > 0.0);
        let ax = Axis::new(Scale::Log10, Some((-2.0, -2.0)), None, 6);
        assert!(ax.lo < -2.0 && ax.hi > -2.0 && ax.major.len() >= 2);
    }

    #[test]
    fn ticks_axis_fixed_range_is_used_exactly_when_valid() {
        let ax = Axis::new(Scale::Linear, Some((0.3, 0.4)), Some((0.0, 1.0)), 6);
        assert_eq!((ax.lo, ax.hi), (0.0, 1.0));
        // Invalid fixed ranges (reversed, non-positive on log) fall back to the data.
        let ax = Axis::new(Scale::Log10, Some((-2.0, -1.0)), Some((0.0, 1.0)), 6);
        assert!(ax.lo < -2.0 && ax.hi > -1.0);
        let ax = Axis::new(Scale::Linear, None, Some((5.0, 1.0)), 6);
        assert_eq!((ax.lo, ax.hi), (0.0, 1.0));
    }

    #[test]
    fn ticks_scale_forward_skips_unplottable() {
        assert_eq!(Scale::Linear.forward(-2.0), Some(-2.0));
        assert_eq!(Scale::Linear.forward(f64::NAN), None);
        assert_eq!(Scale::Log10.forward(0.0), None);
        assert_eq!(Scale::Log10.forward(-1.0), None);
        assert_eq!(Scale::Log10.forward(100.0), Some(2.0));
        assert_eq!(Scale::Log10.forward(f64::INFINITY), None);
        assert!((Scale::Log10.inverse(2.0) - 100.0).abs() < 1e-9);
    }
}

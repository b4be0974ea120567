//! SpokenDigits: placement, speaker split, footprints, determinism and density.

use std::sync::Arc;

use sparling_domains::{
    Domain, Footprint, MIN_DENSITY_SEED, SpeakerSplit, SpeechBank, SpokenDigits,
    SpokenDigitsConfig, min_density,
};

fn domain(split: SpeakerSplit, noise_scale: f64) -> SpokenDigits {
    SpokenDigits::new(SpokenDigitsConfig {
        split,
        noise_scale,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn placement_never_overlaps_and_stays_inside_15_s() {
    let d = domain(SpeakerSplit::Train, 1.0 / 1024.0);
    let mut counts = [0usize; 11];
    for i in 0..300 {
        let t = d.trace(3, i);
        assert_eq!(t.audio.len(), 120_000);
        let n = t.clips.len();
        assert!((5..=10).contains(&n), "sample {i}: {n} digits");
        counts[n] += 1;
        for w in t.clips.windows(2) {
            assert!(w[0].start + w[0].len <= w[1].start, "sample {i}: {w:?}");
        }
        let last = t.clips.last().unwrap();
        assert!(last.start + last.len <= 120_000);
        for c in &t.clips {
            assert_eq!(c.len, d.bank().clip_len(c.speaker, c.digit, c.take));
        }
        // the noise is bounded by its scale outside the clips
        let first = t.clips[0].start;
        assert!(t.audio[..first].iter().all(|v| v.abs() <= 1.0 / 1024.0));
        assert!(t.audio[..first].iter().any(|&v| v != 0.0) || first == 0);
    }
    assert!(counts[5..=10].iter().all(|&c| c > 20), "{counts:?}");
}

#[test]
fn train_and_test_speakers_are_disjoint() {
    let train = domain(SpeakerSplit::Train, 0.0);
    let bank = Arc::clone(train.bank());
    let with = |split| {
        SpokenDigits::with_bank(
            SpokenDigitsConfig {
                split,
                ..Default::default()
            },
            Arc::clone(&bank),
        )
        .unwrap()
    };
    let (valid, test) = (with(SpeakerSplit::Validation), with(SpeakerSplit::Test));
    assert_eq!(train.speakers().len(), 51);
    assert_eq!(test.speakers().len(), 9);
    assert_eq!(valid.speakers(), train.speakers());
    assert_eq!(test.speakers(), train.held_out());
    assert!(
        train
            .speakers()
            .iter()
            .all(|s| !test.speakers().contains(s))
    );
    let mut all: Vec<usize> = train
        .speakers()
        .iter()
        .chain(test.speakers())
        .copied()
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..60).collect::<Vec<_>>());
    // the held-out speakers are a fixed shuffle's pick (documented in the README)
    assert_eq!(test.speakers(), &[11, 14, 20, 34, 35, 38, 43, 54, 59]);
    for i in 0..100 {
        assert!(
            train
                .trace(0, i)
                .clips
                .iter()
                .all(|c| train.speakers().contains(&c.speaker))
        );
        assert!(
            test.trace(0, i)
                .clips
                .iter()
                .all(|c| test.speakers().contains(&c.speaker))
        );
    }
}

#[test]
fn footprints_cover_exactly_the_clips_frames() {
    // Without noise, the frames whose window (+-187 samples) touches no clip are silent (at the
    // floor, 80 dB below the maximum), and every footprint holds a frame above the floor.
    let d = domain(SpeakerSplit::Train, 0.0);
    for i in 0..20 {
        let t = d.trace(5, i);
        let s = d.sample(5, i);
        assert_eq!(s.motifs.len(), t.clips.len());
        assert_eq!(
            s.tokens,
            t.clips.iter().map(|c| c.digit).collect::<Vec<_>>()
        );
        let spec = s.input.array();
        assert_eq!(spec.dim(), (64, 642));
        let max = spec.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let floor = max - 80.0;
        let mut spans = Vec::new();
        for (m, c) in s.motifs.iter().zip(&t.clips) {
            let want = [c.start * 642 / 120_000, (c.start + c.len) * 642 / 120_000];
            assert_eq!(m.footprint, Footprint::Interval { span: want });
            assert_eq!(m.class, c.digit);
            assert!(m.footprint.fits_in(&[642]));
            assert!(m.footprint.contains(&m.anchor));
            let loud = (want[0]..want[1]).any(|f| spec.column(f).iter().any(|&v| v > floor));
            assert!(loud, "sample {i}: footprint {want:?} is silent");
            spans.push(want);
        }
        for w in spans.windows(2) {
            assert!(w[0][1] <= w[1][0], "sample {i}: {spans:?}");
        }
        for f in 0..642usize {
            let (lo, hi) = (f * 187, f * 187 + 374); // the frame's window in padded samples
            let touched = t.clips.iter().any(|c| {
                let (a, b) = (c.start + 187, c.start + c.len + 187);
                a <= hi && lo < b
            });
            if !touched {
                assert!(
                    spec.column(f).iter().all(|&v| (v - floor).abs() < 1e-3),
                    "sample {i}, frame {f}"
                );
            }
            let inside = spans.iter().any(|s| (s[0]..s[1]).contains(&f));
            let near = spans.iter().any(|s| s[0] <= f + 2 && f < s[1] + 2);
            assert!(
                inside || near || !touched,
                "sample {i}: frame {f} hears a clip"
            );
        }
    }
}

#[test]
fn determinism_by_seed_and_index() {
    let d = domain(SpeakerSplit::Test, 1.0 / 1024.0);
    let a = d.sample(9, 4);
    assert_eq!(a, d.sample(9, 4));
    assert_ne!(a, d.sample(9, 5));
    assert_ne!(a, d.sample(10, 4));
    let batch = d.batch_arrays(9, &[3, 4, 5]);
    assert_eq!(batch.inputs.shape(), &[3, 64, 642]);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let serial = one.install(|| d.batch_arrays(9, &[3, 4, 5]));
    assert_eq!(serial, batch);
    assert_eq!(batch.tokens[1], a.tokens);
    assert_eq!(d.input_shape(), vec![64, 642]);
    assert_eq!(
        (d.positions(), d.max_tokens(), d.num_classes()),
        (642, 10, 10)
    );
}

#[test]
fn expected_motifs_and_the_papers_minimum_density() {
    let d = SpokenDigits::paper();
    assert_eq!(d.config(), &SpokenDigitsConfig::default());
    assert_eq!(d.expected_motifs(), Some(7.5));
    let paper = 7.5 / (642.0 * 10.0);
    assert!((paper - 1.1682e-3f64).abs() < 1e-7);
    let mean = (0..300).map(|i| d.trace(1, i).clips.len()).sum::<usize>() as f64 / 300.0;
    assert!((mean - 7.5).abs() < 0.3, "{mean}");
    // min_density counts the motifs of the samples 0..n of its stream over 642 x 10 positions
    let n = 40;
    let count: usize = (0..n)
        .map(|i| d.trace(MIN_DENSITY_SEED, i).clips.len())
        .sum();
    let measured = min_density(&d, 10, n);
    assert!((measured - count as f64 / n as f64 / 6420.0).abs() < 1e-15);
    assert!(
        (measured - paper).abs() < 0.15 * paper,
        "{measured} vs {paper}"
    );
}

#[test]
fn bad_configurations_name_the_field() {
    let bank = Arc::new(SpeechBank::embedded().unwrap());
    let err = |c: SpokenDigitsConfig| {
        SpokenDigits::with_bank(c, Arc::clone(&bank))
            .unwrap_err()
            .to_string()
    };
    let base = SpokenDigitsConfig::default;
    assert!(
        err(SpokenDigitsConfig {
            min_digits: 0,
            ..base()
        })
        .contains("min_digits")
    );
    assert!(
        err(SpokenDigitsConfig {
            min_digits: 6,
            max_digits: 5,
            ..base()
        })
        .contains("max_digits")
    );
    assert!(
        err(SpokenDigitsConfig {
            max_digits: 500,
            ..base()
        })
        .contains("cannot reliably hold")
    );
    // 20 clips would fit, but almost never by uniform starts
    assert!(
        err(SpokenDigitsConfig {
            max_digits: 20,
            ..base()
        })
        .contains("redrawn about")
    );
    assert!(
        err(SpokenDigitsConfig {
            test_speakers: 60,
            ..base()
        })
        .contains("test_speakers")
    );
    assert!(
        err(SpokenDigitsConfig {
            noise_scale: f64::NAN,
            ..base()
        })
        .contains("noise_scale")
    );
    let mut c = base();
    c.spectrogram.sample_rate = 16_000;
    assert!(err(c).contains("sample_rate"));
    let c: SpokenDigitsConfig = serde_json::from_str(r#"{"split": "test"}"#).unwrap();
    assert_eq!(c.split, SpeakerSplit::Test);
    let e = serde_json::from_str::<SpokenDigitsConfig>(r#"{"splitt": "test"}"#).unwrap_err();
    assert!(e.to_string().contains("splitt"));
}

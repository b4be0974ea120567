//! Trainer tests on a tiny configuration: the loss falls, the schedule lowers the density,
//! a killed-and-resumed run ends bit-identical to an uninterrupted one, corrupt checkpoints
//! are rejected with clear errors.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sparling_train::branch::branch;
use sparling_train::config::{LatePhase, Profile, RungDecay, ScheduleConfig, TrainConfig};
use sparling_train::state::{RunDir, ValidationRecord};
use sparling_train::trainer::{Outcome, Silent, Trainer};

/// A small DigitCircle (56x56, one to two digits) and a tiny model: milliseconds per step.
fn tiny() -> TrainConfig {
    let mut c = TrainConfig::preset(Profile::Quick);
    common::shrink(&mut c, 2);
    c.schedule = ScheduleConfig::Annealing {
        initial_density: 0.5,
        factor: 0.75,
        bar_decay_per_sample: 0.05,
        done_at_density: 1e-4,
        late_phase: None,
    };
    c.validate().unwrap();
    c
}

/// The history with wall times zeroed: the one field that legitimately differs between two
/// runs of the same computation.
fn without_wall_time(h: &[ValidationRecord]) -> Vec<ValidationRecord> {
    h.iter()
        .map(|r| ValidationRecord {
            wall_seconds: 0.0,
            ..r.clone()
        })
        .collect()
}

/// The index of the first validation that reduced the density; asserts that at least `after`
/// validations follow it.
fn first_cut_followed_by(h: &[ValidationRecord], after: usize) -> usize {
    let cut = h
        .iter()
        .position(|r| r.reduced)
        .expect("the run reduces the density");
    assert!(
        cut + after < h.len(),
        "fewer than {after} validations after the first cut: {h:?}"
    );
    cut
}

fn params_bits(t: &Trainer) -> Vec<(String, Vec<u32>)> {
    t.model()
        .store()
        .named_params()
        .iter()
        .map(|p| {
            (
                p.name().to_string(),
                p.get().to_vec().iter().map(|v| v.to_bits()).collect(),
            )
        })
        .collect()
}

#[test]
fn loss_falls_and_density_is_lowered() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny();
    cfg.max_samples = 1200;
    let mut t = Trainer::open(cfg, 3, RunDir::new(dir.path())).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let out = t.run(&stop, None, &mut Silent).unwrap();
    assert!(matches!(out, Outcome::Finished(_)), "{out:?}");
    let h = &t.state().history;
    assert!(h.len() >= 10);
    let first = h[0].train_loss;
    let last = h[h.len() - 1].train_loss;
    assert!(last < 0.8 * first, "loss did not fall: {first} -> {last}");
    let reductions = h.iter().filter(|r| r.reduced).count();
    assert!(
        reductions >= 1,
        "the schedule never lowered the density: {h:?}"
    );
    assert!(h.last().unwrap().density < 0.5 || reductions > 0);
    // A rung snapshot exists for every reduction, and the log has one line per validation.
    let rungs = RunDir::new(dir.path()).rung_files().unwrap();
    assert_eq!(rungs.len(), reductions);
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), h.len());
    assert!(dir.path().join("status.json").exists());
}

#[test]
fn killed_and_resumed_run_is_bit_identical() {
    // Interrupted mid-interval (5 steps), then right after a validation (8 steps, 32 samples).
    assert_resume_is_bit_identical(tiny(), |_| vec![5, 3]);
}

/// `tiny()` with a learning rate that restarts at each cut and halves every 8 samples.
fn tiny_with_rung_decay() -> TrainConfig {
    let mut c = tiny();
    c.optimizer.rung_decay = Some(RungDecay {
        half_life_samples: 8,
        floor: 0.05,
    });
    c.validate().unwrap();
    c
}

#[test]
fn killed_and_resumed_run_with_rung_decay_is_bit_identical() {
    // The rate depends on the samples since the last cut, read from the checkpoint's history:
    // interrupt three steps into the first rung after a cut, and again two steps later.
    let mut cfg = tiny_with_rung_decay();
    cfg.max_samples = 1200;
    assert_resume_is_bit_identical(cfg, |history| {
        let cut = history
            .iter()
            .find(|r| r.reduced)
            .expect("the run reduces the density");
        vec![cut.step + 3, 2]
    });
}

#[test]
fn rung_decay_changes_training_only_after_the_first_cut() {
    let stop = Arc::new(AtomicBool::new(false));
    let run = |mut cfg: TrainConfig| {
        cfg.max_samples = 1200;
        let dir = tempfile::tempdir().unwrap();
        let mut t = Trainer::open(cfg, 3, RunDir::new(dir.path())).unwrap();
        t.run(&stop, None, &mut Silent).unwrap();
        t
    };
    let plain = run(tiny());
    let decayed = run(tiny_with_rung_decay());
    let (a, b) = (&plain.state().history, &decayed.state().history);
    let first_cut = first_cut_followed_by(a, 1);
    // Identical up to the first cut (wall time aside), different after it.
    assert_eq!(
        without_wall_time(&a[..=first_cut]),
        without_wall_time(&b[..=first_cut])
    );
    assert_ne!(a[first_cut + 1].train_loss, b[first_cut + 1].train_loss);
    assert_ne!(params_bits(&plain), params_bits(&decayed));
}

/// Runs `cfg` straight through, then again in sittings of `sittings(straight history)` steps,
/// each reopened from the directory as a new process would, and the rest in a last one: the
/// two must end bit-identical.
fn assert_resume_is_bit_identical(
    cfg: TrainConfig,
    sittings: impl Fn(&[ValidationRecord]) -> Vec<u64>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let straight_dir = tempfile::tempdir().unwrap();
    let mut straight = Trainer::open(cfg.clone(), 7, RunDir::new(straight_dir.path())).unwrap();
    straight.run(&stop, None, &mut Silent).unwrap();

    let sittings = sittings(&straight.state().history);
    let dir = tempfile::tempdir().unwrap();
    for &steps in &sittings {
        let mut t = Trainer::open(cfg.clone(), 7, RunDir::new(dir.path())).unwrap();
        assert_eq!(
            t.run(&stop, Some(steps), &mut Silent).unwrap(),
            Outcome::Interrupted
        );
    }
    let mut resumed = Trainer::open(cfg, 7, RunDir::new(dir.path())).unwrap();
    assert_eq!(resumed.state().step, sittings.iter().sum::<u64>());
    resumed.run(&stop, None, &mut Silent).unwrap();

    assert_eq!(params_bits(&straight), params_bits(&resumed));
    assert_eq!(
        straight.state().history,
        resumed
            .state()
            .history
            .iter()
            .map(|r| {
                // Wall time is the one field that legitimately differs.
                let mut r = r.clone();
                r.wall_seconds = straight
                    .state()
                    .history
                    .iter()
                    .find(|s| s.step == r.step)
                    .unwrap()
                    .wall_seconds;
                r
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(
        straight.model().bottleneck().state(),
        resumed.model().bottleneck().state()
    );
}

#[test]
fn resume_rejects_another_config_or_seed() {
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut t = Trainer::open(tiny(), 1, RunDir::new(dir.path())).unwrap();
    t.run(&stop, Some(2), &mut Silent).unwrap();
    let err = Trainer::open(tiny(), 2, RunDir::new(dir.path()))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("a run with seed 1, not 2"),
        "{err}"
    );
    let mut other = tiny();
    let before = other.batch_size;
    other.batch_size = before + 4;
    let err = Trainer::open(other, 1, RunDir::new(dir.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&format!(
            "another config: batch_size {before}, not {}",
            before + 4
        )),
        "{err}"
    );
}

#[test]
fn corrupt_checkpoints_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut t = Trainer::open(tiny(), 1, RunDir::new(dir.path())).unwrap();
    t.run(&stop, Some(2), &mut Silent).unwrap();
    let path = dir.path().join("checkpoint.bin");
    let good = std::fs::read(&path).unwrap();

    // Truncated.
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let e = Trainer::open(tiny(), 1, RunDir::new(dir.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("checkpoint"), "{e}");
    // One flipped byte in the payload.
    let mut flipped = good.clone();
    let i = good.len() - 10;
    flipped[i] ^= 0x40;
    std::fs::write(&path, &flipped).unwrap();
    assert!(Trainer::open(tiny(), 1, RunDir::new(dir.path())).is_err());
    // A foreign file.
    std::fs::write(&path, b"definitely not a sparling checkpoint").unwrap();
    assert!(Trainer::open(tiny(), 1, RunDir::new(dir.path())).is_err());
    // Restored: opens again.
    std::fs::write(&path, &good).unwrap();
    assert!(Trainer::open(tiny(), 1, RunDir::new(dir.path())).is_ok());
}

#[test]
fn early_stopped_validations_leave_the_run_unchanged() {
    use sparling_train::state::{MODEL_KIND, ModelSnapshot};

    // 200 validation samples are 4 chunks, so a validation can stop after 1, 2 or 3.
    let run = |early_stop: bool| {
        let mut cfg = tiny();
        cfg.max_samples = 1200;
        cfg.validation_samples = 200;
        cfg.validation_early_stop = early_stop;
        // A bar that falls slowly enough to sit above the accuracy for a while.
        cfg.schedule = ScheduleConfig::Annealing {
            initial_density: 0.5,
            factor: 0.75,
            bar_decay_per_sample: 2e-3,
            done_at_density: 1e-4,
            late_phase: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut t = Trainer::open(cfg, 5, RunDir::new(dir.path())).unwrap();
        t.run(&Arc::new(AtomicBool::new(false)), None, &mut Silent)
            .unwrap();
        // The snapshots' bytes with the config set aside (it names the early stop).
        let rungs: Vec<(u32, Vec<u8>)> = (0..40)
            .filter(|&k| RunDir::new(dir.path()).rung(k).exists())
            .map(|k| {
                let path = RunDir::new(dir.path()).rung(k);
                let mut snap: ModelSnapshot =
                    sparling_nn::checkpoint::load(&path, MODEL_KIND).unwrap();
                snap.config = tiny();
                (
                    k,
                    sparling_nn::checkpoint::to_bytes(MODEL_KIND, &snap).unwrap(),
                )
            })
            .collect();
        (t, rungs)
    };
    let (full, full_rungs) = run(false);
    let (early, early_rungs) = run(true);
    assert_eq!(params_bits(&full), params_bits(&early));
    assert_eq!(full.state().schedule, early.state().schedule);
    assert_eq!(
        full.model().bottleneck().state(),
        early.model().bottleneck().state()
    );
    assert!(!full_rungs.is_empty());
    assert_eq!(full_rungs, early_rungs, "the per-density snapshots differ");
    let (a, b) = (&full.state().history, &early.state().history);
    assert_eq!(a.len(), b.len());
    let mut stopped = 0;
    for (f, e) in a.iter().zip(b) {
        assert_eq!(
            (f.step, f.samples, f.train_loss, f.density, f.bar, f.reduced),
            (e.step, e.samples, e.train_loss, e.density, e.bar, e.reduced)
        );
        assert_eq!(f.validated, 200);
        if e.validated < 200 {
            stopped += 1;
            assert!(!e.reduced);
            assert!(e.validated % 50 == 0 && e.validated > 0);
        } else {
            assert_eq!(f.accuracy, e.accuracy);
        }
    }
    assert!(stopped > 0, "no validation stopped early: {b:?}");
}

/// `tiny()` with a late phase from the first cut on (0.375 < 0.4): a slower bar, half the step.
fn tiny_with_late_phase() -> TrainConfig {
    let mut c = tiny();
    c.max_samples = 1200;
    if let ScheduleConfig::Annealing { late_phase, .. } = &mut c.schedule {
        *late_phase = Some(LatePhase {
            below_density: 0.4,
            bar_decay_per_sample: 1e-3,
            lr_scale: 0.5,
            hold_limit_samples: None,
        });
    }
    c.validate().unwrap();
    c
}

#[test]
fn a_branch_before_the_late_phase_ends_bit_identical_to_a_fresh_run() {
    let stop = Arc::new(AtomicBool::new(false));
    let late = tiny_with_late_phase();
    let mut plain = late.clone();
    if let ScheduleConfig::Annealing { late_phase, .. } = &mut plain.schedule {
        *late_phase = None;
    }
    let fresh_dir = tempfile::tempdir().unwrap();
    let mut fresh = Trainer::open(late.clone(), 5, RunDir::new(fresh_dir.path())).unwrap();
    fresh.run(&stop, None, &mut Silent).unwrap();
    let h = &fresh.state().history;
    let cut = first_cut_followed_by(h, 2);

    // The source: the same run without the late phase, stopped right after its first cut.
    let source_dir = tempfile::tempdir().unwrap();
    let source = RunDir::new(source_dir.path());
    let mut t = Trainer::open(plain.clone(), 5, source.clone()).unwrap();
    t.run(&stop, Some(h[cut].step), &mut Silent).unwrap();
    assert_eq!(t.state().history.len(), cut + 1);
    drop(t);

    let branch_dir = tempfile::tempdir().unwrap();
    let out = RunDir::new(branch_dir.path().join("b"));
    let b = branch(&source.checkpoint(), &source, &late, &out).unwrap();
    assert_eq!(
        (b.seed, b.samples, b.rungs.clone()),
        (5, h[cut].samples, vec![0])
    );
    // Branching twice into the same directory is refused.
    let again = branch(&source.checkpoint(), &source, &late, &out).unwrap_err();
    assert!(again.to_string().contains("already holds a run"), "{again}");
    let mut branched = Trainer::open(late.clone(), 5, out.clone()).unwrap();
    branched.run(&stop, None, &mut Silent).unwrap();
    assert_eq!(params_bits(&fresh), params_bits(&branched));
    assert_eq!(
        without_wall_time(&fresh.state().history),
        without_wall_time(&branched.state().history)
    );
    // The late phase made a difference: the plain run continues otherwise.
    let mut cont = Trainer::open(plain.clone(), 5, source.clone()).unwrap();
    cont.run(&stop, None, &mut Silent).unwrap();
    assert_ne!(params_bits(&cont), params_bits(&fresh));

    // A branch is refused into a fresh directory too, with the reason.
    let refused = |src: &RunDir, cfg: &TrainConfig, name: &str| {
        branch(
            &src.checkpoint(),
            src,
            cfg,
            &RunDir::new(branch_dir.path().join(name)),
        )
        .unwrap_err()
        .to_string()
    };
    // The source has now finished; a checkpoint that trained inside the late phase cannot be
    // branched exactly.
    let e = refused(&source, &late, "c");
    assert!(e.contains("finished run"), "{e}");
    let mid_dir = tempfile::tempdir().unwrap();
    let mid = RunDir::new(mid_dir.path());
    let mut t = Trainer::open(plain.clone(), 5, mid.clone()).unwrap();
    t.run(&stop, Some(h[cut].step + 2), &mut Silent).unwrap();
    drop(t);
    let e = refused(&mid, &late, "d");
    assert!(e.contains("late phases differ"), "{e}");
    // Nor can a config that differs elsewhere.
    let mut other = late.clone();
    other.optimizer.lr *= 2.0;
    let e = refused(&mid, &other, "e");
    assert!(e.contains("more than schedule.late_phase"), "{e}");
}

#[test]
fn a_later_slice_of_the_test_stream_is_scored_on_its_own_samples() {
    use sparling_domains::DigitCircle;
    use sparling_train::eval::{evaluate, evaluate_range};
    use sparling_train::model::SparlingModel;
    use sparling_train::state::load_train_state;

    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let mut t = Trainer::open(tiny(), 2, run.clone()).unwrap();
    t.run(&Arc::new(AtomicBool::new(false)), None, &mut Silent)
        .unwrap();
    drop(t);
    let snap = load_train_state(&run.checkpoint()).unwrap().model;
    let model = SparlingModel::from_snapshot(&snap).unwrap();
    let domain = DigitCircle::new(snap.config.digit_circle().unwrap().clone()).unwrap();
    let n = 12;
    let whole = evaluate(&model, &domain, 2 * n, &snap).unwrap();
    let head = evaluate_range(&model, &domain, 0, n, &snap).unwrap();
    let tail = evaluate_range(&model, &domain, n as u64, n, &snap).unwrap();
    assert_eq!((head.first_sample, tail.first_sample), (0, n as u64));
    // Per-sample means over the two halves make up the whole.
    for (w, h, t) in [
        (whole.e2ee, head.e2ee, tail.e2ee),
        (whole.exact_match, head.exact_match, tail.exact_match),
    ] {
        assert!((w - (h + t) / 2.0).abs() < 1e-12, "{w} vs {h} and {t}");
    }
    // The halves are different samples: the motif counts add up, and do not repeat.
    let motifs = |r: &sparling_train::eval::EvalResult| r.confusion.to_array().sum();
    assert_eq!(motifs(&whole), motifs(&head) + motifs(&tail));
    assert_ne!(head.confusion.to_array(), tail.confusion.to_array());
    // `first_sample` is left out of the JSON when zero, so older eval files read unchanged.
    let json = serde_json::to_string(&head).unwrap();
    assert!(!json.contains("first_sample"), "{json}");
    let back: sparling_train::eval::EvalResult =
        serde_json::from_str(&serde_json::to_string(&tail).unwrap()).unwrap();
    assert_eq!(back.first_sample, n as u64);
    // A slice past the end of the index space is an error, not a wrap-around.
    let e = evaluate_range(&model, &domain, u64::MAX, n, &snap).unwrap_err();
    assert!(e.to_string().contains("overflow"), "{e}");
}

#[test]
fn a_finished_run_continued_below_writes_the_rungs_below_and_eval_and_theorem_score_them() {
    use sparling_train::branch::continue_below;
    use sparling_train::eval::{OperatingPoint, RunEvalOptions, evaluate_run, rung_density};

    // One digit per sample, so that a tiny model soon decodes some validation samples and
    // the bar (falling to 0 within one validation) is cleared at most validations; a ladder
    // starting 1.5 rungs above the minimum density, so the operating rung is 1; a run that
    // stops on reaching rung 2, as a run stops below its operating point.
    let mut cfg = tiny();
    common::shrink(&mut cfg, 1);
    cfg.max_samples = 4000;
    let domain = cfg.build_domain().unwrap();
    let dmin = OperatingPoint::of(&cfg, domain.as_ref()).min_density;
    cfg.schedule = ScheduleConfig::Annealing {
        initial_density: dmin / 0.75f64.powf(1.5),
        factor: 0.75,
        bar_decay_per_sample: 0.05,
        done_at_density: dmin,
        late_phase: None,
    };
    cfg.validate().unwrap();
    let point = OperatingPoint::of(&cfg, domain.as_ref());
    assert_eq!(point.rung, 1);

    let stop = Arc::new(AtomicBool::new(false));
    let dir = tempfile::tempdir().unwrap();
    let source = RunDir::new(dir.path().join("run"));
    let mut t = Trainer::open(cfg.clone(), 4, source.clone()).unwrap();
    let out = t.run(&stop, None, &mut Silent).unwrap();
    assert!(
        matches!(&out, Outcome::Finished(why) if why.contains("below the target")),
        "{out:?}"
    );
    let ks = |r: &RunDir| -> Vec<u32> { r.rung_files().unwrap().iter().map(|p| p.0).collect() };
    assert_eq!(ks(&source), vec![0, 1]);
    drop(t);

    // Two rungs below, from the finished checkpoint.
    let below = continue_below(&cfg, 2, None).unwrap();
    let cont = RunDir::new(dir.path().join("below"));
    let b = branch(&source.checkpoint(), &source, &below, &cont).unwrap();
    assert_eq!(b.rungs, vec![0, 1]);
    let mut t = Trainer::open(below.clone(), 4, cont.clone()).unwrap();
    assert_eq!(
        t.state().model.samples,
        b.samples,
        "continued, not restarted"
    );
    let out = t.run(&stop, None, &mut Silent).unwrap();
    assert!(
        matches!(&out, Outcome::Finished(why) if why.contains("below the target")),
        "{out:?}"
    );
    assert_eq!(ks(&cont), vec![0, 1, 2, 3]);
    for (k, path) in cont.rung_files().unwrap() {
        let snap: sparling_train::state::ModelSnapshot =
            sparling_train::load_checkpoint(&path, sparling_train::state::MODEL_KIND).unwrap();
        let ratio = snap.density / rung_density(&cfg, k);
        assert!((ratio - 1.0).abs() < 1e-12, "rung {k}: {}", snap.density);
    }
    // Continuing the source again needs a lower stop: the same config is refused.
    let e = branch(
        &source.checkpoint(),
        &source,
        &cfg,
        &RunDir::new(dir.path().join("x")),
    )
    .unwrap_err();
    assert!(e.to_string().contains("would be finished"), "{e}");

    // eval: the curve goes on below the operating rung, and says so.
    let opts = RunEvalOptions {
        samples: 4,
        curve_samples: 4,
        overlay_samples: 1,
        ..RunEvalOptions::default()
    };
    let eval = evaluate_run(&cont, &dir.path().join("eval"), &opts).unwrap();
    assert_eq!(eval.headline.rung, Some(1));
    let curve: Vec<(Option<u32>, bool)> = eval
        .curve
        .iter()
        .map(|r| (r.rung, r.below_min_density))
        .collect();
    assert_eq!(
        curve,
        vec![
            (Some(0), false),
            (Some(1), false),
            (Some(2), true),
            (Some(3), true)
        ]
    );
    let json = std::fs::read_to_string(dir.path().join("eval/eval.json")).unwrap();
    assert_eq!(json.matches("\"below_min_density\": true").count(), 2);

    // The theorem's quantities at every rung (the same run, to keep the test's compute small).
    use sparling_train::analysis::theorem::{TheoremOptions, analyze_theorem};
    let opts = TheoremOptions {
        samples: 6,
        calibration: 3,
    };
    let out = dir.path().join("analysis");
    let th = analyze_theorem(&cont, &out, &opts, &mut ()).unwrap();
    let rungs: Vec<(u32, bool)> = th
        .rungs
        .iter()
        .map(|r| (r.rung, r.below_min_density))
        .collect();
    assert_eq!(rungs, vec![(0, false), (1, false), (2, true), (3, true)]);
    assert_eq!((th.operating_rung, th.calibration_first), (1, 6));
    for r in &th.rungs {
        assert!((0.0..=1.0).contains(&r.motif_error), "{r:?}");
        assert!(
            (r.mean_motifs - 1.0).abs() < 1e-12,
            "one digit per sample: {r:?}"
        );
    }
    let op = th.operating.as_ref().unwrap();
    assert_eq!(op.ratio, (op.e2ee > 0.0).then(|| op.motif_error / op.e2ee));
    let a = &th.assumptions;
    assert_eq!(
        a.non_overlapping_cells.holds,
        Some(true),
        "one motif per sample"
    );
    assert_eq!(a.alpha_necessity.holds, Some(true));
    assert_eq!(a.alpha_replace.unwrap().trials, 6);
    assert!(out.join("theorem.json").exists() && out.join("theorem.png").exists());
    let e = analyze_theorem(&cont, &out, &TheoremOptions { samples: 0, ..opts }, &mut ());
    assert!(e.unwrap_err().to_string().contains("no samples"));
}

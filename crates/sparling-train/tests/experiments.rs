//! Every experiment of the paper's table trains end to end on a tiny configuration, through
//! `Trainer` and `evaluate_run`, and shows what makes it that experiment.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sparling_train::bottleneck::BottleneckState;
use sparling_train::config::{
    BottleneckConfig, Experiment, Profile, ScheduleConfig, ThresholdKind, TrainConfig,
};
use sparling_train::eval::{RunEvalOptions, RunEvaluation, evaluate_run};
use sparling_train::model::SparlingModel;
use sparling_train::state::{RunDir, TrainState, load_train_state};
use sparling_train::trainer::{Outcome, Silent, Trainer};

/// The experiment's config, shrunk: a 56x56 DigitCircle with one digit, a tiny model, 160
/// training samples.
fn tiny(experiment: &Experiment) -> TrainConfig {
    let mut c = TrainConfig::experiment(Profile::Quick, experiment).unwrap();
    // One digit: exact matches come early, so bars are cleared within a few hundred samples.
    common::shrink(&mut c, 1);
    // Bars that fall fast enough to be cleared within the budget.
    match &mut c.schedule {
        ScheduleConfig::Annealing {
            bar_decay_per_sample,
            late_phase,
            ..
        } => {
            *bar_decay_per_sample = 0.05;
            *late_phase = None;
        }
        ScheduleConfig::FirstClear {
            bar_decay_per_sample,
            ..
        } => *bar_decay_per_sample = 0.01,
        ScheduleConfig::Constant { .. } => {}
    }
    c.validate().unwrap();
    c
}

/// Trains `config` into `dir` to the end, evaluates the run; returns the final state and the
/// evaluation.
fn train_and_eval(config: TrainConfig, dir: &Path) -> (TrainState, RunEvaluation) {
    let run = RunDir::new(dir);
    let mut t = Trainer::open(config, 1, run.clone()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let outcome = t.run(&stop, None, &mut Silent).unwrap();
    assert!(matches!(outcome, Outcome::Finished(_)), "{outcome:?}");
    let opts = RunEvalOptions {
        samples: 16,
        curve_samples: 16,
        curve_span: 10.5,
        overlay_samples: 2,
        dump_maps: None,
    };
    let eval = evaluate_run(&run, &dir.join("eval"), &opts).unwrap();
    assert!((0.0..=1.0).contains(&eval.headline.e2ee));
    (load_train_state(&run.checkpoint()).unwrap(), eval)
}

fn run(experiment: &Experiment) -> (TrainState, RunEvaluation, tempfile::TempDir) {
    run_for(experiment, 160)
}

/// [`run`] with a budget of `samples`.
fn run_for(
    experiment: &Experiment,
    samples: u64,
) -> (TrainState, RunEvaluation, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny(experiment);
    config.max_samples = samples;
    let (state, eval) = train_and_eval(config, dir.path());
    (state, eval, dir)
}

fn thresholds(state: &TrainState) -> usize {
    match &state.model.bottleneck {
        BottleneckState::Sparse(s) => s.thresholds.len(),
        other => panic!("not a Sparse bottleneck: {other:?}"),
    }
}

fn has_bottleneck_norm(state: &TrainState) -> bool {
    let p = &state.model.params;
    p.params
        .iter()
        .chain(&p.buffers)
        .any(|a| a.name.starts_with("bottleneck.norm"))
}

#[test]
fn sparling_and_its_ablations() {
    let (s, eval, _d) = run_for(&Experiment::Sparling, 800);
    assert_eq!(thresholds(&s), 10);
    assert!(has_bottleneck_norm(&s));
    assert!(s.history.iter().any(|r| r.reduced), "Sparling anneals");
    assert!(eval.headline.observed_density < 0.5);

    let (s, ..) = run(&Experiment::St);
    assert_eq!(thresholds(&s), 1, "ST has one threshold");
    assert!(has_bottleneck_norm(&s));

    let (s, ..) = run(&Experiment::MtNoBn);
    assert_eq!(thresholds(&s), 10);
    assert!(!has_bottleneck_norm(&s), "no BatchNorm in front");

    let (s, ..) = run(&Experiment::StNoBn);
    assert_eq!(thresholds(&s), 1);
    assert!(!has_bottleneck_norm(&s));
}

#[test]
fn accumulated_thresholds_behind_a_non_affine_batch_norm() {
    // The paper's choice for its formula and audio domains.
    let mut c = tiny(&Experiment::Sparling);
    c.bottleneck = BottleneckConfig::Sparse {
        thresholds: ThresholdKind::Accumulated,
        batch_norm: true,
        affine: false,
        momentum: 0.1,
    };
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = train_and_eval(c, dir.path());
    let p = &s.model.params;
    assert!(
        !p.params
            .iter()
            .any(|a| a.name.starts_with("bottleneck.norm"))
    );
    assert!(
        p.buffers
            .iter()
            .any(|a| a.name.starts_with("bottleneck.norm"))
    );
    match &s.model.bottleneck {
        BottleneckState::Sparse(st) => {
            assert_eq!(st.thresholds.len(), 10);
            assert!(
                st.accumulator.is_some(),
                "thresholds from accumulated batches"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn held_densities_never_move() {
    let op = sparling_train::experiment::operating_density(Profile::Quick);
    for (experiment, density) in [
        (Experiment::NoAnnealing, op),
        (Experiment::NoAnnealingPenultimate, op / 0.75),
        (Experiment::NonSparse, 0.5),
    ] {
        let (s, eval, _d) = run(&experiment);
        assert!(!s.history.is_empty());
        assert!(
            s.history.iter().all(|r| r.density == density && !r.reduced),
            "{experiment:?}"
        );
        assert!(s.finished.as_deref().unwrap().contains("budget"));
        assert_eq!(eval.headline.density, density);
        if experiment == Experiment::NonSparse {
            let d = eval.headline.observed_density;
            assert!((0.3..0.7).contains(&d), "non-sparse density {d}");
        }
    }
}

#[test]
fn l1_stops_at_the_first_clear_of_the_bar() {
    let (s, _eval, _d) = run_for(&Experiment::L1 { lambda: 2.0 }, 800);
    let clears: Vec<usize> = (0..s.history.len())
        .filter(|&i| s.history[i].reduced)
        .collect();
    assert_eq!(clears, vec![s.history.len() - 1], "{:?}", s.history);
    assert!(s.finished.as_deref().unwrap().contains("first time"));
    assert!(s.model.samples < 800, "stopped before the budget");
}

#[test]
fn kl_and_noise_baselines() {
    let (s, _eval, _d) = run(&Experiment::Kl { lambda: 0.5 });
    assert!(matches!(s.model.bottleneck, BottleneckState::Stateless));
    // h sees relu(sigmoid(.) - 0.5): in [0, 0.5), and the penalty is part of the loss.
    let model = SparlingModel::from_snapshot(&s.model).unwrap();
    let domain = s.model.config.build_domain().unwrap();
    let batch = domain.batch_arrays(5, &[0, 1, 2, 3]);
    let x = sparling_tensor::Tensor::new(batch.inputs);
    let out = model.motifs(&x, false).unwrap();
    assert!(out.map.to_vec().iter().all(|&v| (0.0..0.5).contains(&v)));
    let aux = out.aux.expect("a KL penalty").item();
    assert!(aux.is_finite() && aux > 0.0, "{aux}");

    let (s, eval, _d) = run(&Experiment::Noise);
    match s.model.bottleneck {
        BottleneckState::Noise { density, word_pos } => {
            assert_eq!(
                density,
                sparling_train::experiment::operating_density(Profile::Quick)
            );
            assert!(word_pos > 0, "training drew noise");
        }
        other => panic!("{other:?}"),
    }
    // Noise is added everywhere: the map is dense.
    assert!(eval.headline.observed_density > 0.99);
}

#[test]
fn retrained_keeps_g_and_trains_the_rest() {
    let source = tempfile::tempdir().unwrap();
    let (src, ..) = train_and_eval(tiny(&Experiment::Sparling), source.path());
    let from = RunDir::new(source.path()).checkpoint();
    let (s, eval, _d) = run(&Experiment::Retrained { from: from.clone() });
    assert!(matches!(s.model.bottleneck, BottleneckState::Stateless));
    assert!(!has_bottleneck_norm(&s));
    let (a, b) = (&src.model.params, &s.model.params);
    let mut g_entries = 0;
    for x in a.params.iter().chain(&a.buffers) {
        if x.name.starts_with("g.") {
            let y = b
                .params
                .iter()
                .chain(&b.buffers)
                .find(|y| y.name == x.name)
                .unwrap();
            assert_eq!(x.data, y.data, "{} moved", x.name);
            g_entries += 1;
        }
    }
    assert!(g_entries > 0);
    // h trained: its parameters left their initialisation (which the source shares).
    let fresh = SparlingModel::new(&tiny(&Experiment::Retrained { from }), 1)
        .unwrap()
        .store()
        .export();
    let moved = fresh
        .params
        .iter()
        .filter(|p| p.name.starts_with("h."))
        .any(|p| b.params.iter().find(|q| q.name == p.name).unwrap().data != p.data);
    assert!(moved, "h did not train");
    assert_eq!(eval.headline.density, 1.0);
}

#[test]
fn single_digit_and_a_1d_domain_train_and_evaluate_through_the_same_path() {
    for name in ["single-digit", "single-digit-columns"] {
        let mut c = tiny(&Experiment::Sparling);
        c.domain = sparling_domains::DomainSpec::from_name(name).unwrap();
        c.model.pool = 4;
        c.max_samples = 320;
        let dir = tempfile::tempdir().unwrap();
        let (s, eval) = train_and_eval(c, dir.path());
        let model = SparlingModel::from_snapshot(&s.model).unwrap();
        assert_eq!(
            model.spatial_dims(),
            if name == "single-digit" { 2 } else { 1 }
        );
        let (first, last) = (&s.history[0], s.history.last().unwrap());
        assert!(
            last.train_loss < first.train_loss,
            "{name}: loss {} -> {}",
            first.train_loss,
            last.train_loss
        );
        assert_eq!(eval.headline.samples, 16);
        assert_eq!(eval.headline.confusion.channels(), 10);
        assert!(dir.path().join("eval/motifs.png").exists(), "{name}");
    }
}

#[test]
fn the_spoken_digit_preset_trains_and_is_scored_on_the_held_out_speakers() {
    // The preset's bottleneck (accumulated thresholds, non-affine BatchNorm) and 1-D g, shrunk.
    let c = shrunk(TrainConfig::spoken_digits());
    let dir = tempfile::tempdir().unwrap();
    let (s, eval) = train_and_eval(c.clone(), dir.path());
    let model = SparlingModel::from_snapshot(&s.model).unwrap();
    assert_eq!(model.spatial_dims(), 1);
    assert_eq!(s.model.samples, 32);
    let (first, last) = (&s.history[0], s.history.last().unwrap());
    assert!(last.train_loss.is_finite() && first.train_loss.is_finite());
    // Scored on the test stream of the held-out voices: the same numbers as scoring the
    // test-split domain directly, and not those of the training voices.
    let test = c.build_test_domain().unwrap();
    let train = c.build_domain().unwrap();
    let on_test = sparling_train::eval::evaluate(&model, test.as_ref(), 16, &s.model).unwrap();
    let on_train = sparling_train::eval::evaluate(&model, train.as_ref(), 16, &s.model).unwrap();
    assert_eq!(eval.headline.samples, 16);
    assert_eq!(eval.headline.confusion, on_test.confusion);
    assert_ne!(on_test.confusion, on_train.confusion);
    assert!(dir.path().join("eval/motifs.png").exists());
}

/// A domain preset's model and budget shrunk to a run of seconds (its domain and bottleneck
/// kept).
fn shrunk(mut c: TrainConfig) -> TrainConfig {
    c.model.g_width = 4;
    c.model.g_blocks = 1;
    c.model.d_model = 8;
    c.model.heads = 2;
    c.model.ff = 16;
    c.model.encoder_layers = 1;
    c.model.decoder_layers = 1;
    c.batch_size = 4;
    c.validation_every = 16;
    c.validation_samples = 4;
    c.test_samples = 4;
    c.max_samples = 32;
    c.optimizer.lr = 2e-3;
    c.optimizer.warmup_steps = 2;
    c
}

#[test]
fn the_formula_preset_trains_and_names_its_classes_by_symbol() {
    let c = shrunk(TrainConfig::formula().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (s, eval) = train_and_eval(c, dir.path());
    assert_eq!(s.model.samples, 32);
    assert_eq!(eval.headline.confusion.channels(), 32);
    assert_eq!(eval.headline.confusion.classes(), 20);
    assert_eq!(eval.headline.confusion.class_label(19), "bar");
    assert!(dir.path().join("eval/motifs.png").exists());
}

#[test]
fn the_direct_baseline_trains_g_alone_on_single_digits_and_is_scored_by_direct_evaluation() {
    use sparling_train::analysis::direct::analyze_direct;
    use sparling_train::config::Objective;
    let preset = TrainConfig::experiment(Profile::Default, &Experiment::Direct).unwrap();
    assert_eq!(preset.domain.name(), "single-digit");
    assert_eq!(preset.objective, Objective::MotifClasses);
    assert_eq!(preset.bottleneck, BottleneckConfig::Identity);
    assert_eq!(preset.batch_size, 200);
    // The preset shrunk: a tiny g, 960 samples.
    let mut c = TrainConfig::experiment(Profile::Quick, &Experiment::Direct).unwrap();
    c.model.g_width = 4;
    c.model.g_blocks = 1;
    (c.model.d_model, c.model.heads, c.model.ff) = (16, 2, 32);
    (c.model.encoder_layers, c.model.decoder_layers) = (1, 1);
    c.batch_size = 16;
    c.max_samples = 960;
    c.validation_every = 320;
    c.validation_samples = 64;
    c.optimizer.lr = 3e-3;
    c.optimizer.warmup_steps = 5;
    c.validate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let mut t = Trainer::open(c.clone(), 1, run.clone()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    assert!(matches!(
        t.run(&stop, None, &mut Silent).unwrap(),
        Outcome::Finished(_)
    ));
    let s = load_train_state(&run.checkpoint()).unwrap();
    let (first, last) = (&s.history[0], s.history.last().unwrap());
    assert!(last.train_loss < first.train_loss, "{first:?} -> {last:?}");
    assert_eq!(last.validated, 64);
    // h never trains: it is exactly at its initialisation.
    let fresh = SparlingModel::new(&c, 1).unwrap().store().export();
    for p in fresh.params.iter().filter(|p| p.name.starts_with("h.")) {
        let q = s
            .model
            .params
            .params
            .iter()
            .find(|q| q.name == p.name)
            .unwrap();
        assert_eq!(p.data, q.data, "{} moved", p.name);
    }
    // The end-to-end evaluation refuses (h is untrained); direct evaluation scores it, and the
    // validation's argmax accuracy is what it measures, on other samples.
    let err = evaluate_run(&run, &dir.path().join("eval"), &RunEvalOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("sparling analyze direct"), "{err}");
    let direct = analyze_direct(&run, &dir.path().join("analysis"), 200, &mut ()).unwrap();
    assert_eq!(direct.samples, 200);
    assert!(direct.error < 0.8, "direct error {}", direct.error);
    assert!(dir.path().join("analysis/direct.png").exists());
}

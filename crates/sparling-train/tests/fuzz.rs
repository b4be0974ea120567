//! Fuzzed loaders: valid checkpoints, configs, `samples.jsonl` and `score-motifs` input,
//! mutated at random (truncated, bits flipped, bytes set, ranges spliced and duplicated, length
//! prefixes and numbers enlarged, bytes inserted), must load cleanly (`Ok` when the mutation
//! stays valid) or fail with an `Err`: never a panic, an abort, or one allocation larger than
//! the input justifies (measured by a counting allocator: at most [`ALLOC_FACTOR`] times the
//! input plus [`ALLOC_SLACK`]).
//!
//! Cases per property: 64 (96 for the cheap text loaders), or `PROPTEST_CASES`. The cases are
//! the same on every run (a fixed seed); `SPARLING_FUZZ_SEED=<u64>` draws others. A long
//! campaign (docs/reliability.md):
//! `PROPTEST_CASES=20000 SPARLING_FUZZ_SEED=1 cargo test -p sparling-train --test fuzz`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use sparling_domains::record::{SampleRecord, parse_jsonl};
use sparling_domains::{DigitCircle, Domain};
use sparling_nn::checkpoint;
use sparling_train::config::{Profile, TrainConfig};
use sparling_train::state::{RunDir, TRAIN_KIND, TrainState};
use sparling_train::trainer::{Silent, Trainer};

// ---- the largest single allocation, per thread --------------------------------------------

/// Records the largest allocation request of the current thread while `TRACK` is set.
struct Counting;

thread_local! {
    static TRACK: Cell<bool> = const { Cell::new(false) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = TRACK.try_with(|t| {
        if t.get() {
            let _ = PEAK.try_with(|p| p.set(p.get().max(size)));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping touches
// only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// An allocation may be this many times the input...
const ALLOC_FACTOR: usize = 16;
/// ...plus this much (serde preallocates at most 1 MiB for a sequence of unknown length).
const ALLOC_SLACK: usize = 2 << 20;

/// Runs `f` and returns its result with the largest single allocation it made.
fn peak_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    PEAK.with(|p| p.set(0));
    TRACK.with(|t| t.set(true));
    let r = f();
    TRACK.with(|t| t.set(false));
    (r, PEAK.with(|p| p.get()))
}

fn check_allocation(input_len: usize, peak: usize) -> Result<(), TestCaseError> {
    let bound = input_len * ALLOC_FACTOR + ALLOC_SLACK;
    prop_assert!(
        peak <= bound,
        "one allocation of {peak} bytes for an input of {input_len} bytes (bound {bound})"
    );
    Ok(())
}

// ---- mutations ------------------------------------------------------------------------------

/// One random change to a byte string. Positions are fractions of the current length (in
/// 1/65536), so that a strategy does not depend on the input.
#[derive(Clone, Debug)]
enum Mutation {
    Truncate(u16),
    Flip(u16, u8),
    Set(u16, u8),
    /// Copies `len` bytes from one place over another.
    Splice(u16, u16, u16),
    /// Inserts a copy of `len` bytes right after them.
    Duplicate(u16, u16),
    /// Overwrites 1, 2, 4 or 8 bytes with a large little-endian number.
    Enlarge(u16, u8, u64),
    /// Replaces one byte with a 9-byte bincode varint (`253` then a `u64`).
    EnlargeVarint(u16, u64),
    /// Appends digits to the number nearest the position (text inputs).
    EnlargeNumber(u16, u8),
    Insert(u16, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let big = prop_oneof![
        Just(u64::MAX),
        Just(u32::MAX as u64),
        Just(1u64 << 30),
        Just(1u64 << 40),
        any::<u64>(),
    ];
    prop_oneof![
        any::<u16>().prop_map(Mutation::Truncate),
        (any::<u16>(), 0u8..8).prop_map(|(p, b)| Mutation::Flip(p, b)),
        (any::<u16>(), any::<u8>()).prop_map(|(p, v)| Mutation::Set(p, v)),
        (any::<u16>(), any::<u16>(), 1u16..512).prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
        (any::<u16>(), 1u16..512).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
        (
            any::<u16>(),
            prop_oneof![Just(1u8), Just(2), Just(4), Just(8)],
            big.clone()
        )
            .prop_map(|(p, w, v)| Mutation::Enlarge(p, w, v)),
        (any::<u16>(), big).prop_map(|(p, v)| Mutation::EnlargeVarint(p, v)),
        (any::<u16>(), 1u8..24).prop_map(|(p, n)| Mutation::EnlargeNumber(p, n)),
        (any::<u16>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
    ]
}

fn at(frac: u16, len: usize) -> usize {
    (frac as usize * len) >> 16
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match *m {
        Mutation::Truncate(p) => bytes.truncate(at(p, len)),
        _ if len == 0 => {}
        Mutation::Flip(p, bit) => bytes[at(p, len)] ^= 1 << bit,
        Mutation::Set(p, v) => bytes[at(p, len)] = v,
        Mutation::Splice(from, to, n) => {
            let (from, to) = (at(from, len), at(to, len));
            let n = (n as usize).min(len - from).min(len - to);
            let chunk = bytes[from..from + n].to_vec();
            bytes[to..to + n].copy_from_slice(&chunk);
        }
        Mutation::Duplicate(p, n) => {
            let p = at(p, len);
            let n = (n as usize).min(len - p);
            let chunk = bytes[p..p + n].to_vec();
            bytes.splice(p + n..p + n, chunk);
        }
        Mutation::Enlarge(p, width, v) => {
            let p = at(p, len);
            let w = (width as usize).min(len - p);
            bytes[p..p + w].copy_from_slice(&v.to_le_bytes()[..w]);
        }
        Mutation::EnlargeVarint(p, v) => {
            let p = at(p, len);
            let mut varint = vec![253u8];
            varint.extend_from_slice(&v.to_le_bytes());
            bytes.splice(p..p + 1, varint);
        }
        Mutation::EnlargeNumber(p, n) => {
            let p = at(p, len);
            if let Some(d) = (p..len).find(|&i| bytes[i].is_ascii_digit()) {
                bytes.splice(d + 1..d + 1, std::iter::repeat_n(b'9', n as usize));
            }
        }
        Mutation::Insert(p, ref b) => {
            let p = at(p, len);
            bytes.splice(p..p, b.iter().copied());
        }
    }
}

fn mutated(original: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = original.to_vec();
    for m in mutations {
        apply(&mut b, m);
    }
    b
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..5)
}

/// Runs `test` on `cases` mutation lists (or `PROPTEST_CASES`), from a fixed seed (or
/// `SPARLING_FUZZ_SEED`).
fn fuzz(name: &str, cases: u32, test: impl Fn(Vec<Mutation>) -> Result<(), TestCaseError>) {
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    let seed: u64 = std::env::var("SPARLING_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    seed_bytes[8..12].copy_from_slice(b"fuzz");
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let cases = config.cases;
    let mut runner = TestRunner::new_with_rng(config, rng);
    if let Err(e) = runner.run(&mutations(), test) {
        panic!("{name}: {e}");
    }
    eprintln!("{name}: {cases} cases passed (seed {seed})");
}

// ---- the inputs ------------------------------------------------------------------------------

/// A real training checkpoint (two steps of a tiny quick-profile run).
fn checkpoint_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mut cfg = TrainConfig::preset(Profile::Quick);
        cfg.validation_samples = 4;
        let dir = tempfile::tempdir().unwrap();
        let mut t = Trainer::open(cfg, 1, RunDir::new(dir.path())).unwrap();
        t.run(
            &std::sync::Arc::new(AtomicBool::new(false)),
            Some(2),
            &mut Silent,
        )
        .unwrap();
        std::fs::read(RunDir::new(dir.path()).checkpoint()).unwrap()
    })
}

/// The payload of [`checkpoint_bytes`] (after the header).
fn checkpoint_payload() -> &'static [u8] {
    let bytes = checkpoint_bytes();
    let header = 8 + 4 + 4 + TRAIN_KIND.len() + 8 + 4;
    &bytes[header..]
}

fn load_checkpoint(bytes: &[u8]) -> Result<TrainState, sparling_nn::Error> {
    checkpoint::from_bytes::<TrainState>(bytes, TRAIN_KIND, Path::new("fuzz.bin"))
}

fn config_text() -> String {
    serde_json::to_string_pretty(&TrainConfig::preset(Profile::Quick)).unwrap()
}

fn samples_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let d = DigitCircle::paper();
        (0..2)
            .map(|i| {
                SampleRecord::from_sample(5, i, &d.sample(5, i))
                    .unwrap()
                    .to_json_line()
                    + "\n"
            })
            .collect()
    })
}

const MAPS: &str = r#"{"shape": [3, 8, 8], "active": [[2, 0, 0, 0.9], [1, 1, 1, 0.4], [0, 7, 7, 1.0]], "motifs": [{"class": "7", "rows": [0, 2], "cols": [0, 2]}, {"class": "3", "rows": [6, 8], "cols": [5, 8]}]}
{"shape": [3, 8, 8], "active": [[0, 6, 6, 0.5]], "motifs": [{"class": "3", "rows": [5, 8], "cols": [5, 8]}], "id": "x"}
{"shape": [3, 8], "active": [[0, 2, 0.5]], "motifs": [{"class": 9, "span": [1, 3]}]}
"#;

// ---- the properties --------------------------------------------------------------------------

#[test]
fn fuzz_the_fixtures_load() {
    let state = load_checkpoint(checkpoint_bytes()).unwrap();
    assert_eq!(state.step, 2);
    TrainConfig::from_json(&config_text()).unwrap();
    let recs = parse_jsonl(samples_text().as_bytes()).unwrap();
    assert_eq!(recs.len(), 2);
    recs[0].to_sample().unwrap();
    let s = sparling_metrics::score_jsonl(MAPS.as_bytes(), Default::default());
    // The 1-D line differs in channels' layout but not in count; the fixture scores.
    assert_eq!(s.unwrap().samples, 3);
}

#[test]
fn fuzz_checkpoint_file_mutations_are_refused() {
    let original = checkpoint_bytes();
    fuzz("checkpoint file", 64, |m| {
        let b = mutated(original, &m);
        let (r, peak) = peak_allocation(|| load_checkpoint(&b));
        check_allocation(b.len(), peak)?;
        // A changed file passes only if the change left it as it was.
        prop_assert!(r.is_err() || b == original, "{m:?} loaded");
        Ok(())
    });
}

#[test]
fn fuzz_checkpoint_payload_mutations_with_a_valid_checksum_never_panic() {
    let payload = checkpoint_payload();
    fuzz("checkpoint payload", 64, |m| {
        let body = mutated(payload, &m);
        let b = checkpoint::frame(TRAIN_KIND, &body).unwrap();
        // Ok is fine (a flipped bit of a weight is still a weight); a panic or a huge
        // allocation is not.
        let (_, peak) = peak_allocation(|| load_checkpoint(&b));
        check_allocation(b.len(), peak)
    });
}

#[test]
fn fuzz_checkpoint_length_prefix_is_bounded_by_the_file() {
    // A string whose length prefix claims 512 MiB, in a 30-byte file with a valid checksum.
    let mut body = vec![253u8];
    body.extend_from_slice(&(1u64 << 29).to_le_bytes());
    body.extend_from_slice(b"abc");
    let b = checkpoint::frame("s", &body).unwrap();
    let (r, peak) = peak_allocation(|| {
        checkpoint::from_bytes::<String>(&b, "s", Path::new("s.bin")).map(|_| ())
    });
    assert!(
        matches!(r, Err(sparling_nn::Error::Undecodable { .. })),
        "{r:?}"
    );
    assert!(
        peak < 1 << 20,
        "allocated {peak} bytes for a {}-byte file",
        b.len()
    );
}

#[test]
fn fuzz_config_mutations_are_refused_or_valid() {
    let original = config_text();
    fuzz("config", 96, |m| {
        let b = mutated(original.as_bytes(), &m);
        let text = String::from_utf8_lossy(&b);
        let (r, peak) = peak_allocation(|| TrainConfig::from_json(&text));
        check_allocation(b.len(), peak)?;
        if let Ok(c) = r {
            // Whatever is accepted is inside the caps and has a finite estimate.
            prop_assert!(sparling_train::limits::check_caps(&c).is_ok());
            prop_assert!(sparling_train::limits::train_memory(&c).bytes().is_finite());
        }
        Ok(())
    });
}

#[test]
fn fuzz_samples_jsonl_mutations_are_refused_or_valid() {
    let original = samples_text().as_bytes();
    fuzz("samples.jsonl", 96, |m| {
        let b = mutated(original, &m);
        let (r, peak) = peak_allocation(|| {
            parse_jsonl(b.as_slice()).and_then(|recs| {
                recs.iter()
                    .map(|r| r.to_sample().map(|_| ()))
                    .collect::<Result<Vec<()>, _>>()
            })
        });
        check_allocation(b.len(), peak)?;
        let _ = r;
        Ok(())
    });
}

#[test]
fn fuzz_score_motifs_input_mutations_are_refused_or_valid() {
    fuzz("score-motifs input", 96, |m| {
        let b = mutated(MAPS.as_bytes(), &m);
        let (r, peak) = peak_allocation(|| {
            sparling_metrics::score_jsonl(b.as_slice(), Default::default())
                .and_then(|s| sparling_metrics::MotifReport::new(&s.confusion).map(|r| r.fpe))
        });
        check_allocation(b.len(), peak)?;
        if let Ok(fpe) = r {
            prop_assert!((0.0..=1.0).contains(&fpe), "fpe {fpe}");
        }
        Ok(())
    });
}

#![doc = include_str!("../README.md")]

pub mod bank;
pub mod columns;
pub mod digit_circle;
pub mod domain;
pub mod error;
pub mod formula;
pub mod picture;
pub mod record;
pub mod sample;
pub mod single_digit;
pub mod spec;
pub mod spectrogram;
pub mod spoken_digits;
pub mod stamps;
pub mod vocab;

pub use bank::{BankError, BankSource, SpeechBank};
pub use columns::Columns;
pub use digit_circle::{
    DigitCircle, DigitCircleConfig, DigitCircleTrace, Placement, canonical_rotation,
};
pub use domain::{Batch, Domain, MIN_DENSITY_SEED, min_density, min_density_with_seed, sample_rng};
pub use error::{Error, Result};
pub use formula::{Formula, FormulaConfig, FormulaTrace, GlyphScale};
pub use record::{MotifRecord, SampleRecord};
pub use sample::{Footprint, Input, Motif, Sample};
pub use single_digit::{SingleDigit, SingleDigitConfig, SingleDigitTrace};
pub use spec::DomainSpec;
pub use spectrogram::{MelSpectrogram, SpectrogramParams};
pub use spoken_digits::{
    PlacedClip, SpeakerSplit, SpokenDigits, SpokenDigitsConfig, SpokenDigitsTrace,
};
pub use stamps::{Stamp, StampSet, StampSource};
pub use vocab::{TokenId, Vocab};

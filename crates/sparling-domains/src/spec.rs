//! [`DomainSpec`]: a serde-friendly choice of domain and its configuration.

use serde::{Deserialize, Serialize};

use crate::columns::Columns;
use crate::digit_circle::{DigitCircle, DigitCircleConfig};
use crate::domain::Domain;
use crate::error::Result;
use crate::formula::{Formula, FormulaConfig};
use crate::single_digit::{SingleDigit, SingleDigitConfig};
use crate::spoken_digits::{SpeakerSplit, SpokenDigits, SpokenDigitsConfig};

/// A domain and its configuration, e.g. `{"domain": "digit-circle", "post_noise": 0.1}` (missing
/// fields take the paper's defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "domain", rename_all = "kebab-case")]
pub enum DomainSpec {
    /// DigitCircle (the paper's main synthetic domain).
    DigitCircle(DigitCircleConfig),
    /// SingleDigit (one centred digit).
    SingleDigit(SingleDigitConfig),
    /// SingleDigit read column by column: a 1-D domain (the image's rows as features).
    SingleDigitColumns(SingleDigitConfig),
    /// Formula (the paper's LaTeX-OCR domain).
    Formula(FormulaConfig),
    /// SpokenDigits (the paper's spoken-digit sequences; `split` picks the speakers).
    SpokenDigits(SpokenDigitsConfig),
}

impl DomainSpec {
    /// The names [`DomainSpec::from_name`] accepts.
    pub const NAMES: [&'static str; 5] = [
        "digit-circle",
        "single-digit",
        "single-digit-columns",
        "formula",
        "spoken-digits",
    ];

    /// The paper's configuration of the domain called `name` (`"digit-circle"`,
    /// `"single-digit"`, `"formula"`, `"spoken-digits"`: its training split).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "digit-circle" => Some(DomainSpec::DigitCircle(DigitCircleConfig::default())),
            "single-digit" => Some(DomainSpec::SingleDigit(SingleDigitConfig::default())),
            "single-digit-columns" => {
                Some(DomainSpec::SingleDigitColumns(SingleDigitConfig::default()))
            }
            "formula" => Some(DomainSpec::Formula(FormulaConfig::default())),
            "spoken-digits" => Some(DomainSpec::SpokenDigits(SpokenDigitsConfig::default())),
            _ => None,
        }
    }

    /// The domain's name.
    pub fn name(&self) -> &'static str {
        match self {
            DomainSpec::DigitCircle(_) => "digit-circle",
            DomainSpec::SingleDigit(_) => "single-digit",
            DomainSpec::SingleDigitColumns(_) => "single-digit-columns",
            DomainSpec::Formula(_) => "formula",
            DomainSpec::SpokenDigits(_) => "spoken-digits",
        }
    }

    /// The domain called `name` (one of [`DomainSpec::NAMES`]) with its configuration read
    /// from `d`: for readers that take the tag apart from the fields (and so keep the path of
    /// a bad field in their errors).
    pub fn deserialize_named<'de, D: serde::Deserializer<'de>>(
        name: &str,
        d: D,
    ) -> std::result::Result<DomainSpec, D::Error> {
        match name {
            "digit-circle" => DigitCircleConfig::deserialize(d).map(DomainSpec::DigitCircle),
            "single-digit" => SingleDigitConfig::deserialize(d).map(DomainSpec::SingleDigit),
            "single-digit-columns" => {
                SingleDigitConfig::deserialize(d).map(DomainSpec::SingleDigitColumns)
            }
            "formula" => FormulaConfig::deserialize(d).map(DomainSpec::Formula),
            "spoken-digits" => SpokenDigitsConfig::deserialize(d).map(DomainSpec::SpokenDigits),
            other => Err(serde::de::Error::unknown_variant(other, &Self::NAMES)),
        }
    }

    /// The domain as a run's test stream sees it: SpokenDigits on its held-out speakers
    /// (split `test`, never seen in training or validation); every other domain unchanged.
    pub fn test_stream(&self) -> DomainSpec {
        match self {
            DomainSpec::SpokenDigits(c) => DomainSpec::SpokenDigits(SpokenDigitsConfig {
                split: SpeakerSplit::Test,
                ..c.clone()
            }),
            other => other.clone(),
        }
    }

    /// Builds the generator (validating the configuration).
    pub fn build(&self) -> Result<Box<dyn Domain>> {
        Ok(match self {
            DomainSpec::DigitCircle(c) => Box::new(DigitCircle::new(c.clone())?),
            DomainSpec::SingleDigit(c) => Box::new(SingleDigit::new(c.clone())?),
            DomainSpec::SingleDigitColumns(c) => Box::new(Columns::new(
                Box::new(SingleDigit::new(c.clone())?),
                self.name(),
            )?),
            DomainSpec::Formula(c) => Box::new(Formula::new(c.clone())?),
            DomainSpec::SpokenDigits(c) => Box::new(SpokenDigits::new(c.clone())?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_spec_serde_and_build() {
        let s: DomainSpec =
            serde_json::from_str(r#"{"domain": "digit-circle", "post_noise": 0.1}"#).unwrap();
        match &s {
            DomainSpec::DigitCircle(c) => assert_eq!(c.post_noise, 0.1),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.build().unwrap().name(), "digit-circle");
        let back: DomainSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(
            serde_json::from_str::<DomainSpec>(r#"{"domain": "digit-circle", "nope": 1}"#).is_err()
        );
        for name in DomainSpec::NAMES {
            let spec = DomainSpec::from_name(name).unwrap();
            assert_eq!(spec.name(), name);
            assert_eq!(spec.build().unwrap().name(), name);
        }
        assert!(DomainSpec::from_name("latex").is_none());
        let f: DomainSpec = serde_json::from_str(
            r#"{"domain": "formula", "scale": "half", "height": 60, "width": 180}"#,
        )
        .unwrap();
        assert_eq!(f, DomainSpec::Formula(crate::FormulaConfig::half()));
        assert_eq!(f.build().unwrap().input_shape(), vec![1, 60, 180]);
        let bad = DomainSpec::SingleDigit(SingleDigitConfig {
            size: 4,
            ..Default::default()
        });
        assert!(bad.build().is_err());
        let s: DomainSpec =
            serde_json::from_str(r#"{"domain": "spoken-digits", "split": "test"}"#).unwrap();
        let d = s.build().unwrap();
        assert_eq!(
            (d.name(), d.input_shape()),
            ("spoken-digits", vec![64, 642])
        );
        let bank = r#"{"domain": "spoken-digits", "bank": {"file": "/nonexistent.bin"}}"#;
        let err = serde_json::from_str::<DomainSpec>(bank)
            .unwrap()
            .build()
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent.bin"), "{err}");
    }

    #[test]
    fn the_test_stream_hears_only_the_held_out_speakers() {
        let train = DomainSpec::from_name("spoken-digits").unwrap();
        let test = train.test_stream();
        let DomainSpec::SpokenDigits(c) = &test else {
            panic!("{test:?}")
        };
        assert_eq!(c.split, SpeakerSplit::Test);
        let (a, b) = (SpokenDigits::new(c.clone()).unwrap(), SpokenDigits::paper());
        assert_eq!(a.speakers(), b.held_out());
        assert!(b.speakers().iter().all(|s| !a.speakers().contains(s)));
        let dc = DomainSpec::from_name("digit-circle").unwrap();
        assert_eq!(dc.test_stream(), dc);
    }
}

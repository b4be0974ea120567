//! The training configuration: one experiment as data (domain x model x bottleneck x schedule
//! x optimizer x budget) in one serde struct, validated once with the offending field named.
//! Each part owns its config and its checks: [`ModelConfig`] here, [`BottleneckConfig`] in
//! [`crate::bottleneck`], [`ScheduleConfig`] in [`crate::schedule`], [`OptimizerConfig`] in
//! [`crate::optimizer`]; the named experiments and profiles are in [`crate::experiment`].

mod model;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sparling_domains::{DigitCircleConfig, Domain, DomainSpec};

pub use self::model::ModelConfig;
pub use crate::bottleneck::{BottleneckConfig, ThresholdKind};
use crate::error::{Error, Result};
pub use crate::experiment::{
    DIGIT_CIRCLE_DONE_AT, Experiment, LAST_RUNG_HOLD_LIMIT, PAPER_OPERATING_DENSITY, Profile,
};
pub use crate::objective::Objective;
pub use crate::optimizer::{OptimizerConfig, RungDecay};
pub use crate::schedule::{LatePhase, ScheduleConfig};
use crate::validate::{invalid, nonzero};

/// `validation_early_stop` when a config file does not name it.
fn early_stop_default() -> bool {
    true
}

/// Everything that defines a training run (the seed is given separately).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The data domain and its parameters, e.g. `{"domain": "digit-circle", "size": 100, ..}`
    /// (any domain of [`DomainSpec`]). Config files written before other domains could be
    /// trained hold a bare DigitCircle config here; they load as DigitCircle.
    #[serde(with = "domain_field")]
    pub domain: DomainSpec,
    /// Model sizes.
    pub model: ModelConfig,
    /// What sits between the motif model g and the downstream network h.
    pub bottleneck: BottleneckConfig,
    /// How the density evolves.
    pub schedule: ScheduleConfig,
    /// Adam settings and gradient clipping.
    pub optimizer: OptimizerConfig,
    /// Training samples per step.
    pub batch_size: usize,
    /// Stop after this many training samples even if the density is not reached.
    pub max_samples: u64,
    /// Validate (and checkpoint) every this many training samples.
    pub validation_every: u64,
    /// Size of the fixed validation set.
    pub validation_samples: usize,
    /// Stop scoring a validation as soon as its accuracy can no longer clear the schedule's
    /// bar. The schedule then does exactly what the full score would have made it do (keep the
    /// density, keep the bar), so the run is the same, bit for bit, only faster; the log then
    /// holds the accuracy of the samples scored, with their number. On (`true`) when absent.
    #[serde(default = "early_stop_default")]
    pub validation_early_stop: bool,
    /// Default number of test samples for `sparling eval`.
    pub test_samples: usize,
    /// Print a progress line every this many steps (0: never).
    pub log_every_steps: u64,
    /// The paper's Retrained experiment: g's parameters and BatchNorm statistics are copied
    /// from this model checkpoint (a rung snapshot or a `checkpoint.bin`) when the run starts
    /// and stay fixed (g runs in evaluation mode, without gradients); the rest trains. None
    /// (the default): g is trained from its initialisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrain_from: Option<PathBuf>,
    /// What the run is trained to do: the paper's sequence task (the default, and what a config
    /// without this field means) or the Direct baseline's motif classes
    /// (`"objective": "motif-classes"`, on a single-motif domain).
    #[serde(default, skip_serializing_if = "Objective::is_sequence")]
    pub objective: Objective,
}

impl TrainConfig {
    /// Checks every field; the error names the first invalid one.
    pub fn validate(&self) -> Result<()> {
        crate::limits::check_caps(self)?;
        let domain = self.build_domain()?;
        self.objective
            .validate(domain.as_ref(), self.model.motif_channels)?;
        let shape = domain.input_shape();
        let positions = shape[1..].iter().copied().min().unwrap_or(0);
        self.model.validate(positions)?;
        self.bottleneck.validate()?;
        self.schedule.validate()?;
        if matches!(
            self.bottleneck,
            BottleneckConfig::Noise | BottleneckConfig::Kl { .. }
        ) && self.schedule.initial_density() >= 1.0
        {
            return Err(invalid(
                "schedule",
                "the noise and KL bottlenecks need a density below 1 (KL's target)",
            ));
        }
        self.optimizer.validate()?;
        nonzero("batch_size", self.batch_size as u64)?;
        if self.batch_size < 2 && self.bottleneck.uses_batch_norm() {
            return Err(invalid(
                "batch_size",
                "BatchNorm needs at least 2 samples per batch",
            ));
        }
        nonzero("max_samples", self.max_samples)?;
        nonzero("validation_every", self.validation_every)?;
        nonzero("validation_samples", self.validation_samples as u64)?;
        nonzero("test_samples", self.test_samples as u64)?;
        if let Some(p) = &self.retrain_from {
            if p.as_os_str().is_empty() {
                return Err(invalid("retrain_from", "is an empty path"));
            }
        }
        Ok(())
    }

    /// The domain's generator (its config validated; errors name `domain`): what training and
    /// validation draw from.
    pub fn build_domain(&self) -> Result<Box<dyn Domain>> {
        Self::checked(&self.domain)
    }

    /// The generator the test stream draws from (see [`DomainSpec::test_stream`]: the
    /// held-out speakers of the spoken digits, the training domain otherwise).
    pub fn build_test_domain(&self) -> Result<Box<dyn Domain>> {
        Self::checked(&self.domain.test_stream())
    }

    fn checked(spec: &DomainSpec) -> Result<Box<dyn Domain>> {
        let domain = spec.build().map_err(|e| invalid("domain", e.to_string()))?;
        let dims = domain.input_shape().len();
        if !(2..=3).contains(&dims) {
            return Err(invalid(
                "domain",
                format!(
                    "inputs of {dims} axes: the model reads images (1, H, W) or signals (C, L)"
                ),
            ));
        }
        Ok(domain)
    }

    /// The DigitCircle parameters, when the domain is DigitCircle.
    pub fn digit_circle(&self) -> Option<&DigitCircleConfig> {
        match &self.domain {
            DomainSpec::DigitCircle(c) => Some(c),
            _ => None,
        }
    }

    /// The DigitCircle parameters to change, when the domain is DigitCircle (for tests and
    /// tools that shrink it).
    pub fn digit_circle_mut(&mut self) -> Option<&mut DigitCircleConfig> {
        match &mut self.domain {
            DomainSpec::DigitCircle(c) => Some(c),
            _ => None,
        }
    }

    /// Parses and validates a JSON config (a leading UTF-8 byte-order mark is skipped).
    pub fn from_json(text: &str) -> Result<TrainConfig> {
        let cfg: TrainConfig =
            crate::input::parse_json(text).map_err(|e| domain_error_path(text, e))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The number of density rungs between the schedule's initial and final densities.
    pub fn rungs(&self) -> usize {
        self.schedule.rungs()
    }
}

/// `domain`: a [`DomainSpec`] (`{"domain": "digit-circle", ..}`), or a bare DigitCircle
/// config (the format before other domains could be trained).
mod domain_field {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;
    use sparling_domains::{DigitCircleConfig, DomainSpec};

    pub fn serialize<S: Serializer>(d: &DomainSpec, s: S) -> Result<S::Ok, S::Error> {
        d.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DomainSpec, D::Error> {
        let (name, fields) = split(Value::deserialize(d)?).map_err(D::Error::custom)?;
        match name {
            Some(name) => DomainSpec::deserialize_named(&name, fields),
            None => DigitCircleConfig::deserialize(fields).map(DomainSpec::DigitCircle),
        }
        .map_err(D::Error::custom)
    }

    /// The domain's name (None: a bare DigitCircle config) and its other fields.
    pub(super) fn split(value: Value) -> Result<(Option<String>, Value), String> {
        let Value::Object(mut fields) = value else {
            return Err(format!("expected a domain object, got {value}"));
        };
        let name = match fields.remove("domain") {
            None => None,
            Some(Value::String(name)) => Some(name),
            Some(other) => return Err(format!("the domain's name must be a string, got {other}")),
        };
        Ok((name, Value::Object(fields)))
    }
}

/// Names the field inside `domain` that a parse error came from (`domain.stamps`): the domain
/// is read in two steps (its name, then its fields), which hides the inner path from `e`.
fn domain_error_path(text: &str, e: Error) -> Error {
    let Error::ConfigSyntax {
        field: Some(field), ..
    } = &e
    else {
        return e;
    };
    if field != "domain" {
        return e;
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(domain) = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|mut v| v.get_mut("domain").map(serde_json::Value::take))
    else {
        return e;
    };
    let Ok((name, fields)) = domain_field::split(domain) else {
        return e;
    };
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(fields, &mut track);
    let name = name.unwrap_or_else(|| "digit-circle".to_string());
    let Err(inner) = DomainSpec::deserialize_named(&name, de) else {
        return e;
    };
    let path = track.path().to_string();
    if path.is_empty() || path == "." {
        return e;
    }
    Error::ConfigSyntax {
        field: Some(format!("domain.{path}")),
        msg: inner.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_fields_are_named() {
        let mut c = TrainConfig::preset(Profile::Quick);
        c.model.heads = 3;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("model.heads"), "{e}");
        let mut c = TrainConfig::preset(Profile::Quick);
        c.optimizer.lr = f32::NAN;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("optimizer.lr"), "{e}");
        let mut c = TrainConfig::preset(Profile::Quick);
        c.digit_circle_mut().unwrap().radius_min = 90;
        assert!(c.validate().unwrap_err().to_string().contains("domain"));
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let mut c = TrainConfig::preset(Profile::Quick);
            c.model.position_scale = bad;
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("model.position_scale"), "{bad}: {e}");
        }
        for bad in [0.0, -0.5, 1.5, f32::NAN] {
            let mut c = TrainConfig::preset(Profile::Quick);
            c.optimizer.lr_decay_per_reduction = bad;
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("optimizer.lr_decay_per_reduction"), "{bad}: {e}");
        }
        for (half_life, floor, field) in [
            (0, 0.5, "optimizer.rung_decay.half_life_samples"),
            (1000, 0.0, "optimizer.rung_decay.floor"),
            (1000, f32::NAN, "optimizer.rung_decay.floor"),
        ] {
            let mut c = TrainConfig::preset(Profile::Quick);
            c.optimizer.rung_decay = Some(RungDecay {
                half_life_samples: half_life,
                floor,
            });
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{half_life} {floor}: {e}");
        }
        let mut c = TrainConfig::preset(Profile::Quick);
        c.bottleneck = BottleneckConfig::L1 { lambda: -1.0 };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("bottleneck.lambda"), "{e}");
        c.bottleneck = BottleneckConfig::Noise;
        c.schedule = ScheduleConfig::Constant { density: 1.0 };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("schedule"), "{e}");
    }

    #[test]
    fn files_without_the_newer_fields_load_as_before() {
        // Config files written before a field existed still load, with its old behaviour.
        let c = TrainConfig::preset(Profile::Default);
        let mut value = serde_json::to_value(&c).unwrap();
        value["model"]
            .as_object_mut()
            .unwrap()
            .remove("position_scale");
        value["model"].as_object_mut().unwrap().remove("token_norm");
        value
            .as_object_mut()
            .unwrap()
            .remove("validation_early_stop");
        value["optimizer"]
            .as_object_mut()
            .unwrap()
            .remove("lr_decay_per_reduction");
        let old = TrainConfig::from_json(&value.to_string()).unwrap();
        assert_eq!(old.optimizer.lr_decay_per_reduction, 1.0);
        assert_eq!(old.optimizer.rung_decay, None);
        assert_eq!(old.model.position_scale, 1.0);
        assert!(!old.model.token_norm);
        assert!(old.validation_early_stop);
        assert_eq!(old.retrain_from, None);
        // Absent from the presets' JSON, so their files are unchanged.
        let json = serde_json::to_string(&c).unwrap();
        assert!(
            !json.contains("rung_decay") && !json.contains("retrain_from"),
            "{json}"
        );
    }

    #[test]
    fn the_unused_collapse_width_of_older_files_is_dropped() {
        let c = TrainConfig::preset(Profile::Default);
        let mut value = serde_json::to_value(&c).unwrap();
        assert!(value["model"].get("collapse_channels").is_none());
        value["model"]["collapse_channels"] = 128.into();
        assert_eq!(TrainConfig::from_json(&value.to_string()).unwrap(), c);
        // Other unknown fields are still refused, by name.
        value["model"]["collapse_width"] = 128.into();
        let e = TrainConfig::from_json(&value.to_string())
            .unwrap_err()
            .to_string();
        assert!(e.contains("collapse_width"), "{e}");
    }

    #[test]
    fn a_bare_digit_circle_domain_still_loads() {
        let c = TrainConfig::preset(Profile::Default);
        let mut value = serde_json::to_value(&c).unwrap();
        assert_eq!(value["domain"]["domain"], "digit-circle");
        value["domain"].as_object_mut().unwrap().remove("domain");
        assert_eq!(TrainConfig::from_json(&value.to_string()).unwrap(), c);
        value["domain"]["sise"] = 3.into();
        let e = TrainConfig::from_json(&value.to_string()).unwrap_err();
        assert!(e.to_string().contains("sise"), "{e}");
        // In the tagged form (its name anywhere), a bad field is named by its path as well.
        let mut value = serde_json::to_value(&c).unwrap();
        value["domain"]["post_noise"] = "x".into();
        let e = TrainConfig::from_json(&value.to_string()).unwrap_err();
        assert!(e.to_string().contains("domain.post_noise"), "{e}");
        value["domain"] = serde_json::json!({"domain": "latex"});
        let e = TrainConfig::from_json(&value.to_string()).unwrap_err();
        assert!(e.to_string().contains("latex"), "{e}");
        let mut c = c;
        c.domain = DomainSpec::from_name("single-digit-columns").unwrap();
        c.model.pool = 4;
        c.validate().unwrap();
        c.model.pool = 64;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("model.pool"), "{e}");
    }

    #[test]
    fn json_round_trip_and_unknown_fields() {
        let c = TrainConfig::preset(Profile::Default);
        let text = serde_json::to_string_pretty(&c).unwrap();
        assert_eq!(TrainConfig::from_json(&text).unwrap(), c);
        let bad = text.replacen("\"batch_size\"", "\"batch_sise\"", 1);
        assert!(TrainConfig::from_json(&bad).is_err());
    }

    #[test]
    fn ladder_has_33_rungs_down_to_the_operating_point() {
        let c = TrainConfig::preset(Profile::Default);
        // 0.5 * 0.75^k >= 4.492e-5 for k = 0..=32.
        assert_eq!(c.rungs(), 33);
        assert!((0.5 * 0.75f64.powi(32) - PAPER_OPERATING_DENSITY).abs() < 1e-8);
    }
}

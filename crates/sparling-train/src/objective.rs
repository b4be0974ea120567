//! What a run is trained to do, with its loss and its validation score: the paper's
//! end-to-end task (h decodes the output sequence from the motif map), or the paper's Direct
//! baseline (g supervised on single-motif inputs through its channels' spatial maxima, the
//! motif model one would train if the motifs were labelled).

use serde::{Deserialize, Serialize};
use sparling_domains::{Domain, TokenId};
use sparling_tensor::{Tensor, no_grad};

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::model::{ForwardOutput, SparlingModel};
use crate::validate::invalid;

/// The training objective of a run (`"objective"` in a config; the sequence task when absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// The paper's task: h's teacher-forced token cross-entropy on the output sequence, plus
    /// the bottleneck's penalty if it has one; validation scores exact matches of greedy
    /// decoding.
    #[default]
    Sequence,
    /// The paper's Direct baseline, on a single-motif domain (one output symbol per sample):
    /// the cross-entropy of the motif map's per-channel spatial maxima, channel `k` scoring
    /// class `k`, against the sample's symbol; h is not used. Validation scores how often the
    /// channel with the largest maximum is the sample's class.
    MotifClasses,
}

impl Objective {
    /// Whether this is the sequence task (the default, left out of written configs).
    pub fn is_sequence(&self) -> bool {
        *self == Objective::Sequence
    }

    /// Checks the objective against the domain and the number of motif channels; errors name
    /// `objective`.
    pub fn validate(&self, domain: &dyn Domain, channels: usize) -> Result<()> {
        match self {
            Objective::Sequence => Ok(()),
            Objective::MotifClasses => {
                if domain.max_tokens() != 1 {
                    return Err(invalid(
                        "objective",
                        format!(
                            "motif-classes trains on single-motif inputs (one output symbol \
                             each); the domain `{}` has outputs of up to {} symbols",
                            domain.name(),
                            domain.max_tokens()
                        ),
                    ));
                }
                let classes = domain.num_classes();
                if channels < classes {
                    return Err(invalid(
                        "objective",
                        format!(
                            "motif-classes scores class k by channel k: the domain's {classes} \
                             classes need as many motif channels, the model has {channels}"
                        ),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The training loss on inputs `x` and their target symbols.
    pub fn loss(
        &self,
        model: &SparlingModel,
        x: &Tensor,
        targets: &[Vec<TokenId>],
        train: bool,
    ) -> Result<ForwardOutput> {
        match self {
            Objective::Sequence => model.loss(x, targets, train),
            Objective::MotifClasses => {
                let classes = single_classes(targets)?;
                let out = model.motifs(x, train)?;
                let ce = channel_logits(&out.map)?.cross_entropy(&classes, None);
                Ok(ForwardOutput::new(ce, out.aux))
            }
        }
    }

    /// How many of the samples `x` (evaluation mode, no graph) the model gets right: exact
    /// greedy decodings, or argmax channels equal to the class.
    pub fn correct(
        &self,
        model: &SparlingModel,
        x: &Tensor,
        targets: &[Vec<TokenId>],
    ) -> Result<usize> {
        match self {
            Objective::Sequence => {
                let (pred, _) = model.predict(x)?;
                Ok(pred.iter().zip(targets).filter(|(p, t)| p == t).count())
            }
            Objective::MotifClasses => {
                let classes = single_classes(targets)?;
                let logits =
                    no_grad(|| -> Result<Tensor> { channel_logits(&model.motifs(x, false)?.map) })?;
                let best = logits.argmax(1);
                Ok(best.iter().zip(&classes).filter(|(p, c)| p == c).count())
            }
        }
    }
}

/// Errors unless `config` trains the sequence task: `what` (an evaluation or an analysis)
/// reads h's output, which a Direct-baseline run never trains.
pub fn require_sequence(config: &TrainConfig, what: &str) -> Result<()> {
    match config.objective {
        Objective::Sequence => Ok(()),
        Objective::MotifClasses => Err(Error::Run(format!(
            "{what} reads the output of h, and this run trained g alone on motif classes (the \
             Direct baseline); score it with `sparling analyze direct`"
        ))),
    }
}

/// Each sample's class: its one output symbol.
fn single_classes(targets: &[Vec<TokenId>]) -> Result<Vec<usize>> {
    targets
        .iter()
        .map(|t| match t.as_slice() {
            [class] => Ok(*class),
            other => Err(Error::Run(format!(
                "the motif-classes objective needs one output symbol per sample, got {}",
                other.len()
            ))),
        })
        .collect()
}

/// The per-channel spatial maxima of a motif map `(N, C, ..)`: logits `(N, C)`.
fn channel_logits(map: &Tensor) -> Result<Tensor> {
    let shape = map.shape().to_vec();
    if shape.len() < 3 {
        return Err(Error::Run(format!(
            "a motif map has a sample, a channel and a spatial axis; got shape {shape:?}"
        )));
    }
    let positions: usize = shape[2..].iter().product();
    Ok(map.reshape(&[shape[0], shape[1], positions]).max(2, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Experiment, Profile, TrainConfig};

    /// The Direct preset shrunk to a test's size.
    fn tiny_direct() -> TrainConfig {
        let mut cfg = TrainConfig::experiment(Profile::Quick, &Experiment::Direct).unwrap();
        cfg.batch_size = 8;
        cfg
    }

    #[test]
    fn channel_logits_are_the_spatial_maxima() {
        // Two samples, two channels, 2 x 2 positions.
        let map = Tensor::new(
            ndarray::ArrayD::from_shape_vec(
                vec![2, 2, 2, 2],
                vec![
                    0.0, 3.0, 1.0, -1.0, // sample 0, channel 0: max 3
                    -2.0, -5.0, -1.0, -4.0, // channel 1: max -1
                    7.0, 7.0, 0.0, 0.0, // sample 1, channel 0: max 7 (tie)
                    0.5, 9.0, 2.0, 1.0, // channel 1: max 9
                ],
            )
            .unwrap(),
        );
        let logits = channel_logits(&map).unwrap().to_array();
        assert_eq!(logits.shape(), &[2, 2]);
        assert_eq!(
            logits.iter().copied().collect::<Vec<_>>(),
            [3.0, -1.0, 7.0, 9.0]
        );
        assert!(channel_logits(&Tensor::zeros(&[2, 3])).is_err());
    }

    #[test]
    fn motif_classes_needs_single_symbol_outputs_and_enough_channels() {
        let cfg = tiny_direct();
        let domain = cfg.build_domain().unwrap();
        Objective::MotifClasses
            .validate(domain.as_ref(), 10)
            .unwrap();
        let err = Objective::MotifClasses
            .validate(domain.as_ref(), 9)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("objective") && err.contains("10 classes"),
            "{err}"
        );
        let circle = TrainConfig::preset(Profile::Quick).build_domain().unwrap();
        let err = Objective::MotifClasses
            .validate(circle.as_ref(), 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("one output symbol"), "{err}");
        // The sequence task takes any domain.
        Objective::Sequence.validate(circle.as_ref(), 1).unwrap();
        assert!(single_classes(&[vec![1, 2]]).is_err());
    }

    #[test]
    fn motif_classes_loss_trains_g_and_validation_counts_argmax_channels() {
        let cfg = tiny_direct();
        let domain = cfg.build_domain().unwrap();
        let model = SparlingModel::new(&cfg, 0).unwrap();
        let batch = domain.batch_arrays(1, &(0..8).collect::<Vec<_>>());
        let x = Tensor::new(batch.inputs);
        let out = Objective::MotifClasses
            .loss(&model, &x, &batch.tokens, true)
            .unwrap();
        let loss = out.loss.item();
        assert!(loss.is_finite() && loss > 0.0);
        // g gets gradients, h none: the loss reads the motif channels only.
        let grads = out.loss.backward();
        let named = model.store().named_params();
        let has_grad = |prefix: &str| {
            named
                .iter()
                .filter(|p| p.name().starts_with(prefix))
                .any(|p| grads.get(&p.get()).is_some())
        };
        assert!(has_grad("g."));
        assert!(!has_grad("h."));
        // The count of right samples is the argmax channels equal to the class.
        let correct = Objective::MotifClasses
            .correct(&model, &x, &batch.tokens)
            .unwrap();
        let map = model.motifs(&x, false).unwrap().map.to_array();
        let expected = crate::analysis::direct::channel_maxima(&map)
            .unwrap()
            .iter()
            .zip(&batch.tokens)
            .filter(|(m, t)| crate::analysis::direct::argmax_channel(m) == Some(t[0]))
            .count();
        assert_eq!(correct, expected);
    }
}

//! [`Columns`]: the sequence view of an image domain. Each sample's `H x W` image becomes a
//! signal of `W` steps with `H` features (the rows as channels, the way a spectrogram's bands
//! are), and each motif's rectangle becomes the interval of its columns. A 1-D model reads it
//! as the paper's audio model reads a spectrogram: convolutions over time, the features as
//! input channels.

use crate::domain::Domain;
use crate::error::{Error, Result};
use crate::sample::{Footprint, Input, Motif, Sample};
use crate::vocab::{TokenId, Vocab};

/// An image domain read column by column.
pub struct Columns {
    inner: Box<dyn Domain>,
    name: &'static str,
}

impl Columns {
    /// The column view of `inner` (an image domain: `input_shape` `[1, H, W]`), called `name`.
    /// Errors for a domain whose inputs are not single-channel images.
    pub fn new(inner: Box<dyn Domain>, name: &'static str) -> Result<Columns> {
        let shape = inner.input_shape();
        if shape.len() == 3 && shape[0] == 1 {
            Ok(Columns { inner, name })
        } else {
            Err(Error::InvalidConfig {
                domain: name,
                message: format!(
                    "a column view needs single-channel images, {} has inputs {shape:?}",
                    inner.name()
                ),
            })
        }
    }
}

impl Domain for Columns {
    fn name(&self) -> &'static str {
        self.name
    }

    fn vocab(&self) -> &Vocab {
        self.inner.vocab()
    }

    fn input_shape(&self) -> Vec<usize> {
        let s = self.inner.input_shape();
        vec![s[1], s[2]]
    }

    fn positions(&self) -> usize {
        self.inner.input_shape()[2]
    }

    fn max_tokens(&self) -> usize {
        self.inner.max_tokens()
    }

    fn expected_motifs(&self) -> Option<f64> {
        self.inner.expected_motifs()
    }

    fn canonical_output(&self, tokens: &[TokenId]) -> Vec<TokenId> {
        self.inner.canonical_output(tokens)
    }

    fn sample(&self, seed: u64, index: u64) -> Sample {
        let s = self.inner.sample(seed, index);
        let input = match s.input {
            Input::Image(a) | Input::Signal(a) => Input::Signal(a),
        };
        let motifs = s
            .motifs
            .into_iter()
            .map(|m| {
                let (span, anchor) = match m.footprint {
                    Footprint::Rect { cols, .. } => (cols, m.anchor.last().copied()),
                    Footprint::Interval { span } => (span, m.anchor.first().copied()),
                };
                Motif {
                    class: m.class,
                    footprint: Footprint::Interval { span },
                    anchor: vec![anchor.unwrap_or(span[0])],
                }
            })
            .collect();
        Sample {
            input,
            tokens: s.tokens,
            motifs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::single_digit::SingleDigit;

    #[test]
    fn columns_are_the_image_read_along_its_width() {
        let image = SingleDigit::paper();
        let view = Columns::new(Box::new(SingleDigit::paper()), "single-digit-columns").unwrap();
        assert_eq!(view.input_shape(), vec![32, 32]);
        assert_eq!(view.positions(), 32);
        for i in 0..20 {
            let (a, b) = (image.sample(3, i), view.sample(3, i));
            assert_eq!(a.input.array(), b.input.array());
            assert!(matches!(b.input, Input::Signal(_)));
            assert_eq!(a.tokens, b.tokens);
            let Footprint::Rect { cols, .. } = a.motifs[0].footprint else {
                panic!("SingleDigit draws rectangles")
            };
            assert_eq!(b.motifs[0].footprint, Footprint::Interval { span: cols });
            assert_eq!(b.input.model_shape(), view.input_shape());
        }
        let batch = view.batch_arrays(3, &[0, 1]);
        assert_eq!(batch.inputs.shape(), &[2, 32, 32]);
    }
}

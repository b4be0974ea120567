//! Output vocabularies: the class symbols plus start, end and padding tokens.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A token id. Ids `0..num_classes()` are the class symbols (for digits, id = the digit), then
/// come [`Vocab::start`], [`Vocab::end`] and [`Vocab::pad`].
pub type TokenId = usize;

/// A vocabulary: `n` class symbols followed by the special tokens `<s>`, `</s>` and `<pad>`.
///
/// A domain's [`Sample::tokens`](crate::Sample::tokens) holds class ids only; a sequence model
/// feeds [`Vocab::encode`]'s `[start, y.., end]` and pads with [`Vocab::pad`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocab {
    symbols: Vec<String>,
}

/// Text of the start token.
pub const START_SYMBOL: &str = "<s>";
/// Text of the end token.
pub const END_SYMBOL: &str = "</s>";
/// Text of the padding token.
pub const PAD_SYMBOL: &str = "<pad>";

impl Vocab {
    /// A vocabulary over the given class symbols (non-empty, distinct, not a special symbol).
    pub fn new<S: Into<String>>(symbols: impl IntoIterator<Item = S>) -> Result<Self> {
        let symbols: Vec<String> = symbols.into_iter().map(Into::into).collect();
        if symbols.is_empty() {
            return Err(Error::InvalidVocab("no class symbol".into()));
        }
        for (i, s) in symbols.iter().enumerate() {
            if s.is_empty() {
                return Err(Error::InvalidVocab(format!("symbol {i} is empty")));
            }
            if [START_SYMBOL, END_SYMBOL, PAD_SYMBOL].contains(&s.as_str()) {
                return Err(Error::InvalidVocab(format!("symbol {s:?} is reserved")));
            }
            if symbols[..i].contains(s) {
                return Err(Error::InvalidVocab(format!("symbol {s:?} appears twice")));
            }
        }
        Ok(Self { symbols })
    }

    /// The digit vocabulary: classes `"0"`..`"9"` (id = digit), then start (10), end (11),
    /// pad (12).
    pub fn digits() -> Self {
        Self::new((0..10).map(|d| d.to_string())).expect("digit symbols are valid")
    }

    /// Number of class symbols.
    pub fn num_classes(&self) -> usize {
        self.symbols.len()
    }

    /// Total number of tokens, specials included (the size of an output layer).
    pub fn len(&self) -> usize {
        self.symbols.len() + 3
    }

    /// Always false: a vocabulary has at least one class and the three specials.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The start-of-sequence token.
    pub fn start(&self) -> TokenId {
        self.symbols.len()
    }

    /// The end-of-sequence token.
    pub fn end(&self) -> TokenId {
        self.symbols.len() + 1
    }

    /// The padding token.
    pub fn pad(&self) -> TokenId {
        self.symbols.len() + 2
    }

    /// Whether `id` is a class (not a special token).
    pub fn is_class(&self, id: TokenId) -> bool {
        id < self.symbols.len()
    }

    /// The text of a token, specials included.
    pub fn symbol(&self, id: TokenId) -> Result<&str> {
        let n = self.symbols.len();
        match id {
            i if i < n => Ok(&self.symbols[i]),
            i if i == n => Ok(START_SYMBOL),
            i if i == n + 1 => Ok(END_SYMBOL),
            i if i == n + 2 => Ok(PAD_SYMBOL),
            _ => Err(Error::UnknownToken {
                id,
                len: self.len(),
            }),
        }
    }

    /// The id of a symbol's text, specials included.
    pub fn id(&self, symbol: &str) -> Option<TokenId> {
        match symbol {
            START_SYMBOL => Some(self.start()),
            END_SYMBOL => Some(self.end()),
            PAD_SYMBOL => Some(self.pad()),
            s => self.symbols.iter().position(|x| x == s),
        }
    }

    /// `[start, classes.., end]`; errors if an entry is not a class id.
    pub fn encode(&self, classes: &[TokenId]) -> Result<Vec<TokenId>> {
        let mut out = Vec::with_capacity(classes.len() + 2);
        out.push(self.start());
        for &c in classes {
            if !self.is_class(c) {
                return Err(Error::UnknownToken {
                    id: c,
                    len: self.num_classes(),
                });
            }
            out.push(c);
        }
        out.push(self.end());
        Ok(out)
    }

    /// `encode` padded (or truncated, keeping the end token) to `len` tokens.
    pub fn encode_padded(&self, classes: &[TokenId], len: usize) -> Result<Vec<TokenId>> {
        let mut out = self.encode(classes)?;
        if out.len() > len {
            out.truncate(len);
            if let Some(last) = out.last_mut() {
                *last = self.end();
            }
        }
        out.resize(len, self.pad());
        Ok(out)
    }

    /// The class ids of a model's output: a leading start token is skipped, decoding stops at the
    /// first end token, padding is skipped; any other special or out-of-range id is an error.
    pub fn decode(&self, ids: &[TokenId]) -> Result<Vec<TokenId>> {
        let ids = match ids.first() {
            Some(&first) if first == self.start() => &ids[1..],
            _ => ids,
        };
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            if id == self.end() {
                break;
            }
            if id == self.pad() {
                continue;
            }
            if !self.is_class(id) {
                return Err(Error::UnknownToken {
                    id,
                    len: self.len(),
                });
            }
            out.push(id);
        }
        Ok(out)
    }

    /// The tokens' texts joined with no separator (digits read as a number-like string; specials
    /// as `<s>`, `</s>`, `<pad>`).
    pub fn to_text(&self, ids: &[TokenId]) -> Result<String> {
        let mut out = String::new();
        for &id in ids {
            out.push_str(self.symbol(id)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_digits_layout() {
        let v = Vocab::digits();
        assert_eq!(v.num_classes(), 10);
        assert_eq!(v.len(), 13);
        assert_eq!((v.start(), v.end(), v.pad()), (10, 11, 12));
        assert_eq!(v.symbol(7).unwrap(), "7");
        assert_eq!(v.symbol(10).unwrap(), "<s>");
        assert_eq!(v.id("</s>"), Some(11));
        assert_eq!(v.id("4"), Some(4));
        assert!(matches!(
            v.symbol(13),
            Err(Error::UnknownToken { id: 13, len: 13 })
        ));
    }

    #[test]
    fn vocab_encode_decode_roundtrip() {
        let v = Vocab::digits();
        let enc = v.encode(&[1, 5, 3]).unwrap();
        assert_eq!(enc, vec![10, 1, 5, 3, 11]);
        assert_eq!(v.decode(&enc).unwrap(), vec![1, 5, 3]);
        assert_eq!(v.to_text(&enc).unwrap(), "<s>153</s>");
        let padded = v.encode_padded(&[1, 5, 3], 8).unwrap();
        assert_eq!(padded, vec![10, 1, 5, 3, 11, 12, 12, 12]);
        assert_eq!(v.decode(&padded).unwrap(), vec![1, 5, 3]);
        assert_eq!(v.encode_padded(&[1, 5, 3], 4).unwrap(), vec![10, 1, 5, 11]);
        // stops at the first end; garbage after it is ignored
        assert_eq!(v.decode(&[2, 11, 99]).unwrap(), vec![2]);
        assert!(v.encode(&[10]).is_err());
        assert!(v.decode(&[10, 10]).is_err());
        assert!(v.decode(&[13]).is_err());
    }

    #[test]
    fn vocab_rejects_bad_symbols() {
        assert!(Vocab::new(Vec::<String>::new()).is_err());
        assert!(Vocab::new(["a", "a"]).is_err());
        assert!(Vocab::new(["a", "<s>"]).is_err());
        assert!(Vocab::new(["a", ""]).is_err());
        assert_eq!(Vocab::new(["x", "y"]).unwrap().start(), 2);
    }
}

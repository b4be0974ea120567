//! The formula grammar of the paper's LaTeX-OCR domain, its token vocabulary, a sampler that
//! draws a formula of an exact token length, and a parser back from tokens to the tree.
//!
//! ```text
//! start ::= line | 0.25: FRAC( start FRACMID start FRAC)
//! line  ::= term | 0.25: term + line
//! term  ::= atom | 0.25: atom term
//! atom  ::= sym  | 0.25: PAREN( line PAREN)
//! sym   ::= s | s SUP( s SUP) | s SUB( s SUB)          (1/3 each)
//! s     ::= 0 1 2 3 4 5 6 7 8 9 x y z a b c            (uniform)
//! ```
//!
//! Weights are relative within a rule (an unmarked alternative weighs 1), so each recursive
//! alternative is taken with probability 0.25 / 1.25 = 0.2.

use rand::Rng;

use crate::vocab::TokenId;

/// The 26 output tokens, in token-id order.
pub const TOKEN_SYMBOLS: [&str; 26] = [
    "+", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "FRAC(", "FRAC)", "FRACMID", "PAREN(",
    "PAREN)", "SUB(", "SUB)", "SUP(", "SUP)", "a", "b", "c", "x", "y", "z",
];

/// Token id of `+`.
pub const PLUS: TokenId = 0;
/// Token id of `FRAC(`.
pub const FRAC_OPEN: TokenId = 11;
/// Token id of `FRAC)`.
pub const FRAC_CLOSE: TokenId = 12;
/// Token id of `FRACMID`.
pub const FRAC_MID: TokenId = 13;
/// Token id of `PAREN(`.
pub const PAREN_OPEN: TokenId = 14;
/// Token id of `PAREN)`.
pub const PAREN_CLOSE: TokenId = 15;
/// Token id of `SUB(`.
pub const SUB_OPEN: TokenId = 16;
/// Token id of `SUB)`.
pub const SUB_CLOSE: TokenId = 17;
/// Token id of `SUP(`.
pub const SUP_OPEN: TokenId = 18;
/// Token id of `SUP)`.
pub const SUP_CLOSE: TokenId = 19;

/// The 20 motif classes (one per kind of rendered symbol), in class-id order: 0-9 are the
/// digits, then the letters, `+`, the parentheses and the fraction bar.
pub const MOTIF_CLASSES: [&str; 20] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "x", "y", "z", "+", "(", ")",
    "bar",
];

/// Motif class of `+`.
pub const CLASS_PLUS: usize = 16;
/// Motif class of `(`.
pub const CLASS_OPEN: usize = 17;
/// Motif class of `)`.
pub const CLASS_CLOSE: usize = 18;
/// Motif class of the fraction bar.
pub const CLASS_BAR: usize = 19;

/// The token of a base symbol `s` given as its motif class (0-9 digits, 10-15 a b c x y z).
pub fn sym_token(class: u8) -> TokenId {
    debug_assert!(class < 16);
    if class < 10 {
        1 + usize::from(class)
    } else {
        20 + usize::from(class - 10)
    }
}

/// The base symbol (as its motif class) of a token, if it is one of `s`.
pub fn token_sym(token: TokenId) -> Option<u8> {
    match token {
        1..=10 => Some((token - 1) as u8),
        20..=25 => Some((token - 20 + 10) as u8),
        _ => None,
    }
}

/// Superscript or subscript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// `s SUP( s SUP)`.
    Sup,
    /// `s SUB( s SUB)`.
    Sub,
}

/// A node of a formula tree; a formula (and a row: a numerator, a bracket's content) is a
/// `Vec<Node>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A base symbol (motif class 0-15), optionally with a script symbol.
    Sym {
        /// The base symbol's class.
        base: u8,
        /// The script kind and its symbol's class.
        script: Option<(Script, u8)>,
    },
    /// `+`.
    Plus,
    /// `PAREN( line PAREN)`.
    Paren(Vec<Node>),
    /// `FRAC( start FRACMID start FRAC)`: numerator, denominator.
    Frac(Vec<Node>, Vec<Node>),
}

/// The token sequence of a row of nodes.
pub fn to_tokens(row: &[Node]) -> Vec<TokenId> {
    fn go(row: &[Node], out: &mut Vec<TokenId>) {
        for n in row {
            match n {
                Node::Sym { base, script } => {
                    out.push(sym_token(*base));
                    if let Some((kind, s)) = script {
                        let (open, close) = match kind {
                            Script::Sup => (SUP_OPEN, SUP_CLOSE),
                            Script::Sub => (SUB_OPEN, SUB_CLOSE),
                        };
                        out.extend([open, sym_token(*s), close]);
                    }
                }
                Node::Plus => out.push(PLUS),
                Node::Paren(inner) => {
                    out.push(PAREN_OPEN);
                    go(inner, out);
                    out.push(PAREN_CLOSE);
                }
                Node::Frac(num, den) => {
                    out.push(FRAC_OPEN);
                    go(num, out);
                    out.push(FRAC_MID);
                    go(den, out);
                    out.push(FRAC_CLOSE);
                }
            }
        }
    }
    let mut out = Vec::new();
    go(row, &mut out);
    out
}

/// The number of rendered symbols (motifs) of a row: every `s`, `+`, both parentheses of a
/// bracket and one fraction bar per fraction (`FRACMID`, `FRAC)` and the script markers render
/// nothing).
pub fn rendered_symbols(row: &[Node]) -> usize {
    row.iter()
        .map(|n| match n {
            Node::Sym { script, .. } => 1 + usize::from(script.is_some()),
            Node::Plus => 1,
            Node::Paren(inner) => 2 + rendered_symbols(inner),
            Node::Frac(num, den) => 1 + rendered_symbols(num) + rendered_symbols(den),
        })
        .sum()
}

/// Probability of each grammar rule's recursive alternative: 0.25 / (1 + 0.25).
const RECURSE: f64 = 0.2;

/// Draws one formula from the grammar, giving up (`None`) as soon as it has more than `limit`
/// tokens. Consumes the stream in derivation order: one `f64` per rule choice, then `u32`
/// ranges for `sym` (3 ways) and `s` (16 ways).
fn draw_bounded<R: Rng + ?Sized>(rng: &mut R, limit: usize) -> Option<Vec<Node>> {
    struct Gen<'a, R: Rng + ?Sized> {
        rng: &'a mut R,
        count: usize,
        limit: usize,
    }
    impl<R: Rng + ?Sized> Gen<'_, R> {
        fn add(&mut self, n: usize) -> Option<()> {
            self.count += n;
            (self.count <= self.limit).then_some(())
        }
        fn recurse(&mut self) -> bool {
            self.rng.random::<f64>() < RECURSE
        }
        fn start(&mut self) -> Option<Vec<Node>> {
            if self.recurse() {
                self.add(1)?;
                let num = self.start()?;
                self.add(1)?;
                let den = self.start()?;
                self.add(1)?;
                Some(vec![Node::Frac(num, den)])
            } else {
                let mut row = Vec::new();
                self.line(&mut row)?;
                Some(row)
            }
        }
        fn line(&mut self, row: &mut Vec<Node>) -> Option<()> {
            loop {
                self.term(row)?;
                if !self.recurse() {
                    return Some(());
                }
                self.add(1)?;
                row.push(Node::Plus);
            }
        }
        fn term(&mut self, row: &mut Vec<Node>) -> Option<()> {
            loop {
                self.atom(row)?;
                if !self.recurse() {
                    return Some(());
                }
            }
        }
        fn atom(&mut self, row: &mut Vec<Node>) -> Option<()> {
            if self.recurse() {
                self.add(1)?;
                let mut inner = Vec::new();
                self.line(&mut inner)?;
                self.add(1)?;
                row.push(Node::Paren(inner));
            } else {
                let kind = self.rng.random_range(0..3u32);
                let base = self.s();
                self.add(1)?;
                let script = match kind {
                    0 => None,
                    k => {
                        let s = self.s();
                        self.add(3)?;
                        Some((if k == 1 { Script::Sup } else { Script::Sub }, s))
                    }
                };
                row.push(Node::Sym { base, script });
            }
            Some(())
        }
        fn s(&mut self) -> u8 {
            self.rng.random_range(0..16u32) as u8
        }
    }
    Gen {
        rng,
        count: 0,
        limit,
    }
    .start()
}

/// Draws a formula of exactly `len` tokens (`len >= 1`): the grammar is resampled until it
/// yields that many. A draw stops as soon as it passes `len` tokens (it would be rejected
/// anyway), so the accepted formulas follow the grammar conditioned on the length.
pub fn sample_exact<R: Rng + ?Sized>(rng: &mut R, len: usize) -> Vec<Node> {
    assert!(len >= 1, "a formula has at least one token");
    loop {
        if let Some(row) = draw_bounded(rng, len)
            && to_tokens(&row).len() == len
        {
            return row;
        }
    }
}

/// A token sequence that the grammar cannot produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("formula token {position}: expected {expected}, found {found}")]
pub struct ParseError {
    /// 0-based position of the offending token (the length if the sequence ended early).
    pub position: usize,
    /// What the grammar allows there.
    pub expected: &'static str,
    /// The token found (its symbol, `end of input`, or an out-of-range id).
    pub found: String,
}

/// Parses a token sequence by the grammar (`start`), or says where it breaks.
pub fn parse(tokens: &[TokenId]) -> Result<Vec<Node>, ParseError> {
    struct P<'a> {
        t: &'a [TokenId],
        i: usize,
    }
    impl P<'_> {
        fn peek(&self) -> Option<TokenId> {
            self.t.get(self.i).copied()
        }
        fn err(&self, expected: &'static str) -> ParseError {
            let found = match self.peek() {
                None => "end of input".to_string(),
                Some(t) => TOKEN_SYMBOLS
                    .get(t)
                    .map_or_else(|| format!("token id {t}"), |s| format!("{s:?}")),
            };
            ParseError {
                position: self.i,
                expected,
                found,
            }
        }
        fn eat(&mut self, tok: TokenId, expected: &'static str) -> Result<(), ParseError> {
            if self.peek() == Some(tok) {
                self.i += 1;
                Ok(())
            } else {
                Err(self.err(expected))
            }
        }
        fn start(&mut self) -> Result<Vec<Node>, ParseError> {
            if self.peek() == Some(FRAC_OPEN) {
                self.i += 1;
                let num = self.start()?;
                self.eat(FRAC_MID, "FRACMID")?;
                let den = self.start()?;
                self.eat(FRAC_CLOSE, "FRAC)")?;
                return Ok(vec![Node::Frac(num, den)]);
            }
            let mut row = Vec::new();
            self.line(&mut row)?;
            Ok(row)
        }
        fn line(&mut self, row: &mut Vec<Node>) -> Result<(), ParseError> {
            loop {
                self.atom(row)?;
                while matches!(self.peek(), Some(t) if t == PAREN_OPEN || token_sym(t).is_some()) {
                    self.atom(row)?;
                }
                if self.peek() != Some(PLUS) {
                    return Ok(());
                }
                self.i += 1;
                row.push(Node::Plus);
            }
        }
        fn atom(&mut self, row: &mut Vec<Node>) -> Result<(), ParseError> {
            if self.peek() == Some(PAREN_OPEN) {
                self.i += 1;
                let mut inner = Vec::new();
                self.line(&mut inner)?;
                self.eat(PAREN_CLOSE, "PAREN) or +")?;
                row.push(Node::Paren(inner));
                return Ok(());
            }
            let base = self.s("a symbol or PAREN(")?;
            let script = match self.peek() {
                Some(SUP_OPEN) => {
                    self.i += 1;
                    let s = self.s("a symbol")?;
                    self.eat(SUP_CLOSE, "SUP)")?;
                    Some((Script::Sup, s))
                }
                Some(SUB_OPEN) => {
                    self.i += 1;
                    let s = self.s("a symbol")?;
                    self.eat(SUB_CLOSE, "SUB)")?;
                    Some((Script::Sub, s))
                }
                _ => None,
            };
            row.push(Node::Sym { base, script });
            Ok(())
        }
        fn s(&mut self, expected: &'static str) -> Result<u8, ParseError> {
            match self.peek().and_then(token_sym) {
                Some(c) => {
                    self.i += 1;
                    Ok(c)
                }
                None => Err(self.err(expected)),
            }
        }
    }
    let mut p = P { t: tokens, i: 0 };
    let row = p.start()?;
    if p.i != tokens.len() {
        return Err(p.err("end of input"));
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sample_rng;

    #[test]
    fn formula_tokens_and_classes_agree() {
        for class in 0..16u8 {
            let t = sym_token(class);
            assert_eq!(token_sym(t), Some(class));
            assert_eq!(TOKEN_SYMBOLS[t], MOTIF_CLASSES[usize::from(class)]);
        }
        let non_sym = (0..26).filter(|&t| token_sym(t).is_none()).count();
        assert_eq!(non_sym, 10);
    }

    #[test]
    fn formula_samples_parse_back_and_have_the_drawn_length() {
        let mut rng = sample_rng(3, 0);
        for len in 1..=30 {
            for _ in 0..20 {
                let row = sample_exact(&mut rng, len);
                let tokens = to_tokens(&row);
                assert_eq!(tokens.len(), len);
                assert_eq!(parse(&tokens).unwrap(), row, "{tokens:?}");
            }
        }
    }

    #[test]
    fn formula_parser_rejects_what_the_grammar_cannot_make() {
        let sym = |c: u8| sym_token(c);
        let bad: [(Vec<TokenId>, usize); 7] = [
            (vec![], 0),
            (vec![PLUS], 0),
            (vec![sym(1), PLUS], 2),
            (vec![sym(1), SUP_OPEN, sym(2)], 3),
            (vec![PAREN_OPEN, sym(1)], 2),
            // a fraction is a whole `start`, not part of a line
            (
                vec![sym(1), FRAC_OPEN, sym(1), FRAC_MID, sym(2), FRAC_CLOSE],
                1,
            ),
            (vec![FRAC_OPEN, sym(1), FRAC_CLOSE], 2),
        ];
        for (tokens, at) in bad {
            let e = parse(&tokens).unwrap_err();
            assert_eq!(e.position, at, "{tokens:?}: {e}");
        }
        let e = parse(&[sym(1), 40]).unwrap_err().to_string();
        assert!(e.contains("token id 40"), "{e}");
    }

    #[test]
    fn formula_parser_on_mutated_sequences_never_panics_and_round_trips() {
        // Valid formulas with one token replaced, inserted or deleted (ids up to 29, some out of
        // the vocabulary): the parser answers without panicking, and whatever it accepts
        // serialises back to the same tokens.
        let mut rng = sample_rng(6, 2);
        let (mut accepted, mut rejected) = (0usize, 0usize);
        for _ in 0..5000 {
            let len = rng.random_range(1..=30usize);
            let mut tokens = to_tokens(&sample_exact(&mut rng, len));
            let at = rng.random_range(0..=tokens.len());
            let tok = rng.random_range(0..30usize);
            match rng.random_range(0..3u32) {
                0 if at < tokens.len() => tokens[at] = tok,
                1 => tokens.insert(at, tok),
                _ if at < tokens.len() => {
                    tokens.remove(at);
                }
                _ => tokens.push(tok),
            }
            match parse(&tokens) {
                Ok(row) => {
                    assert_eq!(to_tokens(&row), tokens);
                    accepted += 1;
                }
                Err(e) => {
                    assert!(e.position <= tokens.len());
                    rejected += 1;
                }
            }
        }
        assert!(accepted > 200 && rejected > 200, "{accepted} / {rejected}");
    }

    #[test]
    fn formula_draws_follow_the_grammar_weights() {
        // Unconstrained draws (no length limit to speak of): the chance of a top-level fraction
        // is 0.2, and a symbol carries a script 2/3 of the time.
        let mut rng = sample_rng(5, 1);
        let (mut fracs, mut syms, mut scripted) = (0usize, 0usize, 0usize);
        let n = 4000;
        for _ in 0..n {
            let row = draw_bounded(&mut rng, usize::MAX).expect("no limit");
            fracs += usize::from(matches!(row[0], Node::Frac(..)));
            let tokens = to_tokens(&row);
            syms += tokens.iter().filter(|&&t| token_sym(t).is_some()).count();
            scripted += tokens
                .iter()
                .filter(|&&t| t == SUP_OPEN || t == SUB_OPEN)
                .count();
        }
        let p = fracs as f64 / n as f64;
        assert!((p - 0.2).abs() < 0.025, "top-level fraction rate {p}");
        // every script adds one symbol: scripted / (syms - scripted) bases are scripted
        let q = scripted as f64 / (syms - scripted) as f64;
        assert!((q - 2.0 / 3.0).abs() < 0.03, "scripted base rate {q}");
    }
}

//! Digit stamps: the binary glyphs the DigitCircle and SingleDigit domains paste into images.
//!
//! # File format
//!
//! ```text
//! # comment lines (only before the first block)
//!
//! digit 0  12x9
//! .........
//! ...###...
//! ...
//! ```
//!
//! Before the first block, only blank lines and lines starting with `#` are allowed. Each block
//! starts with a header `digit D  HxW` (D a single decimal digit, H rows, W columns, both > 0)
//! followed by exactly H rows of exactly W characters, `#` for ink and `.` for blank. Blocks are
//! separated by blank lines. A digit may be defined only once. Trailing whitespace (including
//! `\r`) is ignored.

use std::path::PathBuf;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The paper's stamp file (10 glyphs, 12 rows, 7-9 columns, 1-pixel blank border), embedded at
/// compile time.
pub const PAPER_STAMPS_TEXT: &str = include_str!("../assets/digit_stamps.txt");

/// One binary glyph of a digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The digit it draws (0-9); also its motif class and token id.
    pub digit: u8,
    /// The glyph, `true` = ink, shape (rows, cols).
    pub pixels: Array2<bool>,
}

impl Stamp {
    /// Number of rows.
    pub fn height(&self) -> usize {
        self.pixels.nrows()
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.pixels.ncols()
    }

    /// Fraction of the stamp's rectangle that is ink.
    pub fn ink_fraction(&self) -> f64 {
        let ink = self.pixels.iter().filter(|&&p| p).count();
        ink as f64 / self.pixels.len() as f64
    }
}

/// A set of stamps with distinct digits, sorted by digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampSet {
    stamps: Vec<Stamp>,
}

impl StampSet {
    /// The paper's stamps (the embedded `assets/digit_stamps.txt`).
    pub fn paper() -> Self {
        Self::parse(PAPER_STAMPS_TEXT).expect("the embedded stamp asset is valid (tested)")
    }

    /// Parses the text format described in the [module docs](self).
    pub fn parse(text: &str) -> Result<Self> {
        // (digit, header line, declared h, declared w, rows)
        struct Block {
            digit: u8,
            line: usize,
            h: usize,
            w: usize,
            rows: Vec<Vec<bool>>,
        }
        fn finish(block: Block, stamps: &mut Vec<(usize, Stamp)>) -> Result<()> {
            if block.rows.len() != block.h {
                return Err(Error::StampRowCount {
                    line: block.line,
                    digit: block.digit,
                    expected: block.h,
                    found: block.rows.len(),
                });
            }
            if let Some((first_line, _)) = stamps.iter().find(|(_, s)| s.digit == block.digit) {
                return Err(Error::StampDuplicate {
                    line: block.line,
                    first_line: *first_line,
                    digit: block.digit,
                });
            }
            let flat: Vec<bool> = block.rows.into_iter().flatten().collect();
            let pixels = Array2::from_shape_vec((block.h, block.w), flat)
                .expect("rows were checked to have the declared width");
            stamps.push((
                block.line,
                Stamp {
                    digit: block.digit,
                    pixels,
                },
            ));
            Ok(())
        }

        let mut stamps: Vec<(usize, Stamp)> = Vec::new();
        let mut current: Option<Block> = None;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim_end();
            if line.is_empty() {
                if let Some(block) = current.take() {
                    finish(block, &mut stamps)?;
                }
                continue;
            }
            match current.as_mut() {
                Some(block) => {
                    if line.starts_with("digit") {
                        // A header right after a block without a blank line in between.
                        let block = current.take().expect("matched Some");
                        finish(block, &mut stamps)?;
                        current = Some(parse_header(line, line_no)?);
                        continue;
                    }
                    let mut row = Vec::with_capacity(block.w);
                    for ch in line.chars() {
                        match ch {
                            '#' => row.push(true),
                            '.' => row.push(false),
                            other => {
                                return Err(Error::StampBadChar {
                                    line: line_no,
                                    digit: block.digit,
                                    ch: other,
                                });
                            }
                        }
                    }
                    if row.len() != block.w {
                        return Err(Error::StampRaggedRow {
                            line: line_no,
                            digit: block.digit,
                            expected: block.w,
                            found: row.len(),
                        });
                    }
                    if block.rows.len() == block.h {
                        return Err(Error::StampRowCount {
                            line: block.line,
                            digit: block.digit,
                            expected: block.h,
                            found: block.rows.len() + 1,
                        });
                    }
                    block.rows.push(row);
                }
                None => {
                    if stamps.is_empty() && line.starts_with('#') {
                        continue; // preamble comment
                    }
                    current = Some(parse_header(line, line_no)?);
                }
            }
        }
        if let Some(block) = current.take() {
            finish(block, &mut stamps)?;
        }

        fn parse_header(line: &str, line_no: usize) -> Result<Block> {
            let bad = |reason: &str| Error::StampHeader {
                line: line_no,
                found: line.to_string(),
                reason: reason.to_string(),
            };
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.len() != 3 || parts[0] != "digit" {
                return Err(bad("a header has three fields: `digit`, the digit, `HxW`"));
            }
            let digit = match parts[1].as_bytes() {
                [d @ b'0'..=b'9'] => d - b'0',
                _ => return Err(bad("the digit must be one of 0-9")),
            };
            let (h, w) = parts[2]
                .split_once('x')
                .ok_or_else(|| bad("the size must read HxW"))?;
            let h: usize = h.parse().map_err(|_| bad("the height is not a number"))?;
            let w: usize = w.parse().map_err(|_| bad("the width is not a number"))?;
            if h == 0 || w == 0 {
                return Err(bad("the height and width must be positive"));
            }
            Ok(Block {
                digit,
                line: line_no,
                h,
                w,
                rows: Vec::with_capacity(h),
            })
        }

        if stamps.is_empty() {
            return Err(Error::StampEmpty);
        }
        let mut stamps: Vec<Stamp> = stamps.into_iter().map(|(_, s)| s).collect();
        stamps.sort_by_key(|s| s.digit);
        Ok(Self { stamps })
    }

    /// Builds a set from stamps (sorted by digit); errors on duplicates or an empty list.
    pub fn from_stamps(mut stamps: Vec<Stamp>) -> Result<Self> {
        if stamps.is_empty() {
            return Err(Error::StampEmpty);
        }
        stamps.sort_by_key(|s| s.digit);
        for pair in stamps.windows(2) {
            if pair[0].digit == pair[1].digit {
                return Err(Error::StampDuplicate {
                    line: 0,
                    first_line: 0,
                    digit: pair[0].digit,
                });
            }
        }
        if let Some(s) = stamps.iter().find(|s| s.pixels.is_empty()) {
            return Err(Error::StampHeader {
                line: 0,
                found: format!("digit {}", s.digit),
                reason: "a stamp must have at least one row and one column".into(),
            });
        }
        Ok(Self { stamps })
    }

    /// The stamps, sorted by digit.
    pub fn stamps(&self) -> &[Stamp] {
        &self.stamps
    }

    /// Number of stamps.
    pub fn len(&self) -> usize {
        self.stamps.len()
    }

    /// Whether the set is empty (never true for a constructed set).
    pub fn is_empty(&self) -> bool {
        self.stamps.is_empty()
    }

    /// The stamp of `digit`, if the set has one.
    pub fn get(&self, digit: u8) -> Option<&Stamp> {
        self.stamps.iter().find(|s| s.digit == digit)
    }

    /// Mean over the stamps of each stamp's ink fraction (the reference's "background
    /// percentage" b; 0.250380 for the paper's stamps). The pre-noise rate is a multiple of it.
    pub fn mean_ink_fraction(&self) -> f64 {
        self.stamps.iter().map(Stamp::ink_fraction).sum::<f64>() / self.stamps.len() as f64
    }

    /// The largest height over the stamps.
    pub fn max_height(&self) -> usize {
        self.stamps.iter().map(Stamp::height).max().unwrap_or(0)
    }

    /// The largest width over the stamps.
    pub fn max_width(&self) -> usize {
        self.stamps.iter().map(Stamp::width).max().unwrap_or(0)
    }

    /// Renders the set back into the text format ([`StampSet::parse`] reads it back).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.stamps.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&format!(
                "digit {}  {}x{}\n",
                s.digit,
                s.height(),
                s.width()
            ));
            for row in s.pixels.rows() {
                out.extend(row.iter().map(|&p| if p { '#' } else { '.' }));
                out.push('\n');
            }
        }
        out
    }
}

/// Where a domain's stamps come from (serde: `"paper"`, `{"text": "..."}` or
/// `{"file": "path"}`; any other value is refused with those three forms listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StampSource {
    /// The paper's stamps, embedded in the crate.
    #[default]
    Paper,
    /// Stamps given inline in the text format.
    Text(String),
    /// Stamps read from a file in the text format.
    File(PathBuf),
}

/// The three accepted forms, for error messages.
const STAMP_FORMS: &str = r#""paper", {"text": "<stamps>"} or {"file": "<path>"}"#;

impl<'de> Deserialize<'de> for StampSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Forms;
        impl<'de> serde::de::Visitor<'de> for Forms {
            type Value = StampSource;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "{STAMP_FORMS}")
            }

            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                match v {
                    "paper" => Ok(StampSource::Paper),
                    other => Err(E::custom(format!(
                        "stamps must be {STAMP_FORMS}, got the string {other:?}"
                    ))),
                }
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                use serde::de::Error as _;
                let bad = |what: String| {
                    A::Error::custom(format!("stamps must be {STAMP_FORMS}, got {what}"))
                };
                let Some(key) = map.next_key::<String>()? else {
                    return Err(bad("an empty object".into()));
                };
                let source = match key.as_str() {
                    "text" => StampSource::Text(map.next_value()?),
                    "file" => StampSource::File(map.next_value()?),
                    other => return Err(bad(format!("an object with the key {other:?}"))),
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(bad(format!("a second key {extra:?}")));
                }
                Ok(source)
            }
        }
        d.deserialize_any(Forms)
    }
}

impl StampSource {
    /// Loads and parses the stamps.
    pub fn load(&self) -> Result<StampSet> {
        match self {
            StampSource::Paper => Ok(StampSet::paper()),
            StampSource::Text(text) => StampSet::parse(text),
            StampSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| Error::StampIo {
                    path: path.clone(),
                    source,
                })?;
                StampSet::parse(&text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_source_forms_and_their_message() {
        let parse = |t: &str| serde_json::from_str::<StampSource>(t);
        assert_eq!(parse(r#""paper""#).unwrap(), StampSource::Paper);
        assert_eq!(
            parse(r#"{"text": "x"}"#).unwrap(),
            StampSource::Text("x".into())
        );
        assert_eq!(
            parse(r#"{"file": "a/b"}"#).unwrap(),
            StampSource::File("a/b".into())
        );
        for (bad, got) in [
            (r#""bogus""#, r#"got the string "bogus""#),
            (r#""text""#, r#"got the string "text""#),
            (r#"{"path": "x"}"#, r#"the key "path""#),
            (r#"{}"#, "an empty object"),
            (r#"{"text": "x", "file": "y"}"#, r#"a second key "file""#),
            ("3", "integer `3`"),
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains(STAMP_FORMS) && e.contains(got), "{bad}: {e}");
            assert!(!e.contains("unknown variant"), "{bad}: {e}");
        }
        // Written as read.
        for s in [StampSource::Paper, StampSource::Text("t".into())] {
            assert_eq!(parse(&serde_json::to_string(&s).unwrap()).unwrap(), s);
        }
    }

    #[test]
    fn stamps_paper_asset_parses() {
        let set = StampSet::paper();
        assert_eq!(set.len(), 10);
        for (i, s) in set.stamps().iter().enumerate() {
            assert_eq!(s.digit as usize, i);
            assert_eq!(s.height(), 12);
            assert!(
                (7..=9).contains(&s.width()),
                "digit {} width {}",
                s.digit,
                s.width()
            );
            // 1-pixel blank border
            let (h, w) = (s.height(), s.width());
            for r in 0..h {
                assert!(!s.pixels[[r, 0]] && !s.pixels[[r, w - 1]]);
            }
            for c in 0..w {
                assert!(!s.pixels[[0, c]] && !s.pixels[[h - 1, c]]);
            }
        }
        assert!(
            (set.mean_ink_fraction() - 0.250380).abs() < 5e-7,
            "{}",
            set.mean_ink_fraction()
        );
        assert_eq!(set.max_height(), 12);
        assert_eq!(set.max_width(), 9);
        // digit 1, row 1 is "...#..."
        let one = set.get(1).unwrap();
        let row: Vec<bool> = one.pixels.row(1).to_vec();
        assert_eq!(row, vec![false, false, false, true, false, false, false]);
    }

    #[test]
    fn stamps_text_roundtrip() {
        let set = StampSet::paper();
        assert_eq!(StampSet::parse(&set.to_text()).unwrap(), set);
    }

    const GOOD: &str = "# c\n\ndigit 3  2x3\n.#.\n##.\n\ndigit 1  1x2\n#.\n";

    #[test]
    fn stamps_small_file_parses_and_sorts() {
        let set = StampSet::parse(GOOD).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.stamps()[0].digit, 1);
        assert_eq!(set.stamps()[1].digit, 3);
        assert_eq!(
            set.stamps()[1].pixels,
            ndarray::array![[false, true, false], [true, true, false]]
        );
        // CRLF line endings and a header right after a block also parse
        let crlf = "digit 3  2x3\r\n.#.\r\n##.\r\ndigit 1  1x2\r\n#.\r\n";
        assert_eq!(StampSet::parse(crlf).unwrap(), set);
    }

    #[test]
    fn stamps_wrong_header_is_an_error() {
        for bad in [
            "digits 3  2x3\n.#.\n##.\n",
            "digit 12  2x3\n.#.\n##.\n",
            "digit x  2x3\n.#.\n##.\n",
            "digit 3  2by3\n.#.\n##.\n",
            "digit 3  0x3\n",
            "digit 3\n.#.\n",
            "hello\n",
        ] {
            let err = StampSet::parse(bad).unwrap_err();
            assert!(
                matches!(err, Error::StampHeader { line: 1, .. }),
                "{bad:?}: {err}"
            );
        }
        // a comment after the first block is not allowed
        let err = StampSet::parse("digit 1  1x1\n#\n\n# late comment\n").unwrap_err();
        assert!(matches!(err, Error::StampHeader { line: 4, .. }), "{err}");
    }

    #[test]
    fn stamps_ragged_row_is_an_error() {
        let err = StampSet::parse("digit 3  2x3\n.#.\n##\n").unwrap_err();
        assert!(
            matches!(
                err,
                Error::StampRaggedRow {
                    line: 3,
                    digit: 3,
                    expected: 3,
                    found: 2
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("line 3") && msg.contains("2 columns"), "{msg}");
    }

    #[test]
    fn stamps_bad_character_is_an_error() {
        let err = StampSet::parse("digit 3  2x3\n.#.\n#x.\n").unwrap_err();
        assert!(
            matches!(
                err,
                Error::StampBadChar {
                    line: 3,
                    digit: 3,
                    ch: 'x'
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn stamps_wrong_row_count_is_an_error() {
        let err = StampSet::parse("digit 3  3x3\n.#.\n##.\n\ndigit 1  1x1\n#\n").unwrap_err();
        assert!(
            matches!(
                err,
                Error::StampRowCount {
                    line: 1,
                    digit: 3,
                    expected: 3,
                    found: 2
                }
            ),
            "{err}"
        );
        let err = StampSet::parse("digit 3  1x3\n.#.\n##.\n").unwrap_err();
        assert!(
            matches!(
                err,
                Error::StampRowCount {
                    expected: 1,
                    found: 2,
                    ..
                }
            ),
            "{err}"
        );
        // truncated file (last block short)
        let err = StampSet::parse("digit 3  4x3\n.#.\n").unwrap_err();
        assert!(
            matches!(
                err,
                Error::StampRowCount {
                    expected: 4,
                    found: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn stamps_duplicate_digit_is_an_error() {
        let err = StampSet::parse("digit 3  1x1\n#\n\ndigit 3  1x1\n.\n").unwrap_err();
        assert!(
            matches!(
                err,
                Error::StampDuplicate {
                    line: 4,
                    first_line: 1,
                    digit: 3
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn stamps_empty_file_is_an_error() {
        assert!(matches!(
            StampSet::parse("# only a comment\n\n"),
            Err(Error::StampEmpty)
        ));
        assert!(matches!(
            StampSet::from_stamps(vec![]),
            Err(Error::StampEmpty)
        ));
    }

    #[test]
    fn stamps_source_loads_file_and_reports_missing_file() {
        let dir = std::env::temp_dir().join(format!("sparling-stamps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.txt");
        std::fs::write(&path, GOOD).unwrap();
        let set = StampSource::File(path.clone()).load().unwrap();
        assert_eq!(set, StampSet::parse(GOOD).unwrap());
        std::fs::remove_file(&path).unwrap();
        let err = StampSource::File(path).load().unwrap_err();
        assert!(matches!(err, Error::StampIo { .. }), "{err}");
        assert_eq!(StampSource::Paper.load().unwrap(), StampSet::paper());
        let json = serde_json::to_string(&StampSource::Text("x".into())).unwrap();
        assert_eq!(json, r#"{"text":"x"}"#);
        assert_eq!(
            serde_json::to_string(&StampSource::Paper).unwrap(),
            r#""paper""#
        );
    }
}

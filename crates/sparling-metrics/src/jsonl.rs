//! Scoring motif maps stored as JSON Lines, whatever framework produced them (the input of
//! `sparling score-motifs`).
//!
//! One JSON object per line (blank lines are skipped), for a 2-D map:
//!
//! ```json
//! {"shape": [C, H, W], "active": [[c, h, w, value], ...], "motifs": [{"class": "7", "rows": [r0, r1], "cols": [c0, c1]}, ...]}
//! ```
//!
//! and for a 1-D map:
//!
//! ```json
//! {"shape": [C, L], "active": [[c, l, value], ...], "motifs": [{"class": "7", "span": [l0, l1]}, ...]}
//! ```
//!
//! * `active` lists the nonzero entries of the post-ReLU map (entries not listed are 0; listed
//!   zeros are allowed). Indices are non-negative integers inside `shape`; values are finite
//!   and >= 0 (they are read as `f32`); an entry may not be listed twice.
//! * `motifs` lists the ground-truth motifs in placement order; their order matters (see
//!   [`crate::sample`]). Footprint ranges are **half-open**: `"rows": [r0, r1]` covers rows
//!   `r0 <= h < r1`, like the slice `m[:, r0:r1, c0:c1]`; they must be non-empty and inside the
//!   shape.
//! * `class` is any string label (a non-negative integer is accepted and read as its decimal
//!   string). Classes are numbered in sorted order at the end: numerically if every label is an
//!   integer, else lexicographically.
//! * Every line must have the same number of channels `C`; `H`, `W` and `L` may vary.
//! * Other keys are ignored.
//!
//! Any problem is reported as [`Error::Line`] with the 1-based line number.

use std::collections::HashMap;
use std::io::BufRead;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::confusion::Confusion;
use crate::error::{Error, Result};
use crate::motif::{Activation, MapShape, Motif};
use crate::sample::{ScoreOptions, score_sparse};

/// A footprint hit by several channels, located by line (when
/// [`ScoreOptions::record_multi_hits`] is set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LineMultiHit {
    /// The 1-based line number of the sample.
    pub line: usize,
    /// Index of the motif in the line's `motifs` list.
    pub motif: usize,
    /// The motif's class label.
    pub class: String,
    /// The active channels, in increasing order, with their maximum over the footprint.
    pub channels: Vec<(usize, f32)>,
}

/// The result of scoring a JSONL input.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonlScore {
    /// The accumulated table, with the class labels as class names (sorted, see the module
    /// docs).
    pub confusion: Confusion,
    /// Number of samples (non-blank lines) read.
    pub samples: usize,
    /// Footprints hit by several channels; empty unless requested.
    pub multi_hits: Vec<LineMultiHit>,
}

/// Streaming scorer of JSONL records: feed lines with [`JsonlScorer::add_line`], then call
/// [`JsonlScorer::finish`]. Only the count table is kept, never the maps.
#[derive(Clone, Debug)]
pub struct JsonlScorer {
    options: ScoreOptions,
    confusion: Option<Confusion>,
    ids: HashMap<String, usize>,
    samples: usize,
    multi_hits: Vec<LineMultiHit>,
}

impl JsonlScorer {
    /// A scorer with no samples yet.
    pub fn new(options: ScoreOptions) -> Self {
        JsonlScorer {
            options,
            confusion: None,
            ids: HashMap::new(),
            samples: 0,
            multi_hits: Vec::new(),
        }
    }

    /// Scores one line (`line` is its 1-based number, used in errors). Blank lines are
    /// skipped. On error nothing is added.
    pub fn add_line(&mut self, line: usize, text: &str) -> Result<()> {
        if text.trim().is_empty() {
            return Ok(());
        }
        self.add_record(text).map_err(|e| Error::Line {
            line,
            error: Box::new(e),
        })?;
        self.samples += 1;
        for h in self.multi_hits.iter_mut().rev().take_while(|h| h.line == 0) {
            h.line = line;
        }
        Ok(())
    }

    fn add_record(&mut self, text: &str) -> Result<()> {
        let record: Value =
            serde_json::from_str(text).map_err(|e| Error::Format(format!("invalid JSON: {e}")))?;
        let obj = record
            .as_object()
            .ok_or_else(|| Error::Format("expected a JSON object".into()))?;
        let shape = parse_shape(obj)?;
        let active = parse_active(obj, &shape)?;
        let (motifs, labels) = parse_motifs(obj, &shape)?;
        let outcome = score_sparse(shape, &active, &motifs, self.options)?;

        let channels = shape.channels();
        let confusion = self
            .confusion
            .get_or_insert_with(|| Confusion::new(channels, 0));
        if confusion.channels() != channels {
            return Err(Error::SizeMismatch {
                what: "channels (C must be the same on every line)",
                expected: confusion.channels(),
                actual: channels,
            });
        }
        // Map the line's motif indices to global class ids (new labels become new classes).
        let mut outcome = outcome;
        for m in &mut outcome.motifs {
            let label = &labels[m.class];
            m.class = match self.ids.get(label) {
                Some(&id) => id,
                None if confusion.classes() >= MAX_CLASSES => {
                    return Err(Error::Format(format!(
                        "class {label:?}: more than the limit of {MAX_CLASSES} distinct classes"
                    )));
                }
                None => {
                    let id = confusion.push_class(label.clone());
                    self.ids.insert(label.clone(), id);
                    id
                }
            };
        }
        confusion.add(&outcome)?;
        for h in outcome.multi_hits {
            self.multi_hits.push(LineMultiHit {
                line: 0, // filled in by add_line
                motif: h.motif,
                class: labels[h.motif].clone(),
                channels: h.channels,
            });
        }
        Ok(())
    }

    /// Number of samples scored so far.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The result, with classes renumbered in sorted label order; [`Error::NoSamples`] when
    /// no sample was read (an empty input scores nothing, not perfectly).
    pub fn finish(self) -> Result<JsonlScore> {
        let confusion = match self.confusion {
            None => {
                return Err(Error::NoSamples {
                    what: "the motif errors",
                });
            }
            Some(c) => {
                let names: Vec<String> = (0..c.classes()).map(|k| c.class_label(k)).collect();
                let mut order: Vec<usize> = (0..names.len()).collect();
                let numeric: Option<Vec<u128>> = names.iter().map(|n| n.parse().ok()).collect();
                match numeric {
                    Some(v) => order.sort_by_key(|&k| v[k]),
                    None => order.sort_by(|&a, &b| names[a].cmp(&names[b])),
                }
                c.reorder_classes(&order)
            }
        };
        Ok(JsonlScore {
            confusion,
            samples: self.samples,
            multi_hits: self.multi_hits,
        })
    }
}

/// Scores every line of a JSONL input; stops at the first bad line with [`Error::Line`].
///
/// ```
/// use sparling_metrics::{score_jsonl, ScoreOptions};
/// let input = r#"{"shape": [2, 4, 4], "active": [[1, 0, 1, 0.5], [0, 3, 3, 0.2]], "motifs": [{"class": "7", "rows": [0, 2], "cols": [0, 2]}]}"#;
/// let score = score_jsonl(input.as_bytes(), ScoreOptions::default()).unwrap();
/// assert_eq!(score.samples, 1);
/// assert_eq!(score.confusion.fpe(), 0.5); // one of the two activations is outside
/// assert_eq!(score.confusion.optimal_assignment(), vec![None, Some(0)]); // channel 1 -> "7"
/// ```
pub fn score_jsonl<R: BufRead>(reader: R, options: ScoreOptions) -> Result<JsonlScore> {
    let mut scorer = JsonlScorer::new(options);
    for (i, text) in reader.lines().enumerate() {
        let text = text.map_err(|e| Error::Line {
            line: i + 1,
            error: Box::new(e.into()),
        })?;
        scorer.add_line(i + 1, &text)?;
    }
    scorer.finish()
}

fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a Value> {
    obj.get(key)
        .ok_or_else(|| Error::Format(format!("missing key \"{key}\"")))
}

fn as_index(v: &Value, what: &dyn Fn() -> String) -> Result<usize> {
    v.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            Error::Format(format!(
                "{}: expected a non-negative integer, got {v}",
                what()
            ))
        })
}

/// Most channels (`C`) a map may have: the count table holds `(C + 1) x (classes + 1)`
/// entries, so a larger `C` is refused before it is allocated.
pub const MAX_CHANNELS: usize = 4096;
/// Most distinct class labels in one input (the other side of the count table).
pub const MAX_CLASSES: usize = 4096;

fn parse_shape(obj: &Map<String, Value>) -> Result<MapShape> {
    let v = get(obj, "shape")?;
    let dims = v
        .as_array()
        .filter(|a| a.len() == 2 || a.len() == 3)
        .ok_or_else(|| {
            Error::Format(format!("\"shape\": expected [C, H, W] or [C, L], got {v}"))
        })?;
    let d: Vec<usize> = dims
        .iter()
        .enumerate()
        .map(|(i, x)| as_index(x, &|| format!("\"shape\"[{i}]")))
        .collect::<Result<_>>()?;
    if d[0] > MAX_CHANNELS {
        return Err(Error::Format(format!(
            "\"shape\"[0]: {} channels, more than the limit of {MAX_CHANNELS}",
            d[0]
        )));
    }
    Ok(if d.len() == 3 {
        MapShape::two_d(d[0], d[1], d[2])
    } else {
        MapShape::one_d(d[0], d[1])
    })
}

fn parse_active(obj: &Map<String, Value>, shape: &MapShape) -> Result<Vec<Activation>> {
    let v = get(obj, "active")?;
    let list = v
        .as_array()
        .ok_or_else(|| Error::Format(format!("\"active\": expected a list, got {v}")))?;
    let n = shape.dims() + 2;
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            let entry = e.as_array().filter(|a| a.len() == n).ok_or_else(|| {
                let form = if n == 4 {
                    "[c, h, w, value]"
                } else {
                    "[c, l, value]"
                };
                Error::Format(format!("\"active\"[{i}]: expected {form}, got {e}"))
            })?;
            let idx: Vec<usize> = entry[..n - 1]
                .iter()
                .enumerate()
                .map(|(j, x)| as_index(x, &|| format!("\"active\"[{i}][{j}]")))
                .collect::<Result<_>>()?;
            let value = entry[n - 1].as_f64().ok_or_else(|| {
                Error::Format(format!(
                    "\"active\"[{i}]: value {} is not a number",
                    entry[n - 1]
                ))
            })? as f32;
            Ok(if n == 4 {
                Activation::two_d(idx[0], idx[1], idx[2], value)
            } else {
                Activation::one_d(idx[0], idx[1], value)
            })
        })
        .collect()
}

/// Parses the motifs; each gets class id = its own index, with `labels[index]` its label.
fn parse_motifs(obj: &Map<String, Value>, shape: &MapShape) -> Result<(Vec<Motif>, Vec<String>)> {
    let v = get(obj, "motifs")?;
    let list = v
        .as_array()
        .ok_or_else(|| Error::Format(format!("\"motifs\": expected a list, got {v}")))?;
    let mut motifs = Vec::with_capacity(list.len());
    let mut labels = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let o = m.as_object().ok_or_else(|| {
            Error::Format(format!("\"motifs\"[{i}]: expected an object, got {m}"))
        })?;
        let class = o
            .get("class")
            .ok_or_else(|| Error::Format(format!("\"motifs\"[{i}]: missing key \"class\"")))?;
        let label = match class {
            Value::String(s) => s.clone(),
            Value::Number(n) if n.as_u64().is_some() => n.to_string(),
            other => {
                return Err(Error::Format(format!(
                    "\"motifs\"[{i}].class: expected a string, got {other}"
                )));
            }
        };
        let range = |key: &str| -> Result<std::ops::Range<usize>> {
            let r = o
                .get(key)
                .ok_or_else(|| Error::Format(format!("\"motifs\"[{i}]: missing key \"{key}\"")))?;
            let pair = r.as_array().filter(|a| a.len() == 2).ok_or_else(|| {
                Error::Format(format!(
                    "\"motifs\"[{i}].{key}: expected [start, end], got {r}"
                ))
            })?;
            let a = as_index(&pair[0], &|| format!("\"motifs\"[{i}].{key}[0]"))?;
            let b = as_index(&pair[1], &|| format!("\"motifs\"[{i}].{key}[1]"))?;
            Ok(a..b)
        };
        let motif = match shape {
            MapShape::TwoD { .. } => {
                if o.contains_key("span") {
                    return Err(Error::Format(format!(
                        "\"motifs\"[{i}]: \"span\" is for 1-D maps; a [C, H, W] map needs \"rows\" and \"cols\""
                    )));
                }
                Motif::rect(i, range("rows")?, range("cols")?)
            }
            MapShape::OneD { .. } => {
                if o.contains_key("rows") || o.contains_key("cols") {
                    return Err(Error::Format(format!(
                        "\"motifs\"[{i}]: \"rows\"/\"cols\" are for 2-D maps; a [C, L] map needs \"span\""
                    )));
                }
                Motif::span(i, range("span")?)
            }
        };
        motifs.push(motif);
        labels.push(label);
    }
    Ok((motifs, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_error(input: &str) -> (usize, String) {
        match score_jsonl(input.as_bytes(), ScoreOptions::default()) {
            Err(Error::Line { line, error }) => (line, error.to_string()),
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    #[test]
    fn jsonl_scores_2d_and_1d_lines() {
        let input = r#"{"shape": [3, 5, 5], "active": [[2, 0, 0, 0.9], [1, 1, 1, 0.4], [0, 4, 4, 1.0]], "motifs": [{"class": "10", "rows": [0, 2], "cols": [0, 2]}, {"class": "9", "rows": [3, 4], "cols": [0, 5]}]}

{"shape": [3, 8], "active": [[0, 2, 0.5], [0, 7, 0.0]], "motifs": [{"class": 9, "span": [1, 3]}], "id": "extra keys are ignored"}
"#;
        let opts = ScoreOptions {
            record_multi_hits: true,
        };
        let s = score_jsonl(input.as_bytes(), opts).unwrap();
        assert_eq!(s.samples, 2);
        let c = &s.confusion;
        // Numeric labels sort numerically: "9" (id 0) before "10" (id 1).
        assert_eq!(c.class_names().unwrap(), ["9", "10"]);
        assert_eq!(c.count(Some(2), Some(1)), 1); // "10" claimed by channel 2 (0.9 > 0.4)
        assert_eq!(c.count(None, Some(0)), 1); // the first "9" is missed
        assert_eq!(c.count(Some(0), Some(0)), 1); // the 1-D "9" is claimed by channel 0
        assert_eq!(c.count(Some(0), None), 1); // (0, 4, 4) is a false positive
        assert_eq!(c.n_predictions(), 3);
        assert_eq!(c.multi_channel_footprints(), 1);
        assert_eq!(
            s.multi_hits,
            vec![LineMultiHit {
                line: 1,
                motif: 0,
                class: "10".into(),
                channels: vec![(1, 0.4), (2, 0.9)]
            }]
        );
    }

    #[test]
    fn jsonl_string_labels_sort_lexicographically() {
        let input = r#"{"shape": [1, 2, 2], "active": [], "motifs": [{"class": "plus", "rows": [0, 1], "cols": [0, 1]}, {"class": "7", "rows": [1, 2], "cols": [1, 2]}]}"#;
        let s = score_jsonl(input.as_bytes(), ScoreOptions::default()).unwrap();
        assert_eq!(s.confusion.class_names().unwrap(), ["7", "plus"]);
        assert_eq!(s.confusion.fne(), 1.0);
    }

    #[test]
    fn jsonl_empty_input() {
        for input in ["", "\n  \n"] {
            let e = score_jsonl(input.as_bytes(), ScoreOptions::default()).unwrap_err();
            assert!(matches!(e, Error::NoSamples { .. }), "{e}");
        }
    }

    #[test]
    fn jsonl_errors_name_the_line() {
        let good = r#"{"shape": [2, 3, 3], "active": [], "motifs": []}"#;
        let cases: Vec<(String, &str)> = vec![
            (
                format!("{good}\n{{\"shape\": [2, 3, 3], \"active\": [}}"),
                "invalid JSON",
            ),
            (format!("{good}\n[1, 2]"), "expected a JSON object"),
            (
                format!("{good}\n{{\"active\": [], \"motifs\": []}}"),
                "missing key \"shape\"",
            ),
            (
                format!("{good}\n{{\"shape\": [2], \"active\": [], \"motifs\": []}}"),
                "\"shape\"",
            ),
            (
                format!(
                    "{good}\n{{\"shape\": [2, 3, 3], \"active\": [[2, 0, 0, 1.0]], \"motifs\": []}}"
                ),
                "outside the map",
            ),
            (
                format!(
                    "{good}\n{{\"shape\": [2, 3, 3], \"active\": [[0, 0, 3, 1.0]], \"motifs\": []}}"
                ),
                "outside the map",
            ),
            (
                format!(
                    "{good}\n{{\"shape\": [2, 3, 3], \"active\": [[0, -1, 0, 1.0]], \"motifs\": []}}"
                ),
                "non-negative integer",
            ),
            (
                format!(
                    "{good}\n{{\"shape\": [2, 3, 3], \"active\": [[0, 0, 0, -1.0]], \"motifs\": []}}"
                ),
                "finite and >= 0",
            ),
            (
                format!(
                    "{good}\n{{\"shape\": [2, 3, 3], \"active\": [[0, 0, 0, 1e39]], \"motifs\": []}}"
                ),
                "finite and >= 0",
            ),
            (
                format!(
                    "{good}\n{{\"shape\": [2, 3, 3], \"active\": [[0, 0, 0]], \"motifs\": []}}"
                ),
                "[c, h, w, value]",
            ),
            (
                format!(
                    "{good}\n{{\"shape\": [2, 3, 3], \"active\": [[0, 0, 0, 1], [0, 0, 0, 2]], \"motifs\": []}}"
                ),
                "more than once",
            ),
            (
                format!(
                    "{good}\n{{\"shape\": [2, 3, 3], \"active\": [], \"motifs\": [{{\"class\": \"1\", \"rows\": [2, 4], \"cols\": [0, 1]}}]}}"
                ),
                "not a non-empty range inside the map",
            ),
            (
                format!(
                    "{good}\n{{\"shape\": [2, 3, 3], \"active\": [], \"motifs\": [{{\"class\": \"1\", \"rows\": [1, 1], \"cols\": [0, 1]}}]}}"
                ),
                "not a non-empty range inside the map",
            ),
            (
                format!(
                    "{good}\n{{\"shape\": [2, 3, 3], \"active\": [], \"motifs\": [{{\"class\": \"1\", \"span\": [0, 1]}}]}}"
                ),
                "\"span\" is for 1-D maps",
            ),
            (
                format!(
                    "{good}\n{{\"shape\": [2, 3], \"active\": [], \"motifs\": [{{\"class\": \"1\", \"rows\": [0, 1], \"cols\": [0, 1]}}]}}"
                ),
                "are for 2-D maps",
            ),
            (
                format!(
                    "{good}\n{{\"shape\": [2, 3, 3], \"active\": [], \"motifs\": [{{\"rows\": [0, 1], \"cols\": [0, 1]}}]}}"
                ),
                "missing key \"class\"",
            ),
            (
                format!(
                    "{good}\n{{\"shape\": [2, 3, 3], \"active\": [], \"motifs\": [{{\"class\": 1.5, \"rows\": [0, 1], \"cols\": [0, 1]}}]}}"
                ),
                "expected a string",
            ),
            (
                format!("{good}\n{{\"shape\": [3, 3, 3], \"active\": [], \"motifs\": []}}"),
                "channels",
            ),
        ];
        for (input, needle) in cases {
            let (line, msg) = line_error(&input);
            assert_eq!(line, 2, "{input}");
            assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
            let full = score_jsonl(input.as_bytes(), ScoreOptions::default()).unwrap_err();
            assert!(full.to_string().starts_with("line 2: "), "{full}");
        }
    }
}

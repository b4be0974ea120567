//! The `samples.jsonl` format: one JSON object per sample (see the crate README).

use std::io::{BufRead, Write};
use std::path::Path;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sample::{Footprint, Input, Motif, Sample};
use crate::vocab::TokenId;

/// One ground-truth motif of a 2-D sample, as written in `samples.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotifRecord {
    /// The class (the digit).
    pub class: usize,
    /// Footprint rows `[r0, r1)`.
    pub rows: [usize; 2],
    /// Footprint columns `[c0, c1)`.
    pub cols: [usize; 2],
    /// The anchor point `[row, col]` (the stamp's centre point).
    pub anchor: [usize; 2],
}

/// One line of `samples.jsonl`: a binary 2-D sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleRecord {
    /// The seed of the stream the sample came from.
    pub seed: u64,
    /// The sample's index in that stream.
    pub index: u64,
    /// The target y: class token ids (digits), no start/end tokens.
    pub tokens: Vec<TokenId>,
    /// The ground-truth motifs in placement order.
    pub motifs: Vec<MotifRecord>,
    /// The image, one string per row, `'1'` = ink and `'0'` = blank.
    pub image: Vec<String>,
}

impl SampleRecord {
    /// The record of a sample; errors unless the input is a 2-D image of 0/1 values with
    /// rectangle footprints and 2-D anchors.
    pub fn from_sample(seed: u64, index: u64, sample: &Sample) -> Result<Self> {
        let Input::Image(img) = &sample.input else {
            return Err(Error::Record("records hold 2-D images only".into()));
        };
        let mut image = Vec::with_capacity(img.nrows());
        for (r, row) in img.rows().into_iter().enumerate() {
            let mut line = String::with_capacity(row.len());
            for (c, &v) in row.iter().enumerate() {
                line.push(match v {
                    0.0 => '0',
                    1.0 => '1',
                    _ => {
                        return Err(Error::Record(format!(
                            "pixel ({r}, {c}) is {v}, records hold binary images only"
                        )));
                    }
                });
            }
            image.push(line);
        }
        let motifs = sample
            .motifs
            .iter()
            .map(|m| match (&m.footprint, m.anchor.as_slice()) {
                (Footprint::Rect { rows, cols }, &[ar, ac]) => Ok(MotifRecord {
                    class: m.class,
                    rows: *rows,
                    cols: *cols,
                    anchor: [ar, ac],
                }),
                _ => Err(Error::Record("records hold 2-D motifs only".into())),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            seed,
            index,
            tokens: sample.tokens.clone(),
            motifs,
            image,
        })
    }

    /// The sample back (image as 0/1 f32); errors on ragged rows, bad characters or motifs
    /// outside the image.
    pub fn to_sample(&self) -> Result<Sample> {
        let h = self.image.len();
        let w = self.image.first().map_or(0, String::len);
        if let Some((r, line)) = self.image.iter().enumerate().find(|(_, l)| l.len() != w) {
            return Err(Error::Record(format!(
                "sample {}: image row {r} has {} characters, row 0 has {w}",
                self.index,
                line.len()
            )));
        }
        // Every row checked first, so the allocation is the size of the text read.
        let mut data = Vec::with_capacity(h * w);
        for (r, line) in self.image.iter().enumerate() {
            for ch in line.chars() {
                data.push(match ch {
                    '0' => 0.0,
                    '1' => 1.0,
                    other => {
                        return Err(Error::Record(format!(
                            "sample {}: image row {r} has the character {other:?} (only 0 and 1)",
                            self.index
                        )));
                    }
                });
            }
        }
        let img = Array2::from_shape_vec((h, w), data).expect("rows checked");
        let motifs = self
            .motifs
            .iter()
            .map(|m| {
                let footprint = Footprint::Rect {
                    rows: m.rows,
                    cols: m.cols,
                };
                if !footprint.fits_in(&[h, w]) {
                    return Err(Error::Record(format!(
                        "sample {}: motif footprint rows {:?} cols {:?} is empty or leaves the \
                         {h}x{w} image",
                        self.index, m.rows, m.cols
                    )));
                }
                Ok(Motif {
                    class: m.class,
                    footprint,
                    anchor: m.anchor.to_vec(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Sample {
            input: Input::Image(img),
            tokens: self.tokens.clone(),
            motifs,
        })
    }

    /// The record as one JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("records serialise")
    }
}

/// Writes records, one JSON object per line.
pub fn write_jsonl<'a>(
    out: &mut impl Write,
    records: impl IntoIterator<Item = &'a SampleRecord>,
) -> std::io::Result<()> {
    for r in records {
        writeln!(out, "{}", r.to_json_line())?;
    }
    Ok(())
}

/// Parses `samples.jsonl` text (blank lines are skipped); errors name the line.
pub fn parse_jsonl(reader: impl BufRead) -> Result<Vec<SampleRecord>> {
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Error::Record(format!("line {}: {e}", i + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: SampleRecord = serde_json::from_str(&line)
            .map_err(|e| Error::Record(format!("line {}: {e}", i + 1)))?;
        out.push(rec);
    }
    Ok(out)
}

/// Reads a `samples.jsonl` file.
pub fn read_jsonl(path: impl AsRef<Path>) -> Result<Vec<SampleRecord>> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_jsonl(std::io::BufReader::new(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DigitCircle, Domain};

    #[test]
    fn record_roundtrips_digit_circle_samples() {
        let d = DigitCircle::paper();
        let mut buf = Vec::new();
        let samples: Vec<Sample> = (0..5).map(|i| d.sample(11, i)).collect();
        let recs: Vec<SampleRecord> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| SampleRecord::from_sample(11, i as u64, s).unwrap())
            .collect();
        write_jsonl(&mut buf, &recs).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.lines().count(), 5);
        let back = parse_jsonl(text.as_bytes()).unwrap();
        assert_eq!(back, recs);
        for (r, s) in back.iter().zip(&samples) {
            assert_eq!(&r.to_sample().unwrap(), s);
            assert_eq!(r.image.len(), 100);
            assert!(r.image.iter().all(|l| l.len() == 100));
        }
        let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(v["index"], 0);
        assert_eq!(v["seed"], 11);
        assert!(v["motifs"][0]["rows"].is_array());
    }

    #[test]
    fn record_rejects_malformed_input() {
        let d = DigitCircle::paper();
        let mut s = d.sample(0, 0);
        if let Input::Image(a) = &mut s.input {
            a[[0, 0]] = 0.5;
        }
        assert!(SampleRecord::from_sample(0, 0, &s).is_err());
        let good = SampleRecord::from_sample(0, 0, &d.sample(0, 0)).unwrap();
        let mut ragged = good.clone();
        ragged.image[3].pop();
        assert!(
            ragged
                .to_sample()
                .unwrap_err()
                .to_string()
                .contains("row 3")
        );
        let mut badchar = good.clone();
        badchar.image[0].replace_range(0..1, "x");
        assert!(badchar.to_sample().is_err());
        let mut outside = good.clone();
        outside.motifs[0].rows = [95, 107];
        assert!(outside.to_sample().is_err());
        let err = parse_jsonl("{\"index\": 1}\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}

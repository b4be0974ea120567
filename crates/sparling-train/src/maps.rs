//! The motif maps of an evaluation written as JSON Lines in the format `sparling score-motifs`
//! reads (documented in `sparling_metrics::jsonl`): one line per test sample with the map's
//! shape, its surviving (nonzero) activations and the true motifs, so that the maps can be
//! rescored, or compared with another implementation's, without this project's model.
//!
//! Each line also carries keys the scorer ignores: `index` (the sample's index in the test
//! stream), `target` and `predicted` (the true and the greedily decoded class sequences).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use ndarray::ArrayView3;
use serde_json::{Value, json};
use sparling_domains::{Footprint, Motif, TokenId};

use crate::error::{Error, Result};

/// One sample's line (without the newline): `{"index", "shape", "active", "motifs", "target",
/// "predicted"}`. `map` is the post-bottleneck map `(C, H, W)`; values are written as `f32`,
/// which reads back bit for bit.
pub fn map_record(
    index: u64,
    map: ArrayView3<f32>,
    motifs: &[Motif],
    target: &[TokenId],
    predicted: &[TokenId],
) -> String {
    let active: Vec<Value> = map
        .indexed_iter()
        .filter(|(_, v)| **v != 0.0)
        .map(|((c, h, w), v)| json!([c, h, w, v]))
        .collect();
    let motifs: Vec<Value> = motifs
        .iter()
        .map(|m| match &m.footprint {
            Footprint::Rect { rows, cols } => {
                json!({"class": m.class.to_string(), "rows": rows, "cols": cols})
            }
            Footprint::Interval { span } => json!({"class": m.class.to_string(), "span": span}),
        })
        .collect();
    json!({
        "index": index,
        "shape": map.shape(),
        "active": active,
        "motifs": motifs,
        "target": target,
        "predicted": predicted,
    })
    .to_string()
}

/// A JSONL file of motif maps being written: lines go to a temporary file beside `path`,
/// which [`MapDump::finish`] renames into place (a reader never sees half a file); a dump
/// dropped unfinished (an evaluation that failed) removes its temporary file.
pub struct MapDump {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
    lines: u64,
}

impl Drop for MapDump {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl MapDump {
    /// Starts writing the maps to `path` (creating its folder if needed).
    pub fn create(path: &Path) -> Result<MapDump> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = File::create(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
        Ok(MapDump {
            path: path.to_path_buf(),
            tmp,
            writer: Some(BufWriter::new(file)),
            lines: 0,
        })
    }

    /// Appends one sample (see [`map_record`]).
    pub fn add(
        &mut self,
        index: u64,
        map: ArrayView3<f32>,
        motifs: &[Motif],
        target: &[TokenId],
        predicted: &[TokenId],
    ) -> Result<()> {
        let line = map_record(index, map, motifs, target, predicted);
        let writer = self.writer.as_mut().expect("writer present until finish");
        writeln!(writer, "{line}").map_err(|e| Error::io("writing", &self.tmp, e))?;
        self.lines += 1;
        Ok(())
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Flushes the file and moves it into place.
    pub fn finish(mut self) -> Result<()> {
        let writer = self.writer.take().expect("writer present until finish");
        let done = writer
            .into_inner()
            .map_err(|e| Error::io("writing", &self.tmp, e.into_error()))
            .and_then(|file| {
                file.sync_all()
                    .map_err(|e| Error::io("writing", &self.tmp, e))
            })
            .and_then(|()| {
                std::fs::rename(&self.tmp, &self.path)
                    .map_err(|e| Error::io("renaming", &self.path, e))
            });
        if done.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array3;
    use sparling_metrics::{ScoreOptions, score_jsonl};

    use super::*;

    #[test]
    fn a_record_lists_the_nonzero_entries_and_the_footprints() {
        let mut map = Array3::<f32>::zeros((2, 3, 4));
        map[[1, 2, 3]] = 0.1f32 + 0.2f32;
        map[[0, 0, 1]] = 7.0;
        let motifs = [Motif {
            class: 4,
            footprint: Footprint::Rect {
                rows: [0, 2],
                cols: [1, 3],
            },
            anchor: vec![1, 2],
        }];
        let line = map_record(9, map.view(), &motifs, &[4], &[4, 1]);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["index"], 9);
        assert_eq!(v["shape"], json!([2, 3, 4]));
        assert_eq!(v["active"].as_array().unwrap().len(), 2);
        assert_eq!(v["active"][0], json!([0, 0, 1, 7.0]));
        // The f32 value reads back bit for bit.
        let back = v["active"][1][3].as_f64().unwrap() as f32;
        assert_eq!(back.to_bits(), (0.1f32 + 0.2f32).to_bits());
        assert_eq!(
            v["motifs"],
            json!([{"class": "4", "rows": [0, 2], "cols": [1, 3]}])
        );
        assert_eq!(v["predicted"], json!([4, 1]));
        // And the scorer reads it: one true positive of class "4" on channel 0.
        let score = score_jsonl(line.as_bytes(), ScoreOptions::default()).unwrap();
        assert_eq!(score.samples, 1);
        assert_eq!(score.confusion.class_names().unwrap(), ["4".to_string()]);
    }

    #[test]
    fn a_dump_appears_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("maps.jsonl");
        let mut dump = MapDump::create(&path).unwrap();
        assert!(MapDump::create(&dir.path().join("new/sub/maps.jsonl")).is_ok());
        let map = Array3::<f32>::zeros((1, 2, 2));
        dump.add(0, map.view(), &[], &[], &[]).unwrap();
        dump.add(1, map.view(), &[], &[], &[]).unwrap();
        assert!(!path.exists());
        assert_eq!(dump.lines(), 2);
        dump.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "maps.jsonl and new/"
        );
        // An unfinished dump leaves nothing behind.
        let other = dir.path().join("failed.jsonl");
        let mut dump = MapDump::create(&other).unwrap();
        dump.add(0, map.view(), &[], &[], &[]).unwrap();
        drop(dump);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}

//! `sparling score-motifs`: motif errors (FPE, FNE, CE) of maps stored as JSONL, whatever
//! framework produced them. The format is documented in `crates/sparling-metrics/README.md`
//! and in `sparling_metrics::jsonl`.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::PathBuf;

use anyhow::Context;
use sparling_metrics::{JsonlScore, LineMultiHit, MotifReport, ScoreOptions, score_jsonl};
use sparling_train::eval::write_png;
use sparling_train::pictures::confusion_figure;

/// Output formats of `score-motifs`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object: fpe, fne, ce, ce_many_to_one, n_motifs, n_predictions, assignment,
    /// confusion (plus multi_hits with --multi-hits).
    Json,
    /// A Markdown table of the metrics and of the confusion matrix.
    Markdown,
}

/// Arguments of `sparling score-motifs`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// JSONL input, one sample per line: {"shape": [C, H, W], "active": [[c, h, w, value], ...],
    /// "motifs": [{"class": "7", "rows": [r0, r1], "cols": [c0, c1]}, ...]} (1-D: "shape":
    /// [C, L], "active": [[c, l, value], ...], "span": [l0, l1]); ranges are half-open. "-"
    /// reads standard input.
    #[arg(long, value_name = "FILE.jsonl")]
    pub input: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Also write the confusion matrix as a labelled PNG: channels x classes with the counts,
    /// rows ordered so that the optimal assignment (framed) is the diagonal.
    #[arg(long, value_name = "FILE.png")]
    pub heatmap: Option<PathBuf>,
    /// Also list the footprints hit by several channels.
    #[arg(long)]
    pub multi_hits: bool,
}

/// Scores the input and prints the report.
pub fn run(args: Args) -> anyhow::Result<()> {
    let options = ScoreOptions {
        record_multi_hits: args.multi_hits,
    };
    let name = args.input.display().to_string();
    let score = if name == "-" {
        score_jsonl(std::io::stdin().lock(), options)
    } else {
        let file = File::open(&args.input).with_context(|| format!("cannot open {name}"))?;
        score_jsonl(BufReader::new(file), options)
    }
    .with_context(|| format!("scoring {name}"))?;

    if let Some(path) = &args.heatmap {
        let figure = confusion_figure(
            &score.confusion,
            &format!(
                "Motif confusion, {} samples (framed: the assignment)",
                score.samples
            ),
        )?;
        write_png(path, &figure).with_context(|| format!("writing {}", path.display()))?;
    }
    let text = render(&score, args.format, args.multi_hits)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(())
}

/// The JSON report followed by the multi-channel footprints.
#[derive(serde::Serialize)]
struct WithMultiHits<'a> {
    #[serde(flatten)]
    report: &'a MotifReport,
    multi_hits: &'a [LineMultiHit],
}

/// The report in the requested format.
fn render(score: &JsonlScore, format: Format, multi_hits: bool) -> anyhow::Result<String> {
    let report = MotifReport::new(&score.confusion)?;
    Ok(match format {
        // Serialised from structs, so the keys keep the documented order.
        Format::Json if multi_hits => serde_json::to_string_pretty(&WithMultiHits {
            report: &report,
            multi_hits: &score.multi_hits,
        })?,
        Format::Json => serde_json::to_string_pretty(&report)?,
        Format::Markdown => {
            let mut s = format!(
                "Scored {} samples.\n\n{}",
                score.samples,
                report.to_markdown()
            );
            if multi_hits {
                s.push_str("\n| line | motif | class | channels (max) |\n|---:|---:|---|---|\n");
                for h in &score.multi_hits {
                    let ch: Vec<String> = h
                        .channels
                        .iter()
                        .map(|(c, v)| format!("{c} ({v})"))
                        .collect();
                    s.push_str(&format!(
                        "| {} | {} | {} | {} |\n",
                        h.line,
                        h.motif,
                        h.class,
                        ch.join(", ")
                    ));
                }
            }
            s
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_motifs_render_json_and_markdown() {
        let input = r#"{"shape": [2, 4, 4], "active": [[1, 0, 0, 0.5], [0, 0, 1, 0.4], [0, 3, 3, 0.2]], "motifs": [{"class": "7", "rows": [0, 2], "cols": [0, 2]}]}"#;
        let score = score_jsonl(
            input.as_bytes(),
            ScoreOptions {
                record_multi_hits: true,
            },
        )
        .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&render(&score, Format::Json, true).unwrap()).unwrap();
        assert_eq!(v["assignment"], serde_json::json!([null, "7"]));
        assert_eq!(v["n_predictions"], 2);
        assert_eq!(v["multi_hits"][0]["line"], 1);
        let plain = render(&score, Format::Json, false).unwrap();
        let keys: Vec<&str> = plain
            .lines()
            .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
            .map(|l| l.trim().split('"').nth(1).unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "fpe",
                "fne",
                "ce",
                "ce_many_to_one",
                "n_motifs",
                "n_predictions",
                "assignment",
                "confusion"
            ]
        );
        let md = render(&score, Format::Markdown, true).unwrap();
        assert!(md.starts_with("Scored 1 samples."), "{md}");
        assert!(md.contains("| 1 | 0 | 7 | 0 (0.4), 1 (0.5) |"), "{md}");
    }
}

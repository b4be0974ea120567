//! Reading JSON input files: a leading UTF-8 byte-order mark is skipped (editors on Windows
//! write one), and an error names the field where the value went wrong, not only its line.

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The UTF-8 encoding of U+FEFF, which some editors put at the start of a text file.
const BOM: char = '\u{feff}';

/// Parses `text` as a `T`, naming the dotted path of the offending value on error.
pub fn parse_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = (!path.is_empty() && path != "." && !inner.is_syntax() && !inner.is_eof())
            .then_some(path);
        let msg = if field.is_none() && (inner.is_syntax() || inner.is_eof()) {
            format!("not valid JSON: {inner}")
        } else {
            inner.to_string()
        };
        Error::ConfigSyntax { field, msg }
    })?;
    de.end().map_err(|e| Error::ConfigSyntax {
        field: None,
        msg: format!("not valid JSON: {e}"),
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use crate::config::{Profile, TrainConfig};

    fn preset_json() -> String {
        serde_json::to_string_pretty(&TrainConfig::preset(Profile::Quick)).unwrap()
    }

    #[test]
    fn input_a_byte_order_mark_is_skipped() {
        let text = format!("\u{feff}{}", preset_json());
        let c = TrainConfig::from_json(&text).unwrap();
        assert_eq!(c, TrainConfig::preset(Profile::Quick));
    }

    #[test]
    fn input_errors_name_the_field_not_the_file() {
        let text = preset_json().replace("\"batch_size\": 16", "\"batch_size\": \"x\"");
        let e = TrainConfig::from_json(&text).unwrap_err().to_string();
        assert!(
            e.starts_with("config field `batch_size`: invalid type"),
            "{e}"
        );
        assert!(!e.contains("<file>"), "{e}");
        let text = preset_json().replace("\"g_width\": 8", "\"g_width\": -8");
        let e = TrainConfig::from_json(&text).unwrap_err().to_string();
        assert!(e.starts_with("config field `model.g_width`"), "{e}");
        let e = TrainConfig::from_json("{\"domain\": ")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("not valid JSON: EOF"), "{e}");
        let e = TrainConfig::from_json(&format!("{} x", preset_json()))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("not valid JSON: trailing characters"), "{e}");
    }

    #[test]
    fn input_done_at_density_must_be_below_the_initial_density() {
        let mut c = TrainConfig::preset(Profile::Quick);
        if let crate::config::ScheduleConfig::Annealing {
            done_at_density, ..
        } = &mut c.schedule
        {
            *done_at_density = 0.5;
        }
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("`schedule.done_at_density`") && e.contains("initial_density 0.5"),
            "{e}"
        );
    }
}

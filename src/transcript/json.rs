//! The JSON format: the model itself, serialised. Its shape is the model's types
//! (`model::SCHEMA` says which version); tests/cli_transcript.rs freezes it.

use super::model::Transcript;

pub fn render(transcript: &Transcript) -> String {
    match serde_json::to_string_pretty(transcript) {
        Ok(mut json) => {
            json.push('\n');
            json
        }
        // Only a map with keys that are not strings could fail, and the model has none.
        Err(error) => format!("{}\n", serde_json::json!({ "error": error.to_string() })),
    }
}

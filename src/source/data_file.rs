//! Reading the small data files a runbook names (its roster, its inventories): bounded
//! in size, and TOML errors phrased on one line with their line number.

use std::path::Path;

/// Why a data file could not be read; the caller wraps it in its own error type.
#[derive(Debug)]
pub enum DataFileError {
    Unreadable(std::io::Error),
    TooLarge { size: u64 },
}

/// Reads a UTF-8 file of at most `max_bytes`.
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<String, DataFileError> {
    let size = std::fs::metadata(path)
        .map_err(DataFileError::Unreadable)?
        .len();
    if size > max_bytes {
        return Err(DataFileError::TooLarge { size });
    }
    std::fs::read_to_string(path).map_err(DataFileError::Unreadable)
}

/// toml's message with the line it happened on, on one line.
pub fn toml_message(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message.to_string(),
    }
}

//! Reading the small data files a runbook names (its roster, its inventories): bounded
//! in size, and TOML errors phrased on one line with their line number.

use std::io::Read;
use std::path::Path;

/// Why a data file could not be read; the caller wraps it in its own error type.
#[derive(Debug)]
pub enum DataFileError {
    Unreadable(std::io::Error),
    TooLarge { size: u64 },
}

/// Reads a regular UTF-8 file of at most `max_bytes`. A device, a FIFO or a socket is
/// refused before it is opened (`/dev/zero` never ends, a FIFO blocks), and the read
/// itself stops one byte past the limit in case the file grows meanwhile.
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<String, DataFileError> {
    let metadata = std::fs::metadata(path).map_err(DataFileError::Unreadable)?;
    if !metadata.is_file() {
        return Err(DataFileError::Unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    if metadata.len() > max_bytes {
        return Err(DataFileError::TooLarge {
            size: metadata.len(),
        });
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(max_bytes + 1).read_to_string(&mut text))
        .map_err(DataFileError::Unreadable)?;
    if text.len() as u64 > max_bytes {
        return Err(DataFileError::TooLarge {
            size: text.len() as u64,
        });
    }
    Ok(text)
}

/// toml's message with the line it happened on, on one line. Values (which serde
/// quotes with `"`) are left out: the file may not be the one meant, and may hold
/// secrets. Field names (quoted with backticks) stay: they say what to fix.
pub fn toml_message(text: &str, error: &toml::de::Error) -> String {
    let message = redact_quoted(error.message().trim_end());
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message.to_string(),
    }
}

fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        match c {
            '"' => {
                inside = !inside;
                out.push(c);
                if inside {
                    out.push('…');
                }
            }
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_never_reach_a_message() {
        let error = toml::from_str::<toml::Table>("token = sekrit-value").unwrap_err();
        let message = toml_message("token = sekrit-value", &error);
        assert!(!message.contains("sekrit"), "{message}");
        assert_eq!(
            redact_quoted(r#"invalid type: string "hunter2", expected u8"#),
            r#"invalid type: string "…", expected u8"#
        );
    }
}

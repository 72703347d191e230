//! Reading a runbook from disk. Everything that can be wrong with the bytes themselves
//! (missing, a directory, binary, not UTF-8, absurdly large) is caught here, before the
//! parser sees them, so the parser only ever receives reasonable text.

use std::fs;
use std::io::{ErrorKind, Read};
use std::path::Path;

use crate::diagnostic::Code;

use super::SourceFile;

/// Far beyond any runbook a person writes or reviews; larger input is a mistake
/// (a log or an image passed by accident), and refusing it keeps memory bounded.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// A line longer than this is generated or binary data, not something a reviewer can read.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

pub mod codes {
    use crate::diagnostic::Code;

    pub const NOT_FOUND: Code = Code::error("rbk::input::not_found", "the file does not exist");
    pub const IS_DIRECTORY: Code = Code::error(
        "rbk::input::is_directory",
        "a directory was given where a file was expected",
    );
    pub const UNREADABLE: Code =
        Code::error("rbk::input::unreadable", "the file could not be read");
    pub const TOO_LARGE: Code = Code::error(
        "rbk::input::too_large",
        "the file is larger than any runbook should be",
    );
    pub const NOT_UTF8: Code = Code::error("rbk::input::not_utf8", "the file is not UTF-8 text");
    pub const NUL_BYTE: Code = Code::error(
        "rbk::input::nul_byte",
        "the file contains a NUL byte, so it is binary",
    );
    pub const LINE_TOO_LONG: Code = Code::error(
        "rbk::input::line_too_long",
        "a line is longer than a person can review",
    );

    pub const ALL: &[Code] = &[
        NOT_FOUND,
        IS_DIRECTORY,
        UNREADABLE,
        TOO_LARGE,
        NOT_UTF8,
        NUL_BYTE,
        LINE_TOO_LONG,
    ];
}

/// Why a file could not be turned into source text. There is no text to point into,
/// so it carries a position (where there is one) instead of a span.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct InputError {
    pub code: Code,
    pub file: String,
    pub message: String,
    pub help: &'static str,
    /// 1-based line and column, where the problem has a place.
    pub position: Option<(u32, u32)>,
}

impl InputError {
    fn new(code: Code, file: &str, message: String, help: &'static str) -> Self {
        Self {
            code,
            file: file.to_string(),
            message,
            help,
            position: None,
        }
    }

    fn at(mut self, line: usize, column: usize) -> Self {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.position = Some((clamp(line), clamp(column)));
        self
    }
}

/// Reads a runbook file, refusing anything that is not reasonable UTF-8 text.
pub fn load(path: &Path) -> Result<SourceFile, InputError> {
    let name = path.display().to_string();
    let metadata = fs::metadata(path).map_err(|error| io_error(&name, &error))?;
    if metadata.is_dir() {
        return Err(InputError::new(
            codes::IS_DIRECTORY,
            &name,
            "is a directory, not a runbook file".to_string(),
            "name the .rbk files inside it, for example `runbooks/*.rbk`",
        ));
    }
    // Sized from the metadata (capped, as the file may lie or grow), so that a large
    // file is not read into a buffer that doubles as it fills.
    let expected = metadata.len().min(MAX_FILE_BYTES + 1);
    let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    let file = fs::File::open(path).map_err(|error| io_error(&name, &error))?;
    // Read one byte past the limit so a file that grows while we read is still caught.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| io_error(&name, &error))?;
    from_bytes(&name, bytes)
}

/// Validates bytes that came from somewhere other than a file (standard input, tests).
pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<SourceFile, InputError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(InputError::new(
            codes::TOO_LARGE,
            name,
            format!(
                "is larger than {} MiB, the most a runbook may be",
                MAX_FILE_BYTES / (1024 * 1024)
            ),
            "is this the right file? Split a very large runbook into several, or generate fewer steps",
        ));
    }
    if let Some(at) = memchr_nul(&bytes) {
        let (line, column) = byte_position(&bytes, at);
        return Err(InputError::new(
            codes::NUL_BYTE,
            name,
            format!("contains a NUL byte at line {line}, column {column}: this looks like a binary file"),
            "runbooks are plain UTF-8 text; check that the right file was given",
        )
        .at(line, column));
    }
    let mut text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let at = error.utf8_error().valid_up_to();
            let (line, column) = byte_position(error.as_bytes(), at);
            return Err(InputError::new(
                codes::NOT_UTF8,
                name,
                format!("is not valid UTF-8: byte {at} (line {line}, column {column}) cannot be decoded"),
                "save the file as UTF-8; titles in any language are fine once the encoding is UTF-8",
            )
            .at(line, column));
        }
    };
    // One line ending everywhere, so lines, columns, spans and `fmt` output agree
    // whether the file was saved on Windows, an old Mac or anything else. Byte spans
    // (in JSON output) count the text with LF endings.
    let normalized = text.contains('\r');
    if normalized {
        text = text.replace("\r\n", "\n").replace('\r', "\n");
    }
    if let Some((line, length)) = text
        .split('\n')
        .enumerate()
        .map(|(index, line)| (index + 1, line.len()))
        .find(|(_, length)| *length > MAX_LINE_BYTES)
    {
        return Err(InputError::new(
            codes::LINE_TOO_LONG,
            name,
            format!(
                "line {line} is {length} bytes long; the most a line may be is {} KiB",
                MAX_LINE_BYTES / 1024
            ),
            "break long commands or scripts over several lines with a \"\"\"triple-quoted\"\"\" string",
        )
        .at(line, 1));
    }
    Ok(SourceFile::new(name, text).with_normalized_line_endings(normalized))
}

fn memchr_nul(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&byte| byte == 0)
}

/// 1-based line and column (in bytes: the text may not decode) of a byte offset.
fn byte_position(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let line = before.iter().filter(|&&byte| byte == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |newline| newline + 1);
    (line, at - line_start + 1)
}

fn io_error(name: &str, error: &std::io::Error) -> InputError {
    match error.kind() {
        ErrorKind::NotFound => InputError::new(
            codes::NOT_FOUND,
            name,
            "no such file".to_string(),
            "check the path; runbook files usually end in .rbk",
        ),
        ErrorKind::PermissionDenied => InputError::new(
            codes::UNREADABLE,
            name,
            format!("cannot be read: {error}"),
            "check the file's permissions",
        ),
        // A socket, a device, an I/O failure: permissions are not the likely cause.
        _ => InputError::new(
            codes::UNREADABLE,
            name,
            format!("cannot be read: {error}"),
            "give the path of a regular file; sockets and devices are not runbooks",
        ),
    }
}

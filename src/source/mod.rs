//! Source text and positions: spans, files, and reading a runbook from disk safely.

pub mod data_file;
mod file;
mod load;
mod span;

pub use file::SourceFile;
pub use load::{codes, from_bytes, load, InputError, MAX_FILE_BYTES, MAX_LINE_BYTES};
pub use span::Span;

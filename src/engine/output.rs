//! A command's output on its way to the log: redacted as it streams, cut into bounded
//! pieces for the log (whose size must not follow a chatty command's), and kept whole,
//! redacted too, in a file beside the log.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::facts::{Fact, Phase};
use crate::executor::redact::{Redactor, StreamRedactor};
use crate::executor::shell::Stream;

/// The largest piece of output one event holds.
pub const CHUNK_BYTES: usize = 4 * 1024;
/// How much of one command's output the log holds; the rest is in its file.
pub const LOG_BYTES: usize = 64 * 1024;

pub struct CommandOutput {
    streams: [StreamState; 2],
    logged: usize,
    truncated: bool,
    path: PathBuf,
    relative: String,
    file: Option<File>,
}

struct StreamState {
    redactor: StreamRedactor,
    /// Redacted bytes not yet logged: the start of a line.
    pending: Vec<u8>,
}

impl CommandOutput {
    pub fn new(
        run_dir: &Path,
        unit: &str,
        phase: Phase,
        index: usize,
        attempt: u32,
        redactor: &Redactor,
    ) -> Self {
        let phase = serde_json::to_value(phase)
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default();
        let relative = format!(
            "output/{}.{phase}{}.attempt{attempt}.log",
            file_name(unit),
            index + 1
        );
        let state = || StreamState {
            redactor: redactor.stream(),
            pending: Vec::new(),
        };
        Self {
            streams: [state(), state()],
            logged: 0,
            truncated: false,
            path: run_dir.join(&relative),
            relative,
            file: None,
        }
    }

    /// Takes output as it arrives; returns the events for the lines it completes.
    pub fn take(&mut self, unit: &str, stream: Stream, bytes: &[u8]) -> Vec<Fact> {
        let state = &mut self.streams[stream as usize];
        let clean = state.redactor.push(bytes);
        state.pending.extend_from_slice(&clean);
        self.keep(&clean);
        self.pieces(unit, stream, false)
    }

    /// The output's end: what was held back, and a note when the log holds only part.
    pub fn finish(&mut self, unit: &str) -> Vec<Fact> {
        let mut facts = Vec::new();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let state = &mut self.streams[stream as usize];
            let rest =
                std::mem::replace(&mut state.redactor, Redactor::new(Vec::new()).stream()).finish();
            state.pending.extend_from_slice(&rest);
            self.keep(&rest);
            facts.extend(self.pieces(unit, stream, true));
        }
        if let Some(file) = &mut self.file {
            let _ = file.flush();
        }
        if self.truncated {
            facts.push(Fact::Output {
                unit: unit.to_string(),
                stream: "note".to_string(),
                text: format!(
                    "[the log holds the first {} KiB; the whole output is in {}]",
                    LOG_BYTES / 1024,
                    self.relative
                ),
            });
        }
        facts
    }

    /// The whole output's file, relative to the run's folder, when there was output.
    pub fn full_output_path(&self) -> Option<String> {
        self.file.as_ref().map(|_| self.relative.clone())
    }

    fn keep(&mut self, clean: &[u8]) {
        if clean.is_empty() {
            return;
        }
        if self.file.is_none() {
            if let Some(parent) = self.path.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            self.file = File::create(&self.path).ok();
        }
        if let Some(file) = &mut self.file {
            let _ = file.write_all(clean);
        }
    }

    /// Complete lines (or full chunks) of one stream as events, within the log's share.
    fn pieces(&mut self, unit: &str, stream: Stream, all: bool) -> Vec<Fact> {
        let state = &mut self.streams[stream as usize];
        let mut facts = Vec::new();
        loop {
            let cut = match state.pending.iter().rposition(|&byte| byte == b'\n') {
                Some(newline) => (newline + 1).min(CHUNK_BYTES),
                None if state.pending.len() >= CHUNK_BYTES => CHUNK_BYTES,
                None if all && !state.pending.is_empty() => state.pending.len(),
                None => break,
            };
            let piece: Vec<u8> = state.pending.drain(..cut).collect();
            if self.logged >= LOG_BYTES {
                self.truncated = true;
                continue;
            }
            self.logged += piece.len();
            facts.push(Fact::Output {
                unit: unit.to_string(),
                stream: stream.name().to_string(),
                text: String::from_utf8_lossy(&piece).into_owned(),
            });
        }
        facts
    }
}

/// A unit key as a file name: host names and step names are plain already; anything
/// else becomes `_`.
fn file_name(unit: &str) -> String {
    unit.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '#') {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect()
}

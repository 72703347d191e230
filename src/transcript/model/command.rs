use serde::Serialize;

use super::At;
use crate::engine::facts::{ExitRecord, Phase};

/// One command as it ran on one host, with how it ended and the output the log holds
/// (redacted when it was logged; the whole output is in the run's folder).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Command {
    /// The unit key (`install@web-03`) and its node (`rollback:STEP` for an undo).
    pub unit: String,
    pub node: String,
    pub host: Option<String>,
    pub phase: Phase,
    /// Its place among the phase's commands, from 1, as failures name it.
    pub number: usize,
    pub attempt: u32,
    /// As run, secrets redacted.
    pub command: String,
    pub started: At,
    /// Nothing when the log has no end for it (the engine stopped while it ran).
    pub ended: Option<At>,
    /// `{"code": 0}`, `{"signal": 9}`, `"timeout"`, `"interrupted"` or `"error"` (it
    /// could not run), as the log says it.
    pub exit: Option<ExitRecord>,
    pub duration_ms: Option<u64>,
    /// The file, in the run's folder, that holds the whole output.
    pub full_output: Option<String>,
    /// The output pieces the log holds, in order.
    pub output: Vec<Piece>,
}

/// A piece of output as logged: `stdout`, `stderr`, or `note` (the engine's own word,
/// such as where the rest of a long output is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Piece {
    pub seq: u64,
    pub stream: String,
    pub text: String,
}

/// The first lines of an output and how many more the log holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collapsed<'a> {
    /// Each line with its stream.
    pub shown: Vec<(&'a str, &'a str)>,
    pub hidden: usize,
}

impl Command {
    /// `exit 0`, `killed by signal 9`, `timed out`, ...
    pub fn ended_text(&self) -> String {
        match self.exit {
            Some(exit) => exit_text(exit),
            None => "no end in the log".to_string(),
        }
    }

    pub fn succeeded(&self) -> bool {
        self.exit == Some(ExitRecord::Code(0))
    }

    /// Every line of output the log holds, with its stream.
    pub fn lines(&self) -> impl Iterator<Item = (&str, &str)> {
        self.output.iter().flat_map(|piece| {
            piece
                .text
                .lines()
                .map(move |line| (piece.stream.as_str(), line))
        })
    }

    /// At most `limit` lines, and the number left out.
    pub fn collapsed(&self, limit: usize) -> Collapsed<'_> {
        let mut shown = Vec::new();
        let mut hidden = 0;
        for line in self.lines() {
            if shown.len() < limit {
                shown.push(line);
            } else {
                hidden += 1;
            }
        }
        Collapsed { shown, hidden }
    }
}

/// How a command ended, in words.
pub fn exit_text(exit: ExitRecord) -> String {
    match exit {
        ExitRecord::Code(code) => format!("exit {code}"),
        ExitRecord::Signal(signal) => format!("killed by signal {signal}"),
        ExitRecord::Timeout => "timed out".to_string(),
        ExitRecord::Interrupted => "interrupted".to_string(),
        ExitRecord::Error => "could not run".to_string(),
        ExitRecord::Unreachable => "host unreachable".to_string(),
        ExitRecord::ConnectionLost => "connection lost".to_string(),
    }
}

/// `1.250s`: a command's duration to the millisecond.
pub fn seconds(ms: u64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(pieces: &[(&str, &str)]) -> Command {
        Command {
            unit: "s".into(),
            node: "s".into(),
            host: None,
            phase: Phase::Run,
            number: 1,
            attempt: 1,
            command: "true".into(),
            started: At::of(0),
            ended: None,
            exit: None,
            duration_ms: None,
            full_output: None,
            output: pieces
                .iter()
                .zip(0..)
                .map(|((stream, text), seq)| Piece {
                    seq,
                    stream: (*stream).to_string(),
                    text: (*text).to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn output_is_collapsed_to_its_first_lines_across_pieces_and_streams() {
        let ran = command(&[
            ("stdout", "a\nb\n"),
            ("stderr", "c\n"),
            ("stdout", "d\ne\n"),
        ]);
        let collapsed = ran.collapsed(3);
        assert_eq!(
            collapsed.shown,
            [("stdout", "a"), ("stdout", "b"), ("stderr", "c")]
        );
        assert_eq!(collapsed.hidden, 2);
        assert_eq!(ran.collapsed(10).hidden, 0);
        assert_eq!(command(&[]).collapsed(3).shown, []);
    }

    #[test]
    fn a_command_without_an_end_says_so() {
        assert_eq!(command(&[]).ended_text(), "no end in the log");
        assert_eq!(exit_text(ExitRecord::Signal(9)), "killed by signal 9");
        assert_eq!(seconds(61_005), "61.005s");
    }
}

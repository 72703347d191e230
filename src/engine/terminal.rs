//! Answers typed at the terminal the run was started from: a manual step confirmed
//! (with the values it records) or a decision made, by the person at the keyboard,
//! while `runbook confirm` and `runbook decide` still work from any other terminal.
//!
//! Standard input is read by a thread of its own, line by line, because a blocking read
//! cannot be cancelled: the engine listens to the lines only while it waits for a
//! person, and one wait at a time owns them.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal;

use tokio::sync::{mpsc, Mutex};

use super::facts::{Decision, Need};
use super::inbox::Answer;

pub struct Terminal {
    lines: Mutex<mpsc::UnboundedReceiver<String>>,
    /// Input ended (or cannot be read): only other terminals answer from then on.
    closed: AtomicBool,
}

/// What the person typed, read against what is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// A whole answer.
    Answer(Answer),
    /// `done`: a confirmation, which still needs the values its step records.
    Confirming,
    /// Nothing that answers; the prompt says again what would.
    Unclear,
}

impl Terminal {
    /// Starts reading standard input, if this process is in the terminal's foreground
    /// (`runbook run ... &` is not: it would be stopped by the read). The thread ends
    /// at end of input, on an error, or with the process.
    pub fn start() -> Option<Self> {
        if !in_foreground() {
            return None;
        }
        // Moved to the background later (Ctrl-Z, `bg`), a read fails instead of stopping
        // the whole engine. SAFETY: ignoring a signal installs no handler.
        let _ = unsafe { signal::signal(signal::Signal::SIGTTIN, signal::SigHandler::SigIgn) };
        let (sender, receiver) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Some(Self {
            lines: Mutex::new(receiver),
            closed: AtomicBool::new(false),
        })
    }

    /// Takes the keyboard for one wait (the next wait that asks gets it after this
    /// one), forgetting what was typed before the wait began, which answers nothing.
    /// Never resolves once input has ended.
    pub async fn take(&self) -> tokio::sync::MutexGuard<'_, mpsc::UnboundedReceiver<String>> {
        if self.closed.load(Ordering::Relaxed) {
            return std::future::pending().await;
        }
        let mut lines = self.lines.lock().await;
        while lines.try_recv().is_ok() {}
        lines
    }

    /// Input has ended: stop offering the keyboard.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

fn in_foreground() -> bool {
    let stdin = std::io::stdin();
    nix::unistd::tcgetpgrp(&stdin).is_ok_and(|group| group == nix::unistd::getpgrp())
}

/// The first line a wait asks for: how to answer it.
pub fn prompt(need: Need, unit: &str) -> String {
    match need {
        Need::Confirmation => {
            format!("  type `done` here once `{unit}` is done (or answer from another terminal)")
        }
        Need::Decision => format!(
            "  type `retry`, `skip` or `fail` here for `{unit}` (or answer from another terminal)"
        ),
        Need::Approval => format!(
            "  type `approve [why]` or `reject [why]` here for `{unit}` (or answer from another terminal)"
        ),
        Need::SkipPause => format!(
            "  type `skip [why]` here to end the pause before `{unit}` now (or `runbook skip-pause` from another terminal)"
        ),
    }
}

/// Reads the first line typed for a wait.
pub fn read(need: Need, line: &str) -> Typed {
    let (word, rest) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
    let word = word.to_ascii_lowercase();
    let reason = Some(rest.trim().to_string()).filter(|reason| !reason.is_empty());
    match (need, word.as_str()) {
        (Need::Approval, "approve" | "yes" | "y") => Typed::Answer(Answer::Voted {
            approve: true,
            reason,
        }),
        (Need::Approval, "reject" | "no" | "n") => Typed::Answer(Answer::Voted {
            approve: false,
            reason,
        }),
        (Need::SkipPause, "skip") => Typed::Answer(Answer::SkipPause { reason }),
        (Need::Confirmation, "done" | "yes" | "y") => Typed::Confirming,
        (Need::Decision, "retry") => Typed::Answer(Answer::Decided(Decision::Retry)),
        (Need::Decision, "skip") => Typed::Answer(Answer::Decided(Decision::Skip)),
        (Need::Decision, "fail") => Typed::Answer(Answer::Decided(Decision::Fail)),
        _ => Typed::Unclear,
    }
}

/// A confirmation with the values typed for its keys, in the keys' order.
pub fn confirmation(keys: &[&str], values: Vec<String>) -> Answer {
    let entered: BTreeMap<String, String> = keys
        .iter()
        .zip(values)
        .map(|(key, value)| (key.to_string(), value.trim().to_string()))
        .collect();
    Answer::Confirmed(entered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_answer_only_what_is_asked() {
        assert_eq!(read(Need::Confirmation, " Done "), Typed::Confirming);
        assert_eq!(read(Need::Confirmation, "retry"), Typed::Unclear);
        assert_eq!(
            read(Need::Decision, "skip"),
            Typed::Answer(Answer::Decided(Decision::Skip))
        );
        assert_eq!(read(Need::Decision, "done"), Typed::Unclear);
        assert_eq!(read(Need::Decision, ""), Typed::Unclear);
    }

    #[test]
    fn values_are_paired_with_their_keys() {
        let answer = confirmation(&["url", "ticket"], vec![" https://x ".into(), "T-1".into()]);
        let Answer::Confirmed(values) = answer else {
            panic!("a confirmation");
        };
        assert_eq!(values.get("url").map(String::as_str), Some("https://x"));
        assert_eq!(values.get("ticket").map(String::as_str), Some("T-1"));
    }
}

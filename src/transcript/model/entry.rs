use serde::Serialize;

use super::At;

/// One event of the log, in order, in words: the full timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub seq: u64,
    pub at: At,
    /// The event's kind in the log (`unit_started`, `voted`, ...).
    pub kind: String,
    /// Who said it, when a person or an account did.
    pub person: Option<String>,
    pub os_user: Option<String>,
    /// What happened, as the text transcript and `runbook run` say it; a manual step's
    /// instructions make it several lines.
    pub text: String,
    /// Where the other sections say more about it.
    #[serde(flatten)]
    pub about: About,
}

/// What an entry points at in the transcript's other sections. Output is not in the
/// timeline: each piece is with its command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "about", rename_all = "snake_case")]
pub enum About {
    /// The run's start: the header says the rest.
    Run,
    /// `commands[command]` began.
    CommandStarted { command: usize },
    /// `commands[command]` ended.
    CommandFinished { command: usize },
    /// `answers[answer]`.
    Answer { answer: usize },
    /// `notices[notice]` was logged.
    Notice { notice: usize },
    /// A delivery of `notices[notice]`, and whether it arrived.
    Delivery { notice: usize, delivered: bool },
    /// Nothing more than the text.
    Event,
    /// A kind this version of runbook does not know: the text says which.
    Unknown,
}

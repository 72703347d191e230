use std::collections::BTreeMap;

use serde::Serialize;

use super::{At, Person};

/// Where a run came from, as its first event says: the runbook and the exact source
/// (its sha256), who started it, on which machine, with which values and people.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Header {
    pub run: String,
    /// The runbook's short name, and the title people read.
    pub runbook: String,
    pub title: Option<String>,
    /// The file as given on the command line.
    pub file: String,
    /// The runbook version the run started from, and its text.
    pub source_sha256: String,
    pub source: String,
    /// Edits accepted on a resume (`resume --accept-changes`), oldest first: the run
    /// went on from each of these versions.
    pub accepted_edits: Vec<Edit>,
    pub started: At,
    /// The person who started it (`--as`), else the OS user.
    pub started_by: String,
    /// The person and account of the command that started it, as logged.
    pub person: Option<String>,
    pub os_user: Option<String>,
    pub machine: String,
    pub engine_version: String,
    /// Present only when the log marks the run as a drill.
    pub drill: Option<Drill>,
    pub status: RunState,
    /// Every parameter's value (secrets are never logged).
    pub params: BTreeMap<String, String>,
    pub inventories: BTreeMap<String, Vec<String>>,
    /// The roster as the run recorded it when it started, by login; empty without one.
    pub people: Vec<Person>,
}

/// A resume that took an edited runbook, and who said so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edit {
    pub at: At,
    pub previous_sha256: String,
    pub source_sha256: String,
    pub person: Option<String>,
    pub os_user: Option<String>,
}

/// What the run's first event says of a drill: a rehearsal, not a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drill {
    /// Commands simulated on a virtual clock (`false` for a drill run for real).
    pub simulated: bool,
    /// The faults injected, as given.
    pub injected: Vec<String>,
    /// The probe values scripted, as given.
    pub probes: Vec<String>,
    /// The people simulated answering, as given.
    pub responders: Vec<String>,
}

/// Where the run stands by the end of its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Completed,
    Failed,
    /// A rollback step failed: people took over.
    RollbackFailed,
    /// Stopped, resumable.
    Paused,
    /// The log says neither: under way, or its engine stopped without a word.
    NotEnded,
}

impl RunState {
    pub fn words(self) -> &'static str {
        match self {
            RunState::Completed => "completed",
            RunState::Failed => "failed",
            RunState::RollbackFailed => "rollback failed",
            RunState::Paused => "paused",
            RunState::NotEnded => "not ended",
        }
    }
}

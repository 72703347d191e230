use serde::Serialize;

use super::At;

/// One of the few times an auditor asks for first: when the run started, when it first
/// failed, when the rollback started and finished, when the service was restored, when
/// the run ended. Every kind is always listed, with no time when it did not happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moment {
    pub moment: MomentKind,
    pub at: Option<At>,
    pub since_start_ms: Option<u64>,
    pub since_failure_ms: Option<u64>,
    /// What happened then, or why nothing did.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MomentKind {
    Started,
    FirstFailure,
    RollbackStarted,
    /// The first rollback's end, whether it went well or not.
    RollbackFinished,
    /// The first rollback that finished well, or the run completing, after a failure.
    Restored,
    Finished,
    /// The run's last word is a pause: it can be resumed.
    Paused,
}

impl MomentKind {
    pub fn label(self) -> &'static str {
        match self {
            MomentKind::Started => "Run started",
            MomentKind::FirstFailure => "First failure",
            MomentKind::RollbackStarted => "Rollback started",
            MomentKind::RollbackFinished => "Rollback finished",
            MomentKind::Restored => "Restored",
            MomentKind::Finished => "Run finished",
            MomentKind::Paused => "Run paused",
        }
    }
}

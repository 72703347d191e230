//! The engine's vocabulary: what each event of a run's log says. The store seals and
//! chains events without knowing their meaning; this is where it is defined, once,
//! for the engine that writes it and the fold, `status` and `transcript` that read it.
//!
//! An event's `kind` and `payload` are a `Fact` (adjacently tagged), so a log line reads
//! `"kind":"unit_finished","payload":{...}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ast::{FailureClass, TimeoutAction};
use crate::store::{Draft, Event};

/// Unknown fields are refused: an event with more in it than this build knows was
/// written by another version, and is reported as such rather than read in part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    content = "payload",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum Fact {
    RunStarted(Box<RunStarted>),
    /// The hosts this engine reaches over SSH, how, and the files it copies to them:
    /// written after `run_started` or `run_resumed` when any host is remote.
    RemoteAccess(Box<crate::executor::RemoteAccess>),
    /// An engine took the run up again after it stopped.
    RunResumed {
        source_sha256: String,
    },
    /// `resume --accept-changes`: the runbook was edited since the run started, and
    /// the person resuming said the edit is to be used from here on.
    ChangesAccepted {
        previous_sha256: String,
        source_sha256: String,
        source: String,
    },
    /// A unit (a node on one host, or once) begins an attempt.
    UnitStarted {
        unit: String,
        /// The node's id: its name, or `rollback:STEP` for an undo. It is the name a
        /// person answers to (`decide RUN NODE`).
        node: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        attempt: u32,
    },
    /// Written and synced before the command starts; secrets already redacted.
    CommandStarted {
        unit: String,
        phase: Phase,
        index: usize,
        attempt: u32,
        command: String,
    },
    /// A bounded piece of a command's output, redacted.
    Output {
        unit: String,
        stream: String,
        text: String,
    },
    CommandFinished {
        unit: String,
        phase: Phase,
        index: usize,
        attempt: u32,
        exit: ExitRecord,
        duration_ms: u64,
        /// The file that keeps the whole output, relative to the run's folder, when the
        /// command printed anything (the log holds only its first part).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        full_output: Option<String>,
    },
    /// The run needs a person before this unit can go on.
    Waiting {
        unit: String,
        node: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        need: Need,
        /// What the person is asked to do (a manual step's instructions, a reason).
        text: String,
        /// For an approval: who may answer it, how many must, and for how long.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approval: Option<Ask>,
    },
    /// A manual step was confirmed done, with the values the person entered.
    Confirmed {
        unit: String,
        values: BTreeMap<String, String>,
    },
    /// A person decided what happens to a unit that was interrupted or failed.
    Decided {
        unit: String,
        decision: Decision,
    },
    /// A person's vote on an approval (the actor says who, and under which account).
    Voted {
        unit: String,
        /// The role the vote counts for: one the person holds among those asked.
        role: String,
        approve: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An answer that was not taken: the person is not in the roster, does not hold a
    /// role asked, already voted, or ran what they were to approve. The actor says who.
    Refused {
        node: String,
        /// `approve`, `reject`, `confirm` or `decide`.
        answer: String,
        why: String,
    },
    /// Nobody answered an approval within its time: `on timeout escalate` widens it to
    /// these roles (the commander's) and the run keeps waiting.
    Escalated {
        unit: String,
        roles: Vec<String>,
    },
    /// An approval is settled: by its votes, or by its time running out.
    ApprovalSettled {
        unit: String,
        approved: bool,
        by: Settlement,
    },
    /// A condition decided on the values read for it: a gate's, or a watch's at one
    /// interval.
    Evaluated {
        unit: String,
        condition: String,
        /// Each probe it reads, by name.
        values: BTreeMap<String, f64>,
        /// Probes that could not be read, and why: then it is not known to hold.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        unreadable: BTreeMap<String, String>,
        /// Left out when it could not be told.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        holds: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The probes compared with `baseline.NAME`, read once before the change starts.
    Baseline {
        /// The rollout or watch it was read for: whichever needed it first.
        #[serde(alias = "waves")]
        taken_for: String,
        values: BTreeMap<String, f64>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        unreadable: BTreeMap<String, String>,
    },
    UnitFinished {
        unit: String,
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
    },
    /// The hosts a sampled step runs on, chosen once from the run's seed: a resume
    /// and a replay take these, not a new choice.
    Sampled {
        /// The step's unit key without a host.
        key: String,
        /// The inventory or waves block sampled.
        from: String,
        percent: f64,
        hosts: Vec<String>,
    },
    WaveStarted {
        waves: String,
        index: usize,
        count: usize,
        hosts: Vec<String>,
    },
    WaveFinished {
        waves: String,
        index: usize,
        failed: Vec<String>,
    },
    /// The wait before wave `index` began; it ends at `until_ms`, or earlier when a
    /// person holding one of `may_skip` says so (`runbook skip-pause`).
    WavePause {
        waves: String,
        index: usize,
        until_ms: u64,
        /// Who may cut it short: the commander's role and the rollout's owner.
        may_skip: Vec<String>,
    },
    /// A person cut a wave pause short; the actor says who.
    PauseSkipped {
        waves: String,
        index: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Something failed for good (retries spent); its class picks the policy.
    Failure {
        key: String,
        class: FailureClass,
        node: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        summary: String,
    },
    /// A step of a failure policy was taken (`continue`, `pause`, `abort`).
    PolicyAction {
        key: String,
        failure: String,
        action: String,
    },
    /// A message for an audience (`log` channels are delivered by this event itself).
    Notice {
        key: String,
        audience: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<String>,
        message: String,
    },
    /// How a notice's delivery through its channel went (a `log` channel has none).
    Delivered {
        key: String,
        channel: String,
        ok: bool,
        attempts: u32,
        /// What the receiver said, or why it was not delivered.
        detail: String,
    },
    /// One of the header's objectives, decided: met when its event came within its
    /// limit of the first failure, breached when the limit passed first.
    Objective {
        /// `rollback_start`, `restored`, `outage` or `alert`.
        objective: String,
        limit_ms: u64,
        met: bool,
        /// From the first failure to the event, when it came.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_ms: Option<u64>,
    },
    RollbackStarted {
        key: String,
        scope: String,
        /// The units to undo, newest first.
        units: Vec<String>,
    },
    RollbackFinished {
        key: String,
        succeeded: bool,
    },
    /// The run stopped and can be resumed.
    RunPaused {
        reason: String,
    },
    RunFinished {
        status: RunStatus,
    },
}

/// What starts a run: everything a resume, a replay or an auditor needs to know
/// about where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunStarted {
    pub run: String,
    pub runbook: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The file as given on the command line, and the machine it ran on.
    pub file: String,
    pub machine: String,
    /// The person who started it (`--as`), else the OS user: `{{run.started_by}}`.
    pub started_by: String,
    pub source_sha256: String,
    pub source: String,
    /// Every parameter's value; secrets are never here.
    pub params: BTreeMap<String, String>,
    /// The hosts of each inventory, as loaded when the run started: a resume uses
    /// these, not the file as it may read later.
    pub inventories: BTreeMap<String, Vec<String>>,
    /// Who held which role when the run started: approvals and `--as` are checked
    /// against this, not the file as it may read later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster: Option<BTreeMap<String, Member>>,
    pub seed: u64,
    pub engine_version: String,
    /// Set when the run is a drill, with what it injected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<crate::drill::DrillMark>,
    /// Set when the run is a replay: the run it replays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
}

/// One person of the roster, as the run recorded them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The step's own commands.
    Run,
    Verify,
    Remedy,
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitRecord {
    Code(i32),
    Signal(i32),
    Timeout,
    Interrupted,
    /// The command could not be started, or a script failed to run.
    Error,
    /// Its host could not be reached (over SSH): it never started.
    Unreachable,
    /// The connection to its host was lost while it ran: it may have run in part.
    ConnectionLost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    Confirmation,
    /// A unit that may have run in part (the engine stopped during it, or it failed).
    Decision,
    /// Votes from people holding the roles asked.
    Approval,
    /// Not asked of anyone: a person's offer to end a wave pause early.
    SkipPause,
}

/// What an approval asks: `approve by 2 of [commander, dba] distinct within 3m`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    pub roles: Vec<String>,
    pub quorum: u64,
    /// Nobody who started, resumed or answered for the run may vote.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub distinct: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_ms: Option<u64>,
    /// What `within_ms` running out does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<TimeoutAction>,
    /// The role an escalation adds: the runbook's commander, unless already asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<String>,
}

/// How an approval was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    /// Enough people approved, or one rejected.
    Votes,
    /// Its time ran out (`on timeout continue` or `abort`).
    Timeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Run it again from its first command.
    Retry,
    /// Count it as done without running it.
    Skip,
    /// Count it as failed: its failure policy applies.
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    Succeeded {
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        values: BTreeMap<String, String>,
    },
    Failed {
        class: FailureClass,
    },
    /// A struct variant, so that unknown fields are refused here too.
    Skipped {},
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Completed,
    /// Failed; whatever the policy rolled back was rolled back.
    Failed,
    /// A rollback step failed: people must take over.
    RollbackFailed,
}

impl Fact {
    /// The event's `kind` and `payload`.
    pub fn draft(&self, time_ms: u64, actor: Option<crate::store::Actor>) -> Draft {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        let payload = value
            .get_mut("payload")
            .map(serde_json::Value::take)
            .unwrap_or(serde_json::Value::Null);
        let kind = value
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string();
        Draft {
            time_ms,
            kind,
            actor,
            payload,
        }
    }

    /// Reads an event as a fact; `None` for a kind this build does not know.
    pub fn of(event: &Event) -> Option<Fact> {
        let tagged = serde_json::json!({"kind": event.kind, "payload": event.payload});
        serde_json::from_value(tagged).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::GENESIS;

    fn event(kind: &str, payload: serde_json::Value) -> Event {
        let draft = Draft {
            time_ms: 1,
            kind: kind.to_string(),
            actor: None,
            payload,
        };
        Event::seal(draft, 0, GENESIS)
    }

    #[test]
    fn a_fact_with_a_field_this_build_does_not_know_is_not_read() {
        let known = serde_json::json!({"unit": "s", "decision": "retry"});
        assert!(Fact::of(&event("decided", known)).is_some());
        let more = serde_json::json!({"unit": "s", "decision": "retry", "why": "later"});
        assert_eq!(Fact::of(&event("decided", more)), None);
        let outcome =
            serde_json::json!({"unit": "s", "outcome": {"outcome": "skipped", "by": "x"}});
        assert_eq!(Fact::of(&event("unit_finished", outcome)), None);
    }
}

//! The executable parts of a runbook: steps, gates, timers, watches and waves.

use serde::{Deserialize, Serialize};

use super::{Duration, FailureClass, Ident, Keyword, Percent, Text};
use crate::source::Span;

/// `step install "Install kernel {{kernel}}" { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub name: Ident,
    pub description: Option<Text>,
    pub entries: Vec<StepEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEntry {
    pub kind: StepEntryKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", content = "value", rename_all = "snake_case")]
pub enum StepEntryKind {
    Owner(Ident),
    /// `on web`: run on every host of an inventory.
    On(Ident),
    /// `on sample 10% of upgrade`: run on a seeded random share of an inventory's hosts,
    /// or of the hosts a `waves` block has changed.
    OnSample {
        share: Percent,
        of: Ident,
    },
    Parallel(Count),
    Timeout(Duration),
    Retry {
        attempts: Count,
        backoff: Option<Duration>,
    },
    /// Safe to run twice: re-run after a crash without asking anyone.
    Idempotent,
    /// Cannot be undone, and says why; stands in for a rollback.
    Irreversible(Text),
    /// Observes only, changes nothing: needs no rollback.
    Readonly,
    /// In a failure policy: start it and go on without waiting.
    Background,
    After(Vec<Ident>),
    /// The failure class this step raises when it fails (default functional).
    Raises(Keyword<FailureClass>),
    /// This step takes the backup the plan relies on.
    Backup,
    Run(Text),
    /// A Rhai script, sandboxed.
    Script(Text),
    /// Instructions for a person, who confirms when done.
    Manual(Text),
    /// A value the person confirming a manual step must enter: `record ticket_id "..."`.
    Record {
        key: Ident,
        prompt: Option<Text>,
    },
    /// What a correct result looks like, for the person reading along.
    Expect(Text),
    /// A command to run when the step fails, before it is retried or escalated.
    Remedy(Text),
    /// A command that proves the step worked (a backup restores, a service answers).
    Verify(Text),
    Rollback(Rollback),
}

/// A small non-negative whole number (`retry 2`, `parallel 10`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub value: u64,
    pub span: Span,
}

/// What undoes a step: one command, or a block of commands, scripts and manual actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum Rollback {
    Command(Text),
    Block {
        entries: Vec<RollbackEntry>,
        span: Span,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackEntry {
    pub kind: RollbackEntryKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", content = "value", rename_all = "snake_case")]
pub enum RollbackEntryKind {
    Run(Text),
    Script(Text),
    Manual(Text),
    Timeout(Duration),
}

/// `gate go "Go / no-go" { approve by commander }`: the run waits here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    pub name: Ident,
    pub description: Option<Text>,
    pub entries: Vec<GateEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateEntry {
    pub kind: GateEntryKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", content = "value", rename_all = "snake_case")]
pub enum GateEntryKind {
    Owner(Ident),
    After(Vec<Ident>),
    Approve(Approval),
    Require(Requirement),
    /// For condition gates: re-evaluate every `interval` until true, for at most `limit`.
    Poll {
        interval: Duration,
        limit: Duration,
    },
}

/// `approve by 2 of [commander, dba] distinct within 3m on timeout escalate "why"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// How many answers are needed; `None` means one.
    pub quorum: Option<Count>,
    pub roles: Vec<Ident>,
    /// Nobody may approve what they started or ran (separation of duties).
    pub distinct: bool,
    pub within: Option<Duration>,
    pub on_timeout: Option<Keyword<TimeoutAction>>,
    pub reason: Option<Text>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutAction {
    /// Ask the next people up (the commander) and keep waiting.
    Escalate,
    /// Treat the gate as rejected.
    Abort,
    /// Treat the gate as approved.
    Continue,
}

/// `require error_rate < 0.05 for 10m else severe`: a Rhai condition that must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requirement {
    pub condition: Condition,
    /// A breach only counts once it has lasted this long (watches).
    pub sustained: Option<Duration>,
    pub raises: Option<Keyword<FailureClass>>,
    pub span: Span,
}

/// A Rhai expression as written, on one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub source: String,
    pub span: Span,
}

/// `timer soak 30m "Let caches warm"`: the run waits a fixed time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timer {
    pub name: Ident,
    pub duration: Duration,
    pub description: Option<Text>,
    pub entries: Vec<TimerEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerEntry {
    pub kind: TimerEntryKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", content = "value", rename_all = "snake_case")]
pub enum TimerEntryKind {
    Owner(Ident),
    After(Vec<Ident>),
}

/// `watch core { every 1m during 30m require ... }`: conditions observed over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watch {
    pub name: Ident,
    pub description: Option<Text>,
    pub entries: Vec<WatchEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchEntry {
    pub kind: WatchEntryKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", content = "value", rename_all = "snake_case")]
pub enum WatchEntryKind {
    Owner(Ident),
    After(Vec<Ident>),
    Every(Duration),
    During(Duration),
    Require(Requirement),
}

/// `waves upgrade { over web stages [1%, 10%, 30%, 100%] pause 1h ... }`: a canary
/// rollout. Its steps, gates, timers and watches run once per wave, on that wave's hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waves {
    pub name: Ident,
    pub description: Option<Text>,
    pub entries: Vec<WavesEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WavesEntry {
    pub kind: WavesEntryKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", content = "value", rename_all = "snake_case")]
pub enum WavesEntryKind {
    Over(Ident),
    Stages(Vec<Stage>),
    Pause(Duration),
    Parallel(Count),
    MaxFailed(Budget),
    After(Vec<Ident>),
    Step(Step),
    Gate(Gate),
    Timer(Timer),
    Watch(Watch),
}

/// One wave's size: a cumulative share of the inventory (`10%`), or a batch of hosts (`30`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    Percent(Percent),
    Count(Count),
}

impl Stage {
    pub fn span(&self) -> Span {
        match self {
            Stage::Percent(percent) => percent.span,
            Stage::Count(count) => count.span,
        }
    }
}

/// How many hosts of one wave may fail before the wave counts as failed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "budget", rename_all = "snake_case")]
pub enum Budget {
    Percent(Percent),
    Count(Count),
}

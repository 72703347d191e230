//! The nodes of the graph: what the engine runs or waits on, with every setting
//! resolved (defaults applied, names checked), so the engine never reads the AST.

use std::sync::Arc;

use serde::Serialize;

use super::template::{template, Segment};
use crate::ast::{FailureClass, TimeoutAction};
use crate::source::Span;

/// A name in the graph (a node, an inventory, a waves block, an owner): one
/// allocation shared by every node and edge that mentions it, since a large graph
/// mentions each name several times. Serialised as a plain string.
pub type Name = Arc<str>;

/// One thing the engine runs or waits on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// Unique in the graph: the node's name, or `rollback:STEP` for the node that
    /// undoes a step (a `:` cannot appear in a name, so the two never collide).
    pub id: Name,
    /// The name written in the runbook; for a rollback node, the step it undoes.
    pub name: Name,
    pub description: Option<String>,
    pub owner: Option<Name>,
    pub span: Span,
    /// The waves node whose body this node is: it runs once per wave.
    pub parent: Option<Name>,
    /// For a handler step, the failure class whose policy runs it: nothing else
    /// leads to it.
    pub handles: Option<FailureClass>,
    #[serde(flatten)]
    pub kind: NodeKind,
}

impl Node {
    /// What a step, script or manual step does; `None` for the other kinds.
    pub fn work(&self) -> Option<&Work> {
        match &self.kind {
            NodeKind::Step(work) | NodeKind::Script(work) | NodeKind::Manual(work) => Some(work),
            _ => None,
        }
    }

    /// The word the runbook uses for this kind of node.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Step(_) => "step",
            NodeKind::Script(_) => "script",
            NodeKind::Manual(_) => "manual",
            NodeKind::Gate { .. } => "gate",
            NodeKind::Timer { .. } => "timer",
            NodeKind::Watch { .. } => "watch",
            NodeKind::Waves { .. } => "waves",
            NodeKind::Rollback { .. } => "rollback",
        }
    }

    /// Part of the plan's own flow: neither a handler nor a rollback, which only run
    /// while a failure is handled.
    pub fn is_main_flow(&self) -> bool {
        self.handles.is_none() && !matches!(self.kind, NodeKind::Rollback { .. })
    }
}

/// A `step` is one of three kinds, by what it does: a person's part makes it
/// `manual` (the run waits for a confirmation), scripts alone make it `script` (it
/// stays in the sandbox), and anything else runs shell commands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeKind {
    // The work is boxed: half the nodes are rollbacks and gates, which would
    // otherwise each carry a step's worth of empty settings.
    /// Runs shell commands, locally or on hosts.
    Step(Box<Work>),
    /// Runs sandboxed Rhai scripts only.
    Script(Box<Work>),
    /// Has instructions for a person, who confirms when done and enters the records.
    Manual(Box<Work>),
    /// The run waits until every approval is given and every condition holds.
    Gate {
        approvals: Vec<Approval>,
        conditions: Vec<Requirement>,
        /// Without it, conditions are evaluated once.
        poll: Option<Poll>,
    },
    /// The run waits a fixed time.
    Timer { duration_ms: u64 },
    /// Requirements checked every `interval_ms` for `duration_ms`.
    Watch {
        interval_ms: u64,
        duration_ms: u64,
        requirements: Vec<Requirement>,
    },
    /// A canary rollout: the `body` nodes run once per wave, on that wave's hosts.
    Waves {
        over: Name,
        stages: Vec<Stage>,
        pause_ms: u64,
        /// At most this many hosts at once; without it, the whole wave at once.
        parallel: Option<u64>,
        budget: Budget,
        body: Vec<Name>,
    },
    /// What undoes a step, run where the step ran.
    Rollback {
        actions: Vec<StepAction>,
        /// The rollback's own `timeout`, else its step's.
        timeout_ms: Option<u64>,
        target: Target,
    },
}

/// What a step does, and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Work {
    /// In the order written.
    pub actions: Vec<StepAction>,
    /// Values the person confirming the step enters.
    pub records: Vec<Record>,
    pub settings: StepSettings,
}

/// The settings shared by steps, scripts and manual steps, defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepSettings {
    pub target: Target,
    /// At most this many hosts at once; without it, all of them.
    pub parallel: Option<u64>,
    /// The step's own `timeout`, else the header's, else none.
    pub timeout_ms: Option<u64>,
    pub retry: Retry,
    /// The class of the failure this step raises (`functional` unless it says).
    pub raises: FailureClass,
    pub idempotent: bool,
    /// Why the step cannot be undone.
    pub irreversible: Option<String>,
    pub readonly: bool,
    /// This step takes the backup the plan relies on.
    pub backup: bool,
    /// Commands that prove the step worked.
    pub verify: Vec<StepAction>,
    /// Commands run when the step fails, before it is retried or escalated.
    pub remedy: Vec<StepAction>,
    /// What a correct result looks like, for the person reading along.
    pub expect: Vec<String>,
    /// The id of the rollback node that undoes this step.
    pub rollback: Option<Name>,
}

/// Where a step runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "on", rename_all = "snake_case")]
pub enum Target {
    /// The machine running the runbook.
    Local,
    /// Every host of an inventory.
    Inventory { inventory: Name },
    /// The hosts of the current wave: the default inside a waves body.
    Wave,
    /// A seeded random share of an inventory's hosts.
    SampleOfInventory { percent: f64, inventory: Name },
    /// A seeded random share of the hosts a waves block changed.
    SampleOfWaves { percent: f64, waves: Name },
}

/// `retry 2 backoff 30s`; no `retry` is zero attempts, no `backoff` is no wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retry {
    pub attempts: u64,
    pub backoff_ms: u64,
}

/// A value the person confirming a manual step must enter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub key: String,
    pub prompt: Option<String>,
}

/// `approve by 2 of [commander, dba] distinct within 3m on timeout escalate "why"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    /// How many answers are needed (one unless a quorum is given).
    pub quorum: u64,
    pub roles: Vec<String>,
    /// Nobody may approve what they started or ran.
    pub distinct: bool,
    pub within_ms: Option<u64>,
    /// What happens when `within_ms` passes: `escalate` unless written, so that a
    /// silence never approves nor drops anything by itself.
    pub on_timeout: Option<TimeoutAction>,
    pub reason: Option<String>,
    pub span: Span,
}

/// A Rhai condition that must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requirement {
    pub condition: String,
    /// A breach only counts once it has lasted this long.
    pub sustain_ms: Option<u64>,
    /// The failure class a breach raises (`functional` unless it says).
    pub raises: FailureClass,
    pub span: Span,
}

/// Re-evaluate a gate's conditions every `interval_ms` until they hold, for at most
/// `limit_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Poll {
    pub interval_ms: u64,
    pub limit_ms: u64,
}

/// One wave's size: a cumulative share of the inventory, or a batch of hosts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Percent(f64),
    Hosts(u64),
}

/// How many hosts of one wave may fail before the wave fails (`max_failed`, none
/// unless written).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    Percent(f64),
    Hosts(u64),
}

/// One thing a step or a rollback does; they run in the order written. The span is the
/// string in the runbook, so a failing command can be shown where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepAction {
    pub kind: ActionKind,
    pub text: String,
    pub span: Span,
    /// `text` split into literal text and values to fill in: what the engine runs.
    #[serde(skip)]
    pub template: Vec<Segment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// A shell command.
    Run,
    /// A sandboxed Rhai script.
    Script,
    /// Instructions for a person, who confirms when done.
    Manual,
}

impl StepAction {
    pub(super) fn new(kind: ActionKind, text: &crate::ast::Text) -> Self {
        Self {
            kind,
            text: text.value.clone(),
            span: text.span,
            template: template(text),
        }
    }
}

/// What starts the id of a rollback node; a name cannot contain `:`, so no node
/// written in the runbook can collide with one.
pub const ROLLBACK_PREFIX: &str = "rollback:";

/// The id of the node that undoes `step`.
pub fn rollback_id(step: &str) -> Name {
    // Joined at its exact length (there is one for every step of a large runbook).
    [ROLLBACK_PREFIX, step].concat().into()
}

//! What the runbook declares besides its nodes: the header, who takes part, where
//! hosts and numbers come from, and where messages go. Declarations only: no file is
//! read and no secret value is ever held here.

use serde::Serialize;

use crate::ast::{EventKind, FailureClass, ObjectiveBound, ObjectiveKind, ParamType, Risk};
use crate::source::Span;

/// `runbook "name" { ... }`, with the commander resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Header {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    pub risk: Option<Risk>,
    pub objectives: Vec<Objective>,
    pub environment: Option<String>,
    pub change: Option<String>,
    /// The header's `commander ROLE`, else a role named `commander` if there is one.
    pub commander: Option<String>,
    /// The header's `timeout`, already applied to every step and rollback without one.
    pub default_timeout_ms: Option<u64>,
    pub roster: Option<String>,
    /// Where `prometheus` probes are queried (`--prometheus` overrides it).
    pub prometheus: Option<String>,
    pub drill_every_ms: Option<u64>,
    pub review_every_ms: Option<u64>,
    pub postmortem: Option<Postmortem>,
    pub span: Span,
}

/// A promise the run (or a drill) is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Objective {
    pub kind: ObjectiveKind,
    pub bound: ObjectiveBound,
    pub limit_ms: u64,
    /// Where the runbook declares it.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Postmortem {
    pub by: String,
    pub within_ms: Option<u64>,
}

/// Who may own steps and answer gates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    pub name: String,
    pub description: Option<String>,
    /// Where the runbook declares it.
    pub span: Span,
}

/// People told things, never asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audience {
    pub name: String,
    pub description: Option<String>,
    /// Where the runbook declares it.
    pub span: Span,
}

/// Where hosts come from; the engine loads them when a run starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub name: String,
    pub source: InventorySource,
    pub filter: Vec<LabelMatch>,
    /// Where the runbook declares it.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum InventorySource {
    /// A TOML or plain-list file, relative to the runbook.
    File { path: String },
    /// Hosts written in the runbook itself.
    Hosts { hosts: Vec<String> },
    /// A subset of another inventory.
    Inventory { inventory: String },
}

/// `tier = "payment"` or `tier != "payment"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelMatch {
    pub label: String,
    pub equal: bool,
    pub value: String,
}

/// A file beside the runbook that its commands use. On a host reached over SSH the
/// engine uploads it before the first command runs there, at the same relative path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shipped {
    /// Relative to the runbook's folder and inside it, as written (the checker saw to
    /// both).
    pub path: String,
    /// Where the runbook declares it.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    pub default: Option<Value>,
    pub description: Option<String>,
    /// Where the runbook declares it.
    pub span: Span,
}

/// A literal value, typed as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    String(String),
    Number(f64),
    Bool(bool),
    DurationMs(u64),
    Percent(f64),
}

/// Where a secret is read from when a run starts; its value never enters the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secret {
    pub name: String,
    pub source: SecretSource,
    /// Where the runbook declares it.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum SecretSource {
    Env { variable: String },
    File { path: String },
}

/// A number the runbook can decide on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    pub name: String,
    pub source: ProbeSource,
    /// For `command` and `http`: where the number is in a JSON answer.
    pub json_path: Option<String>,
    /// Where the runbook declares it.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProbeSource {
    Prometheus { query: String },
    Command { command: String },
    Http { url: String },
}

/// Somewhere messages can be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Channel {
    pub name: String,
    #[serde(flatten)]
    pub kind: ChannelKind,
    /// Where the runbook declares it.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelKind {
    Webhook { url: String },
    Command { command: String },
    Log,
}

/// `notify comms via chat every 15m "..."`: an audience kept informed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub audience: String,
    pub channel: String,
    #[serde(flatten)]
    pub trigger: Trigger,
    pub message: Option<String>,
    /// Where the runbook declares it.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "trigger", rename_all = "snake_case")]
pub enum Trigger {
    Every { interval_ms: u64 },
    On { events: Vec<Event> },
}

/// A run event; `failure` may be narrowed to one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Event {
    pub kind: EventKind,
    pub class: Option<FailureClass>,
}

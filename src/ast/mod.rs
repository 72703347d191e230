//! The typed syntax tree of a runbook, as written: order is kept, nothing is resolved
//! or defaulted. Every node owns a `Span`. The checker reads it; `fmt` prints it back.
//!
//! Blocks are lists of entries in the order the author wrote them (not structs with a
//! field per setting), so `fmt` can keep that order and the comments between entries,
//! and the checker can point at a duplicate setting.

mod literal;
mod node;
mod words;

pub use literal::{duration_text, shown_escaped, Duration, Ident, Percent, Text, TextStyle};
pub use node::*;
pub use words::Word;

use serde::{Deserialize, Serialize};

use crate::source::Span;

/// A whole runbook file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Runbook {
    pub header: Header,
    pub items: Vec<Item>,
    /// Every `# comment`, in source order; only `fmt` uses them.
    pub comments: Vec<Comment>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// The text after `#`, as written.
    pub text: String,
    pub span: Span,
}

/// `runbook "name" { ... }`: what the plan is, how risky, and what it promises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub name: Text,
    pub entries: Vec<HeaderEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeaderEntry {
    pub kind: HeaderEntryKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", content = "value", rename_all = "snake_case")]
pub enum HeaderEntryKind {
    Title(Text),
    Description(Text),
    Version(Text),
    Risk(Keyword<Risk>),
    Objective(Objective),
    Environment(Ident),
    Change(Ident),
    Commander(Ident),
    DefaultTimeout(Duration),
    Roster(Text),
    /// The Prometheus server `prometheus` probes query.
    PrometheusUrl(Text),
    DrillEvery(Duration),
    ReviewEvery(Duration),
    Postmortem {
        by: Ident,
        within: Option<Duration>,
    },
}

/// A closed set of words from the grammar, with where it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyword<T> {
    pub value: T,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    pub kind: Keyword<ObjectiveKind>,
    pub bound: ObjectiveBound,
    pub limit: Duration,
}

/// What an objective measures, each clock starting at the first failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveKind {
    /// Time from the first failure until a rollback starts.
    RollbackStart,
    /// Time from the first failure until the pre-change state is back.
    Restored,
    /// Time the service is unavailable in total.
    Outage,
    /// Time from the first failure until people are alerted.
    Alert,
}

/// How the objective was phrased: `within 30m of failure` or `at most 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveBound {
    WithinOfFailure,
    AtMost,
}

/// A top-level declaration or node, in file order. The rarer, larger kinds are
/// boxed, so that a list of items (a hundred thousand in a large runbook) is not as
/// wide as its widest kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    Role(Role),
    Audience(Audience),
    Inventory(Inventory),
    Param(Box<Param>),
    Secret(Secret),
    Probe(Box<Probe>),
    Channel(Channel),
    Notify(Box<Notify>),
    Ship(Ship),
    Policy(Policy),
    Step(Step),
    Gate(Gate),
    Timer(Box<Timer>),
    Watch(Watch),
    Waves(Waves),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Role(item) => item.span,
            Item::Audience(item) => item.span,
            Item::Inventory(item) => item.span,
            Item::Param(item) => item.span,
            Item::Secret(item) => item.span,
            Item::Probe(item) => item.span,
            Item::Channel(item) => item.span,
            Item::Notify(item) => item.span,
            Item::Ship(item) => item.span,
            Item::Policy(item) => item.span,
            Item::Step(item) => item.span,
            Item::Gate(item) => item.span,
            Item::Timer(item) => item.span,
            Item::Watch(item) => item.span,
            Item::Waves(item) => item.span,
        }
    }
}

/// `role commander "IT lead; decides on rollback"`: who may own steps and answer gates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub name: Ident,
    pub description: Option<Text>,
    pub span: Span,
}

/// `audience users "Customers, via the status page"`: people told things, never asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Audience {
    pub name: Ident,
    pub description: Option<Text>,
    pub span: Span,
}

/// `inventory web from "inventory/web.toml" where tier = "payment"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub name: Ident,
    pub source: InventorySource,
    pub filter: Vec<LabelMatch>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", content = "value", rename_all = "snake_case")]
pub enum InventorySource {
    /// Hosts read from a TOML or plain-list file, relative to the runbook.
    File(Text),
    /// Hosts written in the runbook itself.
    Hosts(Vec<Text>),
    /// A subset of another inventory (with `where`).
    Inventory(Ident),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelMatch {
    pub label: Ident,
    pub equal: bool,
    pub value: Text,
    pub span: Span,
}

/// `ship "scripts/rollback.sh"`: a file beside the runbook that its commands use. A
/// command on a remote host finds it at the same relative path, as it is uploaded first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ship {
    /// Relative to the runbook's folder, as written.
    pub path: Text,
    pub span: Span,
}

/// `param kernel: string = "6.1.0-28" "Kernel to install"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: Ident,
    pub ty: Keyword<ParamType>,
    pub default: Option<Literal>,
    pub description: Option<Text>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    String,
    Int,
    Float,
    Bool,
    Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "literal", rename_all = "snake_case")]
pub enum Literal {
    String(Text),
    Number { value: f64, span: Span },
    Bool { value: bool, span: Span },
    Duration(Duration),
    Percent(Percent),
}

impl Literal {
    pub fn span(&self) -> Span {
        match self {
            Literal::String(text) => text.span,
            Literal::Number { span, .. } | Literal::Bool { span, .. } => *span,
            Literal::Duration(duration) => duration.span,
            Literal::Percent(percent) => percent.span,
        }
    }
}

/// `secret token from env "CLOUD_TOKEN"`: a value that is never printed or logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    pub name: Ident,
    pub source: SecretSource,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum SecretSource {
    Env(Text),
    File(Text),
}

/// `probe error_rate = prometheus "..."`: a number the runbook can decide on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub name: Ident,
    pub source: ProbeSource,
    /// For `command` and `http`: where the number is in a JSON answer.
    pub json_path: Option<Text>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "target", rename_all = "snake_case")]
pub enum ProbeSource {
    Prometheus(Text),
    Command(Text),
    Http(Text),
}

/// `channel chat webhook "https://..."`: somewhere messages can be sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub name: Ident,
    pub kind: ChannelKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "target", rename_all = "snake_case")]
pub enum ChannelKind {
    Webhook(Text),
    Command(Text),
    Log,
}

/// `notify comms via chat every 15m "..."` or `notify ops via sms on failure severe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notify {
    pub audience: Ident,
    pub channel: Ident,
    pub trigger: NotifyTrigger,
    pub message: Option<Text>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "trigger", content = "value", rename_all = "snake_case")]
pub enum NotifyTrigger {
    Every(Duration),
    On(Vec<Event>),
}

/// A run event a notification can follow; `failure` may name one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub kind: Keyword<EventKind>,
    pub class: Option<Keyword<FailureClass>>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Start,
    Finish,
    Wave,
    Gate,
    Failure,
    Rollback,
    Breach,
}

/// How bad a failure is; each class has its own `on failure` policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// No business impact: record it and carry on.
    Minor,
    /// Part of the business affected: stop spreading it and undo it where it happened.
    Functional,
    /// Business down: everything is rolled back.
    Severe,
}

/// `on failure severe { ... }`: what happens, in order, when a failure of a class occurs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub class: Keyword<FailureClass>,
    pub actions: Vec<Action>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Continue {
        span: Span,
    },
    Pause {
        span: Span,
    },
    Abort {
        span: Span,
    },
    Rollback {
        scope: Keyword<RollbackScope>,
        span: Span,
    },
    Approve(Approval),
    Notify(Message),
    /// A step that only runs while handling this failure (a vendor call, a failover).
    Step(Step),
}

impl Action {
    pub fn span(&self) -> Span {
        match self {
            Action::Continue { span }
            | Action::Pause { span }
            | Action::Abort { span }
            | Action::Rollback { span, .. } => *span,
            Action::Approve(approval) => approval.span,
            Action::Notify(message) => message.span,
            Action::Step(step) => step.span,
        }
    }
}

/// How much a rollback undoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackScope {
    /// The failed step, where it failed.
    Step,
    /// Every completed step of the current wave, on the hosts that failed.
    Hosts,
    /// Every completed step of the current wave, on all of its hosts.
    Wave,
    /// Everything completed so far, newest first.
    All,
}

/// `notify comms via chat "Upgrade rolled back: {{failure.summary}}"` inside a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub audience: Ident,
    pub channel: Option<Ident>,
    pub text: Text,
    pub span: Span,
}

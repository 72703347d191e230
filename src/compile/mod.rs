//! Compile stage: checked runbook -> executable graph, the only input the engine takes.
//!
//! The graph holds nodes (steps, scripts, manual steps, gates, timers, watches, waves
//! and the rollback of each step that has one) with every setting resolved, the edges
//! between them, the failure policies, and the declarations the engine needs to run
//! without the AST. Three views print it: `to_text` (snapshot tests), `to_dot`
//! (Graphviz) and `to_mermaid` (Markdown pages); `serde_json` gives the fourth.

mod declaration;
mod dot;
mod edge;
mod graph;
mod label;
mod lower;
mod mermaid;
mod node;
mod policy;
mod template;
mod text;

#[cfg(test)]
mod tests;

pub use declaration::{
    Audience, Channel, ChannelKind, Event, Header, Inventory, InventorySource, LabelMatch,
    Objective, Param, Postmortem, Probe, ProbeSource, Role, Secret, SecretSource, Shipped,
    Subscription, Trigger, Value,
};
pub use edge::{Edge, EdgeKind};
pub use graph::Graph;
pub use node::{
    rollback_id, ActionKind, Approval, Budget, Name, Node, NodeKind, Poll, Record, Requirement,
    Retry, Stage, StepAction, StepSettings, Target, Work, ROLLBACK_PREFIX,
};
pub use policy::{Action, Policy};
pub use template::{literal_openings, segments, Segment};

use crate::check::CheckedRunbook;
use crate::internal::InternalError;

/// Lowers a checked runbook to its graph. An `Err` is a bug (the checker let through
/// something it promised to refuse), never a mistake in the user's file.
pub fn compile(runbook: &CheckedRunbook) -> Result<Graph, InternalError> {
    lower::lower(runbook.ast())
}

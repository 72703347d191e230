use serde::Serialize;

use super::node::Name;

/// `to` waits for `from`: a node runs once every edge into it is satisfied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: Name,
    pub to: Name,
    pub kind: EdgeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// Implicit: a node without `after` follows the node before it in its block.
    Order,
    /// Explicit: `after a, b`.
    Dependency,
    /// From a step to the node that undoes it; taken only when rolling back.
    Rollback,
}

//! What a run needs before it starts, found before rather than halfway through it:
//! a roster, when the runbook asks for approvals by role.

use crate::compile::{Action, Graph, NodeKind};
use crate::source::Span;

/// Where the runbook asks for an approval: each needs a roster to say who may give it.
pub fn approvals(graph: &Graph) -> Vec<Span> {
    let gates = graph.nodes().iter().flat_map(|node| match &node.kind {
        NodeKind::Gate { approvals, .. } => approvals.iter().map(|a| a.span).collect(),
        _ => Vec::new(),
    });
    let policies = graph.policies().iter().flat_map(|policy| {
        policy.actions.iter().filter_map(|action| match action {
            Action::Approve(approval) => Some(approval.span),
            _ => None,
        })
    });
    gates.chain(policies).collect()
}

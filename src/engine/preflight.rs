//! What this engine cannot run yet, found before a run starts rather than halfway
//! through it: subscriptions and channels other than the log (they deliver nothing
//! yet).
//! Also whether the run asks for approvals, which need a roster.

use crate::compile::{Action, ChannelKind, Graph, NodeKind};
use crate::source::Span;

/// One construct the engine cannot run, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub what: String,
    pub span: Span,
}

pub fn unsupported(graph: &Graph) -> Vec<Unsupported> {
    let mut found = Vec::new();
    let mut say = |what: String, span: Span| found.push(Unsupported { what, span });
    for policy in graph.policies() {
        for action in &policy.actions {
            if let Action::Notify {
                channel: Some(channel),
                ..
            } = action
            {
                let kind = graph.channels().iter().find(|c| &c.name == channel);
                if kind.is_some_and(|c| !matches!(c.kind, ChannelKind::Log)) {
                    say(format!("a notification via `{channel}`"), policy.span);
                }
            }
        }
    }
    for subscription in graph.subscriptions() {
        say(
            format!("the notifications to `{}`", subscription.audience),
            subscription.span,
        );
    }
    found
}

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

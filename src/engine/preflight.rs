//! What this engine cannot run yet, found before a run starts rather than halfway
//! through it: gates and watches (they need approvals and probes), sampling, failure
//! policies that ask for an approval, and subscriptions (channels deliver nothing yet
//! but the log).

use crate::compile::{Action, ChannelKind, Graph, NodeKind, Target};
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
    for node in graph.nodes() {
        match &node.kind {
            NodeKind::Gate { .. } => say(format!("gate `{}`", node.name), node.span),
            NodeKind::Watch { .. } => say(format!("watch `{}`", node.name), node.span),
            NodeKind::Step(work) | NodeKind::Script(work) | NodeKind::Manual(work) => {
                if matches!(
                    work.settings.target,
                    Target::SampleOfInventory { .. } | Target::SampleOfWaves { .. }
                ) {
                    say(format!("sampling hosts in `{}`", node.name), node.span);
                }
            }
            _ => {}
        }
    }
    for policy in graph.policies() {
        for action in &policy.actions {
            match action {
                Action::Approve(approval) => {
                    say("an approval in a failure policy".to_string(), approval.span);
                }
                Action::Notify {
                    channel: Some(channel),
                    ..
                } => {
                    let kind = graph.channels().iter().find(|c| &c.name == channel);
                    if kind.is_some_and(|c| !matches!(c.kind, ChannelKind::Log)) {
                        say(format!("a notification via `{channel}`"), policy.span);
                    }
                }
                _ => {}
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

//! What the drawn views (dot, Mermaid) say about a node, before each escapes it in
//! its own way: short lines, so a picture of a long plan stays readable.

use super::graph::Graph;
use super::node::{Name, Node, NodeKind, Target};
use super::policy::{Action, Policy};
use super::text::{duration, percent, stage_text};
use crate::ast::Word;

/// A node's id as the drawn views write it: `n_NAME`, or `r_STEP` for a rollback
/// node. Graphviz and Mermaid both read `:` in an id as syntax, and the prefix keeps a
/// name like `end` from reading as a Mermaid keyword.
pub(super) fn view_id(id: &str) -> String {
    match id.strip_prefix(super::node::ROLLBACK_PREFIX) {
        Some(step) => format!("r_{step}"),
        None => format!("n_{id}"),
    }
}

/// The id of the drawn node for the `index`th policy.
pub(super) fn policy_view_id(index: usize) -> String {
    format!("p_{index}")
}

/// The lines of a node's label: its name, its description, and what kind of wait or
/// work it is.
pub(super) fn node_lines(node: &Node) -> Vec<String> {
    let mut lines = vec![match node.kind {
        NodeKind::Rollback { .. } => format!("undo {}", node.name),
        _ => node.id.to_string(),
    }];
    lines.extend(node.description.clone());
    let detail = match &node.kind {
        NodeKind::Step(work) | NodeKind::Script(work) | NodeKind::Manual(work) => {
            Some(target(&work.settings.target))
        }
        NodeKind::Gate {
            approvals,
            conditions,
            ..
        } => {
            let mut parts: Vec<String> = approvals
                .iter()
                .map(|approval| format!("approve: {}", approval.roles.join(", ")))
                .collect();
            if !conditions.is_empty() {
                parts.push(format!("{} condition(s)", conditions.len()));
            }
            Some(parts.join(" · "))
        }
        NodeKind::Timer { duration_ms } => Some(format!("wait {}", duration(*duration_ms))),
        NodeKind::Watch {
            interval_ms,
            duration_ms,
            ..
        } => Some(format!(
            "every {} for {}",
            duration(*interval_ms),
            duration(*duration_ms)
        )),
        NodeKind::Waves { over, stages, .. } => Some(format!(
            "over {over}: {}",
            stages
                .iter()
                .map(|stage| stage_text(*stage))
                .collect::<Vec<_>>()
                .join(" → ")
        )),
        NodeKind::Rollback { target: on, .. } => Some(target(on)),
    };
    lines.extend(detail.filter(|detail| !detail.is_empty()));
    if let Some(owner) = &node.owner {
        lines.push(format!("owner: {owner}"));
    }
    lines
}

/// The title of a waves body's frame; the waves node inside it says the rest.
pub(super) fn waves_title(node: &Node) -> String {
    format!("waves {}", node.id)
}

pub(super) fn policy_title(policy: &Policy) -> String {
    format!("on failure {}", policy.class.word())
}

/// The handler steps a policy runs, in order, by node id, each with the label of its
/// link from the policy: its place in that order, and whether the policy waits for it.
pub(super) fn handlers(policy: &Policy) -> Vec<(&str, String)> {
    policy
        .actions
        .iter()
        .filter_map(|action| match action {
            Action::Run { node, background } => Some((node.as_str(), *background)),
            _ => None,
        })
        .enumerate()
        .map(|(index, (node, background))| {
            let order = index + 1;
            let label = if background {
                format!("{order} (background)")
            } else {
                order.to_string()
            };
            (node, label)
        })
        .collect()
}

/// The last node of a waves body that no other body node waits for: where an edge
/// leaving the waves block is drawn from, so it leaves from the bottom of the frame.
pub(super) fn body_exit<'g>(graph: &'g Graph, body: &'g [Name]) -> Option<&'g str> {
    body.iter()
        .rev()
        .find(|id| {
            !graph.edges().iter().any(|edge| {
                edge.from == **id
                    && edge.kind != super::edge::EdgeKind::Rollback
                    && body.contains(&edge.to)
            })
        })
        .map(|id| &**id)
}

fn target(target: &Target) -> String {
    match target {
        Target::Local => String::new(),
        Target::Inventory { inventory } => format!("on {inventory}"),
        Target::Wave => "on the wave's hosts".to_string(),
        Target::SampleOfInventory {
            percent: share,
            inventory,
        } => {
            format!("on {} of {inventory}", percent(*share))
        }
        Target::SampleOfWaves {
            percent: share,
            waves,
        } => format!("on {} of {waves}", percent(*share)),
    }
}

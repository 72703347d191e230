//! The graph as a Mermaid flowchart, for Markdown pages: a subgraph per waves body,
//! rollbacks as red dotted links, policy handlers as dotted links.

use super::edge::EdgeKind;
use super::graph::Graph;
use super::label::{handlers, node_lines, policy_title, policy_view_id, view_id};
use super::node::{Node, NodeKind};

impl Graph {
    /// A Mermaid flowchart, for Markdown pages.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart TD\n");
        for node in self.nodes.iter().filter(|node| node.parent.is_none()) {
            match &node.kind {
                NodeKind::Waves { body, .. } => {
                    let mut title = vec![format!("waves {}", node.id)];
                    title.extend(node_lines(node).into_iter().skip(1));
                    out.push_str(&format!(
                        "  subgraph {}[{}]\n    direction TB\n",
                        view_id(&node.id),
                        string(&title)
                    ));
                    for child in body.iter().filter_map(|id| self.node(id)) {
                        out.push_str(&format!("  {}", node_statement(child)));
                    }
                    out.push_str("  end\n");
                }
                _ => out.push_str(&node_statement(node)),
            }
        }
        for (index, policy) in self.policies.iter().enumerate() {
            if !handlers(policy).is_empty() {
                out.push_str(&format!(
                    "  {}{{{{{}}}}}\n",
                    policy_view_id(index),
                    string(&[policy_title(policy)])
                ));
            }
        }
        let mut rollback_links = Vec::new();
        for (index, edge) in self.edges.iter().enumerate() {
            let arrow = match edge.kind {
                EdgeKind::Order => "-->",
                EdgeKind::Dependency => "==>",
                EdgeKind::Rollback => {
                    rollback_links.push(index.to_string());
                    "-.->|rollback|"
                }
            };
            out.push_str(&format!(
                "  {} {arrow} {}\n",
                view_id(&edge.from),
                view_id(&edge.to)
            ));
        }
        for (index, policy) in self.policies.iter().enumerate() {
            for (handler, label) in handlers(policy) {
                out.push_str(&format!(
                    "  {} -.->|{}| {}\n",
                    policy_view_id(index),
                    string(&[label]),
                    view_id(handler)
                ));
            }
        }
        if self
            .nodes
            .iter()
            .any(|node| matches!(node.kind, NodeKind::Rollback { .. }))
        {
            out.push_str("  classDef rollback stroke:#c00,stroke-dasharray:4 3\n");
        }
        if !rollback_links.is_empty() {
            out.push_str(&format!(
                "  linkStyle {} stroke:#c00\n",
                rollback_links.join(",")
            ));
        }
        out
    }
}

fn node_statement(node: &Node) -> String {
    let label = string(&node_lines(node));
    let shape = match node.kind {
        NodeKind::Step(_) | NodeKind::Waves { .. } => format!("[{label}]"),
        NodeKind::Script(_) => format!("[[{label}]]"),
        NodeKind::Manual(_) => format!("[/{label}/]"),
        NodeKind::Gate { .. } => format!("{{{label}}}"),
        NodeKind::Timer { .. } => format!("(({label}))"),
        NodeKind::Watch { .. } => format!("([{label}])"),
        NodeKind::Rollback { .. } => format!("[{label}]:::rollback"),
    };
    format!("  {}{shape}\n", view_id(&node.id))
}

/// A quoted Mermaid label: lines joined with `<br/>`, and every character Mermaid
/// would read as syntax or HTML written as an entity code (`#quot;`, `#35;`).
fn string<S: AsRef<str>>(lines: &[S]) -> String {
    let mut quoted = String::from("\"");
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            quoted.push_str("<br/>");
        }
        for c in line.as_ref().chars() {
            match c {
                '"' => quoted.push_str("#quot;"),
                '#' => quoted.push_str("#35;"),
                '<' => quoted.push_str("#lt;"),
                '>' => quoted.push_str("#gt;"),
                '&' => quoted.push_str("#amp;"),
                '`' => quoted.push_str("#96;"),
                '\n' => quoted.push_str("<br/>"),
                c if c.is_control() => quoted.push(' '),
                c => quoted.push(c),
            }
        }
    }
    quoted.push('"');
    quoted
}

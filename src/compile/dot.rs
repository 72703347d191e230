//! The graph as Graphviz source (`dot -Tsvg`): nodes shaped by kind, each waves body
//! in a frame (a cluster), rollbacks as dashed red edges, policy handlers dotted.

use super::edge::EdgeKind;
use super::graph::Graph;
use super::label::{
    body_exit, handlers, node_lines, policy_title, policy_view_id, view_id, waves_title,
};
use super::node::{Node, NodeKind};

impl Graph {
    /// Graphviz source (`dot -Tsvg`).
    pub fn to_dot(&self) -> String {
        let mut out = String::new();
        let title = match &self.header.title {
            Some(title) => vec![self.header.name.clone(), title.clone()],
            None => vec![self.header.name.clone()],
        };
        out.push_str(&format!(
            "digraph {} {{\n",
            string(&[self.header.name.as_str()])
        ));
        out.push_str(&format!(
            "  graph [label={}, labelloc=t, compound=true];\n",
            string(&title)
        ));
        out.push_str("  node [shape=box];\n");
        for node in self.nodes.iter().filter(|node| node.parent.is_none()) {
            match &node.kind {
                NodeKind::Waves { body, .. } => {
                    out.push_str(&format!(
                        "  subgraph {} {{\n    label={};\n    style=rounded;\n",
                        cluster_id(&node.id),
                        string(&[waves_title(node)])
                    ));
                    out.push_str(&format!("  {}", node_statement(node)));
                    for child in body.iter().filter_map(|id| self.node(id)) {
                        out.push_str(&format!("  {}", node_statement(child)));
                    }
                    out.push_str("  }\n");
                }
                _ => out.push_str(&node_statement(node)),
            }
        }
        for (index, policy) in self.policies.iter().enumerate() {
            if !handlers(policy).is_empty() {
                out.push_str(&format!(
                    "  {} [shape=octagon, label={}];\n",
                    policy_view_id(index),
                    string(&[policy_title(policy)])
                ));
            }
        }
        for node in &self.nodes {
            if let NodeKind::Waves { body, .. } = &node.kind {
                // Each wave starts the body nodes that wait for nothing else in it.
                for id in body
                    .iter()
                    .filter(|id| !self.edges_into(id).any(|edge| body.contains(&edge.from)))
                {
                    out.push_str(&format!(
                        "  {} -> {} [color=gray50];\n",
                        view_id(&node.id),
                        view_id(id)
                    ));
                }
            }
        }
        for edge in &self.edges {
            let (from, ltail) = self.edge_tail(&edge.from, &edge.to);
            let mut attributes: Vec<String> = match edge.kind {
                EdgeKind::Order => Vec::new(),
                EdgeKind::Dependency => vec!["style=bold".to_string()],
                EdgeKind::Rollback => vec!["style=dashed".to_string(), "color=red".to_string()],
            };
            attributes.extend(ltail.map(|cluster| format!("ltail={cluster}")));
            out.push_str(&format!(
                "  {} -> {}{};\n",
                from,
                view_id(&edge.to),
                attribute_list(&attributes)
            ));
        }
        for (index, policy) in self.policies.iter().enumerate() {
            for (handler, label) in handlers(policy) {
                out.push_str(&format!(
                    "  {} -> {} [style=dotted, label={}];\n",
                    policy_view_id(index),
                    view_id(handler),
                    string(&[label])
                ));
            }
        }
        out.push_str("}\n");
        out
    }

    /// Where an edge from `from` is drawn from: an edge leaving a waves block leaves
    /// from its body's last node, clipped at the frame, so it reads as "after the waves".
    fn edge_tail(&self, from: &str, to: &str) -> (String, Option<String>) {
        let Some(NodeKind::Waves { body, .. }) = self.node(from).map(|node| &node.kind) else {
            return (view_id(from), None);
        };
        let head_inside = self
            .node(to)
            .is_some_and(|head| head.parent.as_deref() == Some(from));
        match body_exit(self, body) {
            Some(exit) if !head_inside => (view_id(exit), Some(cluster_id(from))),
            _ => (view_id(from), None),
        }
    }
}

fn node_statement(node: &Node) -> String {
    let shape = match node.kind {
        NodeKind::Step(_) => "shape=box",
        NodeKind::Script(_) => "shape=box, style=rounded",
        NodeKind::Manual(_) => "shape=note",
        NodeKind::Gate { .. } => "shape=diamond",
        NodeKind::Timer { .. } => "shape=ellipse",
        NodeKind::Watch { .. } => "shape=ellipse, peripheries=2",
        NodeKind::Waves { .. } => "shape=box3d",
        NodeKind::Rollback { .. } => "shape=box, style=dashed, color=red",
    };
    format!(
        "  {} [{shape}, label={}];\n",
        view_id(&node.id),
        string(&node_lines(node))
    )
}

fn cluster_id(waves: &str) -> String {
    format!("cluster_{waves}")
}

fn attribute_list(attributes: &[String]) -> String {
    if attributes.is_empty() {
        String::new()
    } else {
        format!(" [{}]", attributes.join(", "))
    }
}

/// A dot string of centred lines: quotes and backslashes escaped, every line break
/// (written, or inside a line) made dot's own `\n`, other control characters dropped.
fn string<S: AsRef<str>>(lines: &[S]) -> String {
    let mut quoted = String::from("\"");
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            quoted.push_str("\\n");
        }
        for c in line.as_ref().chars() {
            match c {
                '"' => quoted.push_str("\\\""),
                '\\' => quoted.push_str("\\\\"),
                '\n' => quoted.push_str("\\n"),
                c if c.is_control() => quoted.push(' '),
                c => quoted.push(c),
            }
        }
    }
    quoted.push('"');
    quoted
}

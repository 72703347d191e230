//! Compile stage: checked runbook -> executable graph, the only input the engine takes.

use serde::Serialize;

use crate::check::CheckedRunbook;
use crate::internal::InternalError;

#[derive(Debug, Clone, Serialize)]
pub struct Graph {}

impl Graph {
    /// The graph as indented text, for people and snapshot tests.
    pub fn to_text(&self) -> String {
        String::new()
    }

    /// Graphviz source (`dot -Tsvg`).
    pub fn to_dot(&self) -> String {
        String::new()
    }

    /// A Mermaid flowchart, for Markdown pages.
    pub fn to_mermaid(&self) -> String {
        String::new()
    }
}

pub fn compile(_runbook: &CheckedRunbook) -> Result<Graph, InternalError> {
    Ok(Graph {})
}

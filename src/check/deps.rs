//! What each node waits for, by the order rules of docs/design.md: a node without
//! `after` waits for the node before it in its block (the top level, or one waves
//! block); `after a, b` waits for exactly those. Handler steps wait for nothing: they
//! run when a failure is handled.
//!
//! Built once; the order pass reports cycles and unreachable nodes from it, and the
//! risk-tier pass asks what comes before what.

use std::collections::BTreeSet;

use crate::ast::Ident;
use crate::source::Span;

use super::symbols::{Place, Symbols};

/// Why one node waits for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason<'a> {
    /// Named in its `after`.
    After(&'a Ident),
    /// The node written before it in the same block.
    Previous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Edge<'a> {
    pub on: usize,
    pub reason: Reason<'a>,
}

/// An `after` that names a node on the other side of a waves block's boundary.
#[derive(Debug, Clone, Copy)]
pub(super) struct Crossing<'a> {
    pub from: usize,
    pub name: &'a Ident,
    pub to: usize,
}

#[derive(Debug, Default)]
pub(super) struct Dependencies<'a> {
    /// For each node (by index in `Symbols::nodes`), what it waits for.
    pub edges: Vec<Vec<Edge<'a>>>,
    /// `after`s that cross a waves boundary; they are left out of `edges`.
    pub crossings: Vec<Crossing<'a>>,
}

impl<'a> Dependencies<'a> {
    pub fn build(symbols: &Symbols<'a>) -> Self {
        let mut dependencies = Dependencies {
            edges: vec![Vec::new(); symbols.nodes.len()],
            crossings: Vec::new(),
        };
        // The last node seen in each block: `None` for the top level, `Some(waves)`.
        let mut previous_in_block: std::collections::BTreeMap<Option<usize>, usize> =
            Default::default();
        for (index, node) in symbols.nodes.iter().enumerate() {
            let block = match node.place {
                Place::Top => None,
                Place::InWaves(waves) => Some(waves),
                Place::Handler(_) => continue,
            };
            match node.node.after() {
                Some(names) => {
                    for name in names {
                        let Some(&on) = symbols.node_index.get(name.name.as_str()) else {
                            continue;
                        };
                        if crosses(block, symbols.nodes[on].place) {
                            dependencies.crossings.push(Crossing {
                                from: index,
                                name,
                                to: on,
                            });
                        } else {
                            dependencies.edges[index].push(Edge {
                                on,
                                reason: Reason::After(name),
                            });
                        }
                    }
                }
                None => {
                    if let Some(&on) = previous_in_block.get(&block) {
                        dependencies.edges[index].push(Edge {
                            on,
                            reason: Reason::Previous,
                        });
                    }
                }
            }
            previous_in_block.insert(block, index);
        }
        dependencies
    }

    /// Every node `node` waits for, directly or not.
    pub fn ancestors(&self, node: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![node];
        while let Some(current) = stack.pop() {
            for edge in &self.edges[current] {
                if seen.insert(edge.on) {
                    stack.push(edge.on);
                }
            }
        }
        seen
    }

    /// Every node that comes after `earlier`: waits for it, directly or not, or sits
    /// inside a waves block that does (or inside `earlier` itself, when it is one).
    pub fn later_than(&self, symbols: &Symbols<'_>, earlier: usize) -> BTreeSet<usize> {
        let mut waiting_on: Vec<Vec<usize>> = vec![Vec::new(); self.edges.len()];
        for (from, out) in self.edges.iter().enumerate() {
            for edge in out {
                waiting_on[edge.on].push(from);
            }
        }
        for (index, node) in symbols.nodes.iter().enumerate() {
            if let Place::InWaves(waves) = node.place {
                waiting_on[waves].push(index);
            }
        }
        let mut later = BTreeSet::new();
        let mut stack = vec![earlier];
        while let Some(current) = stack.pop() {
            for &next in &waiting_on[current] {
                if later.insert(next) {
                    stack.push(next);
                }
            }
        }
        later
    }

    /// Where the edge is written, for labels: the name in `after`, or the node's name.
    pub fn edge_span(&self, symbols: &Symbols<'_>, from: usize, edge: Edge<'_>) -> Span {
        match edge.reason {
            Reason::After(name) => name.span,
            Reason::Previous => symbols.nodes[from].node.name().span,
        }
    }
}

/// Whether an `after` from a node in `block` may not name a node at `target`. Top-level
/// nodes may wait for top-level nodes, nodes in a waves block for nodes of the same
/// block. Waiting for a handler step is allowed here and reported as unreachable.
fn crosses(block: Option<usize>, target: Place) -> bool {
    match (block, target) {
        (_, Place::Handler(_)) | (None, Place::Top) => false,
        (None, Place::InWaves(_)) | (Some(_), Place::Top) => true,
        (Some(waves), Place::InWaves(other)) => waves != other,
    }
}

//! Order: no circle of nodes waiting for each other, no main-flow node waiting for a
//! step that only runs while a failure is handled, no `after` across a waves block's
//! boundary.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::diagnostic::Diagnostic;

use super::codes;
use super::deps::{Edge, Reason};
use super::phrases::quoted_list;
use super::symbols::Place;
use super::Checker;
use crate::ast::Word;

/// How many nodes that also can never run are named in one finding.
const MAX_LISTED: usize = 5;

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let cyclic = cycles(checker, findings);
    unreachable(checker, &cyclic, findings);
    crossings(checker, findings);
}

/// Reports each circle once; returns every node on one.
fn cycles(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) -> BTreeSet<usize> {
    let edges = &checker.deps.edges;
    let mut on_cycle = BTreeSet::new();
    for component in strongly_connected(edges) {
        let start = component[0];
        on_cycle.extend(component.iter().copied());
        let members: BTreeSet<usize> = component.iter().copied().collect();
        let path = circle_through(edges, start, &members);
        findings.push(cycle_finding(checker, &path));
    }
    on_cycle
}

fn cycle_finding(checker: &Checker<'_>, path: &[(usize, Edge<'_>)]) -> Diagnostic {
    let symbols = &checker.symbols;
    let name = |index: usize| symbols.nodes[index].node.name().name.as_str();
    let mut names: Vec<&str> = path.iter().map(|(from, _)| name(*from)).collect();
    names.extend(path.first().map(|(from, _)| name(*from)));
    let mut diagnostic = Diagnostic::new(
        codes::DEPENDENCY_CYCLE,
        format!(
            "these nodes wait for each other in a circle: {}",
            names.join(" -> ")
        ),
    );
    for (from, edge) in path {
        let span = checker.deps.edge_span(symbols, *from, *edge);
        let label = match edge.reason {
            Reason::After(_) => format!("`{}` waits for `{}`", name(*from), name(edge.on)),
            Reason::Previous => format!(
                "`{}` waits for `{}`, the node written before it",
                name(*from),
                name(edge.on)
            ),
        };
        diagnostic = diagnostic.with_label(span, label);
    }
    diagnostic.with_help(
        "none of them can ever start; remove one `after` from the circle (a node without `after` waits for the node written before it)",
    )
}

/// A shortest circle from `start` back to it, as (node, edge taken) pairs.
fn circle_through<'a>(
    edges: &[Vec<Edge<'a>>],
    start: usize,
    members: &BTreeSet<usize>,
) -> Vec<(usize, Edge<'a>)> {
    let mut came_from: BTreeMap<usize, (usize, Edge<'a>)> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(current) = queue.pop_front() {
        for edge in &edges[current] {
            if !members.contains(&edge.on) {
                continue;
            }
            if edge.on == start {
                let mut path = vec![(current, *edge)];
                let mut at = current;
                while at != start {
                    let (previous, taken) = came_from[&at];
                    path.push((previous, taken));
                    at = previous;
                }
                path.reverse();
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(slot) = came_from.entry(edge.on) {
                slot.insert((current, *edge));
                queue.push_back(edge.on);
            }
        }
    }
    Vec::new()
}

/// The strongly connected components that hold a circle (more than one node, or one
/// waiting for itself), each sorted, in order of their first node. Kosaraju, without
/// recursion so long plans cannot exhaust the stack, and with no allocation per node:
/// a plan with no circle is the common case, with hundreds of thousands of nodes.
fn strongly_connected(edges: &[Vec<Edge<'_>>]) -> Vec<Vec<usize>> {
    let count = edges.len();
    let mut finished = Vec::with_capacity(count);
    let mut visited = vec![false; count];
    let mut stack = Vec::new();
    for root in 0..count {
        if visited[root] {
            continue;
        }
        visited[root] = true;
        stack.push((root, 0));
        while let Some((node, next)) = stack.pop() {
            if let Some(edge) = edges[node].get(next) {
                stack.push((node, next + 1));
                if !visited[edge.on] {
                    visited[edge.on] = true;
                    stack.push((edge.on, 0));
                }
            } else {
                finished.push(node);
            }
        }
    }
    // The reversed edges, as one list sliced per node (`reverse[starts[n]..starts[n + 1]]`).
    let mut starts = vec![0; count + 1];
    for edge in edges.iter().flatten() {
        starts[edge.on + 1] += 1;
    }
    for node in 0..count {
        starts[node + 1] += starts[node];
    }
    let mut filled = starts.clone();
    let mut reverse = vec![0; starts[count]];
    for (from, out) in edges.iter().enumerate() {
        for edge in out {
            reverse[filled[edge.on]] = from;
            filled[edge.on] += 1;
        }
    }
    let mut assigned = vec![false; count];
    let mut components: Vec<Vec<usize>> = Vec::new();
    let mut members = Vec::new();
    let mut pending = Vec::new();
    for &root in finished.iter().rev() {
        if assigned[root] {
            continue;
        }
        members.clear();
        pending.push(root);
        assigned[root] = true;
        while let Some(node) = pending.pop() {
            members.push(node);
            for &from in &reverse[starts[node]..starts[node + 1]] {
                if !assigned[from] {
                    assigned[from] = true;
                    pending.push(from);
                }
            }
        }
        let waits_for_itself = edges[root].iter().any(|edge| edge.on == root);
        if members.len() > 1 || waits_for_itself {
            let mut component = members.clone();
            component.sort_unstable();
            components.push(component);
        }
    }
    components.sort_by_key(|members| members[0]);
    components
}

fn unreachable(checker: &Checker<'_>, cyclic: &BTreeSet<usize>, findings: &mut Vec<Diagnostic>) {
    let symbols = &checker.symbols;
    // Who waits on whom, built only when a finding needs it (rarely).
    let mut waiting_on: Option<Vec<Vec<usize>>> = None;
    for (from, out) in checker.deps.edges.iter().enumerate() {
        if cyclic.contains(&from) {
            continue;
        }
        for edge in out {
            let Place::Handler(policy) = symbols.nodes[edge.on].place else {
                continue;
            };
            let node = symbols.nodes[from].node;
            let handler = symbols.nodes[edge.on].node.name();
            let class = symbols.policies[policy].class.value.word();
            let waiting_on = waiting_on.get_or_insert_with(|| {
                let mut waiting_on = vec![Vec::new(); symbols.nodes.len()];
                for (from, out) in checker.deps.edges.iter().enumerate() {
                    for edge in out {
                        waiting_on[edge.on].push(from);
                    }
                }
                waiting_on
            });
            let downstream = descendants(waiting_on, from, cyclic);
            let also = if downstream.is_empty() {
                String::new()
            } else {
                let mut names: Vec<&str> = downstream
                    .iter()
                    .map(|&index| symbols.nodes[index].node.name().name.as_str())
                    .collect();
                let verb = if names.len() == 1 { "waits" } else { "wait" };
                let listed = if names.len() > MAX_LISTED {
                    names.truncate(MAX_LISTED);
                    let quoted: Vec<String> =
                        names.iter().map(|name| format!("`{name}`")).collect();
                    format!("{} and others", quoted.join(", "))
                } else {
                    quoted_list(&names)
                };
                format!(", nor can {listed}, which {verb} for it")
            };
            findings.push(
                Diagnostic::new(
                    codes::UNREACHABLE,
                    format!("{} `{}` can never run{also}", node.kind(), node.name().name),
                )
                .with_label(
                    checker.deps.edge_span(symbols, from, *edge),
                    format!("waits for `{}`", handler.name),
                )
                .with_secondary(handler.span, format!("runs only while an `on failure {class}` is handled"))
                .with_help(format!(
                    "a step inside `on failure` runs only when that failure is handled, never in the main flow; wait for a main-flow node instead, or move `{}` out of the policy",
                    handler.name
                )),
            );
        }
    }
}

/// Up to one more than `MAX_LISTED` nodes that wait, directly or not, for `node`;
/// more would not help the reader, and stopping early keeps huge plans fast.
fn descendants(waiting_on: &[Vec<usize>], node: usize, skip: &BTreeSet<usize>) -> BTreeSet<usize> {
    let mut found = BTreeSet::new();
    let mut stack = vec![node];
    while let Some(current) = stack.pop() {
        for &next in &waiting_on[current] {
            if found.len() > MAX_LISTED {
                return found;
            }
            if next != node && !skip.contains(&next) && found.insert(next) {
                stack.push(next);
            }
        }
    }
    found
}

fn crossings(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let symbols = &checker.symbols;
    let block_name = |place: Place| match place {
        Place::InWaves(waves) => Some(symbols.nodes[waves].node.name().name.as_str()),
        Place::Top | Place::Handler(_) => None,
    };
    for crossing in &checker.deps.crossings {
        let from = symbols.nodes[crossing.from];
        let to = symbols.nodes[crossing.to];
        let (message, help) = match (block_name(from.place), block_name(to.place)) {
            (None, Some(waves)) => (
                format!(
                    "`{}` is outside waves block `{waves}`, so it cannot wait for `{}` inside it",
                    from.node.name().name, to.node.name().name
                ),
                format!("nodes inside `{waves}` run once a wave; to wait until every wave is done, write `after {waves}`"),
            ),
            (Some(waves), None) => (
                format!(
                    "`{}` is inside waves block `{waves}`, so it cannot wait for `{}` outside it",
                    from.node.name().name, to.node.name().name
                ),
                format!("put `after {}` on waves block `{waves}` itself: its nodes start once the block does", to.node.name().name),
            ),
            (Some(waves), Some(other)) => (
                format!(
                    "`{}` in waves block `{waves}` cannot wait for `{}` in waves block `{other}`",
                    from.node.name().name, to.node.name().name
                ),
                format!("write `after {other}` on waves block `{waves}` to start it once `{other}` is done"),
            ),
            (None, None) => continue,
        };
        findings.push(
            Diagnostic::new(codes::AFTER_CROSSES_WAVES, message)
                .with_label(crossing.name.span, "crosses a waves block's boundary")
                .with_secondary(to.node.name().span, "declared here")
                .with_help(help),
        );
    }
}

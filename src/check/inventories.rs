//! Inventories: `from OTHER` chains end somewhere, and a `where` selects at least one
//! host (when the hosts are known).

use std::collections::BTreeSet;

use crate::ast::{Inventory, InventorySource};
use crate::diagnostic::Diagnostic;

use super::codes;
use super::Checker;

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let symbols = &checker.symbols;
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    for inventory in symbols.inventories.values() {
        if let Some(circle) = circle_from(checker, inventory) {
            if circle
                .iter()
                .any(|member| reported.contains(member.name.name.as_str()))
            {
                continue;
            }
            reported.extend(circle.iter().map(|member| member.name.name.as_str()));
            findings.push(cycle_finding(&circle));
        }
    }
    for inventory in symbols.inventories.values() {
        let selected = checker.context.inventories.get(&inventory.name.name);
        if selected.is_some_and(|hosts| hosts.is_empty()) {
            findings.push(empty_finding(inventory, &checker.context.inventories));
        }
    }
}

/// The circle of `from`s that starts at `start`, if following them comes back to it.
fn circle_from<'a>(checker: &Checker<'a>, start: &'a Inventory) -> Option<Vec<&'a Inventory>> {
    let mut path = vec![start];
    let mut current = start;
    while let InventorySource::Inventory(other) = &current.source {
        let next = *checker.symbols.inventories.get(other.name.as_str())?;
        if std::ptr::eq(next, start) {
            return Some(path);
        }
        if path.iter().any(|seen| std::ptr::eq(*seen, next)) {
            return None;
        }
        path.push(next);
        current = next;
    }
    None
}

fn cycle_finding(circle: &[&Inventory]) -> Diagnostic {
    let names: Vec<&str> = circle
        .iter()
        .map(|inventory| inventory.name.name.as_str())
        .chain(circle.first().map(|first| first.name.name.as_str()))
        .collect();
    let mut diagnostic = Diagnostic::new(
        codes::INVENTORY_CYCLE,
        format!(
            "inventories are defined from each other in a circle: {}",
            names.join(" -> ")
        ),
    );
    for inventory in circle {
        if let InventorySource::Inventory(other) = &inventory.source {
            diagnostic = diagnostic.with_label(
                other.span,
                format!(
                    "`{}` takes its hosts from `{}`",
                    inventory.name.name, other.name
                ),
            );
        }
    }
    diagnostic.with_help(
        "one inventory in the circle must take its hosts from a file or a `hosts [...]` list",
    )
}

fn empty_finding(
    inventory: &Inventory,
    loaded: &std::collections::BTreeMap<String, crate::inventory::Inventory>,
) -> Diagnostic {
    let source_size = match &inventory.source {
        InventorySource::Inventory(other) => loaded.get(&other.name).map(|hosts| hosts.len()),
        InventorySource::Hosts(hosts) => Some(hosts.len()),
        InventorySource::File(_) => None,
    };
    let span = inventory
        .filter
        .first()
        .zip(inventory.filter.last())
        .map(|(first, last)| first.span.to(last.span))
        .unwrap_or(inventory.name.span);
    let label = if inventory.filter.is_empty() {
        "this inventory has no hosts".to_string()
    } else {
        "no host matches this".to_string()
    };
    let before = match source_size {
        Some(count) => format!(" (of {count} before `where`)"),
        None => String::new(),
    };
    Diagnostic::new(
        codes::EMPTY_INVENTORY,
        format!("inventory `{}` selects no host{before}", inventory.name.name),
    )
    .with_label(span, label)
    .with_help("check the label names and values against the inventory file; labels under `[defaults]` apply to every host")
}

//! Inventories: `from OTHER` chains end somewhere, and a `where` selects at least one
//! host (when the hosts are known).

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::{Inventory, InventorySource};
use crate::diagnostic::Diagnostic;

use super::codes;
use super::phrases;
use super::Checker;

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let symbols = &checker.symbols;
    for circle in circles(checker) {
        findings.push(cycle_finding(&circle));
    }
    for inventory in symbols.inventories.values() {
        let selected = checker.context.inventories.get(&inventory.name.name);
        if selected.is_some_and(|hosts| hosts.is_empty()) {
            let before = checker.context.unfiltered.get(&inventory.name.name);
            findings.push(empty_finding(inventory, before));
        }
    }
}

/// Every circle of `from`s, each once. Each inventory has at most one `from`, so one
/// walk per inventory that stops at anything already walked finds them all in linear
/// time (following every chain from every start was cubic on long chains).
fn circles<'a>(checker: &Checker<'a>) -> Vec<Vec<&'a Inventory>> {
    let mut walked: BTreeSet<&str> = BTreeSet::new();
    let mut circles = Vec::new();
    for start in checker.symbols.inventories.values() {
        let mut path: Vec<&'a Inventory> = Vec::new();
        let mut on_path: BTreeMap<&str, usize> = BTreeMap::new();
        let mut current = Some(*start);
        while let Some(inventory) = current {
            let name = inventory.name.name.as_str();
            if let Some(&at) = on_path.get(name) {
                circles.push(path.split_off(at));
                break;
            }
            if !walked.insert(name) {
                break;
            }
            on_path.insert(name, path.len());
            path.push(inventory);
            current = match &inventory.source {
                InventorySource::Inventory(other) => checker
                    .symbols
                    .inventories
                    .get(other.name.as_str())
                    .copied(),
                _ => None,
            };
        }
    }
    circles
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
    before: Option<&crate::inventory::Inventory>,
) -> Diagnostic {
    let span = inventory
        .filter
        .first()
        .zip(inventory.filter.last())
        .map(|(first, last)| first.span.to(last.span))
        .unwrap_or(inventory.name.span);
    let (label, count) = match (inventory.filter.is_empty(), before) {
        (true, _) => ("this inventory has no hosts", String::new()),
        (false, Some(hosts)) => (
            "no host matches this",
            format!(" (of {} before `where`)", hosts.len()),
        ),
        (false, None) => ("no host matches this", String::new()),
    };
    let help = before
        .and_then(|hosts| explain_filter(inventory, hosts))
        .unwrap_or_else(|| "check the label names and values against the inventory; labels under `[defaults]` apply to every host".to_string());
    Diagnostic::new(
        codes::EMPTY_INVENTORY,
        format!("inventory `{}` selects no host{count}", inventory.name.name),
    )
    .with_label(span, label)
    .with_help(help)
}

/// For the first `label = "value"` no host satisfies: the values the hosts do have.
fn explain_filter(inventory: &Inventory, hosts: &crate::inventory::Inventory) -> Option<String> {
    let condition = inventory.filter.iter().find(|condition| {
        condition.equal
            && !hosts
                .hosts
                .iter()
                .any(|host| host.labels.get(&condition.label.name) == Some(&condition.value.value))
    })?;
    let label = &condition.label.name;
    let values: BTreeSet<&str> = hosts
        .hosts
        .iter()
        .filter_map(|host| host.labels.get(label).map(String::as_str))
        .collect();
    if values.is_empty() {
        let labels: BTreeSet<&str> = hosts
            .hosts
            .iter()
            .flat_map(|host| host.labels.keys().map(String::as_str))
            .collect();
        return Some(format!(
            "no host has a label `{label}`.{}",
            phrases::did_you_mean(label, labels)
        ));
    }
    let listed: Vec<&str> = values.iter().copied().collect();
    Some(format!(
        "hosts have `{label}` = {}.{}",
        phrases::quoted_list(&listed).replace(" and ", " or "),
        phrases::did_you_mean(&condition.value.value, values)
    ))
}

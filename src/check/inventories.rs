//! Inventories: `from OTHER` chains end somewhere, and a `where` selects at least one
//! host (when the hosts are known).

use std::collections::BTreeSet;

use crate::ast::{Inventory, InventorySource};
use crate::diagnostic::Diagnostic;

use super::codes;
use super::phrases;
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
            let before = checker.context.unfiltered.get(&inventory.name.name);
            findings.push(empty_finding(inventory, before));
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

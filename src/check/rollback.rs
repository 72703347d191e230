//! Undo: every main-flow step that changes something says how to undo it or why it
//! cannot be undone; every step, rollback, gate and watch does something; `rollback
//! wave|hosts` has a wave to work on.

use crate::ast::{Action, Rollback, RollbackEntryKind, RollbackScope, Step, StepEntryKind};
use crate::diagnostic::Diagnostic;

use super::codes;
use super::facts::{gate_approvals, gate_requirements, trimmed, watch_requirements, StepFacts};
use super::symbols::{NodeRef, Place};
use super::Checker;

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    for node in &checker.symbols.nodes {
        match node.node {
            NodeRef::Step(step) => {
                step_actions(step, findings);
                undo(checker, step, node.place, findings);
                contradictions(checker, step, findings);
            }
            NodeRef::Gate(gate) => {
                if gate_approvals(gate).next().is_none() && gate_requirements(gate).next().is_none()
                {
                    findings.push(
                        Diagnostic::new(codes::NO_ACTION, format!("gate `{}` decides nothing", gate.name.name))
                            .with_label(gate.name.span, "no `approve` and no `require`")
                            .with_help("a gate waits for people (`approve by commander`) or a condition (`require error_rate < 0.01`); for a fixed wait, use a `timer`"),
                    );
                }
            }
            NodeRef::Watch(watch) => {
                if watch_requirements(watch).next().is_none() {
                    findings.push(
                        Diagnostic::new(codes::NO_ACTION, format!("watch `{}` watches nothing", watch.name.name))
                            .with_label(watch.name.span, "no `require`")
                            .with_help("add the conditions to hold, e.g. `require error_rate < 0.05 for 5m else severe`"),
                    );
                }
            }
            NodeRef::Timer(_) | NodeRef::Waves(_) => {}
        }
    }
    wave_scopes(checker, findings);
}

fn step_actions(step: &Step, findings: &mut Vec<Diagnostic>) {
    if !step.has_action() {
        findings.push(
            Diagnostic::new(codes::NO_ACTION, format!("step `{}` does nothing", step.name.name))
                .with_label(step.name.span, "no `run`, `script` or `manual`")
                .with_help("say what the step does: `run \"command\"`, `script \"\"\"...\"\"\"`, or `manual \"instructions for a person\"`"),
        );
    }
    if let Some(Rollback::Block { entries, span }) = step.rollback() {
        let acts = entries
            .iter()
            .any(|entry| !matches!(entry.kind, RollbackEntryKind::Timeout(_)));
        if !acts {
            findings.push(
                Diagnostic::new(
                    codes::NO_ACTION,
                    format!("the rollback of step `{}` does nothing", step.name.name),
                )
                .with_label(*span, "no `run`, `script` or `manual`")
                .with_help("say how to undo the step: `rollback { run \"...\" }`"),
            );
        }
    }
}

fn undo(checker: &Checker<'_>, step: &Step, place: Place, findings: &mut Vec<Diagnostic>) {
    if let Some(reason) = step.irreversible() {
        if reason.value.trim().is_empty() {
            findings.push(
                Diagnostic::new(codes::EMPTY_REASON, format!("step `{}` is irreversible without a reason", step.name.name))
                    .with_label(reason.span, "empty reason")
                    .with_help("say why it cannot be undone, for whoever reads the plan mid-incident: `irreversible \"drops the old schema\"`"),
            );
        }
    }
    // Handler steps are themselves the recovery; nothing rolls them back.
    if matches!(place, Place::Handler(_)) || !step.changes_something() {
        return;
    }
    if step.rollback().is_none() && step.irreversible().is_none() {
        let first_run = step
            .entries
            .iter()
            .find(|entry| matches!(entry.kind, StepEntryKind::Run(_)))
            .map(|entry| trimmed(checker.file, entry.span))
            .unwrap_or(step.name.span);
        findings.push(
            Diagnostic::new(
                codes::MISSING_ROLLBACK,
                format!("step `{}` changes something but has no rollback", step.name.name),
            )
            .with_label(step.name.span, "no `rollback` and not `irreversible`")
            .with_secondary(first_run, "this runs a command")
            .with_help("say how to undo it (`rollback \"...\"`), or why it cannot be undone (`irreversible \"why\"`); if it only looks, mark it `readonly`"),
        );
    }
}

fn contradictions(checker: &Checker<'_>, step: &Step, findings: &mut Vec<Diagnostic>) {
    let span_of = |wanted: fn(&StepEntryKind) -> bool| {
        step.entries
            .iter()
            .find(|entry| wanted(&entry.kind))
            .map(|entry| trimmed(checker.file, entry.span))
    };
    let readonly = span_of(|kind| matches!(kind, StepEntryKind::Readonly));
    let rollback = span_of(|kind| matches!(kind, StepEntryKind::Rollback(_)));
    let irreversible = span_of(|kind| matches!(kind, StepEntryKind::Irreversible(_)));
    let pairs = [
        (readonly, rollback, "`readonly` but has a `rollback`", "a readonly step changes nothing, so it has nothing to undo; remove `readonly` if it does change something, else remove the rollback"),
        (readonly, irreversible, "`readonly` but `irreversible`", "a readonly step changes nothing; remove one of the two"),
        (irreversible, rollback, "`irreversible` but has a `rollback`", "a step with a rollback can be undone; remove `irreversible`, or the rollback if it does not really undo the step"),
    ];
    for (first, second, what, help) in pairs {
        if let (Some(first), Some(second)) = (first, second) {
            findings.push(
                Diagnostic::new(
                    codes::CONTRADICTORY_SETTINGS,
                    format!("step `{}` is {what}", step.name.name),
                )
                .with_label(second, "contradicts")
                .with_secondary(first, "this")
                .with_help(help),
            );
        }
    }
}

fn wave_scopes(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    if checker.symbols.waves_blocks().next().is_some() {
        return;
    }
    for policy in &checker.symbols.policies {
        for action in &policy.actions {
            if let Action::Rollback { scope, span } = action {
                let word = match scope.value {
                    RollbackScope::Wave => "wave",
                    RollbackScope::Hosts => "hosts",
                    RollbackScope::Step | RollbackScope::All => continue,
                };
                findings.push(
                    Diagnostic::new(codes::ROLLBACK_WITHOUT_WAVES, format!("`rollback {word}` in a runbook without waves"))
                        .with_label(*span, "there is never a current wave")
                        .with_help("`rollback wave` and `rollback hosts` undo the current wave; without a waves block use `rollback step` (the failed step) or `rollback all`"),
                );
            }
        }
    }
}

//! Risk tiers (P4) as policies: the header's `risk` decides which controls the plan
//! must contain. High: canary waves starting at 5% or less an hour apart, a verified
//! backup first, the commander approving a full rollback. Medium: a person can step in,
//! confirms rollbacks, and a sample of changed hosts is verified. Low: automated tests
//! gate the rollout, and a rollback runs without waiting for anyone.

use crate::ast::{Action, Approval, Keyword, Policy, Risk, RollbackScope, Stage, Waves};
use crate::diagnostic::Diagnostic;
use crate::source::Span;

use super::codes;
use super::facts::{
    gate_approvals, gate_requirements, waves_over, waves_pause, waves_stages, StepFacts, Target,
};
use super::phrases;
use super::symbols::{NodeRef, Place};
use super::Checker;

/// The largest first wave a high-risk rollout may start with.
const HIGH_RISK_FIRST_WAVE_PERCENT: f64 = 5.0;
/// The shortest wait between waves of a high-risk rollout.
const HIGH_RISK_PAUSE_MILLIS: u64 = 3_600_000;

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let Some(risk) = checker.symbols.risk else {
        missing_risk(checker, findings);
        return;
    };
    match risk.value {
        Risk::High => high(checker, risk, findings),
        Risk::Medium => medium(checker, risk, findings),
        Risk::Low => low(checker, risk, findings),
    }
}

fn missing_risk(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    if !checker
        .symbols
        .main_steps()
        .any(|(step, _)| step.changes_something())
    {
        return;
    }
    findings.push(
        Diagnostic::new(codes::MISSING_RISK, "this runbook changes things but does not say how risky it is")
            .with_label(checker.runbook.header.name.span, "no `risk` in the header")
            .with_help("add `risk high`, `risk medium` or `risk low` to the header; each tier brings the controls it needs (canary waves and a verified backup for high, a manual intervention point for medium, an automated test gate for low)"),
    );
}

/// The first waves block at the top level, by node index.
fn first_waves<'a>(checker: &Checker<'a>) -> Option<(usize, &'a Waves)> {
    checker.symbols.waves_blocks().next()
}

/// The approvals among a policy's actions before position `before`.
fn approvals_before(policy: &Policy, before: usize) -> impl Iterator<Item = &Approval> {
    policy.actions[..before]
        .iter()
        .filter_map(|action| match action {
            Action::Approve(approval) => Some(approval),
            _ => None,
        })
}

/// The rollback actions of a policy: (position, scope, span).
fn rollbacks(policy: &Policy) -> impl Iterator<Item = (usize, Keyword<RollbackScope>, Span)> + '_ {
    policy
        .actions
        .iter()
        .enumerate()
        .filter_map(|(index, action)| match action {
            Action::Rollback { scope, span } => Some((index, *scope, *span)),
            _ => None,
        })
}

// ------------------------------------------------------------ high

fn high(checker: &Checker<'_>, risk: Keyword<Risk>, findings: &mut Vec<Diagnostic>) {
    full_rollback_needs_commander(checker, findings);
    let Some((waves_index, waves)) = first_waves(checker) else {
        findings.push(
            Diagnostic::new(codes::HIGH_RISK_WITHOUT_CANARY, "a high-risk runbook without canary waves")
                .with_label(risk.span, "high risk")
                .with_help("roll the change out in waves, so an anomaly stays small:\n  waves upgrade {\n    over web\n    stages [1%, 10%, 30%, 100%]\n    pause 1h\n    step install { ... }\n  }"),
        );
        return;
    };
    for (_, waves) in checker.symbols.waves_blocks() {
        first_wave_size(checker, waves, findings);
        pause(waves, findings);
    }
    backup_before(checker, waves_index, waves, findings);
}

fn first_wave_size(checker: &Checker<'_>, waves: &Waves, findings: &mut Vec<Diagnostic>) {
    let Some((stages, _)) = waves_stages(waves) else {
        return;
    };
    let (share, span, figure) = match stages.first() {
        Some(Stage::Percent(percent)) => (
            percent.value,
            percent.span,
            format!("{}% of the hosts", percent.value),
        ),
        Some(Stage::Count(count)) => {
            let Some(inventory) =
                waves_over(waves).and_then(|over| checker.context.inventories.get(&over.name))
            else {
                return;
            };
            if inventory.is_empty() {
                return;
            }
            let share = count.value as f64 * 100.0 / inventory.len() as f64;
            (
                share,
                count.span,
                format!(
                    "{} of {} hosts ({:.1}%)",
                    count.value,
                    inventory.len(),
                    share
                ),
            )
        }
        None => return,
    };
    if share <= HIGH_RISK_FIRST_WAVE_PERCENT {
        return;
    }
    findings.push(
        Diagnostic::new(codes::CANARY_TOO_LARGE, format!("the first wave of `{}` is {figure}", waves.name.name))
            .with_label(span, "over 5% of the hosts")
            .with_help("a high-risk canary starts small (5% of the hosts or less), so an anomaly stays small: `stages [1%, 10%, 30%, 100%]`"),
    );
}

fn pause(waves: &Waves, findings: &mut Vec<Diagnostic>) {
    let several = waves_stages(waves).is_some_and(|(stages, _)| stages.len() > 1);
    if !several {
        return;
    }
    let (span, written) = match waves_pause(waves) {
        Some(pause) if pause.millis >= HIGH_RISK_PAUSE_MILLIS => return,
        Some(pause) => (
            pause.span,
            format!("waits {} between waves", phrases::duration(pause.millis)),
        ),
        None => (waves.name.span, "does not wait between waves".to_string()),
    };
    findings.push(
        Diagnostic::new(codes::PAUSE_TOO_SHORT, format!("high-risk waves block `{}` {written}", waves.name.name))
            .with_label(span, "less than an hour")
            .with_help("give each wave at least an hour to show problems before the next one starts: `pause 1h`"),
    );
}

fn backup_before(
    checker: &Checker<'_>,
    waves_index: usize,
    waves: &Waves,
    findings: &mut Vec<Diagnostic>,
) {
    let symbols = &checker.symbols;
    let before = checker.deps.ancestors(waves_index);
    let backups: Vec<(usize, &crate::ast::Step)> = symbols
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(index, node)| match node.node {
            NodeRef::Step(step) if step.is_backup() && !matches!(node.place, Place::Handler(_)) => {
                Some((index, step))
            }
            _ => None,
        })
        .collect();
    let earlier: Vec<&crate::ast::Step> = backups
        .iter()
        .filter(|(index, _)| before.contains(index))
        .map(|(_, step)| *step)
        .collect();
    if earlier.iter().any(|step| step.verifies()) {
        return;
    }
    if let Some(step) = earlier.first() {
        findings.push(
            Diagnostic::new(codes::UNVERIFIED_BACKUP, format!("backup step `{}` is never shown to restore", step.name.name))
                .with_label(step.name.span, "no `verify`")
                .with_help("prove the backup restores before relying on it, e.g. `verify \"cloudctl image boot-test {{host}}\"` (boot a temporary instance from it and check the service)"),
        );
        return;
    }
    let mut diagnostic = Diagnostic::new(
        codes::MISSING_BACKUP,
        format!(
            "high-risk waves block `{}` starts without a backup",
            waves.name.name
        ),
    )
    .with_label(waves.name.span, "no `backup` step before this");
    for (_, step) in &backups {
        diagnostic =
            diagnostic.with_secondary(step.name.span, "this backup does not come before the waves");
    }
    findings.push(diagnostic.with_help(
        "take a verified backup first, and let the waves wait for it:\n  step snapshot {\n    backup\n    run \"cloudctl image create {{host}}\"\n    verify \"cloudctl image boot-test {{host}}\"\n    rollback \"cloudctl image delete {{host}}\"\n  }",
    ));
}

fn full_rollback_needs_commander(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let commander = checker.symbols.commander_role();
    for policy in &checker.symbols.policies {
        let mut approved = false;
        for action in &policy.actions {
            let span = match action {
                Action::Approve(approval) => {
                    approved |= commander.is_some_and(|commander| {
                        approval.roles.iter().any(|role| role.name == commander)
                    });
                    continue;
                }
                Action::Rollback { scope, span } if scope.value == RollbackScope::All => *span,
                _ => continue,
            };
            if approved {
                continue;
            }
            let help = match commander {
                Some(role) => format!("let the commander decide first: `approve by {role} within 3m on timeout escalate` before `rollback all`"),
                None => "name the role that decides (`commander ROLE` in the header, or `role commander`), and approve by it before `rollback all`".to_string(),
            };
            findings.push(
                Diagnostic::new(
                    codes::FULL_ROLLBACK_WITHOUT_COMMANDER,
                    "a high-risk full rollback starts without the commander's approval",
                )
                .with_label(span, "no commander approval before this")
                .with_help(help),
            );
        }
    }
}

// ------------------------------------------------------------ medium

fn medium(checker: &Checker<'_>, risk: Keyword<Risk>, findings: &mut Vec<Diagnostic>) {
    let symbols = &checker.symbols;
    let waves = first_waves(checker);
    let later = waves.map(|(index, _)| checker.deps.later_than(symbols, index));
    let intervenes = symbols.nodes.iter().enumerate().any(|(index, node)| {
        let human = match node.node {
            NodeRef::Step(step) => step.is_manual(),
            NodeRef::Gate(gate) => gate_approvals(gate).next().is_some(),
            _ => false,
        };
        let placed = match (node.place, &later) {
            (Place::Handler(_), _) => false,
            (_, None) => true,
            (_, Some(later)) => later.contains(&index),
        };
        human && placed
    });
    if !intervenes {
        let place = if waves.is_some() {
            "inside or after the first waves block"
        } else {
            "in the plan"
        };
        findings.push(
            Diagnostic::new(codes::MISSING_MANUAL_INTERVENTION, format!("a medium-risk rollout with no manual intervention point {place}"))
                .with_label(risk.span, "medium risk")
                .with_help("keep a point where a person can stop the automation, e.g. a gate inside the waves block:\n  gate check_wave \"Look at the dashboards before the next wave\" {\n    approve by executor within 30m on timeout abort\n  }"),
        );
    }
    for policy in &symbols.policies {
        let Some((index, _, span)) = rollbacks(policy).next() else {
            continue;
        };
        if approvals_before(policy, index).next().is_none() {
            findings.push(
                Diagnostic::new(codes::ROLLBACK_WITHOUT_CONFIRMATION, "a medium-risk rollback starts without a person confirming it")
                    .with_label(span, "nobody confirms the impact first")
                    .with_help("let a person confirm the scope before the prepared rollback runs: `approve by executor within 10m on timeout continue` before the rollback"),
            );
        }
    }
    let sampled = symbols
        .steps()
        .any(|(step, _)| matches!(step.target(), Some(Target::Sample { .. })));
    if !sampled {
        findings.push(
            Diagnostic::new(codes::MISSING_SAMPLE_VERIFICATION, "a medium-risk runbook never verifies a sample of the changed hosts")
                .with_label(risk.span, "medium risk")
                .with_help("after the rollout, check a random share of the upgraded hosts:\n  step sample_check {\n    on sample 10% of upgrade\n    readonly\n    run \"journalctl -p err --since -1h | wc -l\"\n  }"),
        );
    }
}

// ------------------------------------------------------------ low

fn low(checker: &Checker<'_>, risk: Keyword<Risk>, findings: &mut Vec<Diagnostic>) {
    let symbols = &checker.symbols;
    let target = first_waves(checker).map(|(index, _)| index).or_else(|| {
        symbols.nodes.iter().position(|node| {
            node.place == Place::Top
                && matches!(node.node, NodeRef::Step(step) if step.changes_something())
        })
    });
    if let Some(target) = target {
        let before = checker.deps.ancestors(target);
        let gated = before.iter().any(|&index| match symbols.nodes[index].node {
            NodeRef::Gate(gate) => gate_requirements(gate).next().is_some(),
            _ => false,
        });
        if !gated {
            let node = symbols.nodes[target].node;
            findings.push(
                Diagnostic::new(codes::MISSING_TEST_GATE, format!("low-risk {} `{}` starts without automated tests passing first", node.kind(), node.name().name))
                    .with_label(node.name().span, "no test gate before this")
                    .with_help("a low-risk change rolls out unattended once automated tests pass; gate it on them:\n  gate tests \"Automated tests pass\" {\n    require tests_failed == 0\n  }"),
            );
        }
    }
    let automatic = symbols.policies.iter().any(|policy| {
        rollbacks(policy)
            .next()
            .is_some_and(|(index, _, _)| approvals_before(policy, index).next().is_none())
    });
    if !automatic {
        findings.push(
            Diagnostic::new(codes::MISSING_AUTOMATIC_ROLLBACK, "a low-risk runbook has no rollback that runs by itself")
                .with_label(risk.span, "low risk")
                .with_help("roll back automatically when a check fails, with no one in the loop: `on failure functional { rollback hosts }`"),
        );
    }
}

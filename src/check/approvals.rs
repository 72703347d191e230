//! Approvals: a quorum can be met. With a roster, every role that must approve, or
//! confirm a manual step it owns, is held by someone, and enough distinct people hold
//! an approval's roles to reach its quorum.

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::{Action, Approval, Ident};
use crate::diagnostic::Diagnostic;

use super::codes;
use super::context::LoadedRoster;
use super::facts::{gate_approvals, StepFacts};
use super::symbols::NodeRef;
use super::Checker;

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let symbols = &checker.symbols;
    let mut approvals: Vec<&Approval> = Vec::new();
    let mut confirmers: Vec<&Ident> = Vec::new();
    for node in &symbols.nodes {
        match node.node {
            NodeRef::Gate(gate) => approvals.extend(gate_approvals(gate)),
            NodeRef::Step(step) if step.is_manual() => confirmers.extend(step.owner()),
            _ => {}
        }
    }
    for policy in &symbols.policies {
        approvals.extend(policy.actions.iter().filter_map(|action| match action {
            Action::Approve(approval) => Some(approval),
            _ => None,
        }));
    }
    for approval in &approvals {
        limits(approval, findings);
    }
    let Some(roster) = &checker.context.roster else {
        return;
    };
    let holders = roster.roster.holders_by_role();
    let held = |role: &Ident| {
        holders
            .get(role.name.as_str())
            .is_some_and(|people| !people.is_empty())
    };
    let mut reported: BTreeSet<(usize, usize)> = BTreeSet::new();
    let declared = |role: &&Ident| symbols.roles.contains_key(role.name.as_str());
    for approval in &approvals {
        for role in approval.roles.iter().filter(declared) {
            if roster.roster.holders(&role.name).is_empty()
                && reported.insert((role.span.start, role.span.end))
            {
                findings.push(not_held(roster, role, "approve"));
            }
        }
        quorum(roster, &holders, approval, findings);
    }
    for role in confirmers.into_iter().filter(declared) {
        if !held(role) {
            findings.push(not_held(roster, role, "confirm the manual step it owns"));
        }
    }
}

fn limits(approval: &Approval, findings: &mut Vec<Diagnostic>) {
    if let Some(quorum) = approval.quorum.filter(|quorum| quorum.value == 0) {
        findings.push(
            Diagnostic::new(codes::VALUE_OUT_OF_RANGE, "an approval by 0 people")
                .with_label(quorum.span, "zero")
                .with_help("a quorum is how many people must approve, at least 1: `approve by 2 of [commander, dba]`"),
        );
    }
    if let Some(within) = approval.within.filter(|within| within.millis == 0) {
        findings.push(
            Diagnostic::new(
                codes::VALUE_OUT_OF_RANGE,
                "an approval that must come within no time",
            )
            .with_label(within.span, "zero")
            .with_help("give people time to answer, e.g. `within 3m on timeout escalate`"),
        );
    }
}

fn not_held(roster: &LoadedRoster, role: &Ident, duty: &str) -> Diagnostic {
    Diagnostic::new(
        codes::ROLE_NOT_HELD,
        format!("nobody in roster `{}` holds role `{}`", roster.path.display(), role.name),
    )
    .with_label(role.span, format!("must {duty}"))
    .with_help(format!(
        "the run would wait here for nobody; give someone the role in the roster (`roles = [\"{}\"]`)",
        role.name
    ))
}

fn quorum(
    roster: &LoadedRoster,
    holders: &BTreeMap<&str, Vec<&str>>,
    approval: &Approval,
    findings: &mut Vec<Diagnostic>,
) {
    let Some(quorum) = approval.quorum else {
        return;
    };
    let people: BTreeSet<&str> = approval
        .roles
        .iter()
        .filter_map(|role| holders.get(role.name.as_str()))
        .flatten()
        .copied()
        .collect();
    if people.is_empty() || quorum.value <= people.len() as u64 {
        return;
    }
    let roles: Vec<&str> = approval
        .roles
        .iter()
        .map(|role| role.name.as_str())
        .collect();
    let who: Vec<&str> = people.into_iter().collect();
    findings.push(
        Diagnostic::new(
            codes::QUORUM_UNREACHABLE,
            format!(
                "this approval needs {} people, but only {} {} {}",
                quorum.value,
                who.len(),
                if who.len() == 1 { "holds" } else { "hold" },
                super::phrases::quoted_list(&roles).replace(" and ", " or ")
            ),
        )
        .with_label(quorum.span, format!("{} needed", quorum.value))
        .with_help(format!(
            "roster `{}` gives these roles to {}; lower the quorum or give the roles to more people",
            roster.path.display(),
            super::phrases::quoted_list(&who)
        )),
    );
}

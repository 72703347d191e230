//! Notifications and objectives: each objective is phrased the way its clock runs, an
//! `alert` objective has a notification on failure to keep it, and a notification
//! without `via` has a channel to go through.

use crate::ast::{Action, EventKind, Item, NotifyTrigger, ObjectiveBound, ObjectiveKind};
use crate::diagnostic::Diagnostic;

use super::codes;
use super::phrases;
use super::Checker;

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    phrasing(checker, findings);
    alert(checker, findings);
    channels(checker, findings);
}

fn phrasing(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    for (objective, span) in &checker.symbols.objectives {
        let (word, wanted) = match objective.kind.value {
            ObjectiveKind::RollbackStart => ("rollback_start", ObjectiveBound::WithinOfFailure),
            ObjectiveKind::Restored => ("restored", ObjectiveBound::WithinOfFailure),
            ObjectiveKind::Alert => ("alert", ObjectiveBound::WithinOfFailure),
            ObjectiveKind::Outage => ("outage", ObjectiveBound::AtMost),
        };
        if objective.bound == wanted {
            continue;
        }
        let limit = phrases::duration(objective.limit.millis);
        let (right, why) = match wanted {
            ObjectiveBound::WithinOfFailure => (
                format!("objective {word} within {limit} of failure"),
                "it is a deadline measured from the first failure",
            ),
            ObjectiveBound::AtMost => (
                format!("objective {word} at most {limit}"),
                "it is a total time the service may be down, not a deadline after a failure",
            ),
        };
        findings.push(
            Diagnostic::new(
                codes::OBJECTIVE_PHRASING,
                format!("`{word}` is not phrased this way"),
            )
            .with_label(*span, why)
            .with_help(format!("write `{right}`")),
        );
    }
}

fn alert(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let Some((_, span)) = checker
        .symbols
        .objectives
        .iter()
        .find(|(objective, _)| objective.kind.value == ObjectiveKind::Alert)
    else {
        return;
    };
    let subscribed = checker.runbook.items.iter().any(|item| match item {
        Item::Notify(notify) => match &notify.trigger {
            NotifyTrigger::On(events) => events
                .iter()
                .any(|event| event.kind.value == EventKind::Failure),
            NotifyTrigger::Every(_) => false,
        },
        _ => false,
    });
    let in_policy = checker.symbols.policies.iter().any(|policy| {
        policy
            .actions
            .iter()
            .any(|action| matches!(action, Action::Notify(_)))
    });
    if subscribed || in_policy {
        return;
    }
    findings.push(
        Diagnostic::new(codes::ALERT_WITHOUT_NOTIFY, "an alert objective, but no one is notified of a failure")
            .with_label(*span, "promised here")
            .with_help("subscribe someone to failures: `notify ops via sms on failure`, or add a `notify` to the `on failure` policies"),
    );
}

fn channels(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let symbols = &checker.symbols;
    let subscribed: Vec<&str> = checker
        .runbook
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Notify(notify) => Some(notify.audience.name.as_str()),
            _ => None,
        })
        .collect();
    for policy in &symbols.policies {
        for action in &policy.actions {
            let Action::Notify(message) = action else {
                continue;
            };
            let audience = message.audience.name.as_str();
            if message.channel.is_some()
                || subscribed.contains(&audience)
                || symbols.channels.len() == 1
                || !symbols.is_person_group(audience)
            {
                continue;
            }
            let help = if symbols.channels.is_empty() {
                "declare where messages go (`channel chat webhook \"https://...\"`) and name it: `notify AUDIENCE via chat \"...\"`".to_string()
            } else {
                let names: Vec<&str> = symbols.channels.keys().copied().collect();
                format!(
                    "name one of {}: `notify {audience} via CHANNEL \"...\"`",
                    phrases::quoted_list(&names).replace(" and ", " or ")
                )
            };
            findings.push(
                Diagnostic::new(
                    codes::NO_CHANNEL,
                    format!("no channel to notify `{audience}` through"),
                )
                .with_label(
                    message.audience.span,
                    "no `via`, and no subscription of this audience says which channel",
                )
                .with_help(help),
            );
        }
    }
}

//! Deadlines: can each failure policy keep the objectives, in the worst case?
//!
//! The model, for a policy's actions in order (stopping at `continue` or `abort`):
//! - `approve ... within D` takes at most D (after it, the policy goes on or ends);
//!   without `within`, or with `on timeout escalate`, it has no bound.
//! - a handler step takes timeout x (retries + 1) + backoff x retries, its timeout
//!   defaulting to the header's `timeout`; without one it has no bound. A `background`
//!   step takes no time: the policy does not wait for it.
//! - `rollback` takes the sum of the rollback times of every step it may undo (a
//!   saga undoes one step after another): `all` every main-flow step with a rollback;
//!   `wave` and `hosts` the steps of the slowest waves block; `step` the slowest step.
//!   Hosts are undone in parallel, so a step counts once however many hosts it ran on.
//!   A rollback's time is its block's `timeout`, else the step's, else the header's.
//!   A rollback no wider than an earlier one of the same policy takes no time: what it
//!   would undo is undone already.
//! - `notify` and `pause` take no time.
//!
//! `rollback_start` is the time of the actions before the first rollback; `restored`
//! of all of them; `alert` of those before the first `notify`, unless a top-level
//! `notify ... on failure` already covers the class.

use std::collections::BTreeSet;

use crate::ast::{
    Action, Approval, EventKind, FailureClass, Item, NotifyTrigger, ObjectiveBound, ObjectiveKind,
    Policy, RollbackScope, Step, TimeoutAction,
};
use crate::diagnostic::Diagnostic;
use crate::source::Span;

use super::codes;
use super::facts::{rollback_span, rollback_timeout, trimmed, waves_steps, StepFacts};
use super::phrases;
use super::symbols::Symbols;
use super::Checker;
use crate::ast::Word;

/// One contribution to a worst case: a time (none when unbounded), what takes it, and
/// where that is written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term<'a> {
    millis: Option<u64>,
    what: What<'a>,
    span: Span,
}

/// What a term's time is spent on. Every step's rollback is a term, so that one is
/// only written out when a finding shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum What<'a> {
    RollbackOf(&'a str),
    Text(String),
}

impl std::fmt::Display for What<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            What::RollbackOf(step) => write!(formatter, "rollback of {step}"),
            What::Text(text) => formatter.write_str(text),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Total<'a> {
    Bounded(u64),
    /// The terms with no bound.
    Unbounded(Vec<Term<'a>>),
}

fn total<'a>(terms: &[Term<'a>]) -> Total<'a> {
    let unbounded: Vec<Term> = terms
        .iter()
        .filter(|term| term.millis.is_none())
        .cloned()
        .collect();
    if !unbounded.is_empty() {
        return Total::Unbounded(unbounded);
    }
    Total::Bounded(
        terms
            .iter()
            .filter_map(|term| term.millis)
            .fold(0, u64::saturating_add),
    )
}

/// "3m (approve by commander) + 20m (rollback of install) = 23m".
fn explain(terms: &[Term], sum: u64) -> String {
    let parts: Vec<String> = terms
        .iter()
        .map(|term| {
            format!(
                "{} ({})",
                phrases::duration(term.millis.unwrap_or(0)),
                term.what
            )
        })
        .collect();
    format!("{} = {}", parts.join(" + "), phrases::duration(sum))
}

/// Worst-case time of a step: every attempt times out, with the backoff between them.
fn step_time(timeout: Option<u64>, retries: u64, backoff: u64) -> Option<u64> {
    let attempts = timeout?.saturating_mul(retries.saturating_add(1));
    Some(attempts.saturating_add(backoff.saturating_mul(retries)))
}

/// A policy's actions, each as its terms, up to where the policy ends.
struct PolicyTerms<'a> {
    before_rollback: Vec<Term<'a>>,
    before_notify: Option<Vec<Term<'a>>>,
    all: Vec<Term<'a>>,
    rolls_back: bool,
}

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let symbols = &checker.symbols;
    let objectives: Vec<_> = symbols
        .objectives
        .iter()
        .filter(|(objective, _)| objective.bound == ObjectiveBound::WithinOfFailure)
        .collect();
    if objectives.is_empty() {
        return;
    }
    let mut timed = BTreeSet::new();
    for policy in &symbols.policies {
        // A second policy for a class never runs (and is reported as a duplicate).
        if !timed.insert(policy.class.value) {
            continue;
        }
        let terms = policy_terms(checker, policy);
        for (objective, objective_span) in &objectives {
            let (terms, clock) = match objective.kind.value {
                ObjectiveKind::RollbackStart if terms.rolls_back => {
                    (&terms.before_rollback, "to start the rollback")
                }
                ObjectiveKind::Restored if terms.rolls_back => {
                    (&terms.all, "to restore the service")
                }
                ObjectiveKind::Alert if !alerted_at_once(checker, policy.class.value) => {
                    match &terms.before_notify {
                        Some(terms) => (terms, "to alert anyone"),
                        None => continue,
                    }
                }
                _ => continue,
            };
            let limit = objective.limit.millis;
            let class = policy.class.value.word();
            match total(terms) {
                Total::Bounded(sum) if sum > limit => {
                    let mut diagnostic = Diagnostic::new(
                        codes::DEADLINE_INFEASIBLE,
                        format!(
                            "the `{class}` policy may take {} {clock}, over the {} objective",
                            phrases::duration(sum),
                            phrases::duration(limit)
                        ),
                    )
                    .with_label(policy.class.span, "this policy")
                    .with_secondary(*objective_span, "the objective");
                    for term in terms
                        .iter()
                        .filter(|term| term.millis.is_some_and(|millis| millis > 0))
                    {
                        diagnostic = diagnostic.with_secondary(
                            term.span,
                            format!(
                                "{}: {}",
                                phrases::duration(term.millis.unwrap_or(0)),
                                term.what
                            ),
                        );
                    }
                    findings.push(diagnostic.with_help(format!(
                        "worst case {}, over the {} objective; shorten the waits and timeouts, undo less at once, or revise the objective",
                        explain(terms, sum),
                        phrases::duration(limit)
                    )));
                }
                Total::Bounded(_) => {}
                Total::Unbounded(open) => {
                    let what: Vec<String> = open.iter().map(|term| term.what.to_string()).collect();
                    let what: Vec<&str> = what.iter().map(String::as_str).collect();
                    let mut diagnostic = Diagnostic::new(
                        codes::DEADLINE_UNBOUNDED,
                        format!("the `{class}` policy has no time limit {clock}, so the {} objective cannot be shown to hold", phrases::duration(limit)),
                    )
                    .with_label(policy.class.span, "this policy")
                    .with_secondary(*objective_span, "the objective");
                    for term in &open {
                        diagnostic = diagnostic
                            .with_secondary(term.span, format!("no time limit: {}", term.what));
                    }
                    findings.push(diagnostic.with_help(format!(
                        "{} may wait forever; give approvals a `within` with `on timeout continue` or `abort` (escalating, the default, keeps waiting) and steps or rollbacks a `timeout`, or set a default `timeout` in the header",
                        phrases::quoted_list(&what)
                    )));
                }
            }
        }
    }
}

/// Whether a top-level `notify ... on failure` covers failures of this class, so
/// people hear of them at once.
fn alerted_at_once(checker: &Checker<'_>, class: FailureClass) -> bool {
    checker.runbook.items.iter().any(|item| match item {
        Item::Notify(notify) => match &notify.trigger {
            NotifyTrigger::On(events) => events.iter().any(|event| {
                event.kind.value == EventKind::Failure
                    && event.class.is_none_or(|only| only.value == class)
            }),
            NotifyTrigger::Every(_) => false,
        },
        _ => false,
    })
}

fn policy_terms<'a>(checker: &Checker<'a>, policy: &Policy) -> PolicyTerms<'a> {
    let symbols = &checker.symbols;
    let default = symbols.default_timeout.map(|duration| duration.millis);
    let mut terms = PolicyTerms {
        before_rollback: Vec::new(),
        before_notify: None,
        all: Vec::new(),
        rolls_back: false,
    };
    // What the policy's rollbacks have undone so far: undoing less again takes no time.
    let mut widest: Option<u8> = None;
    for action in &policy.actions {
        let action_terms = match action {
            Action::Continue { .. } | Action::Abort { .. } => break,
            Action::Pause { .. } => Vec::new(),
            Action::Notify(_) => {
                terms.before_notify.get_or_insert_with(|| terms.all.clone());
                Vec::new()
            }
            Action::Approve(approval) => vec![approval_term(checker, approval)],
            Action::Step(step) if step.is_background() => Vec::new(),
            Action::Step(step) => vec![handler_step_term(step, default)],
            Action::Rollback { scope, .. } => {
                terms.rolls_back = true;
                let breadth = breadth(scope.value);
                if widest.is_some_and(|widest| widest >= breadth) {
                    Vec::new()
                } else {
                    widest = Some(breadth);
                    rollback_terms(symbols, scope.value, default)
                }
            }
        };
        if !terms.rolls_back {
            terms.before_rollback.extend(action_terms.iter().cloned());
        }
        terms.all.extend(action_terms);
    }
    terms
}

fn approval_term(checker: &Checker<'_>, approval: &Approval) -> Term<'static> {
    let roles: Vec<&str> = approval
        .roles
        .iter()
        .map(|role| role.name.as_str())
        .collect();
    let who = match approval.quorum {
        Some(quorum) => format!("{} of [{}]", quorum.value, roles.join(", ")),
        None => roles.join(", "),
    };
    // Without `on timeout` an approval escalates (the graph's default): silence never
    // approves, so the wait has no bound the plan can promise.
    let escalates = approval
        .on_timeout
        .is_none_or(|action| action.value == TimeoutAction::Escalate);
    Term {
        millis: approval
            .within
            .filter(|_| !escalates)
            .map(|within| within.millis),
        what: if escalates && approval.within.is_some() {
            What::Text(format!("approve by {who}, escalating on timeout"))
        } else {
            What::Text(format!("approve by {who}"))
        },
        span: trimmed(checker.file, approval.span),
    }
}

fn handler_step_term(step: &Step, default: Option<u64>) -> Term<'static> {
    let timeout = step.timeout().map(|duration| duration.millis).or(default);
    let (retries, backoff) = step
        .retry()
        .map(|(attempts, backoff)| (attempts.value, backoff.map_or(0, |backoff| backoff.millis)))
        .unwrap_or((0, 0));
    let what = if retries > 0 {
        format!(
            "step {}, {} attempts",
            step.name.name,
            retries.saturating_add(1)
        )
    } else {
        format!("step {}", step.name.name)
    };
    Term {
        millis: step_time(timeout, retries, backoff),
        what: What::Text(what),
        span: step.name.span,
    }
}

/// The worst-case time to undo one step.
fn undo_term(step: &Step, default: Option<u64>) -> Option<Term<'_>> {
    let rollback = step.rollback()?;
    let millis = rollback_timeout(rollback)
        .or(step.timeout())
        .map(|duration| duration.millis)
        .or(default);
    Some(Term {
        millis,
        what: What::RollbackOf(&step.name.name),
        span: rollback_span(rollback),
    })
}

fn rollback_terms<'a>(
    symbols: &Symbols<'a>,
    scope: RollbackScope,
    default: Option<u64>,
) -> Vec<Term<'a>> {
    match scope {
        RollbackScope::All => symbols
            .main_steps()
            .filter_map(|(step, _)| undo_term(step, default))
            .collect(),
        RollbackScope::Wave | RollbackScope::Hosts => symbols
            .waves_blocks()
            .map(|(_, waves)| {
                waves_steps(waves)
                    .filter_map(|step| undo_term(step, default))
                    .collect::<Vec<_>>()
            })
            .max_by_key(|terms| worst_key(terms))
            .unwrap_or_default(),
        RollbackScope::Step => symbols
            .main_steps()
            .filter_map(|(step, _)| undo_term(step, default))
            .max_by_key(|term| worst_key(std::slice::from_ref(term)))
            .into_iter()
            .collect(),
    }
}

/// How much a rollback scope undoes, from the failed step to everything.
fn breadth(scope: RollbackScope) -> u8 {
    match scope {
        RollbackScope::Step => 0,
        RollbackScope::Hosts => 1,
        RollbackScope::Wave => 2,
        RollbackScope::All => 3,
    }
}

/// Orders alternatives by how long they may take, unbounded last (the worst).
fn worst_key(terms: &[Term]) -> (bool, u64) {
    match total(terms) {
        Total::Bounded(sum) => (false, sum),
        Total::Unbounded(_) => (true, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(millis: Option<u64>, what: &str) -> Term<'static> {
        Term {
            millis,
            what: What::Text(what.to_string()),
            span: Span::default(),
        }
    }

    const MINUTE: u64 = 60_000;

    #[test]
    fn a_step_times_out_on_every_attempt_with_backoff_between() {
        assert_eq!(step_time(Some(10 * MINUTE), 0, 0), Some(10 * MINUTE));
        assert_eq!(step_time(Some(10 * MINUTE), 2, MINUTE), Some(32 * MINUTE));
        assert_eq!(step_time(None, 2, MINUTE), None);
        assert_eq!(step_time(Some(u64::MAX), 3, 0), Some(u64::MAX));
    }

    #[test]
    fn the_sum_is_explained_term_by_term() {
        let terms = [
            term(Some(3 * MINUTE), "approve by commander"),
            term(Some(20 * MINUTE), "rollback of install"),
            term(Some(10 * MINUTE), "rollback of backup"),
        ];
        assert_eq!(total(&terms), Total::Bounded(33 * MINUTE));
        assert_eq!(
            explain(&terms, 33 * MINUTE),
            "3m (approve by commander) + 20m (rollback of install) + 10m (rollback of backup) = 33m"
        );
    }

    #[test]
    fn one_unbounded_term_makes_the_whole_unbounded() {
        let terms = [
            term(Some(MINUTE), "step failover"),
            term(None, "approve by commander"),
        ];
        assert_eq!(total(&terms), Total::Unbounded(vec![terms[1].clone()]));
        assert_eq!(total(&[]), Total::Bounded(0));
    }

    #[test]
    fn the_worst_alternative_is_the_slowest_or_an_unbounded_one() {
        let fast = [term(Some(MINUTE), "a")];
        let slow = [term(Some(5 * MINUTE), "b")];
        let open = [term(None, "c")];
        assert!(worst_key(&slow) > worst_key(&fast));
        assert!(worst_key(&open) > worst_key(&slow));
    }
}

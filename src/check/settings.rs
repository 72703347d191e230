//! Settings: each written at most once in its block, the ones a block needs are there,
//! and none is written where it means nothing.

use crate::ast::Word;
use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::ast::{
    GateEntryKind, HeaderEntryKind, ObjectiveKind, Rollback, RollbackEntryKind, Step,
    StepEntryKind, TimerEntryKind, WatchEntryKind, WavesEntryKind,
};
use crate::diagnostic::Diagnostic;
use crate::source::{SourceFile, Span};

use super::codes;
use super::facts::{
    gate_requirements, trimmed, watch_during, watch_every, waves_over, waves_stages, StepFacts,
};
use super::symbols::{NodeRef, Place};
use super::Checker;

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    header(checker, findings);
    policies(checker, findings);
    // Reused for every block: a large runbook has hundreds of thousands of them.
    let mut seen = Seen::new(checker.file);
    let mut seen_in_rollback = Seen::new(checker.file);
    for node in &checker.symbols.nodes {
        let kind = match node.node {
            NodeRef::Waves(_) => "waves block",
            other => other.kind(),
        };
        let block = || format!("{kind} `{}`", node.node.name().name);
        seen.first.clear();
        match node.node {
            NodeRef::Step(step) => {
                for entry in &step.entries {
                    if let Some(key) = step_key(&entry.kind) {
                        seen.note(key, entry.span, &block, findings);
                    }
                }
                if let Some(Rollback::Block { entries, .. }) = step.rollback() {
                    let block = || format!("the rollback of step `{}`", step.name.name);
                    seen_in_rollback.first.clear();
                    for entry in entries {
                        if let RollbackEntryKind::Timeout(_) = entry.kind {
                            seen_in_rollback.note("timeout", entry.span, &block, findings);
                        }
                    }
                }
                step_placement(checker, step, node.place, findings);
            }
            NodeRef::Gate(gate) => {
                for entry in &gate.entries {
                    let key = match entry.kind {
                        GateEntryKind::Owner(_) => "owner",
                        GateEntryKind::After(_) => "after",
                        GateEntryKind::Poll { .. } => "poll",
                        GateEntryKind::Approve(_) | GateEntryKind::Require(_) => continue,
                    };
                    seen.note(key, entry.span, &block, findings);
                }
                gate_effects(checker, gate, findings);
            }
            NodeRef::Timer(timer) => {
                for entry in &timer.entries {
                    let key = match entry.kind {
                        TimerEntryKind::Owner(_) => "owner",
                        TimerEntryKind::After(_) => "after",
                    };
                    seen.note(key, entry.span, &block, findings);
                }
            }
            NodeRef::Watch(watch) => {
                for entry in &watch.entries {
                    let key = match entry.kind {
                        WatchEntryKind::Owner(_) => "owner",
                        WatchEntryKind::After(_) => "after",
                        WatchEntryKind::Every(_) => "every",
                        WatchEntryKind::During(_) => "during",
                        WatchEntryKind::Require(_) => continue,
                    };
                    seen.note(key, entry.span, &block, findings);
                }
                missing_settings(
                    &block,
                    watch.name.span,
                    &[
                        ("every", watch_every(watch).is_some()),
                        ("during", watch_during(watch).is_some()),
                    ],
                    "a watch samples its conditions `every` so often `during` so long:\n  watch core {\n    every 1m\n    during 30m\n    require error_rate < 0.05 else severe\n  }",
                    findings,
                );
            }
            NodeRef::Waves(waves) => {
                for entry in &waves.entries {
                    let key = match entry.kind {
                        WavesEntryKind::Over(_) => "over",
                        WavesEntryKind::Stages(_) => "stages",
                        WavesEntryKind::Pause(_) => "pause",
                        WavesEntryKind::Parallel(_) => "parallel",
                        WavesEntryKind::MaxFailed(_) => "max_failed",
                        WavesEntryKind::After(_) => "after",
                        _ => continue,
                    };
                    seen.note(key, entry.span, &block, findings);
                }
                missing_settings(
                    &block,
                    waves.name.span,
                    &[
                        ("over", waves_over(waves).is_some()),
                        ("stages", waves_stages(waves).is_some()),
                    ],
                    "a waves block says which inventory it rolls `over` and in which `stages`:\n  waves upgrade {\n    over web\n    stages [1%, 10%, 30%, 100%]\n    ...\n  }",
                    findings,
                );
            }
        }
    }
}

/// Remembers where each setting was first written in one block, reporting repeats.
/// Blocks have a few settings each, so a list is searched. One is reused for every
/// block (`first` is cleared); the `block` given to `note` names the block and is only
/// called to write a finding.
struct Seen<'a> {
    file: &'a SourceFile,
    first: Vec<(Cow<'static, str>, Span)>,
}

impl<'a> Seen<'a> {
    fn new(file: &'a SourceFile) -> Self {
        Self {
            file,
            first: Vec::new(),
        }
    }

    /// Notes `key`, written at `span`; a second time is a finding.
    fn note(
        &mut self,
        key: impl Into<Cow<'static, str>>,
        span: Span,
        block: &dyn Fn() -> String,
        findings: &mut Vec<Diagnostic>,
    ) {
        let (key, span) = (key.into(), trimmed(self.file, span));
        match self.first.iter().find(|(seen, _)| *seen == key) {
            Some(&(_, first)) => findings.push(
                Diagnostic::new(
                    codes::DUPLICATE_SETTING,
                    format!("{} sets `{key}` twice", block()),
                )
                .with_label(span, "set again here")
                .with_secondary(first, "first set here")
                .with_help("keep one of them: the second is never used"),
            ),
            None => self.first.push((key, span)),
        }
    }
}

/// The name of a step setting that may be written once; `None` for the ones that may
/// repeat (commands, instructions, checks).
fn step_key(kind: &StepEntryKind) -> Option<Cow<'static, str>> {
    let key = match kind {
        StepEntryKind::Owner(_) => "owner",
        StepEntryKind::On(_) | StepEntryKind::OnSample { .. } => "on",
        StepEntryKind::Parallel(_) => "parallel",
        StepEntryKind::Timeout(_) => "timeout",
        StepEntryKind::Retry { .. } => "retry",
        StepEntryKind::Idempotent => "idempotent",
        StepEntryKind::Irreversible(_) => "irreversible",
        StepEntryKind::Readonly => "readonly",
        StepEntryKind::Background => "background",
        StepEntryKind::After(_) => "after",
        StepEntryKind::Raises(_) => "failure",
        StepEntryKind::Backup => "backup",
        StepEntryKind::Rollback(_) => "rollback",
        StepEntryKind::Record { key, .. } => return Some(format!("record {}", key.name).into()),
        StepEntryKind::Run(_)
        | StepEntryKind::Script(_)
        | StepEntryKind::Manual(_)
        | StepEntryKind::Expect(_)
        | StepEntryKind::Remedy(_)
        | StepEntryKind::Verify(_) => return None,
    };
    Some(key.into())
}

fn header(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let mut seen = Seen::new(checker.file);
    let block = || "the header".to_string();
    for entry in &checker.runbook.header.entries {
        let key = match &entry.kind {
            HeaderEntryKind::Title(_) => "title",
            HeaderEntryKind::Description(_) => "description",
            HeaderEntryKind::Version(_) => "version",
            HeaderEntryKind::Risk(_) => "risk",
            HeaderEntryKind::Objective(objective) => match objective.kind.value {
                ObjectiveKind::RollbackStart => "objective rollback_start",
                ObjectiveKind::Restored => "objective restored",
                ObjectiveKind::Outage => "objective outage",
                ObjectiveKind::Alert => "objective alert",
            },
            HeaderEntryKind::Environment(_) => "environment",
            HeaderEntryKind::Change(_) => "change",
            HeaderEntryKind::Commander(_) => "commander",
            HeaderEntryKind::DefaultTimeout(_) => "timeout",
            HeaderEntryKind::Roster(_) => "roster",
            HeaderEntryKind::PrometheusUrl(_) => "prometheus",
            HeaderEntryKind::DrillEvery(_) => "drill every",
            HeaderEntryKind::ReviewEvery(_) => "review every",
            HeaderEntryKind::Postmortem { .. } => "postmortem",
        };
        seen.note(key, entry.span, &block, findings);
    }
}

fn policies(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let mut first = BTreeMap::new();
    for policy in &checker.symbols.policies {
        match first.get(&policy.class.value) {
            Some(&earlier) => findings.push(
                Diagnostic::new(
                    codes::DUPLICATE_POLICY,
                    format!("two `on failure {}` policies", policy.class.value.word()),
                )
                .with_label(policy.class.span, "second policy for this class")
                .with_secondary(earlier, "first policy here")
                .with_help("a failure class has one policy: merge the actions into one block, in the order they should run"),
            ),
            None => {
                first.insert(policy.class.value, policy.class.span);
            }
        }
    }
}

/// Reports the settings of `required` that are not there (`false`), if any.
fn missing_settings(
    block: &dyn Fn() -> String,
    span: Span,
    required: &[(&str, bool)],
    help: &str,
    findings: &mut Vec<Diagnostic>,
) {
    let missing: Vec<&str> = required
        .iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        return;
    }
    let list = super::phrases::quoted_list(&missing);
    findings.push(
        Diagnostic::new(
            codes::MISSING_SETTING,
            format!("{} has no {}", block(), list.replace(" and ", " or ")),
        )
        .with_label(span, format!("needs {list}"))
        .with_help(help),
    );
}

/// Settings a step may not have where it is written.
fn step_placement(
    checker: &Checker<'_>,
    step: &Step,
    place: Place,
    findings: &mut Vec<Diagnostic>,
) {
    let trim = |span| trimmed(checker.file, span);
    for entry in &step.entries {
        let (message, help) = match (&entry.kind, place) {
            (StepEntryKind::On(_) | StepEntryKind::OnSample { .. }, Place::InWaves(_)) => (
                "a step inside a waves block cannot choose its hosts",
                "the waves block runs its steps on each wave's hosts; remove `on`, or move the step out of the waves block",
            ),
            (StepEntryKind::Background, Place::Top | Place::InWaves(_)) => (
                "`background` only means something in a failure policy",
                "`background` lets an `on failure` policy go on without waiting for a handler step; in the main flow, run steps side by side with `after` instead",
            ),
            (StepEntryKind::After(_), Place::Handler(_)) => (
                "a step in a failure policy cannot have `after`",
                "the actions of an `on failure` policy run in the order written; move the step to where it should run",
            ),
            (StepEntryKind::Parallel(_), _) if step.target().is_none() => {
                findings.push(
                    Diagnostic::new(
                        codes::IGNORED_SETTING,
                        format!("`parallel` has no effect on step `{}`", step.name.name),
                    )
                    .with_label(trim(entry.span), "ignored")
                    .with_help(match place {
                        Place::InWaves(_) => "a waves block sets how many hosts run at once with its own `parallel`",
                        _ => "`parallel` caps how many hosts run at once; this step runs once, as it has no `on INVENTORY`",
                    }),
                );
                continue;
            }
            _ => continue,
        };
        findings.push(
            Diagnostic::new(codes::MISPLACED_SETTING, message)
                .with_label(trim(entry.span), "not allowed here")
                .with_help(help),
        );
    }
}

/// Gate settings that only work together with a condition.
fn gate_effects(checker: &Checker<'_>, gate: &crate::ast::Gate, findings: &mut Vec<Diagnostic>) {
    let has_condition = gate_requirements(gate).next().is_some();
    for entry in &gate.entries {
        match &entry.kind {
            GateEntryKind::Poll { .. } if !has_condition => findings.push(
                Diagnostic::new(
                    codes::IGNORED_SETTING,
                    format!("`poll` has no effect in gate `{}`, which has no condition", gate.name.name),
                )
                .with_label(trimmed(checker.file, entry.span), "nothing to poll")
                .with_help("`poll every 1m for 30m` re-evaluates the gate's `require` conditions; add one, or remove `poll`"),
            ),
            GateEntryKind::Require(requirement) => {
                if let Some(sustained) = requirement.sustained {
                    findings.push(
                        Diagnostic::new(
                            codes::IGNORED_SETTING,
                            format!("`for` has no effect in gate `{}`", gate.name.name),
                        )
                        .with_label(sustained.span, "ignored in a gate")
                        .with_help("a gate checks its condition when reached (and with `poll`, until it holds); for a condition that must hold over time, use a `watch`"),
                    );
                }
            }
            _ => {}
        }
    }
}

//! Questions the passes ask of a block ("what is this step's timeout?"), answered from
//! its list of entries. The first entry wins when a setting is repeated; the repeat is
//! reported by the settings pass.

use crate::ast::{
    Approval, Count, Duration, Gate, GateEntryKind, Ident, Requirement, Rollback,
    RollbackEntryKind, Stage, Step, StepEntryKind, Text, Watch, WatchEntryKind, Waves,
    WavesEntryKind,
};
use crate::source::{SourceFile, Span};

/// Where a step runs.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target<'a> {
    On(&'a Ident),
    Sample { of: &'a Ident },
}

/// The first entry of a step that `pick` accepts.
fn find_entry<'a, T>(step: &'a Step, pick: impl Fn(&'a StepEntryKind) -> Option<T>) -> Option<T> {
    step.entries.iter().find_map(|entry| pick(&entry.kind))
}

fn has_entry(step: &Step, pick: impl Fn(&StepEntryKind) -> bool) -> bool {
    step.entries.iter().any(|entry| pick(&entry.kind))
}

/// Facts about a step.
pub(super) trait StepFacts {
    fn owner(&self) -> Option<&Ident>;
    fn target(&self) -> Option<Target<'_>>;
    fn timeout(&self) -> Option<Duration>;
    fn retry(&self) -> Option<(Count, Option<Duration>)>;
    fn rollback(&self) -> Option<&Rollback>;
    fn irreversible(&self) -> Option<&Text>;
    fn runs_commands(&self) -> bool;
    fn is_manual(&self) -> bool;
    fn has_action(&self) -> bool;
    fn is_readonly(&self) -> bool;
    fn is_background(&self) -> bool;
    fn is_backup(&self) -> bool;
    fn verifies(&self) -> bool;
    /// Runs commands and is not marked `readonly`: the run leaves something changed.
    fn changes_something(&self) -> bool;
    fn records(&self) -> impl Iterator<Item = &Ident>;
}

impl StepFacts for Step {
    fn owner(&self) -> Option<&Ident> {
        find_entry(self, |kind| match kind {
            StepEntryKind::Owner(role) => Some(role),
            _ => None,
        })
    }

    fn target(&self) -> Option<Target<'_>> {
        find_entry(self, |kind| match kind {
            StepEntryKind::On(inventory) => Some(Target::On(inventory)),
            StepEntryKind::OnSample { of, .. } => Some(Target::Sample { of }),
            _ => None,
        })
    }

    fn timeout(&self) -> Option<Duration> {
        find_entry(self, |kind| match kind {
            StepEntryKind::Timeout(duration) => Some(*duration),
            _ => None,
        })
    }

    fn retry(&self) -> Option<(Count, Option<Duration>)> {
        find_entry(self, |kind| match kind {
            StepEntryKind::Retry { attempts, backoff } => Some((*attempts, *backoff)),
            _ => None,
        })
    }

    fn rollback(&self) -> Option<&Rollback> {
        find_entry(self, |kind| match kind {
            StepEntryKind::Rollback(rollback) => Some(rollback),
            _ => None,
        })
    }

    fn irreversible(&self) -> Option<&Text> {
        find_entry(self, |kind| match kind {
            StepEntryKind::Irreversible(reason) => Some(reason),
            _ => None,
        })
    }

    fn runs_commands(&self) -> bool {
        has_entry(self, |kind| matches!(kind, StepEntryKind::Run(_)))
    }

    fn is_manual(&self) -> bool {
        has_entry(self, |kind| matches!(kind, StepEntryKind::Manual(_)))
    }

    fn has_action(&self) -> bool {
        has_entry(self, |kind| {
            matches!(
                kind,
                StepEntryKind::Run(_) | StepEntryKind::Script(_) | StepEntryKind::Manual(_)
            )
        })
    }

    fn is_readonly(&self) -> bool {
        has_entry(self, |kind| matches!(kind, StepEntryKind::Readonly))
    }

    fn is_background(&self) -> bool {
        has_entry(self, |kind| matches!(kind, StepEntryKind::Background))
    }

    fn is_backup(&self) -> bool {
        has_entry(self, |kind| matches!(kind, StepEntryKind::Backup))
    }

    fn verifies(&self) -> bool {
        has_entry(self, |kind| matches!(kind, StepEntryKind::Verify(_)))
    }

    fn changes_something(&self) -> bool {
        self.runs_commands() && !self.is_readonly()
    }

    fn records(&self) -> impl Iterator<Item = &Ident> {
        self.entries.iter().filter_map(|entry| match &entry.kind {
            StepEntryKind::Record { key, .. } => Some(key),
            _ => None,
        })
    }
}

/// The timeout written in a rollback block, if any.
pub(super) fn rollback_timeout(rollback: &Rollback) -> Option<Duration> {
    match rollback {
        Rollback::Command(_) => None,
        Rollback::Block { entries, .. } => entries.iter().find_map(|entry| match entry.kind {
            RollbackEntryKind::Timeout(duration) => Some(duration),
            _ => None,
        }),
    }
}

pub(super) fn rollback_span(rollback: &Rollback) -> Span {
    match rollback {
        Rollback::Command(text) => text.span,
        Rollback::Block { span, .. } => *span,
    }
}

pub(super) fn gate_approvals(gate: &Gate) -> impl Iterator<Item = &Approval> {
    gate.entries.iter().filter_map(|entry| match &entry.kind {
        GateEntryKind::Approve(approval) => Some(approval),
        _ => None,
    })
}

pub(super) fn gate_requirements(gate: &Gate) -> impl Iterator<Item = &Requirement> {
    gate.entries.iter().filter_map(|entry| match &entry.kind {
        GateEntryKind::Require(requirement) => Some(requirement),
        _ => None,
    })
}

pub(super) fn watch_requirements(watch: &Watch) -> impl Iterator<Item = &Requirement> {
    watch.entries.iter().filter_map(|entry| match &entry.kind {
        WatchEntryKind::Require(requirement) => Some(requirement),
        _ => None,
    })
}

pub(super) fn watch_every(watch: &Watch) -> Option<Duration> {
    watch.entries.iter().find_map(|entry| match entry.kind {
        WatchEntryKind::Every(duration) => Some(duration),
        _ => None,
    })
}

pub(super) fn watch_during(watch: &Watch) -> Option<Duration> {
    watch.entries.iter().find_map(|entry| match entry.kind {
        WatchEntryKind::During(duration) => Some(duration),
        _ => None,
    })
}

pub(super) fn waves_over(waves: &Waves) -> Option<&Ident> {
    waves.entries.iter().find_map(|entry| match &entry.kind {
        WavesEntryKind::Over(inventory) => Some(inventory),
        _ => None,
    })
}

/// The stages and the span of the whole `stages [...]` entry.
pub(super) fn waves_stages(waves: &Waves) -> Option<(&[Stage], Span)> {
    waves.entries.iter().find_map(|entry| match &entry.kind {
        WavesEntryKind::Stages(stages) => Some((stages.as_slice(), entry.span)),
        _ => None,
    })
}

pub(super) fn waves_pause(waves: &Waves) -> Option<Duration> {
    waves.entries.iter().find_map(|entry| match entry.kind {
        WavesEntryKind::Pause(duration) => Some(duration),
        _ => None,
    })
}

/// The steps rolled out by a waves block, in order.
pub(super) fn waves_steps(waves: &Waves) -> impl Iterator<Item = &Step> {
    waves.entries.iter().filter_map(|entry| match &entry.kind {
        WavesEntryKind::Step(step) => Some(step),
        _ => None,
    })
}

/// A span without the blanks after it. Rules that end in optional parts can take in
/// the blanks before the next statement; labels look better without them.
pub(super) fn trimmed(file: &SourceFile, span: Span) -> Span {
    let text = file.slice(span);
    Span::new(span.start, span.start + text.trim_end().len())
}

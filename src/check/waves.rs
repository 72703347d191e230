//! Waves: stages are all percentages or all batch sizes; percentages strictly grow to
//! 100%; batches do not shrink; the failure budget and `parallel` make sense; there is
//! something to roll out; and, with the inventory loaded, the first batch fits in it.

use crate::ast::{Budget, Stage, Waves, WavesEntryKind};
use crate::diagnostic::Diagnostic;

use super::codes;
use super::facts::{waves_over, waves_stages, waves_steps};
use super::Checker;

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    for (_, waves) in checker.symbols.waves_blocks() {
        budget_and_parallel(waves, findings);
        if waves_steps(waves).next().is_none() {
            findings.push(
                Diagnostic::new(codes::EMPTY_WAVES, format!("waves block `{}` rolls out no step", waves.name.name))
                    .with_label(waves.name.span, "no step inside")
                    .with_help("put the steps to run on each wave's hosts inside the block:\n  waves upgrade {\n    over web\n    stages [10%, 50%, 100%]\n    step install { ... }\n  }"),
            );
        }
        let Some((stages, stages_span)) = waves_stages(waves) else {
            continue;
        };
        let percents: Vec<_> = stages
            .iter()
            .filter_map(|stage| match stage {
                Stage::Percent(percent) => Some(*percent),
                Stage::Count(_) => None,
            })
            .collect();
        let counts: Vec<_> = stages
            .iter()
            .filter_map(|stage| match stage {
                Stage::Count(count) => Some(*count),
                Stage::Percent(_) => None,
            })
            .collect();
        if !percents.is_empty() && !counts.is_empty() {
            findings.push(
                Diagnostic::new(codes::WAVES_MIXED_STAGES, format!("waves block `{}` mixes percentages and host counts", waves.name.name))
                    .with_label(percents[0].span, "a share of the inventory")
                    .with_secondary(counts[0].span, "a number of hosts")
                    .with_help("write every stage as a cumulative share (`[1%, 10%, 100%]`) or every stage as a batch size in hosts (`[10, 30, 60]`)"),
            );
            continue;
        }
        if !percents.is_empty() {
            percentages(waves, &percents, stages_span, findings);
        } else {
            batches(checker, waves, &counts, findings);
        }
    }
}

fn budget_and_parallel(waves: &Waves, findings: &mut Vec<Diagnostic>) {
    for entry in &waves.entries {
        match &entry.kind {
            WavesEntryKind::MaxFailed(Budget::Percent(percent)) if percent.value > 100.0 => findings.push(
                Diagnostic::new(codes::VALUE_OUT_OF_RANGE, format!("a failure budget of {}% of a wave", percent.value))
                    .with_label(percent.span, "over 100%")
                    .with_help("`max_failed` is how many hosts of one wave may fail: a count (`max_failed 0`) or a share up to 100%"),
            ),
            WavesEntryKind::Parallel(count) if count.value == 0 => findings.push(
                Diagnostic::new(codes::VALUE_OUT_OF_RANGE, "`parallel 0` lets no host run")
                    .with_label(count.span, "zero")
                    .with_help("`parallel N` runs at most N hosts of a wave at once; remove it to run a whole wave at once"),
            ),
            _ => {}
        }
    }
}

fn percentages(
    waves: &Waves,
    percents: &[crate::ast::Percent],
    stages_span: crate::source::Span,
    findings: &mut Vec<Diagnostic>,
) {
    let mut previous: Option<crate::ast::Percent> = None;
    for percent in percents {
        if percent.value <= 0.0 || percent.value > 100.0 {
            findings.push(
                Diagnostic::new(codes::VALUE_OUT_OF_RANGE, format!("a wave of {}% of the hosts", percent.value))
                    .with_label(percent.span, "must be over 0% and at most 100%")
                    .with_help("stages are cumulative shares of the inventory, growing to 100%: `[1%, 10%, 30%, 100%]`"),
            );
            continue;
        }
        if let Some(before) = previous {
            if percent.value <= before.value {
                findings.push(
                    Diagnostic::new(codes::WAVES_NOT_GROWING, format!("waves block `{}` does not grow from {}% to {}%", waves.name.name, before.value, percent.value))
                        .with_label(percent.span, "not more than the stage before")
                        .with_secondary(before.span, "the stage before")
                        .with_help("percentages are cumulative (a share of all hosts done by the end of the wave), so each must be larger than the one before: `[1%, 10%, 30%, 100%]`"),
                );
            }
        }
        previous = Some(*percent);
    }
    if let Some(last) = percents.last() {
        if last.value < 100.0 && last.value > 0.0 {
            findings.push(
                Diagnostic::new(
                    codes::WAVES_INCOMPLETE,
                    format!(
                        "waves block `{}` stops at {}% of the hosts",
                        waves.name.name, last.value
                    ),
                )
                .with_label(last.span, "the last stage")
                .with_secondary(stages_span, "stages")
                .with_help(format!(
                    "end the stages with 100%, or the other {}% of the hosts are never done",
                    100.0 - last.value
                )),
            );
        }
    }
}

fn batches(
    checker: &Checker<'_>,
    waves: &Waves,
    counts: &[crate::ast::Count],
    findings: &mut Vec<Diagnostic>,
) {
    let mut previous: Option<crate::ast::Count> = None;
    for count in counts {
        if count.value == 0 {
            findings.push(
                Diagnostic::new(codes::VALUE_OUT_OF_RANGE, "a wave of 0 hosts")
                    .with_label(count.span, "zero")
                    .with_help("batch sizes are numbers of hosts per wave, each at least 1: `[10, 30, 60]`"),
            );
            continue;
        }
        if let Some(before) = previous.filter(|before| count.value < before.value) {
            findings.push(
                Diagnostic::new(codes::WAVES_SHRINKING, format!("waves block `{}` shrinks from {} to {} hosts a wave", waves.name.name, before.value, count.value))
                    .with_label(count.span, "smaller than the batch before")
                    .with_secondary(before.span, "the batch before")
                    .with_help("canary batches usually grow as confidence does (`[10, 30, 60]`); the last size repeats until every host is done"),
            );
        }
        previous = Some(*count);
    }
    let Some(first) = counts.first() else { return };
    let Some(over) = waves_over(waves) else {
        return;
    };
    let Some(inventory) = checker.context.inventories.get(&over.name) else {
        return;
    };
    if first.value as usize > inventory.len() && !inventory.is_empty() {
        findings.push(
            Diagnostic::new(codes::WAVES_LARGER_THAN_INVENTORY, format!("the first wave of `{}` is {} hosts, but `{}` has {}", waves.name.name, first.value, over.name, inventory.len()))
                .with_label(first.span, "larger than the inventory")
                .with_secondary(over.span, format!("{} hosts", inventory.len()))
                .with_help("the first wave would change every host at once, which is no canary; start with a small batch"),
        );
    }
}

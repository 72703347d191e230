//! Values: durations, counts and shares that cannot be meant (a zero timeout, a 0%
//! sample), a param default of the wrong type, and intervals longer than what they
//! repeat within. Waves and approvals check their own numbers.

use crate::ast::{
    Duration, GateEntryKind, HeaderEntryKind, Item, Literal, NotifyTrigger, Param, ParamType,
    Rollback, RollbackEntryKind, StepEntryKind, Text,
};
use crate::diagnostic::Diagnostic;
use crate::source::Span;

use super::codes;
use super::facts::{watch_during, watch_every, watch_requirements};
use super::phrases;
use super::symbols::NodeRef;
use super::Checker;

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    for entry in &checker.runbook.header.entries {
        match &entry.kind {
            HeaderEntryKind::DefaultTimeout(duration) => {
                nonzero(*duration, "a default timeout", findings)
            }
            HeaderEntryKind::Objective(objective) => {
                nonzero(objective.limit, "an objective", findings)
            }
            HeaderEntryKind::DrillEvery(duration) | HeaderEntryKind::ReviewEvery(duration) => {
                nonzero(*duration, "a period", findings)
            }
            _ => {}
        }
    }
    for item in &checker.runbook.items {
        match item {
            Item::Param(param) => param_default(param, findings),
            Item::Notify(notify) => {
                if let NotifyTrigger::Every(every) = notify.trigger {
                    nonzero(every, "a notification period", findings);
                }
            }
            _ => {}
        }
    }
    for node in &checker.symbols.nodes {
        match node.node {
            NodeRef::Step(step) => step_values(step, findings),
            NodeRef::Gate(gate) => {
                for entry in &gate.entries {
                    if let GateEntryKind::Poll { interval, limit } = entry.kind {
                        nonzero(interval, "a poll interval", findings);
                        nonzero(limit, "a poll limit", findings);
                        if interval.millis > limit.millis {
                            findings.push(too_long(
                                format!("gate `{}` polls every {} but only for {}", gate.name.name, phrases::duration(interval.millis), phrases::duration(limit.millis)),
                                (interval.span, "the interval"),
                                (limit.span, "shorter than the interval"),
                                "the condition is checked once at most; poll more often than the limit, e.g. `poll every 1m for 30m`",
                            ));
                        }
                    }
                }
            }
            NodeRef::Timer(timer) => {
                if timer.duration.millis == 0 {
                    findings.push(
                        Diagnostic::new(
                            codes::ZERO_TIMER,
                            format!("timer `{}` waits no time", timer.name.name),
                        )
                        .with_label(timer.duration.span, "zero")
                        .with_help("give it the time to wait (`timer soak 30m`), or remove it"),
                    );
                }
            }
            NodeRef::Watch(watch) => {
                let every = watch_every(watch);
                let during = watch_during(watch);
                every
                    .into_iter()
                    .for_each(|every| nonzero(every, "a watch interval", findings));
                during
                    .into_iter()
                    .for_each(|during| nonzero(during, "a watch duration", findings));
                let Some(during) = during else { continue };
                if let Some(every) = every.filter(|every| every.millis > during.millis) {
                    findings.push(too_long(
                        format!(
                            "watch `{}` samples every {} but only watches for {}",
                            watch.name.name,
                            phrases::duration(every.millis),
                            phrases::duration(during.millis)
                        ),
                        (every.span, "the interval"),
                        (during.span, "shorter than the interval"),
                        "sample more often than the watch lasts, e.g. `every 1m` `during 30m`",
                    ));
                }
                for requirement in watch_requirements(watch) {
                    if let Some(sustained) = requirement
                        .sustained
                        .filter(|sustained| sustained.millis > during.millis)
                    {
                        findings.push(too_long(
                            format!("a breach must last {} to count, but watch `{}` only watches for {}", phrases::duration(sustained.millis), watch.name.name, phrases::duration(during.millis)),
                            (sustained.span, "how long a breach must last"),
                            (during.span, "how long the watch lasts"),
                            "this condition can never be breached long enough; shorten `for`, or watch longer with `during`",
                        ));
                    }
                }
            }
            NodeRef::Waves(_) => {}
        }
    }
}

fn step_values(step: &crate::ast::Step, findings: &mut Vec<Diagnostic>) {
    for entry in &step.entries {
        match &entry.kind {
            StepEntryKind::Timeout(duration) => nonzero(*duration, "a timeout", findings),
            StepEntryKind::Parallel(count) if count.value == 0 => findings.push(
                Diagnostic::new(codes::VALUE_OUT_OF_RANGE, "`parallel 0` lets no host run")
                    .with_label(count.span, "zero")
                    .with_help("`parallel N` runs at most N hosts at once; remove it to run on every host at once"),
            ),
            StepEntryKind::OnSample { share, .. } if share.value <= 0.0 || share.value > 100.0 => {
                findings.push(
                    Diagnostic::new(codes::VALUE_OUT_OF_RANGE, format!("a sample of {}% of the hosts", share.value))
                        .with_label(share.span, "must be over 0% and at most 100%")
                        .with_help("sample a share that checks something, e.g. `on sample 10% of upgrade`"),
                );
            }
            StepEntryKind::Rollback(Rollback::Block { entries, .. }) => {
                for entry in entries {
                    if let RollbackEntryKind::Timeout(duration) = entry.kind {
                        nonzero(duration, "a rollback timeout", findings);
                    }
                }
            }
            _ => {}
        }
    }
}

fn nonzero(duration: Duration, what: &str, findings: &mut Vec<Diagnostic>) {
    if duration.millis == 0 {
        findings.push(
            Diagnostic::new(codes::VALUE_OUT_OF_RANGE, format!("{what} of zero"))
                .with_label(duration.span, "zero")
                .with_help("give a duration that can be met, such as `30s`, `5m` or `1h`"),
        );
    }
}

fn too_long(
    message: String,
    interval: (Span, &str),
    limit: (Span, &str),
    help: &str,
) -> Diagnostic {
    Diagnostic::new(codes::INTERVAL_TOO_LONG, message)
        .with_label(interval.0, interval.1)
        .with_secondary(limit.0, limit.1)
        .with_help(help)
}

fn param_default(param: &Param, findings: &mut Vec<Diagnostic>) {
    let Some(default) = &param.default else {
        return;
    };
    let fits = match (param.ty.value, default) {
        (ParamType::String, Literal::String(_))
        | (ParamType::Float, Literal::Number { .. })
        | (ParamType::Bool, Literal::Bool { .. })
        | (ParamType::Duration, Literal::Duration(_)) => true,
        (ParamType::Int, Literal::Number { value, .. }) => value.fract() == 0.0,
        _ => false,
    };
    if fits {
        return;
    }
    let given = match default {
        Literal::String(Text { .. }) => "a string",
        Literal::Number { value, .. } if value.fract() != 0.0 => "a decimal number",
        Literal::Number { .. } => "a number",
        Literal::Bool { .. } => "a boolean",
        Literal::Duration(_) => "a duration",
        Literal::Percent(_) => "a percentage",
    };
    let (type_name, example) = match param.ty.value {
        ParamType::String => ("string", "\"6.1.0-28\""),
        ParamType::Int => ("int", "3"),
        ParamType::Float => ("float", "0.05"),
        ParamType::Bool => ("bool", "true"),
        ParamType::Duration => ("duration", "30m"),
    };
    findings.push(
        Diagnostic::new(
            codes::PARAM_TYPE_MISMATCH,
            format!("param `{}` is `{type_name}`, but its default is {given}", param.name.name),
        )
        .with_label(default.span(), given)
        .with_secondary(param.ty.span, "declared type")
        .with_help(format!("write a default of type `{type_name}`, e.g. `param {}: {type_name} = {example}`, or change the type", param.name.name)),
    );
}
